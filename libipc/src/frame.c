/*
 * frame.c - the frame codec (see frame.h). No I/O happens here.
 */
#include "frame.h"

#include "kiwi_ipc.h"

#include <stdlib.h>
#include <string.h>

void ipc__frame_header(unsigned char out[IPC__HEADER_SIZE], size_t len)
{
    uint32_t n = (uint32_t)len;
    out[0] = (unsigned char)(n >> 24);
    out[1] = (unsigned char)(n >> 16);
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
}

void ipc__dec_init(ipc__decoder *d)
{
    memset(d, 0, sizeof(*d));
    d->state = IPC__DEC_HEADER;
    d->max = IPC_MAX_MESSAGE;
    d->grow = IPC__DEC_GROW;
}

void ipc__dec_free(ipc__decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
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
    if (n > d->max) {
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
                if (d->lazy) {
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

void ipc__dec_attach(ipc__decoder *d, void *ext)
{
    if (d->have > 0) {
        memcpy(ext, d->buf, d->have);
    }
    ipc__dec_free(d);
    d->ext = ext;
}

int ipc__dec_detach(ipc__decoder *d)
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

size_t ipc__dec_take_ext(ipc__decoder *d)
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
