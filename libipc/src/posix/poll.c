/*
 * posix/poll.c - waiting for any of many streams and listeners at once
 * (ipc__os_wait_any, see os.h): one poll(2) over their descriptors, in
 * hook slices like every other wait (os.h's ipc__until_slice).
 */
#include "posix.h"

#include "error.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>

/* Descriptors polled from the stack; more take one malloc per call. */
#define WAIT_ANY_STACK 32

/* The poll timeout for the next slice (os.h's rule for every wait). */
static int wait_any_slice(const struct ipc__until *u)
{
    int64_t ms = ipc__until_slice(u, u->deadline, ipc__os_now_ms());
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static short to_poll(short events)
{
    return (short)(((events & IPC_POLLIN) ? POLLIN : 0) |
                   ((events & IPC_POLLOUT) ? POLLOUT : 0));
}

static short from_poll(short revents)
{
    return (short)(((revents & POLLIN) ? IPC_POLLIN : 0) |
                   ((revents & POLLOUT) ? IPC_POLLOUT : 0) |
                   ((revents & POLLHUP) ? IPC_POLLHUP : 0) |
                   ((revents & (POLLERR | POLLNVAL)) ? IPC_POLLERR : 0));
}

int ipc__os_wait_any(const char *who, struct ipc__os_waitable *w, size_t n,
                     const struct ipc__until *u)
{
    struct pollfd stack[WAIT_ANY_STACK];
    struct pollfd *pfd = stack;
    if (n > WAIT_ANY_STACK && (pfd = malloc(n * sizeof(*pfd))) == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "%s: out of memory", who);
    }
    for (size_t i = 0; i < n; i++) {
        int fd = -1; /* poll(2) skips negative descriptors */
        if (w[i].stream != NULL) {
            fd = ipc__os_stream_fd(w[i].stream);
        } else if (w[i].listener != NULL) {
            fd = ipc__os_listener_fd(w[i].listener);
        }
        pfd[i].fd = fd;
        pfd[i].events = to_poll(w[i].events);
        pfd[i].revents = 0;
        w[i].revents = 0;
    }
    int rc;
    for (;;) {
        int r = poll(pfd, (nfds_t)n, wait_any_slice(u));
        if (r > 0) {
            for (size_t i = 0; i < n; i++) {
                w[i].revents = from_poll(pfd[i].revents);
            }
            rc = r;
            break;
        }
        if (r < 0 && errno != EINTR) {
            rc = ipc__fail(IPC_ESYSTEM, errno, "%s: poll failed", who);
            break;
        }
        /* A signal, or a slice ended (os.h). */
        if ((rc = ipc__until_ended(u, ipc__os_now_ms())) != 0) {
            break;
        }
    }
    if (pfd != stack) {
        free(pfd);
    }
    return rc;
}
