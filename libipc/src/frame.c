/*
 * frame.c - the frame codec (see frame.h). No I/O happens here.
 */
#include "frame.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Small frames are read through this buffer; a payload that still needs at
 * least half of it is read straight into the message instead. */
#define RBUF_SIZE (64 * 1024)

struct ipc__decoder {
    enum ipc__dec_state state;
    unsigned char hdr[IPC__HEADER_SIZE];
    size_t hdr_have; /* header bytes collected */
    size_t need;     /* payload length of the current frame */
    size_t have;     /* payload bytes collected (or skipped) */
    char *buf;       /* payload buffer, cap bytes; NULL until needed */
    size_t cap;
    atomic_size_t max; /* longest message accepted; longer ones are
                          skipped (set from any thread) */
    size_t grow;       /* see IPC__DEC_GROW */
    char *ext;         /* the caller's buffer for this payload (need bytes), or
                          NULL; never freed here */
    int lazy; /* stop at each payload that has no byte yet until attach()
                 gives it a buffer (see resumed()) */

    /* The read buffer: bytes read but not yet decoded are rbuf[rpos..rlen).
     * `direct`: the last space given was the payload's own buffer. */
    unsigned char *rbuf; /* RBUF_SIZE bytes, allocated on first read */
    size_t rpos, rlen;
    int direct;
};

void ipc__frame_header(unsigned char out[IPC__HEADER_SIZE], size_t len)
{
    uint32_t n = (uint32_t)len;
    out[0] = (unsigned char)(n >> 24);
    out[1] = (unsigned char)(n >> 16);
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
}

static size_t max_of(const ipc__decoder *d)
{
    return atomic_load_explicit(&d->max, memory_order_relaxed);
}

static uint32_t read_be32(const unsigned char *x)
{
    return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 | (uint32_t)x[2] << 8 |
           (uint32_t)x[3];
}

ipc__decoder *ipc__dec_new(void)
{
    ipc__decoder *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        d->state = IPC__DEC_HEADER;
        atomic_init(&d->max, IPC_MAX_MESSAGE);
        d->grow = IPC__DEC_GROW;
    }
    return d;
}

static void drop_buf(ipc__decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
}

void ipc__dec_free(ipc__decoder *d)
{
    if (d != NULL) {
        free(d->buf);
        free(d->rbuf);
        free(d);
    }
}

void ipc__dec_set_max(ipc__decoder *d, size_t max)
{
    atomic_store_explicit(&d->max, max, memory_order_relaxed);
}

void ipc__dec_set_grow(ipc__decoder *d, size_t grow)
{
    d->grow = grow;
}

void ipc__dec_inspect(const ipc__decoder *d, struct ipc__dec_info *out)
{
    out->state = d->state;
    memcpy(out->hdr, d->hdr, sizeof(out->hdr));
    out->hdr_have = d->hdr_have;
    out->need = d->need;
    if (d->state == IPC__DEC_HEADER && d->hdr_have == 0 &&
        d->rlen - d->rpos >= IPC__HEADER_SIZE) {
        /* The next frame's header is read but not decoded (the fast path
         * stopped before it): its length is the one at stake. */
        out->need = read_be32(d->rbuf + d->rpos);
    }
    out->have = d->have;
    out->max = max_of(d);
    out->grow = d->grow;
    out->ext = d->ext;
    out->buffered = d->rlen - d->rpos;
}

/* Make the buffer hold at least `want` payload bytes plus the NUL that
 * ipc__dec_take() promises, never more than the frame needs. */
static int reserve(ipc__decoder *d, size_t want)
{
    size_t cap = want + 1;
    if (cap <= d->cap) {
        return 0;
    }
    char *p = realloc(d->buf, cap);
    if (p == NULL) {
        return IPC_ENOMEM;
    }
    d->buf = p;
    d->cap = cap;
    return 0;
}

/* How many payload bytes to have room for, given `more` are about to come:
 * small frames get their whole size at once, large ones grow at most `grow`
 * ahead of what has actually arrived. */
static size_t target(const ipc__decoder *d, size_t more)
{
    size_t left = d->need - d->have;
    if (more > left) {
        more = left;
    }
    size_t ahead = d->grow > left ? left : d->grow;
    if (more < ahead) {
        more = ahead;
    }
    return d->have + more;
}

static void start_payload(ipc__decoder *d, size_t n)
{
    d->need = n;
    d->have = 0;
    d->hdr_have = 0;
    if (n > max_of(d)) {
        d->state = IPC__DEC_SKIP;
    } else {
        d->state = n == 0 ? IPC__DEC_READY : IPC__DEC_PAYLOAD;
    }
}

int ipc__dec_feed(ipc__decoder *d, const void *bytes, size_t len, size_t *used)
{
    const unsigned char *p = bytes;
    size_t at = 0;
    int rc = IPC__DEC_MORE;

    while (rc == IPC__DEC_MORE && at < len) {
        switch (d->state) {
        case IPC__DEC_HEADER: {
            size_t take = IPC__HEADER_SIZE - d->hdr_have;
            if (take > len - at) {
                take = len - at;
            }
            memcpy(d->hdr + d->hdr_have, p + at, take);
            d->hdr_have += take;
            at += take;
            if (d->hdr_have < IPC__HEADER_SIZE) {
                break;
            }
            uint32_t n = (uint32_t)d->hdr[0] << 24 | (uint32_t)d->hdr[1] << 16 |
                         (uint32_t)d->hdr[2] << 8 | (uint32_t)d->hdr[3];
            if (n > IPC_MAX_MESSAGE) {
                /* The length is signed on the wire: this is negative. */
                d->state = IPC__DEC_BROKEN;
                rc = IPC_EPROTO;
                break;
            }
            start_payload(d, n);
            if (d->state == IPC__DEC_SKIP) {
                rc = IPC_ETOOBIG;
            } else if (d->state == IPC__DEC_READY) {
                rc = IPC__DEC_FRAME;
            }
            break;
        }
        case IPC__DEC_PAYLOAD: {
            size_t take = d->need - d->have;
            if (take > len - at) {
                take = len - at;
            }
            char *dst = d->ext;
            if (dst == NULL) {
                if (d->lazy && d->have == 0) {
                    rc = IPC__DEC_NEED_BUF;
                    break;
                }
                if (d->have + take >= d->cap &&
                    reserve(d, target(d, take)) != 0) {
                    rc = IPC_ENOMEM;
                    break;
                }
                dst = d->buf;
            }
            memcpy(dst + d->have, p + at, take);
            d->have += take;
            at += take;
            if (d->have == d->need) {
                d->state = IPC__DEC_READY;
                rc = IPC__DEC_FRAME;
            }
            break;
        }
        case IPC__DEC_SKIP: {
            size_t take = d->need - d->have;
            if (take > len - at) {
                take = len - at;
            }
            d->have += take;
            at += take;
            if (d->have == d->need) {
                d->state = IPC__DEC_HEADER;
                d->need = d->have = 0;
            }
            break;
        }
        case IPC__DEC_READY:
            rc = IPC__DEC_FRAME;
            break;
        case IPC__DEC_BROKEN:
            rc = IPC_EPROTO;
            break;
        }
    }
    if (rc == IPC__DEC_MORE && d->state == IPC__DEC_READY) {
        rc = IPC__DEC_FRAME;
    } else if (rc == IPC__DEC_MORE && d->state == IPC__DEC_BROKEN) {
        rc = IPC_EPROTO;
    }
    *used = at;
    return rc;
}

long ipc__dec_window(ipc__decoder *d, void **where, size_t want)
{
    size_t left = d->need - d->have;
    if (want > left) {
        want = left;
    }
    if (d->ext != NULL) {
        *where = d->ext + d->have;
        return (long)want;
    }
    /* Reuse the room already there; grow only once it is full, so a large
     * payload costs one realloc per `grow` bytes, not one per read. */
    if (d->have + 1 >= d->cap) {
        size_t ahead = d->grow < left ? d->grow : left;
        if (reserve(d, d->have + ahead) != 0) {
            return IPC_ENOMEM;
        }
    }
    size_t room = d->cap - 1 - d->have;
    *where = d->buf + d->have;
    return (long)(room < want ? room : want);
}

int ipc__dec_commit(ipc__decoder *d, size_t n)
{
    d->have += n;
    if (d->have == d->need) {
        d->state = IPC__DEC_READY;
        return IPC__DEC_FRAME;
    }
    return IPC__DEC_MORE;
}

int ipc__dec_take(ipc__decoder *d, void **data, size_t *len)
{
    if (d->buf == NULL && reserve(d, 0) != 0) {
        return IPC_ENOMEM;
    }
    d->buf[d->have] = '\0';
    *data = d->buf;
    *len = d->have;
    d->buf = NULL;
    d->cap = 0;
    d->state = IPC__DEC_HEADER;
    d->need = d->have = 0;
    return 0;
}

/*
 * A payload begun in a call that ended before it was complete (timeout,
 * interrupt) continues in the decoder's own buffer, where ipc__dec_leave()
 * put its bytes: the caller's buffer is asked for once it is complete, and
 * they are copied there once. Asking at the start of every call instead
 * copies the part received so far into each new buffer, which made a
 * receive loop of short timeouts quadratic in the message's size. A
 * payload with no byte yet goes straight into the caller's buffer,
 * at no cost.
 */
static int resumed(const ipc__decoder *d)
{
    return d->state == IPC__DEC_PAYLOAD && d->have > 0 && d->ext == NULL;
}

/* Put the current payload (state PAYLOAD or READY) into `ext`, the caller's
 * buffer of at least `need` bytes; the bytes held so far are copied there. */
static void attach(ipc__decoder *d, void *ext)
{
    if (d->have > 0) {
        memcpy(ext, d->buf, d->have);
    }
    drop_buf(d);
    d->ext = ext;
}

static int detach(ipc__decoder *d)
{
    char *ext = d->ext;
    if (ext == NULL) {
        return 0;
    }
    d->ext = NULL;
    if (d->have == 0) {
        return 0;
    }
    if (reserve(d, target(d, 0)) != 0) {
        return IPC_ENOMEM;
    }
    memcpy(d->buf, ext, d->have);
    return 0;
}

/* Hand over a ready payload written to the attached buffer: its length. */
static size_t take_ext(ipc__decoder *d)
{
    size_t n = d->have;
    d->ext = NULL;
    d->state = IPC__DEC_HEADER;
    d->need = d->have = 0;
    return n;
}

int ipc__dec_at_boundary(const ipc__decoder *d)
{
    return d->state == IPC__DEC_HEADER && d->hdr_have == 0;
}

size_t ipc__dec_remaining(const ipc__decoder *d)
{
    return d->state == IPC__DEC_PAYLOAD ? d->need - d->have : 0;
}

size_t ipc__dec_held(const ipc__decoder *d)
{
    return d->cap;
}

/* ---- the receive loop's calls ------------------------------------------ */

/*
 * The usual small message: its whole frame already sits in rbuf, and no
 * frame is half-decoded. Hand it over in one copy, without the state
 * machine (a tenth of a round trip's instructions). Returns IPC__DEC_FRAME,
 * 0 when the next frame is not whole in rbuf (or is one the state machine
 * must judge: too long, negative; or malloc failed, which it reports), or
 * IPC_ENOMEM from alloc (nothing consumed).
 */
static inline __attribute__((always_inline)) int
buffered_frame(ipc__decoder *d, struct ipc__dec_io *io)
{
    size_t avail = d->rlen - d->rpos;
    if (avail < IPC__HEADER_SIZE || !ipc__dec_at_boundary(d)) {
        return 0;
    }
    const unsigned char *x = d->rbuf + d->rpos;
    size_t n = read_be32(x);
    if (n > max_of(d) || n > avail - IPC__HEADER_SIZE) {
        return 0; /* max <= IPC_MAX_MESSAGE: a negative length goes on */
    }
    char *dst;
    if (io->alloc != NULL) {
        if ((dst = io->alloc(io->ctx, n)) == NULL) {
            return IPC_ENOMEM;
        }
    } else {
        if ((dst = malloc(n + 1)) == NULL) {
            return 0;
        }
        dst[n] = '\0';
    }
    memcpy(dst, x + IPC__HEADER_SIZE, n);
    d->rpos += IPC__HEADER_SIZE + n;
    io->data = dst;
    io->len = n;
    return IPC__DEC_FRAME;
}

int ipc__dec_take_held(ipc__decoder *d, struct ipc__dec_io *io)
{
    return buffered_frame(d, io);
}

/* Where the next read goes (io->where, io->room): straight into a large
 * payload once the read buffer is used up, else into the read buffer. */
static int space(ipc__decoder *d, struct ipc__dec_io *io)
{
    size_t remaining = ipc__dec_remaining(d);
    if (remaining >= RBUF_SIZE / 2) {
        long room = ipc__dec_window(d, &io->where, remaining);
        if (room < 0) {
            return (int)room;
        }
        io->room = (size_t)room;
        d->direct = 1;
        return IPC__DEC_MORE;
    }
    if (d->rbuf == NULL && (d->rbuf = malloc(RBUF_SIZE)) == NULL) {
        return IPC_ENOMEM;
    }
    d->direct = 0;
    d->rpos = d->rlen = 0; /* all of it was decoded */
    io->where = d->rbuf;
    io->room = RBUF_SIZE;
    return IPC__DEC_MORE;
}

/* Everything but the two usual cases of ipc__dec_next(): the state
 * machine, the caller's buffers, errors. Kept out of line so that the
 * usual cases pay for no registers they do not use. */
static __attribute__((noinline)) int next_slow(ipc__decoder *d,
                                               struct ipc__dec_io *io)
{
    d->lazy = io->alloc != NULL;
    for (;;) {
        int rc = buffered_frame(d, io);
        if (rc != 0) {
            return rc;
        }
        if (io->alloc != NULL && d->ext == NULL && !resumed(d) &&
            (d->state == IPC__DEC_PAYLOAD || d->state == IPC__DEC_READY)) {
            void *ext = io->alloc(io->ctx, d->need);
            if (ext == NULL) {
                return IPC_ENOMEM;
            }
            attach(d, ext);
        }
        if (d->state == IPC__DEC_BROKEN) {
            return IPC_EPROTO; /* for good */
        }
        if (d->state == IPC__DEC_READY) {
            if (io->alloc != NULL) {
                io->data = d->ext;
                io->len = take_ext(d);
                return IPC__DEC_FRAME;
            }
            rc = ipc__dec_take(d, &io->data, &io->len);
            return rc == 0 ? IPC__DEC_FRAME : rc;
        }
        if (d->rpos == d->rlen) {
            return space(d, io);
        }
        size_t used = 0;
        rc = ipc__dec_feed(d, d->rbuf + d->rpos, d->rlen - d->rpos, &used);
        d->rpos += used;
        if (rc < 0) {
            return rc;
        }
        /* A frame, a payload to attach, or input used up: see above. */
    }
}

int ipc__dec_next(ipc__decoder *d, struct ipc__dec_io *io)
{
    if (io->got > 0) {
        if (d->direct) {
            ipc__dec_commit(d, io->got);
        } else {
            d->rlen = io->got;
        }
        io->got = 0;
    }
    /* The usual cases: a whole small frame is buffered (hand it over), or
     * nothing is, between frames (read into the buffer). */
    int rc = buffered_frame(d, io);
    if (rc != 0) {
        return rc;
    }
    if (d->rpos == d->rlen && ipc__dec_at_boundary(d) && d->rbuf != NULL) {
        d->direct = 0;
        d->rpos = d->rlen = 0;
        io->where = d->rbuf;
        io->room = RBUF_SIZE;
        return IPC__DEC_MORE;
    }
    return next_slow(d, io);
}

int ipc__dec_leave(ipc__decoder *d, int keep)
{
    if (!keep) {
        d->ext = NULL; /* nothing more will be decoded */
        return 0;
    }
    return detach(d);
}

/* ---- many pipes at once (see frame.h) ---------------------------------- */

int ipc__dec_ready(const ipc__decoder *d)
{
    /* After a read straight into a payload (direct) nothing is left in the
     * read buffer: rpos == rlen then. */
    const unsigned char *p = d->rbuf != NULL ? d->rbuf + d->rpos : NULL;
    size_t avail = d->rlen - d->rpos;
    size_t hdr_have = d->hdr_have;
    switch (d->state) {
    case IPC__DEC_READY:
    case IPC__DEC_BROKEN:
        return 1;
    case IPC__DEC_PAYLOAD:
        return avail >= d->need - d->have;
    case IPC__DEC_SKIP: {
        /* The skipped rest goes first; then the next header decides. */
        size_t left = d->need - d->have;
        if (avail < left) {
            return 0;
        }
        p += left;
        avail -= left;
        hdr_have = 0;
        break;
    }
    case IPC__DEC_HEADER:
        break;
    }
    size_t take = IPC__HEADER_SIZE - hdr_have;
    if (avail < take) {
        return 0;
    }
    unsigned char hdr[IPC__HEADER_SIZE];
    memcpy(hdr, d->hdr, hdr_have);
    memcpy(hdr + hdr_have, p, take);
    uint32_t n = read_be32(hdr);
    if (n > IPC_MAX_MESSAGE || n > max_of(d)) {
        return 1; /* IPC_EPROTO or IPC_ETOOBIG, told without a read */
    }
    return avail - take >= n;
}

int ipc__dec_read_space(ipc__decoder *d, void **where, size_t *room)
{
    /* Not ready: ipc__dec_next() without an allocator can only consume the
     * buffered part of a frame and ask for more (or fail for memory). */
    struct ipc__dec_io io = {0};
    int rc = ipc__dec_next(d, &io);
    if (rc == IPC__DEC_MORE) {
        *where = io.where;
        *room = io.room;
    }
    return rc;
}

void ipc__dec_account(ipc__decoder *d, size_t got)
{
    if (d->direct) {
        ipc__dec_commit(d, got);
    } else {
        d->rlen = got;
    }
}
