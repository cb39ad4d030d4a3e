/*
 * fuzz_decoder.c - libFuzzer target for the frame decoder (libipc/src/
 * frame.c), driven through exactly the calls pipe.c's receive loop makes:
 * ipc__dec_next() and ipc__dec_leave(), so the read buffer and its whole-frame
 * fast path are fuzzed with the state machine behind them.
 *
 * The input is a 4-byte prelude followed by the byte stream:
 *
 *   prelude[0]  bits 0-1  max message: 0 default (IPC_MAX_MESSAGE),
 *                         1 prelude[1], 2 prelude[1..2] big-endian, 3 zero
 *               bits 2-3  grow step: 1, 7, 64 or 4096 bytes
 *               bits 4-5  receive calls: 0 all as ipc_recv (the decoder's
 *                         own buffer), 1 all as ipc_recv_alloc (the
 *                         caller's buffer of exactly the payload's size),
 *                         2 either, chosen per call, 3 as 2, and the
 *                         allocator sometimes returns NULL
 *               bits 6-7  bytes per "read": 0 one, 1 up to 16, 2 up to
 *                         4 KiB, 3 all the room the decoder offers
 *   prelude[1..2] the max for modes 1 and 2
 *   prelude[3]  seed of the generator behind every random choice
 *
 * The harness plays the socket: each time the decoder asks for more bytes
 * it copies the next chunk of the stream into the space it was given, and
 * now and then it ends a call before a message is complete (a timeout),
 * as pipe.c does, with ipc__dec_leave(). Every message and error the
 * decoder reports is compared with what a trivially correct all-at-once
 * reference decoder says about the same bytes; any difference abort()s.
 * Also checked after every call:
 *   - memory held for payloads (ipc__dec_held) never exceeds the payload
 *     bytes decoded so far for the current frame plus grow + 1, nor the
 *     frame's size + 1, and a space straight into a payload stays within
 *     grow of what has arrived (the caller's buffer being the caller's);
 *   - the allocator is asked for exactly the payload's length, once per
 *     attempt, and never for a message over the max; only before a
 *     payload's first byte or once it is complete, never while the decoder
 *     holds part of it (that would copy the part again on every call: a
 *     loop of short timeouts turned quadratic);
 *   - a call ended mid-message keeps every byte, the caller's buffer being
 *     scribbled on and freed at once;
 *   - at the end, ipc__dec_at_boundary() is true exactly when the reference
 *     ended between frames;
 *   - once broken (IPC_EPROTO), the decoder stays broken.
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

/* The largest message when a caller's buffer is used (see
 * LLVMFuzzerTestOneInput). */
#define ALLOC_MAX ((size_t)16 << 20)

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
    ipc__decoder *d;
    const uint8_t *s; /* the stream */
    size_t n;
    const struct reference *ref;
    size_t next_ev; /* next reference event expected */
    size_t at;      /* stream bytes handed to the decoder */
    int broken;
    struct rng r;
    int fail_alloc; /* the allocator may return NULL */
    char *ext;      /* the caller's buffer: exactly the payload's size */
    size_t ext_len;
};

static struct ipc__dec_info info(const struct harness *h)
{
    struct ipc__dec_info i;
    ipc__dec_inspect(h->d, &i);
    return i;
}

/* Payload bytes of the frame being collected that the decoder has taken
 * from its read buffer, by the reference's reckoning (0 between frames). */
static size_t frame_fed(const struct harness *h)
{
    struct ipc__dec_info i = info(h);
    if (i.state != IPC__DEC_PAYLOAD && i.state != IPC__DEC_READY) {
        return 0;
    }
    CHECK(h->next_ev < h->ref->n_ev);
    const struct event *ev = &h->ref->ev[h->next_ev];
    CHECK(ev->kind == EV_FRAME || ev->kind == EV_PARTIAL);
    size_t decoded = h->at - i.buffered;
    CHECK(decoded >= ev->off);
    return decoded - ev->off;
}

static void check_memory(const struct harness *h)
{
    struct ipc__dec_info i = info(h);
    size_t held = ipc__dec_held(h->d);
    size_t fed = frame_fed(h);
    CHECK(i.buffered <= h->at);
    /* Never more than what has arrived plus one growth step and the NUL. */
    CHECK(held <= fed + i.grow + 1);
    if (i.state == IPC__DEC_PAYLOAD || i.state == IPC__DEC_READY) {
        /* ... nor more than the frame itself needs. */
        CHECK(held <= i.need + 1);
        CHECK(i.have == fed);
        CHECK(i.have <= i.need);
        CHECK(i.ext == NULL || i.ext == h->ext);
    }
    if (i.state == IPC__DEC_PAYLOAD) {
        CHECK(ipc__dec_remaining(h->d) == i.need - i.have);
        CHECK(!ipc__dec_at_boundary(h->d));
    } else {
        CHECK(ipc__dec_remaining(h->d) == 0);
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

/* The allocator of ipc_recv_alloc's callers: exactly `len` bytes (1 for
 * 0), so AddressSanitizer catches a byte written past the payload. */
static void *alloc_ext(void *ctx, size_t len)
{
    struct harness *h = ctx;
    CHECK(h->ext == NULL); /* once per attempt */
    struct ipc__dec_info i = info(h);
    CHECK(len <= i.max);
    CHECK(i.have == 0 || i.state == IPC__DEC_READY);
    if (h->fail_alloc && rng_next(&h->r) % 4 == 0) {
        return NULL;
    }
    h->ext = malloc(len ? len : 1);
    CHECK(h->ext != NULL);
    h->ext_len = len;
    return h->ext;
}

/* The caller takes its buffer back after a call (scribbled on, so that a
 * decoder that read it again would be caught). */
static void drop_ext(struct harness *h)
{
    if (h->ext != NULL) {
        /* The bytes written so far: the ones a careless decoder would
         * read again. */
        size_t have = info(h).have;
        memset(h->ext, 0xEE, have < h->ext_len ? have : h->ext_len);
        free(h->ext);
        h->ext = NULL;
    }
}

static void got_frame(struct harness *h, int with_alloc, void *data, size_t len)
{
    const struct event *ev = expect(h, EV_FRAME);
    CHECK(len == ev->len);
    CHECK(data != NULL);
    CHECK(memcmp(data, h->s + ev->off, len) == 0);
    if (with_alloc) {
        CHECK(data == h->ext && h->ext_len == len);
        free(h->ext);
        h->ext = NULL;
    } else {
        CHECK(((char *)data)[len] == '\0');
        free(data);
    }
    CHECK(ipc__dec_held(h->d) == 0);
}

/*
 * One receive call, as pipe.c makes it: next, and while it says MORE,
 * read into the space given. Returns 0 when the stream is used up (an
 * "end of stream" with the call still waiting), 1 otherwise.
 */
static int one_call(struct harness *h, int with_alloc, int chunk_mode)
{
    struct ipc__dec_io io = {.alloc = with_alloc ? alloc_ext : NULL, .ctx = h};
    for (;;) {
        int rc = ipc__dec_next(h->d, &io);
        CHECK(io.got == 0);
        if (rc == IPC__DEC_FRAME) {
            check_memory(h);
            got_frame(h, with_alloc, io.data, io.len);
            check_memory(h);
            return 1;
        }
        if (rc != IPC__DEC_MORE) {
            struct ipc__dec_info i = info(h);
            if (rc == IPC_ETOOBIG) {
                const struct event *ev = expect(h, EV_TOOBIG);
                CHECK(i.state == IPC__DEC_SKIP);
                CHECK(i.need == ev->len && i.need > i.max);
                CHECK(!ipc__dec_at_boundary(h->d));
            } else if (rc == IPC_EPROTO) {
                expect(h, EV_PROTO);
                CHECK(i.state == IPC__DEC_BROKEN);
                h->broken = 1;
            } else {
                /* Only a NULL from the allocator; nothing is lost. */
                CHECK(rc == IPC_ENOMEM && with_alloc && h->fail_alloc);
                CHECK(h->ext == NULL);
            }
            if (with_alloc) {
                CHECK(ipc__dec_leave(h->d, !h->broken) == 0);
                drop_ext(h);
            }
            check_memory(h);
            return 1;
        }
        check_memory(h);
        CHECK(io.room > 0 && io.where != NULL);
        struct ipc__dec_info i = info(h);
        CHECK(i.buffered == 0); /* MORE only once the buffer is decoded */
        if (i.state == IPC__DEC_PAYLOAD) {
            /* Straight into the payload or through the read buffer; never
             * more than grow beyond what has arrived. */
            CHECK(ipc__dec_held(h->d) <= frame_fed(h) + i.grow + 1);
        }
        /* Now and then the call ends here (a timeout), as pipe.c's does. */
        if (h->at == h->n || rng_next(&h->r) % 16 == 0) {
            if (with_alloc) {
                CHECK(ipc__dec_leave(h->d, 1) == 0);
                drop_ext(h);
                check_memory(h);
            }
            return h->at < h->n;
        }
        size_t k = chunk_size(&h->r, chunk_mode, h->n - h->at);
        if (k > io.room) {
            k = io.room;
        }
        memcpy(io.where, h->s + h->at, k);
        io.got = k;
        h->at += k;
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
    int call_mode = (pre[0] >> 4) & 3;
    int chunk_mode = (pre[0] >> 6) & 3;
    /* A caller's buffer is allocated at the size a header announces, as
     * ipc_recv_alloc's callers do; its users bound that with
     * ipc_set_max_message(), and so does the harness, to stay within
     * libFuzzer's memory limit. */
    if (call_mode != 0 && max > ALLOC_MAX) {
        max = ALLOC_MAX;
    }

    struct reference ref;
    reference_decode(s, n, max, &ref);

    struct harness h;
    memset(&h, 0, sizeof(h));
    h.d = ipc__dec_new();
    CHECK(h.d != NULL);
    CHECK(ipc__dec_at_boundary(h.d));
    CHECK(ipc__dec_held(h.d) == 0);
    ipc__dec_set_max(h.d, max);
    ipc__dec_set_grow(h.d, grows[(pre[0] >> 2) & 3]);
    h.s = s;
    h.n = n;
    h.ref = &ref;
    h.fail_alloc = call_mode == 3;
    h.r.s = 0x9e3779b9u ^ ((uint32_t)pre[3] * 0x01000193u);

    /* Calls until the stream is used up; a bounded count, since a call
     * that ends early consumes nothing. */
    size_t calls = 0;
    while (!h.broken && calls++ < 4 * n + 64) {
        int with_alloc =
            call_mode == 1 || (call_mode >= 2 && (rng_next(&h.r) & 1));
        if (!one_call(&h, with_alloc, chunk_mode) && h.at == n) {
            break;
        }
    }
    /* Drain: calls that get no more bytes hand over what is buffered. */
    while (!h.broken && info(&h).buffered > 0 && calls++ < 8 * n + 128) {
        one_call(&h, 0, chunk_mode);
    }
    if (h.broken) {
        struct ipc__dec_io io = {.alloc = NULL};
        CHECK(ipc__dec_next(h.d, &io) == IPC_EPROTO);
    }

    /* Every event the reference saw was reported, in order, and nothing
     * else; the decoder ends between frames exactly when the reference
     * does. */
    if (h.at == n && (h.broken || info(&h).buffered == 0)) {
        int partial = ref.n_ev > 0 && ref.ev[ref.n_ev - 1].kind == EV_PARTIAL;
        CHECK(h.next_ev == ref.n_ev - (size_t)partial);
        CHECK(ipc__dec_at_boundary(h.d) == ref.at_boundary);
        CHECK(h.broken ==
              (ref.n_ev > 0 && ref.ev[ref.n_ev - 1].kind == EV_PROTO));
    }
    drop_ext(&h);
    ipc__dec_free(h.d);
    free(ref.ev);
    return 0;
}
