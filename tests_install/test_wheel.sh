#!/usr/bin/env bash
# test_wheel.sh - the Python distribution: `python -m build` makes an sdist
# and, from that sdist, a wheel (scikit-build-core driving the CMake build;
# build dependencies come from PyPI); then
#   - the names carry the header's version, and the wheel is abi3 (cp39)
#   - auditwheel show: manylinux-compatible, nothing needed but libc
#   - abi3audit: the module uses the stable ABI only
#   - in a fresh venv of $KIWI_PYTHON and of the oldest and newest other
#     CPython found (or $KIWI_IPC_TEST_PYTHONS, space-separated): pip install
#     the wheel, round trip with the installed C peer, and run tests_py
#     against the installed package.
source "$(dirname "$0")/lib.sh"
need readelf "binutils"
"$KIWI_PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    skip "$KIWI_PYTHON has no venv/ensurepip (Debian package python3-venv)"

version=$(kiwi_version)
work=$KIWI_WORK/wheel
dist=$work/dist
mkdir -p "$work"
fresh_dir "$dist"

# The tools, in their own venv, kept between runs while the pins hold.
tools=$work/tools
req=$KIWI_SRC/tests_install/requirements-packaging.txt
if ! cmp -s "$req" "$tools/requirements.txt" 2>/dev/null; then
    rm -rf "$tools"
    "$KIWI_PYTHON" -m venv "$tools"
    "$tools/bin/python" -m pip install --disable-pip-version-check -q -r "$req" ||
        die "pip install -r $req (PyPI needed)"
    cp "$req" "$tools/requirements.txt"
fi

say "python -m build (sdist, then the wheel from it)"
(cd "$KIWI_TMP" && "$tools/bin/python" -m build --outdir "$dist" "$KIWI_SRC") \
    >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; die "python -m build"; }
grep -E '^\*\*\* |Found SWIG|Successfully' "$work/build.log" || true
sdist=$dist/kiwi_ipc-$version.tar.gz
wheels=("$dist"/kiwi_ipc-"$version"-cp39-abi3-*.whl)
[[ -f "$sdist" ]] || die "no sdist $sdist: $(ls "$dist")"
[[ -f "${wheels[0]}" ]] || die "no cp39-abi3 wheel: $(ls "$dist")"
wheel=${wheels[0]}
say "ok: ${sdist##*/} ${wheel##*/}"

# The wheel holds the package and nothing else.
"$tools/bin/python" - "$wheel" <<'PY' || die "wheel contents"
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

"$tools/bin/auditwheel" show "$wheel" | tee "$work/auditwheel.txt"
tr '\n' ' ' <"$work/auditwheel.txt" | grep -Eq 'following +platform +tag: +"manylinux_[0-9]+_[0-9]+_' ||
    die "auditwheel does not call the wheel manylinux-compatible"
so=$KIWI_TMP/so
mkdir -p "$so"
(cd "$so" && "$tools/bin/python" -m zipfile -e "$wheel" .)
expect "the module needs" "$(needed "$so/kiwi_ipc/_kiwi_ipc.abi3.so" | tr '\n' ' ')" \
    "libc.so.6 "
"$tools/bin/abi3audit" --strict --summary "$wheel" >"$work/abi3audit.log" 2>&1 ||
    { cat "$work/abi3audit.log"; die "abi3audit"; }
tr -s ' \n' ' ' <"$work/abi3audit.log" | grep -q '0 ABI version mismatches and 0 ABI violations' ||
    { cat "$work/abi3audit.log"; die "abi3audit found violations"; }
say "ok: abi3audit: stable ABI only"

# Interpreters to install the one wheel into.
pythons=("$KIWI_PYTHON")
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
    main=$("$KIWI_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
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
    rm -rf "$KIWI_TMP/tests_py"
    cp -r "$KIWI_SRC/tests_py" "$KIWI_TMP/tests_py"
    (cd "$KIWI_TMP" && PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q \
        "$KIWI_TMP/tests_py" 2>&1 | tail -3; exit "${PIPESTATUS[0]}") ||
        die "tests_py against the wheel on Python $pyv"
    say "ok: Python $pyv: wheel installed, round trip and tests_py passed"
done
say "passed"
