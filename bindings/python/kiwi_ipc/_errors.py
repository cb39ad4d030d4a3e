"""The exceptions of kiwi_ipc, one per C status, rooted in IpcError(OSError).

Each subclass also derives from the built-in exception that a Python
programmer would catch for the same situation, so ``except TimeoutError``
or ``except ConnectionError`` works without knowing kiwi_ipc's names.

The C wrapper (bindings/python/python_typemaps.i) builds every exception through
``_from_status``, after the GIL is back, with the message the C library
recorded for the failed call on the calling thread.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _kiwi_ipc as _c

__all__ = [
    "IpcError",
    "InvalidArgumentError",
    "BadHandleError",
    "IpcTimeoutError",
    "PipeClosedError",
    "ProtocolError",
    "NameInUseError",
    "NoServerError",
    "MessageTooBigError",
    "IpcMemoryError",
    "IpcPermissionError",
]


class IpcError(OSError):
    """A kiwi-ipc call failed.

    Attributes:
        code: the C library's status, a negative ``IPC_E*`` value (for
            example -3 for IPC_ETIMEDOUT).
        errname: the status's short stable name (``"timeout"``), the same
            string the Lua binding returns.
        message: the C library's detailed message for the failure (which
            call, which name, which path, which OS error); also ``str(e)``.
        errno: the operating-system error behind the failure, or None when
            there was none (as for any OSError).
        filename: the socket path of the Pipe or Listener whose call failed
            (as for an OSError about a file), or None.

    Only IPC_ESYSTEM (an operating-system error such as a failed bind) and
    IPC_EINTR without a pending Python exception raise IpcError itself;
    every other status has a subclass.
    """

    code: int
    message: str

    def __init__(self, code: int, message: str, errno: int = 0) -> None:
        if errno:
            super().__init__(errno, message)
        else:
            super().__init__(message)
        self.code = code
        self.message = message

    @property
    def errname(self) -> str:
        """The short stable name of ``code``, e.g. ``"timeout"``."""
        return _c.ipc_errname(self.code)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.code, self.message, self.errno or 0))


class InvalidArgumentError(IpcError, ValueError):
    """IPC_EINVAL: an argument the C library refused, e.g. a pipe name it
    cannot map to a socket path (empty, "anonymous", too long, a relative
    name with a "/"), or a send or recv made from a signal handler while a
    call of the same kind on that pipe is blocked below it (it would wait
    for itself). Also a ValueError."""


class BadHandleError(IpcError, ValueError):
    """IPC_EBADHANDLE: an unknown or already closed int handle, or a
    listener handle where a pipe is needed (and the reverse). Also a
    ValueError. (The Kiwi-shaped close() never raises it.)"""


class IpcTimeoutError(IpcError, TimeoutError):
    """IPC_ETIMEDOUT: the timeout ran out. Nothing is lost: a recv() resumes
    a partly received message, and a send() that raises it sent nothing
    (see Pipe.send()). Also a TimeoutError. Raised by a call on an open
    Pipe or Listener, its ``filename`` is the pipe's socket path, as for
    every IpcError from one."""


class PipeClosedError(IpcError, ConnectionError):
    """IPC_ECLOSED: the peer closed the pipe (recv(): cleanly, at a message
    boundary), or another thread closed this pipe or listener while the
    call waited. Also a ConnectionError. Iterating over a Pipe stops on it
    instead of raising it."""


class ProtocolError(IpcError):
    """IPC_EPROTO: the peer broke the framing - a negative length, or it
    closed in the middle of a message. The pipe is unusable from then on:
    every later send and recv raises ProtocolError again."""


class NameInUseError(IpcError, FileExistsError):
    """IPC_EINUSE: a server is already listening on the name, or something
    that is not a socket sits at its path. Also a FileExistsError."""


class NoServerError(IpcError, ConnectionRefusedError):
    """IPC_ENOSERVER: connect() with a timeout found no server in time.
    Also a ConnectionRefusedError."""


class MessageTooBigError(IpcError):
    """IPC_ETOOBIG: on send, a message longer than the protocol's limit
    (MAX_MESSAGE bytes); on recv, an incoming message longer than
    set_max_message() allows - it has been skipped, and the pipe stays
    usable."""


class IpcMemoryError(IpcError, MemoryError):
    """IPC_ENOMEM: the C library ran out of memory. Also a MemoryError."""


class IpcPermissionError(IpcError, PermissionError):
    """IPC_EPERM: a same-user call (Pipe.connect, Pipe.create, Listener,
    the default same_user=True) refused a peer run by another user - the
    message names the path and its uid - or a path that another user could
    redirect (a directory others may write without the sticky bit, a
    symbolic link another user owns). Also a PermissionError."""


_BY_STATUS: Dict[int, Type[IpcError]] = {
    _c.IPC_EINVAL: InvalidArgumentError,
    _c.IPC_EBADHANDLE: BadHandleError,
    _c.IPC_ETIMEDOUT: IpcTimeoutError,
    _c.IPC_ECLOSED: PipeClosedError,
    _c.IPC_EPROTO: ProtocolError,
    _c.IPC_EINUSE: NameInUseError,
    _c.IPC_ENOSERVER: NoServerError,
    _c.IPC_ETOOBIG: MessageTooBigError,
    _c.IPC_ENOMEM: IpcMemoryError,
    _c.IPC_EPERM: IpcPermissionError,
}


def _from_status(code: int, message: str, errno: Optional[int] = 0) -> IpcError:
    """The exception for C status ``code`` (called by the C wrapper)."""
    cls = _BY_STATUS.get(code, IpcError)
    return cls(code, message, errno or 0)

