/*
 * kiwi_ipc_lua.c - hand-written C support for the Lua binding: argument
 * checks, the `nil, message, code` convention, recv, and Ctrl-C.
 *
 * recv. The core module's recv is kiwi_lua_recv() below, not a SWIG
 * wrapper, so that a message costs no malloc(), free() or lua_pcall(): it
 * is received with ipc_recv_alloc() into a scratch buffer that belongs to
 * the Lua state and serves message after message, then copied into a Lua
 * string (the Lua API offers no way to fill a string in place). The buffer
 * is held by a full userdata, the upvalue of the recv closure, so a Lua
 * error while making the string (out of memory) leaks nothing, and its
 * __gc frees the buffer with the state. The allocator that ipc_recv_alloc()
 * calls runs with the pipe's receive lock held, so it is plain C: it never
 * calls the Lua API, which could raise and jump over the unlock. A buffer
 * grown for a large message is given back as soon as a call needs less
 * than a quarter of it (and no message cut short by a timeout waits for
 * it), so that a script that once got 64 MiB does not hold them forever. Large
 * fresh blocks, the buffer and the Lua string made from it alike (see
 * push_message), ask for transparent huge pages: the kernel then fills them
 * with a fault per 2 MiB instead of one per 4 KiB.
 *
 * Ctrl-C. The stock interpreters (lua.c, luajit.c) install a SIGINT handler
 * while a script runs that only sets a Lua debug hook, so that the *next
 * Lua instruction* raises "interrupted!" (it also resets SIGINT to SIG_DFL,
 * so that a second Ctrl-C kills a stuck process). A script blocked in C
 * never runs that instruction, and the library retries an interrupted
 * system call, so the wait would go on until the peer acts. The library
 * therefore asks our interrupt hook whether to stop, when a system call
 * fails with EINTR and every IPC_INTERRUPT_SLICE_MS while it waits, and the
 * hook says yes when either
 *
 *  1. the interpreter's hook is pending on the main thread of the Lua state
 *     that is blocked (5.4's lua.c arms it on the main thread only, whatever
 *     coroutine runs; LuaJIT's hooks belong to the whole state).
 *     kiwi_lua_wait_begin() keeps the blocked Lua thread in a thread-local
 *     for the hook. This needs no handler of ours and no system call, and
 *     it holds whoever has replaced which SIGINT handler since; or
 *  2. our own Ctrl-C handler saw one since this wait began (each wait, in
 *     each thread, notes the count of Ctrl-Cs when it begins, so
 *     overlapping waits never keep an old Ctrl-C alive). For other hosts,
 *     and in case the interpreter's hook is missed, we put a handler in
 *     front of the host's, which records the Ctrl-C and passes it on, so
 *     the host still does what it always does.
 *
 * The call then returns IPC_EINTR having lost nothing, and the binding
 * raises the Lua error from within the C function, so that it is raised
 * inside whatever pcall surrounds the call, on every Lua (see
 * raise_interrupted): the interpreter's usual "interrupted!" if its hook is
 * pending on the calling thread (the binding clears the hook, which has
 * then done its work), otherwise (a coroutine on 5.4, another host)
 * "interrupted".
 *
 * How our handler is put in front of the host's, and kept there, is the
 * OS's part (kiwi_ipc_lua_os.h): on POSIX a SIGINT handler chained to the
 * one SIGINT had (kiwi_ipc_lua_posix.c), on Windows a console control
 * handler (kiwi_ipc_lua_win32.c, which says why not the C runtime's
 * signal()). This file includes no OS header.
 */
#include "kiwi_ipc_lua.h"
#include "kiwi_ipc_lua_os.h"

#include <kiwi_ipc.h>

#include "kiwi_ipc_bind.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* ---------------------------------------------------------------------- */
/* Arguments                                                               */
/* ---------------------------------------------------------------------- */

static int type_error(lua_State *L, int idx, const char *expected)
{
    const char *msg = lua_pushfstring(L, "%s expected, got %s", expected,
                                      luaL_typename(L, idx));
    return luaL_argerror(L, idx, msg);
}

/* Whether the value at idx is a number with an integral value (and if so,
 * that value). Strings are not numbers here, whatever they contain. */
static int to_integer(lua_State *L, int idx, lua_Integer *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER) {
        return 0;
    }
#if LUA_VERSION_NUM >= 503
    int isint = 0;
    *out = lua_tointegerx(L, idx, &isint);
    return isint;
#else
    /* Lua 5.1 and LuaJIT: numbers are doubles; accept exact integers within
     * the range a double holds exactly. The range test also rejects NaN. */
    lua_Number n = lua_tonumber(L, idx);
    if (!(n >= -9007199254740992.0 && n <= 9007199254740992.0)) {
        return 0;
    }
    *out = (lua_Integer)n;
    return (lua_Number)*out == n;
#endif
}

/*
 * A handle beyond C's int is no handle at all: the call is made with 0,
 * which never is one either, so the library answers it like any other
 * unknown handle ("bad_handle"), but its message would then name handle 0.
 * So the handle the caller passed is noted here, per thread, and
 * kiwi_lua_failure() names it instead. Between the check and the call's
 * failure no Lua code runs. Every check of a handle sets or clears the
 * note and every failure clears it, so a note left by a call that raised
 * after the check (a bad timeout) is gone by the next call that takes a
 * handle; and only a "bad_handle" failure, which only such a call can
 * have, reads it.
 */
/*
 * The binding's per-thread state, in one struct: in a shared module each
 * function that touches thread-locals pays a call to find them
 * (__tls_get_addr), once per function for one struct rather than once per
 * variable. out_of_range is the note above; wait_start and blocked belong
 * to Ctrl-C (below).
 */
static _Thread_local struct {
    struct {
        int set;
        lua_Integer value;
    } out_of_range;
    unsigned wait_start; /* sigint_count when this thread's wait began */
    lua_State *blocked;  /* the Lua state (thread) waiting in this thread */
} tls;

/* Bracket a wait for Ctrl-C (kiwi_lua_wait_begin, kiwi_lua_wait_end). */
static inline void wait_begin(lua_State *L);
static inline void wait_end(void);

/* The handle at idx, or 0 (*beyond set) if it is beyond C's int. */
static int check_handle(lua_State *L, int idx, int *beyond, lua_Integer *value)
{
    *beyond = 0;
    *value = 0;
    if (!to_integer(L, idx, value)) {
        return type_error(L, idx, "integer handle");
    }
    *beyond = *value < INT_MIN || *value > INT_MAX;
    return *beyond ? 0 : (int)*value;
}

int kiwi_lua_checkhandle(lua_State *L, int idx)
{
    int beyond;
    lua_Integer value;
    int h = check_handle(L, idx, &beyond, &value);
    tls.out_of_range.set = beyond;
    tls.out_of_range.value = value;
    return h;
}

const char *kiwi_lua_checkname(lua_State *L, int idx)
{
    size_t len;
    if (lua_type(L, idx) != LUA_TSTRING) {
        type_error(L, idx, "string");
    }
    const char *name = lua_tolstring(L, idx, &len);
    /* The C API takes a C string: a NUL would silently cut the name. */
    if (strlen(name) != len) {
        luaL_argerror(L, idx, "pipe name contains a NUL byte");
    }
    return name;
}

const char *kiwi_lua_checkpayload(lua_State *L, int idx, size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        /* No number coercion: 1.0 is "1.0" on 5.4 but "1" on 5.1. */
        type_error(L, idx, "string");
    }
    return lua_tolstring(L, idx, len);
}

int kiwi_lua_opttimeout(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) {
        return IPC_FOREVER;
    }
    if (lua_type(L, idx) != LUA_TNUMBER) {
        return type_error(L, idx, "number of seconds or nil");
    }
    /* The rule both bindings share (kiwi_bind_timeout_ms): round up to
     * whole milliseconds, cap at about 24.8 days, math.huge is forever. */
    int ms;
    switch (kiwi_bind_timeout_ms((double)lua_tonumber(L, idx), &ms)) {
    case KIWI_BIND_TIMEOUT_OK:
        return ms;
    case KIWI_BIND_TIMEOUT_NAN: /* is not negative: say what it is */
        return luaL_argerror(L, idx, "timeout must not be NaN");
    default:
        return luaL_argerror(L, idx, "timeout must not be negative");
    }
}

size_t kiwi_lua_checksize(lua_State *L, int idx)
{
    lua_Integer n;
    if (!to_integer(L, idx, &n)) {
        return (size_t)type_error(L, idx, "integer");
    }
    if (n < 0) {
        return (size_t)luaL_argerror(L, idx, "size must not be negative");
    }
    return (size_t)n;
}

/* ---------------------------------------------------------------------- */
/* Results                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Whether the interpreter's own Ctrl-C error is on its way: lua.c and
 * luajit.c answer SIGINT with a hook of count 1 on calls, returns and
 * instructions (5.4 adds lines) that raises "interrupted!" as soon as Lua
 * code runs again (on 5.4, as our function returns).
 */
static int interpreter_raises(lua_State *L)
{
    const int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT;
    return lua_gethook(L) != NULL && (lua_gethookmask(L) & mask) == mask &&
           lua_gethookcount(L) == 1;
}

/*
 * Ctrl-C is not a result to branch on: it ends the script, with an error
 * raised here, inside the blocking call, so that the protected call around
 * it catches it on every Lua. When the interpreter's hook is pending on L,
 * it is taken over: cleared, as the hook clears itself when it fires, and
 * its "interrupted!" raised here. Left pending, it would fire at the next
 * Lua instruction: on 5.4 as this function returns, still inside the
 * pcall, but on LuaJIT only at the next instruction of a Lua function,
 * which after pcall(ipc.recv, h), or a tail call into recv (Pipe:recv),
 * is the caller's, outside the pcall. (Nor may it stay pending while ours
 * is raised: it would fire inside a Lua message handler, "error in error
 * handling".) A hook pending on another thread (5.4 arms it on the main
 * thread only) is left to fire there.
 */
static int raise_interrupted(lua_State *L)
{
    /* No position: Ctrl-C is no fault of a line (and the caller may be
     * kiwi_ipc.lua's Pipe:recv rather than the script). */
    if (interpreter_raises(L)) {
        lua_sethook(L, NULL, 0, 0); /* first: no hook while we push */
        lua_pushliteral(L, "interrupted!");
    } else {
        lua_pushliteral(L, "interrupted");
    }
    return lua_error(L);
}

/*
 * Push the message of a failure with status: the library's, or for the
 * handle beyond C's int that kiwi_lua_checkhandle() noted, one that names
 * it, in the library's words: "send(4294967296): no such handle (out of
 * range)" rather than "send(0): ...".
 */
static void push_message_of(lua_State *L, int status)
{
    const char *msg = ipc_last_error();
    int beyond = tls.out_of_range.set;
    tls.out_of_range.set = 0;
    if (beyond && status == IPC_EBADHANDLE) {
        /* "<call>(0): ...": the call made with 0 for that handle */
        const char *open = strchr(msg, '(');
        if (open != NULL && strncmp(open, "(0):", 4) == 0) {
            char value[32];
            snprintf(value, sizeof(value), "%lld",
                     (long long)tls.out_of_range.value);
            lua_pushlstring(L, msg, (size_t)(open - msg));
            lua_pushfstring(L, "(%s): no such handle (out of range)", value);
            lua_concat(L, 2);
            return;
        }
    }
    lua_pushstring(L, msg[0] != '\0' ? msg : ipc_strerror(status));
}

int kiwi_lua_failure(lua_State *L, int status)
{
    if (status == IPC_EINTR) {
        tls.out_of_range.set = 0;
        return raise_interrupted(L);
    }
    lua_pushnil(L);
    push_message_of(L, status);
    lua_pushstring(L, ipc_errname(status));
    return 3;
}

/* ---------------------------------------------------------------------- */
/* recv                                                                    */
/* ---------------------------------------------------------------------- */

/* Up to this size a scratch buffer is kept whatever the messages. */
#define SCRATCH_KEEP ((size_t)256 * 1024)
/* Fresh buffers this large ask for huge pages. */
#define SCRATCH_HUGE KIWI_BIND_HUGE_MIN

struct scratch {
    char *p;
    size_t cap;
    size_t asked;   /* the length alloc was asked for in this call, or 0 */
    size_t pending; /* the length of a message that a call asked for and
                       ended in the middle of (timeout, Ctrl-C), or 0 */
    int busy;       /* a recv is using p (see get_scratch) */
};

static int scratch_gc(lua_State *L)
{
    struct scratch *s = lua_touserdata(L, 1);
    free(s->p);
    s->p = NULL;
    s->cap = 0;
    return 0;
}

/* Push a new, empty scratch userdata. */
static struct scratch *new_scratch(lua_State *L)
{
#if LUA_VERSION_NUM >= 504
    struct scratch *s = lua_newuserdatauv(L, sizeof(*s), 0);
#else
    struct scratch *s = lua_newuserdata(L, sizeof(*s));
#endif
    memset(s, 0, sizeof(*s));
    if (luaL_newmetatable(L, "kiwi_ipc.scratch")) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return s;
}

/*
 * The scratch buffer of recv's closure (its upvalue), pushed so that it
 * stays alive for the call. A recv can run inside another one's
 * lua_pushlstring() (LuaJIT runs finalizers there before it copies; a
 * finalizer may receive): then the closure gets a new scratch and the busy
 * one is left to the call that uses it. A scratch left busy by an error (out
 * of memory while making the string) is replaced the same way, and
 * collected.
 */
static struct scratch *get_scratch(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    struct scratch *s = lua_touserdata(L, -1);
    if (s == NULL || s->busy) {
        lua_pop(L, 1);
        s = new_scratch(L);
        lua_pushvalue(L, -1);
        lua_replace(L, lua_upvalueindex(1));
    }
    return s;
}

/* Ask for huge pages for a fresh block of `len` bytes, if it is large: it
 * is untouched yet, so the advice decides how its pages come (the helper
 * shared with the Python binding, bindings/common). */
static void advise_huge(void *p, size_t len)
{
    if (len >= SCRATCH_HUGE) {
        kiwi_bind_advise_huge(p, len);
    }
}

/* ipc_alloc_fn: plain C only (the pipe's receive lock is held). The old
 * contents need not be kept, so a buffer too small is freed first. */
static void *scratch_alloc(void *ctx, size_t len)
{
    struct scratch *s = ctx;
    s->asked = len;
    if (s->p != NULL && s->cap >= len) {
        return s->p;
    }
    free(s->p);
    s->cap = 0;
    /* Small buffers grow by powers of two from 1 KiB; large ones are
     * exactly as large as asked (rounded to pages). */
    size_t cap = 1024;
    while (cap < len && cap < SCRATCH_KEEP) {
        cap *= 2;
    }
    if (cap < len) {
        cap = len <= SIZE_MAX - 4095 ? (len + 4095) & ~(size_t)4095 : len;
    }
    s->p = malloc(cap);
    if (s->p == NULL) {
        return NULL;
    }
    s->cap = cap;
    advise_huge(s->p, cap);
    return s->p;
}

/* After a call: give back a large buffer that the call used little of,
 * unless a message that needs it is still coming: the calls that go on
 * with a message cut short ask for nothing until it is complete (the
 * library holds the part that came), and freeing the buffer in between
 * would make the call that completes it fault in a fresh one. */
static void scratch_trim(struct scratch *s)
{
    size_t need = s->asked > s->pending ? s->asked : s->pending;
    if (s->cap > SCRATCH_KEEP && need < s->cap / 4) {
        free(s->p);
        s->p = NULL;
        s->cap = 0;
    }
    s->asked = 0;
}

/*
 * The Lua string of a large message is a fresh block too, and filling it
 * 4 KiB page fault by 4 KiB page fault is most of the cost of receiving it
 * (half of the receiver's time for 64 MiB messages). Its address is known
 * only to the state's allocator, so while lua_pushlstring() makes it, the
 * allocator is wrapped in one that gives large fresh blocks the same advice
 * and is otherwise the allocator itself.
 *
 * The wrapper keeps no state of its own: its `ud` is a record of the
 * wrapped allocator and its `ud` that is never freed (one per allocator,
 * normally one per process; with more than MAX_ALLOCATORS the advice is
 * skipped). So if lua_pushlstring() raises (no memory; in LuaJIT also an
 * error in a finalizer it ran), the wrapper left in place is harmless, and
 * the next large message puts the state's own allocator back.
 */
struct allocator {
    lua_Alloc f;
    void *ud;
};

#define MAX_ALLOCATORS 16
static struct allocator allocators[MAX_ALLOCATORS];
static int n_allocators;

/* The lasting record of allocator f with ud, or NULL if there is no room. */
static const struct allocator *remember_allocator(lua_Alloc f, void *ud)
{
    const struct allocator *found = NULL;
    kiwi_lua_os_lock();
    for (int i = 0; i < n_allocators && found == NULL; i++) {
        if (allocators[i].f == f && allocators[i].ud == ud) {
            found = &allocators[i];
        }
    }
    if (found == NULL && n_allocators < MAX_ALLOCATORS) {
        allocators[n_allocators].f = f;
        allocators[n_allocators].ud = ud;
        found = &allocators[n_allocators++];
    }
    kiwi_lua_os_unlock();
    return found;
}

static void *advised_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    const struct allocator *a = ud;
    void *p = a->f(a->ud, ptr, osize, nsize);
    if (p != NULL && ptr == NULL) {
        advise_huge(p, nsize);
    }
    return p;
}

/* Push the message as a Lua string. */
static void push_message(lua_State *L, const char *p, size_t len)
{
    if (len >= SCRATCH_HUGE) {
        void *ud;
        lua_Alloc f = lua_getallocf(L, &ud);
        const struct allocator *a =
            f == advised_alloc ? ud : remember_allocator(f, ud);
        if (a != NULL) {
            lua_setallocf(L, advised_alloc, (void *)a);
            lua_pushlstring(L, p, len);
            lua_setallocf(L, a->f, a->ud);
            return;
        }
    }
    lua_pushlstring(L, p, len);
}

/* Receive one message into the scratch `s` and push it: returns 1, or
 * what kiwi_lua_failure() returns. */
static int recv_push(lua_State *L, struct scratch *s, int handle,
                     int timeout_ms)
{
    size_t len = 0;
    s->busy = 1;
    s->asked = 0;
    wait_begin(L);
    int rc = ipc_recv_alloc(handle, scratch_alloc, s, &len, timeout_ms);
    wait_end();
    if (rc < 0) {
        /* A message cut short by a timeout or Ctrl-C keeps its buffer for
         * the call that completes it (see scratch_trim). The scratch is the
         * Lua state's, not the pipe's: a message of another pipe may take
         * it meanwhile, which is no harm. */
        if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
            if (s->asked > 0) {
                s->pending = s->asked;
            }
        } else {
            s->pending = 0;
        }
        s->busy = 0;
        scratch_trim(s);
        return kiwi_lua_failure(L, rc);
    }
    /* May raise (no memory): the buffer stays with the scratch. */
    push_message(L, len > 0 ? s->p : "", len);
    s->busy = 0;
    s->pending = 0;
    scratch_trim(s);
    return 1;
}

/*
 * core.send(h, message [, timeout]) -> true, or nil, message, code: the
 * header's ipc_send_timeout(), written by hand rather than wrapped by SWIG
 * for its cost per call, which a stream of small messages pays for each:
 * SWIG's wrapper checked the argument count twice and bracketed the call
 * for Ctrl-C through two calls into this file, each finding the
 * thread-locals again; here the checks are the typemaps' own (the same
 * errors, in the same order) and the bracket is inlined.
 */
static int kiwi_lua_send(lua_State *L)
{
    int top = lua_gettop(L);
    if (top > 3) {
        luaL_argerror(L, 4, "no value expected");
    }
    int handle = kiwi_lua_checkhandle(L, 1);
    size_t len;
    const char *data = kiwi_lua_checkpayload(L, 2, &len);
    int timeout_ms = top < 3 ? IPC_FOREVER : kiwi_lua_opttimeout(L, 3);
    wait_begin(L);
    int rc = ipc_send_timeout(handle, data, len, timeout_ms);
    wait_end();
    if (rc < 0) {
        return kiwi_lua_failure(L, rc);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int kiwi_lua_recv(lua_State *L)
{
    if (lua_gettop(L) > 2) {
        luaL_argerror(L, 3, "no value expected");
    }
    int handle = kiwi_lua_checkhandle(L, 1);
    int timeout_ms =
        lua_gettop(L) < 2 ? IPC_FOREVER : kiwi_lua_opttimeout(L, 2);
    return recv_push(L, get_scratch(L), handle, timeout_ms);
}

/* ---------------------------------------------------------------------- */
/* Ctrl-C                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Ctrl-Cs seen by our handler, counted; each wait remembers the count when
 * it began (wait_start, per thread, as a thread has one wait at a time) and
 * is interrupted once the count has moved. So a Ctrl-C belongs to the waits
 * in progress when it came, in every thread, and to no wait that begins
 * later, however waits of several threads overlap. (A single flag cleared
 * when the number of waits went from 0 to 1 stayed set while waits
 * overlapped, and cut short every later wait.) Lock-free, so that the
 * handler may add to it; an unsigned count wraps harmlessly.
 */
static atomic_uint sigint_count;

/* Our handler saw a Ctrl-C (kiwi_ipc_lua_os.h): may run in a signal
 * handler, or on a thread of the OS's own. */
void kiwi_lua_ctrl_c(void)
{
    atomic_fetch_add_explicit(&sigint_count, 1, memory_order_relaxed);
}

/*
 * The thread whose debug hook the stock interpreter sets on Ctrl-C. Called
 * by the hook, on the blocked thread, while L's C function waits: that
 * function may use L's stack, and these calls cannot raise.
 */
static lua_State *main_thread(lua_State *L)
{
#if LUA_VERSION_NUM >= 502
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main != NULL ? main : L;
#else
    return L; /* LuaJIT: hooks belong to the whole state */
#endif
}

/* kiwi_lua_wait_begin() and _end(), inlined into the calls of this file
 * (send and recv, the hot paths, among them). */
static inline void wait_begin(lua_State *L)
{
    tls.wait_start = atomic_load_explicit(&sigint_count, memory_order_relaxed);
    tls.blocked = L;
    kiwi_lua_os_watch_ctrl_c();
}

static inline void wait_end(void)
{
    tls.blocked = NULL;
}

void kiwi_lua_wait_begin(lua_State *L)
{
    wait_begin(L);
}

void kiwi_lua_wait_end(void)
{
    wait_end();
}

/* Runs on the blocked thread, after a signal or a slice of waiting. */
static int interrupt_hook(void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&sigint_count, memory_order_relaxed) !=
        tls.wait_start) {
        return 1;
    }
    lua_State *L = tls.blocked;
    if (L != NULL && interpreter_raises(main_thread(L))) {
        return 1;
    }
    /* Off the fast path: make sure our handler is still in front. */
    kiwi_lua_os_recheck_ctrl_c();
    return 0;
}

/* core.timeout_ms(seconds) -> milliseconds: the rule every blocking call
 * applies to its timeout (kiwi_lua_opttimeout), for the tests, mirroring
 * Python's _kiwi_ipc.timeout_ms. */
static int kiwi_lua_timeout_ms(lua_State *L)
{
    if (lua_gettop(L) > 1) {
        luaL_argerror(L, 2, "no value expected");
    }
    lua_pushinteger(L, (lua_Integer)kiwi_lua_opttimeout(L, 1));
    return 1;
}

/* ---- batches ---------------------------------------------------------- */

/*
 * core.send_many(h, list, [timeout]) -> count, or nil, message, code:
 * every string of the array `list`, in order, each its own frame, in one
 * ipc_send_many(). The strings stay in the table (so alive) while it
 * waits. Every element is checked first: one that is not a string raises
 * and sends nothing. A count below #list: the time ran out part-way (the
 * counted messages are committed, the rest not sent). Ctrl-C part-way
 * too, as ipc_send_many() answers it: once a message is committed the
 * call returns the count rather than raising, which would leave the
 * script unable to tell what went (the interpreter's own Ctrl-C hook, if
 * pending, is left in place and raises "interrupted!" as soon as Lua code
 * runs, as for a Ctrl-C during any C call that returns). Before any
 * message was committed, Ctrl-C raises, as in every blocking call.
 */
static int kiwi_lua_send_many(lua_State *L)
{
    if (lua_gettop(L) > 3) {
        luaL_argerror(L, 4, "no value expected");
    }
    int handle = kiwi_lua_checkhandle(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int timeout_ms = kiwi_lua_opttimeout(L, 3);
#if LUA_VERSION_NUM >= 502
    size_t n = (size_t)lua_rawlen(L, 2);
#else
    size_t n = (size_t)lua_objlen(L, 2);
#endif
    if (n > INT_MAX) {
        luaL_argerror(L, 2, "too many messages for one call");
    }
    struct ipc_msg *msgs =
        lua_newuserdata(L, (n > 0 ? n : 1) * sizeof(*msgs)); /* freed by GC */
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (int)(i + 1));
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pushfstring(L, "message %d: string expected, got %s",
                            (int)(i + 1), luaL_typename(L, -1));
            luaL_argerror(L, 2, lua_tostring(L, -1));
        }
        msgs[i].data = lua_tolstring(L, -1, &msgs[i].len);
        lua_pop(L, 1); /* the table keeps it */
    }
    wait_begin(L);
    int rc = ipc_send_many(handle, msgs, n, timeout_ms);
    wait_end();
    if (rc < 0) {
        return kiwi_lua_failure(L, rc);
    }
    lua_pushinteger(L, rc);
    return 1;
}

/*
 * core.recv_many(h, [max], [timeout]) -> array of messages, or nil,
 * message, code: the first message as core.recv receives it (waiting at
 * most timeout), then every whole message already inside the handle
 * (ipc_recv_held(): no system call, no wait), up to max in all (nil: no
 * limit). Whatever ends the burst is left to the next call.
 */
static int kiwi_lua_recv_many(lua_State *L)
{
    if (lua_gettop(L) > 3) {
        luaL_argerror(L, 4, "no value expected");
    }
    int handle = kiwi_lua_checkhandle(L, 1);
    lua_Integer max = 0;
    if (!lua_isnoneornil(L, 2)) {
        lua_Integer v = 0;
        if (!to_integer(L, 2, &v) || v < 1) {
            luaL_argerror(L, 2, "a count of at least 1 expected");
        }
        max = v;
    }
    int timeout_ms = kiwi_lua_opttimeout(L, 3);
    struct scratch *s = get_scratch(L); /* shared with recv: an upvalue */

    lua_createtable(L, max > 0 && max < 128 ? (int)max : 16, 0);
    int r = recv_push(L, s, handle, timeout_ms);
    if (r != 1) {
        return r; /* nil, message, code */
    }
    lua_rawseti(L, -2, 1);
    for (lua_Integer k = 2; max == 0 || k <= max; k++) {
        size_t len = 0;
        s->busy = 1;
        s->asked = 0;
        int rc = ipc_recv_held(handle, scratch_alloc, s, &len);
        if (rc != 1) {
            /* None held, or no memory for the next one (it stays for the
             * next call, which reports what it must). */
            s->busy = 0;
            break;
        }
        push_message(L, len > 0 ? s->p : "", len);
        s->busy = 0;
        lua_rawseti(L, -2, (int)k);
    }
    scratch_trim(s);
    return 1;
}

/* ---- many pipes at once ----------------------------------- */

/*
 * core.poll(handles, [timeout, [events]]) -> revents: ipc_poll() over an
 * array of integer handles, each asked for `events` (default IPC_POLLIN);
 * returns the array of their revents, or nil, message, code. Bracketed
 * for Ctrl-C like every blocking call.
 */
static int kiwi_lua_poll(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int timeout_ms = kiwi_lua_opttimeout(L, 2);
    short events = (short)luaL_optinteger(L, 3, IPC_POLLIN);
#if LUA_VERSION_NUM >= 502
    size_t n = (size_t)lua_rawlen(L, 1);
#else
    size_t n = (size_t)lua_objlen(L, 1);
#endif
    struct ipc_pollitem *it =
        lua_newuserdata(L, (n > 0 ? n : 1) * sizeof(*it)); /* freed by GC */
    for (size_t i = 0; i < n; i++) {
        int beyond; /* such a handle is reported as IPC_POLLNVAL */
        lua_Integer value;
        lua_rawgeti(L, 1, (int)(i + 1));
        it[i].handle = check_handle(L, -1, &beyond, &value);
        it[i].events = events;
        it[i].revents = 0;
        lua_pop(L, 1);
    }
    wait_begin(L);
    int rc = ipc_poll(it, n, timeout_ms);
    wait_end();
    if (rc < 0) {
        return kiwi_lua_failure(L, rc);
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, it[i].revents);
        lua_rawseti(L, -2, (int)(i + 1));
    }
    return 1;
}

/* SWIG's luaopen_kiwi_ipc_core, renamed by lua_typemaps.i's %begin. */
int kiwi_lua_swig_open(lua_State *L);

/* The module's entry point, what require calls: SWIG's set-up under the
 * open lock (kiwi_ipc_lua_os.h). Two states on two threads requiring the
 * module at once raced in it (an ASan run of overlap_spec.lua crashed in
 * SWIG_PropagateClientData). Run as a protected call, so that an error in
 * it (out of memory) releases the lock before it goes on up. */
#if defined(_WIN32)
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
    int luaopen_kiwi_ipc_core(lua_State *L)
{
    int args = lua_gettop(L);
    lua_pushcfunction(L, kiwi_lua_swig_open);
    lua_insert(L, 1);
    kiwi_lua_os_open_lock();
    int rc = lua_pcall(L, args, LUA_MULTRET, 0);
    kiwi_lua_os_open_unlock();
    if (rc != 0) {
        return lua_error(L);
    }
    return lua_gettop(L);
}

void kiwi_lua_open(lua_State *L)
{
    lua_pushcfunction(L, kiwi_lua_poll);
    lua_setfield(L, -2, "poll");
    lua_pushcfunction(L, kiwi_lua_timeout_ms);
    lua_setfield(L, -2, "timeout_ms");
    ipc_set_interrupt_hook(interrupt_hook, NULL);
    lua_pushcfunction(L, kiwi_lua_send_many);
    lua_setfield(L, -2, "send_many");
    lua_pushcfunction(L, kiwi_lua_send);
    lua_setfield(L, -2, "send");
    /* recv's scratch buffer is its upvalue: reached in a few instructions
     * (a registry lookup costs a hash of the key), owned by the closure;
     * recv_many shares it. */
    new_scratch(L);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, kiwi_lua_recv_many, 1);
    lua_setfield(L, -3, "recv_many");
    lua_pushcclosure(L, kiwi_lua_recv, 1);
    lua_setfield(L, -2, "recv");
}
