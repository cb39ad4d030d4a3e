"""Messages of every size, received the way the binding does it (see
bindings/python/python_typemaps.i: small ones through a buffer on the C stack, medium
ones through malloc(), large ones straight into the resulting bytes or str):
exact round trips on both sides of each boundary, large text that is not
ASCII, timeouts and Ctrl-C in the middle of a large message, empty
messages, the receiver's peak memory, and MemoryError."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sys
import threading
import time

import pytest

import kiwi_ipc
from kiwi_ipc import _kiwi_ipc as _c
from test_interrupt import interrupt_and_check, raw_listener
from kiwi_pytest import VECTORS
from wire import frame

KiB = 1 << 10
MiB = 1 << 20
# The binding's boundaries are 4 KiB (stack), 64 KiB (received in place)
# and 4 MiB (huge pages); every size is tried on both sides of each.
SIZES = [0, 1, 4 * KiB - 1, 4 * KiB, 4 * KiB + 1, 64 * KiB - 1, 64 * KiB,
         64 * KiB + 1, 4 * MiB - 1, 4 * MiB, 5 * MiB + 3, 17 * MiB + 1]
# The stable-ABI module cannot write into a str: it receives a large str
# into bytes and decodes it, holding the message twice for a moment.
ABI3 = ".abi3." in os.path.basename(_c.__file__)
LINUX = sys.platform.startswith("linux")
# scripts/run-reliability runs this suite with AddressSanitizer preloaded:
# its shadow memory and quarantined allocator make RSS figures meaningless
# and need far more address space than an RLIMIT_AS test can allow.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def ascii_text(n: int) -> str:
    """n characters of ASCII, every value 0-127, in no simple period."""
    chunk = bytes(range(128)) + b"kiwi-ipc ascii \x00\x7f"
    return (chunk * (n // len(chunk) + 1))[:n].decode("ascii")


def exchange(pair, message, as_text: bool):  # type: ignore[no-untyped-def]
    """Send `message` from the client (in a thread: a large one does not
    fit the socket's buffer) and receive it on the server."""
    server, client = pair
    errors = []

    def run() -> None:
        try:
            client.send(message)
        except BaseException as exc:  # reported below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        got = server.recv(timeout=60) if as_text else server.recv_bytes(timeout=60)
    finally:
        t.join(60)
    assert not errors
    return got


# -- round trips -------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_bytes_round_trip_of_every_size(pair, size):
    data = os.urandom(size)
    got = exchange(pair, data, as_text=False)
    assert type(got) is bytes
    assert len(got) == size and got == data


@pytest.mark.parametrize("size", SIZES)
def test_ascii_str_round_trip_of_every_size(pair, size):
    text = ascii_text(size)
    got = exchange(pair, text, as_text=True)
    assert type(got) is str
    assert len(got) == size and got == text
    assert got.isascii()


@pytest.mark.parametrize("size", [5 * MiB + 3, 100 * KiB, 2 * KiB])
def test_received_messages_are_ordinary_objects(pair, size):
    """A message built in place behaves as any other: hashable, equal to
    a copy, usable as a dict key, and its length is its own."""
    text = exchange(pair, ascii_text(size), as_text=True)
    data = exchange(pair, ascii_text(size).encode(), as_text=False)
    assert hash(text) == hash(ascii_text(size))
    assert {text: 1}[ascii_text(size)] == 1
    assert text.encode() == data and data.decode() == text
    assert sys.getsizeof(data) >= size and sys.getsizeof(text) >= size


def test_empty_messages_between_large_ones(pair):
    big = ascii_text(5 * MiB)
    for message, as_text, expected in [
            (b"", False, b""), (big, True, big), ("", True, ""),
            (big.encode(), False, big.encode()), (b"", True, ""),
            ("", False, b"")]:
        got = exchange(pair, message, as_text)
        assert type(got) is type(expected) and got == expected


def test_threads_receiving_large_messages_from_one_pipe(pair):
    """Two threads receive from one pipe while a third runs Python code
    (so the receivers must wait for the GIL inside the receive): every
    message arrives once and whole."""
    server, client = pair
    messages = [bytes([i]) * (MiB + i) for i in range(24)]
    got = []
    stop = threading.Event()

    def receive() -> None:
        while True:
            try:
                message = server.recv_bytes(timeout=30)
            except kiwi_ipc.PipeClosedError:
                return
            got.append(message)

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    threads = [threading.Thread(target=receive) for _ in range(2)]
    threads.append(threading.Thread(target=spin))
    for t in threads:
        t.start()
    try:
        for m in messages:
            client.send_bytes(m, timeout=30)
        client.close()
        for t in threads[:2]:
            t.join(60)
    finally:
        stop.set()
        threads[2].join(5)
    assert sorted(got) == sorted(messages)


# -- large text that is not ASCII ------------------------------------------


@pytest.mark.parametrize("size", [100 * KiB + 7, 5 * MiB + 7])
@pytest.mark.parametrize("where", ["first", "block-end", "block-start",
                                   "middle", "last-block", "last"])
def test_one_non_ascii_character_anywhere(pair, size, where):
    """A str received in place is checked for bytes >= 0x80 256 bytes at a
    time and then byte by byte: one 2-byte character at the start, around
    a block boundary, in the middle, or in the last bytes is found."""
    at = {"first": 0, "block-end": 255, "block-start": 256,
          "middle": size // 2, "last-block": size - 300,
          "last": size - 2}[where]
    text = "a" * at + "é" + "b" * (size - at - 2)
    assert len(text.encode()) == size
    assert exchange(pair, text, as_text=True) == text


def test_large_multibyte_text(pair):
    text = "ab€😀 ñ 日本語 \U0010ffff" * (5 * MiB // 30)
    assert exchange(pair, text, as_text=True) == text


@pytest.mark.parametrize("bad", [b"\xff", b"\x80", b"\xc3", b"\xe2\x82",
                                 b"\xed\xa0\x80"])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_large_invalid_utf8_becomes_replacement_characters(pair, bad, where):
    size = 5 * MiB + 11
    at = {"start": 0, "middle": size // 2, "end": size - len(bad)}[where]
    raw = b"x" * at + bad + b"y" * (size - at - len(bad))
    got = exchange(pair, raw, as_text=True)
    assert got == raw.decode("utf-8", "replace")
    assert "\ufffd" in got


def test_large_nuls_are_ascii(pair):
    assert exchange(pair, "\x00" * (5 * MiB), as_text=True) == "\x00" * (5 * MiB)


# -- timeouts and Ctrl-C in the middle of a large message ------------------


def test_timed_out_recv_and_committed_send_lose_nothing(pair):
    """A recv that times out waits about its time; a 4 MiB send whose time
    runs out after part of it went is committed (no error) and the rest
    goes before the next message."""
    s, c = pair
    t0 = time.perf_counter()  # Windows' monotonic() ticks in ~16 ms
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        c.recv_bytes(timeout=0.2)
    assert 0.15 < time.perf_counter() - t0 < 2
    big = VECTORS[3] * 4
    done = threading.Event()

    def slow_reader() -> None:
        time.sleep(0.5)
        assert c.recv_bytes(timeout=20) == big
        assert c.recv_bytes(timeout=20) == b"after"
        done.set()

    r = threading.Thread(target=slow_reader)
    r.start()
    t0 = time.monotonic()
    # Part of it goes before the time runs out: committed, not raised.
    s.send_bytes(big, timeout=0.05)
    assert time.monotonic() - t0 < 5
    s.send_bytes(b"after", timeout=20)  # the rest goes first
    r.join(20)
    assert done.is_set()


@pytest.mark.parametrize("as_text", [False, True])
def test_timeout_mid_large_message_loses_nothing(raw_server, as_text):
    conn, pipe = raw_server
    payload = ascii_text(5 * MiB + 7).encode()
    data = frame(payload) + frame(b"next")
    conn.sendall(data[:100_000])  # the header and part of the payload
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        pipe.recv_bytes(timeout=0.1)
    with pytest.raises(TimeoutError):
        pipe.recv(timeout=0.1)
    with pytest.raises(TimeoutError):
        pipe.recv(timeout=0)
    t = threading.Thread(target=conn.sendall, args=(data[100_000:],))
    t.start()
    got = pipe.recv(timeout=30) if as_text else pipe.recv_bytes(timeout=30)
    t.join(30)
    assert got == (payload.decode() if as_text else payload)
    assert pipe.recv_bytes(timeout=5) == b"next"


@pytest.mark.parametrize("as_text", [False, True])
def test_slow_writer_and_short_timeouts(raw_server, as_text):
    """The peer writes a large message slowly; the reader polls with short
    timeouts, each of which ends in the middle of it. Every poll but the
    last times out, and the last returns the whole message."""
    conn, pipe = raw_server
    payload = os.urandom(3 * MiB) if not as_text else (
        "é" + ascii_text(3 * MiB - 2)).encode()
    data = frame(payload)

    def write() -> None:
        for i in range(0, len(data), 128 * KiB):
            conn.sendall(data[i:i + 128 * KiB])
            time.sleep(0.01)

    t = threading.Thread(target=write)
    t.start()
    timeouts = 0
    deadline = time.monotonic() + 30
    while True:
        try:
            got = pipe.recv(timeout=0.005) if as_text else pipe.recv_bytes(
                timeout=0.005)
            break
        except kiwi_ipc.IpcTimeoutError:
            timeouts += 1
            assert time.monotonic() < deadline
    t.join(30)
    assert timeouts > 0
    assert got == (payload.decode() if as_text else payload)


@pytest.mark.parametrize("how", ["bytes", "str", "into"])
def test_message_received_in_many_timed_out_slices(raw_server, how):
    """A large message written a piece at a time, each piece
    followed by a receive that does not wait. Every receive but the last
    times out in the middle of the message (the part that arrived stays
    in the pipe, and the next receive goes on with it); the last returns
    all of it, byte for byte, and the message after it follows."""
    conn, pipe = raw_server
    payload = (ascii_text(4 * MiB + 5).encode() if how == "str"
               else os.urandom(4 * MiB + 5))
    data = frame(payload)
    piece = 64 * KiB
    pieces = [data[i:i + piece] for i in range(0, len(data), piece)]
    buf = bytearray(len(payload))

    def receive(timeout: float):  # type: ignore[no-untyped-def]
        if how == "bytes":
            return pipe.recv_bytes(timeout=timeout)
        if how == "str":
            return pipe.recv(timeout=timeout).encode()
        return bytes(buf[:pipe.recv_into(buf, timeout=timeout)])

    for p in pieces[:-1]:
        conn.sendall(p)  # taken by the socket: the receive drains it
        with pytest.raises(kiwi_ipc.IpcTimeoutError):
            receive(0)
    conn.sendall(pieces[-1] + frame(b"next"))
    got = receive(10)
    assert len(got) == len(payload)
    assert got == payload
    assert pipe.recv_bytes(timeout=5) == b"next"


@pytest.mark.parametrize("scenario,payload", [
    ("interrupt-recv", os.urandom(5 * MiB + 1)),
    ("interrupt-recv-text", ascii_text(5 * MiB + 1).encode()),
    ("interrupt-recv-text", os.urandom(5 * MiB + 1)),
], ids=["bytes", "ascii-str", "binary-str"])
@pytest.mark.posix_only("SIGINT sent to a peer process: Windows has no signals between processes (a console Ctrl-C: test_python_win.py)")
def test_ctrl_c_mid_large_message_loses_nothing(name, spawn, scenario,
                                                payload):
    srv = raw_listener(name)
    peer = spawn(scenario, name)
    conn, _ = srv.accept()
    srv.close()
    data = frame(payload)
    if scenario == "interrupt-recv-text":
        expected = payload.decode("utf-8", "replace").encode("utf-8")
        length = len(payload.decode("utf-8", "replace"))
    else:
        expected, length = payload, len(payload)
    with conn:
        conn.sendall(data[:150_003])
        interrupt_and_check(peer)
        peer.expect("ready")
        conn.sendall(data[150_003:])
        got_length, digest = peer.expect("got", timeout=30)
        assert int(got_length) == length
        assert digest == hashlib.sha256(expected).hexdigest()
    assert peer.finish() == 0


# -- memory ------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/status")
@pytest.mark.skipif(UNDER_ASAN, reason="RSS under AddressSanitizer")
@pytest.mark.parametrize("mode", ["bytes", "str"])
def test_receiver_peak_rss_of_a_64_mib_message(name, spawn, mode):
    """The receiver of a 64 MiB message holds it once, not in a receive
    buffer and again in the result: its peak RSS, interpreter included,
    stays under 1.5x the message (abi3 str: the message twice)."""
    size = 64 * MiB
    limit = 2.5 if (mode == "str" and ABI3) else 1.5
    with kiwi_ipc.Listener(name) as listener:
        peer = spawn("recv-rss", name, mode)
        with listener.accept(timeout=15) as pipe:
            (before,) = peer.expect("ready")
            pipe.send_bytes(b"x" * size, timeout=60)
            n, ok, peak = peer.expect("got", timeout=60)
    assert peer.finish() == 0
    assert int(n) == size and ok == "True"
    peak_bytes = int(peak) * KiB
    assert peak_bytes <= limit * size, (
        "peak RSS %.1f MiB (%.1f MiB before the message) for a %d MiB message"
        % (peak_bytes / MiB, int(before) / KiB, size // MiB))


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/status")
@pytest.mark.skipif(UNDER_ASAN, reason="RLIMIT_AS under AddressSanitizer")
@pytest.mark.parametrize("mode", ["bytes", "str"])
def test_memory_error_keeps_the_message(name, spawn, mode):
    """With too little address space for a 32 MiB message the receive
    raises MemoryError (Python's own, from allocating the result), and
    the message waits: once memory is back, the next receive gets it."""
    srv = raw_listener(name)
    peer = spawn("recv-nomem", name, mode)
    conn, _ = srv.accept()
    srv.close()
    payload = ascii_text(32 * MiB).encode()
    data = frame(payload)
    with conn:
        conn.sendall(data[:1000])
        (outcome,) = peer.expect("outcome", timeout=30)
        assert outcome == "MemoryError"
        peer.expect("ready")
        conn.sendall(data[1000:])
        length, digest = peer.expect("got", timeout=60)
    assert int(length) == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()
    assert peer.finish() == 0


def test_huge_announced_message_then_eof_costs_nothing(raw_server):
    """A header announcing 2 GiB makes the binding allocate the result's
    address space at once; untouched, it costs no memory, and the EOF that
    follows is the usual ProtocolError."""
    conn, pipe = raw_server
    conn.sendall(struct.pack(">i", 0x7FFFFFFF) + b"x" * 5000)
    conn.shutdown(socket.SHUT_WR)
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv_bytes(timeout=10)
