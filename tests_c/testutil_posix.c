/*
 * testutil_posix.c - the POSIX-only part of the C tests' toolkit (see
 * testutil.h): forked children that are always reaped, the guarded
 * fixture of the fault tests, thread states from /proc, bare sockets bound
 * and listened on, descriptor counts and the kernel's socket table.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* Seconds after which a forked child kills itself (SIGALRM), whatever the
 * parent does. Longer than any tu_wait() in the unit tests; the guarded
 * fixture uses its budget instead. */
#define TU_CHILD_ALARM_S 60

#define TU_MAX_CHILDREN 64

/* Children not yet reaped (0: a free slot). Read by the safety net's
 * signal handler, hence volatile and fixed slots. */
static volatile pid_t g_children[TU_MAX_CHILDREN];
static unsigned g_child_alarm_s = TU_CHILD_ALARM_S;

static void kill_leftover_children(int verbose)
{
    for (size_t i = 0; i < TU_MAX_CHILDREN; i++) {
        pid_t pid = g_children[i];
        if (pid > 0) {
            if (verbose)
                fprintf(stderr, "test: killing leftover child %d\n", (int)pid);
            tu_kill(pid);
        }
    }
}

int tu_teardown(void **state)
{
    (void)state;
    /* No child outlives its test. */
    kill_leftover_children(0);
    g_child_alarm_s = TU_CHILD_ALARM_S;
    return tu__teardown_common();
}

/* ---------------------------------------------------------------------- */
/* The guarded fixture                                                    */
/* ---------------------------------------------------------------------- */

unsigned tu_budget_s(void)
{
    return tu_full() ? 150 : 840;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "\ntest: the safety net fired: the test ran "
                              "past its time budget (a hang); killing "
                              "children and exiting\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    for (size_t i = 0; i < TU_MAX_CHILDREN; i++) {
        if (g_children[i] > 0)
            kill(g_children[i], SIGKILL);
    }
    rmdir(tu_dir()); /* best effort: only if empty */
    _exit(3);
}

int tu_guarded_setup(void **state)
{
    if (tu_setup(state) != 0)
        return -1;
    g_child_alarm_s = tu_budget_s();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(tu_budget_s());
    return 0;
}

int tu_guarded_teardown(void **state)
{
    int rc = 0;
    kill_leftover_children(1);
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    DIR *d = opendir(tu_dir());
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            fprintf(stderr, "test: left behind in the temp dir: %s\n",
                    e->d_name);
            rc = -1;
        }
        closedir(d);
    }
    tu_teardown(state);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Children                                                               */
/* ---------------------------------------------------------------------- */

static void remember_child(pid_t pid)
{
    for (size_t i = 0; i < TU_MAX_CHILDREN; i++) {
        if (g_children[i] == 0) {
            g_children[i] = pid;
            return;
        }
    }
    /* More children than slots: still fine, only teardown and the safety
     * net cannot kill this one (its own alarm and PDEATHSIG still do). */
}

static void forget_child(pid_t pid)
{
    for (size_t i = 0; i < TU_MAX_CHILDREN; i++) {
        if (g_children[i] == pid)
            g_children[i] = 0;
    }
}

pid_t tu_fork(tu_child_fn fn, void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(99); /* the parent died before PDEATHSIG was armed */
        alarm(g_child_alarm_s);
        int rc = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    remember_child(pid);
    return pid;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return TU_CHILD_TIMEOUT;
}

int tu_wait(pid_t pid, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            forget_child(pid);
            return TU_CHILD_TIMEOUT;
        }
        if (tu_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            forget_child(pid);
            return TU_CHILD_TIMEOUT;
        }
        tu_sleep_ms(1);
    }
    forget_child(pid);
    return decode_status(st);
}

int tu_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    forget_child(pid);
    return r == pid ? decode_status(st) : TU_CHILD_TIMEOUT;
}

void tu_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        fail_msg("pipe2: %s", strerror(errno));
}

int tu_signal_fd(int fd)
{
    char c = 'x';
    ssize_t n;
    while ((n = write(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

int tu_wait_fd(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long long deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - tu_now_ms();
        if (left < 0)
            return -1;
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        return n == 1 ? 0 : -1;
    }
}

/* ---------------------------------------------------------------------- */
/* Bare sockets                                                           */
/* ---------------------------------------------------------------------- */

int tu_raw_bind(const char *path)
{
    return tos_unix_bound(path, 0);
}

int tu_raw_listen(const char *path)
{
    return tos_unix_bound(path, 1);
}

int tu_accept_queue_empty(int lfd)
{
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int e = errno;
    fcntl(lfd, F_SETFL, fl);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return (e == EAGAIN || e == EWOULDBLOCK) ? 1 : -1;
}

int tu_socketpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

/* ---------------------------------------------------------------------- */
/* Processes and descriptors                                              */
/* ---------------------------------------------------------------------- */

int tu_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}
