#!/usr/bin/env bash
# test_wheel.sh - the Python distribution for Linux, as scripts/build-wheels
# makes it for PyPI: the sdist and, built from that sdist, the abi3 wheels
# for manylinux x86_64 and aarch64 and musllinux x86_64; then
#   - scripts/build-wheels --check --present: each verified as far as this
#     machine can (contents and RECORD, abi3audit, auditwheel, readelf; the
#     x86_64 glibc wheel pip-installed and round-tripping with Kiwi's
#     stand-in, the aarch64 and musl tools run; see scripts/check-wheels),
#     one line each;
# The Windows and macOS wheels are left to scripts/release (CI step 8),
# which builds and checks all seven: they need mingw-w64, wine and the
# Windows CPython, which the README's test command does not install.
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

linux=manylinux_x86_64,manylinux_aarch64,musllinux_x86_64
say "scripts/build-wheels --target $linux (sdist, then the wheels from it)"
start=$SECONDS
KIWI_IPC_BASE_PYTHON=$base_python bash "$KIWI_SRC/scripts/build-wheels" \
    --target "$linux" "$dist" >"$work/build.log" 2>&1 ||
    { tail -60 "$work/build.log"; die "scripts/build-wheels"; }
cat "$work/build.log"
say "built in $((SECONDS - start)) s"

say "scripts/build-wheels --check --present"
KIWI_IPC_BASE_PYTHON=$base_python bash "$KIWI_SRC/scripts/build-wheels" \
    --check --present "$dist" || die "scripts/build-wheels --check"
wheel=$dist/kiwi_ipc-$version-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
[[ -f "$wheel" ]] || die "no $wheel: $(ls "$dist")"

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
