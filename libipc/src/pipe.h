/*
 * pipe.h - one connected pipe: framed, buffered, thread-safe send and recv
 * over an OS stream (os.h).
 */
#ifndef IPC__PIPE_H
#define IPC__PIPE_H

#include "handles.h"
#include "os.h"

#include <stddef.h>

struct ipc__pipe;

/* The handle kind of pipes (handles.h). */
extern const struct ipc__kind ipc__pipe_kind;

/* Take ownership of connected stream `s`, the pipe `name` at `path` (for
 * messages). Returns 0 or IPC_ENOMEM (the stream is then closed). */
int ipc__pipe_new(struct ipc__stream *s, const char *name, const char *path,
                  struct ipc__pipe **out);

/* ipc_send_timeout / ipc_recv_timeout / ipc_recv_alloc on a pipe; `h`
 * names the handle in error messages. */
int ipc__pipe_send(struct ipc__pipe *p, int h, const void *data, size_t len,
                   int timeout_ms);
int ipc__pipe_recv(struct ipc__pipe *p, int h, void **data, size_t *len,
                   int timeout_ms);
int ipc__pipe_recv_alloc(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                         void *ctx, size_t *len, int timeout_ms);

/* ipc_recv_held on a pipe: 1 with a message, 0 when none is held whole. */
int ipc__pipe_recv_held(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                        void *ctx, size_t *len);

/* ipc_send_many on a pipe. */
int ipc__pipe_send_many(struct ipc__pipe *p, int h, const struct ipc_msg *msgs,
                        size_t count, int timeout_ms);

/* ipc_flush: finish the rest of a send that ran out of time. */
int ipc__pipe_flush(struct ipc__pipe *p, int h, int timeout_ms);

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max);

/* ---- many pipes at once (ipc_pending, ipc_poll) ------------------------ */

/* ipc__pipe_poll() also answers this: another thread holds the receive
 * lock (its recv takes whatever comes), so this call cannot look. */
#define IPC__POLL_BUSY 0x4000

/*
 * What the pipe can do without waiting, as IPC_POLL* bits, given what the
 * OS said of its stream (`os`: IPC_POLL* bits from ipc__os_wait_any(), 0
 * when not asked yet):
 * - IPC_POLLIN: a recv returns at once: a whole frame is buffered, or an
 *   error or the end of the stream is there to report; and no kept rest of
 *   a committed send is in the way (a recv finishes that first). When the
 *   OS says the stream is readable, one read that does not wait takes what
 *   arrived into the decoder first.
 * - IPC_POLLOUT: `os` says writable and no kept rest is left; a rest is
 *   pushed as far as the peer takes it without waiting.
 * - IPC_POLLHUP: the peer has gone (frames it sent first are still
 *   received); IPC_POLLERR: the pipe is broken, or the OS reported an error.
 * - IPC__POLL_BUSY: see above.
 * *want gets the events to ask the OS for next (IPC_POLLIN unless ready or
 * busy, IPC_POLLOUT while a rest is kept or the caller asked for it).
 */
int ipc__pipe_poll(struct ipc__pipe *p, int h, int events, int os, int *want);

/* The connected stream, for ipc_get_peer() and ipc__os_wait_any(). */
const struct ipc__stream *ipc__pipe_stream(const struct ipc__pipe *p);

#endif
