#!/usr/bin/env bash
# test_luarocks.sh 5.4|jit [ROCK] - `luarocks make` the rockspec from a copy
# of the checkout into a temporary rock tree, for Lua 5.4 or for LuaJIT (as
# Lua 5.1), then `require "kiwi_ipc"` with that tree's paths (`luarocks
# path`) and do round trips with the installed C peer. No LuaRocks server is
# needed: `luarocks make` builds the local tree.
#
# With ROCK (a kiwi_ipc-<v>-1.src.rock, as scripts/release makes it):
# `luarocks install ROCK` instead, offline: no rocks server, and without a
# network at all where `unshare -rn` works (otherwise through a proxy that
# refuses every connection), so the rock must carry its source archive.
# scripts/release --check runs it that way.
source "$(dirname "$0")/lib.sh"
flavour=$1
rock=${2:-}
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
work=$KIWI_WORK/luarocks-$flavour
if [[ -n $rock ]]; then
    [[ -f $rock ]] || die "no rock $rock"
    rock=$(cd "$(dirname "$rock")" && pwd)/${rock##*/}
    fresh_dir "$work"
else
    [[ -f "$KIWI_SRC/$rockspec" ]] || die "no $rockspec at the top of the tree (the version is $version)"
    # A copy of what the build needs, so that LuaRocks' build.luarocks/
    # never lands in the sources and the two Luas can build at the same
    # time.
    fresh_dir "$work/src"
    (cd "$KIWI_SRC" && cp -r CMakeLists.txt cmake libipc swig bindings \
        kiwi_ipc.pc.in LICENSE README.md "$rockspec" "$work/src/")
fi

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
tree=$work/tree
if [[ -n $rock ]]; then
    say "$("${lr[@]}" config variables.LUA) installs ${rock##*/}, offline"
    # No rocks server (an empty directory stands for one), and no network.
    mkdir -p "$work/no-server"
    offline=(env http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
        ftp_proxy=http://127.0.0.1:9)
    if unshare -rn true 2>/dev/null; then
        offline=(unshare -rn)
    else
        say "unshare -rn does not work here: offline through a refusing proxy"
    fi
    (cd "$work" && "${offline[@]}" "${lr[@]}" install --tree "$tree" \
        --only-server="$work/no-server" "$rock") >"$work/make.log" 2>&1 ||
        { tail -40 "$work/make.log"; die "luarocks install ${rock##*/}"; }
else
    say "$("${lr[@]}" config variables.LUA) builds $rockspec"
    (cd "$work/src" && "${lr[@]}" make --tree "$tree" "$rockspec") \
        >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; die "luarocks make"; }
fi
grep -E 'Installing|now installed' "$work/make.log"
"${lr[@]}" list --tree "$tree" --porcelain | grep -q "^kiwi_ipc	$version-1" ||
    die "luarocks list does not show kiwi_ipc $version-1"

eval "$("${lr[@]}" path --tree "$tree")"
cd "$KIWI_TMP"
"$lua" "$KIWI_SRC/tests_install/roundtrip.lua" "$KIWI_WORK/bin/kiwi_echo" \
    "$KIWI_TMP" "$tree"
say "passed"
