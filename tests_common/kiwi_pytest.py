"""What the pytest suites share (tests_py, tests_cli, tests_interop): pipe
names in a private directory, the environment-variable rule, and where
CoreCLR's dotnet host is.

A conftest.py puts tests_common/ on sys.path and imports the fixtures it
uses from here (importing a fixture into a conftest registers it), e.g.
``from kiwi_pytest import name, new_name, pipe_dir  # noqa: F401``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from typing import Callable, Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env(name: str, default: str = "") -> str:
    """$name, or `default` when it is unset or empty."""
    value = os.environ.get(name, "")
    return value if value else default


def coreclr_host(override: str) -> str:
    """The dotnet host that runs the .NET peers on CoreCLR: $override if
    set, else the project venv's (scripts/install-deps puts it in
    <venv>/dotnet), else `dotnet` on PATH; "" when there is none."""
    host = env(override)
    if host:
        return host
    venv = env("KIWI_IPC_VENV", os.path.join(ROOT, ".venv"))
    host = os.path.join(venv, "dotnet", "dotnet")
    return host if os.access(host, os.X_OK) else (shutil.which("dotnet") or "")


@pytest.fixture
def pipe_dir() -> Iterator[str]:
    """A private directory for the test's pipes, removed afterwards. Under
    /tmp and short: pytest's tmp_path can be too long for a socket address
    (107 bytes)."""
    d = tempfile.mkdtemp(prefix="kipc", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def new_name(pipe_dir: str) -> Callable[[], str]:
    """Make unique absolute pipe names in pipe_dir."""
    counter = itertools.count()
    return lambda: os.path.join(pipe_dir, "p%d" % next(counter))


@pytest.fixture
def name(new_name: Callable[[], str]) -> str:
    """One unique absolute pipe name."""
    return new_name()
