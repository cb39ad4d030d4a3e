"""What the pytest suites share (tests_py, tests_cli, tests_interop): pipe
names in a private directory, the environment-variable rule, and where
CoreCLR's dotnet host is.

A conftest.py puts tests_common/ on sys.path and imports the fixtures it
uses from here (importing a fixture into a conftest registers it), e.g.
``from kiwi_pytest import name, new_name, pipe_dir  # noqa: F401``.

One suite for both OSes: a test that needs what one OS lacks carries a
marker with the reason, ``@pytest.mark.posix_only("fork()")``,
``windows_only(...)`` or ``not_under_wine(...)`` (the suite's pytest.ini
registers them); the conftest imports ``pytest_collection_modifyitems``
from here, which turns them into skips naming the reason, as the Lua
suite's tags do.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from typing import Callable, Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOWS = sys.platform == "win32"


# Empty, text, non-ASCII UTF-8 and 1 MiB of a pattern that repeats no
# power of two: the round-trip vectors of both OSes' suites.
VECTORS = [
    b"",
    b"hello, kiwi",
    "h\u00e9llo w\u00f6rld \u2713 \U0001d11e".encode("utf-8"),
    bytes((i * 7 + (i >> 11)) & 0xFF for i in range(1 << 20)),
]


def add_package_dir() -> None:
    """Put $KIWI_IPC_PYTHON_DIR (the build tree's kiwi_ipc package dir)
    first on sys.path: the embeddable CPython for Windows ignores
    PYTHONPATH (its ._pth file fixes sys.path), so ctest names the dir
    there. A conftest calls this before it imports kiwi_ipc."""
    d = os.environ.get("KIWI_IPC_PYTHON_DIR")
    if d and d not in sys.path:
        sys.path.insert(0, d)


def _under_wine() -> bool:
    """True when this Windows process runs under wine (its ntdll exports
    wine_get_version; Windows' does not)."""
    if not WINDOWS:
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


UNDER_WINE = _under_wine()

# Wine now and then fails to start a process: CreateProcess fails with
# ERROR_INTERNAL_ERROR (1359) when the new process ended before wine had
# finished starting it, before any of the program's code ran. Seen once in
# CI (tests_cli's subprocess.run of kiwi-ipc.exe), not in 800 starts of it
# on a loaded machine here; Windows does not do this. The tests are about
# the programs, not wine's start of them, so under wine subprocess.Popen
# (which subprocess.run uses) tries such a start again, twice at most, and
# says so on stderr. Any other failure to start is raised at once. (The C
# suites' starts do the same: test_os.h's tos_start_again.)
_WINE_START_FAILED = 1359
_WINE_START_TRIES = 3

if UNDER_WINE:
    import subprocess
    import time

    class _WinePopen(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            for attempt in range(1, _WINE_START_TRIES + 1):
                try:
                    # A failed start has closed what it opened (pipes and
                    # files), so the next try starts from nothing.
                    super().__init__(*args, **kwargs)
                    return
                except OSError as e:
                    if (getattr(e, "winerror", None) != _WINE_START_FAILED
                            or attempt == _WINE_START_TRIES):
                        raise
                    argv = args[0] if args else kwargs.get("args")
                    sys.stderr.write(
                        "kiwi_pytest: wine could not start %r (%s); trying "
                        "again\n" % (argv, e))
                    time.sleep(0.1 * attempt)

    subprocess.Popen = _WinePopen  # type: ignore[misc]

# marker -> (does it skip here, what the skip says before the reason)
_OS_MARKERS = {
    "posix_only": (WINDOWS, "POSIX only"),
    "windows_only": (not WINDOWS, "Windows only"),
    "not_under_wine": (UNDER_WINE, "not under wine"),
}


def pytest_addoption(parser: pytest.Parser,
                     pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-timeout, pytest.ini's `timeout` is _watchdog's."""
    if not pluginmanager.hasplugin("timeout"):
        parser.addini("timeout", "seconds a test may take (_watchdog)")
        parser.addini("timeout_method", "pytest-timeout's; unused here")


def pytest_collection_modifyitems(config: pytest.Config,
                                  items: "list[pytest.Item]") -> None:
    """Skip the tests whose OS markers rule this OS out, with the marker's
    reason; a marker without a reason is a usage error."""
    for item in items:
        for marker, (skip, what) in _OS_MARKERS.items():
            for m in item.iter_markers(marker):
                if len(m.args) != 1 or not isinstance(m.args[0], str):
                    raise pytest.UsageError(
                        "%s: @pytest.mark.%s needs one reason string"
                        % (item.nodeid, marker))
                if skip:
                    item.add_marker(pytest.mark.skip(
                        reason="%s: %s" % (what, m.args[0])))


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


# Where pytest-timeout is missing (the Windows CPython's pytest, under
# wine), a test still may not hang the run: past the suite's `timeout`
# (pytest.ini) a watchdog thread prints every thread's stack and ends the
# process, which fails the run at the place it hung.
WATCHDOG_DEFAULT = 120.0


@pytest.fixture(autouse=True)
def _watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    """Bound each test when pytest-timeout does not (see above)."""
    config = request.config
    if config.pluginmanager.hasplugin("timeout"):
        yield
        return
    import faulthandler
    import threading

    seconds = WATCHDOG_DEFAULT
    if config.inipath is not None and config.inipath.suffix == ".ini":
        import configparser

        ini = configparser.ConfigParser()
        ini.read(config.inipath)
        seconds = ini.getfloat("pytest", "timeout", fallback=seconds)

    def fire() -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:  # show it on the real stderr, not the capture
            capman.suspend_global_capture(in_=True)
        sys.stderr.write("\n%s: still running after %ss; the stacks:\n"
                         % (request.node.nodeid, seconds))
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture
def pipe_dir() -> Iterator[str]:
    """A private directory for the test's pipes, removed afterwards. Under
    /tmp and short: pytest's tmp_path can be too long for a socket address
    (107 bytes). (On Windows, in the temp directory: its unique name
    prefixes the test's pipe names, see new_name.)"""
    d = tempfile.mkdtemp(prefix="kipc", dir=None if WINDOWS else "/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def new_name(pipe_dir: str) -> Callable[[], str]:
    """Make unique absolute pipe names in pipe_dir. On Windows a name is
    relative (a pipe is no file): pipe_dir's unique last part, then the
    counter, i.e. \\\\.\\pipe\\kipcXXXX\\p0."""
    counter = itertools.count()
    if WINDOWS:
        prefix = os.path.basename(pipe_dir)
        return lambda: "%s/p%d" % (prefix, next(counter))
    return lambda: os.path.join(pipe_dir, "p%d" % next(counter))


@pytest.fixture
def name(new_name: Callable[[], str]) -> str:
    """One unique absolute pipe name."""
    return new_name()
