/*
 * posix/stream.c - a connected Unix domain stream socket: connect, write a
 * frame's two parts, read what is there, wake, close.
 *
 * Writes use one sendmsg() for header and payload (and for the frames of
 * many messages at once), looping over partial writes, with MSG_NOSIGNAL
 * so a closed peer is an error, never a SIGPIPE.
 */
#include "posix.h"

#include "error.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE does it: see ipc__px_nosigpipe */
#endif

static int no_server_yet(int e)
{
    return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EADDRINUSE ||
           e == EADDRNOTAVAIL || e == EINTR;
}

int ipc__os_connect(const char *who, const char *path,
                    const struct ipc__until *u, struct ipc__stream *s)
{
    (void)u; /* connect(2) on a Unix socket does not wait */
    struct sockaddr_un addr;
    ipc__px_sockaddr(&addr, path);
    /* Non-blocking so that a full backlog says EAGAIN (and the caller
     * backs off) instead of blocking without a timeout. */
    int fd = ipc__px_socket();
    if (fd < 0) {
        return ipc__fail(IPC_ESYSTEM, errno, "%s: socket() failed", who);
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        /* Data calls use blocking I/O on their fast path. */
        if (ipc__px_set_blocking(fd, 1) < 0) {
            int rc = ipc__fail(IPC_ESYSTEM, errno, "%s: fcntl failed", who);
            close(fd);
            return rc;
        }
        s->fd = fd;
        atomic_init(&s->sliced, 0);
        return 0;
    }
    int e = errno;
    close(fd);
    struct stat st;
    if (e == ECONNREFUSED && lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        /* Linux says "refused" for a regular file too: no server will ever
         * answer there, so do not wait for one. */
        return ipc__fail(IPC_ESYSTEM, ENOTSOCK,
                         "%s: %s exists but is not a socket", who, path);
    }
    if (!no_server_yet(e)) {
        return ipc__fail(IPC_ESYSTEM, e, "%s: cannot connect to %s", who, path);
    }
    return IPC_ENOSERVER;
}

/* ---- waiting ----------------------------------------------------------- */

/*
 * How a write or read waits for the peer:
 *   WAIT_BLOCK  plain blocking system calls: no deadline, no hook;
 *   WAIT_SLICE  blocking system calls too, but the socket's SO_RCVTIMEO and
 *               SO_SNDTIMEO end each one after IPC_INTERRUPT_SLICE_MS, and a
 *               signal makes it fail with EINTR even under SA_RESTART
 *               (signal(7)), so the interrupt hook gets its say: no
 *               deadline, a hook (every Python and Lua call);
 *   WAIT_POLL   MSG_DONTWAIT, then poll() on EAGAIN: a deadline.
 * WAIT_SLICE exists for speed: a message that is already there costs one
 * system call instead of the three of MSG_DONTWAIT + poll() + retry. The
 * timeouts are set once, on the first such call on the socket.
 */
enum wait_mode { WAIT_BLOCK, WAIT_SLICE, WAIT_POLL };

static enum wait_mode wait_mode(struct ipc__stream *s,
                                const struct ipc__until *u)
{
    if (u->deadline >= 0) {
        return WAIT_POLL;
    }
    if (u->hook == NULL) {
        return WAIT_BLOCK;
    }
    if (!atomic_load_explicit(&s->sliced, memory_order_relaxed)) {
        struct timeval tv = {.tv_sec = 0,
                             .tv_usec = IPC_INTERRUPT_SLICE_MS * 1000};
        if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
            setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
            return WAIT_POLL; /* still correct, only slower */
        }
        atomic_store(&s->sliced, 1);
    }
    return WAIT_SLICE;
}

/*
 * A send or recv on the socket failed with errno `e`: wait as the mode says
 * and decide. Returns 0 to try again, IPC_ETIMEDOUT or IPC_EINTR to stop,
 * IPC_ESYSTEM when poll() failed (errno kept), or 1 when `e` itself is the
 * error. In the blocking modes EINTR and EAGAIN (a slice ended, or a sliced
 * socket used without a hook) mean: ask the hook.
 */
static int after_failure(struct ipc__stream *s, int polling, int e,
                         short events, const struct ipc__until *u)
{
    if (!polling) {
        if (e != EINTR && e != EAGAIN && e != EWOULDBLOCK) {
            return 1;
        }
        return ipc__until_interrupted(u) ? IPC_EINTR : 0;
    }
    if (e == EINTR) {
        return 0;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) {
        return ipc__px_wait(s->fd, events, u);
    }
    return 1;
}

/* ---- write, read ------------------------------------------------------- */

/* Pieces per sendmsg(): well under IOV_MAX (1024 on Linux and macOS), and
 * bytes per sendmsg(), well under SSIZE_MAX on any target (the kernel
 * fails a call whose lengths add up past it). A batch bigger than either
 * takes more calls. */
#define WRITE_IOV 128
#define WRITE_MAX ((size_t)1 << 30)

int ipc__os_write(struct ipc__stream *s, const struct ipc__who *who,
                  struct ipc__out *out, const struct ipc__until *u)
{
    size_t at = out->done, i = 0, off = 0;
    ipc__out_advance(out, at, &i, &off);
    int polling = wait_mode(s, u) == WAIT_POLL;
    int flags = MSG_NOSIGNAL | (polling ? MSG_DONTWAIT : 0);
    int rc = 0;

    while (i < out->n) {
        struct iovec iov[WRITE_IOV];
        int n_iov = 0;
        size_t bytes = 0, o = off, j = i;
        int whole = 1; /* every piece up to j goes in whole */
        for (; j < out->n && n_iov < WRITE_IOV && bytes < WRITE_MAX;
             j++, o = 0) {
            size_t len = out->seg[j].len - o;
            if (len == 0) {
                continue;
            }
            if (len > WRITE_MAX - bytes) {
                len = WRITE_MAX - bytes;
                whole = 0;
            }
            iov[n_iov].iov_base = (char *)out->seg[j].p + o;
            iov[n_iov++].iov_len = len;
            bytes += len;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n_iov};
        ssize_t n = sendmsg(s->fd, &msg, flags);
        if (n >= 0) {
            at += (size_t)n;
            if ((size_t)n == bytes && whole && j == out->n) {
                break; /* the usual end: all of it in one call */
            }
            ipc__out_advance(out, (size_t)n, &i, &off);
            continue;
        }
        int e = errno;
        rc = after_failure(s, polling, e, POLLOUT, u);
        if (rc == 0) {
            continue;
        }
        if (rc == IPC_ESYSTEM) {
            rc = ipc__fail_who(rc, errno, who, "poll failed");
        } else if (rc == 1 && (e == EPIPE || e == ECONNRESET)) {
            rc = IPC_ECLOSED;
        } else if (rc == 1) {
            rc = ipc__fail_who(IPC_ESYSTEM, e, who, "write failed");
        }
        break;
    }
    out->done = at;
    return rc;
}

long ipc__os_read(struct ipc__stream *s, const struct ipc__who *who, void *buf,
                  size_t cap, const struct ipc__until *u)
{
    int polling = wait_mode(s, u) == WAIT_POLL;
    int flags = polling ? MSG_DONTWAIT : 0;
    for (;;) {
        ssize_t n = recv(s->fd, buf, cap, flags);
        if (n >= 0) {
            return (long)n;
        }
        int e = errno;
        if (e == ECONNRESET) {
            return 0; /* the peer is gone: judged like EOF */
        }
        int rc = after_failure(s, polling, e, POLLIN, u);
        if (rc == 0) {
            continue;
        }
        if (rc == 1) {
            return ipc__fail_who(IPC_ESYSTEM, e, who, "read failed");
        }
        if (rc == IPC_ESYSTEM) {
            return ipc__fail_who(rc, errno, who, "poll failed");
        }
        return rc;
    }
}

void ipc__os_stream_wake(struct ipc__stream *s)
{
    /* Wakes a blocked read (it sees EOF) and a blocked write (EPIPE). */
    shutdown(s->fd, SHUT_RDWR);
}

void ipc__os_stream_close(struct ipc__stream *s)
{
    close(s->fd);
    s->fd = -1;
}

int ipc__os_stream_fd(const struct ipc__stream *s)
{
    return s->fd;
}
