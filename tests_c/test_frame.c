/*
 * test_frame.c - the frame codec without I/O (frame.h): header encoding,
 * decoding in every chunking, hostile headers, the size limit, the
 * zero-copy window, and memory held for bytes that have not arrived.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* The decoder's state is private to frame.c: look through its window. */
static struct ipc__dec_info dec_info(const ipc__decoder *d)
{
    struct ipc__dec_info i;
    ipc__dec_inspect(d, &i);
    return i;
}

static enum ipc__dec_state dec_state(const ipc__decoder *d)
{
    return dec_info(d).state;
}

/* A stream of frames built in memory. */
typedef struct stream {
    unsigned char *buf;
    size_t len;
} stream;

static void stream_add(stream *s, const void *payload, size_t n)
{
    s->buf = realloc(s->buf, s->len + 4 + n);
    assert_non_null(s->buf);
    ipc__frame_header(s->buf + s->len, n);
    if (n)
        memcpy(s->buf + s->len + 4, payload, n);
    s->len += 4 + n;
}

static void stream_add_raw(stream *s, const void *bytes, size_t n)
{
    s->buf = realloc(s->buf, s->len + n);
    assert_non_null(s->buf);
    memcpy(s->buf + s->len, bytes, n);
    s->len += n;
}

static void stream_free(stream *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = 0;
}

/* Take the ready message and compare it with want/wn. */
static void take_expect(ipc__decoder *d, const void *want, size_t wn)
{
    void *data = NULL;
    size_t n = 12345;
    assert_int_equal(dec_state(d), IPC__DEC_READY);
    assert_ok(ipc__dec_take(d, &data, &n));
    assert_non_null(data);
    assert_int_equal(n, wn);
    if (wn)
        assert_memory_equal(data, want, wn);
    assert_int_equal(((char *)data)[wn], '\0');
    free(data);
    assert_int_equal(dec_state(d), IPC__DEC_HEADER);
    assert_true(ipc__dec_at_boundary(d));
}

/* Feed `len` bytes, taking each completed message and comparing it to the
 * next of msgs[]; returns how many messages came out. */
static size_t feed_all(ipc__decoder *d, const unsigned char *bytes, size_t len,
                       const char *const *msgs, const size_t *lens,
                       size_t *next)
{
    size_t out = 0;
    while (len > 0) {
        size_t used = 0;
        int r = ipc__dec_feed(d, bytes, len, &used);
        assert_true(used <= len);
        bytes += used;
        len -= used;
        if (r == IPC__DEC_FRAME) {
            take_expect(d, msgs[*next], lens[*next]);
            ++*next;
            out++;
        } else {
            assert_int_equal(r, IPC__DEC_MORE);
            assert_int_equal(len, 0);
        }
    }
    return out;
}

/* ---------------------------------------------------------------------- */

static void header_is_big_endian(void **state)
{
    (void)state;
    struct {
        size_t len;
        unsigned char hdr[4];
    } cases[] = {
        {0, {0, 0, 0, 0}},
        {1, {0, 0, 0, 1}},
        {255, {0, 0, 0, 0xff}},
        {256, {0, 0, 1, 0}},
        {0x01020304, {1, 2, 3, 4}},
        {0x00fffffe, {0, 0xff, 0xff, 0xfe}},
        {0x7fffffff, {0x7f, 0xff, 0xff, 0xff}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char out[4] = {0xaa, 0xaa, 0xaa, 0xaa};
        ipc__frame_header(out, cases[i].len);
        assert_memory_equal(out, cases[i].hdr, 4);
    }
}

static void fresh_decoder(void **state)
{
    (void)state;
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    assert_int_equal(dec_state(d), IPC__DEC_HEADER);
    assert_true(ipc__dec_at_boundary(d));
    assert_int_equal(ipc__dec_remaining(d), 0);
    assert_int_equal(ipc__dec_held(d), 0);
    assert_int_equal(dec_info(d).max, IPC_MAX_MESSAGE);
    assert_int_equal(dec_info(d).grow, IPC__DEC_GROW);
    ipc__dec_free(d);
    /* Feeding nothing is fine. */
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 99;
    assert_int_equal(ipc__dec_feed(d, "", 0, &used), IPC__DEC_MORE);
    assert_int_equal(used, 0);
    ipc__dec_free(d);
}

static void one_frame_all_at_once(void **state)
{
    (void)state;
    stream s = {0};
    stream_add(&s, "hello", 5);
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_int_equal(ipc__dec_feed(d, s.buf, s.len, &used), IPC__DEC_FRAME);
    assert_int_equal(used, 9);
    take_expect(d, "hello", 5);
    ipc__dec_free(d);
    stream_free(&s);
}

static void one_frame_one_byte_at_a_time(void **state)
{
    (void)state;
    const char msg[] = "byte by byte";
    stream s = {0};
    stream_add(&s, msg, strlen(msg));
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    for (size_t i = 0; i < s.len; i++) {
        size_t used = 0;
        int r = ipc__dec_feed(d, s.buf + i, 1, &used);
        assert_int_equal(used, 1);
        if (i + 1 < s.len) {
            assert_int_equal(r, IPC__DEC_MORE);
            assert_false(ipc__dec_at_boundary(d));
        } else {
            assert_int_equal(r, IPC__DEC_FRAME);
        }
    }
    take_expect(d, msg, strlen(msg));
    ipc__dec_free(d);
    stream_free(&s);
}

/* Every way of cutting a frame in two, and in three. */
static void one_frame_every_split(void **state)
{
    (void)state;
    const char msg[] = "split me anywhere";
    size_t ml = strlen(msg);
    stream s = {0};
    stream_add(&s, msg, ml);
    const char *msgs[] = {msg};
    size_t lens[] = {ml};
    for (size_t a = 0; a <= s.len; a++) {
        for (size_t b = a; b <= s.len; b++) {
            ipc__decoder *d;
            d = ipc__dec_new();
            assert_non_null(d);
            size_t next = 0, got = 0;
            got += feed_all(d, s.buf, a, msgs, lens, &next);
            got += feed_all(d, s.buf + a, b - a, msgs, lens, &next);
            got += feed_all(d, s.buf + b, s.len - b, msgs, lens, &next);
            assert_int_equal(got, 1);
            assert_true(ipc__dec_at_boundary(d));
            ipc__dec_free(d);
        }
    }
    stream_free(&s);
}

static void many_frames_in_one_feed(void **state)
{
    (void)state;
    const char *msgs[] = {
        "one", "", "three", "", "", "a longer fifth message", "\0\x01\x02"};
    size_t lens[] = {3, 0, 5, 0, 0, 22, 3};
    size_t count = sizeof lens / sizeof lens[0];
    stream s = {0};
    for (size_t i = 0; i < count; i++)
        stream_add(&s, msgs[i], lens[i]);

    /* All at once: each feed stops at the end of a frame. */
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t next = 0;
    assert_int_equal(feed_all(d, s.buf, s.len, msgs, lens, &next), count);
    ipc__dec_free(d);

    /* In every fixed chunk size. */
    for (size_t chunk = 1; chunk <= s.len; chunk++) {
        d = ipc__dec_new();
        assert_non_null(d);
        next = 0;
        size_t got = 0;
        for (size_t off = 0; off < s.len; off += chunk) {
            size_t n = s.len - off < chunk ? s.len - off : chunk;
            got += feed_all(d, s.buf + off, n, msgs, lens, &next);
        }
        assert_int_equal(got, count);
        ipc__dec_free(d);
    }
    stream_free(&s);
}

/* While a message waits to be taken, feeding consumes nothing. */
static void feed_while_ready_consumes_nothing(void **state)
{
    (void)state;
    stream s = {0};
    stream_add(&s, "a", 1);
    stream_add(&s, "b", 1);
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_int_equal(ipc__dec_feed(d, s.buf, s.len, &used), IPC__DEC_FRAME);
    assert_int_equal(used, 5);
    size_t used2 = 99;
    ipc__dec_feed(d, s.buf + used, s.len - used, &used2);
    assert_int_equal(used2, 0);
    take_expect(d, "a", 1);
    assert_int_equal(ipc__dec_feed(d, s.buf + used, s.len - used, &used2),
                     IPC__DEC_FRAME);
    assert_int_equal(used2, 5);
    take_expect(d, "b", 1);
    ipc__dec_free(d);
    stream_free(&s);
}

static void empty_frame(void **state)
{
    (void)state;
    const unsigned char hdr[4] = {0, 0, 0, 0};
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_int_equal(ipc__dec_feed(d, hdr, 3, &used), IPC__DEC_MORE);
    assert_int_equal(used, 3);
    assert_false(ipc__dec_at_boundary(d));
    assert_int_equal(ipc__dec_feed(d, hdr + 3, 1, &used), IPC__DEC_FRAME);
    assert_int_equal(used, 1);
    take_expect(d, "", 0);
    ipc__dec_free(d);
}

static void negative_length_breaks(const unsigned char hdr[4])
{
    /* All at once. */
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_status(ipc__dec_feed(d, hdr, 4, &used), IPC_EPROTO);
    assert_int_equal(dec_state(d), IPC__DEC_BROKEN);
    assert_int_equal(ipc__dec_held(d), 0);
    /* Broken for good, even when fed a valid frame. */
    const unsigned char ok[5] = {0, 0, 0, 1, 'x'};
    assert_status(ipc__dec_feed(d, ok, sizeof ok, &used), IPC_EPROTO);
    assert_int_equal(dec_state(d), IPC__DEC_BROKEN);
    ipc__dec_free(d);

    /* A byte at a time: the fourth byte decides. */
    d = ipc__dec_new();
    assert_non_null(d);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ipc__dec_feed(d, hdr + i, 1, &used), IPC__DEC_MORE);
        assert_int_equal(used, 1);
    }
    assert_status(ipc__dec_feed(d, hdr + 3, 1, &used), IPC_EPROTO);
    assert_int_equal(dec_state(d), IPC__DEC_BROKEN);
    ipc__dec_free(d);

    /* After a good frame, in the same feed. */
    stream s = {0};
    stream_add(&s, "good", 4);
    stream_add_raw(&s, hdr, 4);
    stream_add_raw(&s, "junk", 4);
    d = ipc__dec_new();
    assert_non_null(d);
    assert_int_equal(ipc__dec_feed(d, s.buf, s.len, &used), IPC__DEC_FRAME);
    assert_int_equal(used, 8);
    take_expect(d, "good", 4);
    assert_status(ipc__dec_feed(d, s.buf + 8, s.len - 8, &used), IPC_EPROTO);
    assert_int_equal(dec_state(d), IPC__DEC_BROKEN);
    ipc__dec_free(d);
    stream_free(&s);
}

static void header_0x80000000_is_protocol_error(void **state)
{
    (void)state;
    const unsigned char hdr[4] = {0x80, 0, 0, 0};
    negative_length_breaks(hdr);
}

static void header_0xffffffff_is_protocol_error(void **state)
{
    (void)state;
    const unsigned char hdr[4] = {0xff, 0xff, 0xff, 0xff};
    negative_length_breaks(hdr);
}

/* A header announcing 2 GiB followed by a few bytes holds about those bytes
 * and one growth step, never 2 GiB. */
static void huge_header_holds_little(void **state)
{
    (void)state;
    const unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};
    const char tail[10] = "0123456789";
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_int_equal(ipc__dec_feed(d, hdr, 4, &used), IPC__DEC_MORE);
    assert_int_equal(used, 4);
    assert_int_equal(dec_state(d), IPC__DEC_PAYLOAD);
    assert_int_equal(ipc__dec_remaining(d), 0x7fffffffu);
    assert_true(ipc__dec_held(d) <= dec_info(d).grow + 1);
    assert_int_equal(ipc__dec_feed(d, tail, sizeof tail, &used), IPC__DEC_MORE);
    assert_int_equal(used, sizeof tail);
    assert_int_equal(ipc__dec_remaining(d), 0x7fffffffu - sizeof tail);
    assert_true(ipc__dec_held(d) <= sizeof tail + dec_info(d).grow + 1);
    assert_true(ipc__dec_held(d) < 4u * 1024 * 1024);
    assert_false(ipc__dec_at_boundary(d));
    ipc__dec_free(d);

    /* With a small growth step the bound is tight. */
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_grow(d, 16);
    assert_int_equal(ipc__dec_feed(d, hdr, 4, &used), IPC__DEC_MORE);
    assert_int_equal(ipc__dec_feed(d, tail, sizeof tail, &used), IPC__DEC_MORE);
    assert_true(ipc__dec_held(d) <= sizeof tail + 16 + 1);
    ipc__dec_free(d);
}

/* While a large payload streams in, the buffer stays within grow of what
 * has arrived, and the message comes out intact. */
static void large_payload_grows_with_data(void **state)
{
    (void)state;
    const size_t n = 100000;
    unsigned char *payload = tu_pattern(n, 7);
    stream s = {0};
    stream_add(&s, payload, n);
    const char *msgs[] = {(const char *)payload};
    size_t lens[] = {n};

    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_grow(d, 64);
    size_t next = 0, got = 0, have = 0;
    for (size_t off = 0; off < s.len; off += 97) {
        size_t k = s.len - off < 97 ? s.len - off : 97;
        got += feed_all(d, s.buf + off, k, msgs, lens, &next);
        have = off + k > 4 ? off + k - 4 : 0;
        if (got == 0)
            assert_true(ipc__dec_held(d) <= have + 64 + 1);
    }
    assert_int_equal(got, 1);
    ipc__dec_free(d);
    stream_free(&s);
    free(payload);
}

/* A message longer than max: IPC_ETOOBIG once (used counts the header),
 * its payload is skipped without being held, the next frame decodes. */
static void too_big_is_skipped(void **state)
{
    (void)state;
    unsigned char *big = tu_pattern(1000, 3);
    stream s = {0};
    stream_add(&s, "12345", 5); /* exactly max: fine */
    stream_add(&s, big, 1000);  /* too big */
    stream_add(&s, "after", 5);
    stream_add(&s, "123456", 6); /* too big */
    stream_add(&s, "", 0);

    /* All at once. */
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_max(d, 5);
    size_t off = 0, used = 0;
    assert_int_equal(ipc__dec_feed(d, s.buf, s.len, &used), IPC__DEC_FRAME);
    off += used;
    take_expect(d, "12345", 5);
    assert_status(ipc__dec_feed(d, s.buf + off, s.len - off, &used),
                  IPC_ETOOBIG);
    assert_int_equal(used, 4);
    off += used;
    assert_int_equal(dec_state(d), IPC__DEC_SKIP);
    assert_false(ipc__dec_at_boundary(d));
    assert_int_equal(ipc__dec_feed(d, s.buf + off, s.len - off, &used),
                     IPC__DEC_FRAME);
    assert_int_equal(used, 1000 + 9);
    off += used;
    take_expect(d, "after", 5);
    assert_status(ipc__dec_feed(d, s.buf + off, s.len - off, &used),
                  IPC_ETOOBIG);
    assert_int_equal(used, 4);
    off += used;
    assert_int_equal(ipc__dec_feed(d, s.buf + off, s.len - off, &used),
                     IPC__DEC_FRAME);
    off += used;
    take_expect(d, "", 0);
    assert_int_equal(off, s.len);
    ipc__dec_free(d);

    /* A byte at a time: nothing is held while skipping. */
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_max(d, 5);
    int frames = 0, toobig = 0;
    const char *want[] = {"12345", "after", ""};
    size_t wl[] = {5, 5, 0};
    for (size_t i = 0; i < s.len; i++) {
        int r = ipc__dec_feed(d, s.buf + i, 1, &used);
        assert_int_equal(used, 1);
        if (r == IPC__DEC_FRAME) {
            take_expect(d, want[frames], wl[frames]);
            frames++;
        } else if (r == IPC_ETOOBIG) {
            toobig++;
        } else {
            assert_int_equal(r, IPC__DEC_MORE);
        }
        if (dec_state(d) == IPC__DEC_SKIP)
            assert_int_equal(ipc__dec_held(d), 0);
    }
    assert_int_equal(frames, 3);
    assert_int_equal(toobig, 2);
    ipc__dec_free(d);

    /* The 2 GiB header under a lower max: refused, nothing allocated. */
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_max(d, 1024);
    const unsigned char huge[8] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    assert_status(ipc__dec_feed(d, huge, 8, &used), IPC_ETOOBIG);
    assert_int_equal(used, 4);
    assert_int_equal(ipc__dec_feed(d, huge + 4, 4, &used), IPC__DEC_MORE);
    assert_int_equal(used, 4);
    assert_int_equal(ipc__dec_held(d), 0);
    ipc__dec_free(d);

    /* max 0: only empty messages. */
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_max(d, 0);
    stream t = {0};
    stream_add(&t, "", 0);
    stream_add(&t, "x", 1);
    stream_add(&t, "", 0);
    off = 0;
    assert_int_equal(ipc__dec_feed(d, t.buf, t.len, &used), IPC__DEC_FRAME);
    off += used;
    take_expect(d, "", 0);
    assert_status(ipc__dec_feed(d, t.buf + off, t.len - off, &used),
                  IPC_ETOOBIG);
    off += used;
    assert_int_equal(ipc__dec_feed(d, t.buf + off, t.len - off, &used),
                     IPC__DEC_FRAME);
    take_expect(d, "", 0);
    ipc__dec_free(d);
    stream_free(&t);

    stream_free(&s);
    free(big);
}

/* The zero-copy path: bytes written straight into the window, fewer than
 * offered, mixed with feed; the message comes out intact. */
static void window_and_commit(void **state)
{
    (void)state;
    const size_t n = 5000;
    unsigned char *payload = tu_pattern(n, 11);
    unsigned char hdr[4];
    ipc__frame_header(hdr, n);

    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used = 0;
    assert_int_equal(ipc__dec_feed(d, hdr, 4, &used), IPC__DEC_MORE);
    assert_int_equal(dec_state(d), IPC__DEC_PAYLOAD);
    /* Some bytes through feed first... */
    assert_int_equal(ipc__dec_feed(d, payload, 10, &used), IPC__DEC_MORE);
    size_t have = 10;
    size_t step = 1;
    /* ...then through windows, writing fewer bytes than offered... */
    while (have < n / 2) {
        void *where = NULL;
        long room = ipc__dec_window(d, &where, 64);
        assert_true(room > 0);
        assert_non_null(where);
        assert_true((size_t)room <= n - have); /* never past the frame */
        size_t k = step < (size_t)room ? step : (size_t)room;
        memcpy(where, payload + have, k);
        assert_int_equal(ipc__dec_commit(d, k), IPC__DEC_MORE);
        have += k;
        assert_int_equal(ipc__dec_remaining(d), n - have);
        assert_false(ipc__dec_at_boundary(d));
        step = step % 37 + 1;
    }
    /* ...then feed again, then windows filled whole to the end. */
    assert_int_equal(ipc__dec_feed(d, payload + have, 100, &used),
                     IPC__DEC_MORE);
    assert_int_equal(used, 100);
    have += 100;
    int r = IPC__DEC_MORE;
    while (r == IPC__DEC_MORE) {
        void *where = NULL;
        long room = ipc__dec_window(d, &where, 1000);
        assert_true(room > 0 && (size_t)room <= n - have);
        memcpy(where, payload + have, (size_t)room);
        r = ipc__dec_commit(d, (size_t)room);
        have += (size_t)room;
    }
    assert_int_equal(r, IPC__DEC_FRAME);
    assert_int_equal(have, n);
    take_expect(d, payload, n);
    ipc__dec_free(d);
    free(payload);
}

/* frame.h: the window "makes room for up to `want` more bytes". */
static void window_room_at_most_want(void **state)
{
    (void)state;
    unsigned char hdr[4];
    ipc__frame_header(hdr, 1000);
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used;
    assert_int_equal(ipc__dec_feed(d, hdr, 4, &used), IPC__DEC_MORE);
    void *where = NULL;
    long room = ipc__dec_window(d, &where, 5);
    ipc__dec_free(d);
    if (room <= 0 || room > 5)
        fail_msg("window(want=5) on a fresh 1000-byte frame: room %ld "
                 "(frame.h: \"room for up to want more bytes\")",
                 room);
}

/* frame.h: the window is "never ... more than `grow` beyond what has
 * arrived", and the buffer "holds at most the bytes received so far plus
 * grow (plus one NUL)" -- whatever the caller asks for. */
static void window_room_at_most_grow_ahead(void **state)
{
    (void)state;
    unsigned char hdr[4];
    ipc__frame_header(hdr, 100000);
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_grow(d, 64);
    size_t used, have = 0;
    assert_int_equal(ipc__dec_feed(d, hdr, 4, &used), IPC__DEC_MORE);
    unsigned char junk[64] = {0};
    for (int i = 0; i < 5; i++) {
        void *where = NULL;
        long room = ipc__dec_window(d, &where, 100000);
        size_t held = ipc__dec_held(d);
        if (room <= 0 || room > 64 || held > have + 64 + 1) {
            ipc__dec_free(d);
            fail_msg("window(want=100000) with grow=64 after %zu bytes: "
                     "room %ld (must be 1..64), held %zu (must be <= %zu)",
                     have, room, held, have + 65);
        }
        memcpy(where, junk, (size_t)room);
        assert_int_equal(ipc__dec_commit(d, (size_t)room), IPC__DEC_MORE);
        have += (size_t)room;
    }
    ipc__dec_free(d);
}

/* at_boundary is true exactly when no byte of an unfinished frame is held:
 * at every byte offset of a stream of frames. */
static void at_boundary_at_every_offset(void **state)
{
    (void)state;
    const char *msgs[] = {"abc", "", "hello world"};
    size_t lens[] = {3, 0, 11};
    stream s = {0};
    size_t ends[3], e = 0;
    for (size_t i = 0; i < 3; i++) {
        stream_add(&s, msgs[i], lens[i]);
        ends[i] = s.len;
    }
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    assert_true(ipc__dec_at_boundary(d));
    for (size_t i = 0; i < s.len; i++) {
        size_t used = 0;
        int r = ipc__dec_feed(d, s.buf + i, 1, &used);
        assert_int_equal(used, 1);
        if (i + 1 == ends[e]) {
            assert_int_equal(r, IPC__DEC_FRAME);
            take_expect(d, msgs[e], lens[e]);
            e++;
            assert_true(ipc__dec_at_boundary(d));
        } else {
            assert_int_equal(r, IPC__DEC_MORE);
            if (ipc__dec_at_boundary(d))
                fail_msg("at_boundary true at offset %zu (mid-frame)", i + 1);
        }
    }
    assert_int_equal(e, 3);
    ipc__dec_free(d);
    stream_free(&s);
}

/* Freeing a decoder in the middle of a payload releases its buffer
 * (the sanitizer build checks for leaks). */
static void free_mid_frame(void **state)
{
    (void)state;
    unsigned char *p = tu_pattern(5000, 1);
    stream s = {0};
    stream_add(&s, p, 5000);
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    size_t used;
    assert_int_equal(ipc__dec_feed(d, s.buf, 3000, &used), IPC__DEC_MORE);
    assert_true(ipc__dec_held(d) > 0);
    ipc__dec_free(d);
    /* And with a message ready but not taken. */
    d = ipc__dec_new();
    assert_non_null(d);
    assert_int_equal(ipc__dec_feed(d, s.buf, s.len, &used), IPC__DEC_FRAME);
    ipc__dec_free(d);
    stream_free(&s);
    free(p);
}

/* Many frames of random sizes in random chunks decode to the same
 * messages (deterministic seed). */
static void random_chunking(void **state)
{
    (void)state;
    enum { COUNT = 200 };
    char *msgs[COUNT];
    size_t lens[COUNT];
    stream s = {0};
    uint32_t x = 42;
    for (int i = 0; i < COUNT; i++) {
        x = x * 1664525u + 1013904223u;
        lens[i] = (x >> 8) % (i % 10 == 0 ? 70000 : 300);
        msgs[i] = (char *)tu_pattern(lens[i], (uint32_t)i);
        stream_add(&s, msgs[i], lens[i]);
    }
    ipc__decoder *d;
    d = ipc__dec_new();
    assert_non_null(d);
    ipc__dec_set_grow(d, 4096);
    size_t next = 0, got = 0;
    for (size_t off = 0; off < s.len;) {
        x = x * 1664525u + 1013904223u;
        size_t k = 1 + (x >> 8) % 9000;
        if (k > s.len - off)
            k = s.len - off;
        got +=
            feed_all(d, s.buf + off, k, (const char *const *)msgs, lens, &next);
        off += k;
    }
    assert_int_equal(got, COUNT);
    assert_true(ipc__dec_at_boundary(d));
    ipc__dec_free(d);
    for (int i = 0; i < COUNT; i++)
        free(msgs[i]);
    stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_is_big_endian),
        cmocka_unit_test(fresh_decoder),
        cmocka_unit_test(one_frame_all_at_once),
        cmocka_unit_test(one_frame_one_byte_at_a_time),
        cmocka_unit_test(one_frame_every_split),
        cmocka_unit_test(many_frames_in_one_feed),
        cmocka_unit_test(feed_while_ready_consumes_nothing),
        cmocka_unit_test(empty_frame),
        cmocka_unit_test(header_0x80000000_is_protocol_error),
        cmocka_unit_test(header_0xffffffff_is_protocol_error),
        cmocka_unit_test(huge_header_holds_little),
        cmocka_unit_test(large_payload_grows_with_data),
        cmocka_unit_test(too_big_is_skipped),
        cmocka_unit_test(window_and_commit),
        cmocka_unit_test(window_room_at_most_want),
        cmocka_unit_test(window_room_at_most_grow_ahead),
        cmocka_unit_test(at_boundary_at_every_offset),
        cmocka_unit_test(free_mid_frame),
        cmocka_unit_test(random_chunking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
