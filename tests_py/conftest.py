"""Shared fixtures for the kiwi_ipc tests, on POSIX and on Windows.

Every pipe gets a unique name (on POSIX absolute, in a private directory
under /tmp: pytest's tmp_path can be too long for a socket address),
peers in other processes run tests_py/peer_process.py, and no process
outlives its test. Tests that need what one OS lacks carry posix_only /
windows_only / not_under_wine markers with the reason (pytest.ini,
tests_common/kiwi_pytest.py).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests_common"))
from kiwi_pytest import (  # noqa: E402,F401
    UNDER_WINE, WINDOWS, _watchdog, add_package_dir, name, new_name,
    pipe_dir, pytest_addoption, pytest_collection_modifyitems)

add_package_dir()  # before kiwi_ipc (the Windows CPython: see there)
import kiwi_ipc  # noqa: E402


HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer_process.py")
# The directory kiwi_ipc was imported from, for the peers' PYTHONPATH.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(kiwi_ipc.__file__)))


@pytest.fixture
def pair(name: str) -> Iterator[Tuple[kiwi_ipc.Pipe, kiwi_ipc.Pipe]]:
    """A connected (server, client) pair of Pipes in this process."""
    with kiwi_ipc.Listener(name) as listener:
        client = kiwi_ipc.Pipe.connect(name, timeout=5)
        server = listener.accept(timeout=5)
    try:
        yield server, client
    finally:
        server.close()
        client.close()


def raw_pair(name: str) -> Tuple[socket.socket, kiwi_ipc.Pipe]:
    """A raw peer (written byte by byte by the test) connected to a
    kiwi_ipc client Pipe: (raw, pipe); the caller closes both. On POSIX the
    raw end is an accepted Unix socket; on Windows a byte-mode named pipe
    server instance (raw_win.RawPipe) with the socket calls the tests use."""
    if WINDOWS:
        from raw_win import RawPipe

        raw = RawPipe(kiwi_ipc.path(name))
        try:
            pipe = kiwi_ipc.Pipe.connect(name, timeout=5)
            return raw.accept(), pipe  # type: ignore[return-value]
        except BaseException:
            raw.close()
            raise
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(name)
        try:
            srv.listen(1)
            pipe = kiwi_ipc.Pipe.connect(name, timeout=5)
            conn, _ = srv.accept()
        finally:
            os.unlink(name)
    finally:
        srv.close()
    return conn, pipe


# The signal alarm_soon gives this process while a test blocks: SIGALRM
# from setitimer on POSIX; Windows has neither, and SIGINT raised on
# another thread is the path its C runtime gives a console Ctrl-C.
ALARM = signal.SIGINT if WINDOWS else signal.SIGALRM


def alarm_soon(delay: float) -> Callable[[], None]:
    """Raise ALARM in this process `delay` seconds from now (the test
    installs the handler); returns what cancels it if not yet raised."""
    if WINDOWS:
        timer = threading.Timer(delay, signal.raise_signal, (ALARM,))
        timer.start()
        return timer.cancel
    signal.setitimer(signal.ITIMER_REAL, delay)
    return lambda: signal.setitimer(signal.ITIMER_REAL, 0)


def create_pair(name: str) -> Tuple[kiwi_ipc.Pipe, kiwi_ipc.Pipe]:
    """(server Pipe from Pipe.create, client Pipe from connect): the
    Kiwi-shaped one-client server, as the `pair` fixture is a Listener's."""
    box: List[kiwi_ipc.Pipe] = []
    t = threading.Thread(target=lambda: box.append(
        kiwi_ipc.Pipe.create(name, timeout=10)))
    t.start()
    try:
        client = kiwi_ipc.Pipe.connect(name, timeout=10)
    finally:
        t.join(10)
    return box[0], client


def raw_connect(name: str) -> socket.socket:
    """A raw client of the kiwi_ipc server listening at `name`: a Unix
    socket, or on Windows a raw_win.RawPipe client handle."""
    if WINDOWS:
        from raw_win import RawPipe

        return RawPipe.connect(kiwi_ipc.path(name))  # type: ignore[return-value]
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        raw.connect(name)
    except BaseException:
        raw.close()
        raise
    return raw


@pytest.fixture
def raw_server(name: str) -> Iterator[Tuple[socket.socket, kiwi_ipc.Pipe]]:
    """raw_pair's (raw, pipe), closed after the test."""
    conn, pipe = raw_pair(name)
    try:
        yield conn, pipe
    finally:
        conn.close()
        pipe.close()


class Peer:
    """A Python peer process running tests_py/peer_process.py, with its stdout read
    line by line in the background."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        # for an interpreter that ignores PYTHONPATH (see _PKG_DIR)
        env["KIWI_IPC_PYTHON_DIR"] = PACKAGE_ROOT
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, PEER, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr: List[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, daemon=True),
            threading.Thread(target=self._pump_err, daemon=True),
        ]
        for t in self._pumps:
            t.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def expect(self, word: str, timeout: float = 15.0) -> List[str]:
        """Wait for the next line; it must start with `word`. Returns the
        line's fields after the word."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("peer said nothing for %ss (waiting for %r); "
                                 "stderr: %s" % (timeout, word, self.stderr))
        if line is None:
            self.proc.wait(5)
            self._lines.put(None)
            raise AssertionError("peer exited (%s) waiting for %r; stderr: %s"
                                 % (self.proc.returncode, word, self.stderr))
        fields = line.split()
        assert fields and fields[0] == word, (line, self.stderr)
        return fields[1:]

    def interrupt(self) -> float:
        """Send SIGINT; returns the CLOCK_MONOTONIC time it was sent."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        return t

    def finish(self, timeout: float = 15.0) -> int:
        """Wait for the peer to exit; returns its exit status."""
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Kill the peer if it still runs, and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for t in self._pumps:
            t.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Peer]]:
    """Start peer processes; any still running at the end is killed."""
    peers: List[Peer] = []

    def start(*args: str) -> Peer:
        peer = Peer(*args)
        peers.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in peers:
            peer.close()
