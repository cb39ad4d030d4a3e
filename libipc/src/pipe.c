/*
 * pipe.c - sending and receiving frames on a connected stream.
 *
 * Send writes header and payload in one OS write where it can. Recv drives
 * the decoder (frame.h), which reads small frames through its own buffer
 * and large payloads straight into the message. All state of a half-done
 * frame (either direction) lives with the pipe, so a timeout or an
 * interrupt never loses bytes.
 */
#include "pipe.h"

#include "error.h"
#include "frame.h"
#include "wait.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct ipc__pipe {
    struct ipc__stream s;
    atomic_int closing; /* ipc_close() was called */
    atomic_int broken;  /* a protocol error happened; see broken_why */
    char broken_why[192];

    ipc__mutex send_lock;
    size_t send_len;  /* payload length of a frame left half-written */
    size_t send_done; /* bytes of it (header included) written; 0: none */

    ipc__mutex recv_lock;
    ipc__decoder *dec;
};

static void pipe_free(void *obj)
{
    struct ipc__pipe *p = obj;
    ipc__os_stream_close(&p->s);
    ipc__dec_free(p->dec);
    ipc__mutex_destroy(&p->send_lock);
    ipc__mutex_destroy(&p->recv_lock);
    free(p);
}

int ipc__pipe_new(struct ipc__stream *s, struct ipc__pipe **out)
{
    struct ipc__pipe *p = calloc(1, sizeof(*p));
    ipc__decoder *d = ipc__dec_new();
    if (p == NULL || d == NULL) {
        free(p);
        ipc__dec_free(d);
        ipc__os_stream_close(s);
        return IPC_ENOMEM;
    }
    p->s = *s;
    p->dec = d;
    ipc__mutex_init(&p->send_lock);
    ipc__mutex_init(&p->recv_lock);
    *out = p;
    return 0;
}

static void pipe_wake(void *obj)
{
    struct ipc__pipe *p = obj;
    atomic_store(&p->closing, 1);
    ipc__os_stream_wake(&p->s);
}

static int pipe_fd(const void *obj)
{
    const struct ipc__pipe *p = obj;
    return ipc__os_stream_fd(&p->s);
}

const struct ipc__kind ipc__pipe_kind = {
    .name = "pipe",
    .destroy = pipe_free,
    .wake = pipe_wake,
    .fd = pipe_fd,
};

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max)
{
    /* Not under recv_lock: a thread blocked in recv holds it. The decoder
     * takes the limit from any thread. */
    ipc__dec_set_max(p->dec, max);
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

/* ---- send -------------------------------------------------------------- */

static int send_frame(struct ipc__pipe *p, int h, const void *data, size_t len,
                      const struct ipc__until *u)
{
    unsigned char hdr[IPC__HEADER_SIZE];
    ipc__frame_header(hdr, len);
    size_t total = IPC__HEADER_SIZE + len;
    struct ipc__out out = {hdr, sizeof(hdr), data, len, p->send_done};
    struct ipc__who who = {"send", h};
    int rc = ipc__os_write(&p->s, &who, &out, u);
    size_t done = out.done;
    if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
        /* Keep our place: the next send of this message resumes it. */
        p->send_done = done;
        p->send_len = len;
        return ipc__fail(rc, 0,
                         "send(%d): %s after %zu of %zu bytes of the "
                         "frame%s",
                         h, rc == IPC_EINTR ? "interrupted" : "timed out", done,
                         total,
                         done > 0 ? "; send the same message again to "
                                    "finish it"
                                  : "; nothing was sent");
    }
    p->send_done = 0;
    if (rc == 0) {
        return 0;
    }
    if (atomic_load(&p->closing)) {
        return closed_status("send", h);
    }
    if (rc == IPC_ECLOSED) {
        return ipc__fail(IPC_ECLOSED, 0, "send(%d): the peer closed the pipe",
                         h);
    }
    return rc; /* recorded by the backend */
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
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = ipc__lock(&p->send_lock, &u);
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
        rc = send_frame(p, h, data, len, &u);
    }
    ipc__mutex_unlock(&p->send_lock);
    return rc;
}

/* ---- recv -------------------------------------------------------------- */

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
    if (ipc__dec_at_boundary(p->dec)) {
        return ipc__fail(IPC_ECLOSED, 0, "recv(%d): the peer closed the pipe",
                         h);
    }
    struct ipc__dec_info d;
    ipc__dec_inspect(p->dec, &d);
    char why[160];
    if (d.state == IPC__DEC_HEADER) {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of 4 header bytes",
                 d.hdr_have);
    } else {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of a %zu-byte message",
                 d.have, d.need);
    }
    return break_pipe(p, h, why);
}

/* Word a failure of ipc__dec_next(). */
static int decode_failed(struct ipc__pipe *p, int h, int rc, int with_alloc)
{
    struct ipc__dec_info d;
    ipc__dec_inspect(p->dec, &d);
    if (rc == IPC_EPROTO) {
        char why[96];
        snprintf(why, sizeof(why),
                 "negative message length in header %02x %02x %02x %02x",
                 d.hdr[0], d.hdr[1], d.hdr[2], d.hdr[3]);
        return break_pipe(p, h, why);
    }
    if (rc == IPC_ETOOBIG) {
        return ipc__fail(rc, 0,
                         "recv(%d): a message of %zu bytes exceeds this "
                         "pipe's limit of %zu bytes; it is skipped",
                         h, d.need, d.max);
    }
    if (with_alloc) {
        return ipc__fail(rc, 0,
                         "recv(%d): no memory for a %zu-byte message (the "
                         "allocator returned NULL); it is kept for the next "
                         "recv",
                         h, d.need);
    }
    return ipc__fail(rc, 0, "recv(%d): no memory for a %zu-byte message", h,
                     d.need);
}

/* The call ends mid-message (timeout, interrupt): word it. */
static int wait_ended(struct ipc__pipe *p, int h, int rc)
{
    const char *what = rc == IPC_EINTR ? "interrupted" : "timed out";
    if (ipc__dec_at_boundary(p->dec)) {
        return ipc__fail(rc, 0, "recv(%d): %s", h, what);
    }
    return ipc__fail(rc, 0,
                     "recv(%d): %s in the middle of a message; what arrived "
                     "is kept for the next recv",
                     h, what);
}

/* Read until the decoder hands over a message (IPC__DEC_FRAME) or fails;
 * every failure is worded here. */
static int recv_frame(struct ipc__pipe *p, int h, struct ipc__dec_io *io,
                      const struct ipc__until *u)
{
    struct ipc__who who = {"recv", h};
    for (;;) {
        int rc = ipc__dec_next(p->dec, io);
        if (rc != IPC__DEC_MORE) {
            return rc < 0 ? decode_failed(p, h, rc, io->alloc != NULL) : rc;
        }
        long n = ipc__os_read(&p->s, &who, io->where, io->room, u);
        if (n > 0) {
            io->got = (size_t)n;
        } else if (n == 0) {
            return at_eof(p, h);
        } else if (n == IPC_ETIMEDOUT || n == IPC_EINTR) {
            return wait_ended(p, h, (int)n);
        } else {
            return (int)n; /* recorded by the backend */
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
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = ipc__lock(&p->recv_lock, &u);
    if (rc != 0) {
        return busy_status(rc, "recv", h);
    }
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, "recv", h);
    } else {
        struct ipc__dec_io io = {.alloc = alloc, .ctx = ctx};
        rc = recv_frame(p, h, &io, &u);
        if (rc == IPC__DEC_FRAME) {
            *data = io.data;
            *len = io.len;
            rc = 0;
        } else if (alloc != NULL &&
                   ipc__dec_leave(p->dec, !atomic_load(&p->broken)) != 0) {
            /* The caller takes its buffer back; without memory to keep the
             * part that arrived, the stream cannot be resumed. */
            rc = break_pipe(p, h,
                            "no memory to keep the part of a message that "
                            "arrived before the call ended");
        }
    }
    ipc__mutex_unlock(&p->recv_lock);
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
