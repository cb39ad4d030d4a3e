/*
 * pipe.c - sending and receiving frames on a connected socket.
 *
 * Send writes header and payload with one sendmsg(). Recv reads through a
 * per-pipe buffer so that small frames cost about one system call, and reads
 * the rest of a large payload straight into the message buffer. All state of
 * a half-done frame (either direction) lives here, so a timeout or an
 * interrupt never loses bytes.
 */
#include "pipe.h"

#include "error.h"
#include "frame.h"
#include "wait.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

/* Small frames are read through this buffer; a payload that still needs at
 * least half of it is read straight into the message instead. */
#define RBUF_SIZE (64 * 1024)

struct ipc__pipe {
    int fd;
    atomic_int closing; /* ipc_close() was called */
    atomic_int broken;  /* a protocol error happened; see broken_why */
    atomic_size_t max;  /* ipc_set_max_message(); read by each recv */
    atomic_int sliced;  /* socket timeouts set: see wait_mode() */
    char broken_why[192];

    pthread_mutex_t send_lock;
    size_t send_len;  /* payload length of a frame left half-written */
    size_t send_done; /* bytes of it (header included) written; 0: none */

    pthread_mutex_t recv_lock;
    ipc__decoder dec;
    unsigned char *rbuf; /* RBUF_SIZE bytes, allocated on first recv */
    size_t rpos, rlen;   /* unconsumed bytes are rbuf[rpos..rlen) */
};

int ipc__pipe_new(int fd, struct ipc__pipe **out)
{
    struct ipc__pipe *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        close(fd);
        return IPC_ENOMEM;
    }
    p->fd = fd;
    pthread_mutex_init(&p->send_lock, NULL);
    pthread_mutex_init(&p->recv_lock, NULL);
    ipc__dec_init(&p->dec);
    atomic_init(&p->max, p->dec.max);
    *out = p;
    return 0;
}

void ipc__pipe_free(struct ipc__pipe *p)
{
    close(p->fd);
    ipc__dec_free(&p->dec);
    free(p->rbuf);
    pthread_mutex_destroy(&p->send_lock);
    pthread_mutex_destroy(&p->recv_lock);
    free(p);
}

void ipc__pipe_wake(struct ipc__pipe *p)
{
    atomic_store(&p->closing, 1);
    /* Wakes a blocked recv (it sees EOF) and a blocked send (EPIPE). */
    shutdown(p->fd, SHUT_RDWR);
}

int ipc__pipe_fd(const struct ipc__pipe *p)
{
    return p->fd;
}

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max)
{
    /* Not under recv_lock: a thread blocked in recv holds it. */
    atomic_store(&p->max, max);
}

static int broken_status(struct ipc__pipe *p, const char *call, int h)
{
    return ipc__fail(IPC_EPROTO, 0,
                     "%s(%d): the pipe is broken by an earlier protocol "
                     "error (%s)",
                     call, h, p->broken_why);
}

/* The pipe's send or receive lock was not had in time: another thread's
 * call of the same kind holds it while it waits for the peer. */
static int busy_status(int rc, const char *call, int h)
{
    return ipc__fail(rc, 0,
                     "%s(%d): %s while another thread's %s on this pipe "
                     "waited for the peer",
                     call, h, rc == IPC_EINTR ? "interrupted" : "timed out",
                     call);
}

static int closed_status(const char *call, int h)
{
    return ipc__fail(IPC_ECLOSED, 0, "%s(%d): the handle was closed", call, h);
}

/* ---- waiting ----------------------------------------------------------- */

/*
 * How a send or recv waits for the peer:
 *   WAIT_BLOCK  plain blocking system calls: no deadline, no hook;
 *   WAIT_SLICE  blocking system calls too, but the socket's SO_RCVTIMEO and
 *               SO_SNDTIMEO end each one after IPC_INTERRUPT_SLICE_MS, and a
 *               signal makes it fail with EINTR even under SA_RESTART
 *               (signal(7)), so the interrupt hook gets its say: no
 *               deadline, a hook (every Python and Lua call);
 *   WAIT_POLL   MSG_DONTWAIT, then poll() on EAGAIN: a deadline.
 * WAIT_SLICE exists for speed: a message that is already there costs one
 * system call instead of the three of MSG_DONTWAIT + poll() + retry. The
 * timeouts are set once, on the first such call on the pipe.
 */
enum wait_mode { WAIT_BLOCK, WAIT_SLICE, WAIT_POLL };

static enum wait_mode wait_mode(struct ipc__pipe *p, int64_t deadline)
{
    if (deadline >= 0) {
        return WAIT_POLL;
    }
    if (!ipc__have_hook()) {
        return WAIT_BLOCK;
    }
    if (!atomic_load_explicit(&p->sliced, memory_order_relaxed)) {
        struct timeval tv = {.tv_sec = 0,
                             .tv_usec = IPC_INTERRUPT_SLICE_MS * 1000};
        if (setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
            setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
            return WAIT_POLL; /* still correct, only slower */
        }
        atomic_store(&p->sliced, 1);
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
static int after_failure(struct ipc__pipe *p, int polling, int e, short events,
                         int64_t deadline)
{
    if (!polling) {
        if (e != EINTR && e != EAGAIN && e != EWOULDBLOCK) {
            return 1;
        }
        return ipc__interrupted() ? IPC_EINTR : 0;
    }
    if (e == EINTR) {
        return 0;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) {
        return ipc__wait(p->fd, events, deadline);
    }
    return 1;
}

/* ---- send -------------------------------------------------------------- */

static int send_frame(struct ipc__pipe *p, int h, const void *data, size_t len,
                      int64_t deadline)
{
    unsigned char hdr[IPC__HEADER_SIZE];
    ipc__frame_header(hdr, len);
    size_t total = IPC__HEADER_SIZE + len;
    size_t done = p->send_done;
    int polling = wait_mode(p, deadline) == WAIT_POLL;
    int flags = MSG_NOSIGNAL | (polling ? MSG_DONTWAIT : 0);

    while (done < total) {
        struct iovec iov[2];
        int n_iov = 0;
        if (done < IPC__HEADER_SIZE) {
            iov[n_iov].iov_base = hdr + done;
            iov[n_iov++].iov_len = IPC__HEADER_SIZE - done;
        }
        size_t off = done < IPC__HEADER_SIZE ? 0 : done - IPC__HEADER_SIZE;
        if (len > off) {
            iov[n_iov].iov_base = (char *)data + off;
            iov[n_iov++].iov_len = len - off;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t n = sendmsg(p->fd, &msg, flags);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        int e = errno;
        int rc = after_failure(p, polling, e, POLLOUT, deadline);
        if (rc == 0) {
            continue;
        }
        if (rc < 0) {
            /* Keep our place: the next send of this message resumes it. */
            p->send_done = done;
            p->send_len = len;
            if (rc == IPC_ESYSTEM) {
                return ipc__fail(rc, errno, "send(%d): poll failed", h);
            }
            return ipc__fail(rc, 0,
                             "send(%d): %s after %zu of %zu bytes of the "
                             "frame%s",
                             h, rc == IPC_EINTR ? "interrupted" : "timed out",
                             done, total,
                             done > 0 ? "; send the same message again to "
                                        "finish it"
                                      : "; nothing was sent");
        }
        p->send_done = 0;
        if (atomic_load(&p->closing)) {
            return closed_status("send", h);
        }
        if (e == EPIPE || e == ECONNRESET) {
            return ipc__fail(IPC_ECLOSED, 0,
                             "send(%d): the peer closed the pipe", h);
        }
        return ipc__fail(IPC_ESYSTEM, e, "send(%d): write failed", h);
    }
    p->send_done = 0;
    return 0;
}

int ipc__pipe_send(struct ipc__pipe *p, int h, const void *data, size_t len,
                   int timeout_ms)
{
    if (len > IPC_MAX_MESSAGE) {
        return ipc__fail(IPC_ETOOBIG, 0,
                         "send(%d): a message of %zu bytes exceeds the "
                         "protocol's limit of %d bytes",
                         h, len, IPC_MAX_MESSAGE);
    }
    if (data == NULL && len != 0) {
        return ipc__fail(IPC_EINVAL, 0, "send(%d): data is NULL", h);
    }
    int64_t deadline = ipc__deadline(timeout_ms);
    int rc = ipc__lock(&p->send_lock, deadline);
    if (rc != 0) {
        return busy_status(rc, "send", h);
    }
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, "send", h);
    } else if (p->send_done > 0 && p->send_len != len) {
        rc = ipc__fail(IPC_EINVAL, 0,
                       "send(%d): an interrupted send of a %zu-byte message "
                       "is unfinished; send that same message again first",
                       h, p->send_len);
    } else {
        rc = send_frame(p, h, data, len, deadline);
    }
    pthread_mutex_unlock(&p->send_lock);
    return rc;
}

/* ---- recv -------------------------------------------------------------- */

/* Read what is there into buf (up to cap), waiting for at least one byte.
 * Returns the count, 0 at EOF, or a negative status (message recorded). */
static long read_some(struct ipc__pipe *p, int h, void *buf, size_t cap,
                      int64_t deadline)
{
    int polling = wait_mode(p, deadline) == WAIT_POLL;
    int flags = polling ? MSG_DONTWAIT : 0;
    for (;;) {
        ssize_t n = recv(p->fd, buf, cap, flags);
        if (n >= 0) {
            return (long)n;
        }
        int e = errno;
        if (e == ECONNRESET) {
            return 0; /* the peer is gone: judged like EOF */
        }
        int rc = after_failure(p, polling, e, POLLIN, deadline);
        if (rc == 0) {
            continue;
        }
        if (rc == 1) {
            return ipc__fail(IPC_ESYSTEM, e, "recv(%d): read failed", h);
        }
        if (rc == IPC_ESYSTEM) {
            return ipc__fail(rc, errno, "recv(%d): poll failed", h);
        }
        const char *what = rc == IPC_EINTR ? "interrupted" : "timed out";
        if (ipc__dec_at_boundary(&p->dec)) {
            return ipc__fail(rc, 0, "recv(%d): %s", h, what);
        }
        return ipc__fail(rc, 0,
                         "recv(%d): %s in the middle of a message; what "
                         "arrived is kept for the next recv",
                         h, what);
    }
}

static int break_pipe(struct ipc__pipe *p, int h, const char *why)
{
    snprintf(p->broken_why, sizeof(p->broken_why), "%s", why);
    atomic_store(&p->broken, 1);
    return ipc__fail(IPC_EPROTO, 0, "recv(%d): %s", h, why);
}

static int at_eof(struct ipc__pipe *p, int h)
{
    if (atomic_load(&p->closing)) {
        return closed_status("recv", h);
    }
    if (ipc__dec_at_boundary(&p->dec)) {
        return ipc__fail(IPC_ECLOSED, 0, "recv(%d): the peer closed the pipe",
                         h);
    }
    char why[160];
    const ipc__decoder *d = &p->dec;
    if (d->state == IPC__DEC_HEADER) {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of 4 header bytes",
                 d->hdr_have);
    } else {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of a %zu-byte message",
                 d->have, d->need);
    }
    return break_pipe(p, h, why);
}

/* Feed buffered bytes to the decoder. Returns IPC__DEC_FRAME, IPC__DEC_MORE
 * or a negative status (message recorded). */
static int feed(struct ipc__pipe *p, int h)
{
    size_t used = 0;
    int rc =
        ipc__dec_feed(&p->dec, p->rbuf + p->rpos, p->rlen - p->rpos, &used);
    p->rpos += used;
    if (rc == IPC_EPROTO) {
        const unsigned char *x = p->dec.hdr;
        char why[96];
        snprintf(why, sizeof(why),
                 "negative message length in header %02x %02x %02x %02x", x[0],
                 x[1], x[2], x[3]);
        return break_pipe(p, h, why);
    }
    if (rc == IPC_ETOOBIG) {
        return ipc__fail(rc, 0,
                         "recv(%d): a message of %zu bytes exceeds this "
                         "pipe's limit of %zu bytes; it is skipped",
                         h, p->dec.need, p->dec.max);
    }
    if (rc == IPC_ENOMEM) {
        return ipc__fail(rc, 0, "recv(%d): no memory for a %zu-byte message", h,
                         p->dec.need);
    }
    return rc;
}

/* recv_frame()'s result when it handed the message over itself. */
#define FRAME_TAKEN 100

/*
 * The usual small message: its whole frame already sits in rbuf. Hand it
 * over in one copy, without the decoder's state machine (a tenth of a
 * round trip's instructions). Returns FRAME_TAKEN with the message in
 * *data (ipc_recv: malloc'd, NUL-terminated) or in alloc's buffer, 0 when
 * the next frame is not whole in rbuf (or is one the decoder must judge:
 * too long, negative), or IPC_ENOMEM from alloc (nothing consumed).
 */
static int buffered_frame(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                          void *ctx, void **data, size_t *len)
{
    size_t avail = p->rlen - p->rpos;
    if (avail < IPC__HEADER_SIZE || !ipc__dec_at_boundary(&p->dec)) {
        return 0;
    }
    const unsigned char *x = p->rbuf + p->rpos;
    size_t n = (size_t)x[0] << 24 | (size_t)x[1] << 16 | (size_t)x[2] << 8 |
               (size_t)x[3];
    if (n > p->dec.max || n > avail - IPC__HEADER_SIZE) {
        return 0; /* max <= IPC_MAX_MESSAGE: a negative length goes on */
    }
    char *dst;
    if (alloc != NULL) {
        if ((dst = alloc(ctx, n)) == NULL) {
            return ipc__fail(IPC_ENOMEM, 0,
                             "recv(%d): no memory for a %zu-byte message "
                             "(the allocator returned NULL); it is kept "
                             "for the next recv",
                             h, n);
        }
    } else {
        if ((dst = malloc(n + 1)) == NULL) {
            return 0; /* the decoder reports it */
        }
        dst[n] = '\0';
    }
    memcpy(dst, x + IPC__HEADER_SIZE, n);
    p->rpos += IPC__HEADER_SIZE + n;
    *data = dst;
    *len = n;
    return FRAME_TAKEN;
}

/*
 * Receive until a whole frame is there. With `alloc` (ipc_recv_alloc), a
 * payload goes into the caller's buffer, asked for as soon as the header is
 * known; else into the decoder's own. Returns FRAME_TAKEN (the message is
 * in *data, *len), IPC__DEC_FRAME (the decoder holds it) or a negative
 * status.
 */
static int recv_frame(struct ipc__pipe *p, int h, int64_t deadline,
                      ipc_alloc_fn alloc, void *ctx, void **data, size_t *len)
{
    ipc__decoder *d = &p->dec;
    if (p->rbuf == NULL && (p->rbuf = malloc(RBUF_SIZE)) == NULL) {
        return ipc__fail(IPC_ENOMEM, 0, "recv(%d): out of memory", h);
    }
    for (;;) {
        int rc = buffered_frame(p, h, alloc, ctx, data, len);
        if (rc != 0) {
            return rc;
        }
        if (alloc != NULL && d->ext == NULL &&
            (d->state == IPC__DEC_PAYLOAD || d->state == IPC__DEC_READY)) {
            void *ext = alloc(ctx, d->need);
            if (ext == NULL) {
                return ipc__fail(IPC_ENOMEM, 0,
                                 "recv(%d): no memory for a %zu-byte message "
                                 "(the allocator returned NULL); it is kept "
                                 "for the next recv",
                                 h, d->need);
            }
            ipc__dec_attach(d, ext);
        }
        if (d->state == IPC__DEC_READY) {
            return IPC__DEC_FRAME;
        }
        if (p->rpos < p->rlen) {
            rc = feed(p, h);
            if (rc < 0) {
                return rc;
            }
            continue; /* a frame, or a payload to attach: see above */
        }
        long n;
        size_t remaining = ipc__dec_remaining(d);
        if (remaining >= RBUF_SIZE / 2) {
            void *where;
            long room = ipc__dec_window(d, &where, remaining);
            if (room < 0) {
                return ipc__fail(IPC_ENOMEM, 0,
                                 "recv(%d): no memory for a %zu-byte message",
                                 h, d->need);
            }
            n = read_some(p, h, where, (size_t)room, deadline);
            if (n > 0) {
                ipc__dec_commit(d, (size_t)n);
            }
        } else {
            p->rpos = p->rlen = 0;
            n = read_some(p, h, p->rbuf, RBUF_SIZE, deadline);
            if (n > 0) {
                p->rlen = (size_t)n;
            }
        }
        if (n == 0) {
            return at_eof(p, h);
        }
        if (n < 0) {
            return (int)n;
        }
    }
}

/*
 * ipc_recv (alloc NULL: into the decoder's own buffer, handed over in
 * *data) and ipc_recv_alloc (into alloc's buffer): the same receive, but
 * for where the payload goes and what a call that ends mid-message leaves.
 */
static int pipe_recv(struct ipc__pipe *p, int h, ipc_alloc_fn alloc, void *ctx,
                     void **data, size_t *len, int timeout_ms)
{
    int64_t deadline = ipc__deadline(timeout_ms);
    int rc = ipc__lock(&p->recv_lock, deadline);
    if (rc != 0) {
        return busy_status(rc, "recv", h);
    }
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, "recv", h);
    } else {
        p->dec.max = atomic_load(&p->max);
        p->dec.lazy = alloc != NULL;
        rc = recv_frame(p, h, deadline, alloc, ctx, data, len);
        if (rc == FRAME_TAKEN) {
            rc = 0;
        } else if (rc == IPC__DEC_FRAME && alloc != NULL) {
            *len = ipc__dec_take_ext(&p->dec);
            rc = 0;
        } else if (rc == IPC__DEC_FRAME) {
            rc = ipc__dec_take(&p->dec, data, len);
            if (rc != 0) {
                rc = ipc__fail(rc, 0, "recv(%d): out of memory", h);
            }
        } else if (atomic_load(&p->broken)) {
            p->dec.ext = NULL; /* nothing more will be decoded */
        } else if (ipc__dec_detach(&p->dec) != 0) {
            /* The caller takes its buffer back; without memory to keep the
             * part that arrived, the stream cannot be resumed. */
            rc = break_pipe(p, h,
                            "no memory to keep the part of a message that "
                            "arrived before the call ended");
        }
    }
    pthread_mutex_unlock(&p->recv_lock);
    return rc;
}

int ipc__pipe_recv(struct ipc__pipe *p, int h, void **data, size_t *len,
                   int timeout_ms)
{
    return pipe_recv(p, h, NULL, NULL, data, len, timeout_ms);
}

int ipc__pipe_recv_alloc(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                         void *ctx, size_t *len, int timeout_ms)
{
    void *unused;
    return pipe_recv(p, h, alloc, ctx, &unused, len, timeout_ms);
}
