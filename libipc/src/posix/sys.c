/*
 * posix/sys.c - clock, mutexes, sleeping, the per-thread slot, error text,
 * and the one poll() loop every blocking wait of the backend goes through,
 * so timeouts, EINTR and the interrupt hook are handled in one place.
 */
#include "posix.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t ipc__os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The poll timeout for the next slice (see ipc__until_slice). */
static int slice_ms(const struct ipc__until *u, int64_t end)
{
    int64_t ms = ipc__until_slice(u, end, end >= 0 ? ipc__os_now_ms() : 0);
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Wait for `fd` (or, with fd < 0, for nothing) until `end` (-1: no end).
 * Returns 0 when ready, 1 when `end` was reached, IPC_EINTR or
 * IPC_ESYSTEM. */
static int wait_until(int fd, short events, int64_t end,
                      const struct ipc__until *u)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&pfd, fd >= 0 ? 1 : 0, slice_ms(u, end));
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return IPC_ESYSTEM;
        }
        /* A signal, or a slice ended: give the runtime its say first, so
         * Ctrl-C wins over a deadline that happens to pass at once. */
        if (ipc__until_interrupted(u)) {
            return IPC_EINTR;
        }
        if (end >= 0 && ipc__os_now_ms() >= end) {
            return 1;
        }
    }
}

int ipc__px_wait(int fd, short events, const struct ipc__until *u)
{
    int rc = wait_until(fd, events, u->deadline, u);
    return rc == 1 ? IPC_ETIMEDOUT : rc;
}

int ipc__os_sleep_until(const char *who, int64_t when,
                        const struct ipc__until *u)
{
    int64_t end = when;
    if (u->deadline >= 0 && u->deadline < end) {
        end = u->deadline;
    }
    int rc = wait_until(-1, 0, end, u);
    if (rc == IPC_ESYSTEM) {
        return ipc__fail(rc, errno, "%s: poll failed", who);
    }
    if (rc == 1) {
        return u->deadline >= 0 && ipc__os_now_ms() >= u->deadline
                   ? IPC_ETIMEDOUT
                   : 0;
    }
    return rc;
}

/* ---- mutexes ----------------------------------------------------------- */

void ipc__mutex_init(ipc__mutex *m)
{
    pthread_mutex_init(m, NULL);
}

void ipc__mutex_destroy(ipc__mutex *m)
{
    pthread_mutex_destroy(m);
}

void ipc__mutex_lock(ipc__mutex *m)
{
    pthread_mutex_lock(m);
}

int ipc__mutex_lock_until(ipc__mutex *m, const struct ipc__until *u)
{
    if (u->deadline < 0 && u->hook == NULL) {
        pthread_mutex_lock(m);
        return 0;
    }
    for (;;) {
        if (pthread_mutex_trylock(m) == 0) {
            return 0;
        }
        if (ipc__until_interrupted(u)) {
            return IPC_EINTR;
        }
        int left = slice_ms(u, u->deadline);
        if (left < 0) {
            left = IPC_INTERRUPT_SLICE_MS; /* cannot happen: see above */
        }
        if (left == 0) {
            return IPC_ETIMEDOUT;
        }
#if defined(_POSIX_TIMEOUTS) && _POSIX_TIMEOUTS > 0
        /* Sleeps until the lock is free or the slice is over. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (long)(left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(m, &ts) == 0) {
            return 0;
        }
#else
        usleep(1000); /* no timed lock here (macOS): look again */
#endif
    }
}

/* ---- per-thread slots ----------------------------------------------- */

static pthread_key_t keys[IPC__TLS_SLOTS];
static void (*_Atomic dtors[IPC__TLS_SLOTS])(void *);
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;
static atomic_int keys_ok; /* read without the once: see ipc__os_tls_get */

/* One trampoline per slot, because a key's destructor is fixed when the
 * key is made and the slot's own destructor is only known at its first
 * set. */
static void run_dtor(int slot, void *value)
{
    void (*fn)(void *) = atomic_load(&dtors[slot]);
    if (fn != NULL) {
        fn(value);
    }
}

static void dtor_error(void *value)
{
    run_dtor(IPC__TLS_ERROR, value);
}

static void dtor_hook(void *value)
{
    run_dtor(IPC__TLS_HOOK, value);
}

static void make_keys(void)
{
    void (*const tramp[IPC__TLS_SLOTS])(void *) = {dtor_error, dtor_hook};
    int ok = 1;
    for (int i = 0; i < IPC__TLS_SLOTS; i++) {
        ok = ok && pthread_key_create(&keys[i], tramp[i]) == 0;
    }
    atomic_store(&keys_ok, ok);
}

/* Before any thread's first set the keys may not exist yet; this thread's
 * slots are then empty either way. */
void *ipc__os_tls_get(int slot)
{
    return atomic_load(&keys_ok) ? pthread_getspecific(keys[slot]) : NULL;
}

int ipc__os_tls_set(int slot, void *value, void (*dtor)(void *))
{
    atomic_store(&dtors[slot], dtor);
    pthread_once(&keys_once, make_keys);
    if (!atomic_load(&keys_ok) || pthread_setspecific(keys[slot], value) != 0) {
        return IPC_ENOMEM;
    }
    return 0;
}

/* ---- copies of the library in one process ---------------------------- */

/*
 * Copies share nothing (each has its own hidden symbols), so they meet in
 * the kernel: copy k is whoever holds a Unix socket bound to the abstract
 * name "\0kiwi-ipc/<pid>/copy/<k>" (Linux only: abstract names vanish with
 * their socket, so a crashed process leaves nothing behind). The socket
 * is kept open, close-on-exec, for the copy's life.
 *
 * A forked child keeps its parent's numbers, as it keeps the handle tables,
 * but the names it inherits carry the parent's pid: a copy first loaded in
 * the child would find its own pid's names free and take number 0 again.
 * So each copy that holds a number binds it again under the child's pid,
 * in a pthread_atfork() child handler, before fork() returns there.
 */
#if defined(__linux__) && !defined(KIWI_IPC_PORTABLE)
static int copy_k = -1;  /* this copy's number, once claimed */
static int copy_fd = -1; /* the socket that holds it */

/* Append the decimal digits of v (>= 0) at *at. */
static void put_decimal(char **at, long v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) {
        *(*at)++ = digits[--n];
    }
}

/* A socket bound to copy k's name for process `pid`; -1 with errno. Built
 * by hand, not with snprintf: the fork handler below may call only
 * async-signal-safe functions. */
static int bind_copy_name(int k, long pid)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    /* "\0kiwi-ipc/<pid>/copy/<k>": at most 9 + 20 + 6 + 11 bytes. */
    static const char prefix[] = "kiwi-ipc/", middle[] = "/copy/";
    char *at = addr.sun_path + 1;
    memcpy(at, prefix, sizeof(prefix) - 1);
    at += sizeof(prefix) - 1;
    put_decimal(&at, pid);
    memcpy(at, middle, sizeof(middle) - 1);
    at += sizeof(middle) - 1;
    put_decimal(&at, k);
    size_t n = (size_t)(at - (addr.sun_path + 1));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    if (bind(fd, (struct sockaddr *)&addr, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* In the child of a fork: hold our number under the child's pid, and let
 * the parent's name go with the parent. Only async-signal-safe calls. If
 * the bind fails, a copy loaded later may take our number: it can do no
 * worse than before fork-awareness, and there is no one to tell. */
static void copy_after_fork(void)
{
    if (copy_fd >= 0) {
        close(copy_fd);
    }
    copy_fd = bind_copy_name(copy_k, (long)getpid());
}
#endif

int ipc__os_copy_index(void)
{
#if defined(__linux__) && !defined(KIWI_IPC_PORTABLE)
    for (int k = 0; k <= 32; k++) {
        int fd = bind_copy_name(k, (long)getpid());
        if (fd >= 0) {
            /* fd stays open: the number is ours. */
            copy_k = k;
            copy_fd = fd;
            (void)pthread_atfork(NULL, NULL, copy_after_fork);
            return k;
        }
        if (errno != EADDRINUSE) {
            return 0;
        }
    }
#endif
    return 0;
}

long ipc__os_process_id(void)
{
    return (long)getpid();
}

/* ---- error text --------------------------------------------------------- */

/* strerror() may share one buffer between threads; strerror_r does not.
 * glibc with _GNU_SOURCE has the GNU variant, which returns the text
 * (maybe not in buf); everywhere else it is the XSI one. */
void ipc__os_strerror(int err, char *buf, size_t cap)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    const char *s = strerror_r(err, buf, cap);
    if (s != buf) {
        snprintf(buf, cap, "%s", s);
    }
#else
    if (strerror_r(err, buf, cap) != 0) {
        snprintf(buf, cap, "error %d", err);
    }
#endif
}

/* ---- sockets ------------------------------------------------------------ */

void ipc__px_sockaddr(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    /* ipc__os_pipe_path() guarantees that the path and its NUL fit. */
    memcpy(addr->sun_path, path, strlen(path) + 1);
}

int ipc__px_set_blocking(int fd, int blocking)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        return -1;
    }
    int want = blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
    return want == fl ? 0 : fcntl(fd, F_SETFL, want);
}

int ipc__px_nosigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
    (void)fd; /* MSG_NOSIGNAL on every send is enough */
    return 0;
#endif
}

/*
 * Where socket() cannot set close-on-exec atomically (no SOCK_CLOEXEC:
 * macOS), FD_CLOEXEC is set right after it. A fork+exec by another thread
 * in between can leak the descriptor into that child; the child then keeps
 * our socket open, which at worst delays a peer's end-of-stream until the
 * child exits. That window is what every portable library (libuv's
 * uv__socket fallback included) accepts on such systems.
 */
int ipc__px_socket(void)
{
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK) &&                         \
    !defined(KIWI_IPC_PORTABLE)
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || ipc__px_set_blocking(fd, 0) < 0 ||
        ipc__px_nosigpipe(fd) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
#endif
}
