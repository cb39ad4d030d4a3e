"""Batches: Pipe.send_many(), recv_many() and recv_bytes_many(), their
asyncio and Kiwi-shaped forms. Every message of a batch is its own frame;
a timeout or an interrupt part-way commits what it says and nothing else;
a burst is received without waiting again, and what ends it is left to
the next call."""

from __future__ import annotations

import array
import asyncio
import os
import signal
import socket
import threading
import time
from typing import List

import pytest

import kiwi_ipc
import kiwi_ipc.aio
from wire import frame, read_frame

BIG = 8 << 20  # far more than a socket buffer holds


def _message(i: int, size: int) -> bytes:
    return (i.to_bytes(4, "big") * (size // 4 + 1))[:size]


def _drain(pipe: kiwi_ipc.Pipe, n: int, out: List[bytes]) -> None:
    while len(out) < n:
        out.extend(pipe.recv_bytes_many(timeout=20))


def test_mixed_sizes_between_single_sends(pair):
    server, client = pair
    sizes = [5, 0, 1, 64, 0, 70_000, 3 << 20, 4, 65_536, 3, 5 << 20, 17]
    batch1 = [_message(i, s) for i, s in enumerate(sizes[:7])]
    single = _message(100, 9)
    batch2 = [_message(200 + i, s) for i, s in enumerate(sizes[7:])]
    want = batch1 + [single] + batch2 + [b""]
    got: List[bytes] = []
    reader = threading.Thread(target=_drain, args=(server, len(want), got))
    reader.start()
    assert client.send_many(batch1) == len(batch1)
    client.send_bytes(single)
    assert client.send_many(iter(batch2), timeout=20) == len(batch2)
    client.send_bytes(b"")
    reader.join(30)
    assert not reader.is_alive()
    assert got == want


def test_message_types_and_text(pair):
    server, client = pair
    strided = memoryview(b"abcdef")[::2]
    msgs = ["plain", "naïve ☃", b"bytes", bytearray(b"ba"), strided,
            array.array("B", [0xff, 0xfe]), memoryview(b"view"), ""]
    assert client.send_many(msgs) == len(msgs)
    assert client.send_many(()) == 0
    got: List[bytes] = []
    _drain(server, len(msgs), got)
    assert got == [b"plain", "naïve ☃".encode(), b"bytes", b"ba", b"ace",
                   b"\xff\xfe", b"view", b""]
    client.send_many(["é", b"\xff"])
    texts: List[str] = []
    while len(texts) < 2:
        texts.extend(server.recv_many(timeout=5))
    assert texts == ["é", "\ufffd"]  # invalid UTF-8 decoded as U+FFFD


@pytest.mark.parametrize("bad,error", [
    (12, TypeError), ("\udc80", UnicodeEncodeError)])
def test_a_bad_message_sends_nothing(pair, bad, error):
    server, client = pair
    with pytest.raises(error):
        client.send_many([b"first", bad, b"last"])
    with pytest.raises(TypeError):
        client.send_many(5)  # type: ignore[arg-type]
    client.send_bytes(b"after")
    assert server.recv_bytes_many(timeout=5) == [b"after"]


def test_timeout_mid_batch_commits_and_counts(pair):
    server, client = pair
    msgs = [_message(i, BIG if i == 10 else 100 + i) for i in range(21)]
    start = time.monotonic()
    assert client.send_many(msgs, timeout=0.1) == 11
    assert time.monotonic() - start < 5
    # The cut message's rest goes first: nothing of this batch is sent.
    with pytest.raises(kiwi_ipc.IpcTimeoutError, match="earlier message"):
        client.send_many(msgs[11:], timeout=0.1)
    got: List[bytes] = []
    reader = threading.Thread(target=_drain, args=(server, 21, got))
    reader.start()
    assert client.send_many(msgs[11:], timeout=20) == 10
    reader.join(30)
    assert got == msgs  # each once, in order, none spliced
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        server.recv_bytes_many(timeout=0)


def test_timeout_before_anything_raises(pair):
    server, client = pair
    filler = b"x" * 1000
    sent = 0
    while True:
        try:
            sent += client.send_many([filler], timeout=0)
        except kiwi_ipc.IpcTimeoutError:
            break
    assert sent > 0
    got: List[bytes] = []
    reader = threading.Thread(target=_drain, args=(server, sent, got))
    reader.start()
    client.flush(timeout=20)
    reader.join(30)
    assert got == [filler] * sent


class Boom(Exception):
    pass


@pytest.mark.posix_only("SIGUSR1 sent with os.kill: Windows has no SIGUSR1 (the Ctrl-C counterparts: test_interrupt.py's in-process ones, test_python_win.py)")
def test_interrupt_mid_batch_carries_the_count(pair):
    server, client = pair
    msgs = [b"one", b"two", _message(2, BIG), b"four", b"five"]

    def handler(signum, frame_):  # type: ignore[no-untyped-def]
        raise Boom()

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        with pytest.raises(Boom) as info:
            client.send_many(msgs)
        timer.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    # The big message was cut: committed with its rest kept.
    assert info.value.committed == 3  # type: ignore[attr-defined]
    got: List[bytes] = []
    reader = threading.Thread(target=_drain, args=(server, 5, got))
    reader.start()
    assert client.send_many(msgs[3:], timeout=20) == 2
    reader.join(30)
    assert got == msgs


def test_recv_many_leaves_a_half_arrived_message(raw_server):
    conn, pipe = raw_server
    conn.sendall(frame(b"a") + frame(b"") + frame(b"ccc") + frame(b"half")[:6])
    assert pipe.recv_bytes_many(timeout=5) == [b"a", b"", b"ccc"]
    with pytest.raises(kiwi_ipc.IpcTimeoutError, match="middle"):
        pipe.recv_bytes_many(timeout=0.05)
    conn.sendall(frame(b"half")[6:] + frame(b"next"))
    got: List[bytes] = []
    _drain(pipe, 2, got)
    assert got == [b"half", b"next"]


def test_recv_many_max_count_and_the_end(raw_server):
    conn, pipe = raw_server
    conn.sendall(b"".join(frame(b"%d" % i) for i in range(10)))
    conn.close()
    assert pipe.recv_many(3, timeout=5) == ["0", "1", "2"]
    assert pipe.recv_many(1, timeout=5) == ["3"]
    assert pipe.recv_many(timeout=5) == ["4", "5", "6", "7", "8", "9"]
    with pytest.raises(kiwi_ipc.PipeClosedError):
        pipe.recv_many(timeout=5)


def test_recv_many_leaves_a_too_long_message_to_the_next_call(raw_server):
    conn, pipe = raw_server
    pipe.set_max_message(4)
    conn.sendall(frame(b"ok") + frame(b"far too long") + frame(b"fine"))
    assert pipe.recv_bytes_many(timeout=5) == [b"ok"]
    with pytest.raises(kiwi_ipc.MessageTooBigError):
        pipe.recv_bytes_many(timeout=5)
    assert pipe.recv_bytes_many(timeout=5) == [b"fine"]


def test_bad_arguments(pair):
    server, client = pair
    with pytest.raises(ValueError, match="max_count"):
        server.recv_many(0)
    with pytest.raises(TypeError):
        server.recv_many(1.5)  # type: ignore[arg-type]
    client.close()
    with pytest.raises(ValueError, match="closed"):
        client.send_many([b"x"])
    with pytest.raises(ValueError, match="closed"):
        client.recv_bytes_many()


def test_each_message_its_own_frame_on_the_wire(raw_server):
    conn, pipe = raw_server
    msgs = [b"m%d" % i if i % 7 else b"" for i in range(1000)]
    assert pipe.send_many(msgs) == 1000
    conn.settimeout(10)
    assert [read_frame(conn) for _ in msgs] == msgs


def test_kiwi_shaped(name):
    with kiwi_ipc.Listener(name) as listener:
        h = kiwi_ipc.connect(name)
        server = listener.accept(timeout=5)
    try:
        assert kiwi_ipc.send_many(h, ["a", b"b", "c"]) == 3
        got: List[bytes] = []
        _drain(server, 3, got)
        assert got == [b"a", b"b", b"c"]
        server.send_many(["x", "y"])
        texts: List[str] = []
        while len(texts) < 2:
            texts.extend(kiwi_ipc.recv_many(h))
        assert texts == ["x", "y"]
        server.send_many(["z"] * 3)
        assert kiwi_ipc.recv_many(h, 1) == ["z"]
    finally:
        kiwi_ipc.close(h)
        server.close()


def test_aio(name):
    async def main() -> None:
        with kiwi_ipc.aio.Listener(name) as listener:
            accepting = asyncio.ensure_future(listener.accept())
            client = await kiwi_ipc.aio.connect(name, timeout=5)
            server = await accepting
        msgs = [_message(i, BIG if i == 3 else 10 + i) for i in range(8)]

        async def read() -> List[bytes]:
            out: List[bytes] = []
            while len(out) < len(msgs):
                out.extend(await server.recv_bytes_many(100))
            return out

        reading = asyncio.ensure_future(read())
        assert await client.send_many(iter(msgs)) == len(msgs)
        assert await asyncio.wait_for(reading, 30) == msgs
        await client.send_many(["s", "t"])
        texts: List[str] = []
        while len(texts) < 2:
            texts.extend(await server.recv_many())
        assert texts == ["s", "t"]
        client.close()
        server.close()

    asyncio.run(main())
