"""The embeddable CPython ignores PYTHONPATH (its python311._pth fixes
sys.path): put the build tree's kiwi_ipc package on it from
KIWI_IPC_PYTHON_DIR, which ctest sets."""

import os
import sys

_dir = os.environ.get("KIWI_IPC_PYTHON_DIR")
if _dir and _dir not in sys.path:
    sys.path.insert(0, _dir)
