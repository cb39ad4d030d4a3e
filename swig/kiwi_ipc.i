/*
 * kiwi_ipc.i - the one SWIG interface of kiwi-ipc, for every language.
 *
 * SWIG reads the real public header (%include "kiwi_ipc.h" below): nothing
 * is declared twice. What differs between languages - how a payload becomes
 * a string, how a negative status becomes an exception or `nil, msg, code`,
 * how Ctrl-C reaches a blocking call - lives in one small typemap file per
 * language, pulled in here. Those typemaps match on the header's parameter
 * names, which are the same everywhere:
 *
 *   const void *data, size_t len    a payload to send
 *   char *buf, size_t cap           ipc_path()'s output buffer
 *
 * Receiving is the one call each language writes by hand (a C function of
 * the typemap file's, wrapped under the name recv/ipc_recv): it uses
 * ipc_recv_alloc() to receive straight into memory of the language's own
 * (Python's bytes or str, a scratch buffer of the Lua state), which no
 * typemap over ipc_recv()'s (void **data, size_t *len) could do.
 *
 * The module name below is the neutral default; each language's build sets
 * the name of its private generated module with SWIG's `-module` option
 * (Python: kiwi_ipc._kiwi_ipc), under a thin hand-written package.
 */
%module kiwi_ipc

%{
#include "kiwi_ipc.h"
%}

/*
 * Not callable from a scripting language, in every language alike:
 * - the interrupt hook is a C function pointer (each language's C installs
 *   its own hook at module load);
 * - received buffers are the binding's own, never freed by scripts;
 * - receiving is hand-written per language on ipc_recv_alloc() (see above),
 *   which takes a C allocator: the C ipc_recv and ipc_recv_timeout, which
 *   hand out a buffer to ipc_free(), are not wrapped (a language may wrap
 *   its own function under those names, as Python does).
 */
%ignore ipc_set_interrupt_hook;
%ignore ipc_interrupt_hook;
%ignore ipc_free;
%ignore ipc_recv;
%ignore ipc_recv_timeout;
%ignore ipc_recv_alloc;
%ignore ipc_alloc_fn;

/*
 * Who is on the other end: struct ipc_peer is only ever ipc_get_peer()'s
 * output, which each language's typemap file turns into its own value
 * (Python: a tuple for Pipe.peer's named tuple; Lua: a table). It is not
 * wrapped as a class.
 */
%ignore ipc_peer;
/* Many pipes at once: ipc_poll() takes a C array of structs, which each
 * language wraps by hand (Python: poll(), Lua: wait()); ipc_pending() and
 * the IPC_POLL* constants are wrapped as they are. */
%ignore ipc_poll;
%ignore ipc_pollitem;
/* Batches: ipc_send_many() takes a C array of structs and
 * ipc_recv_held() an allocator; the bindings wrap them by hand
 * (send_many, recv_many). */
%ignore ipc_send_many;
%ignore ipc_msg;
%ignore ipc_recv_held;

#ifdef SWIGPYTHON
%include "python_typemaps.i"
#endif
#ifdef SWIGLUA
%include "lua_typemaps.i"
#endif

%include "kiwi_ipc.h"
