/*
 * fuzz_decoder.c - libFuzzer target for the frame decoder (libipc/src/
 * frame.c).
 *
 * The input is a 4-byte prelude followed by the byte stream:
 *
 *   prelude[0]  bits 0-1  max message: 0 default (IPC_MAX_MESSAGE),
 *                         1 prelude[1], 2 prelude[1..2] big-endian, 3 zero
 *               bits 2-3  grow step: 1, 7, 64 or 4096 bytes
 *               bits 4-5  payload path: 0 feed only, 1 window/commit
 *                         whenever in a payload, 2 chosen per step,
 *                         3 chosen per step, into the caller's buffers
 *                         (lazy mode, as ipc_recv_alloc uses it)
 *               bits 6-7  chunk sizes: 0 all 1 byte, 1 up to 16 bytes,
 *                         2 up to 4 KiB, 3 the whole rest at once
 *   prelude[1..2] the max for modes 1 and 2
 *   prelude[3]  seed of the chunk-size generator
 *
 * The stream is fed to the decoder in chunks whose sizes come from the
 * prelude, through ipc__dec_feed() and (in a payload, when the mode says
 * so) ipc__dec_window()/ipc__dec_commit(), exactly as pipe.c uses them.
 * Every message and error the decoder reports is compared with what a
 * trivially correct all-at-once reference decoder says about the same
 * bytes; any difference abort()s. Also checked after every call:
 *   - the bytes consumed add up, and a call never consumes more than given;
 *   - memory held (ipc__dec_held) never exceeds the payload bytes fed so far
 *     for the current frame plus grow + 1, nor the frame's size + 1;
 *   - at the end, ipc__dec_at_boundary() is true exactly when the reference
 *     ended between frames;
 *   - once broken (IPC_EPROTO), the decoder stays broken and consumes
 *     nothing;
 *   - in lazy mode, the decoder stops at every payload until a buffer of
 *     exactly the payload's size is attached; the bytes held so far are
 *     copied there; and a random detach (a call ending mid-message) keeps
 *     every byte, the buffer being scribbled on and freed at once.
 * AddressSanitizer catches any read or write past a buffer.
 */
#include "frame.h"

#include "kiwi_ipc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_decoder: %s:%d: invariant failed: %s\n",     \
                    __FILE__, __LINE__, #cond);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* ---- the reference: all at once, obviously right ---------------------- */

/* EV_PARTIAL is no event: it marks where the payload of an unfinished last
 * frame starts, so that the harness knows how much of it was fed. */
enum ev_kind { EV_FRAME, EV_TOOBIG, EV_PROTO, EV_PARTIAL };

struct event {
    enum ev_kind kind;
    size_t off; /* FRAME: payload offset in the stream */
    size_t len; /* FRAME: payload length; TOOBIG: announced length */
};

struct reference {
    struct event *ev;
    size_t n_ev;
    int at_boundary; /* the stream ends between two frames */
};

static void ref_push(struct reference *r, enum ev_kind kind, size_t off,
                     size_t len)
{
    struct event *ev = realloc(r->ev, (r->n_ev + 1) * sizeof(*ev));
    CHECK(ev != NULL);
    r->ev = ev;
    r->ev[r->n_ev++] = (struct event){kind, off, len};
}

static void reference_decode(const uint8_t *s, size_t n, size_t max,
                             struct reference *r)
{
    size_t pos = 0;
    memset(r, 0, sizeof(*r));
    for (;;) {
        if (pos == n) {
            r->at_boundary = 1;
            return;
        }
        if (n - pos < 4) {
            return; /* part of a header */
        }
        uint32_t len = (uint32_t)s[pos] << 24 | (uint32_t)s[pos + 1] << 16 |
                       (uint32_t)s[pos + 2] << 8 | (uint32_t)s[pos + 3];
        pos += 4;
        if (len & 0x80000000u) {
            ref_push(r, EV_PROTO, 0, 0);
            return; /* a negative length: nothing after it counts */
        }
        if (len > max) {
            ref_push(r, EV_TOOBIG, 0, len);
            if (n - pos < len) {
                return; /* still skipping */
            }
            pos += len;
            continue;
        }
        if (n - pos < len) {
            ref_push(r, EV_PARTIAL, pos, len);
            return; /* part of a payload */
        }
        ref_push(r, EV_FRAME, pos, len);
        pos += len;
    }
}

/* ---- the harness ------------------------------------------------------- */

/* The largest message in lazy mode (see LLVMFuzzerTestOneInput). */
#define LAZY_MAX ((size_t)16 << 20)

struct rng {
    uint32_t s;
};

static uint32_t rng_next(struct rng *r)
{
    /* xorshift32; the state must not be 0. */
    uint32_t x = r->s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->s = x;
    return x;
}

static size_t chunk_size(struct rng *r, int mode, size_t left)
{
    size_t n;
    switch (mode) {
    case 0:
        n = 1;
        break;
    case 1:
        n = 1 + rng_next(r) % 16;
        break;
    case 2:
        /* Mostly small, sometimes up to 4 KiB: a log-uniform pick. */
        n = 1 + rng_next(r) % ((size_t)1 << (rng_next(r) % 13));
        break;
    default:
        n = left;
        break;
    }
    return n < left ? n : left;
}

struct harness {
    ipc__decoder d;
    const uint8_t *s; /* the stream */
    const struct reference *ref;
    size_t next_ev; /* next reference event expected */
    size_t pos;     /* stream bytes the decoder has consumed */
    int broken;
    int lazy;  /* payloads go to caller buffers (ext) */
    char *ext; /* the attached buffer: exactly need bytes (1 for 0) */
};

/* Payload bytes of the frame being collected that the decoder has been
 * given, by the reference's reckoning (0 between frames). */
static size_t frame_fed(const struct harness *h)
{
    const ipc__decoder *d = &h->d;
    if (d->state != IPC__DEC_PAYLOAD && d->state != IPC__DEC_READY) {
        return 0;
    }
    CHECK(h->next_ev < h->ref->n_ev);
    const struct event *ev = &h->ref->ev[h->next_ev];
    CHECK(ev->kind == EV_FRAME || ev->kind == EV_PARTIAL);
    CHECK(h->pos >= ev->off);
    return h->pos - ev->off;
}

static void check_memory(const struct harness *h)
{
    const ipc__decoder *d = &h->d;
    size_t held = ipc__dec_held(d);
    size_t fed = frame_fed(h);
    /* Never more than what has arrived plus one growth step and the NUL. */
    CHECK(held <= fed + d->grow + 1);
    if (d->state == IPC__DEC_PAYLOAD || d->state == IPC__DEC_READY) {
        /* ... nor more than the frame itself needs. */
        CHECK(held <= d->need + 1);
        CHECK(d->have == fed);
        CHECK(d->have <= d->need);
    }
    if (d->state == IPC__DEC_PAYLOAD) {
        CHECK(ipc__dec_remaining(d) == d->need - d->have);
        CHECK(!ipc__dec_at_boundary(d));
    } else {
        CHECK(ipc__dec_remaining(d) == 0);
    }
}

static const struct event *expect(struct harness *h, enum ev_kind kind)
{
    CHECK(h->next_ev < h->ref->n_ev);
    const struct event *ev = &h->ref->ev[h->next_ev++];
    CHECK(ev->kind != EV_PARTIAL);
    CHECK(ev->kind == kind);
    return ev;
}

static void take_frame(struct harness *h)
{
    const struct event *ev = expect(h, EV_FRAME);
    void *data = NULL;
    size_t len = 0;
    CHECK(h->d.state == IPC__DEC_READY);
    if (h->lazy) {
        CHECK(h->d.ext == h->ext && h->ext != NULL);
        len = ipc__dec_take_ext(&h->d);
        CHECK(len == ev->len);
        CHECK(memcmp(h->ext, h->s + ev->off, len) == 0);
        CHECK(h->d.ext == NULL);
        free(h->ext);
        h->ext = NULL;
        CHECK(ipc__dec_at_boundary(&h->d));
        CHECK(ipc__dec_held(&h->d) == 0);
        return;
    }
    CHECK(ipc__dec_take(&h->d, &data, &len) == 0);
    CHECK(data != NULL);
    CHECK(len == ev->len);
    CHECK(memcmp(data, h->s + ev->off, len) == 0);
    CHECK(((char *)data)[len] == '\0');
    free(data);
    CHECK(ipc__dec_at_boundary(&h->d));
    CHECK(ipc__dec_held(&h->d) == 0);
}

/* Lazy mode, at a payload without a buffer: attach one of exactly the
 * payload's size (ASan catches a byte written past it), holding the bytes
 * that had arrived. */
static void attach(struct harness *h)
{
    ipc__decoder *d = &h->d;
    size_t fed = frame_fed(h);
    h->ext = malloc(d->need ? d->need : 1);
    CHECK(h->ext != NULL);
    ipc__dec_attach(d, h->ext);
    CHECK(d->ext == h->ext);
    CHECK(ipc__dec_held(d) == 0);
    CHECK(d->have == fed);
    const struct event *ev = &h->ref->ev[h->next_ev];
    CHECK(memcmp(h->ext, h->s + ev->off, fed) == 0);
}

/* Lazy mode: the call ends mid-message; the caller frees its buffer. */
static void detach(struct harness *h)
{
    ipc__decoder *d = &h->d;
    size_t have = d->have;
    CHECK(ipc__dec_detach(d) == 0);
    CHECK(d->ext == NULL);
    CHECK(d->have == have);
    memset(h->ext, 0xEE, have); /* what the decoder must not read again */
    free(h->ext);
    h->ext = NULL;
    check_memory(h);
}

/* Give the decoder the bytes s[at, at+n). */
static void give(struct harness *h, size_t at, size_t n, struct rng *r,
                 int window_mode)
{
    ipc__decoder *d = &h->d;
    while (n > 0) {
        if (h->broken) {
            size_t used = 12345;
            CHECK(ipc__dec_feed(d, h->s + at, n, &used) == IPC_EPROTO);
            CHECK(used == 0);
            return;
        }
        if (h->lazy && d->ext == NULL &&
            (d->state == IPC__DEC_PAYLOAD || d->state == IPC__DEC_READY)) {
            attach(h);
            if (d->state == IPC__DEC_READY) {
                take_frame(h);
                continue;
            }
        }
        if (h->lazy && d->ext != NULL && d->state == IPC__DEC_PAYLOAD &&
            rng_next(r) % 8 == 0) {
            detach(h);
            continue;
        }
        int use_window =
            d->state == IPC__DEC_PAYLOAD &&
            (window_mode == 1 || (window_mode >= 2 && (rng_next(r) & 1)));
        if (use_window) {
            /* As pipe.c does: ask for room, "read" into it, commit. The
             * request is sometimes larger than grow (pipe.c asks for 64 KiB
             * with a 1 MiB grow, but nothing in frame.h ties the two): the
             * room must still stay within grow of what has arrived. */
            size_t want = 1 + rng_next(r) % (2 * d->grow);
            void *where = NULL;
            size_t need_before = d->need - d->have;
            size_t fed_before = frame_fed(h);
            long room = ipc__dec_window(d, &where, want);
            CHECK(room > 0);
            CHECK((size_t)room <= need_before);
            CHECK(where != NULL);
            /* frame.h: "never more than grow beyond what has arrived"
             * (the caller's buffer is the caller's business). */
            CHECK(ipc__dec_held(d) <= fed_before + d->grow + 1);
            CHECK(d->ext != NULL || (size_t)room <= d->grow);
            CHECK((size_t)room <= want);
            size_t k = (size_t)room < n ? (size_t)room : n;
            /* Only k bytes arrive; write them and account for them. */
            memcpy(where, h->s + at, k);
            int rc = ipc__dec_commit(d, k);
            h->pos += k;
            at += k;
            n -= k;
            if (k == need_before) {
                CHECK(rc == IPC__DEC_FRAME);
                check_memory(h);
                take_frame(h);
            } else {
                CHECK(rc == IPC__DEC_MORE);
                check_memory(h);
            }
            continue;
        }

        size_t used = (size_t)-1;
        int rc = ipc__dec_feed(d, h->s + at, n, &used);
        CHECK(used <= n);
        h->pos += used;
        at += used;
        n -= used;
        switch (rc) {
        case IPC__DEC_NEED_BUF:
            CHECK(h->lazy);
            CHECK(d->state == IPC__DEC_PAYLOAD && d->ext == NULL);
            check_memory(h);
            break;
        case IPC__DEC_MORE:
            CHECK(n == 0);
            CHECK(d->state != IPC__DEC_READY && d->state != IPC__DEC_BROKEN);
            check_memory(h);
            break;
        case IPC__DEC_FRAME:
            check_memory(h);
            if (h->lazy && d->ext == NULL) {
                CHECK(d->need == 0); /* only an empty one needs no bytes */
                attach(h);
            }
            take_frame(h);
            break;
        case IPC_ETOOBIG: {
            const struct event *ev = expect(h, EV_TOOBIG);
            CHECK(d->state == IPC__DEC_SKIP);
            CHECK(d->need == ev->len);
            CHECK(d->need > d->max);
            CHECK(!ipc__dec_at_boundary(d));
            check_memory(h);
            break;
        }
        case IPC_EPROTO:
            expect(h, EV_PROTO);
            CHECK(d->state == IPC__DEC_BROKEN);
            CHECK(!ipc__dec_at_boundary(d));
            check_memory(h);
            h->broken = 1;
            break;
        default:
            /* IPC_ENOMEM cannot happen for these sizes; anything else is
             * not in the contract. */
            CHECK(0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pre[4] = {0, 0, 0, 0};
    size_t pre_len = size < 4 ? size : 4;
    memcpy(pre, data, pre_len);
    const uint8_t *s = data + pre_len;
    size_t n = size - pre_len;

    static const size_t grows[4] = {1, 7, 64, 4096};
    size_t max;
    switch (pre[0] & 3) {
    case 0:
        max = IPC_MAX_MESSAGE;
        break;
    case 1:
        max = pre[1];
        break;
    case 2:
        max = (size_t)pre[1] << 8 | pre[2];
        break;
    default:
        max = 0;
        break;
    }
    int window_mode = (pre[0] >> 4) & 3;
    int chunk_mode = (pre[0] >> 6) & 3;
    /* Lazy mode allocates what a header announces, as ipc_recv_alloc's
     * callers do; its users bound that with ipc_set_max_message(), and so
     * does the harness, to stay within libFuzzer's memory limit. */
    if (window_mode == 3 && max > LAZY_MAX) {
        max = LAZY_MAX;
    }

    struct reference ref;
    reference_decode(s, n, max, &ref);

    struct harness h;
    memset(&h, 0, sizeof(h));
    ipc__dec_init(&h.d);
    CHECK(ipc__dec_at_boundary(&h.d));
    CHECK(ipc__dec_held(&h.d) == 0);
    h.d.max = max;
    h.d.grow = grows[(pre[0] >> 2) & 3];
    h.s = s;
    h.ref = &ref;
    h.lazy = window_mode == 3;
    h.d.lazy = h.lazy;

    struct rng r = {0x9e3779b9u ^ ((uint32_t)pre[3] * 0x01000193u)};
    size_t at = 0;
    while (at < n) {
        size_t k = chunk_size(&r, chunk_mode, n - at);
        give(&h, at, k, &r, window_mode);
        at += k;
    }
    /* Feeding nothing changes nothing. */
    if (!h.broken && h.d.state != IPC__DEC_READY) {
        size_t used = 1;
        enum ipc__dec_state st = h.d.state;
        CHECK(ipc__dec_feed(&h.d, s, 0, &used) == IPC__DEC_MORE);
        CHECK(used == 0);
        CHECK(h.d.state == st);
    }
    if (h.broken) {
        size_t used = 1;
        CHECK(ipc__dec_feed(&h.d, s, 0, &used) == IPC_EPROTO);
        CHECK(used == 0);
    }

    /* Every event the reference saw was reported, in order, and nothing
     * else; the decoder ends between frames exactly when the reference
     * does. */
    int partial = ref.n_ev > 0 && ref.ev[ref.n_ev - 1].kind == EV_PARTIAL;
    CHECK(h.next_ev == ref.n_ev - (size_t)partial);
    CHECK(ipc__dec_at_boundary(&h.d) == ref.at_boundary);
    CHECK(h.broken == (ref.n_ev > 0 && ref.ev[ref.n_ev - 1].kind == EV_PROTO));

    if (h.ext != NULL) {
        detach(&h);
    }
    ipc__dec_free(&h.d);
    CHECK(ipc__dec_held(&h.d) == 0);
    free(ref.ev);
    return 0;
}
