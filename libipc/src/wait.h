/*
 * wait.h - deadlines and the interrupt hook: how long a blocking call may
 * wait and who may cut it short. The waiting itself is the OS backend's
 * (os.h); this is the policy it is given.
 */
#ifndef IPC__WAIT_H
#define IPC__WAIT_H

#include "os.h"

#include <stdatomic.h>
#include <stdint.h>

/* The installed hook (wait.c); read through ipc__until_init(). */
extern _Atomic(ipc_interrupt_hook) ipc__hook;

/* Runs the installed hook, marking this thread as inside it (wait.c). */
int ipc__run_hook(void *unused);

/* The wait of a call with `timeout_ms` (IPC_FOREVER: no deadline), starting
 * now, with the interrupt hook installed at this moment. Inline: every
 * send and recv makes one. The backend calls ipc__run_hook, which marks
 * the thread for ipc__lock() (see there). */
static inline void ipc__until_init(struct ipc__until *u, int timeout_ms)
{
    u->deadline = timeout_ms < 0 ? -1 : ipc__os_now_ms() + timeout_ms;
    u->hook = atomic_load_explicit(&ipc__hook, memory_order_relaxed) != NULL
                  ? ipc__run_hook
                  : NULL;
    u->arg = NULL;
}

/* ipc__lock()'s slow path: the lock is taken. Inside the hook it does not
 * wait (IPC_EINVAL): the call below the hook may hold that very lock. */
int ipc__lock_contended(ipc__mutex *m, const struct ipc__until *u);

/*
 * Lock `m` (a pipe's send or receive lock, which another thread may hold
 * for as long as its own call waits for the peer) within u's deadline,
 * consulting the hook every slice. Returns 0 with the lock held,
 * IPC_ETIMEDOUT or IPC_EINTR; IPC_EINVAL when called from inside the
 * interrupt hook and the lock is taken.
 */
static inline int ipc__lock(ipc__mutex *m, const struct ipc__until *u)
{
    /* Uncontended (nearly always): no call, no look at the hook. */
    return ipc__mutex_trylock(m) ? 0 : ipc__lock_contended(m, u);
}

#endif
