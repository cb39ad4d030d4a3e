/*
 * kiwi_ipc_lua.c - hand-written C support for the Lua binding: argument
 * checks, the `nil, message, code` convention, and Ctrl-C.
 *
 * Ctrl-C. The stock interpreters (lua.c, luajit.c) install a SIGINT handler
 * while a script runs that only sets a Lua debug hook, so that the *next
 * Lua instruction* raises "interrupted!". A script blocked in C never runs
 * that instruction, and the library retries an interrupted poll(), so the
 * wait would go on until the peer acts. Therefore, at each blocking call,
 * if SIGINT has a handler we put one of ours in front of it that
 * records the signal and then calls the old handler, so the interpreter
 * still does what it always does. The library's interrupt hook (consulted
 * when poll() fails with EINTR and every IPC_INTERRUPT_SLICE_MS) reports
 * the recorded signal, and the call returns IPC_EINTR having lost nothing.
 * Then, if the interpreter's hook is pending, the call returns nil,
 * message, "interrupted" and the hook raises the interpreter's usual
 * "interrupted!" at once; otherwise (another host, another handler) the
 * binding raises the Lua error "interrupted" itself. Our handler stays in
 * place after the call (see kiwi_lua_wait_begin); when the chained handler
 * replaces it (lua.c resets SIGINT to SIG_DFL when it fires, so that a
 * second Ctrl-C kills a stuck process), that choice stands.
 *
 * When SIGINT is ignored or has its default action there is nothing to do:
 * default Ctrl-C ends the process anyway, and an ignored one is meant to be.
 */
#define _POSIX_C_SOURCE 200809L

#include "kiwi_ipc_lua.h"

#include <kiwi_ipc.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

int kiwi_lua_checkhandle(lua_State *L, int idx)
{
    lua_Integer h;
    if (!to_integer(L, idx, &h)) {
        return type_error(L, idx, "integer handle");
    }
    /* Out of int range is no handle at all; 0 never is one either, so the
     * library answers it like any other unknown handle. */
    return h < INT_MIN || h > INT_MAX ? 0 : (int)h;
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
    lua_Number ms = lua_tonumber(L, idx) * 1000.0;
    if (!(ms >= 0)) { /* negative or NaN */
        return luaL_argerror(L, idx, "timeout must not be negative");
    }
    if (ms >= (lua_Number)INT_MAX) { /* about 24.8 days, or math.huge */
        return IPC_FOREVER;
    }
    /* Round up, so that a small positive timeout never becomes 0 ("do not
     * wait"), but forgive the last bits of binary fractions (0.29 * 1000). */
    int whole = (int)ms;
    return ms - whole > 1e-6 ? whole + 1 : whole;
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

struct message {
    const char *data;
    size_t len;
};

static int push_message(lua_State *L)
{
    const struct message *m = lua_touserdata(L, 1);
    lua_pushlstring(L, m->data, m->len);
    return 1;
}

void kiwi_lua_pushmessage(lua_State *L, void *data, size_t len)
{
    /* Copy under lua_pcall: a memory error while making a large string must
     * not jump over ipc_free(). */
    struct message m = {data != NULL ? data : "", len};
    lua_pushcfunction(L, push_message);
    lua_pushlightuserdata(L, &m);
    int rc = lua_pcall(L, 1, 1, 0);
    ipc_free(data);
    if (rc != 0) {
        lua_error(L);
    }
}

/*
 * Whether the interpreter's own Ctrl-C error is on its way: lua.c and
 * luajit.c answer SIGINT with a hook of count 1 that raises "interrupted!"
 * as soon as Lua code runs again (on 5.4, as our function returns).
 */
static int interpreter_raises(lua_State *L)
{
    return lua_gethook(L) != NULL &&
           (lua_gethookmask(L) & LUA_MASKCOUNT) != 0 &&
           lua_gethookcount(L) == 1;
}

int kiwi_lua_failure(lua_State *L, int status)
{
    const char *msg = ipc_last_error();
    if (status == IPC_EINTR && !interpreter_raises(L)) {
        /* Ctrl-C is not a result to branch on: it ends the script. (Were
         * the interpreter's error pending too, raising ours would make it
         * fire inside the message handler: "error in error handling".) */
        lua_pushliteral(L, "interrupted");
        return lua_error(L);
    }
    lua_pushnil(L);
    lua_pushstring(L, msg[0] != '\0' ? msg : ipc_strerror(status));
    lua_pushstring(L, ipc_errname(status));
    return 3;
}

/* ---------------------------------------------------------------------- */
/* Ctrl-C                                                                  */
/* ---------------------------------------------------------------------- */

/* Set by our handler, read by the interrupt hook; cleared when a wait
 * begins. */
static volatile sig_atomic_t sigint_seen;

/* Blocking calls in progress (Lua states in several threads may wait at
 * once): the first one clears the flag of an earlier Ctrl-C. */
static atomic_int wait_depth;
/* Serialises installing our handler and the `chained` it reads. */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction chained; /* what SIGINT did before ours */

static void on_sigint(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    sigint_seen = 1;
    if (chained.sa_flags & SA_SIGINFO) {
        chained.sa_sigaction(sig, info, context);
    } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) {
        chained.sa_handler(sig);
    }
    errno = saved_errno;
}

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigint;
}

static int is_handler(const struct sigaction *sa)
{
    if (sa->sa_flags & SA_SIGINFO) {
        return sa->sa_sigaction != NULL && !is_ours(sa);
    }
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/*
 * Our handler stays installed after the call: it only records the signal
 * and chains, so it changes nothing for the interpreter, and leaving it
 * saves two sigaction() calls per send and recv (measured: a third of a
 * Lua ping-pong round trip). Whoever replaces it later (lua.c does, when
 * Ctrl-C fires or a REPL line ends) wins, and the next blocking call puts
 * ours in front again. One sigaction() per call remains, to look.
 */
void kiwi_lua_wait_begin(void)
{
    if (atomic_fetch_add(&wait_depth, 1) == 0) {
        sigint_seen = 0;
    }
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0 || !is_handler(&current)) {
        return; /* ours already, or default/ignored: nothing to chain */
    }
    pthread_mutex_lock(&install_lock);
    struct sigaction ours;
    memset(&ours, 0, sizeof(ours));
    ours.sa_sigaction = on_sigint;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    chained = current; /* before ours can run */
    sigaction(SIGINT, &ours, NULL);
    pthread_mutex_unlock(&install_lock);
}

void kiwi_lua_wait_end(void)
{
    atomic_fetch_sub(&wait_depth, 1);
}

static int interrupt_hook(void *arg)
{
    (void)arg;
    return sigint_seen != 0;
}

void kiwi_lua_install_hook(void)
{
    ipc_set_interrupt_hook(interrupt_hook, NULL);
}
