"""SIGINT and SIGTERM: a prompt end in the middle of any wait, no socket
file left behind, and death by the signal (as a shell expects)."""

from __future__ import annotations

import os
import signal
import time

import pytest

import kiwi_ipc

from conftest import wait_for_path

pytestmark = pytest.mark.posix_only(
    "POSIX signals sent to the tool (SIGINT, SIGTERM): Windows has Ctrl-C events (test_cli_win.py)")

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def stop(proc, sig, within: float = 2.0) -> None:
    t0 = time.monotonic()
    proc.p.send_signal(sig)
    rc = proc.wait(10)
    took = time.monotonic() - t0
    assert rc == -sig, (rc, proc.stderr)
    # The library's hook is consulted every 50 ms: well below a second.
    assert took < within, took
    assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("sig", SIGNALS, ids=["INT", "TERM"])
def test_signal_while_create_waits_removes_the_socket(cli, name, sig):
    srv = cli("create", name)
    wait_for_path(name)
    time.sleep(0.1)
    stop(srv, sig)
    assert not os.path.exists(name)


@pytest.mark.parametrize("sig", SIGNALS, ids=["INT", "TERM"])
def test_signal_while_listen_waits_removes_the_socket(cli, name, sig):
    srv = cli("listen", name, "--echo")
    wait_for_path(name)
    time.sleep(0.1)
    stop(srv, sig)
    assert not os.path.exists(name)


def test_signal_while_listen_serves_a_client(cli, name):
    srv = cli("listen", name, "--echo", "-q")
    wait_for_path(name)
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"x")
        assert p.recv_bytes(timeout=20) == b"x"
        # Now blocked in the session's receive.
        stop(srv, signal.SIGINT)
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=10)
    assert not os.path.exists(name)


def test_signal_while_connect_waits(cli, name):
    c = cli("connect", name)
    time.sleep(0.3)
    stop(c, signal.SIGINT)
    assert not os.path.exists(name)


@pytest.mark.parametrize("sig", SIGNALS, ids=["INT", "TERM"])
def test_signal_during_a_blocked_receive(cli, listener, name, sig):
    c = cli("connect", name, "-n", "1")
    with listener.accept(timeout=20) as p:
        time.sleep(0.2)
        stop(c, sig)
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=10)


def test_signal_while_lines_wait_on_stdin(cli, listener, name):
    c = cli("connect", name, "-l", "-n", "0", keep_stdin_open=True)
    with listener.accept(timeout=20) as p:
        c.write(b"one\n")
        assert p.recv_bytes(timeout=10) == b"one"
        stop(c, signal.SIGTERM)


def test_signal_stops_the_exec_program(cli, name, pipe_dir):
    marker = os.path.join(pipe_dir, "pid")
    srv = cli("create", name, "--exec", "echo $$ > %s; exec sleep 60" % marker)
    with kiwi_ipc.Pipe.connect(name, timeout=20):
        wait_for_path(marker)
        time.sleep(0.1)
        with open(marker) as f:
            pid = int(f.read())
        stop(srv, signal.SIGINT)
    # The program is gone too (reaped by the tool, so not even a zombie).
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_signal_while_a_send_is_blocked(cli, listener, name, pipe_dir):
    # 8 MB to a peer that does not read: the send blocks.
    big = os.path.join(pipe_dir, "big")
    with open(big, "wb") as f:
        f.write(b"z" * (8 * 1024 * 1024))
    c = cli("connect", name, "-f", big)
    with listener.accept(timeout=20):
        time.sleep(0.3)
        assert c.p.poll() is None
        stop(c, signal.SIGINT)
