/*
 * test_integrity.c - never corrupt, never wedge: sends that stop
 * mid-frame, the interrupt hook calling back into the library, and errors
 * that name the pipe. Each of these failed (or hung) before the fix.
 *
 * The same suite on Linux and on Windows (under wine). Creates racing over
 * a stale socket file and liveness by the socket's identity are
 * posix/test_integrity_posix.c.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BIG ((size_t)8 << 20)

/* ---- a raw peer that reads whole frames ------------------------------- */

struct frames {
    tu_raw fd;
    int want; /* stop after this many frames (or at EOF) */
    int got;
    size_t len[4];
    int pure[4]; /* every byte of frame i is fill[i] */
    unsigned char fill[4];
    int err;
};

static int read_full(tu_raw fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        long long k = tu_raw_read(fd, p, n);
        if (k <= 0)
            return k == 0 ? 0 : -1;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static void *frame_reader(void *arg)
{
    struct frames *f = arg;
    unsigned char *buf = malloc(BIG);
    while (buf != NULL && f->got < f->want) {
        unsigned char h[4];
        if (read_full(f->fd, h, 4) != 1)
            break;
        size_t n =
            (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (n > BIG || read_full(f->fd, buf, n) != 1) {
            f->err = 1;
            break;
        }
        int i = f->got++;
        f->len[i] = n;
        f->fill[i] = n ? buf[0] : 0;
        f->pure[i] = 1;
        for (size_t k = 0; k < n; k++) {
            if (buf[k] != f->fill[i]) {
                f->pure[i] = 0;
                break;
            }
        }
    }
    free(buf);
    return NULL;
}

/* ---- sends that stop mid-frame ---------------------------------------- */

struct sender {
    int h;
    unsigned char *msg;
    int retry; /* send again on IPC_ETIMEDOUT */
    int status;
};

/* Send with a 50 ms timeout (until through, with `retry`): IPC_ETIMEDOUT
 * means nothing of the message went, so sending it again is what a user
 * would do. */
static void *send_retrying(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < (s->retry ? 400 : 1); i++) {
        s->status = ipc_send_timeout(s->h, s->msg, BIG, 50);
        if (s->status != IPC_ETIMEDOUT)
            break;
    }
    return NULL;
}

/* Two threads send different 8 MiB messages with short timeouts to a peer
 * that is not reading yet: A once, B until it is through. Before the fix,
 * A's timed-out send left half a frame, and B's send of the same length
 * finished it with its own bytes: one frame of A's and B's. */
static void racing_timed_out_sends_never_splice(void **state)
{
    (void)state;
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    struct sender a = {h, malloc(BIG), 0, -99}, b = {h, malloc(BIG), 1, -99};
    assert_non_null(a.msg);
    assert_non_null(b.msg);
    memset(a.msg, 'A', BIG);
    memset(b.msg, 'B', BIG);
    tu_thread ta, tb, tr;
    tu_thread_start(&ta, send_retrying, &a);
    tu_sleep_ms(10);
    tu_thread_start(&tb, send_retrying, &b);
    tu_sleep_ms(300); /* both have timed out at least once by now */
    struct frames f = {.fd = raw, .want = 2};
    tu_thread_start(&tr, frame_reader, &f);
    assert_int_equal(tu_thread_join(ta, 60000), 0);
    assert_int_equal(tu_thread_join(tb, 60000), 0);
    /* The last one may be committed with its rest kept: push it out. */
    assert_ok(ipc_flush(h, 60000));
    ipc_close(h); /* the reader sees the end after what was sent */
    assert_int_equal(tu_thread_join(tr, 60000), 0);
    assert_int_equal(f.err, 0);
    for (int i = 0; i < f.got; i++) {
        if (!f.pure[i])
            fail_msg("frame %d mixes two messages (starts with '%c')", i,
                     f.fill[i]);
    }
    /* A's send was committed (part of it had gone), so both arrive. */
    assert_status(a.status, IPC_OK);
    assert_status(b.status, IPC_OK);
    assert_int_equal(f.got, 2);
    assert_int_equal(f.len[0], BIG);
    assert_int_equal(f.len[1], BIG);
    assert_true(f.fill[0] == 'A' && f.fill[1] == 'B');
    free(a.msg);
    free(b.msg);
    tu_raw_close(raw);
}

struct blocking_send {
    int h;
    const void *msg;
    size_t len;
    int status;
};

static void *send_blocking(void *arg)
{
    struct blocking_send *s = arg;
    s->status = ipc_send(s->h, s->msg, s->len);
    return NULL;
}

/* Right after a send timed out mid-frame, a different message may be sent
 * (before the fix: IPC_EINVAL, "send that same message again first"), and
 * both arrive whole, in order. */
static void other_message_right_after_timed_out_send(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    unsigned char *big = tu_pattern(BIG, 7);
    assert_ok(ipc_send_timeout(a, big, BIG, 50)); /* committed */
    struct blocking_send s = {a, "next", 4, -99};
    tu_thread t;
    tu_thread_start(&t, send_blocking, &s);
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(b, &d, &n, 20000));
    assert_int_equal(n, BIG);
    assert_true(tu_check_fill(d, n, 7));
    ipc_free(d);
    assert_ok(ipc_recv_timeout(b, &d, &n, 20000));
    assert_int_equal(n, 4);
    assert_memory_equal(d, "next", 4);
    ipc_free(d);
    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_status(s.status, IPC_OK);
    free(big);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

struct replier {
    int h;
    int ok;
};

/* The peer: read the request, check it, answer. */
static void *reply_thread(void *arg)
{
    struct replier *r = arg;
    void *d = NULL;
    size_t n = 0;
    int ok = ipc_recv_timeout(r->h, &d, &n, 20000) == 0 && n == BIG &&
             tu_check_fill(d, n, 9);
    ipc_free(d);
    r->ok = ok && ipc_send(r->h, "reply", 5) == 0;
    return NULL;
}

/* A recv finishes a committed rest first, so a request whose send ran out
 * of time reaches the peer before we wait for its reply. (The peer is a
 * thread: the handles are this process's; a forked peer added nothing.) */
static void recv_finishes_a_committed_send(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    unsigned char *big = tu_pattern(BIG, 9);
    assert_ok(ipc_send_timeout(a, big, BIG, 20)); /* committed */
    /* The peer reads the request and answers; our recv pushes the rest. */
    static struct replier r;
    r.h = b;
    r.ok = 0;
    tu_thread t;
    tu_thread_start(&t, reply_thread, &r);
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(a, &d, &n, 20000));
    assert_int_equal(n, 5);
    assert_memory_equal(d, "reply", 5);
    ipc_free(d);
    assert_int_equal(tu_thread_join(t, 20000), 0);
    assert_true(r.ok);
    free(big);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* ---- the hook calling back into the library --------------------------- */

static atomic_int g_hook_armed;
static atomic_int g_hook_status = -99;
static atomic_int g_hook_handle;

/* As a Python signal handler that sends on the pipe: once armed, send (no
 * timeout) from inside the hook, then let the blocked call go on. */
static int sending_hook(void *arg)
{
    (void)arg;
    if (atomic_exchange(&g_hook_armed, 0)) {
        atomic_store(&g_hook_status,
                     ipc_send(atomic_load(&g_hook_handle), "hook", 4));
    }
    return 0;
}

static int hook_send_child(void)
{
    tu_raw raw;
    int h = tu_raw_pair(&raw);
    atomic_store(&g_hook_handle, h);
    ipc_set_interrupt_hook(sending_hook, NULL);
    unsigned char *big = tu_pattern(BIG, 3);
    atomic_store(&g_hook_armed, 1);
    /* Blocked: nobody reads. The hook runs within the first slice. */
    int rc = ipc_send_timeout(h, big, BIG, 500);
    ipc_set_interrupt_hook(NULL, NULL);
    /* Inside the hook a send cannot wait for the lock its own thread's
     * send holds: refused at once, with a message that says why. */
    if (atomic_load(&g_hook_status) != IPC_EINVAL)
        return 10;
    if (rc != IPC_OK) /* the big send is committed */
        return 11;
    free(big);
    tu_raw_close(raw);
    ipc_close(h);
    return 0;
}

/* This program run again as that child, with a temp dir of its own. */
static int hook_send_child_main(void)
{
    if (tu_setup(NULL) != 0)
        return 2;
    int rc = hook_send_child();
    tu_teardown(NULL);
    return rc;
}

/* Before the fix the hook's send waited forever for the lock that the
 * send below it held: the child hung and was killed. (A child process
 * with a bounded wait, so a deadlock is a failure, not a hung suite.) */
static void hook_sends_during_blocked_send(void **state)
{
    (void)state;
    const char *args[] = {"--hook-send-child", NULL};
    int rc = tos_run_self(args, 15000);
    if (rc == -1) /* still running at the bound: deadlocked */
        fail_msg("the hook-send child did not finish: %s", tos_error());
    assert_int_equal(rc, 0);
}

struct blocked_recv {
    int h;
    int status;
    size_t len;
};

static void *recv_thread(void *arg)
{
    struct blocked_recv *r = arg;
    void *d;
    r->status = ipc_recv_timeout(r->h, &d, &r->len, 20000);
    if (r->status == 0)
        ipc_free(d);
    return NULL;
}

/* A send from the hook while a recv is blocked on the same pipe takes the
 * other lock and goes through. */
static void hook_sends_during_blocked_recv(void **state)
{
    (void)state;
    int a, b;
    tu_lib_pair(&a, &b);
    atomic_store(&g_hook_handle, a);
    atomic_store(&g_hook_status, -99);
    ipc_set_interrupt_hook(sending_hook, NULL);
    struct blocked_recv r = {a, -99, 0};
    tu_thread t;
    tu_thread_start(&t, recv_thread, &r);
    atomic_store(&g_hook_armed, 1);
    void *d;
    size_t n;
    assert_ok(ipc_recv_timeout(b, &d, &n, 20000));
    assert_int_equal(n, 4);
    assert_memory_equal(d, "hook", 4);
    ipc_free(d);
    assert_ok(ipc_send(b, "done", 4));
    assert_int_equal(tu_thread_join(t, 20000), 0);
    ipc_set_interrupt_hook(NULL, NULL);
    assert_status(r.status, IPC_OK);
    assert_status(atomic_load(&g_hook_status), IPC_OK);
    assert_ok(ipc_close(a));
    assert_ok(ipc_close(b));
}

/* ---- errors name the pipe --------------------------------------------- */

static void errors_name_the_pipe_and_path(void **state)
{
    (void)state;
    const char *name = tu_name();
    char path[IPC_PATH_MAX];
    assert_true(ipc_path(name, path, sizeof path) > 0);
    int l = assert_handle(ipc_listen(name));
    int c = assert_handle(ipc_connect_timeout(name, 5000));
    int s = assert_handle(ipc_accept(l, 5000));
    void *d;
    size_t n;
    assert_status(ipc_recv_timeout(c, &d, &n, 0), IPC_ETIMEDOUT);
    assert_last_error_has(name);
    assert_last_error_has(path);
    assert_status(ipc_recv_timeout(s, &d, &n, 0), IPC_ETIMEDOUT);
    assert_last_error_has(name);
    assert_status(ipc_accept(l, 0), IPC_ETIMEDOUT);
    assert_last_error_has(name);
    assert_ok(ipc_close(c));
    assert_status(ipc_recv_timeout(s, &d, &n, 5000), IPC_ECLOSED);
    assert_last_error_has(path);
    assert_ok(ipc_close(s));
    assert_ok(ipc_close(l));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--hook-send-child") == 0)
        return hook_send_child_main();
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(racing_timed_out_sends_never_splice),
        T(other_message_right_after_timed_out_send),
        T(recv_finishes_a_committed_send),
        T(hook_sends_during_blocked_send),
        T(hook_sends_during_blocked_recv),
        T(errors_name_the_pipe_and_path),
    };
    return cmocka_run_group_tests_name("integrity", tests, NULL, NULL);
}
