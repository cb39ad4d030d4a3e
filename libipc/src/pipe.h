/*
 * pipe.h - one connected pipe: framed, buffered, thread-safe send and recv
 * over a stream socket.
 */
#ifndef IPC__PIPE_H
#define IPC__PIPE_H

#include "kiwi_ipc.h"

#include <stddef.h>

struct ipc__pipe;

/* Take ownership of connected socket `fd` (blocking mode, close-on-exec).
 * Returns 0 or IPC_ENOMEM (fd is then closed). */
int ipc__pipe_new(int fd, struct ipc__pipe **out);

/* Close the socket and free everything; nobody may use `p` afterwards. */
void ipc__pipe_free(struct ipc__pipe *p);

/* Make threads blocked on `p` return IPC_ECLOSED (used by ipc_close). */
void ipc__pipe_wake(struct ipc__pipe *p);

/* ipc_send_timeout / ipc_recv_timeout on a pipe; `h` names the handle in
 * error messages. */
int ipc__pipe_send(struct ipc__pipe *p, int h, const void *data, size_t len,
                   int timeout_ms);
int ipc__pipe_recv(struct ipc__pipe *p, int h, void **data, size_t *len,
                   int timeout_ms);
int ipc__pipe_recv_alloc(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                         void *ctx, size_t *len, int timeout_ms);

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max);
int ipc__pipe_fd(const struct ipc__pipe *p);

#endif
