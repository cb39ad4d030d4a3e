"""Frames written by hand from a raw socket: hostile headers, EOF in the
middle of a frame, any chunking, and timeouts that lose nothing."""

from __future__ import annotations

import struct
import threading
import time

import pytest

import kiwi_ipc
from conftest import raw_connect
from wire import frame, read_frame


def test_negative_length(raw_server):
    conn, pipe = raw_server
    conn.sendall(struct.pack(">i", -1) + b"junk")
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv()


@pytest.mark.parametrize("header", [b"\x80\x00\x00\x00", b"\xff\xff\xff\xff"])
def test_negative_length_extremes(raw_server, header):
    conn, pipe = raw_server
    conn.sendall(header)
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv_bytes()


def test_eof_in_the_header(raw_server):
    conn, pipe = raw_server
    conn.sendall(b"\x00\x00")
    conn.close()
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv()


def test_eof_in_the_payload(raw_server):
    conn, pipe = raw_server
    conn.sendall(frame(b"0123456789")[:9])
    conn.close()
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv()
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv()


def test_huge_header_then_eof_costs_nothing(raw_server):
    conn, pipe = raw_server
    conn.sendall(struct.pack(">i", 0x7FFFFFFF) + b"only this")
    conn.close()
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv()


def test_clean_eof_between_frames(raw_server):
    conn, pipe = raw_server
    conn.sendall(frame(b"one") + frame(b"") + frame(b"three"))
    conn.close()
    assert list(pipe) == ["one", "", "three"]
    with pytest.raises(kiwi_ipc.PipeClosedError):
        pipe.recv()


def test_any_chunking(raw_server):
    conn, pipe = raw_server
    data = frame("☃ snow".encode()) + frame(b"x" * 5000) + frame(b"")
    received = []
    t = threading.Thread(target=lambda: received.extend(
        pipe.recv_bytes(timeout=10) for _ in range(3)))
    t.start()
    for i in range(0, len(data), 7):
        conn.sendall(data[i:i + 7])
        if i < 40:
            time.sleep(0.002)
    t.join(10)
    assert received == ["☃ snow".encode(), b"x" * 5000, b""]


def test_recv_timeout_mid_frame_loses_nothing(raw_server):
    conn, pipe = raw_server
    payload = bytes(range(256)) * 40
    data = frame(payload)
    conn.sendall(data[:2])  # half a header
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        pipe.recv_bytes(timeout=0.05)
    conn.sendall(data[2:1000])  # rest of the header, part of the payload
    with pytest.raises(TimeoutError):
        pipe.recv(timeout=0)
    with pytest.raises(TimeoutError):
        pipe.recv_bytes(timeout=0.05)
    conn.sendall(data[1000:] + frame(b"next"))
    assert pipe.recv_bytes(timeout=5) == payload
    assert pipe.recv_bytes(timeout=5) == b"next"


def test_timeout_is_honoured(raw_server):
    _, pipe = raw_server
    start = time.monotonic()
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        pipe.recv(timeout=0.2)
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 2


def test_oversized_message_skipped_without_holding_it(raw_server):
    conn, pipe = raw_server
    pipe.set_max_message(1000)
    big = b"z" * (8 << 20)
    t = threading.Thread(target=conn.sendall, args=(frame(big) + frame(b"small"),))
    t.start()
    with pytest.raises(kiwi_ipc.MessageTooBigError):
        pipe.recv_bytes(timeout=30)
    assert pipe.recv_bytes(timeout=30) == b"small"
    t.join(30)


def test_raw_client_against_a_listener(name):
    with kiwi_ipc.Listener(name) as listener:
        raw = raw_connect(name)
        with raw, listener.accept(timeout=5) as pipe:
            raw.sendall(frame("from raw ✓".encode()))
            assert pipe.recv(timeout=5) == "from raw ✓"
            pipe.send(b"\x00\x01")
            assert read_frame(raw) == b"\x00\x01"
            raw.sendall(b"\xff\xff\xff\xff")
            with pytest.raises(kiwi_ipc.ProtocolError):
                pipe.recv(timeout=5)
