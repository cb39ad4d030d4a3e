/*
 * client.c - connecting to a server, waiting for it to appear.
 *
 * Like .NET's NamedPipeClientStream.Connect, "no server yet" (on Unix: a
 * missing path or a refusal) is retried; that is what lets a Kiwi server
 * spawn its client before it calls create. Unlike .NET, the retry backs off
 * (1 ms, doubling to 32 ms) instead of spinning, and can time out.
 */
#include "client.h"

#include "error.h"
#include "path.h"
#include "wait.h"

#define BACKOFF_FIRST_MS 1
#define BACKOFF_MAX_MS 32

int ipc__connect(const char *call, const char *name, const struct ipc__until *u,
                 struct ipc__stream *s, char path[])
{
    int rc = ipc__resolve(call, name, path);
    if (rc < 0) {
        return rc;
    }
    char who[IPC_PATH_MAX + 32];
    ipc__who_name(who, sizeof(who), call, name);
    int64_t start = ipc__os_now_ms();
    int64_t backoff = BACKOFF_FIRST_MS;
    for (;;) {
        rc = ipc__os_connect(who, path, u, s);
        if (rc != IPC_ENOSERVER) {
            return rc;
        }
        if (u->deadline >= 0 && ipc__os_now_ms() >= u->deadline) {
            return ipc__fail(IPC_ENOSERVER, 0,
                             "%s: no server listening at %s (gave up after "
                             "%lld ms)",
                             who, path, (long long)(ipc__os_now_ms() - start));
        }
        rc = ipc__os_sleep_until(who, ipc__os_now_ms() + backoff, u);
        if (rc == IPC_EINTR) {
            return ipc__fail(rc, 0,
                             "%s: interrupted while waiting for a server at %s",
                             who, path);
        }
        if (rc == IPC_ESYSTEM) {
            return rc;
        }
        /* On IPC_ETIMEDOUT, one last attempt at the deadline. */
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}
