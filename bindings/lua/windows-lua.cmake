# bindings/lua/windows-lua.cmake - where Lua 5.4 for Windows is, for the Lua
# binding cross-built with mingw-w64 (bindings/lua/lua.cmake) and its busted run
# under wine (tests_windows, win_lua). scripts/fetch-windows-deps lua makes
# it: lua.exe, lua54.dll, include/, and rocks/ (busted's C modules).
include_guard(GLOBAL)

set(_kiwi_cache "$ENV{KIWI_IPC_CACHE}")
if(NOT _kiwi_cache)
  set(_kiwi_cache "$ENV{HOME}/.cache/kiwi-ipc")
endif()
set(KIWI_IPC_WIN_LUA_DIR "${_kiwi_cache}/windows/lua54" CACHE PATH
  "Lua 5.4 for Windows: lua.exe, lua54.dll, include/ (scripts/fetch-windows-deps lua)")
if(NOT EXISTS "${KIWI_IPC_WIN_LUA_DIR}/lua54.dll" OR
   NOT EXISTS "${KIWI_IPC_WIN_LUA_DIR}/include/lua.h")
  message(FATAL_ERROR "kiwi-ipc: no Lua 5.4 for Windows in "
    "${KIWI_IPC_WIN_LUA_DIR}: run scripts/fetch-windows-deps lua")
endif()
