"""What a real Kiwi does that Mono hid: the .NET peer (our
stand-in for Kiwi, Peer.exe) on Microsoft's CoreCLR, Kiwi's own runtime,
against the Python binding.

- A .NET server that ends without disposing its pipe (killed, or ended by
  an error it did not catch, as a crashing Kiwi script) leaves its socket
  file behind on CoreCLR; Mono removes it when Main returns (not when it is
  killed or dies of an unhandled exception).
  Our connect then waits for the next server (a stale socket refuses, and
  connect retries as Kiwi's does), and our create/listen reclaim the name.
- A live .NET server holding the name: our create and listen refuse it
  (NameInUseError) without a probe, i.e. without connecting to it, so the
  .NET server's one WaitForConnection() still gets the real client.
- CoreCLR writes dotnet-diagnostic-* sockets and clr-debug-pipe-* FIFOs into
  $TMPDIR, where the pipes live too (left behind when it is killed); they
  disturb none of our calls.

The tests that compare the runtimes run for Mono and CoreCLR alike, each
with its server pairs (interop_matrix_mono, interop_matrix_coreclr_server);
the diagnostics test is CoreCLR's alone. Every CoreCLR peer of the suite
but the diagnostics test's runs with DOTNET_EnableDiagnostics=0.
"""

from __future__ import annotations

import glob
import os
import signal
import stat
import threading
import time

import pytest

import kiwi_ipc
from conftest import Peer, require
from test_matrix import START_TIMEOUT, Run, run  # noqa: F401 (the fixture)

# Exit statuses of the .NET peer, as seen on Mono 6.8 and CoreCLR 8.0.4:
# end=exit returns 3 from Main; an unhandled exception exits with 1 on Mono
# and aborts (SIGABRT) on CoreCLR; SIGTERM kills Mono, while CoreCLR
# handles it and exits with 143 (128 + 15).
STATUS = {
    "mono": {"exit": 3, "throw": 1, signal.SIGTERM: -signal.SIGTERM,
             signal.SIGKILL: -signal.SIGKILL},
    "coreclr": {"exit": 3, "throw": -signal.SIGABRT, signal.SIGTERM: 143,
                signal.SIGKILL: -signal.SIGKILL},
}


@pytest.fixture
def coreclr(request, peers) -> Peer:
    if "coreclr" not in request.config._kiwi_servers:
        pytest.skip("runs with --servers=coreclr")
    require(peers["coreclr"])
    return peers["coreclr"]


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _wait_listening(run: Run, proc, path: str) -> None:
    """Wait until the server at `path` listens, not only has bound: .NET
    binds, then listens, and a socket file that does not listen yet looks
    just like a stale one (Mono leaves a visible gap between the two).
    /proc/net/unix shows the listening flag (__SO_ACCEPTCON, 0x10000)
    without connecting, which would take the server's one client."""
    run.wait_socket(proc, path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with open("/proc/net/unix") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split(None, 7)
                if (len(fields) == 8 and fields[7] == path
                        and int(fields[3], 16) & 0x10000):
                    return
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            run.fail("%s never listened at %s" % (proc.label, path))
        time.sleep(0.005)


def _wait_exit(run: Run, proc, status: int) -> None:
    try:
        proc.popen.wait(START_TIMEOUT)
    except Exception:
        run.fail("%s did not end" % proc.label)
    if proc.popen.returncode != status:
        run.fail("%s: exit status %s, expected %s" % (
            proc.label, proc.popen.returncode, status))


def _next_server_is_ours(run: Run, path: str, how: str) -> None:
    """A stale socket sits at `path`. Our connect waits for the next
    server (it neither fails nor gets through), our create or listen
    reclaims the name, and the waiting connect reaches it."""
    assert _is_socket(path)
    got = {}

    def client() -> None:
        try:
            with kiwi_ipc.Pipe.connect(path, timeout=START_TIMEOUT) as p:
                p.send("hello")
                got["reply"] = p.recv(timeout=START_TIMEOUT)
        except Exception as e:  # reported by the main thread
            got["error"] = e

    t = threading.Thread(target=client, daemon=True)
    t.start()
    # Still waiting, a while after its first attempts met the stale socket.
    t.join(0.5)
    assert t.is_alive(), got
    assert _is_socket(path)
    if how == "create":
        srv = kiwi_ipc.Pipe.create(path, timeout=START_TIMEOUT)
    else:
        listener = kiwi_ipc.Listener(path)
        srv = listener.accept(timeout=START_TIMEOUT)
        listener.close()
    with srv:
        assert srv.recv(timeout=START_TIMEOUT) == "hello"
        srv.send("hi")
    t.join(START_TIMEOUT)
    assert not t.is_alive()
    assert got == {"reply": "hi"}
    assert not os.path.exists(path)


@pytest.mark.parametrize("how", ["create", "listen"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM],
                         ids=["SIGKILL", "SIGTERM"])
def test_killed_server_leaves_its_socket(run, dotnet, sig, how):
    """A .NET server killed while it waits in WaitForConnection (no
    Dispose) leaves its socket; ours reclaim the name."""
    path = os.path.join(run.root, "s")
    srv = run.start(dotnet, "server", path, ["recv-close=1"], run.tmpdir)
    run.wait_socket(srv, path)
    os.kill(srv.popen.pid, sig)
    _wait_exit(run, srv, STATUS[dotnet.lang][sig])
    assert _is_socket(path), "the killed server's socket is gone"
    _next_server_is_ours(run, path, how)


@pytest.mark.parametrize("how", ["create", "listen"])
@pytest.mark.parametrize("end", ["exit", "throw"])
def test_server_ending_without_close(run, dotnet, end, how):
    """A .NET server serves a client, then its process ends without
    closing the pipe: by returning from Main (as Kiwi does after an error
    the script did not catch) or by an unhandled exception. CoreCLR leaves
    the socket file either way; Mono removes it when Main returns (it
    finalizes the pipe at shutdown), not after an unhandled exception."""
    path = os.path.join(run.root, "s")
    srv = run.start(dotnet, "server", path, ["send-close=2", "end=" + end],
                    run.tmpdir)
    with kiwi_ipc.Pipe.connect(path, timeout=START_TIMEOUT) as p:
        assert p.recv(timeout=START_TIMEOUT) == "message 1 of 2"
        assert p.recv(timeout=START_TIMEOUT) == "message 2 of 2"
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv(timeout=START_TIMEOUT)
    _wait_exit(run, srv, STATUS[dotnet.lang][end])
    left = _is_socket(path)
    if dotnet.lang == "mono" and end == "exit":
        # Mono's shutdown finalizes the pipe, which removes the file.
        assert not left, "Mono left its socket behind"
        return
    assert left, "%s removed its socket" % dotnet.lang
    _next_server_is_ours(run, path, how)


def test_live_server_is_refused_without_a_probe(run, dotnet):
    """Our create and listen refuse a name a live .NET server holds, and
    never connect to it to find out: the .NET server, which takes one
    client, still gets the real one."""
    path = os.path.join(run.root, "s")
    srv = run.start(dotnet, "server", path, ["recv-close=1"], run.tmpdir)
    _wait_listening(run, srv, path)
    with pytest.raises(kiwi_ipc.NameInUseError):
        kiwi_ipc.Pipe.create(path, timeout=1)
    with pytest.raises(kiwi_ipc.NameInUseError):
        kiwi_ipc.Listener(path)
    with pytest.raises(kiwi_ipc.NameInUseError):
        kiwi_ipc.Pipe.create(path, timeout=0)
    # A probe would have been its client: it would have said CONNECTED,
    # then failed on the probe's close.
    time.sleep(0.3)
    assert srv.popen.poll() is None, srv.describe()
    assert "CONNECTED" not in srv.output()
    assert _is_socket(path)
    with kiwi_ipc.Pipe.connect(path, timeout=START_TIMEOUT) as p:
        p.send("message 1 of 1")
    run.finish()
    run.check_ok(srv, 0, 1, closed=True)
    assert not os.path.exists(path)


def _diagnostics(tmpdir: str, pid=None):
    pat = "*" if pid is None else "%d-*" % pid
    return sorted(glob.glob(os.path.join(tmpdir, "dotnet-diagnostic-" + pat))
                  + glob.glob(os.path.join(tmpdir, "clr-debug-pipe-" + pat)))


def test_diagnostics_files_disturb_nothing(run, coreclr, monkeypatch):
    """CoreCLR with its diagnostics on (its default): the pipes and
    CoreCLR's own files share $TMPDIR. Our create, listen and connect
    work as ever, around live and left-behind diagnostics files; the
    private TMPDIR goes, with them, at the end of the test."""
    monkeypatch.delenv("DOTNET_EnableDiagnostics", raising=False)
    monkeypatch.setenv("TMPDIR", run.tmpdir)
    tmp = run.tmpdir

    # A CoreCLR server, our client.
    srv = run.start(coreclr, "server", "d1", ["send-close=2"], tmp)
    run.wait_socket(srv, os.path.join(tmp, "CoreFxPipe_d1"))
    live = _diagnostics(tmp, srv.popen.pid)
    assert any(os.path.basename(f).startswith("dotnet-diagnostic-")
               and stat.S_ISSOCK(os.lstat(f).st_mode) for f in live), live
    assert any(os.path.basename(f).startswith("clr-debug-pipe-")
               and stat.S_ISFIFO(os.lstat(f).st_mode) for f in live), live
    with kiwi_ipc.Pipe.connect("d1", timeout=START_TIMEOUT) as p:
        assert p.recv(timeout=START_TIMEOUT) == "message 1 of 2"
        assert p.recv(timeout=START_TIMEOUT) == "message 2 of 2"
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv(timeout=START_TIMEOUT)

    # A CoreCLR server killed: its socket and its diagnostics files stay.
    dead = run.start(coreclr, "server", "d2", ["recv-close=1"], tmp)
    run.wait_socket(dead, os.path.join(tmp, "CoreFxPipe_d2"))
    os.kill(dead.popen.pid, signal.SIGKILL)
    dead.popen.wait(START_TIMEOUT)
    left = _diagnostics(tmp, dead.popen.pid)
    assert left, "no diagnostics files left by the killed CoreCLR"

    # Our servers (create reclaiming d2, listen), CoreCLR clients.
    cli = run.start(coreclr, "client", "d2", ["send-close=1"], tmp)
    with kiwi_ipc.Pipe.create("d2", timeout=START_TIMEOUT) as p:
        assert p.recv(timeout=START_TIMEOUT) == "message 1 of 1"
    with kiwi_ipc.Listener("d3") as listener:
        clis = [run.start(coreclr, "client", "d3", ["send-close=1"], tmp)
                for _ in range(2)]
        for _ in clis:
            with listener.accept(timeout=START_TIMEOUT) as p:
                assert p.recv(timeout=START_TIMEOUT) == "message 1 of 1"
    run.procs.remove(dead)
    run.finish()
    for proc in [srv, cli] + clis:
        run.check_ok(proc, 2 if proc is srv else 1, 0)

    # No pipe left; the killed process's diagnostics files are still there
    # (the finished ones removed theirs) until the test removes TMPDIR.
    assert sorted(glob.glob(os.path.join(tmp, "CoreFxPipe_*"))) == []
    assert _diagnostics(tmp) == left
