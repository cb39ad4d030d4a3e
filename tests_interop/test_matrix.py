"""The cross-language interop matrix.

Every ordered (server, client) pair of peers in {C, Python, Lua 5.4, LuaJIT,
.NET on Mono, .NET on CoreCLR} runs, each side in its own process
(tests_interop/peers/; the two .NET peers are one program, our stand-in for
Kiwi, on two runtimes):

- test_exchange_client_first: every vector of vectors.txt, large ones too,
  in the reference's order: the client is started (and waiting in connect)
  before the server calls create;
- test_exchange_server_first: the vectors without the large ones, server
  started first; the driver sees the socket appear at $TMPDIR/CoreFxPipe_NAME;
- test_absolute_name: an absolute path as the name (TMPDIR pointing
  elsewhere, and left untouched);
- test_server_closes / test_client_closes: one side sends N messages and
  closes (for .NET: Dispose); the other gets all N, then "closed";
- test_default_tmp (pairs with a .NET side, Mono or CoreCLR): TMPDIR unset
  on both sides, so the name maps to /tmp/CoreFxPipe_NAME.

Every pair runs with TMPDIR set to a private directory on both sides, so
runs never collide. When a .NET peer takes part, the vectors that are not
valid UTF-8 are left out (Kiwi speaks text), and both sides are told so.
Each process is bounded by a timeout and killed (with its process group) if
it overruns or the test fails; none outlives its test.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from typing import Dict, List, Optional

import pytest

from conftest import DOTNET, HERE, LANGS, Peer, require

VECTORS = os.environ.get("KIWI_INTEROP_VECTORS") or os.path.join(HERE, "vectors.txt")
CLOSE_AFTER = 10  # messages sent before the closing side closes
CLIENT_HEAD_START = 0.1  # seconds the client waits alone in client-first runs

# Seconds. Mono or CoreCLR alone take 0.1 to 0.5 s to start.
START_TIMEOUT = 30
RUN_TIMEOUT = 120

_counter = itertools.count()


# -- the vectors, to know how many messages each side must count ---------

def _load_vectors() -> List[dict]:
    vectors = []
    with open(VECTORS, encoding="ascii") as f:
        for line in f.read().splitlines():
            if line and not line.startswith("#"):
                name, flags, kind, *args = line.split(" ")
                vectors.append({
                    "name": name,
                    "large": "large" in flags,
                    "binary": "binary" in flags,
                    "messages": int(args[0]) if kind == "burst" else 1,
                })
    return vectors


def expected_messages(text: bool, quick: bool) -> int:
    """Messages each side sends (and receives) in one exchange."""
    total = 0
    for phase in (1, 2):
        for v in _load_vectors():
            if (text and v["binary"]) or (v["large"] and (quick or phase == 2)):
                continue
            total += v["messages"]
    return total


# -- processes ------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the driver itself is killed (ctest's timeout), take the peer along.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    def __init__(self, run: "Run", peer: Peer, role: str, name: str,
                 options: List[str], env: Dict[str, str]) -> None:
        self.label = "%s %s" % (peer.lang, role)
        self.argv = peer.argv + [role, name, VECTORS] + options
        tag = "%s-%s-%d" % (role, peer.lang, next(_counter))
        self.out_path = os.path.join(run.logdir, tag + ".out")
        self.err_path = os.path.join(run.logdir, tag + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=env, cwd=run.logdir, start_new_session=True,
                preexec_fn=_die_with_parent)

    def output(self) -> str:
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def errors(self) -> str:
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def describe(self) -> str:
        return ("--- %s: %s (exit status %s)\n--- stdout:\n%s--- stderr:\n%s"
                % (self.label, " ".join(self.argv), self.popen.returncode,
                   self.output(), self.errors()))

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait()


class Run:
    """The processes and private directories of one test."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ki", dir="/tmp")
        self.tmpdir = os.path.join(self.root, "tmp")  # the peers' TMPDIR
        self.logdir = os.path.join(self.root, "log")
        os.mkdir(self.tmpdir)
        os.mkdir(self.logdir)
        self.procs: List[Proc] = []

    def env(self, tmpdir: Optional[str]) -> Dict[str, str]:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        if tmpdir is None:
            env.pop("TMPDIR", None)
        else:
            env["TMPDIR"] = tmpdir
        return env

    def start(self, peer: Peer, role: str, name: str, options: List[str],
              tmpdir: Optional[str]) -> Proc:
        proc = Proc(self, peer, role, name, options, self.env(tmpdir))
        self.procs.append(proc)
        return proc

    def fail(self, why: str) -> None:
        for p in self.procs:
            p.kill()
        pytest.fail(why + "\n" + "\n".join(p.describe() for p in self.procs),
                    pytrace=False)

    def wait_ready(self, proc: Proc) -> None:
        """Wait until the peer has printed READY (it is about to call create
        or connect)."""
        deadline = time.monotonic() + START_TIMEOUT
        while "READY\n" not in proc.output():
            if proc.popen.poll() is not None:
                self.fail("%s exited before it was ready" % proc.label)
            if time.monotonic() > deadline:
                self.fail("%s not ready after %d s" % (proc.label, START_TIMEOUT))
            time.sleep(0.01)

    def wait_socket(self, proc: Proc, path: str) -> None:
        """Wait until the server's socket exists at `path`."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    return
            except FileNotFoundError:
                pass
            if proc.popen.poll() is not None:
                self.fail("%s exited before its socket appeared at %s"
                          % (proc.label, path))
            if time.monotonic() > deadline:
                self.fail("no socket at %s after %d s" % (path, START_TIMEOUT))
            time.sleep(0.005)

    def finish(self, timeout: float = RUN_TIMEOUT) -> None:
        """Wait for every process; all must exit with status 0."""
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.fail("timed out after %d s: killed" % timeout)
        bad = [p.label for p in self.procs if p.popen.returncode != 0]
        if bad:
            self.fail("failed: %s" % ", ".join(bad))

    def check_ok(self, proc: Proc, sent: int, received: int, closed=False) -> None:
        want = "OK sent=%d received=%d%s" % (sent, received,
                                             " closed" if closed else "")
        lines = proc.output().splitlines()
        if not lines or lines[-1] != want:
            self.fail("%s: expected %r as its last line" % (proc.label, want))

    def cleanup(self) -> None:
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def run():
    r = Run()
    try:
        yield r
    finally:
        r.cleanup()


# -- parametrization -------------------------------------------------------

def pytest_generate_tests(metafunc):
    if "server" not in metafunc.fixturenames:
        return
    servers = metafunc.config._kiwi_servers
    clients = metafunc.config._kiwi_clients
    pairs = [(s, c) for s in LANGS for c in LANGS
             if s in servers and c in clients]
    if metafunc.function.__name__ == "test_default_tmp":
        pairs = [(s, c) for s, c in pairs if s in DOTNET or c in DOTNET]
    metafunc.parametrize("server,client", pairs,
                         ids=["%s-%s" % p for p in pairs])


@pytest.fixture
def server_peer(peers, server) -> Peer:
    require(peers[server])
    return peers[server]


@pytest.fixture
def client_peer(peers, client) -> Peer:
    require(peers[client])
    return peers[client]


def _text(*peers: Peer) -> List[str]:
    """The "text" option when a peer cannot carry arbitrary bytes."""
    return [] if all(p.binary_safe for p in peers) else ["text"]


def _exchange(run: Run, s: Peer, c: Peer, name: str, quick: bool,
              client_first: bool, tmpdir: Optional[str],
              socket_path: Optional[str]) -> None:
    options = _text(s, c) + (["quick"] if quick else [])
    if client_first:
        cli = run.start(c, "client", name, options, tmpdir)
        run.wait_ready(cli)
        # Let the client find no server a few times (its connect retries).
        time.sleep(CLIENT_HEAD_START)
        srv = run.start(s, "server", name, options, tmpdir)
    else:
        srv = run.start(s, "server", name, options, tmpdir)
        run.wait_socket(srv, socket_path)
        cli = run.start(c, "client", name, options, tmpdir)
    run.finish()
    n = expected_messages(bool(_text(s, c)), quick)
    run.check_ok(srv, n, n)
    run.check_ok(cli, n, n)


# -- the tests -------------------------------------------------------------

def test_exchange_client_first(run, server_peer, client_peer):
    """All vectors, the 1 MiB and 16 MiB ones included; the client starts
    first, as in the reference's example."""
    name = "x_%s_%s" % (server_peer.lang, client_peer.lang)
    _exchange(run, server_peer, client_peer, name, quick=False,
              client_first=True, tmpdir=run.tmpdir, socket_path=None)
    # Both sides looked in $TMPDIR, and nothing was left there.
    assert os.listdir(run.tmpdir) == []
    assert not os.path.exists("/tmp/CoreFxPipe_" + name)


def test_exchange_server_first(run, server_peer, client_peer):
    """The vectors without the large ones; the server starts first, and its
    socket appears at $TMPDIR/CoreFxPipe_NAME."""
    name = "s_%s_%s" % (server_peer.lang, client_peer.lang)
    _exchange(run, server_peer, client_peer, name, quick=True,
              client_first=False, tmpdir=run.tmpdir,
              socket_path=os.path.join(run.tmpdir, "CoreFxPipe_" + name))
    assert os.listdir(run.tmpdir) == []


def test_absolute_name(run, server_peer, client_peer):
    """An absolute name is the socket path itself, whatever TMPDIR says."""
    sockdir = os.path.join(run.root, "abs dir")  # a space, for good measure
    os.mkdir(sockdir)
    path = os.path.join(sockdir, "kiwi.sock")
    _exchange(run, server_peer, client_peer, path, quick=True,
              client_first=False, tmpdir=run.tmpdir, socket_path=path)
    assert os.listdir(run.tmpdir) == []


def _close_after(run: Run, closer: str, s: Peer, c: Peer) -> None:
    name = "c_%s_%s" % (s.lang, c.lang)
    send, recv = "send-close=%d" % CLOSE_AFTER, "recv-close=%d" % CLOSE_AFTER
    srv = run.start(s, "server", name, [send if closer == "server" else recv],
                    run.tmpdir)
    run.wait_socket(srv, os.path.join(run.tmpdir, "CoreFxPipe_" + name))
    cli = run.start(c, "client", name, [send if closer == "client" else recv],
                    run.tmpdir)
    run.finish()
    sender, receiver = (srv, cli) if closer == "server" else (cli, srv)
    run.check_ok(sender, CLOSE_AFTER, 0)
    run.check_ok(receiver, 0, CLOSE_AFTER, closed=True)


def test_server_closes(run, server_peer, client_peer):
    """The server sends N messages and closes: the client gets all N, then
    a clean "closed"."""
    _close_after(run, "server", server_peer, client_peer)


def test_client_closes(run, server_peer, client_peer):
    """The client sends N messages and closes: the server gets all N, then
    a clean "closed"."""
    _close_after(run, "client", server_peer, client_peer)


def test_default_tmp(run, server_peer, client_peer):
    """TMPDIR unset on both sides: the name maps to /tmp/CoreFxPipe_NAME,
    for kiwi-ipc as for .NET."""
    name = "kiwi_interop_%d_%s" % (os.getpid(), uuid.uuid4().hex[:8])
    path = "/tmp/CoreFxPipe_" + name
    try:
        _exchange(run, server_peer, client_peer, name, quick=True,
                  client_first=False, tmpdir=None, socket_path=path)
        assert not os.path.exists(path)
        # CoreCLR peers run with DOTNET_EnableDiagnostics=0: none of its
        # dotnet-diagnostic-PID-* or clr-debug-pipe-PID-* files in /tmp.
        for p in run.procs:
            pid = p.popen.pid
            assert glob.glob("/tmp/dotnet-diagnostic-%d-*" % pid) == []
            assert glob.glob("/tmp/clr-debug-pipe-%d-*" % pid) == []
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
