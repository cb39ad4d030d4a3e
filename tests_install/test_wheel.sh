#!/usr/bin/env bash
# test_wheel.sh - the Python distribution, as scripts/build-wheels makes it
# for PyPI: the sdist and, built from that sdist with zig cc for glibc 2.17,
# the abi3 wheels for x86_64 and aarch64; then
#   - the names carry the header's version, abi3 (cp39) and manylinux2014 /
#     manylinux_2_17
#   - auditwheel show names manylinux_2_17 for both; objdump -T / readelf -V
#     find nothing newer than GLIBC_2.17; the module needs only libc and
#     libpthread and exports only PyInit__kiwi_ipc; readelf says AArch64 for
#     the aarch64 one (which cannot run here)
#   - abi3audit: the module uses the stable ABI only
#   - in a fresh venv of Debian's own /usr/bin/python3 (else $KIWI_PYTHON)
#     and of the oldest and newest other CPython found (or
#     $KIWI_IPC_TEST_PYTHONS, space-separated): pip install the x86_64
#     wheel, round trip with the installed C peer (a real process), and run
#     tests_py against the installed package.
source "$(dirname "$0")/lib.sh"
need readelf "binutils"
need objdump "binutils"
base_python=/usr/bin/python3
[[ -x $base_python ]] || base_python=$KIWI_PYTHON
"$base_python" -c 'import venv, ensurepip' 2>/dev/null ||
    skip "$base_python has no venv/ensurepip (Debian package python3-venv)"

version=$(kiwi_version)
work=$KIWI_WORK/wheel
dist=$work/dist
mkdir -p "$work"
fresh_dir "$dist"

say "scripts/build-wheels --arch all (sdist, then the wheels from it)"
start=$SECONDS
KIWI_IPC_BASE_PYTHON=$base_python bash "$KIWI_SRC/scripts/build-wheels" \
    --arch all "$dist" >"$work/build.log" 2>&1 ||
    { tail -60 "$work/build.log"; die "scripts/build-wheels"; }
cat "$work/build.log"
say "built in $((SECONDS - start)) s"
# The pinned tools build-wheels keeps outside the work tree.
tools=${XDG_CACHE_HOME:-$HOME/.cache}/kiwi-ipc/wheel-tools
sdist=$dist/kiwi_ipc-$version.tar.gz
[[ -f "$sdist" ]] || die "no sdist $sdist: $(ls "$dist")"
tag() { echo "manylinux2014_$1.manylinux_2_17_$1"; }
wheel=$dist/kiwi_ipc-$version-cp39-abi3-$(tag x86_64).whl
wheel_arm=$dist/kiwi_ipc-$version-cp39-abi3-$(tag aarch64).whl
[[ -f "$wheel" ]] || die "no $wheel: $(ls "$dist")"
[[ -f "$wheel_arm" ]] || die "no $wheel_arm: $(ls "$dist")"
say "ok: ${sdist##*/} ${wheel##*/} ${wheel_arm##*/}"

for w in "$wheel" "$wheel_arm"; do
    arch=x86_64 machine='Advanced Micro Devices X86-64'
    [[ $w == "$wheel_arm" ]] && arch=aarch64 machine=AArch64

    # The wheel holds the package and nothing else.
    "$tools/bin/python" - "$w" <<'PY' || die "wheel contents"
import sys, zipfile
names = sorted(zipfile.ZipFile(sys.argv[1]).namelist())
print("\n".join("  " + n for n in names))
pkg = [n for n in names if not n.startswith("kiwi_ipc-")]
assert all(n.startswith("kiwi_ipc/") for n in pkg), pkg
for f in ("__init__.py", "_errors.py", "_pipe.py", "py.typed", "_kiwi_ipc.abi3.so"):
    assert "kiwi_ipc/" + f in pkg, f
meta = zipfile.ZipFile(sys.argv[1]).read(
    [n for n in names if n.endswith(".dist-info/METADATA")][0]).decode()
for line in ("Name: kiwi-ipc", "License-Expression: MIT", "Requires-Python: >=3.9"):
    assert line in meta.splitlines(), line
PY

    (cd "$KIWI_TMP" && "$tools/bin/auditwheel" show "$w") | tee "$work/auditwheel-$arch.txt"
    tr -s ' \n' ' ' <"$work/auditwheel-$arch.txt" |
        grep -q "following platform tag: \"manylinux_2_17_$arch\"" ||
        die "auditwheel does not say manylinux_2_17_$arch"
    so=$KIWI_TMP/so-$arch
    mkdir -p "$so"
    (cd "$so" && "$tools/bin/python" -m zipfile -e "$w" .)
    mod=$so/kiwi_ipc/_kiwi_ipc.abi3.so
    expect "$arch: ELF machine" "$(readelf -h "$mod" | sed -n 's/^ *Machine: *//p')" "$machine"
    # readelf -V reads every architecture; objdump -T only the host's.
    newest=$(readelf -V "$mod" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    if [[ $arch == x86_64 ]]; then
        expect "$arch: newest GLIBC by objdump -T" \
            "$(objdump -T "$mod" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)" "$newest"
    fi
    [[ $(printf '%s\n' "$newest" GLIBC_2.17 | sort -V | tail -1) == GLIBC_2.17 ]] ||
        die "$arch: the module needs $newest"
    say "ok: $arch: newest glibc symbol version $newest"
    expect "$arch: the module needs" "$(needed "$mod" | sort | tr '\n' ' ')" \
        "libc.so.6 libpthread.so.0 "
    expect "$arch: defined dynamic symbols" \
        "$(readelf --dyn-syms -W "$mod" | awk '$7 != "UND" && $5 == "GLOBAL" {print $8}' | tr '\n' ' ')" \
        "PyInit__kiwi_ipc "
    "$tools/bin/abi3audit" --strict --summary "$w" >"$work/abi3audit.log" 2>&1 ||
        { cat "$work/abi3audit.log"; die "abi3audit"; }
    tr -s ' \n' ' ' <"$work/abi3audit.log" | grep -q '0 ABI version mismatches and 0 ABI violations' ||
        { cat "$work/abi3audit.log"; die "abi3audit found violations"; }
    say "ok: $arch: abi3audit: stable ABI only"
done

# Interpreters to install the one wheel into.
pythons=("$base_python")
if [[ -n "${KIWI_IPC_TEST_PYTHONS:-}" ]]; then
    read -ra extra <<<"$KIWI_IPC_TEST_PYTHONS"
else
    # The oldest and the newest other CPython 3.9+ that runs here (pyenv's
    # versions included, whose shims fail for a version not selected).
    extra=()
    pyenv_root=$(pyenv root 2>/dev/null || true)
    for v in 9 10 11 12 13 14 15; do
        for c in "python3.$v" "$pyenv_root"/versions/3."$v".*/bin/python3; do
            [[ "$c" == /versions/* ]] && continue
            if "$c" -c "import sys, venv, ensurepip; assert sys.version_info[:2] == (3, $v)" \
                2>/dev/null; then
                extra+=("$c")
                break
            fi
        done
    done
    main=$("$base_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    keep=()
    for c in "${extra[@]}"; do
        [[ $("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])') == "$main" ]] ||
            keep+=("$c")
    done
    extra=()
    ((${#keep[@]})) && extra=("${keep[0]}")
    ((${#keep[@]} > 1)) && extra+=("${keep[-1]}")
fi
pythons+=("${extra[@]}")

for py in "${pythons[@]}"; do
    pyv=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
    say "== Python $pyv ($py)"
    venv=$KIWI_TMP/venv-$pyv
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q \
        --no-index "$wheel" || die "pip install the wheel on Python $pyv"
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
    (cd "$KIWI_TMP" && "$venv/bin/python" "$KIWI_SRC/tests_install/roundtrip.py" \
        "$KIWI_TMP" --peer "$KIWI_WORK/bin/kiwi_echo" --under "$site") ||
        die "round trip on Python $pyv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q \
        "pytest>=8.3,<10" "pytest-timeout==2.4.0" || die "pip install pytest"
    # tests_py and the pytest plugin it shares (tests_common/kiwi_pytest.py).
    rm -rf "$KIWI_TMP/tests_py" "$KIWI_TMP/tests_common"
    cp -r "$KIWI_SRC/tests_py" "$KIWI_TMP/tests_py"
    cp -r "$KIWI_SRC/tests_common" "$KIWI_TMP/tests_common"
    (cd "$KIWI_TMP" && PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q \
        "$KIWI_TMP/tests_py" 2>&1 | tail -3; exit "${PIPESTATUS[0]}") ||
        die "tests_py against the wheel on Python $pyv"
    say "ok: Python $pyv: wheel installed, round trip and tests_py passed"
done
say "passed"
