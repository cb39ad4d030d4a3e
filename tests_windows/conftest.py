"""The embeddable CPython ignores PYTHONPATH (its python311._pth fixes
sys.path): put the build tree's kiwi_ipc package on it from
KIWI_IPC_PYTHON_DIR, which ctest sets (tests_common/kiwi_pytest.py, which
the test files share with tests_py and tests_cli)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests_common"))
from kiwi_pytest import add_package_dir  # noqa: E402

add_package_dir()
