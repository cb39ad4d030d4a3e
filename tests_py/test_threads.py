"""Threads: the GIL is released while a call blocks, a pipe can be used from
several threads at once, and close() from another thread wakes a blocked
call with PipeClosedError."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import kiwi_ipc

import wire


class Runner(threading.Thread):
    """Run `fn` in a thread, keeping its result or exception."""

    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc

    def wait(self, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        self.join(timeout)
        assert not self.is_alive(), "thread still blocked"
        return self


def started(fn, settle: float = 0.2) -> Runner:  # type: ignore[no-untyped-def]
    runner = Runner(fn)
    runner.start()
    time.sleep(settle)  # let it get into the blocking call
    return runner


def test_recv_in_one_thread_while_another_sends(pair):
    server, client = pair
    n = 200
    reader = started(lambda: [server.recv() for _ in range(n)], settle=0)
    for i in range(n):
        client.send("message %d" % i)
    assert reader.wait().error is None
    assert reader.result == ["message %d" % i for i in range(n)]


def test_send_and_recv_on_the_same_pipe_at_once(pair):
    server, client = pair
    echo = started(lambda: [server.send(server.recv()) for _ in range(50)], settle=0)
    reader = started(lambda: [client.recv() for _ in range(50)], settle=0)
    for i in range(50):
        client.send(str(i))
    assert reader.wait().result == [str(i) for i in range(50)]
    assert echo.wait().error is None


def test_close_from_another_thread_wakes_recv(pair):
    server, _ = pair
    reader = started(server.recv)
    start = time.monotonic()
    server.close()
    reader.wait(5)
    assert time.monotonic() - start < 2
    assert isinstance(reader.error, kiwi_ipc.PipeClosedError)


def test_close_from_another_thread_ends_iteration(pair):
    server, client = pair
    client.send("first")
    reader = started(lambda: list(server))
    server.close()
    reader.wait(5)
    assert reader.error is None
    assert reader.result == ["first"]


def test_close_from_another_thread_wakes_send(pair):
    server, client = pair
    big = b"x" * (32 << 20)  # nobody reads: the send blocks
    sender = started(lambda: client.send_bytes(big))
    client.close()
    sender.wait(5)
    assert isinstance(sender.error, kiwi_ipc.PipeClosedError)


def test_close_from_another_thread_wakes_accept(name):
    listener = kiwi_ipc.Listener(name)
    acceptor = started(listener.accept)
    listener.close()
    acceptor.wait(5)
    assert isinstance(acceptor.error, kiwi_ipc.PipeClosedError)


@pytest.mark.parametrize("recv", [kiwi_ipc.recv, kiwi_ipc.recv_bytes])
def test_kiwi_close_from_another_thread_wakes_recv(pair, recv):
    server, _ = pair
    reader = started(lambda: recv(server.handle))
    kiwi_ipc.close(server.handle)
    reader.wait(5)
    assert isinstance(reader.error, kiwi_ipc.PipeClosedError)


def _count_while(blocking_call) -> int:  # type: ignore[no-untyped-def]
    """Count in another thread while this one sits in `blocking_call`."""
    stop = threading.Event()
    count = [0]

    def counter() -> None:
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        blocking_call()
    finally:
        stop.set()
        t.join()
    return count[0]


def test_gil_is_released_during_recv(pair):
    server, _ = pair

    def block() -> None:
        with pytest.raises(kiwi_ipc.IpcTimeoutError):
            server.recv(timeout=0.5)

    # A Python thread counts freely only if the GIL is not held meanwhile.
    assert _count_while(block) > 10_000


def test_gil_is_released_during_send_accept_connect(pair, new_name):
    _, client = pair

    def block_send() -> None:
        # The peer does not read: the send waits its 0.3 s, then commits
        # the part that went (the pipe keeps the rest) and returns.
        client.send_bytes(b"x" * (32 << 20), timeout=0.3)

    assert _count_while(block_send) > 5_000

    def block_connect() -> None:
        with pytest.raises(kiwi_ipc.NoServerError):
            kiwi_ipc.Pipe.connect(new_name(), timeout=0.3)

    assert _count_while(block_connect) > 5_000

    with kiwi_ipc.Listener(new_name()) as listener:
        def block_accept() -> None:
            with pytest.raises(kiwi_ipc.IpcTimeoutError):
                listener.accept(timeout=0.3)

        assert _count_while(block_accept) > 5_000


def test_other_thread_runs_while_main_blocks_forever(pair):
    """The main thread blocks in recv() without a timeout; a helper thread
    does Python work and then sends the message that releases it."""
    server, client = pair

    def helper() -> None:
        total = sum(i * i for i in range(200_000))
        client.send(str(total))

    t = threading.Thread(target=helper)
    t.start()
    assert server.recv() == str(sum(i * i for i in range(200_000)))
    t.join(5)


def test_concurrent_sends_never_interleave(pair):
    server, client = pair
    senders, per_sender = 6, 30
    messages = {
        (s, i): bytes([s]) * (1000 + 7919 * i) for s in range(senders)
        for i in range(per_sender)
    }
    reader = started(
        lambda: [server.recv_bytes(timeout=30) for _ in range(len(messages))],
        settle=0)

    def send_all(s: int) -> None:
        for i in range(per_sender):
            client.send_bytes(messages[(s, i)])

    threads = [threading.Thread(target=send_all, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    got = reader.wait(30).result
    assert got is not None
    assert sorted(got) == sorted(messages.values())
    for s in range(senders):  # each sender's messages arrive in order
        mine = [m for m in got if m[0] == s]
        assert mine == [messages[(s, i)] for i in range(per_sender)]


SMALL_SNDBUF = pytest.mark.posix_only(
    "a small SO_SNDBUF set through fileno(); a Windows named pipe has no "
    "file descriptor (its buffer is fixed when the pipe is made)")
SMALL = b"s" * 1000  # the messages that fill the socket


def fill_small_socket(conn: socket.socket, pipe: kiwi_ipc.Pipe) -> int:
    """Shrink the pipe's send buffer, so that the kernel takes a 60 KB
    frame in pieces (Linux: at most half the buffer per piece), fill it
    with 1000-byte messages until one cannot go at once, then let the peer
    read one, so that there is room for part of the next frame. Returns
    how many are still unread."""
    own = socket.socket(fileno=os.dup(pipe.fileno()))
    own.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    own.close()
    sent = 0
    while True:  # fill the socket until a send cannot go at once
        try:
            pipe.send_bytes(SMALL, timeout=0)
        except kiwi_ipc.IpcTimeoutError:
            break
        sent += 1
        assert sent < 100_000, "the socket never filled"
    assert wire.read_frame(conn) == SMALL  # room for part of the next
    return sent - 1


@SMALL_SNDBUF
def test_send_whose_first_step_writes_part_waits_for_the_rest(raw_server):
    # A send of up to 64 KiB is first tried with the GIL kept and no wait
    # (kiwi_ipc_py.c). When the socket takes only part of its frame, that
    # step commits it with the rest kept: the send must then wait, without
    # the GIL, until the rest is written, and return only then, as a
    # single blocking send does; the peer gets every message whole, once.
    conn, pipe = raw_server
    unread = fill_small_socket(conn, pipe)
    big = b"z" * 60_000
    sender = started(lambda: pipe.send_bytes(big), settle=0.3)
    assert sender.is_alive(), "send returned before its message was written"
    # ... while this thread runs: the GIL is free
    for _ in range(unread):
        assert wire.read_frame(conn) == SMALL
    assert wire.read_frame(conn) == big
    assert sender.wait().error is None


@SMALL_SNDBUF
def test_peer_gone_while_send_waits_for_its_rest_names_the_send(raw_server):
    # The same send, but the peer goes while it waits for the rest of its
    # frame: PipeClosedError, worded as a single blocking send's is. The
    # wait for the rest is the library's ipc_flush() inside send(); the
    # user called send_bytes(), and "flush(...)" would send them looking
    # for a flush they never called.
    conn, pipe = raw_server
    fill_small_socket(conn, pipe)
    sender = started(lambda: pipe.send_bytes(b"z" * 60_000), settle=0.3)
    assert sender.is_alive(), "send returned before its message was written"
    conn.close()
    error = sender.wait().error
    assert isinstance(error, kiwi_ipc.PipeClosedError), repr(error)
    assert str(error).startswith("send("), str(error)
    assert "flush" not in str(error), str(error)
