"""A raw named-pipe peer on Windows, the counterpart of the raw Unix socket
the tests write byte by byte on POSIX (conftest.raw_server): one server
instance in byte mode made with CreateNamedPipe, as a .NET
NamedPipeServerStream makes it, driven through _winapi (the stdlib's own
binding, which multiprocessing uses) with overlapped I/O, so that every
read and write is bounded.

Only the socket calls the tests use: sendall, recv, recv_into,
settimeout, shutdown (a pipe has no half-close: SHUT_WR ends the pipe,
which is all the tests need of it: the end of the stream) and close.
"""

from __future__ import annotations

import _winapi  # type: ignore[import-not-found]
from typing import Optional

# What one write/read moves at most; and the instance's buffers, as large
# as a Unix socket's (a Linux one takes ~200 KiB before a write blocks):
# the tests write ahead of the reader as they do to the socket.
_BUF = 64 * 1024
_QUOTA = 1024 * 1024
_PIPE_ACCESS_DUPLEX = 0x3
_PIPE_TYPE_BYTE = 0x0
_PIPE_READMODE_BYTE = 0x0
_PIPE_WAIT = 0x0
_ERROR_PIPE_CONNECTED = 535
_ERROR_IO_PENDING = 997
_ERROR_MORE_DATA = 234
_ERROR_BROKEN_PIPE = 109


class RawPipe:
    """One server instance of a named pipe, raw bytes both ways."""

    def __init__(self, path: str, client: bool = False) -> None:
        """The server instance of `path`; with `client`, a raw client of
        the server already there instead (see connect)."""
        self.path = path
        self._timeout: Optional[float] = 30.0
        if client:
            self._h = _winapi.CreateFile(
                path, _winapi.GENERIC_READ | _winapi.GENERIC_WRITE, 0,
                _winapi.NULL, _winapi.OPEN_EXISTING,
                _winapi.FILE_FLAG_OVERLAPPED, _winapi.NULL)
            return
        self._h = _winapi.CreateNamedPipe(
            path,
            _PIPE_ACCESS_DUPLEX | _winapi.FILE_FLAG_OVERLAPPED
            | _winapi.FILE_FLAG_FIRST_PIPE_INSTANCE,
            _PIPE_TYPE_BYTE | _PIPE_READMODE_BYTE | _PIPE_WAIT,
            1, _QUOTA, _QUOTA, _winapi.NMPWAIT_WAIT_FOREVER, _winapi.NULL)

    @classmethod
    def connect(cls, path: str) -> "RawPipe":
        """A raw client of the listening server at `path` (as
        socket.connect on a Unix socket)."""
        return cls(path, client=True)

    def _ms(self) -> int:
        if self._timeout is None:
            return _winapi.INFINITE
        return int(self._timeout * 1000)

    def _finish(self, ov, what: str):  # type: ignore[no-untyped-def]
        """Wait for an overlapped call within the timeout; on timeout
        cancel it and raise TimeoutError."""
        res = _winapi.WaitForMultipleObjects([ov.event], False, self._ms())
        if res != _winapi.WAIT_OBJECT_0:
            ov.cancel()
            ov.GetOverlappedResult(True)
            raise TimeoutError("%s on %s: no progress in %ss"
                               % (what, self.path, self._timeout))
        return ov.GetOverlappedResult(True)

    def accept(self) -> "RawPipe":
        """Wait for the client (which may have connected already)."""
        ov = _winapi.ConnectNamedPipe(self._h, overlapped=True)
        try:
            self._finish(ov, "accept")
        except OSError as e:  # connected before the call: not an error
            if e.winerror != _ERROR_PIPE_CONNECTED:
                raise
        return self

    def settimeout(self, timeout: Optional[float]) -> None:
        self._timeout = timeout

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            ov, _ = _winapi.WriteFile(self._h, view[:_BUF].tobytes(),
                                      overlapped=True)
            n, _ = self._finish(ov, "write")
            view = view[n:]

    def recv(self, n: int) -> bytes:
        """Up to n bytes; b"" at the end of the pipe."""
        try:
            ov, _ = _winapi.ReadFile(self._h, n, overlapped=True)
            self._finish(ov, "read")
        except BrokenPipeError:
            return b""
        return bytes(ov.getbuffer())

    def recv_into(self, buf: bytearray) -> int:
        data = self.recv(len(buf))
        buf[:len(data)] = data
        return len(data)

    def shutdown(self, how: int) -> None:
        """The end of the stream for the client: what it has already
        written stays readable (FlushFileBuffers waits for the client to
        read it all, so the handle is closed instead: a closed server end
        still lets the client read what was written)."""
        self.close()

    def close(self) -> None:
        if self._h is not None:
            _winapi.CloseHandle(self._h)
            self._h = None

    def __enter__(self) -> "RawPipe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
