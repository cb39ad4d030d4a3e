/*
 * posix/posix.h - what the POSIX backend's files share among themselves
 * (nothing above os.h sees this header).
 */
#ifndef IPC__POSIX_H
#define IPC__POSIX_H

#include "os.h"

struct sockaddr_un;

/*
 * Wait until `fd` is ready for `events` (POLLIN/POLLOUT) or u's deadline
 * passes; with fd < 0, just wait. Returns 0 when ready, IPC_ETIMEDOUT,
 * IPC_EINTR when the hook asked to stop, or IPC_ESYSTEM (errno kept).
 */
int ipc__px_wait(int fd, short events, const struct ipc__until *u);

/* Fill a Unix socket address for a path from ipc__os_pipe_path(). */
void ipc__px_sockaddr(struct sockaddr_un *addr, const char *path);

/* A new close-on-exec, non-blocking Unix stream socket, or -1 (errno).
 * Where the OS has no SOCK_CLOEXEC the flags are set right after socket():
 * see sys.c for why the gap is acceptable. */
int ipc__px_socket(void);

/* Set or clear O_NONBLOCK; 0 or -1 (errno). */
int ipc__px_set_blocking(int fd, int blocking);

/* Keep a write to a closed peer from raising SIGPIPE where MSG_NOSIGNAL
 * alone cannot (macOS: SO_NOSIGPIPE). 0 or -1 (errno). */
int ipc__px_nosigpipe(int fd);

/* Is a Unix socket bound to the file at `path` open, in any process?
 * IPC__PX_LISTENING, IPC__PX_BOUND (open but not listening: a server
 * between bind() and listen(), as .NET's constructor is for a moment, or a
 * socket that never listens), 0 (nobody: the file is stale, or not there),
 * -1 (the system cannot tell). Read from the kernel's socket table, never
 * by connecting (live.c); ipc__os_listening_at() is its LISTENING case. */
#define IPC__PX_BOUND 1
#define IPC__PX_LISTENING 2
int ipc__px_bound_at(const char *path);

#endif
