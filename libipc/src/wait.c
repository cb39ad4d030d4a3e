/*
 * wait.c - the interrupt hook and deadlines (see wait.h). Every blocking
 * wait in kiwi-ipc is given a struct ipc__until made here, so timeouts and
 * the hook follow one rule everywhere.
 */
#include "wait.h"

#include "kiwi_ipc.h"

/* Set once by a binding at load time, read by every blocking call. The pair
 * is not updated atomically as a whole; the header asks callers to set it
 * before threads use the library. */
_Atomic(ipc_interrupt_hook) ipc__hook;
void *_Atomic ipc__hook_arg;

void ipc_set_interrupt_hook(ipc_interrupt_hook fn, void *arg)
{
    atomic_store(&ipc__hook_arg, arg);
    atomic_store(&ipc__hook, fn);
}
