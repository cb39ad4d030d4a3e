"""Many pipes at once: kiwi_ipc.wait(), Pipe.poll() and Pipe.recv_into().

The readiness tests here are about bursts: a recv reads up to 64 KiB ahead
and hands out one message, so after the first recv of a burst the rest
waits inside the Pipe, where select()/selectors on fileno() cannot see it.
None of them can pass on the code before wait() (there was no wait(),
poll() or recv_into(), and the descriptor alone stalls:
test_fileno_alone_is_blind shows the blindness wait() works around).
"""

from __future__ import annotations

import array
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from typing import List, Tuple

import pytest

import kiwi_ipc

from conftest import ALARM, alarm_soon, create_pair, raw_pair
from wire import frame


# The abi3 module on Python < 3.11 has no buffer protocol: recv_into takes
# a bytearray only there.
ANY_BUFFER = (sys.version_info >= (3, 11)
              or not kiwi_ipc._kiwi_ipc.__file__.endswith(".abi3.so"))


def burst(sock: socket.socket, first: int, count: int) -> None:
    sock.sendall(b"".join(frame(b"m%d" % i) for i in range(first, first + count)))


def raw_pairs(new_name, n: int) -> List[Tuple[socket.socket, kiwi_ipc.Pipe]]:
    return [raw_pair(new_name()) for _ in range(n)]


@pytest.mark.posix_only("select() on fileno(); a Windows named pipe has no file descriptor")
def test_fileno_alone_is_blind(raw_server):
    raw, pipe = raw_server
    burst(raw, 0, 2)
    time.sleep(0.02)
    assert pipe.recv_bytes(timeout=1) == b"m0"
    # The kernel has nothing left: the second message is inside the Pipe.
    assert select.select([pipe], [], [], 0)[0] == []
    assert pipe.poll() is True
    assert kiwi_ipc.wait([pipe], timeout=0) == [pipe]
    assert pipe.recv_bytes(timeout=0) == b"m1"
    assert pipe.poll() is False


def test_burst_one_pipe(raw_server):
    raw, pipe = raw_server
    burst(raw, 0, 200)
    for i in range(200):
        assert kiwi_ipc.wait([pipe], timeout=1) == [pipe], "stalled at %d" % i
        assert pipe.recv_bytes(timeout=0) == b"m%d" % i
    assert kiwi_ipc.wait([pipe], timeout=0) == []


def test_bursts_on_several_pipes(new_name):
    pairs = raw_pairs(new_name, 5)
    try:
        for raw, _ in pairs:
            burst(raw, 0, 50)
            burst(raw, 50, 50)
        nxt = {p.handle: 0 for _, p in pairs}
        left = 5 * 100
        pipes = [p for _, p in pairs]
        while left:
            ready = kiwi_ipc.wait(pipes, timeout=1)
            assert ready, "wait() stalled with %d messages left" % left
            for p in ready:
                assert p.recv_bytes(timeout=0) == b"m%d" % nxt[p.handle]
                nxt[p.handle] += 1
                left -= 1
        assert all(v == 100 for v in nxt.values())
    finally:
        for raw, p in pairs:
            raw.close()
            p.close()


def test_pipe_poll_timeout_and_partial_frame(raw_server):
    raw, pipe = raw_server
    # perf_counter: Windows' monotonic() ticks in ~16 ms, too coarse for a
    # lower bound (on Linux both are CLOCK_MONOTONIC)
    t0 = time.perf_counter()
    assert pipe.poll(0.1) is False
    assert time.perf_counter() - t0 >= 0.09
    raw.sendall(struct.pack(">i", 10) + b"hello")
    time.sleep(0.02)
    assert pipe.poll() is False  # half a message is not readiness
    assert kiwi_ipc.wait([pipe], timeout=0.05) == []
    raw.sendall(b"world")
    assert pipe.poll(2) is True
    assert pipe.recv_bytes(timeout=0) == b"helloworld"


@pytest.mark.posix_only("clients queued before accept: a Windows listener keeps one instance ready, so a second connect waits for accept (docs/guides/platforms.md)")
def test_wait_listener_with_clients_queued(name):
    with kiwi_ipc.Listener(name) as listener:
        assert kiwi_ipc.wait([listener], timeout=0.03) == []
        clients = [kiwi_ipc.Pipe.connect(name, timeout=5) for _ in range(3)]
        try:
            for _ in range(3):
                assert kiwi_ipc.wait([listener], timeout=1) == [listener]
                listener.accept(timeout=0).close()
            assert kiwi_ipc.wait([listener], timeout=0.03) == []
        finally:
            for c in clients:
                c.close()


def test_wait_mixed_and_hangup(pair, new_name):
    server, client = pair
    with kiwi_ipc.Listener(new_name()) as listener:
        assert kiwi_ipc.wait([server, client, listener], timeout=0.03) == []
        client.send("one")
        client.send("two")
        client.close()
        got = []
        while True:
            assert kiwi_ipc.wait([listener, server], timeout=1) == [server]
            try:
                got.append(server.recv(timeout=0))
            except kiwi_ipc.PipeClosedError:
                break
        assert got == ["one", "two"]


def test_wait_arguments(pair):
    server, client = pair
    t0 = time.perf_counter()  # fine-grained on Windows too (see above)
    assert kiwi_ipc.wait([], timeout=0.05) == []
    assert time.perf_counter() - t0 >= 0.04
    assert kiwi_ipc.wait(iter([server]), timeout=0) == []
    with pytest.raises(TypeError):
        kiwi_ipc.wait([object()], timeout=0)
    client.close()
    with pytest.raises(ValueError):
        kiwi_ipc.wait([client], timeout=0)
    with pytest.raises(ValueError):
        client.poll()
    with pytest.raises(ValueError):
        kiwi_ipc.wait([server], timeout=-1)


def test_wait_interrupted_by_signal(pair):
    server, _ = pair

    class Boom(Exception):
        pass

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        raise Boom()

    old = signal.signal(ALARM, handler)
    cancel = alarm_soon(0.1)
    try:
        t0 = time.monotonic()
        with pytest.raises(Boom):
            kiwi_ipc.wait([server])  # no timeout: only the signal ends it
        assert time.monotonic() - t0 < 5
    finally:
        cancel()
        signal.signal(ALARM, old)


# -- recv_into -------------------------------------------------------------

def test_recv_into_reuses_one_buffer(pair):
    server, client = pair
    sizes = [0, 10, 5000, 100_000, 3]
    msgs = [os.urandom(n) for n in sizes]
    # From another thread: more than a Windows pipe buffers (64 KiB).
    sender = threading.Thread(target=lambda: [client.send_bytes(m, timeout=10)
                                              for m in msgs])
    sender.start()
    buf = bytearray(200_000)
    for m in msgs:
        n = server.recv_into(buf, timeout=5)
        assert n == len(m)
        assert buf[:n] == m
    sender.join(10)


def test_recv_into_too_small_keeps_the_message(pair):
    server, client = pair
    client.send_bytes(b"0123456789")
    client.send_bytes(b"next")
    small = bytearray(4)
    with pytest.raises(kiwi_ipc.BufferTooShortError) as e:
        server.recv_into(small, timeout=5)
    assert e.value.size == 10 and e.value.capacity == 4
    assert isinstance(e.value, ValueError)
    assert small == bytearray(4)  # untouched
    assert server.poll() is True
    if ANY_BUFFER:
        big = bytearray(16)
        assert server.recv_into(memoryview(big)[2:], timeout=0) == 10
        assert big[2:12] == b"0123456789"
        assert server.recv_into(array.array("b", [0] * 4), timeout=0) == 4
    else:
        with pytest.raises(TypeError):
            server.recv_into(memoryview(bytearray(16)), timeout=0)
        big = bytearray(16)
        assert server.recv_into(big, timeout=0) == 10
        assert big[:10] == b"0123456789"
        assert server.recv_into(bytearray(4), timeout=0) == 4


@pytest.mark.parametrize(
    "buffer, why",
    [
        (b"read-only", "bytes is read-only"),
        (memoryview(b"read-only"), "memoryview is read-only"),
        (memoryview(bytearray(16))[::2], "contiguous"),
    ],
    ids=["bytes", "read-only-memoryview", "strided-memoryview"],
)
def test_recv_into_refuses_a_buffer_it_cannot_write(pair, buffer, why):
    # TypeError, as socket.recv_into() raises (not the BufferError of the
    # buffer protocol), saying why the buffer will not do.
    server, client = pair
    client.send_bytes(b"x")
    with pytest.raises(TypeError, match="writable") as e:
        server.recv_into(buffer, timeout=5)
    if ANY_BUFFER:  # else: "takes a bytearray here"
        assert why in str(e.value)
    assert server.recv_bytes(timeout=5) == b"x"


def test_recv_into_timeout_mid_message_keeps_bytes(raw_server):
    raw, pipe = raw_server
    raw.sendall(struct.pack(">i", 6) + b"abc")
    buf = bytearray(10)
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        pipe.recv_into(buf, timeout=0.05)
    raw.sendall(b"def")
    assert pipe.recv_into(buf, timeout=5) == 6
    assert buf[:6] == b"abcdef"


def test_recv_into_large(pair):
    server, client = pair
    import threading

    big = os.urandom(1 << 20) * 8  # 8 MiB
    t = threading.Thread(target=lambda: [client.send_bytes(big) for _ in range(3)])
    t.start()
    buf = bytearray(len(big))
    for _ in range(3):
        assert server.recv_into(buf, timeout=30) == len(big)
        assert buf == big
    t.join(30)


# -- wait() over Pipe.create pairs and a Listener ------------------------


def test_wait_and_poll_over_pipes_and_a_listener(new_name):
    pairs = [create_pair(new_name()) for _ in range(3)]
    ln = new_name()
    try:
        with kiwi_ipc.Listener(ln) as listener:
            servers = [s for s, _ in pairs]
            assert kiwi_ipc.wait(servers + [listener], timeout=0.05) == []
            pairs[1][1].send("one")
            assert kiwi_ipc.wait(servers + [listener], timeout=5) == [servers[1]]
            assert servers[1].recv(timeout=0) == "one"
            # a burst: every message is seen by poll(), though the first
            # recv took them all into the Pipe
            for i in range(20):
                pairs[2][1].send("m%d" % i)
            for i in range(20):
                assert servers[2].poll(5)
                assert servers[2].recv(timeout=0) == "m%d" % i
            assert not servers[2].poll(0)
            c = kiwi_ipc.Pipe.connect(ln, timeout=5)
            assert kiwi_ipc.wait(servers + [listener], timeout=5) == [listener]
            with listener.accept(timeout=0) as p, c:
                c.send("via listener")
                assert p.recv(timeout=5) == "via listener"
    finally:
        for s, c in pairs:
            s.close()
            c.close()


def test_wait_on_more_pipes_than_one_windows_wait(new_name):
    """70 pipes: past the 64 handles one WaitForMultipleObjects takes
    (Windows' ipc_poll waits for the rest on threads of its own)."""
    pairs = []
    try:
        for _ in range(70):
            pairs.append(create_pair(new_name()))
        servers = [s for s, _ in pairs]
        for k in (0, 40, 69):
            pairs[k][1].send("to %d" % k)
            assert kiwi_ipc.wait(servers, timeout=10) == [servers[k]]
            assert servers[k].recv(timeout=0) == "to %d" % k
    finally:
        for s, c in pairs:
            s.close()
            c.close()
