/*
 * lua_typemaps.i - the Lua-only part of the kiwi-ipc interface.
 *
 * Included by kiwi_ipc.i under SWIGLUA, before it %includes kiwi_ipc.h.
 * SWIG is run with -lua -nomoduleglobal -module kiwi_ipc_core: the private
 * module kiwi_ipc_core already has the Lua shape of the API, and the
 * hand-written layer bindings/lua/kiwi_ipc.lua adds the Pipe and Listener
 * objects on top. The C behind these typemaps (argument checks, Ctrl-C) is
 * in bindings/lua/kiwi_ipc_lua.c, compiled with the project's warnings, and
 * so is recv, which is hand-written there (see kiwi_lua_open below).
 *
 * Lua shape:
 *   create(name [, timeout]) connect(name [, timeout]) accept(l [, timeout])
 *   listen(name) fileno(h)                    -> integer handle
 *   send(h, msg [, timeout]) set_max_message(h, n) close(h)   -> true
 *   recv(h [, timeout])                       -> string (binary-safe)
 *   path(name)                                -> string
 * A runtime failure returns nil, ipc_last_error(), ipc_errname(status), as
 * Lua's io library does, so assert() works and scripts branch on the code.
 * Misuse (a wrong argument type, a negative timeout) raises an error, and so
 * does Ctrl-C during a blocking call (see kiwi_ipc_lua.c). Timeouts are
 * optional trailing arguments in seconds; nil or absent waits forever.
 */

/* SWIG's own luaopen_kiwi_ipc_core (its SWIG_init) is renamed: the
 * module's entry point is kiwi_ipc_lua.c's, which runs it under a lock,
 * as SWIG's set-up writes static tables and two Lua states on two threads
 * may require the module at once. */
%begin %{
#define luaopen_kiwi_ipc_core kiwi_lua_swig_open
%}

%{
#include "kiwi_ipc.h"
#include "kiwi_ipc_lua.h"

/* A missing argument is reported by its typemap, as Lua's own functions
 * do ("bad argument #2 to 'send' (string expected, got no value)"), and an
 * extra one as such, rather than by SWIG's count check, which names the C
 * function. */
#undef SWIG_check_num_args
#define SWIG_check_num_args(func_name, min_args, max_args)                   \
  if (lua_gettop(L) > (max_args)) {                                          \
    luaL_argerror(L, (max_args) + 1, "no value expected");                   \
  }
%}

/* ---------------------------------------------------------------------- */
/* Names: the Kiwi verbs, each bound to its timeout variant               */
/* ---------------------------------------------------------------------- */

%rename(create) ipc_create_timeout;
%rename(connect) ipc_connect_timeout;
%rename(close) ipc_close;
%rename(listen) ipc_listen;
%rename(accept) ipc_accept;
%rename(path) ipc_path;
%rename(fileno) ipc_fileno;
%rename(set_max_message) ipc_set_max_message;
%rename(flush) ipc_flush;
%rename(name) ipc_name;
%rename(handle_path) ipc_handle_path;
%rename(version) ipc_version;
%rename(strerror) ipc_strerror;
%rename(errname) ipc_errname;
%rename(last_error) ipc_last_error;
%rename(last_os_error) ipc_last_os_error;

/* The timeout variants with an optional timeout cover these. */
%ignore ipc_create;
%ignore ipc_connect;
%ignore ipc_send;
/* send(h, message [, timeout]) is hand-written too (kiwi_lua_send, added by
 * kiwi_lua_open): the hot path of a stream of small messages, by the
 * typemaps' rules below but without SWIG's wrapper around them. */
%ignore ipc_send_timeout;
/* recv (ipc_recv* are ignored in kiwi_ipc.i) is hand-written: a C closure
 * that receives with ipc_recv_alloc() into a scratch buffer it keeps (its
 * upvalue), so a message costs no allocation besides its string.
 * kiwi_lua_open() adds it to the module (%init below; %native cannot give a
 * function an upvalue). */

/* ---------------------------------------------------------------------- */
/* Arguments: parameter names are the same throughout kiwi_ipc.h          */
/* ---------------------------------------------------------------------- */

%typemap(in) int handle, int listener
%{ $1 = kiwi_lua_checkhandle(L, $input); %}

%typemap(in) const char *name
%{ $1 = ($1_ltype)kiwi_lua_checkname(L, $input); %}

%typemap(in) (const void *data, size_t len)
%{ $1 = ($1_ltype)kiwi_lua_checkpayload(L, $input, &$2); %}

/* Optional: a missing timeout waits forever. */
%typemap(default) int timeout_ms
%{ $1 = IPC_FOREVER; %}
%typemap(in) int timeout_ms
%{ $1 = kiwi_lua_opttimeout(L, $input); %}

%typemap(in) size_t max
%{ $1 = kiwi_lua_checksize(L, $input); %}

/* path: the path is the result, written to a buffer of ours. */
%typemap(in, numinputs=0) (char *buf, size_t cap) (char path_buf[IPC_PATH_MAX])
%{ $1 = path_buf; $2 = sizeof(path_buf); %}
%typemap(argout) (char *buf, size_t cap)
%{ lua_pushlstring(L, $1, (size_t)result); SWIG_arg++; %}

/* ---------------------------------------------------------------------- */
/* Results                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Failures, by one rule and no list: every int a call of kiwi_ipc.h
 * returns is a status (>= 0 a result, < 0 a failure), so the typemaps on
 * int itself return nil, message, code for a negative one (before any
 * result is pushed), except IPC_EINTR, which raises "interrupted"
 * (kiwi_lua_failure). A function added to the header is covered without
 * being listed; the two ints that are not statuses say so below, and
 * errors_spec.lua walks every function of the module to check it.
 */

/* A result: a Lua integer (math.type "integer" on 5.3+, where SWIG's
 * default would push a float): handles, descriptors, pending's 0/1. */
%typemap(out) int
%{ if ($1 < 0) {
    return kiwi_lua_failure(L, $1);
  }
  lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}

/* Calls whose status is their only result: true. */
%typemap(out) int ipc_set_max_message, int ipc_flush,
    int ipc_check_path
%{ if ($1 < 0) {
    return kiwi_lua_failure(L, $1);
  }
  lua_pushboolean(L, 1); SWIG_arg++; %}

/* Calls whose result is an output argument (pushed by its argout). */
%typemap(out) int ipc_path, int ipc_name, int ipc_handle_path,
    int ipc_get_peer
%{ if ($1 < 0) {
    return kiwi_lua_failure(L, $1);
  }
%}

/* Not statuses: close of an unknown handle is harmless (true, as Kiwi's
 * close is silent); last_os_error is an errno value. */
%typemap(out) int ipc_close
%{ (void)$1; lua_pushboolean(L, 1); SWIG_arg++; %}
%typemap(out) int ipc_last_os_error
%{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}

/* Every call is bracketed for Ctrl-C, blocking or not: two thread-local
 * stores, so that no list of the blocking calls needs keeping either. */
%exception %{
  kiwi_lua_wait_begin(L);
  $action
  kiwi_lua_wait_end();
%}

/* Many pipes at once: pending(h) -> 0 or 1 (ipc_pending); poll is
 * hand-written (kiwi_lua_poll, added by kiwi_lua_open). */
%rename(pending) ipc_pending;

/* The module table is at the top of the stack here. */
%init %{
  kiwi_lua_open(L);
%}

/* ---------------------------------------------------------------------- */
/* Who is on the other end                                                 */
/* ---------------------------------------------------------------------- */

/* get_peer(h) -> { pid =, uid =, gid = } (a field the OS did not give is
 * absent); connect_ex(name, timeout, flags), create_ex(name, timeout,
 * flags), listen_ex(name, flags) -> handle; check_path(name) -> true.
 * flags: 0 (same user only) or IPC_ANY_USER; kiwi_ipc.lua's objects pass
 * them from an options table. */
%rename(get_peer) ipc_get_peer;
%rename(connect_ex) ipc_connect_ex;
%rename(create_ex) ipc_create_ex;
%rename(listen_ex) ipc_listen_ex;
%rename(check_path) ipc_check_path;

%typemap(default) int flags
%{ $1 = 0; %}
%typemap(in) int flags
%{ $1 = (int)luaL_checkinteger(L, $input); %}

%typemap(in, numinputs=0) struct ipc_peer *peer (struct ipc_peer tmp)
%{ $1 = &tmp; %}
%typemap(argout) struct ipc_peer *peer %{
  lua_createtable(L, 0, 3);
  if ($1->known & IPC_PEER_PID) {
    lua_pushinteger(L, (lua_Integer)$1->pid);
    lua_setfield(L, -2, "pid");
  }
  if ($1->known & IPC_PEER_UID) {
    lua_pushinteger(L, (lua_Integer)$1->uid);
    lua_setfield(L, -2, "uid");
  }
  if ($1->known & IPC_PEER_GID) {
    lua_pushinteger(L, (lua_Integer)$1->gid);
    lua_setfield(L, -2, "gid");
  }
  SWIG_arg++;
%}
