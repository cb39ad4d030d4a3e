#!/usr/bin/env bash
# test_luarocks.sh 5.4|jit - `luarocks make` the rockspec from a copy of the
# checkout into a temporary rock tree, for Lua 5.4 or for LuaJIT (as Lua
# 5.1), then `require "kiwi_ipc"` with that tree's paths (`luarocks path`)
# and do round trips with the installed C peer. No LuaRocks server is
# needed: `luarocks make` builds the local tree.
source "$(dirname "$0")/lib.sh"
flavour=$1
need luarocks "Debian package luarocks"
need swig "SWIG >= 4.1: pip install -r requirements-test.txt"
need pkg-config "Debian package pkg-config"
case $flavour in
5.4)
    lua=lua5.4 luaver=5.4 pc=lua5.4
    need "$lua" "Debian package lua5.4"
    ;;
jit)
    lua=luajit luaver=5.1 pc=luajit
    need "$lua" "Debian package luajit"
    ;;
*) die "usage: test_luarocks.sh 5.4|jit" ;;
esac
pkg-config --exists "$pc" || skip "no $pc.pc (Debian package liblua5.4-dev or libluajit-5.1-dev)"

version=$(kiwi_version)
rockspec=kiwi_ipc-$version-1.rockspec
[[ -f "$KIWI_SRC/$rockspec" ]] || die "no $rockspec at the top of the tree (the version is $version)"

# A copy of what the build needs, so that LuaRocks' build.luarocks/ never
# lands in the sources and the two Luas can build at the same time.
work=$KIWI_WORK/luarocks-$flavour
fresh_dir "$work/src"
(cd "$KIWI_SRC" && cp -r CMakeLists.txt cmake libipc swig bindings \
    kiwi_ipc.pc.in LICENSE README.md "$rockspec" "$work/src/")

lr=(luarocks --lua-version "$luaver")
if [[ $flavour == jit ]]; then
    # Debian's luarocks knows Lua 5.1 as lua5.1; point it at LuaJIT.
    cat >"$work/config.lua" <<LUA
lua_interpreter = "luajit"
variables = {
   LUA_DIR = "/usr",
   LUA_BINDIR = "$(dirname "$(command -v luajit)")",
   LUA_INCDIR = "$(pkg-config --variable=includedir luajit)",
}
LUA
    export LUAROCKS_CONFIG=$work/config.lua
fi
say "$("${lr[@]}" config variables.LUA) builds $rockspec"

tree=$work/tree
(cd "$work/src" && "${lr[@]}" make --tree "$tree" "$rockspec") \
    >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; die "luarocks make"; }
grep -E 'Installing|now installed' "$work/make.log"
"${lr[@]}" list --tree "$tree" --porcelain | grep -q "^kiwi_ipc	$version-1" ||
    die "luarocks list does not show kiwi_ipc $version-1"

eval "$("${lr[@]}" path --tree "$tree")"
cd "$KIWI_TMP"
"$lua" "$KIWI_SRC/tests_install/roundtrip.lua" "$KIWI_WORK/bin/kiwi_echo" \
    "$KIWI_TMP" "$tree"
say "passed"
