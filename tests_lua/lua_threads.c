/*
 * lua_threads.c - kiwi_test_threads, a Lua module for the tests only: runs
 * a Lua chunk in a new Lua state on a new thread of this process, so that
 * a spec can have several threads block in the binding at once (the
 * binding's Ctrl-C state is per process; see overlap_spec.lua). Built by
 * bindings/lua/lua.cmake next to each Lua's kiwi_ipc_core when the tests are
 * on.
 *
 *   local T = require "kiwi_test_threads"
 *   local t = T.start(code)   -- code runs in a fresh state (standard libs,
 *                             -- LUA_PATH/LUA_CPATH from the environment)
 *   local ok, result = T.join(t)   -- waits; result: tostring of what the
 *                                  -- chunk returned, or its error
 *
 * join may be called again after an error interrupted it (Ctrl-C): it then
 * returns the same result.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define JOB "kiwi_test_threads.job"

struct job {
    pthread_t thread;
    lua_State *L; /* the thread's own state, until joined */
    char *code;
    char *result;
    int ok;
    int started;
    int joined;
};

static void *run(void *arg)
{
    struct job *j = arg;
    int rc = luaL_loadstring(j->L, j->code);
    if (rc == 0) {
        rc = lua_pcall(j->L, 0, 1, 0);
    }
    const char *s = lua_tostring(j->L, -1);
    j->ok = rc == 0;
    j->result = strdup(s != NULL ? s : "(not a string)");
    return NULL;
}

static void finish(struct job *j)
{
    if (j->started && !j->joined) {
        pthread_join(j->thread, NULL);
        j->joined = 1;
    }
    if (j->L != NULL) {
        lua_close(j->L);
        j->L = NULL;
    }
}

static int job_gc(lua_State *L)
{
    struct job *j = luaL_checkudata(L, 1, JOB);
    finish(j);
    free(j->code);
    free(j->result);
    j->code = j->result = NULL;
    return 0;
}

static int start(lua_State *L)
{
    size_t len;
    const char *code = luaL_checklstring(L, 1, &len);
    struct job *j = lua_newuserdata(L, sizeof(*j));
    memset(j, 0, sizeof(*j));
    luaL_getmetatable(L, JOB);
    lua_setmetatable(L, -2);
    j->code = malloc(len + 1);
    j->L = luaL_newstate();
    if (j->code == NULL || j->L == NULL) {
        return luaL_error(L, "out of memory");
    }
    memcpy(j->code, code, len + 1);
    luaL_openlibs(j->L);
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        return luaL_error(L, "pthread_create failed");
    }
    j->started = 1;
    return 1;
}

static int join(lua_State *L)
{
    struct job *j = luaL_checkudata(L, 1, JOB);
    finish(j);
    lua_pushboolean(L, j->ok);
    lua_pushstring(L, j->result != NULL ? j->result : "(no result)");
    return 2;
}

/* The one symbol exported (the build hides the rest). */
__attribute__((visibility("default"))) int
luaopen_kiwi_test_threads(lua_State *L)
{
    if (luaL_newmetatable(L, JOB)) {
        lua_pushcfunction(L, job_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, start);
    lua_setfield(L, -2, "start");
    lua_pushcfunction(L, join);
    lua_setfield(L, -2, "join");
    return 1;
}
