/*
 * wait.c - the interrupt hook and deadlines (see wait.h). Every blocking
 * wait in kiwi-ipc is given a struct ipc__until made here, so timeouts and
 * the hook follow one rule everywhere.
 */
#include "wait.h"

#include "kiwi_ipc.h"

#include <stdint.h>

/* Set once by a binding at load time, read by every blocking call. The pair
 * is not updated atomically as a whole; the header asks callers to set it
 * before threads use the library. */
_Atomic(ipc_interrupt_hook) ipc__hook;
static void *_Atomic hook_arg;

void ipc_set_interrupt_hook(ipc_interrupt_hook fn, void *arg)
{
    atomic_store(&hook_arg, arg);
    atomic_store(&ipc__hook, fn);
}

/* The mark is a depth (a call inside the hook may wait and run the hook
 * again), kept as a pointer-sized integer in the thread's slot. */
static intptr_t hook_depth(void)
{
    return (intptr_t)ipc__os_tls_get(IPC__TLS_HOOK);
}

int ipc__run_hook(void *unused)
{
    (void)unused;
    ipc_interrupt_hook fn = atomic_load(&ipc__hook);
    if (fn == NULL) {
        return 0;
    }
    intptr_t depth = hook_depth();
    /* Without memory for the mark the hook still runs; only the check in
     * ipc__lock_contended() is lost for this thread. */
    (void)ipc__os_tls_set(IPC__TLS_HOOK, (void *)(depth + 1), NULL);
    int stop = fn(atomic_load(&hook_arg));
    (void)ipc__os_tls_set(IPC__TLS_HOOK, (void *)depth, NULL);
    return stop;
}

int ipc__lock_contended(ipc__mutex *m, const struct ipc__until *u)
{
    if (hook_depth() > 0) {
        return IPC_EINVAL;
    }
    return ipc__mutex_lock_until(m, u);
}
