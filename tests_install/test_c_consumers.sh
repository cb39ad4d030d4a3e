#!/usr/bin/env bash
# test_c_consumers.sh - build tests_install/consumer/kiwi_echo.c against the
# installed kiwi-ipc ($KIWI_PREFIX, from test_install_tree.sh) the two ways
# the README shows, and run the programs against each other:
#
#   kiwi_echo         CMake, find_package(kiwi_ipc) -> kiwi_ipc::kiwi_ipc
#   kiwi_echo_static  CMake, find_package(kiwi_ipc) -> kiwi_ipc::kiwi_ipc_static
#   kiwi_echo_pc      cc ... $(pkg-config --cflags --libs kiwi_ipc)
#
# The programs stay in $KIWI_WORK/bin as the C peer of the Python and Lua
# tests (ctest fixture "kiwi_consumers").
#
# Usage: test_c_consumers.sh [PREFIX LIBDIR BIN]   (defaults: $KIWI_PREFIX,
# $KIWI_LIBDIR, $KIWI_WORK/bin; test_abs_libdir.sh passes its own)
source "$(dirname "$0")/lib.sh"
need pkg-config "Debian package pkg-config"
need readelf "binutils"

prefix=${1:-$KIWI_PREFIX}
libdir=${2:-$prefix/$KIWI_LIBDIR}
bin=${3:-$KIWI_WORK/bin}
version=$(kiwi_version)
fresh_dir "$bin"

# find_package: the consumer project, configured with the prefix on
# CMAKE_PREFIX_PATH (kiwi_ipc_DIR when the package is outside the prefix).
build=$bin/consumer-build
find_args=(-DCMAKE_PREFIX_PATH="$prefix")
if [[ ! -d "$prefix/$KIWI_LIBDIR/cmake/kiwi_ipc" ]]; then
    find_args+=(-Dkiwi_ipc_DIR="$libdir/cmake/kiwi_ipc")
fi
"$CMAKE" -S "$KIWI_SRC/tests_install/consumer" -B "$build" -G "$GENERATOR" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
    -DCMAKE_BUILD_TYPE=Release "${find_args[@]}" >"$bin/consumer-configure.log" ||
    { cat "$bin/consumer-configure.log"; die "configuring the find_package consumer"; }
grep "kiwi_ipc $version from" "$bin/consumer-configure.log" ||
    die "find_package(kiwi_ipc) did not report version $version"
"$CMAKE" --build "$build" >"$bin/consumer-build.log" ||
    { cat "$bin/consumer-build.log"; die "building the find_package consumer"; }
cp "$build/kiwi_echo" "$build/kiwi_echo_static" "$bin/"
say "ok: built kiwi_echo and kiwi_echo_static with find_package(kiwi_ipc)"

# pkg-config, as a Makefile would do it. The rpath is only so that the test
# finds the library in its temporary prefix.
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046,SC2086
"$CC" $CFLAGS -o "$bin/kiwi_echo_pc" "$KIWI_SRC/tests_install/consumer/kiwi_echo.c" \
    $(pkg-config --cflags --libs kiwi_ipc) \
    -Wl,-rpath,"$(pkg-config --variable=libdir kiwi_ipc)" ||
    die "building with pkg-config"
say "ok: built kiwi_echo_pc with $CC \$(pkg-config --cflags --libs kiwi_ipc)"

# Which library each one loads.
for prog in kiwi_echo kiwi_echo_pc; do
    resolved=$(ldd "$bin/$prog" | awk '$1 ~ /^libkiwi_ipc\.so/ {print $1 " => " $3}')
    expect "$prog loads" "$resolved" \
        "libkiwi_ipc.so.${version%.*} => $libdir/libkiwi_ipc.so.${version%.*}"
done
if needed "$bin/kiwi_echo_static" | grep -q kiwi_ipc; then
    die "kiwi_echo_static needs libkiwi_ipc.so"
fi
say "ok: kiwi_echo_static does not need libkiwi_ipc.so"

for prog in kiwi_echo kiwi_echo_static kiwi_echo_pc; do
    expect "$prog version" "$("$bin/$prog" version)" \
        "header $version library $version"
done

pair "$bin/kiwi_echo" "$bin/kiwi_echo_pc" "find_package server, pkg-config client"
pair "$bin/kiwi_echo_pc" "$bin/kiwi_echo_static" "pkg-config server, static client"
pair "$bin/kiwi_echo_static" "$bin/kiwi_echo" "static server, shared client: é ☃"
say "passed"
