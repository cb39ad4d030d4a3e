"""Ctrl-C (SIGINT) during every blocking call raises KeyboardInterrupt
promptly and loses nothing; other Python signal handlers run during a
blocking call too.

On Windows (no signals between processes, no SIGUSR1) the in-process
tests run with SIGINT raised on another thread, the path the C runtime
gives a console Ctrl-C; a real console Ctrl-C is in test_python_win.py."""

from __future__ import annotations

import _thread
import hashlib
import os
import signal
import socket
import threading
import time

import pytest

import kiwi_ipc
from conftest import WINDOWS
from wire import frame, read_frame

# The target is about 100 ms (the C library consults the hook at least
# every 50 ms); the bound leaves room for a loaded CI machine.
MAX_LATENCY = 0.3
# Time for the peer to get from "ready" into the blocking call.
SETTLE = 0.3


def interrupt_and_check(peer) -> float:  # type: ignore[no-untyped-def]
    peer.expect("ready")
    time.sleep(SETTLE)
    sent = peer.interrupt()
    (when,) = peer.expect("interrupted")
    latency = float(when) - sent
    assert latency < MAX_LATENCY, "KeyboardInterrupt took %.3f s" % latency
    return latency


def raw_listener(name: str) -> socket.socket:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
    srv.settimeout(15)
    return srv


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
@pytest.mark.parametrize(
    "scenario", ["interrupt-recv", "interrupt-recv-signal-elsewhere"])
def test_ctrl_c_in_recv_keeps_the_partial_frame(name, spawn, scenario):
    srv = raw_listener(name)
    peer = spawn(scenario, name)
    conn, _ = srv.accept()
    srv.close()
    payload = os.urandom(200_000)
    data = frame(payload)
    with conn:
        conn.sendall(data[:100_003])  # header and part of the payload
        interrupt_and_check(peer)
        peer.expect("ready")
        conn.sendall(data[100_003:])
        length, digest = peer.expect("got")
        assert int(length) == len(payload)
        assert digest == hashlib.sha256(payload).hexdigest()
    assert peer.finish() == 0


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_in_send_commits_the_message(name, spawn):
    size = 16 << 20  # far more than a socket buffer holds
    srv = raw_listener(name)
    peer = spawn("interrupt-send", name, str(size))
    conn, _ = srv.accept()
    srv.close()
    with conn:
        interrupt_and_check(peer)
        expected = bytes(range(256)) * (size // 256)
        assert read_frame(conn) == expected
        assert read_frame(conn) == b"after"
        (digest,) = peer.expect("sent")
        assert digest == hashlib.sha256(expected).hexdigest()
    assert peer.finish() == 0


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_in_create(name, spawn):
    peer = spawn("interrupt-create", name)
    interrupt_and_check(peer)
    peer.expect("ready")
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        assert pipe.recv(timeout=10) == "created"
        pipe.send("hello")
        assert peer.expect("got") == ["hello"]
    assert peer.finish() == 0


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_in_kiwi_shaped_create_removes_the_socket(name, spawn):
    peer = spawn("interrupt-kiwi-create", name)
    interrupt_and_check(peer)
    # An interrupted create leaves nothing behind (as a timed-out one).
    assert peer.expect("leftover") == ["False"]
    peer.expect("ready")
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        assert pipe.recv(timeout=10) == "created"
    assert peer.finish() == 0


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_in_connect(name, spawn):
    peer = spawn("interrupt-connect", name)
    interrupt_and_check(peer)
    peer.expect("ready")
    with kiwi_ipc.Listener(name) as listener:
        with listener.accept(timeout=10) as pipe:
            assert pipe.recv(timeout=10) == "connected"
            pipe.send("hello")
            assert peer.expect("got") == ["hello"]
    assert peer.finish() == 0


@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_in_accept(name, spawn):
    peer = spawn("interrupt-accept", name)
    interrupt_and_check(peer)
    peer.expect("ready")
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        assert pipe.recv(timeout=10) == "accepted"
        pipe.send("hello")
        assert peer.expect("got") == ["hello"]
    assert peer.finish() == 0


# In this process: any Python signal handler runs during a blocking call.


class Boom(Exception):
    pass


# The signal these tests send themselves: SIGUSR1 with os.kill on POSIX;
# Windows' C runtime has no SIGUSR1, and SIGINT raised on the timer's
# thread is what a console Ctrl-C does there.
OTHER_SIGNAL = signal.SIGINT if WINDOWS else signal.SIGUSR1


def _signal_soon(sig: int, delay: float) -> threading.Timer:
    if WINDOWS:
        timer = threading.Timer(delay, signal.raise_signal, (sig,))
    else:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])  # in case CI blocked it
        timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def _raise_sigint() -> None:
    signal.raise_signal(signal.SIGINT)


# _thread.interrupt_main, as Python's own Ctrl-C does; and SIGINT raised on
# another thread (on Windows the C runtime's console handler runs Python's
# SIGINT handler on a thread of its own, and raise() takes that same path,
# without the console).
@pytest.mark.parametrize("interrupt", [
    _thread.interrupt_main,
    _raise_sigint,
], ids=["interrupt_main", "sigint_on_another_thread"])
def test_keyboard_interrupt_through_the_hook(pair, interrupt):
    s, c = pair
    threading.Timer(0.2, interrupt).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        c.recv_bytes()
    assert time.monotonic() - t0 < 2
    # the pipe still works
    s.send_bytes(b"still here")
    assert c.recv_bytes(timeout=5) == b"still here"


def test_a_raising_handler_interrupts_recv_and_loses_nothing(raw_server):
    conn, pipe = raw_server

    def handler(signum, frame_):  # type: ignore[no-untyped-def]
        raise Boom()

    old = signal.signal(OTHER_SIGNAL, handler)
    try:
        data = frame(b"x" * 1000)
        conn.sendall(data[:500])
        timer = _signal_soon(OTHER_SIGNAL, 0.2)
        start = time.monotonic()
        with pytest.raises(Boom):
            pipe.recv_bytes()
        assert time.monotonic() - start < 0.2 + MAX_LATENCY
        timer.join()
    finally:
        signal.signal(OTHER_SIGNAL, old)
    conn.sendall(data[500:])
    assert pipe.recv_bytes(timeout=5) == b"x" * 1000


def test_a_quiet_handler_runs_and_the_call_goes_on(raw_server):
    conn, pipe = raw_server
    calls = []
    old = signal.signal(OTHER_SIGNAL, lambda s, f: calls.append(s))
    try:
        timer = _signal_soon(OTHER_SIGNAL, 0.1)
        sender = threading.Timer(0.6, conn.sendall, (frame(b"late"),))
        sender.start()
        assert pipe.recv_bytes(timeout=10) == b"late"
        timer.join()
        sender.join()
    finally:
        signal.signal(OTHER_SIGNAL, old)
    assert calls == [OTHER_SIGNAL]


def test_handler_raising_during_connect_and_accept(new_name):
    def handler(signum, frame_):  # type: ignore[no-untyped-def]
        raise Boom()

    old = signal.signal(OTHER_SIGNAL, handler)
    try:
        timer = _signal_soon(OTHER_SIGNAL, 0.1)
        with pytest.raises(Boom):
            kiwi_ipc.Pipe.connect(new_name(), timeout=30)
        timer.join()
        with kiwi_ipc.Listener(new_name()) as listener:
            timer = _signal_soon(OTHER_SIGNAL, 0.1)
            with pytest.raises(Boom):
                listener.accept(timeout=30)
            timer.join()
    finally:
        signal.signal(OTHER_SIGNAL, old)
