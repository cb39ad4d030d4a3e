#!/usr/bin/env bash
# test_lua_installed.sh LUA CMOD_DIR LMOD_DIR - the Lua module that
# `cmake --install` put into $KIWI_PREFIX: load it with LUA (lua5.4 or
# luajit) from the installed directories alone (no default search path) and
# do round trips with the installed C peer.
source "$(dirname "$0")/lib.sh"
lua=$1
cmod=$2
lmod=$3
[[ "$cmod" = /* ]] || cmod=$KIWI_PREFIX/$cmod
[[ "$lmod" = /* ]] || lmod=$KIWI_PREFIX/$lmod
need "$lua" "Debian package lua5.4 or luajit"
[[ -f "$cmod/kiwi_ipc_core.so" ]] || die "no $cmod/kiwi_ipc_core.so"
[[ -f "$lmod/kiwi_ipc.lua" ]] || die "no $lmod/kiwi_ipc.lua"

cd "$KIWI_TMP"
LUA_PATH="$lmod/?.lua" LUA_CPATH="$cmod/?.so" \
    "$lua" "$KIWI_SRC/tests_install/roundtrip.lua" \
    "$KIWI_WORK/bin/kiwi_echo" "$KIWI_TMP" "$KIWI_PREFIX"
say "passed"
