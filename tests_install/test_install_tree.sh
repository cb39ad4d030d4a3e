#!/usr/bin/env bash
# test_install_tree.sh - `cmake --install` of this build tree into a fresh
# temporary prefix ($KIWI_PREFIX), then check what landed there: the shared
# library with its versioned SONAME and symlinks, the static library, the
# header, the CMake package (config + version file + targets) and the
# pkg-config file (prefix = the --prefix given at install time). Also a
# staged install (DESTDIR) to check that the pkg-config file names the final
# prefix, not the staging directory.
#
# The other tests of tests_install/ use this prefix (ctest fixture
# "kiwi_installed").
source "$(dirname "$0")/lib.sh"
need readelf "binutils"
need pkg-config "Debian package pkg-config"

version=$(kiwi_version)
major_minor=${version%.*}
libdir=$KIWI_LIBDIR          # CMAKE_INSTALL_LIBDIR of the build (relative)
incdir=$KIWI_INCLUDEDIR

config_args=()
[[ -n "${KIWI_CONFIG:-}" ]] && config_args=(--config "$KIWI_CONFIG")

fresh_dir "$KIWI_PREFIX"
"$CMAKE" --install "$KIWI_BUILD" --prefix "$KIWI_PREFIX" "${config_args[@]}" \
    >"$KIWI_WORK/install.log"
say "installed into $KIWI_PREFIX:"
(cd "$KIWI_PREFIX" && find . \( -type f -o -type l \) | sort | sed 's/^/  /')

lib=$KIWI_PREFIX/$libdir
[[ -f "$lib/libkiwi_ipc.so.$version" ]] || die "no $lib/libkiwi_ipc.so.$version"
expect "SONAME" "$(soname "$lib/libkiwi_ipc.so.$version")" \
    "libkiwi_ipc.so.$major_minor"
expect "libkiwi_ipc.so.$major_minor ->" \
    "$(readlink "$lib/libkiwi_ipc.so.$major_minor")" "libkiwi_ipc.so.$version"
expect "libkiwi_ipc.so ->" "$(readlink "$lib/libkiwi_ipc.so")" \
    "libkiwi_ipc.so.$major_minor"
# Only the API is exported.
others=$(nm -D --defined-only "$lib/libkiwi_ipc.so.$version" |
    awk '$2 ~ /^[TDBR]$/ && $3 !~ /^ipc_/ {print $3}')
[[ -z "$others" ]] || die "exported symbols outside the API: $others"
say "ok: exports only ipc_* ($(nm -D --defined-only \
    "$lib/libkiwi_ipc.so.$version" | grep -c ' T ipc_') functions)"

[[ -f "$lib/libkiwi_ipc.a" ]] || die "no static library $lib/libkiwi_ipc.a"
# The library is compiled as one unit (libipc/CMakeLists.txt), so look for
# the code itself, not for a member named after a source file.
grep -q ' T ipc_create$' <<<"$(nm "$lib/libkiwi_ipc.a" 2>/dev/null)" ||
    die "libkiwi_ipc.a does not define ipc_create"
say "ok: static library $lib/libkiwi_ipc.a"

same_file "$KIWI_SRC/libipc/include/kiwi_ipc.h" "$KIWI_PREFIX/$incdir/kiwi_ipc.h"
say "ok: header $KIWI_PREFIX/$incdir/kiwi_ipc.h"

cmakedir=$lib/cmake/kiwi_ipc
for f in kiwi_ipc-config.cmake kiwi_ipc-config-version.cmake \
    kiwi_ipc-targets.cmake; do
    [[ -f "$cmakedir/$f" ]] || die "no $cmakedir/$f"
done
grep -q "kiwi_ipc::kiwi_ipc_static" "$cmakedir/kiwi_ipc-targets.cmake" ||
    die "kiwi_ipc::kiwi_ipc_static is not exported"
grep -q 'PACKAGE_VERSION "'"$version"'"' "$cmakedir/kiwi_ipc-config-version.cmake" ||
    die "the version file does not say $version"
say "ok: CMake package in $cmakedir"

pc=$lib/pkgconfig/kiwi_ipc.pc
[[ -f "$pc" ]] || die "no $pc"
export PKG_CONFIG_PATH=$lib/pkgconfig
expect "pkg-config --modversion" "$(pc --modversion kiwi_ipc)" "$version"
expect "pkg-config prefix" "$(pc --variable=prefix kiwi_ipc)" \
    "$KIWI_PREFIX"
expect "pkg-config libdir" "$(pc --variable=libdir kiwi_ipc)" "$lib"
expect "pkg-config --cflags" "$(pc --cflags kiwi_ipc)" \
    "-I$KIWI_PREFIX/$incdir"
expect "pkg-config --libs" "$(pc --libs kiwi_ipc)" \
    "-L$lib -lkiwi_ipc"
expect "pkg-config --static --libs" "$(pc --static --libs kiwi_ipc)" \
    "-L$lib -lkiwi_ipc -pthread"

# A staged install, as distribution packages do it: the files go under
# DESTDIR, the pkg-config file names the final prefix.
stage=$KIWI_WORK/stage
fresh_dir "$stage"
DESTDIR=$stage "$CMAKE" --install "$KIWI_BUILD" --prefix /opt/kiwi-ipc \
    "${config_args[@]}" >/dev/null
[[ -f "$stage/opt/kiwi-ipc/$libdir/libkiwi_ipc.so.$version" ]] ||
    die "DESTDIR install: no library under $stage/opt/kiwi-ipc"
expect "DESTDIR install: pkg-config prefix" \
    "$(sed -n 's/^prefix=//p' "$stage/opt/kiwi-ipc/$libdir/pkgconfig/kiwi_ipc.pc")" \
    /opt/kiwi-ipc
rm -rf "$stage"
say "passed"
