/*
 * kiwi_ipc_lua_win32.c - kiwi_ipc_lua_os.h on Windows: an SRW lock, and a
 * console control handler of ours for Ctrl-C.
 *
 * Why SetConsoleCtrlHandler rather than the C runtime's signal(SIGINT),
 * which lua.exe uses: the C runtime's SIGINT is itself a console control
 * handler that the runtime registers, and signal() can only swap handlers,
 * never look at one. Chaining through it as on POSIX would mean taking
 * lua.exe's handler out and putting it back (a Ctrl-C in between goes to
 * the wrong one), and doing it again after every Ctrl-C, as the runtime
 * resets SIGINT to SIG_DFL before it calls a handler. Console control
 * handlers, instead, form a list that Windows calls newest first, on a
 * thread of its own, until one returns TRUE. Ours returns FALSE: it counts
 * the Ctrl-C and passes it on, to the runtime's SIGINT handler (lua.exe's,
 * which arms its "interrupted!" hook) or to the default one (ExitProcess),
 * so the host does what it always does, and nothing has to be looked at or
 * put back afterwards. It is registered once, at the first blocking call,
 * so after the runtime's (lua.exe sets SIGINT before it runs a chunk).
 *
 * What this cannot see: a handler registered after ours that returns TRUE
 * (it takes the Ctrl-C for itself, ours is never called). For lua.exe the
 * binding does not depend on ours anyway: it sees the interpreter's debug
 * hook (kiwi_ipc_lua.c). CTRL_BREAK_EVENT is the runtime's SIGBREAK, not
 * SIGINT, and lua.exe does not handle it: it is passed on uncounted.
 *
 * The handler is code in this DLL, and Lua unloads a C module's DLL when
 * its state closes (FreeLibrary): a later Ctrl-C would then call into
 * nothing. So the DLL is pinned (GET_MODULE_HANDLE_EX_FLAG_PIN) before the
 * handler is registered, and stays loaded until the process ends.
 */
#include "kiwi_ipc_lua_os.h"

#include <windows.h>

static SRWLOCK process_lock = SRWLOCK_INIT;

void kiwi_lua_os_lock(void)
{
    AcquireSRWLockExclusive(&process_lock);
}

void kiwi_lua_os_unlock(void)
{
    ReleaseSRWLockExclusive(&process_lock);
}

static SRWLOCK open_lock = SRWLOCK_INIT;

void kiwi_lua_os_open_lock(void)
{
    AcquireSRWLockExclusive(&open_lock);
}

void kiwi_lua_os_open_unlock(void)
{
    ReleaseSRWLockExclusive(&open_lock);
}

static BOOL WINAPI on_console_ctrl(DWORD type)
{
    if (type == CTRL_C_EVENT) {
        kiwi_lua_ctrl_c();
    }
    return FALSE; /* on to the next handler: the host's, or the default */
}

static INIT_ONCE registered = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK register_handler(INIT_ONCE *once, void *param,
                                      void **context)
{
    (void)once;
    (void)param;
    (void)context;
    HMODULE self;
    /* Without the pin there is no handler: better no Ctrl-C of ours than
     * a crash after the module is unloaded. */
    if (GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                               GET_MODULE_HANDLE_EX_FLAG_PIN,
                           (LPCWSTR)(void *)on_console_ctrl, &self)) {
        SetConsoleCtrlHandler(on_console_ctrl, TRUE);
    }
    return TRUE;
}

void kiwi_lua_os_watch_ctrl_c(void)
{
    /* After the first call, one load of the once's state. */
    InitOnceExecuteOnce(&registered, register_handler, NULL, NULL);
}

/* Nothing to look at again: nobody can replace our handler, only add one
 * before it (see above). */
void kiwi_lua_os_recheck_ctrl_c(void)
{
}
