/*
 * testutil.c - shared helpers for the kiwi-ipc C tests. See testutil.h.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* Seconds after which a forked child kills itself (SIGALRM), whatever the
 * parent does. Longer than any tu_wait() in the tests. */
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
static pid_t g_children[TU_MAX_CHILDREN];
static size_t g_nchildren;

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

int tu_teardown(void **state)
{
    (void)state;
    /* No child outlives its test. */
    for (size_t i = 0; i < g_nchildren; i++) {
        if (g_children[i] > 0) {
            kill(g_children[i], SIGKILL);
            while (waitpid(g_children[i], NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    g_nchildren = 0;
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
    if (s == NULL || g_npool == TU_MAX_POOL) {
        fprintf(stderr, "testutil: string pool exhausted\n");
        abort();
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
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

long long tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------------- */
/* Children                                                               */
/* ---------------------------------------------------------------------- */

pid_t tu_fork(tu_child_fn fn, void *arg)
{
    if (g_nchildren == TU_MAX_CHILDREN)
        fail_msg("too many children");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(TU_CHILD_ALARM_S);
        int rc = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    g_children[g_nchildren++] = pid;
    return pid;
}

static void forget_child(pid_t pid)
{
    for (size_t i = 0; i < g_nchildren; i++) {
        if (g_children[i] == pid) {
            g_children[i] = g_children[--g_nchildren];
            return;
        }
    }
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
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return TU_CHILD_TIMEOUT;
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
    *client = assert_handle(ipc_connect_timeout(path, 5000));
    *server = assert_handle(ipc_accept(l, 5000));
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
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    /* Num RefCount Protocol Flags Type St Inode Path */
    while (!found && fgets(line, sizeof line, f)) {
        unsigned flags = 0, type = 0, st = 0;
        unsigned long inode = 0;
        int off = 0;
        if (sscanf(line, "%*s %*x %*x %x %x %x %lu %n", &flags, &type, &st,
                   &inode, &off) < 4 ||
            off == 0)
            continue;
        char *p = line + off;
        p[strcspn(p, "\n")] = '\0';
        /* __SO_ACCEPTCON: the socket is listening. */
        if ((flags & 0x10000u) && strcmp(p, path) == 0)
            found = 1;
    }
    fclose(f);
    return found;
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

void tu_fill(void *buf, size_t n, uint32_t seed)
{
    unsigned char *p = buf;
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
}

unsigned char *tu_pattern(size_t n, uint32_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "tu_pattern: out of memory\n");
        abort();
    }
    tu_fill(p, n, seed);
    return p;
}
