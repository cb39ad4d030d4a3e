#!/usr/bin/env bash
# test_python_installed.sh - the Python package that `cmake --install` put
# into $KIWI_PREFIX/$KIWI_PYTHON_DIR (KIWI_IPC_PYTHON_INSTALL_DIR): import it
# from there alone (no build tree on the path) and do round trips, in
# process and with the installed C peer.
source "$(dirname "$0")/lib.sh"

site=$KIWI_PYTHON_DIR
[[ "$site" = /* ]] || site=$KIWI_PREFIX/$site
[[ -f "$site/kiwi_ipc/__init__.py" ]] || die "no package in $site/kiwi_ipc"
say "installed package: $(cd "$site/kiwi_ipc" && echo *)"

cd "$KIWI_TMP"
PYTHONPATH=$site PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
    "$KIWI_PYTHON" "$KIWI_SRC/tests_install/roundtrip.py" "$KIWI_TMP" \
    --peer "$KIWI_WORK/bin/kiwi_echo" --under "$site"
say "passed"
