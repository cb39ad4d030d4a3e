#!/usr/bin/env bash
# test_pip_source.sh - `pip install <source tree>` into a fresh venv (pip
# builds it through pyproject.toml: scikit-build-core, SWIG from PyPI, the
# CMake build), then import the installed package and do round trips.
source "$(dirname "$0")/lib.sh"
"$KIWI_PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    skip "$KIWI_PYTHON has no venv/ensurepip (Debian package python3-venv)"

venv=$KIWI_TMP/venv
"$KIWI_PYTHON" -m venv "$venv"
say "pip install $KIWI_SRC"
"$venv/bin/python" -m pip install --disable-pip-version-check -q "$KIWI_SRC" \
    >"$KIWI_WORK/pip-source.log" 2>&1 ||
    { tail -50 "$KIWI_WORK/pip-source.log"; die "pip install $KIWI_SRC"; }
"$venv/bin/python" -m pip show kiwi-ipc | grep -E '^(Name|Version)'
expect "installed version" \
    "$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("kiwi-ipc"))')" \
    "$(kiwi_version)"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
cd "$KIWI_TMP"
"$venv/bin/python" "$KIWI_SRC/tests_install/roundtrip.py" "$KIWI_TMP" \
    --peer "$KIWI_WORK/bin/kiwi_echo" --under "$site"
say "passed"
