/*
 * win32/poll.c - ipc__os_wait_any() (os.h), not built yet on Windows.
 *
 * os.h states the contract and the plan (WaitForMultipleObjects over one
 * event per entry, 63 per wait, groups of 63 beyond that). Until it is
 * written, the call fails honestly instead of pretending that nothing is
 * ready: ipc_poll() and ipc_pending() then return IPC_ESYSTEM with
 * ERROR_CALL_NOT_IMPLEMENTED, except that a whole frame already held in a
 * pipe is still reported (that part is OS-neutral, poll.c).
 */
#include "win32.h"

#include "error.h"

int ipc__os_wait_any(const char *who, struct ipc__os_waitable *w, size_t n,
                     const struct ipc__until *u)
{
    (void)w;
    (void)n;
    (void)u;
    return ipc__fail(IPC_ESYSTEM, (int)ERROR_CALL_NOT_IMPLEMENTED,
                     "%s: waiting for many pipes is not implemented on "
                     "Windows yet",
                     who);
}
