/*
 * client.c - connecting to a server, waiting for it to appear.
 *
 * Like .NET's NamedPipeClientStream.Connect, a missing path or a refusal
 * means "no server yet" and is retried; that is what lets a Kiwi server
 * spawn its client before it calls create. Unlike .NET, the retry backs off
 * (1 ms, doubling to 32 ms) instead of spinning, and can time out.
 */
#include "client.h"

#include "error.h"
#include "path.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 1
#define BACKOFF_MAX_MS 32

static int no_server_yet(int e)
{
    return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EADDRINUSE ||
           e == EADDRNOTAVAIL || e == EINTR;
}

int ipc__connect(const char *call, const char *name, int timeout_ms, int *fd)
{
    char path[IPC_PATH_MAX];
    int rc = ipc__resolve(call, name, path);
    if (rc < 0) {
        return rc;
    }
    struct sockaddr_un addr;
    ipc__sockaddr(&addr, path);

    int64_t start = ipc__now_ms();
    int64_t deadline = ipc__deadline(timeout_ms);
    int64_t backoff = BACKOFF_FIRST_MS;
    for (;;) {
        /* Non-blocking so that a full backlog says EAGAIN (and we back off)
         * instead of blocking without a timeout. */
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0) {
            return ipc__fail(IPC_ESYSTEM, errno, "%s(\"%s\"): socket() failed",
                             call, name);
        }
        if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            /* Data calls use blocking I/O on their fast path. */
            int fl = fcntl(s, F_GETFL);
            if (fl < 0 || fcntl(s, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                rc = ipc__fail(IPC_ESYSTEM, errno, "%s(\"%s\"): fcntl failed",
                               call, name);
                close(s);
                return rc;
            }
            *fd = s;
            return 0;
        }
        int e = errno;
        close(s);
        struct stat st;
        if (e == ECONNREFUSED && lstat(path, &st) == 0 &&
            !S_ISSOCK(st.st_mode)) {
            /* Linux says "refused" for a regular file too: no server will
             * ever answer there, so do not wait for one. */
            return ipc__fail(IPC_ESYSTEM, ENOTSOCK,
                             "%s(\"%s\"): %s exists but is not a socket", call,
                             name, path);
        }
        if (!no_server_yet(e)) {
            return ipc__fail(IPC_ESYSTEM, e, "%s(\"%s\"): cannot connect to %s",
                             call, name, path);
        }
        if (deadline >= 0 && ipc__now_ms() >= deadline) {
            return ipc__fail(IPC_ENOSERVER, 0,
                             "%s(\"%s\"): no server listening at %s (gave up "
                             "after %lld ms)",
                             call, name, path,
                             (long long)(ipc__now_ms() - start));
        }
        rc = ipc__sleep_until(ipc__now_ms() + backoff, deadline);
        if (rc == IPC_EINTR) {
            return ipc__fail(rc, 0,
                             "%s(\"%s\"): interrupted while waiting for a "
                             "server at %s",
                             call, name, path);
        }
        if (rc == IPC_ESYSTEM) {
            return ipc__fail(rc, errno, "%s(\"%s\"): poll failed", call, name);
        }
        /* On IPC_ETIMEDOUT, one last attempt at the deadline. */
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}
