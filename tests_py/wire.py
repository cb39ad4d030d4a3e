"""Kiwi frames written and read by hand, for raw-socket peers."""

from __future__ import annotations

import socket
import struct


def frame(payload: bytes) -> bytes:
    """One wire frame: 4-byte big-endian signed length, then the bytes."""
    return struct.pack(">i", len(payload)) + payload


def read_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("peer closed with %d bytes missing" % n)
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> bytes:
    (n,) = struct.unpack(">i", read_exact(sock, 4))
    return read_exact(sock, n)
