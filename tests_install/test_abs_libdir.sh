#!/usr/bin/env bash
# test_abs_libdir.sh - a build of kiwi-ipc configured with an absolute
# CMAKE_INSTALL_LIBDIR outside the prefix (as some distributions and Nix
# do): the pkg-config file must name that directory as it is (not
# "${prefix}//abs/..."), the CMake package must still work, and consumers
# built both ways must run against each other.
source "$(dirname "$0")/lib.sh"
need pkg-config "Debian package pkg-config"

root=$KIWI_WORK/abs-libdir
prefix=$root/prefix
libdir=$root/elsewhere/lib64
fresh_dir "$root"

"$CMAKE" -S "$KIWI_SRC" -B "$root/build" -G "$GENERATOR" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR="$libdir" \
    -DKIWI_IPC_BUILD_TESTS=OFF -DKIWI_IPC_BUILD_EXAMPLES=OFF \
    -DKIWI_IPC_BUILD_PYTHON=OFF -DKIWI_IPC_BUILD_LUA=OFF \
    -DBUILD_TESTING=OFF >"$root/configure.log" ||
    { cat "$root/configure.log"; die "configure"; }
"$CMAKE" --build "$root/build" >"$root/build.log" ||
    { cat "$root/build.log"; die "build"; }
"$CMAKE" --install "$root/build" >"$root/install.log" ||
    { cat "$root/install.log"; die "install"; }
(cd "$root" && find prefix elsewhere \( -type f -o -type l \) | sort | sed 's/^/  /')

pc=$libdir/pkgconfig/kiwi_ipc.pc
[[ -f "$pc" ]] || die "no $pc"
cat "$pc"
expect "libdir line" "$(grep '^libdir=' "$pc")" "libdir=$libdir"
expect "includedir line" "$(grep '^includedir=' "$pc")" \
    "includedir=\${prefix}/include"
export PKG_CONFIG_PATH=$libdir/pkgconfig
expect "pkg-config --libs" "$(pc --libs kiwi_ipc)" "-L$libdir -lkiwi_ipc"
expect "pkg-config --cflags" "$(pc --cflags kiwi_ipc)" "-I$prefix/include"

bash "$(dirname "$0")/test_c_consumers.sh" "$prefix" "$libdir" "$root/bin"
say "passed"
