/*
 * wait.h - bounded, interruptible waiting: deadlines, poll(), and the
 * interrupt hook that lets a language runtime stop a blocking call.
 */
#ifndef IPC__WAIT_H
#define IPC__WAIT_H

#include <pthread.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t ipc__now_ms(void);

/* The deadline for a timeout in ms: -1 (never) for IPC_FOREVER. */
int64_t ipc__deadline(int timeout_ms);

/* True when an interrupt hook is installed. */
int ipc__have_hook(void);

/* Run the interrupt hook (if any): true when it asks the call to stop. For
 * waits done by a blocking system call whose socket timeout ends each
 * slice (see pipe.c). */
int ipc__interrupted(void);

/*
 * Wait until `fd` is ready for `events` (POLLIN/POLLOUT) or `deadline`
 * (-1: none) passes. Returns 0 when ready, IPC_ETIMEDOUT, IPC_EINTR when
 * the interrupt hook asked to stop, or IPC_ESYSTEM (errno kept).
 *
 * ipc__sleep_until sleeps until `until` (a time on ipc__now_ms's clock),
 * cut short by `deadline`: 0 when `until` came, IPC_ETIMEDOUT when the
 * deadline did, IPC_EINTR as above.
 */
int ipc__wait(int fd, short events, int64_t deadline);
int ipc__sleep_until(int64_t until, int64_t deadline);

/*
 * Lock `m` (a pipe's send or receive lock, which another thread may hold
 * for as long as its own call waits for the peer) within `deadline`, and,
 * when there is an interrupt hook, consulting it every slice. Returns 0
 * with the lock held, IPC_ETIMEDOUT or IPC_EINTR.
 */
int ipc__lock_slow(pthread_mutex_t *m, int64_t deadline);
static inline int ipc__lock(pthread_mutex_t *m, int64_t deadline)
{
    /* Uncontended (nearly always): no call, no look at the hook. */
    return pthread_mutex_trylock(m) == 0 ? 0 : ipc__lock_slow(m, deadline);
}

#endif
