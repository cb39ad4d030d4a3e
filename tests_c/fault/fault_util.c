/*
 * fault_util.c - see fault_util.h.
 */
#include "fault_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ---- scale and seed ---------------------------------------------------- */

int fu_full(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_FULL");
    if (v != NULL && *v != '\0') {
        return strcmp(v, "0") != 0;
    }
    return RUNNING_ON_VALGRIND ? 0 : 1;
}

unsigned fu_budget_s(void)
{
    return fu_full() ? 150 : 840;
}

uint32_t fu_seed(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_SEED");
    uint32_t seed;
    if (v != NULL && *v != '\0') {
        seed = (uint32_t)strtoul(v, NULL, 0);
    } else {
        seed = (uint32_t)fu_now_us() ^ (uint32_t)getpid() << 16;
    }
    if (seed == 0) {
        seed = 1;
    }
    printf("# random seed %u (replay with KIWI_IPC_FAULT_SEED=%u)\n", seed,
           seed);
    fflush(stdout);
    return seed;
}

uint32_t fu_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* ---- time -------------------------------------------------------------- */

long long fu_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long fu_now_ms(void)
{
    return fu_now_us() / 1000;
}

void fu_sleep_us(long long us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void fu_sleep_ms(int ms)
{
    fu_sleep_us((long long)ms * 1000);
}

/* ---- children and the safety net --------------------------------------- */

#define MAX_KIDS 64
static volatile pid_t kids[MAX_KIDS];

static void kids_add(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        if (kids[i] == 0) {
            kids[i] = pid;
            return;
        }
    }
    /* More children than slots: still fine, only the safety net cannot
     * kill this one (its own alarm and PDEATHSIG still do). */
}

static void kids_remove(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        if (kids[i] == pid) {
            kids[i] = 0;
        }
    }
}

static char dir[64];

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "\nfault test: the safety net fired: the test "
                              "ran past its time budget (a hang); killing "
                              "children and exiting\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    for (int i = 0; i < MAX_KIDS; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
        }
    }
    rmdir(dir); /* best effort: only if empty */
    _exit(3);
}

pid_t fu_fork(fu_child_fn fn, void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(99);
        }
        alarm(fu_budget_s());
        _exit(fn(arg));
    }
    kids_add(pid);
    return pid;
}

static int decode_status(int st)
{
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st);
    }
    return 255;
}

int fu_wait(pid_t pid, int timeout_ms)
{
    long long end = fu_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            kids_remove(pid);
            return decode_status(st);
        }
        if (r < 0 && errno != EINTR) {
            kids_remove(pid);
            return 254;
        }
        if (fu_now_ms() >= end) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            kids_remove(pid);
            return FU_TIMEOUT;
        }
        fu_sleep_ms(1);
    }
}

int fu_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    kids_remove(pid);
    return r == pid ? decode_status(st) : 254;
}

static void kill_leftover_kids(void)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        pid_t pid = kids[i];
        if (pid > 0) {
            fprintf(stderr, "fault test: killing leftover child %d\n",
                    (int)pid);
            fu_kill(pid);
        }
    }
}

void fu_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0) {
        fail_msg("pipe2: %s", strerror(errno));
    }
}

int fu_signal_fd(int fd)
{
    char c = 1;
    ssize_t n;
    while ((n = write(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1 ? 0 : -1;
}

int fu_wait_fd(int fd, int timeout_ms)
{
    long long end = fu_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = end - fu_now_ms();
        if (left < 0) {
            left = 0;
        }
        int r = poll(&p, 1, (int)left);
        if (r > 0) {
            char c;
            ssize_t n = read(fd, &c, 1);
            if (n == 1) {
                return 0;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1; /* EOF: the other side is gone */
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        return -1;
    }
}

/* ---- fixture ----------------------------------------------------------- */

static unsigned name_counter;

#define MAX_NAMES 4096
static char *names[MAX_NAMES];
static int n_names;

const char *fu_dir(void)
{
    return dir;
}

const char *fu_name(const char *tag)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s/%s%u", dir, tag, name_counter++);
    if (n < 0 || (size_t)n >= sizeof(buf) || n > 107) {
        fail_msg("pipe name too long: %s", buf);
    }
    if (n_names == MAX_NAMES) {
        /* Recycle: callers use a name only briefly. */
        for (int i = 0; i < n_names; i++) {
            free(names[i]);
        }
        n_names = 0;
    }
    char *s = strdup(buf);
    if (s == NULL) {
        fail_msg("out of memory");
    }
    names[n_names++] = s;
    return s;
}

int fu_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base != '/' || strlen(base) > 40) {
        base = "/tmp";
    }
    snprintf(dir, sizeof(dir), "%s/kf.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        snprintf(dir, sizeof(dir), "/tmp/kf.XXXXXX");
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
            return -1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(fu_budget_s());
    return 0;
}

int fu_teardown(void **state)
{
    (void)state;
    int rc = 0;
    kill_leftover_kids();
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    ipc_set_interrupt_hook(NULL, NULL);

    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            fprintf(stderr, "fault test: left behind in the temp dir: %s\n",
                    e->d_name);
            char p[sizeof(dir) + 260];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
            rc = -1;
        }
        closedir(d);
    }
    rmdir(dir);
    for (int i = 0; i < n_names; i++) {
        free(names[i]);
    }
    n_names = 0;
    return rc;
}

int fu_dir_entries(void)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

int fu_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

/* ---- threads ----------------------------------------------------------- */

void fu_err_set(fu_err *e, const char *fmt, ...)
{
    pthread_mutex_lock(&e->lock);
    if (e->msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        if (e->msg[0] == '\0') {
            snprintf(e->msg, sizeof(e->msg), "(empty failure message)");
        }
    }
    pthread_mutex_unlock(&e->lock);
}

int fu_err_isset(fu_err *e)
{
    pthread_mutex_lock(&e->lock);
    int set = e->msg[0] != '\0';
    pthread_mutex_unlock(&e->lock);
    return set;
}

void fu_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fail_msg("pthread_create: %s", strerror(rc));
    }
}

int fu_thread_join(pthread_t t, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return pthread_timedjoin_np(t, NULL, &ts) == 0 ? 0 : -1;
}

/* ---- sockets and data -------------------------------------------------- */

int fu__check_handle(int h, const char *expr, const char *file, int line)
{
    if (h <= 0) {
        fail_msg("%s:%d: %s: expected a handle, got %s (%d); last error: %s",
                 file, line, expr, ipc_errname(h), h, ipc_last_error());
    }
    return h;
}

void fu_pair(int *a, int *b)
{
    const char *name = fu_name("pair");
    int l = assert_ipc_handle(ipc_listen(name));
    *a = assert_ipc_handle(ipc_connect_timeout(name, 10000));
    *b = assert_ipc_handle(ipc_accept(l, 10000));
    assert_ipc(ipc_close(l), 0);
}

int fu_is_listening(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL) {
        return 0;
    }
    char line[512];
    size_t plen = strlen(path);
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned long flags;
        int at = 0;
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &at) < 1 ||
            at == 0 || (flags & 0x10000UL) == 0) {
            continue;
        }
        size_t len = strlen(line + at);
        if (len > 0 && line[at + len - 1] == '\n') {
            len--;
        }
        found = len == plen && memcmp(line + at, path, plen) == 0;
    }
    fclose(f);
    return found;
}

int fu_wait_listening(const char *path, int timeout_ms)
{
    long long end = fu_now_ms() + timeout_ms;
    while (!fu_is_listening(path)) {
        if (fu_now_ms() >= end) {
            return -1;
        }
        fu_sleep_ms(1);
    }
    return 0;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Block i of 8 bytes of the stream for seed. */
static uint64_t fill_word(uint64_t seed, size_t i)
{
    return mix64(seed * 0x9e3779b97f4a7c15ULL + i);
}

void fu_fill(void *buf, size_t n, uint64_t seed)
{
    unsigned char *p = buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fill_word(seed, i / 8);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = fill_word(seed, i / 8);
        memcpy(p + i, &w, n - i);
    }
}

int fu_check_fill(const void *buf, size_t n, uint64_t seed)
{
    const unsigned char *p = buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, 8) != 0) {
            return 0;
        }
    }
    if (i < n) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, n - i) != 0) {
            return 0;
        }
    }
    return 1;
}

#define MSG_MAGIC 0x4b464d31u /* "KFM1" */

static uint64_t msg_seed(uint32_t stream, uint32_t seq)
{
    return (uint64_t)stream << 32 | seq;
}

void *fu_msg_make(uint32_t stream, uint32_t seq, size_t len)
{
    if (len < FU_MSG_MIN) {
        len = FU_MSG_MIN;
    }
    unsigned char *m = malloc(len);
    if (m == NULL) {
        return NULL;
    }
    uint32_t hdr[4] = {MSG_MAGIC, stream, seq, (uint32_t)len};
    memcpy(m, hdr, sizeof(hdr));
    fu_fill(m + FU_MSG_MIN, len - FU_MSG_MIN, msg_seed(stream, seq));
    return m;
}

int fu_msg_parse(const void *data, size_t len, uint32_t *stream, uint32_t *seq,
                 char why[128])
{
    uint32_t hdr[4];
    if (len < FU_MSG_MIN) {
        snprintf(why, 128, "a message of %zu bytes is too short", len);
        return -1;
    }
    memcpy(hdr, data, sizeof(hdr));
    if (hdr[0] != MSG_MAGIC) {
        snprintf(why, 128, "bad magic %08x", hdr[0]);
        return -1;
    }
    if (hdr[3] != len) {
        snprintf(why, 128, "stream %u seq %u: %zu bytes received, %u were sent",
                 hdr[1], hdr[2], len, hdr[3]);
        return -1;
    }
    if (!fu_check_fill((const unsigned char *)data + FU_MSG_MIN,
                       len - FU_MSG_MIN, msg_seed(hdr[1], hdr[2]))) {
        snprintf(why, 128, "stream %u seq %u: payload of %zu bytes corrupted",
                 hdr[1], hdr[2], len);
        return -1;
    }
    *stream = hdr[1];
    *seq = hdr[2];
    return 0;
}
