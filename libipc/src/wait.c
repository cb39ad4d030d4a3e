/*
 * wait.c - every blocking wait in kiwi-ipc goes through here, so timeouts,
 * EINTR and the interrupt hook are handled in one place.
 */
#include "wait.h"

#include "kiwi_ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

/* Set once by a binding at load time, read on every wait. The pair is not
 * updated atomically as a whole; the header asks callers to set it before
 * threads use the library. */
static _Atomic(ipc_interrupt_hook) hook;
static void *_Atomic hook_arg;

void ipc_set_interrupt_hook(ipc_interrupt_hook fn, void *arg)
{
    atomic_store(&hook_arg, arg);
    atomic_store(&hook, fn);
}

int64_t ipc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ipc__deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : ipc__now_ms() + timeout_ms;
}

int ipc__have_hook(void)
{
    return atomic_load_explicit(&hook, memory_order_relaxed) != NULL;
}

static int hook_says_stop(void)
{
    ipc_interrupt_hook fn = atomic_load(&hook);
    return fn != NULL && fn(atomic_load(&hook_arg)) != 0;
}

int ipc__interrupted(void)
{
    return hook_says_stop();
}

/* The poll timeout for the next slice: up to `until`, but no longer than a
 * hook slice when there is a hook to consult. */
static int slice_ms(int64_t until)
{
    int64_t ms = -1;
    if (until >= 0) {
        ms = until - ipc__now_ms();
        if (ms < 0) {
            ms = 0;
        }
    }
    if (atomic_load_explicit(&hook, memory_order_relaxed) != NULL &&
        (ms < 0 || ms > IPC_INTERRUPT_SLICE_MS)) {
        ms = IPC_INTERRUPT_SLICE_MS;
    }
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Wait for `fd` (or, with fd < 0, for nothing) until `end` (-1: no end).
 * Returns 0 when ready, 1 when `end` was reached, IPC_EINTR or
 * IPC_ESYSTEM. */
static int wait_until(int fd, short events, int64_t end)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&pfd, fd >= 0 ? 1 : 0, slice_ms(end));
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return IPC_ESYSTEM;
        }
        /* A signal, or a slice ended: give the runtime its say first, so
         * Ctrl-C wins over a deadline that happens to pass at once. */
        if (hook_says_stop()) {
            return IPC_EINTR;
        }
        if (end >= 0 && ipc__now_ms() >= end) {
            return 1;
        }
    }
}

int ipc__wait(int fd, short events, int64_t deadline)
{
    int rc = wait_until(fd, events, deadline);
    return rc == 1 ? IPC_ETIMEDOUT : rc;
}

int ipc__sleep_until(int64_t until, int64_t deadline)
{
    int64_t end = until;
    if (deadline >= 0 && deadline < end) {
        end = deadline;
    }
    int rc = wait_until(-1, 0, end);
    if (rc == 1) {
        return deadline >= 0 && ipc__now_ms() >= deadline ? IPC_ETIMEDOUT : 0;
    }
    return rc;
}

int ipc__lock_slow(pthread_mutex_t *m, int64_t deadline)
{
    if (deadline < 0 && !ipc__have_hook()) {
        pthread_mutex_lock(m);
        return 0;
    }
    for (;;) {
        if (pthread_mutex_trylock(m) == 0) {
            return 0;
        }
        if (hook_says_stop()) {
            return IPC_EINTR;
        }
        int64_t left = slice_ms(deadline);
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
