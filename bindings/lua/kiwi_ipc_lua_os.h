/*
 * kiwi_ipc_lua_os.h - what the Lua binding needs from the OS: one lock,
 * and a way to hear Ctrl-C without taking it from the host. Each OS has one
 * file (kiwi_ipc_lua_posix.c, kiwi_ipc_lua_win32.c); kiwi_ipc_lua.c, which
 * is the same everywhere, includes no OS header. Not API.
 */
#ifndef KIWI_IPC_LUA_OS_H
#define KIWI_IPC_LUA_OS_H

/* A process-wide lock, ready before any call (statically initialised).
 * Held for a few instructions only; never while calling Lua. */
void kiwi_lua_os_lock(void);
void kiwi_lua_os_unlock(void);

/* Another, held around SWIG's module set-up (luaopen_kiwi_ipc_core,
 * kiwi_ipc_lua.c), which writes the wrapper's static type tables and so
 * must not run in two threads at once. It is held while Lua runs that
 * set-up, which may take kiwi_lua_os_lock, hence a lock of its own. */
void kiwi_lua_os_open_lock(void);
void kiwi_lua_os_open_unlock(void);

/*
 * Ctrl-C. The OS file arranges that kiwi_lua_ctrl_c() (kiwi_ipc_lua.c) is
 * called on every Ctrl-C, before whatever the host does with it, which
 * still happens as before. kiwi_lua_ctrl_c() may then run in a signal
 * handler (POSIX) or on a thread of the OS's own (Windows): it only adds
 * to an atomic counter.
 *
 * kiwi_lua_os_watch_ctrl_c() is called as a blocking call begins: it must
 * be cheap when the arrangement is known to be in place. A host may undo
 * it (POSIX: another handler for SIGINT), so kiwi_lua_os_recheck_ctrl_c()
 * is called off the fast path (after a slice of waiting) to look again.
 */
void kiwi_lua_ctrl_c(void);
void kiwi_lua_os_watch_ctrl_c(void);
void kiwi_lua_os_recheck_ctrl_c(void);

#endif /* KIWI_IPC_LUA_OS_H */
