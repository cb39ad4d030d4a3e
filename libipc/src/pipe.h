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

/* ipc_flush: finish the rest of a send that ran out of time. */
int ipc__pipe_flush(struct ipc__pipe *p, int h, int timeout_ms);

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max);

/* The connected stream, for ipc_get_peer(). */
const struct ipc__stream *ipc__pipe_stream(const struct ipc__pipe *p);

#endif
