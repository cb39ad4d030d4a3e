/*
 * test_fault_signals.c - a timer signal every 100 us, without SA_RESTART,
 * in both processes while they send and receive large messages: every
 * system call the library makes keeps being interrupted (EINTR, short
 * reads and writes), and still nothing is lost, nothing duplicated,
 * nothing corrupted.
 *
 * The client (a child process) sends messages of up to 4 MiB and the
 * server (the test process) echoes each back, so both sides send and
 * receive under the storm. Calls alternate between the plain blocking
 * ones, the timeout variants (poll path) and, in the second half, with an
 * interrupt hook installed that always says "go on" (the Python binding's
 * case).
 *
 * The timers are POSIX timers (timer_create) delivering SIGUSR1, so they
 * do not disturb the alarm() safety net. Under valgrind they tick every
 * 10 ms instead (see start_ticks).
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;
static atomic_long hook_calls;

static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

static int hook_go_on(void *arg)
{
    (void)arg;
    atomic_fetch_add(&hook_calls, 1);
    return 0;
}

static timer_t start_ticks(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_tick;
    sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0) {
        perror("timer_create");
        abort();
    }
    /* Every 100 us. Under valgrind every 10 ms: valgrind needs milliseconds
     * to deliver a signal and restart the interrupted call, so at 2 ms even
     * a bare send()/recv() loop that retries on EINTR makes no progress at
     * all under valgrind (natively it does at 100 us). The EINTR paths are
     * exercised either way. KIWI_IPC_FAULT_TICK_US overrides. */
    long ns = TU_SCALE(100, 10000) * 1000L;
    const char *env = getenv("KIWI_IPC_FAULT_TICK_US");
    if (env != NULL && atol(env) > 0) {
        ns = atol(env) * 1000L;
    }
    struct itimerspec its = {{0, ns}, {0, ns}};
    timer_settime(t, 0, &its, NULL);
    return t;
}

static void stop_ticks(timer_t t)
{
    timer_delete(t);
    /* A tick may still be pending: ignore it rather than die of it. */
    signal(SIGUSR1, SIG_IGN);
}

static size_t msg_size(uint32_t seq)
{
    uint32_t x = seq * 2654435761u;
    if (seq % 4 == 0) {
        return TU_MSG_MIN + x % 100;
    }
    size_t lo = 256 * 1024, hi = 4 * 1024 * 1024;
    return lo + x % (hi - lo);
}

static int n_messages(void)
{
    return TU_SCALE(48, 16);
}

/* Which call to use for message seq: 0 plain, 1 with a timeout. Past the
 * half, the hook is installed too. */
static int do_send(int h, const void *m, size_t n, uint32_t seq)
{
    return seq % 2 ? ipc_send_timeout(h, m, n, TU_SCALE(60000, 600000))
                   : ipc_send(h, m, n);
}

static int do_recv(int h, void **d, size_t *n, uint32_t seq)
{
    return seq % 3 ? ipc_recv_timeout(h, d, n, TU_SCALE(60000, 600000))
                   : ipc_recv(h, d, n);
}

static void maybe_hook(uint32_t seq)
{
    if (seq == (uint32_t)n_messages() / 2) {
        ipc_set_interrupt_hook(hook_go_on, NULL);
    }
}

struct client {
    const char *name;
    int report_w; /* the child writes its tick count here */
};

static int client_child(void *arg)
{
    struct client *c = arg;
    timer_t t = start_ticks();
    int h = ipc_connect_timeout(c->name, 30000);
    child_check_code(h > 0, 2);
    for (uint32_t seq = 0; seq < (uint32_t)n_messages(); seq++) {
        maybe_hook(seq);
        size_t len = msg_size(seq);
        void *m = tu_msg_make(1, seq, len);
        child_check_code(m != NULL, 3);
        child_check_code(do_send(h, m, len, seq) == 0, 4);
        free(m);
        void *d;
        size_t n;
        child_check_code(do_recv(h, &d, &n, seq + 1) == 0, 5);
        uint32_t st, sq;
        char why[128];
        int ok = tu_msg_parse(d, n, &st, &sq, why) == 0;
        if (!ok) {
            fprintf(stderr, "child: echo %u: %s\n", seq, why);
        }
        child_check_code(ok && st == 1 && sq == seq && n == len, 6);
        ipc_free(d);
    }
    child_check_code(ipc_close(h) == 0, 7);
    stop_ticks(t);
    long got = ticks;
    child_check_code(write(c->report_w, &got, sizeof(got)) == sizeof(got), 8);
    return 0;
}

static void timer_storm_large_messages(void **state)
{
    (void)state;
    const char *name = tu_name();
    int rep[2];
    tu_pipe(rep);
    struct client c = {name, rep[1]};
    pid_t pid = tu_fork(client_child, &c);
    close(rep[1]);

    ticks = 0;
    atomic_store(&hook_calls, 0);
    long long t0 = tu_now_ms();
    timer_t t = start_ticks();
    int h = ipc_create_timeout(name, 30000);
    uint32_t seq = 0;
    int rc = h > 0 ? 0 : h;
    char why[128] = "";
    long long bytes = 0;
    while (rc == 0) {
        maybe_hook(seq);
        void *d;
        size_t n;
        rc = do_recv(h, &d, &n, seq);
        if (rc != 0) {
            break;
        }
        uint32_t st, sq;
        if (tu_msg_parse(d, n, &st, &sq, why) != 0 || st != 1 || sq != seq ||
            n != msg_size(seq)) {
            if (why[0] == '\0') {
                snprintf(why, sizeof(why), "got seq %u, expected %u", sq, seq);
            }
            ipc_free(d);
            break;
        }
        rc = do_send(h, d, n, seq + 1);
        ipc_free(d);
        bytes += 2 * (long long)n;
        seq++;
    }
    stop_ticks(t);
    long long ms = tu_now_ms() - t0;
    long parent_ticks = ticks;
    ipc_set_interrupt_hook(NULL, NULL);

    /* The loop ends when the client closes after its last message. */
    if (why[0] != '\0') {
        fail_msg("server: %s", why);
    }
    if (rc != IPC_ECLOSED) {
        fail_msg("server: after %u messages: %s (%d): %s", seq, ipc_errname(rc),
                 rc, ipc_last_error());
    }
    assert_int_equal(seq, (uint32_t)n_messages());
    assert_status(ipc_close(h), 0);
    assert_int_equal(tu_wait(pid, TU_SCALE(60000, 600000)), 0);
    long child_ticks = -1;
    assert_int_equal(read(rep[0], &child_ticks, sizeof(child_ticks)),
                     sizeof(child_ticks));
    close(rep[0]);
    printf("# %u messages, %lld MiB moved in %lld ms under %ld + %ld timer "
           "signals (hook consulted %ld times)\n",
           seq, bytes >> 20, ms, parent_ticks, child_ticks,
           atomic_load(&hook_calls));
    /* The storm really happened in both processes. */
    assert_true(parent_ticks > 0);
    assert_true(child_ticks > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(timer_storm_large_messages,
                                        tu_guarded_setup, tu_guarded_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
