/*
 * lua_system_core.c - system.core for busted on Lua 5.4 for Windows: the
 * three functions busted 2.1 takes from luasystem (busted/core.lua:
 * gettime, monotime, sleep), for the win_lua test only.
 *
 * luasystem itself cannot be built here: Debian's mirror serves no source
 * of lua-system 0.2.1 (404 on its .orig.tar.gz), and luarocks.org is not
 * reachable. Its pure-Lua part, system/init.lua (require "system.core"),
 * comes from Debian's package as the rest of busted does.
 *
 *   gettime()  -> seconds since 1970 (wall clock, sub-millisecond)
 *   monotime() -> seconds since some point (QueryPerformanceCounter)
 *   sleep(s)   -> sleeps s seconds (at least; whole milliseconds)
 */
#include <windows.h>

#include <lauxlib.h>
#include <lua.h>

static int l_gettime(lua_State *L)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    ULARGE_INTEGER t;
    t.LowPart = ft.dwLowDateTime;
    t.HighPart = ft.dwHighDateTime;
    /* 100 ns units since 1601-01-01; 11644473600 s from then to 1970. */
    lua_pushnumber(L, (lua_Number)t.QuadPart / 1e7 - 11644473600.0);
    return 1;
}

static int l_monotime(lua_State *L)
{
    LARGE_INTEGER count, freq;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&freq);
    lua_pushnumber(L, (lua_Number)count.QuadPart / (lua_Number)freq.QuadPart);
    return 1;
}

static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0) {
        double ms = s * 1000.0 + 0.999;
        Sleep(ms < 4e9 ? (DWORD)ms : INFINITE - 1);
    }
    return 0;
}

__declspec(dllexport) int luaopen_system_core(lua_State *L)
{
    static const luaL_Reg fns[] = {{"gettime", l_gettime},
                                   {"monotime", l_monotime},
                                   {"sleep", l_sleep},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
