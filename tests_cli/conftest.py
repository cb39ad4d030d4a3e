"""Fixtures for the kiwi-ipc tool's tests.

ctest (tests_cli/CMakeLists.txt) says where things are through the
environment; by hand, the defaults look in a build tree at ../build:

  PYTHONPATH             must let `import kiwi_ipc` work (<build>/python)
  KIWI_CLI               the kiwi-ipc binary (<build>/tools/kiwi-ipc/kiwi-ipc)
  KIWI_CLI_DOTNET_PEER   KiwiPeer.exe (KiwiPeer.runtimeconfig.json beside
                         it); if empty, compiled here with mcs
  KIWI_CLI_MONO          the mono runtime (default: from PATH)
  KIWI_CLI_CORECLR       the dotnet host of Microsoft's CoreCLR (default:
                         <repo>/.venv/dotnet/dotnet, then PATH)

Every test that takes the `dotnet` fixture runs twice, its .NET peer on
Mono ([mono]) and on CoreCLR ([coreclr]; ctest's cli_tests_coreclr).

Every pipe lives in a private directory under /tmp; every process started
here is killed at the end of its test if it is still running; every wait
is bounded.

On Windows (ctest win_cli_suite, under wine) the same suite runs against
kiwi-ipc.exe on the embeddable CPython: KIWI_IPC_PYTHON_DIR names the
binding's directory (that CPython ignores PYTHONPATH), and tests that
need what Windows lacks carry posix_only markers with the reason
(tests_common/kiwi_pytest.py); tests_windows/test_cli_win.py keeps what
only Windows has.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests_common"))
from kiwi_pytest import (  # noqa: E402,F401
    WINDOWS, _watchdog, add_package_dir, coreclr_host, env, name, new_name,
    pipe_dir, pytest_addoption, pytest_collection_modifyitems)

add_package_dir()  # before kiwi_ipc (the Windows CPython: see there)
import kiwi_ipc  # noqa: E402

BUILD = os.path.join(ROOT, "build")
MAN_PAGE = os.path.join(ROOT, "tools", "kiwi-ipc", "kiwi-ipc.1")


TOOL = env("KIWI_CLI", os.path.join(BUILD, "tools", "kiwi-ipc", "kiwi-ipc"))


def pytest_report_header(config):
    return ["kiwi-ipc tool: %s" % TOOL]


@pytest.fixture(scope="session")
def tool() -> str:
    if not os.access(TOOL, os.X_OK):
        pytest.fail("the kiwi-ipc binary is not built: %s" % TOOL, pytrace=False)
    return TOOL


def session_members(sid: int) -> List[int]:
    """The live (not zombie) processes of session `sid` (Linux: /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp session ...; comm may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid`, until none is left (bounded):
    a process group of its own (--exec's command) does not escape."""
    deadline = time.monotonic() + 10
    while True:
        pids = session_members(sid)
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


class Proc:
    """A process started by a test: output collected by threads, so that a
    full pipe never blocks it, and waits that are always bounded.

    new_session: start it as the leader of a session of its own, so that
    kill() ends everything it started too, whatever process group that is
    in; self.session is then the session's id."""

    def __init__(self, argv: List[str], stdin: Optional[bytes] = None,
                 keep_stdin_open: bool = False, env: Optional[dict] = None,
                 new_session: bool = False):
        self.argv = argv
        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, start_new_session=new_session)
        self.session = self.p.pid if new_session else None
        self.out = bytearray()
        self.err = bytearray()
        self._lines = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.p.stdout, self.out),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.p.stderr, self.err),
                             daemon=True)]
        for t in self._readers:
            t.start()
        if stdin is not None:
            self.p.stdin.write(stdin)
            self.p.stdin.flush()
        if not keep_stdin_open:
            self.p.stdin.close()

    def _read(self, f, into: bytearray) -> None:
        while True:
            chunk = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
            if not chunk:
                break
            with self._lines:
                into.extend(chunk)
                self._lines.notify_all()

    def write(self, data: bytes) -> None:
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def close_stdin(self) -> None:
        if not self.p.stdin.closed:
            self.p.stdin.close()

    def wait_output(self, needle: bytes, timeout: float = 15.0,
                    stream: str = "out") -> None:
        """Wait until stdout (or stderr) holds `needle`."""
        buf = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self._lines:
            while needle not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "%r not seen in %gs from %s\nstdout: %r\nstderr: %r"
                        % (needle, timeout, self.argv, bytes(self.out),
                           bytes(self.err)))
                self._lines.wait(min(left, 0.1))

    def wait(self, timeout: float = 15.0) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s still running after %gs\nstdout: %r\n"
                                 "stderr: %r" % (self.argv, timeout,
                                                 bytes(self.out),
                                                 bytes(self.err)))
        for t in self._readers:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.session is not None:
            kill_session(self.session)
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        self.close_stdin()

    @property
    def stdout(self) -> bytes:
        return bytes(self.out)

    @property
    def stderr(self) -> str:
        return self.err.decode("utf-8", "replace")


@pytest.fixture
def spawn() -> Iterator[Callable[..., Proc]]:
    """Start a process; it is killed at the end of the test if still alive."""
    procs: List[Proc] = []

    def start(argv: List[str], **kw) -> Proc:
        p = Proc(argv, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


@pytest.fixture
def cli(tool: str, spawn) -> Callable[..., Proc]:
    """Start kiwi-ipc with these arguments."""
    return lambda *args, **kw: spawn([tool] + [str(a) for a in args], **kw)


@pytest.fixture
def run(tool: str) -> Callable[..., subprocess.CompletedProcess]:
    """Run kiwi-ipc to the end (bounded) and return its result."""
    def go(*args, input: Optional[bytes] = None, timeout: float = 30.0,
           env: Optional[dict] = None) -> subprocess.CompletedProcess:
        return subprocess.run([tool] + [str(a) for a in args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, env=env)
    return go


def _exists(path: str) -> bool:
    """The socket file is there; on Windows (`path` a pipe name), a server
    instance of the pipe is: WaitNamedPipe, which takes none."""
    if not WINDOWS:
        return os.path.exists(path)
    import _winapi

    try:
        _winapi.WaitNamedPipe(kiwi_ipc.path(path), 1)
    except OSError:  # none yet (FileNotFoundError) or all busy (timeout)
        return False
    return True


def wait_for_path(path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not _exists(path):
        if time.monotonic() > deadline:
            raise AssertionError("%s did not appear in %gs" % (path, timeout))
        time.sleep(0.01)


@pytest.fixture(scope="session")
def dotnet_exe(tmp_path_factory) -> str:
    """KiwiPeer.exe: CMake's, or compiled here (or why not, as a str)."""
    exe = env("KIWI_CLI_DOTNET_PEER")
    if exe:
        return exe if os.path.exists(exe) else "!%s does not exist" % exe
    mcs = shutil.which("mcs")
    if not mcs:
        return "!mcs not found (apt-get install mono-mcs)"
    d = tmp_path_factory.mktemp("peer")
    exe = str(d / "KiwiPeer.exe")
    subprocess.run([mcs, "-nologo", "-out:" + exe,
                    os.path.join(HERE, "peers", "KiwiPeer.cs"),
                    os.path.join(ROOT, "tests_common", "KiwiIpc.cs")],
                   check=True, timeout=120)
    shutil.copy(os.path.join(ROOT, "tests_common", "dotnet.runtimeconfig.json"),
                str(d / "KiwiPeer.runtimeconfig.json"))
    return exe


@pytest.fixture(scope="session", params=["mono", "coreclr"])
def dotnet(request, dotnet_exe) -> List[str]:
    """The command that runs the .NET peer: KiwiPeer.exe on Mono, then on
    CoreCLR (with DOTNET_EnableDiagnostics=0: no files in $TMPDIR)."""
    def missing(why: str):
        if os.environ.get("CI"):
            pytest.fail(".NET peer unavailable: " + why, pytrace=False)
        pytest.skip(".NET peer unavailable: " + why)

    if request.param == "mono":
        host = env("KIWI_CLI_MONO") or shutil.which("mono")
        if not host:
            missing("mono not found (apt-get install mono-runtime)")
    else:
        host = coreclr_host("KIWI_CLI_CORECLR")
        if not host:
            missing("CoreCLR not found (scripts/install-deps puts CoreCLR 8 "
                    "in .venv/dotnet)")
        os.environ.setdefault("DOTNET_EnableDiagnostics", "0")
    if dotnet_exe.startswith("!"):
        missing(dotnet_exe[1:])
    return [host, dotnet_exe]


@pytest.fixture
def listener(name: str) -> Iterator[kiwi_ipc.Listener]:
    with kiwi_ipc.Listener(name) as l:
        yield l
