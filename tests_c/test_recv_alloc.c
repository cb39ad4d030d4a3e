/*
 * test_recv_alloc.c - ipc_recv_alloc(): receiving into the caller's memory.
 *
 * What a binding relies on: alloc is asked once per message for exactly the
 * message's length, the payload lands there and nothing is written past it,
 * and on every failure (NULL from alloc, a timeout or an interrupt in the
 * middle, a message over the limit, EOF) nothing is lost and the caller's
 * buffer is never touched again.
 */
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The guard byte written after every buffer handed out: it must survive. */
#define GUARD 0xA5

/* An allocator that records what it was asked for. */
typedef struct grant {
    int calls;
    size_t asked;       /* len of the last call */
    int fail_next;      /* return NULL this many times */
    unsigned char *buf; /* last buffer handed out (asked + 1 bytes) */
} grant;

static void *grant_alloc(void *ctx, size_t len)
{
    grant *g = ctx;
    g->calls++;
    g->asked = len;
    if (g->fail_next > 0) {
        g->fail_next--;
        return NULL;
    }
    free(g->buf);
    g->buf = malloc(len + 1);
    if (g->buf != NULL)
        g->buf[len] = GUARD;
    return g->buf;
}

/* Drop the buffer of a failed call, scribbling on it first: should the
 * library still write there (or read from it), the sanitizers or the
 * content checks catch it. */
static void grant_drop(grant *g)
{
    if (g->buf != NULL) {
        memset(g->buf, 0xEE, g->asked);
        free(g->buf);
    }
    g->buf = NULL;
}

/* Receive one message with ipc_recv_alloc and compare it. */
static void expect_alloc_msg(int h, const void *want, size_t wn)
{
    grant g = {0};
    size_t n = 12345;
    assert_ok(ipc_recv_alloc(h, grant_alloc, &g, &n, 20000));
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.asked, wn);
    assert_int_equal(n, wn);
    assert_non_null(g.buf);
    if (wn && memcmp(g.buf, want, wn) != 0)
        fail_msg("message of %zu bytes differs", wn);
    assert_int_equal(g.buf[wn], GUARD);
    free(g.buf);
}

static void expect_alloc_status(int h, int want, int timeout, int max_calls)
{
    grant g = {0};
    size_t n = 12345;
    assert_status(ipc_recv_alloc(h, grant_alloc, &g, &n, timeout), want);
    assert_int_equal(n, 0);
    assert_true(g.calls <= max_calls);
    grant_drop(&g);
}

/* A frame of `len` pattern bytes in one malloc'd buffer. */
static unsigned char *frame_of(size_t len, uint32_t seed)
{
    unsigned char *f = malloc(len + 4);
    assert_non_null(f);
    tu_header(f, (uint32_t)len);
    tu_fill(f + 4, len, seed);
    return f;
}

/* ---------------------------------------------------------------------- */

static void sizes_from_empty_to_large(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    static const size_t sizes[] = {0,         1,          64,     4096,
                                   32 * 1024, 100 * 1024, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        unsigned char *f = frame_of(len, (uint32_t)i + 1);
        tu_thread t;
        tu_rawwriter *w = tu_rawwrite_start(&t, raw, f, len + 4, 7777, 0);
        expect_alloc_msg(h, f + 4, len);
        assert_int_equal(tu_thread_join(t, 20000), 0);
        assert_int_equal(w->rc, 0);
        free(w);
        free(f);
    }
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* Frames back to back in one write: each gets its own buffer, in order,
 * mixed freely with ipc_recv(). */
static void frames_in_one_write_mixed_with_recv(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char *a = frame_of(10, 1), *b = frame_of(0, 2),
                  *c = frame_of(70000, 3), *d = frame_of(5, 4);
    size_t total = 14 + 4 + 70004 + 9;
    unsigned char *all = malloc(total);
    assert_non_null(all);
    memcpy(all, a, 14);
    memcpy(all + 14, b, 4);
    memcpy(all + 18, c, 70004);
    memcpy(all + 70022, d, 9);
    tu_thread t;
    tu_rawwriter *w = tu_rawwrite_start(&t, raw, all, total, total, 0);

    expect_alloc_msg(h, a + 4, 10);
    expect_alloc_msg(h, b + 4, 0);
    void *m = NULL;
    size_t n = 0;
    assert_ok(ipc_recv_timeout(h, &m, &n, 20000));
    assert_int_equal(n, 70000);
    assert_memory_equal(m, c + 4, 70000);
    ipc_free(m);
    expect_alloc_msg(h, d + 4, 5);

    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_int_equal(w->rc, 0);
    free(w);
    free(all);
    free(a);
    free(b);
    free(c);
    free(d);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* alloc returning NULL: IPC_ENOMEM, and the message waits, whole, for the
 * next receive of either kind. */
static void null_from_alloc_loses_nothing(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char *f = frame_of(300, 9);
    assert_int_equal(tu_write_all(raw, f, 304), 0);
    assert_int_equal(tu_write_all(raw, f, 304), 0);

    grant g = {.fail_next = 2};
    size_t n = 1;
    assert_status(ipc_recv_alloc(h, grant_alloc, &g, &n, 5000), IPC_ENOMEM);
    assert_last_error_has("300-byte message");
    assert_status(ipc_recv_alloc(h, grant_alloc, &g, &n, 5000), IPC_ENOMEM);
    assert_int_equal(g.calls, 2);
    assert_int_equal(g.asked, 300);
    assert_ok(ipc_recv_alloc(h, grant_alloc, &g, &n, 5000));
    assert_int_equal(n, 300);
    assert_memory_equal(g.buf, f + 4, 300);
    free(g.buf);

    /* Refused once more, then taken by plain ipc_recv(). */
    grant g2 = {.fail_next = 1};
    assert_status(ipc_recv_alloc(h, grant_alloc, &g2, &n, 5000), IPC_ENOMEM);
    void *m = NULL;
    assert_ok(ipc_recv_timeout(h, &m, &n, 5000));
    assert_int_equal(n, 300);
    assert_memory_equal(m, f + 4, 300);
    ipc_free(m);
    free(f);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* Write n more bytes of a message that cannot complete yet. A socket's
 * buffer takes them at once. A named pipe instance holds 64 KiB
 * (win32/listen.c), so on Windows a thread writes them while the test
 * receives, and every receive meanwhile times out as the message is still
 * not whole: the same assertion as the receives that follow. */
static void write_more_of_a_message(tu_raw raw, int h, const unsigned char *p,
                                    size_t n)
{
#ifdef _WIN32
    tu_thread t;
    tu_rawwriter *w = tu_rawwrite_start(&t, raw, p, n, n, 0);
    long long deadline = tu_now_ms() + 20000;
    while (tu_thread_join(t, 0) != 0) {
        expect_alloc_status(h, IPC_ETIMEDOUT, 50, 1);
        if (tu_now_ms() > deadline)
            fail_msg("a raw write of %zu bytes still blocked after 20 s", n);
    }
    assert_int_equal(w->rc, 0);
    free(w);
#else
    (void)h;
    assert_int_equal(tu_write_all(raw, p, n), 0);
#endif
}

/* A timeout in the middle of a message: the caller's buffer is dropped and
 * scribbled on, and the next receive (either kind) still gets every byte. */
static void timeout_mid_message_then_either_kind(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    for (int kind = 0; kind < 2; kind++) {
        size_t len = 200000; /* big enough for direct reads */
        unsigned char *f = frame_of(len, 20 + (uint32_t)kind);
        assert_int_equal(tu_write_all(raw, f, 4 + 1000), 0);
        expect_alloc_status(h, IPC_ETIMEDOUT, 50, 1);
        write_more_of_a_message(raw, h, f + 1004, 120000);
        expect_alloc_status(h, IPC_ETIMEDOUT, 50, 1);
        expect_alloc_status(h, IPC_ETIMEDOUT, 0, 1);
        tu_thread t;
        tu_rawwriter *w =
            tu_rawwrite_start(&t, raw, f + 121004, len + 4 - 121004, 30000, 0);
        if (kind == 0) {
            expect_alloc_msg(h, f + 4, len);
        } else {
            void *m = NULL;
            size_t n = 0;
            assert_ok(ipc_recv_timeout(h, &m, &n, 20000));
            assert_int_equal(n, len);
            assert_memory_equal(m, f + 4, len);
            ipc_free(m);
        }
        assert_int_equal(tu_thread_join(t, 20000), 0);
        assert_int_equal(w->rc, 0);
        free(w);
        free(f);
    }

    /* The other way round: plain recv times out mid-message, then
     * ipc_recv_alloc gets the part kept in the pipe plus the rest. */
    unsigned char *f = frame_of(5000, 30);
    assert_int_equal(tu_write_all(raw, f, 2000), 0);
    void *m = (void *)1;
    size_t n = 1;
    assert_status(ipc_recv_timeout(h, &m, &n, 30), IPC_ETIMEDOUT);
    assert_int_equal(tu_write_all(raw, f + 2000, 3004), 0);
    expect_alloc_msg(h, f + 4, 5000);
    free(f);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/*
 * A large message that arrives in pieces, each read by a call that times
 * out: it arrives whole, and the allocator is asked for
 * its memory twice at most (by the call that saw the header, and by the one
 * that completes it), not once per call. Asking again on every call meant
 * copying the part received so far into each new buffer: a receive loop
 * with short timeouts was quadratic in the message's size.
 */
#define SLICE (64 * 1024)
#define SLICED_LEN ((size_t)4 << 20)

/* Write the frame `f` (len + 4 bytes) a SLICE at a time, each followed by
 * one ipc_recv_alloc() that does not wait. Every call but the last times
 * out; the last one's status is returned (with `fail_last`, its allocator
 * call returns NULL). Counts the allocator's calls in *g; the buffers of
 * failed calls are scribbled on and freed at once. */
static int recv_in_slices(int h, tu_raw raw, const unsigned char *f, size_t len,
                          grant *g, size_t *n, int fail_last)
{
    size_t total = len + 4;
    for (size_t at = 0; at < total;) {
        size_t k = total - at < SLICE ? total - at : SLICE;
        assert_int_equal(tu_write_all(raw, f + at, k), 0);
        at += k;
        *n = 12345;
        if (at == total) {
            g->fail_next = fail_last;
            return ipc_recv_alloc(h, grant_alloc, g, n, 0);
        }
        assert_status(ipc_recv_alloc(h, grant_alloc, g, n, 0), IPC_ETIMEDOUT);
        assert_int_equal(*n, 0);
        grant_drop(g);
    }
    return IPC_EINVAL; /* not reached */
}

static void sliced_message_asks_for_memory_twice_at_most(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char *f = frame_of(SLICED_LEN, 70);
    grant g = {0};
    size_t n;
    assert_ok(recv_in_slices(h, raw, f, SLICED_LEN, &g, &n, 0));
    assert_int_equal(n, SLICED_LEN);
    assert_int_equal(g.asked, SLICED_LEN);
    if (memcmp(g.buf, f + 4, SLICED_LEN) != 0)
        fail_msg("the message received in slices differs");
    assert_int_equal(g.buf[SLICED_LEN], GUARD);
    if (g.calls > 2)
        fail_msg("the allocator was asked %d times for one message received "
                 "in %zu slices (at most 2 expected)",
                 g.calls, (SLICED_LEN + 4 + SLICE - 1) / SLICE);
    free(g.buf);

    /* The next message is unaffected. */
    unsigned char *small = frame_of(100, 71);
    assert_int_equal(tu_write_all(raw, small, 104), 0);
    expect_alloc_msg(h, small + 4, 100);
    free(small);
    free(f);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* The allocator returns NULL when a message received in slices completes:
 * IPC_ENOMEM, and the whole message waits for the next receive, of either
 * kind. */
static void sliced_message_null_from_alloc_keeps_it(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    for (int kind = 0; kind < 2; kind++) {
        unsigned char *f = frame_of(SLICED_LEN, 80 + (uint32_t)kind);
        grant g = {0};
        size_t n;
        assert_status(recv_in_slices(h, raw, f, SLICED_LEN, &g, &n, 1),
                      IPC_ENOMEM);
        assert_int_equal(n, 0);
        assert_int_equal(g.asked, SLICED_LEN);
        assert_last_error_has("kept for the next recv");
        if (kind == 0) {
            expect_alloc_msg(h, f + 4, SLICED_LEN);
        } else {
            void *m = NULL;
            assert_ok(ipc_recv_timeout(h, &m, &n, 5000));
            assert_int_equal(n, SLICED_LEN);
            if (memcmp(m, f + 4, SLICED_LEN) != 0)
                fail_msg("the message kept after NULL differs");
            ipc_free(m);
        }
        free(f);
    }
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* A message over the limit is skipped without asking for memory. */
static void too_big_skipped_without_alloc(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    assert_ok(ipc_set_max_message(h, 100));
    unsigned char *big = frame_of(1000, 40), *ok = frame_of(100, 41);
    assert_int_equal(tu_write_all(raw, big, 1004), 0);
    assert_int_equal(tu_write_all(raw, ok, 104), 0);
    expect_alloc_status(h, IPC_ETOOBIG, 5000, 0);
    expect_alloc_msg(h, ok + 4, 100);
    free(big);
    free(ok);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* EOF in the middle: a protocol error, and the handle stays broken. */
static void eof_mid_message_breaks_the_pipe(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char *f = frame_of(100000, 50);
    assert_int_equal(tu_write_all(raw, f, 50000), 0);
    tu_raw_close(raw);
    expect_alloc_status(h, IPC_EPROTO, 5000, 1);
    assert_last_error_has("closed the pipe after");
    expect_alloc_status(h, IPC_EPROTO, 0, 0);
    free(f);
    assert_ok(ipc_close(h));
}

/* A clean close at a boundary is IPC_ECLOSED, without an alloc call. */
static void clean_close_is_closed(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    tu_raw_close(raw);
    expect_alloc_status(h, IPC_ECLOSED, 5000, 0);
    assert_ok(ipc_close(h));
}

static void bad_arguments(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    grant g = {0};
    size_t n = 7;
    assert_status(ipc_recv_alloc(h, NULL, &g, &n, 0), IPC_EINVAL);
    assert_status(ipc_recv_alloc(h, grant_alloc, &g, NULL, 0), IPC_EINVAL);
    assert_status(ipc_recv_alloc(987654, grant_alloc, &g, &n, 0),
                  IPC_EBADHANDLE);
    assert_int_equal(n, 0);
    int l = assert_handle(ipc_listen(tu_name()));
    assert_status(ipc_recv_alloc(l, grant_alloc, &g, &n, 0), IPC_EBADHANDLE);
    assert_int_equal(g.calls, 0);
    assert_ok(ipc_close(l));
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* ---------------------------------------------------------------------- */
/* The interrupt hook, on the blocking path that bindings use             */
/* ---------------------------------------------------------------------- */

static volatile sig_atomic_t g_signalled;

#ifndef _WIN32
static void on_sigusr1(int sig)
{
    (void)sig;
    g_signalled = 1;
}
#endif

static int stop_when_signalled(void *arg)
{
    (void)arg;
    return g_signalled ? 1 : 0;
}

typedef struct blocked {
    int h;
    int status;
    grant g;
    size_t n;
    atomic_int tid;
} blocked;

static void *recv_alloc_forever(void *p)
{
    blocked *b = p;
    atomic_store(&b->tid, (int)tu_gettid());
    b->status = ipc_recv_alloc(b->h, grant_alloc, &b->g, &b->n, IPC_FOREVER);
    return NULL;
}

/*
 * A handler installed with SA_RESTART, as Python's and Lua's interpreters
 * install theirs, and a call with no timeout: the call still ends with
 * IPC_EINTR once the hook says so, and keeps the part that arrived.
 * (Windows has no signals: there the flag is set as the handler would set
 * it, and the hook, consulted every slice, ends the call the same way.)
 */
static void hook_stops_blocked_call_under_sa_restart(void **state)
{
    (void)state;
#ifndef _WIN32
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
#endif
    g_signalled = 0;
    ipc_set_interrupt_hook(stop_when_signalled, NULL);

    tu_raw raw;
    int h = tu_raw_pair(&raw);
    unsigned char *f = frame_of(100000, 60);
    assert_int_equal(tu_write_all(raw, f, 40004), 0);
    blocked *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->h = h;
    b->status = 1;
    tu_thread t;
    tu_thread_start(&t, recv_alloc_forever, b);
    long long deadline = tu_now_ms() + 5000;
    while (atomic_load(&b->tid) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    (void)tu_wait_blocked((long)atomic_load(&b->tid), 2000);
#ifdef _WIN32
    g_signalled = 1;
#else
    assert_int_equal(pthread_kill(t, SIGUSR1), 0);
#endif
    if (tu_thread_join(t, 5000) != 0)
        fail_msg("ipc_recv_alloc() not interrupted 5 s after the signal");
    assert_status(b->status, IPC_EINTR);
    assert_int_equal(b->g.calls, 1);
    grant_drop(&b->g);
    free(b);

    g_signalled = 0;
    assert_int_equal(tu_write_all(raw, f + 40004, 60000), 0);
    expect_alloc_msg(h, f + 4, 100000);
    ipc_set_interrupt_hook(NULL, NULL);
#ifndef _WIN32
    sigaction(SIGUSR1, &old, NULL);
#endif
    free(f);
    tu_raw_close(raw);
    assert_ok(ipc_close(h));
}

/* With a hook that never stops, a blocked call without timeout keeps
 * waiting through many slices and still gets its message. */
static int never_stop(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void hook_slices_do_not_end_the_call(void **state)
{
    (void)state;
    atomic_int calls = 0;
    ipc_set_interrupt_hook(never_stop, &calls);
    int a, b;
    tu_lib_pair(&a, &b);
    blocked *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->h = b;
    r->status = 1;
    tu_thread t;
    tu_thread_start(&t, recv_alloc_forever, r);
    tu_sleep_ms(4 * IPC_INTERRUPT_SLICE_MS);
    assert_ok(ipc_send(a, "late", 4));
    assert_int_equal(tu_thread_join(t, 10000), 0);
    assert_status(r->status, IPC_OK);
    assert_int_equal(r->n, 4);
    assert_memory_equal(r->g.buf, "late", 4);
    assert_true(atomic_load(&calls) >= 2);
    free(r->g.buf);
    free(r);
    ipc_set_interrupt_hook(NULL, NULL);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

int main(void)
{
#ifdef SIGPIPE
    signal(SIGPIPE, SIG_DFL);
#endif
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(sizes_from_empty_to_large),
        T(frames_in_one_write_mixed_with_recv),
        T(null_from_alloc_loses_nothing),
        T(timeout_mid_message_then_either_kind),
        T(sliced_message_asks_for_memory_twice_at_most),
        T(sliced_message_null_from_alloc_keeps_it),
        T(too_big_skipped_without_alloc),
        T(eof_mid_message_breaks_the_pipe),
        T(clean_close_is_closed),
        T(bad_arguments),
        T(hook_stops_blocked_call_under_sa_restart),
        T(hook_slices_do_not_end_the_call),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
