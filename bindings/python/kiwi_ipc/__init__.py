"""kiwi_ipc - be either end of a Kiwi ``ipc`` pipe from Python.

The Kiwi-shaped calls port a Kiwi script line by line::

    h = kiwi_ipc.connect("demo")      # int handle
    kiwi_ipc.send(h, "hello")
    reply = kiwi_ipc.recv(h)          # str
    kiwi_ipc.close(h)                 # harmless twice, or on any int

The Pythonic ones are Pipe and Listener::

    with kiwi_ipc.Pipe.connect("demo", timeout=5) as pipe:
        pipe.send("hello")
        for message in pipe:          # until the peer closes
            print(message)

Pipe names map to socket paths exactly as .NET (and so Kiwi) maps them; see
path(). Failures raise IpcError (an OSError) or one of its subclasses, each
also deriving from the matching built-in exception (TimeoutError,
ConnectionError, FileExistsError, ConnectionRefusedError, ValueError,
MemoryError). Ctrl-C interrupts any blocking call with KeyboardInterrupt
within about 100 ms and loses no message.

Text is UTF-8. Sending a str encodes it strictly: a lone surrogate (e.g.
"\\udc80", as os.fsdecode makes from undecodable bytes) raises
UnicodeEncodeError and nothing is sent, so nothing is silently corrupted;
send its bytes instead. Receiving a str decodes invalid UTF-8 as U+FFFD, as
Kiwi does, so no message is ever lost to a decode error.

From a build tree: ``PYTHONPATH=<build>/python python3 -c "import kiwi_ipc"``.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Union

from . import _kiwi_ipc
from ._errors import (
    BadHandleError,
    InvalidArgumentError,
    IpcError,
    IpcMemoryError,
    IpcPermissionError,
    IpcTimeoutError,
    MessageTooBigError,
    NameInUseError,
    NoServerError,
    PipeClosedError,
    ProtocolError,
)
from ._pipe import (Buffer as _Buffer, Listener, Name, Peer, Pipe, _max_bytes,
                    _max_count)
from ._wait import BufferTooShortError, wait

__all__ = [
    "__version__",
    "MAX_MESSAGE",
    "create",
    "connect",
    "send",
    "recv",
    "close",
    "recv_bytes",
    "send_many",
    "recv_many",
    "set_max_message",
    "path",
    "check_path",
    "Pipe",
    "Listener",
    "Peer",
    "wait",
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
    "BufferTooShortError",
]

# Show the public classes where users find them (kiwi_ipc.Pipe, not
# kiwi_ipc._pipe.Pipe), in reprs, tracebacks and pickles.
for _cls in (Pipe, Listener, Peer, IpcError, InvalidArgumentError,
             BadHandleError, IpcTimeoutError, PipeClosedError, ProtocolError,
             NameInUseError, NoServerError, MessageTooBigError,
             IpcMemoryError, IpcPermissionError, BufferTooShortError):
    _cls.__module__ = __name__
del _cls

__version__: str = _kiwi_ipc.ipc_version()
"""The C library's version (ipc_version()), e.g. "0.1.0"."""

MAX_MESSAGE: int = _kiwi_ipc.IPC_MAX_MESSAGE
"""The largest message the protocol carries: 2**31 - 1 bytes."""


def create(name: Name) -> int:
    """Kiwi's ``create``: be the server of pipe ``name`` for one client.

    Blocks until a client connects, then returns the pipe's int handle.
    Raises NameInUseError if a server already listens on the name. See
    Pipe.create() for a version with a timeout.
    """
    return _kiwi_ipc.ipc_create(name)


def connect(name: Name) -> int:
    """Kiwi's ``connect``: connect to the server of pipe ``name``.

    Waits, without limit, until a server is there (so a server may spawn
    its client before calling create()), and returns the int handle. See
    Pipe.connect() for a version with a timeout.
    """
    return _kiwi_ipc.ipc_connect(name)


def send(handle: int, message: Union[str, _Buffer]) -> None:
    """Kiwi's ``send``: send one message, a str (as UTF-8) or any
    bytes-like object. Blocks while the peer's buffer is full. Raises
    BadHandleError for an unknown or closed handle, PipeClosedError if the
    peer has gone."""
    _kiwi_ipc.ipc_send(handle, message)


def recv(handle: int) -> str:
    """Kiwi's ``recv``: wait for the next message and return it as str
    (invalid UTF-8 becomes U+FFFD). Raises PipeClosedError when the peer has
    closed the pipe, BadHandleError for an unknown or closed handle."""
    return _kiwi_ipc.ipc_recv(handle, True)


def recv_bytes(handle: int) -> bytes:
    """Like recv(), but return the message's bytes exactly as sent."""
    return _kiwi_ipc.ipc_recv(handle, False)


def send_many(handle: int, messages: Iterable[Union[str, _Buffer]]) -> int:
    """send() of every message of an iterable, in order, each its own
    frame, written together (see Pipe.send_many()). Blocks until all are
    written; returns their number."""
    return _kiwi_ipc.send_many(handle, messages, _kiwi_ipc.IPC_FOREVER)


def recv_many(handle: int, max_count: Optional[int] = None) -> List[str]:
    """recv() of a burst: waits for the next message, then takes every
    whole message already there without waiting again, up to
    ``max_count`` (see Pipe.recv_many()). Returns a list of str."""
    return _kiwi_ipc.recv_many(handle, True, _max_count(max_count),
                               _kiwi_ipc.IPC_FOREVER)


def close(handle: int) -> None:
    """Kiwi's ``close``: close a pipe or listener handle. Closing twice or
    closing an unknown handle is harmless, as in Kiwi. A call blocked on
    the handle in another thread wakes up with PipeClosedError."""
    try:
        _kiwi_ipc.ipc_close(handle)
    except BadHandleError:
        pass


def set_max_message(handle: int, max_bytes: int) -> None:
    """Refuse incoming messages longer than ``max_bytes`` on a pipe handle
    (see Pipe.set_max_message())."""
    _kiwi_ipc.ipc_set_max_message(handle, _max_bytes(max_bytes))


def path(name: Name) -> str:
    """The socket path pipe ``name`` maps to, exactly as .NET maps it.

    A name starting with "/" is the path itself; any other name becomes
    $TMPDIR (or /tmp/) + "CoreFxPipe_" + name. Raises InvalidArgumentError
    (a ValueError) for a name Kiwi would refuse: empty, "anonymous" in any
    case, a relative name containing "/", an absolute one ending in "/", or
    a path too long for a socket address (never cut short). A NUL in the
    name raises ValueError.
    """
    return _kiwi_ipc.ipc_path(name)


def check_path(name: Name) -> None:
    """Raise IpcPermissionError if another user could redirect the socket
    path of ``name``: a directory on the way that another user owns, or
    that others may write without the sticky bit, or a symbolic link that
    another user (not root) owns. Pipe and Listener make this check
    themselves (same_user=True); the Kiwi-shaped create()/connect() never
    do, so call it to warn before using them. Connects to nothing."""
    _kiwi_ipc.ipc_check_path(name)

