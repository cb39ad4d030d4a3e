"""The type stubs (kiwi_ipc/__init__.pyi, _kiwi_ipc.pyi) checked against the
built module by mypy's stubtest (pinned in requirements-test.txt): a name,
parameter, default, property or class in the stubs that the runtime lacks or
spells differently, or a public name of the runtime the stubs miss, fails
this test. stubtest compares shapes, not the annotations' types."""

from __future__ import annotations

import os
import subprocess
import sys

import kiwi_ipc


def test_stubtest_finds_no_drift(tmp_path):
    try:
        import mypy.stubtest  # noqa: F401
    except ImportError:  # pinned: a missing mypy is a broken set-up
        raise AssertionError(
            "mypy is not installed: pip install -r requirements-test.txt")
    package_parent = os.path.dirname(os.path.dirname(kiwi_ipc.__file__))
    env = dict(os.environ, PYTHONPATH=package_parent)
    # In a temp dir: stubtest leaves a .mypy_cache in its working directory.
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "kiwi_ipc"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
