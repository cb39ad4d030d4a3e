-- The Lua binding of kiwi-ipc as a rock: `luarocks make` in a checkout, or
-- `luarocks install kiwi_ipc-<v>-1.src.rock` (scripts/release makes it: this
-- file, with the md5 of the source archive added, and that archive, so the
-- rock installs offline).
--
-- The cmake build type runs the project's own CMake build with the Lua
-- binding only, for the Lua that LuaRocks is building for ($(LUA): Lua 5.4,
-- or LuaJIT as Lua 5.1), and installs kiwi_ipc.lua and kiwi_ipc_core.so into
-- the rock. Building needs CMake >= 3.18, a C compiler, pkg-config with that
-- Lua's development files (lua5.4 or luajit .pc) and SWIG >= 4.1 on PATH.
rockspec_format = "3.0"
package = "kiwi_ipc"
version = "0.1.0-1"
source = {
   -- The release's own source archive (`git archive` of the tag, made by
   -- scripts/release), published as an asset of the GitHub release v0.1.0:
   -- the project records no other public home (see scripts/release). The
   -- .src.rock carries this very file, so installing it fetches nothing;
   -- `luarocks make` builds the local checkout and fetches nothing either.
   url = "https://github.com/kiwi-ipc/kiwi-ipc/releases/download/v0.1.0/kiwi-ipc-0.1.0.tar.gz",
   dir = "kiwi-ipc-0.1.0",
}
description = {
   summary = "Be either end of a Kiwi language ipc pipe from Lua",
   detailed = [[
kiwi_ipc speaks the wire protocol of the Kiwi language's ipc package (named
pipes carrying length-prefixed UTF-8 frames over Unix domain sockets, at the
paths .NET uses), so that a Lua script can be either end of a Kiwi pipe.
A thin Lua layer over a SWIG module that links the C library statically.
]],
   license = "MIT",
   labels = { "ipc", "kiwi" },
}
supported_platforms = { "linux", "macosx" }
dependencies = {
   "lua >= 5.1, < 5.5",
}
build = {
   type = "cmake",
   variables = {
      CMAKE_BUILD_TYPE = "Release",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      KIWI_IPC_BUILD_LUA = "ON",
      KIWI_IPC_BUILD_PYTHON = "OFF",
      KIWI_IPC_BUILD_TESTS = "OFF",
      KIWI_IPC_BUILD_EXAMPLES = "OFF",
      KIWI_IPC_BUILD_TOOL = "OFF",
      BUILD_TESTING = "OFF",
      -- The rock holds the Lua module only, not the C library.
      KIWI_IPC_INSTALL = "OFF",
      KIWI_IPC_LUA_INSTALL_FOR = "$(LUA)",
      KIWI_IPC_LUA_54_CMOD_DIR = "$(LIBDIR)",
      KIWI_IPC_LUA_54_LMOD_DIR = "$(LUADIR)",
      KIWI_IPC_LUA_jit_CMOD_DIR = "$(LIBDIR)",
      KIWI_IPC_LUA_jit_LMOD_DIR = "$(LUADIR)",
   },
}
