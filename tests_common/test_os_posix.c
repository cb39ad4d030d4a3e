/*
 * test_os_posix.c - test_os.h on POSIX: pthreads, CLOCK_MONOTONIC, a bare
 * AF_UNIX stream socket as the raw peer.
 */
#include "test_os.h"

#include "kiwi_ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define set_error tos__set_error

/* ---- time ---------------------------------------------------------------- */

long long tos_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tos_sleep_us(long long us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- threads ------------------------------------------------------------- */

int tos_thread_start(tos_thread *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        set_error("pthread_create: %s", strerror(rc));
        return -1;
    }
    return 0;
}

int tos_thread_join(tos_thread t, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc;
    while ((rc = pthread_timedjoin_np(t, NULL, &ts)) == EINTR)
        ;
    return rc == 0 ? 0 : -1;
}

long tos_thread_id(void)
{
    return (long)syscall(SYS_gettid);
}

/* A thread's state letter from /proc (R, S, D, ...), or -1. */
static int thread_state(long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return -1;
    return (unsigned char)p[2];
}

int tos_wait_blocked(long id, int timeout_ms)
{
    long long deadline = tos_now_us() / 1000 + timeout_ms;
    int seen = 0;
    while (tos_now_us() / 1000 < deadline) {
        int s = thread_state(id);
        if (s == 'S' || s == 'D') {
            /* Seen asleep twice in a row, a little apart: it is in the
             * call's wait, not on some short-lived lock on the way. */
            if (++seen == 2)
                return 0;
            tos_sleep_us(5000);
            continue;
        }
        seen = 0;
        tos_sleep_us(1000);
    }
    return -1;
}

/* ---- process and environment ----------------------------------------------
 */

long tos_pid(void)
{
    return (long)getpid();
}

void tos_setenv(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

int tos_run_self(const char *const args[], int timeout_ms)
{
    static char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) {
        set_error("readlink /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[k] = '\0';
    char *argv[16];
    size_t n = 0;
    argv[n++] = exe;
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
    if (rc != 0) {
        set_error("posix_spawn %s: %s", exe, strerror(rc));
        return -1;
    }
    long long deadline = tos_now_us() / 1000 + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if ((r < 0 && errno != EINTR) || tos_now_us() / 1000 >= deadline) {
            set_error("%s %s: still running after %d ms", exe, argv[1],
                      timeout_ms);
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        tos_sleep_us(1000);
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* ---- a private temp dir ----------------------------------------------------
 */

int tos_make_dir(char *out, size_t cap, const char *tmpdir)
{
    /* Keep the dir short: socket paths must stay under 108 bytes. */
    const char *base = tmpdir;
    if (base == NULL || base[0] != '/' || strlen(base) > 48)
        base = "/tmp";
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    int n = snprintf(out, cap, "%.*s/kiwi-ipc-XXXXXX", (int)bl, base);
    if (n <= 0 || (size_t)n >= cap || mkdtemp(out) == NULL) {
        set_error("mkdtemp under %s failed: %s", base, strerror(errno));
        return -1;
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(p) != 0)
        fprintf(stderr, "teardown: cannot remove %s: %s\n", p, strerror(errno));
    return 0;
}

void tos_remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tos_pipe_base(const char *dir, char *out, size_t cap)
{
    /* A pipe is a socket file: in the private dir, removed with it. */
    snprintf(out, cap, "%s", dir);
}

/* ---- a raw peer -------------------------------------------------------------
 */

static int make_addr(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

int tos_unix_bound(const char *path, int listening)
{
    struct sockaddr_un a;
    if (make_addr(path, &a) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (listening && listen(fd, 16) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

tos_raw tos_raw_connect(const char *name, int timeout_ms)
{
    /* A Unix socket's connect does not wait for an accept: the backlog
     * takes it, so there is nothing to wait for. */
    (void)timeout_ms;
    char path[IPC_PATH_MAX];
    struct sockaddr_un a;
    if (ipc_path(name, path, sizeof(path)) < 0) {
        set_error("ipc_path(%s): %s", name, ipc_last_error());
        return TOS_RAW_NONE;
    }
    if (make_addr(path, &a) != 0) {
        set_error("%s: %s", path, strerror(errno));
        return TOS_RAW_NONE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_error("socket: %s", strerror(errno));
        return TOS_RAW_NONE;
    }
    int rc;
    while ((rc = connect(fd, (struct sockaddr *)&a, sizeof a)) != 0 &&
           errno == EINTR)
        ;
    if (rc != 0) {
        set_error("connect %s: %s", path, strerror(errno));
        close(fd);
        return TOS_RAW_NONE;
    }
    return fd;
}

tos_raw tos_raw_pair(const char *name, int *h)
{
    /* The raw end listens and the library connects: the library's client
     * side then meets a peer that never wrote its accept as kiwi-ipc
     * would. */
    char path[IPC_PATH_MAX];
    if (ipc_path(name, path, sizeof(path)) < 0) {
        set_error("pipe path of %s: %s", name, ipc_last_error());
        return TOS_RAW_NONE;
    }
    int lfd = tos_unix_bound(path, 1);
    if (lfd < 0) {
        set_error("raw listen %s: %s", path, strerror(errno));
        return TOS_RAW_NONE;
    }
    *h = ipc_connect_timeout(name, 5000);
    if (*h <= 0) {
        set_error("ipc_connect_timeout(%s) to a raw listener: %s (%s)", name,
                  ipc_errname(*h), ipc_last_error());
        close(lfd);
        unlink(path);
        return TOS_RAW_NONE;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int e = errno;
    close(lfd);
    unlink(path);
    if (fd < 0) {
        set_error("raw accept: %s", strerror(e));
        ipc_close(*h);
        return TOS_RAW_NONE;
    }
    return fd;
}

long long tos_raw_write(tos_raw r, const void *p, size_t n)
{
    ssize_t k;
    while ((k = send(r, p, n, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (k < 0)
        set_error("send: %s", strerror(errno));
    return k;
}

long long tos_raw_read(tos_raw r, void *p, size_t n)
{
    ssize_t k;
    while ((k = recv(r, p, n, 0)) < 0 && errno == EINTR)
        ;
    if (k < 0)
        set_error("recv: %s", strerror(errno));
    return k;
}

void tos_raw_close(tos_raw r)
{
    close(r);
}
