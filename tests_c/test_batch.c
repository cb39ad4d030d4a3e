/*
 * test_batch.c - batches. ipc_send_many(): a batch of messages, each its
 * own frame, written together; and the send rules per message when a
 * timeout, an interrupt or the peer's going cuts a batch short.
 * ipc_recv_held(): the messages already whole inside a handle, without a
 * read or a wait, and everything else left to the next recv.
 *
 * The same suite on Linux and on Windows (under wine).
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define BIG (8u * 1024 * 1024) /* far more than a socket buffer */

/* ---- a receiver thread that checks every message ---------------------- */

/* Message i of a test is tu_fill(len[i], seed base + i). */
typedef struct checker {
    int h;
    size_t n;
    const size_t *len;
    uint64_t seed;
    size_t got; /* messages received intact, in order */
    tu_err err;
} checker;

static void *check_main(void *arg)
{
    checker *c = arg;
    for (; c->got < c->n; c->got++) {
        void *d = NULL;
        size_t n = 0;
        int rc = ipc_recv_timeout(c->h, &d, &n, 20000);
        if (rc != IPC_OK) {
            tu_err_set(&c->err, "message %zu: recv %s: %s", c->got,
                       ipc_errname(rc), ipc_last_error());
            return NULL;
        }
        int ok = n == c->len[c->got] &&
                 tu_check_fill(d, n, c->seed + (uint64_t)c->got);
        ipc_free(d);
        if (!ok) {
            tu_err_set(&c->err,
                       "message %zu: got %zu bytes, want %zu of seed %llu",
                       c->got, n, c->len[c->got],
                       (unsigned long long)(c->seed + c->got));
            return NULL;
        }
    }
    return NULL;
}

static checker *start_check(tu_thread *t, int h, const size_t *len, size_t n,
                            uint64_t seed)
{
    checker *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->h = h;
    c->n = n;
    c->len = len;
    c->seed = seed;
    tu_thread_start(t, check_main, c);
    return c;
}

static void join_check(tu_thread t, checker *c)
{
    if (tu_thread_join(t, 30000) != 0)
        fail_msg("receiver still running after 30 s (got %zu of %zu)", c->got,
                 c->n);
    assert_no_err(&c->err);
    assert_int_equal(c->got, c->n);
    free(c);
}

/* Buffers for messages first..first+n of the lengths given, seeded as the
 * checker expects; msgs[i] points into bufs[i]. */
static void make_msgs(struct ipc_msg *msgs, void **bufs, const size_t *len,
                      size_t first, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        bufs[i] =
            tu_pattern(len[first + i] ? len[first + i] : 1, seed + first + i);
        msgs[i].data = len[first + i] ? bufs[i] : NULL;
        msgs[i].len = len[first + i];
    }
}

static void free_bufs(void **bufs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
}

/* ---- tests ------------------------------------------------------------- */

/* Batches of mixed sizes, 0 B to several MiB, between single sends: every
 * message arrives whole, in order, once. */
static void mixed_sizes_between_single_sends(void **state)
{
    (void)state;
    static const size_t len[] = {
        5,     0, 1,        64, 0,  70000, 3u << 20, 4, /* batch 1 */
        9,                                              /* single */
        65536, 3, 5u << 20, 0,  17, 200,                /* batch 2 */
        0,                                              /* single */
        1,                                              /* batch 3 */
    };
    const size_t n = sizeof len / sizeof len[0];
    int a, b;
    tu_lib_pair(&a, &b);
    tu_thread t;
    checker *c = start_check(&t, b, len, n, 100);
    struct ipc_msg msgs[8];
    void *bufs[8];

    make_msgs(msgs, bufs, len, 0, 8, 100);
    assert_status(ipc_send_many(a, msgs, 8, 20000), 8);
    free_bufs(bufs, 8);
    make_msgs(msgs, bufs, len, 8, 1, 100);
    assert_ok(ipc_send(a, msgs[0].data, msgs[0].len));
    free_bufs(bufs, 1);
    make_msgs(msgs, bufs, len, 9, 6, 100);
    assert_status(ipc_send_many(a, msgs, 6, IPC_FOREVER), 6);
    free_bufs(bufs, 6);
    make_msgs(msgs, bufs, len, 15, 1, 100);
    assert_ok(ipc_send_timeout(a, msgs[0].data, 0, 1000));
    free_bufs(bufs, 1);
    make_msgs(msgs, bufs, len, 16, 1, 100);
    assert_status(ipc_send_many(a, msgs, 1, 0), 1);
    free_bufs(bufs, 1);

    join_check(t, c);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* More messages than one write takes (64 a write, 128 pieces): on the
 * wire, read raw, every message is its own frame. */
static void many_small_messages_each_its_own_frame(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    enum { N = 1000 };
    static struct ipc_msg msgs[N];
    static char text[N][8];
    for (int i = 0; i < N; i++) {
        int len = snprintf(text[i], sizeof text[i], "m%d", i);
        msgs[i].data = text[i];
        msgs[i].len = (size_t)(i % 7 == 0 ? 0 : len);
    }
    assert_status(ipc_send_many(h, msgs, N, 20000), N);
    for (int i = 0; i < N; i++) {
        unsigned char hdr[4];
        char body[8];
        assert_int_equal(tu_read_all(raw, hdr, 4), 0);
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                       (uint32_t)hdr[2] << 8 | hdr[3];
        if (len != msgs[i].len)
            fail_msg("frame %d: length %u, want %zu", i, len, msgs[i].len);
        if (len > 0) {
            assert_int_equal(tu_read_all(raw, body, len), 0);
            assert_memory_equal(body, msgs[i].data, len);
        }
    }
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* A hundred messages of mixed sizes (empty, small, 3 MiB) in one batch
 * without a deadline (written as they are) and a hundred with one (staged
 * in the handle): every message is its own frame, whole, in order. */
static void hundred_unstaged_then_hundred_staged(void **state)
{
    (void)state;
    enum { N = 200 };
    static size_t len[N];
    for (size_t i = 0; i < N; i++)
        len[i] = i % 50 == 7 ? (3u << 20) + i : i % 9 == 0 ? 0 : 64 + i;
    int a, b;
    tu_lib_pair(&a, &b);
    static struct ipc_msg msgs[N];
    static void *bufs[N];
    make_msgs(msgs, bufs, len, 0, N, 300);
    tu_thread t;
    checker *c = start_check(&t, b, len, N, 300);
    assert_status(ipc_send_many(a, msgs, 100, IPC_FOREVER), 100);
    assert_status(ipc_send_many(a, msgs + 100, 100, 20000), 100);
    join_check(t, c);
    free_bufs(bufs, N);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* The time runs out in the middle of a batch: the messages before are
 * sent, the one cut is committed (its rest kept and sent first), the ones
 * after are not sent and the count says so; nothing spliced, lost or out
 * of order when they are sent again. */
static void timeout_mid_batch_commits_and_counts(void **state)
{
    (void)state;
    /* 10 small, one that cannot fit, 10 small. */
    size_t len[21];
    for (size_t i = 0; i < 21; i++)
        len[i] = i == 10 ? BIG : 100 + i;
    int a, b;
    tu_lib_pair(&a, &b);
    struct ipc_msg msgs[21];
    void *bufs[21];
    make_msgs(msgs, bufs, len, 0, 21, 500);

    long long t0 = tu_now_ms();
    int sent = ipc_send_many(a, msgs, 21, 100);
    assert_true(tu_now_ms() - t0 < 5000);
    assert_int_equal(sent, 11);
    assert_last_error_has("timed out after 11 of 21 messages");
    /* The cut message's rest comes first: a batch behind it waits and
     * times out having sent nothing of its own. */
    assert_status(ipc_send_many(a, msgs + 11, 10, 100), IPC_ETIMEDOUT);
    assert_last_error_has("earlier message");

    tu_thread t;
    checker *c = start_check(&t, b, len, 21, 500);
    assert_status(ipc_send_many(a, msgs + 11, 10, 20000), 10);
    join_check(t, c);
    /* Nothing more: no message was sent twice. */
    void *d = NULL;
    size_t n = 0;
    assert_status(ipc_recv_timeout(b, &d, &n, 0), IPC_ETIMEDOUT);
    free_bufs(bufs, 21);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* Filling the peer's buffer one-message batches at a time with timeout 0:
 * each is counted when committed (whole, or cut with its rest kept), and
 * the one that cannot go says that nothing of it was sent. */
static void full_buffer_sends_nothing(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    char m[1000];
    struct ipc_msg one = {m, sizeof m};
    size_t seq = 0;
    int rc;
    for (;;) {
        tu_fill(m, sizeof m, 40 + (uint64_t)seq);
        if ((rc = ipc_send_many(a, &one, 1, 0)) != 1)
            break;
        seq++;
        assert_true(seq < 1000000);
    }
    assert_status(rc, IPC_ETIMEDOUT);
    assert_last_error_has("nothing");
    assert_true(seq > 0);

    size_t *len = malloc(seq * sizeof *len);
    assert_non_null(len);
    for (size_t i = 0; i < seq; i++)
        len[i] = sizeof m;
    tu_thread t;
    checker *c = start_check(&t, b, len, seq, 40);
    assert_ok(ipc_flush(a, 20000));
    join_check(t, c);
    free(len);
    void *d = NULL;
    size_t n = 0;
    assert_status(ipc_recv_timeout(b, &d, &n, 0), IPC_ETIMEDOUT);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

static volatile sig_atomic_t g_stop;

static int stop_hook(void *arg)
{
    (void)arg;
    return g_stop ? 1 : 0;
}

/* The interrupt hook stops a batch: as with a timeout, the count says how
 * many went (the cut one committed), and the rest of the batch follows
 * intact when sent again. */
static void interrupt_mid_batch(void **state)
{
    (void)state;
    size_t len[5] = {10, 20, BIG, 30, 40};
    int a, b;
    tu_lib_pair(&a, &b);
    struct ipc_msg msgs[5];
    void *bufs[5];
    make_msgs(msgs, bufs, len, 0, 5, 900);
    ipc_set_interrupt_hook(stop_hook, NULL);
    g_stop = 1; /* already asked: seen as soon as the send must wait */
    long long t0 = tu_now_ms();
    int sent = ipc_send_many(a, msgs, 5, IPC_FOREVER);
    assert_true(tu_now_ms() - t0 < 5000);
    assert_int_equal(sent, 3);
    assert_last_error_has("interrupted after 3 of 5 messages");
    /* Still asked to stop: nothing of the next call goes. */
    assert_status(ipc_send_many(a, msgs + 3, 2, IPC_FOREVER), IPC_EINTR);
    assert_last_error_has("earlier message");
    g_stop = 0;
    ipc_set_interrupt_hook(NULL, NULL);

    tu_thread t;
    checker *c = start_check(&t, b, len, 5, 900);
    assert_status(ipc_send_many(a, msgs + 3, 2, 20000), 2);
    join_check(t, c);
    free_bufs(bufs, 5);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* Every message is checked before anything is sent. */
static void bad_batches_send_nothing(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    char x = 'x';
    struct ipc_msg too_big[2] = {{"ok", 2}, {&x, (size_t)IPC_MAX_MESSAGE + 1}};
    assert_status(ipc_send_many(a, too_big, 2, 1000), IPC_ETOOBIG);
    assert_last_error_has("message 1 of");
    struct ipc_msg null_data[2] = {{"ok", 2}, {NULL, 3}};
    assert_status(ipc_send_many(a, null_data, 2, 1000), IPC_EINVAL);
    assert_last_error_has("message 1: data is NULL");
    assert_status(ipc_send_many(a, NULL, 1, 1000), IPC_EINVAL);
    assert_status(ipc_send_many(a, NULL, 0, 1000), 0);
    assert_status(ipc_send_many(a, too_big, (size_t)INT_MAX + 1, 1000),
                  IPC_EINVAL);
    assert_status(ipc_send_many(9999999, too_big, 1, 1000), IPC_EBADHANDLE);

    /* None of it reached the peer. */
    struct ipc_msg last = {"last", 4};
    assert_status(ipc_send_many(a, &last, 1, 1000), 1);
    void *d = NULL;
    size_t n = 0;
    assert_ok(ipc_recv_timeout(b, &d, &n, 5000));
    assert_int_equal(n, 4);
    assert_memory_equal(d, "last", 4);
    ipc_free(d);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* The peer has gone: the batch fails, with no SIGPIPE. */
static void peer_gone(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    assert_ok(ipc_close(b));
    struct ipc_msg msgs[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    int rc = ipc_send_many(a, msgs, 3, 5000);
    /* The first write may still be taken by the kernel before the reset
     * is seen; then the next one fails. */
    if (rc > 0)
        rc = ipc_send_many(a, msgs, 3, 5000);
    assert_status(rc, IPC_ECLOSED);
    assert_ok(ipc_close(a));
}

/* ---- ipc_recv_held ------------------------------------------------------ */

typedef struct held_buf {
    char data[256];
    int fail; /* return NULL */
} held_buf;

static void *held_alloc(void *ctx, size_t len)
{
    held_buf *b = ctx;
    return b->fail || len > sizeof b->data ? NULL : b->data;
}

/* Expect ipc_recv_held to hand over exactly `want`. */
static void expect_held(int h, const char *want)
{
    held_buf b = {.fail = 0};
    size_t len = 99;
    int rc = ipc_recv_held(h, held_alloc, &b, &len);
    if (rc != 1)
        fail_msg("recv_held: %d (%s), want the message \"%s\"", rc,
                 rc < 0 ? ipc_last_error() : "none held", want);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(b.data, want, len);
}

static void expect_none_held(int h)
{
    held_buf b = {.fail = 0};
    size_t len = 99;
    assert_status(ipc_recv_held(h, held_alloc, &b, &len), 0);
    assert_int_equal(len, 0);
}

static void expect_recv(int h, const char *want)
{
    void *d = NULL;
    size_t n = 0;
    assert_ok(ipc_recv_timeout(h, &d, &n, 5000));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
    ipc_free(d);
}

/* Frames that came in one write are handed over without a read; a frame
 * half-arrived is not, nor is its rest once it is in the kernel (never a
 * read): the next recv gets it whole. */
static void held_takes_buffered_frames_only(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char wire[64];
    size_t at = 0;
    const char *m[] = {"one", "", "three", "four"};
    for (int i = 0; i < 4; i++) {
        tu_header(wire + at, (uint32_t)strlen(m[i]));
        memcpy(wire + at + 4, m[i], strlen(m[i]));
        at += 4 + strlen(m[i]);
    }
    tu_header(wire + at, 6); /* "halves", first half */
    memcpy(wire + at + 4, "hal", 3);
    at += 7;
    assert_int_equal(tu_write_all(raw, wire, at), 0);

    expect_none_held(h); /* nothing read yet: no read is made */
    expect_recv(h, "one");
    expect_held(h, "");
    expect_held(h, "three");
    expect_held(h, "four");
    expect_none_held(h);
    assert_int_equal(tu_write_all(raw, "ves", 3), 0);
    tu_sleep_ms(20);
    expect_none_held(h);
    expect_recv(h, "halves");
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* A message over the limit, the end of the stream: left to the next recv,
 * which reports them; an allocator's NULL keeps the message. */
static void held_leaves_errors_to_recv(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    assert_ok(ipc_set_max_message(h, 8));
    unsigned char wire[128];
    size_t at = 0;
    const char *m[] = {"a", "bb", "far too long", "ccc", "dddd"};
    for (int i = 0; i < 5; i++) {
        tu_header(wire + at, (uint32_t)strlen(m[i]));
        memcpy(wire + at + 4, m[i], strlen(m[i]));
        at += 4 + strlen(m[i]);
    }
    assert_int_equal(tu_write_all(raw, wire, at), 0);
    tu_raw_close(raw);

    expect_recv(h, "a");
    held_buf fail = {.fail = 1};
    size_t len = 0;
    assert_status(ipc_recv_held(h, held_alloc, &fail, &len), IPC_ENOMEM);
    expect_held(h, "bb"); /* kept */
    expect_none_held(h);  /* the long one is recv's to report */
    void *d = NULL;
    size_t n = 0;
    assert_status(ipc_recv_timeout(h, &d, &n, 5000), IPC_ETOOBIG);
    expect_recv(h, "ccc");
    expect_held(h, "dddd");
    expect_none_held(h); /* the end is recv's too */
    assert_status(ipc_recv_timeout(h, &d, &n, 5000), IPC_ECLOSED);
    expect_none_held(h);

    assert_status(ipc_recv_held(h, NULL, NULL, &len), IPC_EINVAL);
    assert_status(ipc_recv_held(h, held_alloc, &fail, NULL), IPC_EINVAL);
    assert_ok(ipc_close(h));
    assert_status(ipc_recv_held(h, held_alloc, &fail, &len), IPC_EBADHANDLE);
}

/* A batch sent with ipc_send_many comes back as a burst: one recv, then
 * the rest held. */
static void send_many_then_drain_held(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    enum { N = 300 };
    static struct ipc_msg msgs[N];
    static char text[N][8];
    for (int i = 0; i < N; i++) {
        msgs[i].len = (size_t)snprintf(text[i], sizeof text[i], "%d", i);
        msgs[i].data = text[i];
    }
    assert_status(ipc_send_many(a, msgs, N, 5000), N);
    int got = 0;
    while (got < N) {
        expect_recv(b, text[got++]);
        held_buf buf = {.fail = 0};
        size_t len;
        int rc;
        while ((rc = ipc_recv_held(b, held_alloc, &buf, &len)) == 1) {
            assert_true(got < N);
            assert_int_equal(len, msgs[got].len);
            assert_memory_equal(buf.data, text[got], len);
            got++;
        }
        assert_status(rc, 0);
    }
    expect_none_held(b);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

int main(void)
{
#ifdef SIGPIPE
    /* No test may depend on SIGPIPE being ignored. */
    signal(SIGPIPE, SIG_DFL);
#endif
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(mixed_sizes_between_single_sends),
        T(many_small_messages_each_its_own_frame),
        T(hundred_unstaged_then_hundred_staged),
        T(timeout_mid_batch_commits_and_counts),
        T(full_buffer_sends_nothing),
        T(interrupt_mid_batch),
        T(bad_batches_send_nothing),
        T(peer_gone),
        T(held_takes_buffered_frames_only),
        T(held_leaves_errors_to_recv),
        T(send_many_then_drain_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
