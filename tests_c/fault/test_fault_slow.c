/*
 * test_fault_slow.c - a reader that reads slowly while the sender fills
 * the socket buffer.
 *
 * - ipc_send() blocks while the buffer is full and completes once the
 *   reader catches up;
 * - ipc_send_timeout() that runs out of time in the middle of a frame
 *   commits the message (0): the rest goes before anything else, a later
 *   message that cannot get past it in time is not sent at all
 *   (IPC_ETIMEDOUT, retried here), and the reader sees every message
 *   whole, once, in order;
 * - a reader that goes away while the sender is blocked wakes it with
 *   IPC_ECLOSED.
 *
 * The slow reader polls with ipc_recv_timeout(h, .., 0) and sleeps between
 * calls, so large messages reach it in pieces across timed-out receives
 * (which must keep the partial frame). One test makes that deterministic
 * by stopping the sending process (SIGSTOP) whenever the reader looks.
 */
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STREAM 7

struct slow_reader {
    int h;
    int expect;     /* messages to read, then stop */
    int sleep_us;   /* between polls */
    uint32_t first; /* seq of the first message */
    int got;
    long timeouts; /* receives that timed out (partial frames kept) */
    tu_err *err;
};

static void *slow_reader_thread(void *arg)
{
    struct slow_reader *r = arg;
    uint32_t want = r->first;
    long long give_up = tu_now_ms() + 120000;
    while (r->got < r->expect && tu_now_ms() < give_up) {
        void *d;
        size_t n;
        int rc = ipc_recv_timeout(r->h, &d, &n, 0);
        if (rc == IPC_ETIMEDOUT) {
            r->timeouts++;
            tu_sleep_us(r->sleep_us);
            continue;
        }
        if (rc != 0) {
            tu_err_set(r->err, "reader: after %d messages: %s: %s", r->got,
                       ipc_errname(rc), ipc_last_error());
            return NULL;
        }
        uint32_t st, seq;
        char why[128];
        if (tu_msg_parse(d, n, &st, &seq, why) != 0) {
            tu_err_set(r->err, "reader: message %d: %s", r->got, why);
            ipc_free(d);
            return NULL;
        }
        ipc_free(d);
        if (st != STREAM || seq != want) {
            tu_err_set(r->err, "reader: got seq %u, expected %u", seq, want);
            return NULL;
        }
        want++;
        r->got++;
    }
    if (r->got < r->expect) {
        tu_err_set(r->err, "reader: only %d of %d messages", r->got, r->expect);
    }
    return NULL;
}

struct blocking_send {
    int h;
    const void *m;
    size_t len;
    int rc;
    atomic_int done;
};

static void *blocking_send_thread(void *arg)
{
    struct blocking_send *s = arg;
    s->rc = ipc_send(s->h, s->m, s->len);
    atomic_store(&s->done, 1);
    return NULL;
}

/* ipc_send of 8 MiB blocks until a slow reader has taken it all. */
static void send_blocks_until_slow_reader_catches_up(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    size_t len = 8u << 20;
    void *m = tu_msg_make(STREAM, 0, len);
    assert_non_null(m);
    struct blocking_send s = {a, m, len, 0, 0};
    pthread_t t;
    tu_thread_start(&t, blocking_send_thread, &s);

    tu_sleep_ms(200);
    assert_false(atomic_load(&s.done)); /* blocked: the buffer is full */

    tu_err err = TU_ERR_INIT;
    struct slow_reader r = {
        .h = b, .expect = 1, .sleep_us = 2000, .first = 0, .err = &err};
    slow_reader_thread(&r);
    assert_no_err(&err);
    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_status(s.rc, 0);
    /* How many polls it took depends on the scheduler; the test below
     * makes the pieces deterministic. */
    printf("# 8 MiB read in %ld timed-out polls\n", r.timeouts);
    free(m);
    assert_status(ipc_close(a), 0);
    assert_status(ipc_close(b), 0);
}

struct stopped_sender {
    const char *name;
    size_t len;
    int done_r, done_w; /* the parent closes done_w: the child may exit */
};

static int stopped_sender_child(void *arg)
{
    struct stopped_sender *s = arg;
    close(s->done_w);
    void *m = tu_msg_make(STREAM, 0, s->len);
    child_check_code(m != NULL, 2);
    int h = ipc_connect_timeout(s->name, 20000);
    child_check_code(h > 0, 3);
    child_check_code(ipc_send(h, m, s->len) == 0, 4);
    /* Stay until the parent has read everything. */
    tu_wait_fd(s->done_r, 60000);
    ipc_close(h);
    free(m);
    return 0;
}

/* The sender process is stopped (SIGSTOP) whenever the reader looks, so
 * every receive finds only part of the frame and must time out keeping
 * what it has; the message arrives whole after many such receives. */
static void stopped_sender_partial_frames_kept(void **state)
{
    (void)state;
    const char *name = tu_name();
    int l = assert_handle(ipc_listen(name));
    int done[2];
    tu_pipe(done);
    struct stopped_sender ss = {name, 8u << 20, done[0], done[1]};
    pid_t pid = tu_fork(stopped_sender_child, &ss);
    close(done[0]);
    int b = assert_handle(ipc_accept(l, 20000));
    assert_status(ipc_close(l), 0);

    long polls = 0;
    void *d = NULL;
    size_t n = 0;
    for (;;) {
        assert_int_equal(kill(pid, SIGSTOP), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
        assert_true(WIFSTOPPED(st));
        int rc = ipc_recv_timeout(b, &d, &n, 0);
        assert_int_equal(kill(pid, SIGCONT), 0);
        if (rc == 0) {
            break;
        }
        if (rc != IPC_ETIMEDOUT) {
            fail_msg("recv after %ld polls: %s: %s", polls, ipc_errname(rc),
                     ipc_last_error());
        }
        polls++;
        tu_sleep_ms(2);
    }
    uint32_t stream, seq;
    char why[128];
    if (tu_msg_parse(d, n, &stream, &seq, why) != 0) {
        fail_msg("%s", why);
    }
    ipc_free(d);
    assert_int_equal(n, ss.len);
    printf("# 8 MiB assembled over %ld timed-out receives\n", polls);
    /* The socket buffer is far smaller than 8 MiB: many pieces. */
    assert_true(polls >= 4);
    close(done[1]);
    assert_int_equal(tu_wait(pid, 30000), 0);
    assert_status(ipc_recv_timeout(b, &d, &n, 5000), IPC_ECLOSED);
    assert_status(ipc_close(b), 0);
}

/* Send with a timeout until done; counts the timeouts. IPC_ETIMEDOUT
 * means nothing of the message was sent, so sending it again is right. */
static int send_resuming(int h, const void *m, size_t len, int timeout_ms,
                         long *timeouts)
{
    for (;;) {
        int rc = ipc_send_timeout(h, m, len, timeout_ms);
        if (rc != IPC_ETIMEDOUT) {
            return rc;
        }
        ++*timeouts;
    }
}

static void send_timeouts_never_splice_or_repeat(void **state)
{
    (void)state;
    uint32_t seed = tu_seed();
    int a, b;
    tu_lib_pair(&a, &b);

    /* Nobody reads: a 4 MiB send times out with part of it written. */
    size_t big_len = 4u << 20;
    void *big = tu_msg_make(STREAM, 0, big_len);
    void *small = tu_msg_make(STREAM, 1, 100);
    assert_non_null(big);
    assert_non_null(small);
    long long t0 = tu_now_ms();
    assert_status(ipc_send_timeout(a, big, big_len, 50), 0);
    assert_true(tu_now_ms() - t0 >= 49);
    /* It is committed: another message cannot slip into the middle of it,
     * and times out having sent nothing while nobody reads. */
    assert_status(ipc_send_timeout(a, small, 100, 0), IPC_ETIMEDOUT);
    assert_status(ipc_send_timeout(a, small, 100, 20), IPC_ETIMEDOUT);

    int n_msgs = TU_SCALE(60, 12);
    tu_err err = TU_ERR_INIT;
    struct slow_reader r = {.h = b,
                            .expect = 2 + n_msgs,
                            .sleep_us = 1000,
                            .first = 0,
                            .err = &err};
    pthread_t t;
    tu_thread_start(&t, slow_reader_thread, &r);

    long timeouts = 0;
    /* The committed one is not sent again: the next message follows it. */
    assert_status(send_resuming(a, small, 100, 5, &timeouts), 0);
    free(big);
    free(small);

    /* A stream of mixed sizes, each sent with a short random timeout and
     * resumed until it is through. */
    for (int i = 0; i < n_msgs; i++) {
        uint32_t x = tu_rand(&seed);
        size_t len =
            x % 3 == 0 ? TU_MSG_MIN + x % 300 : 64 * 1024 + x % (2u << 20);
        void *m = tu_msg_make(STREAM, (uint32_t)(2 + i), len);
        assert_non_null(m);
        int rc =
            send_resuming(a, m, len, (int)(tu_rand(&seed) % 10), &timeouts);
        free(m);
        if (rc != 0) {
            fail_msg("send %d: %s: %s", i, ipc_errname(rc), ipc_last_error());
        }
    }
    /* The last one may be committed with its rest still kept. */
    assert_status(ipc_flush(a, 120000), 0);
    assert_int_equal(tu_thread_join(t, 120000), 0);
    assert_no_err(&err);
    assert_int_equal(r.got, 2 + n_msgs);
    printf("# %d messages; sender timed out %ld times, reader %ld times\n",
           r.got, timeouts, r.timeouts);
    assert_true(timeouts > 0);

    /* Nothing is left over in either direction. */
    void *d;
    size_t n;
    assert_status(ipc_close(a), 0);
    assert_status(ipc_recv_timeout(b, &d, &n, 5000), IPC_ECLOSED);
    assert_status(ipc_close(b), 0);
}

/* The reader goes away while the sender is blocked on a full buffer. */
static void reader_gone_while_send_blocked(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    size_t len = 8u << 20;
    void *m = tu_msg_make(STREAM, 0, len);
    assert_non_null(m);
    struct blocking_send s = {a, m, len, 0, 0};
    pthread_t t;
    tu_thread_start(&t, blocking_send_thread, &s);
    tu_sleep_ms(100);
    assert_false(atomic_load(&s.done));
    assert_status(ipc_close(b), 0);
    assert_int_equal(tu_thread_join(t, 10000), 0);
    assert_status(s.rc, IPC_ECLOSED);
    assert_status(ipc_send(a, "x", 1), IPC_ECLOSED);
    assert_status(ipc_close(a), 0);
    free(m);
}

/* The sender's own handle is closed by another thread while it is blocked
 * in a send with a timeout. */
static void own_close_wakes_blocked_send(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    size_t len = 8u << 20;
    void *m = tu_msg_make(STREAM, 0, len);
    assert_non_null(m);
    struct blocking_send s = {a, m, len, 0, 0};
    pthread_t t;
    tu_thread_start(&t, blocking_send_thread, &s);
    tu_sleep_ms(100);
    assert_false(atomic_load(&s.done));
    assert_status(ipc_close(a), 0);
    assert_int_equal(tu_thread_join(t, 10000), 0);
    assert_status(s.rc, IPC_ECLOSED);
    /* The reader sees the cut frame as a protocol error, never as a
     * message. */
    void *d;
    size_t n;
    assert_status(ipc_recv_timeout(b, &d, &n, 5000), IPC_EPROTO);
    assert_status(ipc_close(b), 0);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            send_blocks_until_slow_reader_catches_up, tu_guarded_setup,
            tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(stopped_sender_partial_frames_kept,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(send_timeouts_never_splice_or_repeat,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(reader_gone_while_send_blocked,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(own_close_wakes_blocked_send,
                                        tu_guarded_setup, tu_guarded_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
