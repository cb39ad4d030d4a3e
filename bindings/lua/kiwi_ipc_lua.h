/*
 * kiwi_ipc_lua.h - hand-written C support for the Lua binding.
 *
 * bindings/lua/lua_typemaps.i calls these from the generated wrapper: argument
 * checks that raise Lua errors, the `nil, message, code` failure convention,
 * and the Ctrl-C handling around blocking calls; and kiwi_lua_open()
 * adds the hand-written recv to the module. They live in a real C file
 * (rather than in %{ %} blocks) so that they are compiled with the project's
 * warnings, which the generated wrapper is not.
 *
 * Compiled once per Lua (5.4, LuaJIT) against that Lua's headers. Not API.
 */
#ifndef KIWI_IPC_LUA_H
#define KIWI_IPC_LUA_H

#include <stddef.h>

#include <lua.h>

/* A pipe or listener handle: an integer (3.0 is accepted, 3.5 is not).
 * One beyond C's int is returned as 0, no handle, and noted so that the
 * call's failure names it (kiwi_lua_failure). */
int kiwi_lua_checkhandle(lua_State *L, int idx);

/* A pipe name: a string without NUL bytes (nil and numbers are errors). */
const char *kiwi_lua_checkname(lua_State *L, int idx);

/* A payload: any string, binary-safe. Numbers are errors, not coerced. */
const char *kiwi_lua_checkpayload(lua_State *L, int idx, size_t *len);

/* An optional timeout in seconds: nil, absent or math.huge wait forever;
 * otherwise a number >= 0, rounded up to whole milliseconds and capped at
 * about 24.8 days (kiwi_bind_timeout_ms(), the rule of both bindings).
 * Negative or NaN raises an argument error that says which. */
int kiwi_lua_opttimeout(lua_State *L, int idx);

/* A byte count: an integer >= 0. */
size_t kiwi_lua_checksize(lua_State *L, int idx);

/*
 * Report a failed call: push nil, ipc_last_error() (naming the handle the
 * caller passed, if it was beyond C's int) and ipc_errname(status), and
 * return 3, the number of results. IPC_EINTR (Ctrl-C) raises a Lua
 * error instead, from here, so inside the caller's pcall: the interpreter's
 * own "interrupted!" when its Ctrl-C debug hook is pending on L (the hook
 * is cleared, as it would clear itself), else "interrupted".
 */
int kiwi_lua_failure(lua_State *L, int status);

/*
 * Bracket a blocking call of Lua state L. The library's interrupt hook stops
 * the wait when the interpreter's own Ctrl-C hook is pending on L's main
 * thread, or when SIGINT reached a handler of ours, put in front of the one
 * that was there and chaining to it. See kiwi_ipc_lua.c.
 */
void kiwi_lua_wait_begin(lua_State *L);
void kiwi_lua_wait_end(void);

/*
 * Called when the module is opened, with its table at the top of the stack:
 * installs the library's interrupt hook, sets timeout_ms(seconds) (the rule
 * kiwi_lua_opttimeout applies, for the tests) and the table's send and
 * recv, C functions of their own rather than SWIG wrappers (the hot paths):
 *
 *   send(h, message [, timeout]) -> true, or nil, message, code
 *   recv(h [, timeout]) -> message, or nil, message, code
 *
 * recv is a C closure. It receives with
 * ipc_recv_alloc() into a scratch buffer that it keeps, so a message costs
 * no allocation besides its Lua string.
 */
void kiwi_lua_open(lua_State *L);

#endif /* KIWI_IPC_LUA_H */
