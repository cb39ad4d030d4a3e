/*
 * testutil.c - the toolkit of the kiwi-ipc C tests. See testutil.h.
 */
#include "testutil.h"

/* The library's internal reader of the kernel's socket table (the tests
 * link the static library). */
#include "handles.h"
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Seconds after which a forked child kills itself (SIGALRM), whatever the
 * parent does. Longer than any tu_wait() in the unit tests; the guarded
 * fixture uses its budget instead. */
#define TU_CHILD_ALARM_S 60

/* ---------------------------------------------------------------------- */
/* Assertions                                                             */
/* ---------------------------------------------------------------------- */

void tu__fail_status(const char *expr, int got, int want, const char *file,
                     int line)
{
    print_error("%s\n    expected %s (%d), got %s (%d)\n"
                "    ipc_last_error(): \"%s\"\n",
                expr, ipc_errname(want), want, ipc_errname(got), got,
                ipc_last_error());
    _fail(file, line);
}

int tu__check_handle(int h, const char *expr, const char *file, int line)
{
    if (h <= 0) {
        print_error("%s\n    expected a handle (> 0), got %s (%d)\n"
                    "    ipc_last_error(): \"%s\"\n",
                    expr, ipc_errname(h), h, ipc_last_error());
        _fail(file, line);
    }
    return h;
}

void tu__check_last_error(const char *needle, const char *file, int line)
{
    const char *msg = ipc_last_error();
    if (msg == NULL || strstr(msg, needle) == NULL) {
        print_error("ipc_last_error() should contain \"%s\"\n"
                    "    it is: \"%s\"\n",
                    needle, msg ? msg : "(NULL)");
        _fail(file, line);
    }
}

/* ---------------------------------------------------------------------- */
/* Fixture                                                                */
/* ---------------------------------------------------------------------- */

#define TU_MAX_POOL 4096
#define TU_MAX_CHILDREN 64

static int g_env_saved;
static char *g_orig_tmpdir; /* NULL when unset */
static char g_dir[128];
static unsigned g_counter;
static char *g_pool[TU_MAX_POOL];
static size_t g_npool;
/* Children not yet reaped (0: a free slot). Read by the safety net's
 * signal handler, hence volatile and fixed slots. */
static volatile pid_t g_children[TU_MAX_CHILDREN];
static unsigned g_child_alarm_s = TU_CHILD_ALARM_S;

static void save_env_once(void)
{
    if (g_env_saved)
        return;
    const char *t = getenv("TMPDIR");
    g_orig_tmpdir = t ? strdup(t) : NULL;
    g_env_saved = 1;
}

const char *tu_orig_tmpdir(void)
{
    save_env_once();
    return g_orig_tmpdir;
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

int tu_setup(void **state)
{
    (void)state;
    save_env_once();
    /* The library's per-process resources (its copy number's socket, see
     * handles.c) exist before any test counts descriptors. */
    ipc__handles_init();
    /* Keep the dir short: socket paths must stay under 108 bytes. */
    const char *base = g_orig_tmpdir;
    if (base == NULL || base[0] != '/' || strlen(base) > 48)
        base = "/tmp";
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    int n =
        snprintf(g_dir, sizeof g_dir, "%.*s/kiwi-ipc-XXXXXX", (int)bl, base);
    if (n <= 0 || (size_t)n >= sizeof g_dir || mkdtemp(g_dir) == NULL) {
        fprintf(stderr, "setup: mkdtemp under %s failed: %s\n", base,
                strerror(errno));
        g_dir[0] = '\0';
        return -1;
    }
    g_counter = 0;
    return 0;
}

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
    ipc_set_interrupt_hook(NULL, NULL);
    if (g_orig_tmpdir)
        setenv("TMPDIR", g_orig_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    if (g_dir[0]) {
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        g_dir[0] = '\0';
    }
    for (size_t i = 0; i < g_npool; i++)
        free(g_pool[i]);
    g_npool = 0;
    return 0;
}

const char *tu_dir(void)
{
    return g_dir;
}

static const char *pool_keep(char *s)
{
    if (s == NULL) {
        fprintf(stderr, "testutil: out of memory\n");
        abort();
    }
    if (g_npool == TU_MAX_POOL) {
        /* Recycle: callers use a name only briefly (the fault tests make
         * thousands). */
        for (size_t i = 0; i < g_npool; i++)
            free(g_pool[i]);
        g_npool = 0;
    }
    g_pool[g_npool++] = s;
    return s;
}

const char *tu_path(const char *leaf)
{
    size_t n = strlen(g_dir) + 1 + strlen(leaf) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", g_dir, leaf);
    return pool_keep(s);
}

const char *tu_name(void)
{
    char leaf[32];
    snprintf(leaf, sizeof leaf, "p%u", ++g_counter);
    return tu_path(leaf);
}

int tu_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
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
    rmdir(g_dir); /* best effort: only if empty */
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
    DIR *d = opendir(g_dir);
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
/* Scale and seed                                                         */
/* ---------------------------------------------------------------------- */

int tu_full(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_FULL");
    if (v != NULL && *v != '\0')
        return strcmp(v, "0") != 0;
    return RUNNING_ON_VALGRIND ? 0 : 1;
}

uint32_t tu_seed(void)
{
    const char *v = getenv("KIWI_IPC_FAULT_SEED");
    uint32_t seed;
    if (v != NULL && *v != '\0')
        seed = (uint32_t)strtoul(v, NULL, 0);
    else
        seed = (uint32_t)tu_now_us() ^ (uint32_t)getpid() << 16;
    if (seed == 0)
        seed = 1;
    printf("# random seed %u (replay with KIWI_IPC_FAULT_SEED=%u)\n", seed,
           seed);
    fflush(stdout);
    return seed;
}

uint32_t tu_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

long long tu_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long tu_now_ms(void)
{
    return tu_now_us() / 1000;
}

void tu_sleep_us(long long us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void tu_sleep_ms(int ms)
{
    tu_sleep_us((long long)ms * 1000);
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
/* Threads                                                                */
/* ---------------------------------------------------------------------- */

void tu_err_set(tu_err *e, const char *fmt, ...)
{
    /* The first failure wins; later ones are dropped. */
    if (atomic_exchange(&e->taken, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    if (e->msg[0] == '\0')
        snprintf(e->msg, sizeof(e->msg), "(empty failure message)");
    /* msg is read after the thread is joined (assert_no_err). */
}

int tu_err_isset(tu_err *e)
{
    return atomic_load(&e->taken) != 0;
}

void tu_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
}

int tu_thread_join(pthread_t t, int timeout_ms)
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

pid_t tu_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static int thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
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

int tu_wait_blocked(pid_t tid, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    int seen = 0;
    while (tu_now_ms() < deadline) {
        int s = thread_state(tid);
        if (s == 'S' || s == 'D') {
            /* Seen asleep twice in a row, a little apart: it is in the
             * call's wait, not on some short-lived lock on the way. */
            if (++seen == 2)
                return 0;
            tu_sleep_ms(5);
            continue;
        }
        seen = 0;
        tu_sleep_ms(1);
    }
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Raw sockets                                                            */
/* ---------------------------------------------------------------------- */

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

int tu_raw_bind(const char *path)
{
    struct sockaddr_un a;
    if (make_addr(path, &a) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int tu_raw_listen(const char *path)
{
    int fd = tu_raw_bind(path);
    if (fd < 0)
        return -1;
    if (listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int tu_raw_connect(const char *path)
{
    struct sockaddr_un a;
    if (make_addr(path, &a) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc;
    while ((rc = connect(fd, (struct sockaddr *)&a, sizeof a)) != 0 &&
           errno == EINTR)
        ;
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
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

int tu_raw_pair(int *raw)
{
    const char *path = tu_name();
    int lfd = tu_raw_listen(path);
    if (lfd < 0)
        fail_msg("raw listen %s: %s", path, strerror(errno));
    int h = ipc_connect_timeout(path, 5000);
    if (h <= 0) {
        close(lfd);
        fail_msg("ipc_connect_timeout(%s) to a raw listener: %s (%s)", path,
                 ipc_errname(h), ipc_last_error());
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int e = errno;
    close(lfd);
    unlink(path);
    if (fd < 0)
        fail_msg("raw accept: %s", strerror(e));
    *raw = fd;
    return h;
}

void tu_lib_pair(int *client, int *server)
{
    const char *path = tu_name();
    int l = assert_handle(ipc_listen(path));
    /* 10 s: the fault tests make pairs under valgrind and heavy load. */
    *client = assert_handle(ipc_connect_timeout(path, 10000));
    *server = assert_handle(ipc_accept(l, 10000));
    assert_ok(ipc_close(l));
}

static void *rawwrite_thread(void *p)
{
    tu_rawwriter *w = p;
    w->rc = 0;
    for (size_t off = 0; off < w->len; off += w->chunk) {
        size_t k = w->len - off < w->chunk ? w->len - off : w->chunk;
        if (tu_write_all(w->fd, w->buf + off, k) != 0) {
            w->rc = -1;
            break;
        }
        if (w->delay_ms)
            tu_sleep_ms(w->delay_ms);
    }
    return NULL;
}

tu_rawwriter *tu_rawwrite_start(pthread_t *t, int fd, const void *buf,
                                size_t len, size_t chunk, int delay_ms)
{
    tu_rawwriter *w = calloc(1, sizeof *w);
    assert_non_null(w);
    *w = (tu_rawwriter){.fd = fd,
                        .buf = buf,
                        .len = len,
                        .chunk = chunk ? chunk : 1,
                        .delay_ms = delay_ms,
                        .rc = 1};
    tu_thread_start(t, rawwrite_thread, w);
    return w;
}

int tu_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void tu_header(unsigned char out[4], uint32_t len)
{
    out[0] = (unsigned char)(len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
}

int tu_write_frame(int fd, const void *data, uint32_t len)
{
    unsigned char *buf = malloc((size_t)len + 4);
    if (buf == NULL)
        return -1;
    tu_header(buf, len);
    if (len)
        memcpy(buf + 4, data, len);
    int rc = tu_write_all(fd, buf, (size_t)len + 4);
    free(buf);
    return rc;
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

int tu_is_listening(const char *path)
{
    /* The one call of the library's reader (renamed at merge time if the
     * OS layer renames it): 1 yes, 0 no, -1 cannot tell. */
    return ipc__os_listening_at(path) == 1;
}

int tu_wait_listening(const char *path, int timeout_ms)
{
    long long deadline = tu_now_ms() + timeout_ms;
    while (!tu_is_listening(path)) {
        if (tu_now_ms() >= deadline)
            return -1;
        tu_sleep_ms(1);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Data                                                                   */
/* ---------------------------------------------------------------------- */

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

void tu_fill(void *buf, size_t n, uint64_t seed)
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

int tu_check_fill(const void *buf, size_t n, uint64_t seed)
{
    const unsigned char *p = buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, 8) != 0)
            return 0;
    }
    if (i < n) {
        uint64_t w = fill_word(seed, i / 8);
        if (memcmp(p + i, &w, n - i) != 0)
            return 0;
    }
    return 1;
}

unsigned char *tu_pattern(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "tu_pattern: out of memory\n");
        abort();
    }
    tu_fill(p, n, seed);
    return p;
}

#define MSG_MAGIC 0x4b464d31u /* "KFM1" */

static uint64_t msg_seed(uint32_t stream, uint32_t seq)
{
    return (uint64_t)stream << 32 | seq;
}

void *tu_msg_make(uint32_t stream, uint32_t seq, size_t len)
{
    if (len < TU_MSG_MIN)
        len = TU_MSG_MIN;
    unsigned char *m = malloc(len);
    if (m == NULL)
        return NULL;
    uint32_t hdr[4] = {MSG_MAGIC, stream, seq, (uint32_t)len};
    memcpy(m, hdr, sizeof(hdr));
    tu_fill(m + TU_MSG_MIN, len - TU_MSG_MIN, msg_seed(stream, seq));
    return m;
}

int tu_msg_parse(const void *data, size_t len, uint32_t *stream, uint32_t *seq,
                 char why[128])
{
    uint32_t hdr[4];
    if (len < TU_MSG_MIN) {
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
    if (!tu_check_fill((const unsigned char *)data + TU_MSG_MIN,
                       len - TU_MSG_MIN, msg_seed(hdr[1], hdr[2]))) {
        snprintf(why, 128, "stream %u seq %u: payload of %zu bytes corrupted",
                 hdr[1], hdr[2], len);
        return -1;
    }
    *stream = hdr[1];
    *seq = hdr[2];
    return 0;
}
