/*
 * test_poll.c - many pipes at once: ipc_pending() and ipc_poll().
 *
 * The problem they solve: a recv reads up to 64 KiB ahead and
 * hands out one frame, so after a burst (a peer writing many frames back
 * to back) the rest wait inside the handle, where poll() on ipc_fileno()
 * cannot see them: a loop that waits on the descriptor stalls with
 * messages in hand. Every readiness test here fails when readiness is
 * judged from the descriptor alone, as the old documentation advised:
 * build this file with -DTEST_POLL_VIA_FILENO (against any library,
 * today's or an old one) to get exactly that behaviour in place of the
 * library's, and watch the readiness tests fail.
 */
#include "testutil.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef TEST_POLL_VIA_FILENO
/* Readiness as seen from the descriptor only (the old advice). */
#ifndef IPC_POLLIN
#define IPC_POLLIN 0x001
#define IPC_POLLOUT 0x004
#define IPC_POLLERR 0x008
#define IPC_POLLHUP 0x010
#define IPC_POLLNVAL 0x020
struct ipc_pollitem {
    int handle;
    short events;
    short revents;
};
#endif
static int fd_poll(struct ipc_pollitem *it, size_t n, int timeout_ms)
{
    struct pollfd p[64];
    for (size_t i = 0; i < n; i++) {
        p[i].fd = ipc_fileno(it[i].handle);
        p[i].events = (short)((it[i].events & IPC_POLLIN ? POLLIN : 0) |
                              (it[i].events & IPC_POLLOUT ? POLLOUT : 0));
    }
    int r = poll(p, n, timeout_ms);
    for (size_t i = 0; i < n; i++) {
        short e = p[i].revents;
        it[i].revents = (short)((e & POLLIN ? IPC_POLLIN : 0) |
                                (e & POLLOUT ? IPC_POLLOUT : 0) |
                                (e & POLLHUP ? IPC_POLLHUP : 0) |
                                (e & POLLERR ? IPC_POLLERR : 0) |
                                (e & POLLNVAL ? IPC_POLLNVAL : 0));
    }
    return r;
}
static int fd_pending(int h)
{
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    return fd_poll(&it, 1, 0) > 0;
}
#define ipc_poll fd_poll
#define ipc_pending fd_pending
#endif

/* Write `count` frames "m<i>" back to back, in one write. */
static void burst(int raw, int first, int count)
{
    size_t cap = (size_t)count * 32, at = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = first; i < first + count; i++) {
        char text[24];
        int len = snprintf(text, sizeof(text), "m%d", i);
        tu_header(buf + at, (uint32_t)len);
        memcpy(buf + at + 4, text, (size_t)len);
        at += 4 + (size_t)len;
    }
    assert_int_equal(tu_write_all(raw, buf, at), 0);
    free(buf);
}

static void expect_msg(int h, int i)
{
    char want[24];
    snprintf(want, sizeof(want), "m%d", i);
    void *data;
    size_t len;
    assert_ok(ipc_recv_timeout(h, &data, &len, 0));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    ipc_free(data);
}

/* A burst of 100 frames: poll says ready before each of them, and a recv
 * that does not wait gets it. Waiting on the descriptor stalls after the
 * first recv, which took all 100 into the handle. */
static void test_burst_one_pipe(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    burst(raw, 0, 100);
    for (int i = 0; i < 100; i++) {
        struct ipc_pollitem it = {h, IPC_POLLIN, 0};
        int r = ipc_poll(&it, 1, 500);
        if (r != 1) {
            fail_msg("poll before frame %d of a burst of 100 returned %d", i,
                     r);
        }
        assert_true(it.revents & IPC_POLLIN);
        expect_msg(h, i);
    }
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    assert_int_equal(it.revents, 0);
    close(raw);
    assert_ok(ipc_close(h));
}

/* Exactly the report of the issue: after the first recv of a burst the
 * descriptor says nothing, ipc_pending says a frame is there. */
static void test_fileno_blind_pending_sees(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    burst(raw, 0, 2);
    tu_sleep_ms(20); /* both frames in the kernel before the recv */
    void *data;
    size_t len;
    assert_ok(ipc_recv_timeout(h, &data, &len, 1000));
    ipc_free(data);
    struct pollfd p = {ipc_fileno(h), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0); /* what the kernel sees */
    assert_int_equal(ipc_pending(h), 1); /* what the handle holds */
    expect_msg(h, 1);
    assert_int_equal(ipc_pending(h), 0);
    close(raw);
    assert_ok(ipc_close(h));
}

/* Bursts on four pipes at once, served by one loop: every poll finds
 * something, and every frame of every pipe arrives in order. */
static void test_burst_many_pipes(void **state)
{
    (void)state;
    enum { PIPES = 4, EACH = 60 };
    int raw[PIPES], next[PIPES] = {0};
    struct ipc_pollitem it[PIPES];
    for (int k = 0; k < PIPES; k++) {
        it[k].handle = tu_raw_pair(&raw[k]);
        it[k].events = IPC_POLLIN;
    }
    for (int k = 0; k < PIPES; k++) {
        burst(raw[k], 0, EACH / 2);
        burst(raw[k], EACH / 2, EACH / 2);
    }
    int left = PIPES * EACH;
    while (left > 0) {
        int r = ipc_poll(it, PIPES, 500);
        if (r <= 0) {
            fail_msg("poll returned %d with %d of %d frames not received", r,
                     left, PIPES * EACH);
        }
        for (int k = 0; k < PIPES; k++) {
            if (it[k].revents & IPC_POLLIN) {
                expect_msg(it[k].handle, next[k]++);
                left--;
            }
        }
    }
    for (int k = 0; k < PIPES; k++) {
        assert_int_equal(next[k], EACH);
        close(raw[k]);
        assert_ok(ipc_close(it[k].handle));
    }
}

/* Part of a frame is not readiness: poll waits on (the descriptor said
 * "readable"), and says ready once the frame is whole. */
static void test_partial_frame_is_not_ready(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    unsigned char hdr[4];
    tu_header(hdr, 10);
    assert_int_equal(tu_write_all(raw, hdr, 4), 0);
    assert_int_equal(tu_write_all(raw, "hello", 5), 0);
    tu_sleep_ms(20);
    assert_int_equal(ipc_pending(h), 0);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    long long t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 100), 0);
    assert_true(tu_now_ms() - t0 >= 90);
    assert_int_equal(tu_write_all(raw, "world", 5), 0);
    assert_int_equal(ipc_poll(&it, 1, 2000), 1);
    assert_int_equal(it.revents, IPC_POLLIN);
    void *data;
    size_t len;
    assert_ok(ipc_recv_timeout(h, &data, &len, 0));
    assert_int_equal(len, 10);
    assert_memory_equal(data, "helloworld", 10);
    ipc_free(data);
    close(raw);
    assert_ok(ipc_close(h));
}

/* A listener with three clients queued: pending and poll say so, and
 * three accepts that do not wait succeed. */
static void test_listener_clients_queued(void **state)
{
    (void)state;
    const char *name = tu_name();
    int l = assert_handle(ipc_listen(name));
    struct ipc_pollitem it = {l, IPC_POLLIN, 0};
    assert_int_equal(ipc_pending(l), 0);
    assert_int_equal(ipc_poll(&it, 1, 30), 0);
    int c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = tu_raw_connect(name);
        assert_true(c[i] >= 0);
    }
    assert_int_equal(ipc_pending(l), 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ipc_poll(&it, 1, 1000), 1);
        assert_int_equal(it.revents, IPC_POLLIN);
        int p = assert_handle(ipc_accept(l, 0));
        assert_ok(ipc_close(p));
    }
    assert_int_equal(ipc_pending(l), 0);
    assert_int_equal(ipc_poll(&it, 1, 30), 0);
    for (int i = 0; i < 3; i++)
        close(c[i]);
    assert_ok(ipc_close(l));
}

/* A pipe and a listener in one poll, and a closed handle reported as
 * such. */
static void test_mixed_and_nval(void **state)
{
    (void)state;
    const char *name = tu_name();
    int l = assert_handle(ipc_listen(name));
    int raw;
    int h = tu_raw_pair(&raw);
    int gone = assert_handle(ipc_listen(tu_name()));
    assert_ok(ipc_close(gone));
    struct ipc_pollitem it[3] = {
        {h, IPC_POLLIN, 0}, {l, IPC_POLLIN, 0}, {gone, IPC_POLLIN, 0}};
    assert_int_equal(ipc_poll(it, 2, 30), 0);
    assert_int_equal(ipc_poll(it, 3, 1000), 1);
    assert_int_equal(it[2].revents, IPC_POLLNVAL);
    int c = tu_raw_connect(name);
    burst(raw, 0, 3);
    long long t0 = tu_now_ms();
    int r;
    while ((r = ipc_poll(it, 2, 1000)) == 1 && tu_now_ms() - t0 < 1000)
        tu_sleep_ms(5); /* until both are seen */
    assert_int_equal(r, 2);
    assert_int_equal(it[0].revents, IPC_POLLIN);
    assert_int_equal(it[1].revents, IPC_POLLIN);
    assert_int_equal(ipc_pending(gone), IPC_EBADHANDLE);
    close(c);
    close(raw);
    assert_ok(ipc_close(h));
    assert_ok(ipc_close(l));
}

/* The peer sends two frames and goes: both are reported and received,
 * then the end is (IN with HUP), and recv says IPC_ECLOSED at once. */
static void test_hangup_after_frames(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    burst(raw, 0, 2);
    close(raw);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ipc_poll(&it, 1, 1000), 1);
        assert_true(it.revents & IPC_POLLIN);
        expect_msg(h, i);
    }
    assert_int_equal(ipc_poll(&it, 1, 1000), 1);
    assert_true(it.revents & IPC_POLLIN);
    assert_true(it.revents & IPC_POLLHUP);
    void *data;
    size_t len;
    assert_status(ipc_recv_timeout(h, &data, &len, 0), IPC_ECLOSED);
    assert_ok(ipc_close(h));
}

/* Time: 0 looks once, a timeout is kept, n == 0 sleeps. */
static void test_timeouts(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    long long t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    assert_true(tu_now_ms() - t0 < 50);
    t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 150), 0);
    long long took = tu_now_ms() - t0;
    assert_true(took >= 140 && took < 3000);
    t0 = tu_now_ms();
    assert_int_equal(ipc_poll(NULL, 0, 60), 0);
    assert_true(tu_now_ms() - t0 >= 50);
    assert_status(ipc_poll(NULL, 1, 0), IPC_EINVAL);
    close(raw);
    assert_ok(ipc_close(h));
}

static atomic_int hook_calls;
static int hook_stop_after; /* stop on this call (0: never) */

static int counting_hook(void *arg)
{
    (void)arg;
    int n = atomic_fetch_add(&hook_calls, 1) + 1;
    return hook_stop_after > 0 && n >= hook_stop_after;
}

/* IPC_FOREVER with the hook: consulted every slice, and its stop ends the
 * wait with IPC_EINTR; a hook that lets go keeps the timeout. */
static void test_hook_and_forever(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    atomic_store(&hook_calls, 0);
    hook_stop_after = 3;
    ipc_set_interrupt_hook(counting_hook, NULL);
    long long t0 = tu_now_ms();
    assert_status(ipc_poll(&it, 1, IPC_FOREVER), IPC_EINTR);
    long long took = tu_now_ms() - t0;
    assert_int_equal(atomic_load(&hook_calls), 3);
    assert_true(took >= 2 * IPC_INTERRUPT_SLICE_MS - 10 && took < 3000);
    assert_last_error_has("interrupted");

    atomic_store(&hook_calls, 0);
    hook_stop_after = 0;
    t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 3 * IPC_INTERRUPT_SLICE_MS), 0);
    assert_true(atomic_load(&hook_calls) >= 2);
    assert_true(tu_now_ms() - t0 >= 3 * IPC_INTERRUPT_SLICE_MS - 10);

    /* A frame arriving during a FOREVER wait with a hook ends it. */
    burst(raw, 7, 1);
    assert_int_equal(ipc_poll(&it, 1, IPC_FOREVER), 1);
    expect_msg(h, 7);
    ipc_set_interrupt_hook(NULL, NULL);
    close(raw);
    assert_ok(ipc_close(h));
}

struct drain {
    int fd;
    size_t want, got;
};

static void *drain_thread(void *arg)
{
    struct drain *d = arg;
    char buf[65536];
    while (d->got < d->want) {
        ssize_t n = recv(d->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        d->got += (size_t)n;
    }
    return NULL;
}

/* A send that ran out of time after committing its message: the pipe is
 * not writable while the rest is kept; poll pushes the rest as the peer
 * reads, then says writable, and the peer has the whole frame. */
static void test_committed_rest_not_writable(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    size_t big = 8u << 20;
    unsigned char *msg = tu_pattern(big, 1);
    assert_ok(ipc_send_timeout(h, msg, big, 20)); /* committed, not out */
    struct ipc_pollitem it = {h, IPC_POLLOUT | IPC_POLLIN, 0};
    assert_int_equal(ipc_poll(&it, 1, 0), 0);
    assert_int_equal(ipc_pending(h), 0);
    struct drain *d = calloc(1, sizeof(*d));
    d->fd = raw;
    d->want = big + 4;
    pthread_t t;
    tu_thread_start(&t, drain_thread, d);
    it.events = IPC_POLLOUT;
    assert_int_equal(ipc_poll(&it, 1, 20000), 1);
    assert_int_equal(it.revents, IPC_POLLOUT);
    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_int_equal(d->got, big + 4);
    assert_ok(ipc_flush(h, 0)); /* nothing left */
    free(d);
    free(msg);
    close(raw);
    assert_ok(ipc_close(h));
}

struct blocked_recv {
    int h;
    int rc;
    size_t len;
};

static void *recv_thread(void *arg)
{
    struct blocked_recv *b = arg;
    void *data = NULL;
    b->rc = ipc_recv_timeout(b->h, &data, &b->len, 10000);
    ipc_free(data);
    return NULL;
}

/* Another thread's recv holds the receive lock: that recv gets the
 * message, and poll neither reports it nor spins; it looks again every
 * few milliseconds and returns at its deadline. */
static void test_busy_pipe_goes_to_its_recv(void **state)
{
    (void)state;
    int raw;
    int h = tu_raw_pair(&raw);
    struct blocked_recv *b = calloc(1, sizeof(*b));
    b->h = h;
    pthread_t t;
    tu_thread_start(&t, recv_thread, b);
    tu_sleep_ms(50); /* the thread is in its recv */
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    long long t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 100), 0);
    assert_true(tu_now_ms() - t0 >= 90);
    burst(raw, 0, 1);
    assert_int_equal(tu_thread_join(t, 10000), 0);
    assert_ok(b->rc);
    assert_int_equal(b->len, 2);
    free(b);
    close(raw);
    assert_ok(ipc_close(h));
}

static void *close_later(void *arg)
{
    tu_sleep_ms(50);
    ipc_close(*(int *)arg);
    return NULL;
}

/* ipc_close() from another thread wakes a poll waiting on the handle. */
static void test_close_wakes_poll(void **state)
{
    (void)state;
    int raw;
    static int h;
    h = tu_raw_pair(&raw);
    pthread_t t;
    tu_thread_start(&t, close_later, &h);
    struct ipc_pollitem it = {h, IPC_POLLIN, 0};
    long long t0 = tu_now_ms();
    assert_int_equal(ipc_poll(&it, 1, 5000), 1);
    assert_true(tu_now_ms() - t0 < 4000);
    assert_true(it.revents & (IPC_POLLHUP | IPC_POLLIN));
    assert_int_equal(tu_thread_join(t, 5000), 0);
    assert_int_equal(ipc_poll(&it, 1, 0), 1);
    assert_int_equal(it.revents, IPC_POLLNVAL);
    close(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_burst_one_pipe, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_fileno_blind_pending_sees,
                                        tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_burst_many_pipes, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_partial_frame_is_not_ready,
                                        tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_listener_clients_queued, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_and_nval, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_hangup_after_frames, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_hook_and_forever, tu_setup,
                                        tu_teardown),
        cmocka_unit_test_setup_teardown(test_committed_rest_not_writable,
                                        tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_busy_pipe_goes_to_its_recv,
                                        tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_close_wakes_poll, tu_setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
