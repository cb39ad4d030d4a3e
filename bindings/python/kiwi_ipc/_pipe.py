"""Pipe and Listener: the Pythonic face of kiwi-ipc handles."""

from __future__ import annotations

import math
import operator
import os
import sys
import warnings
from types import TracebackType
from typing import (Callable, Iterable, Iterator, List, NamedTuple, Optional,
                    Type, TypeVar, Union)

from . import _kiwi_ipc as _c
from ._errors import BadHandleError, IpcError, PipeClosedError

Name = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# Any bytes-like object, as the stub (__init__.pyi) spells it.
if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    Buffer = Union[bytes, bytearray, memoryview]
Timeout = Optional[float]
_T = TypeVar("_T")

def _timeout_ms(timeout: Timeout) -> int:
    """Seconds (float, None = forever) to the C library's milliseconds.

    The rule is the C one both bindings share (bindings/common,
    kiwi_bind_timeout_ms): rounds up, so that a short positive timeout
    never becomes 0 ("do not wait"); infinity waits forever, as None; a
    finite timeout longer than C can wait (2**31 - 1 ms, about 24.8 days)
    is cut to that. Raises ValueError for a negative or NaN timeout and
    TypeError for a non-number.
    """
    if timeout is None:
        return _c.IPC_FOREVER
    if type(timeout) is not float and type(timeout) is not int:
        if isinstance(timeout, (str, bytes)):  # float() would parse them
            raise TypeError("timeout must be a number of seconds or None, not "
                            + type(timeout).__name__)
        try:
            timeout = float(timeout)  # also decimal.Decimal, numpy floats, ...
        except (TypeError, ValueError):
            raise TypeError("timeout must be a number of seconds or None, not "
                            + type(timeout).__name__) from None
    return _c.timeout_ms(timeout)


def _max_bytes(max_bytes: int) -> int:
    """Check a set_max_message() limit: 0 <= max_bytes <= MAX_MESSAGE."""
    max_bytes = operator.index(max_bytes)
    if not 0 <= max_bytes <= _c.IPC_MAX_MESSAGE:
        raise ValueError(
            "max_bytes must be between 0 and %d" % _c.IPC_MAX_MESSAGE)
    return max_bytes


def _max_count(max_count: Optional[int]) -> int:
    """A recv_many() limit for C: None -> 0 (no limit), else >= 1 (more
    than C's int counts is no limit in practice)."""
    if max_count is None:
        return 0
    limit = operator.index(max_count)
    if limit < 1:
        raise ValueError("max_count must be at least 1, or None")
    return min(limit, 2**31 - 1)


def _closed() -> ValueError:
    return ValueError("I/O operation on closed pipe")


class _Owner:
    """What Pipe and Listener share: one C handle of their own, released
    once by close(), and released with a ResourceWarning (as a socket is)
    if the object is collected while still open."""

    _handle: Optional[int] = None

    @property
    def closed(self) -> bool:
        """True once close() has been called."""
        return self._handle is None

    def _release(self) -> None:
        h = self._handle
        if h is None:
            return
        self._handle = None
        try:
            _c.ipc_close(h)
        except BadHandleError:
            pass

    def close(self) -> None:
        """Release the handle. Idempotent."""
        self._release()

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            try:
                warnings.warn("unclosed " + repr(self), ResourceWarning,
                              source=self)
            finally:
                self._release()


class Pipe(_c.PipeCore, _Owner):
    """One end of a Kiwi pipe: a connected, message-oriented channel.

    Get one with Pipe.create(name) (be the server for one client),
    Pipe.connect(name) (be the client), Listener.accept(), or Pipe(handle)
    to adopt an int handle from the Kiwi-shaped create()/connect().

    Messages are whole: send() writes one frame and recv() returns one
    frame, however the bytes travel. Text is UTF-8: send(str) encodes
    strictly (a lone surrogate raises UnicodeEncodeError and nothing is
    sent); recv() decodes invalid UTF-8 as U+FFFD, so no message is ever
    lost to a decode error. send_bytes()/recv_bytes() are binary-safe.

    Timeouts are float seconds; None (the default) waits forever and 0 does
    not wait. Blocking calls release the GIL and Ctrl-C interrupts them with
    KeyboardInterrupt without losing any message.

    A Pipe may be used from several threads at once: one thread may recv
    while another sends, concurrent sends never interleave, and close()
    from another thread wakes a blocked call with PipeClosedError. Using a
    Pipe after close() raises ValueError, as a closed file does. A Pipe is a
    context manager and an iterator of received str messages.
    """

    _handle: Optional[int]

    def __init__(self, handle: int) -> None:
        """Adopt an existing pipe handle (from create(), connect() or
        Listener.accept()); the Pipe now owns it and closes it."""
        if isinstance(handle, bool):
            raise TypeError("handle must be an int, not bool")
        handle = operator.index(handle)
        self._handle = handle
        self._number = handle
        self.name: Optional[str] = None
        """The pipe name it was made with (a connect()/create() name, or
        for an accepted pipe its listener's); None for an unknown handle."""
        self.path: Optional[str] = None
        """The socket path that name mapped to; also the ``filename`` of
        every exception raised by a call on this pipe."""
        try:
            self.name = _c.ipc_name(handle)
            self.path = _c.ipc_handle_path(handle)
        except BadHandleError:
            pass  # an unknown handle: calls on it raise BadHandleError

    # -- construction --------------------------------------------------

    @classmethod
    def create(cls, name: Name, timeout: Timeout = None, *,
               same_user: bool = True) -> "Pipe":
        """Be the server of pipe ``name`` for exactly one client.

        Blocks until a client connects (at most ``timeout`` seconds), then
        stops listening and removes the socket file. Raises NameInUseError
        (a FileExistsError) if a server already listens on the name,
        IpcTimeoutError (a TimeoutError) if no client came in time,
        InvalidArgumentError (a ValueError) for a bad name.

        same_user (the default): a client run by another user is closed at
        once and the wait goes on; a path another user could redirect
        raises IpcPermissionError. same_user=False accepts anyone, as
        Kiwi's create() does. See Pipe.peer.
        """
        return cls(_c.ipc_create_ex(name, _timeout_ms(timeout),
                                    _user_flags(same_user)))

    @classmethod
    def connect(cls, name: Name, timeout: Timeout = None, *,
                same_user: bool = True) -> "Pipe":
        """Connect to the server of pipe ``name``.

        While no server is there yet it keeps retrying, forever by default
        (as Kiwi does), or for at most ``timeout`` seconds, after which it
        raises NoServerError (a ConnectionRefusedError). With timeout=0 it
        tries exactly once.

        same_user (the default): a server run by another user (a squatter
        on a shared /tmp) raises IpcPermissionError, naming the path and
        its uid, before anything is sent, and so does a path another user
        could redirect. same_user=False accepts anyone, as Kiwi's connect()
        does.
        """
        return cls(_c.ipc_connect_ex(name, _timeout_ms(timeout),
                                     _user_flags(same_user)))

    # -- state ------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The C library's int handle (still readable after close(); the
        number is never reused, so it never reaches another pipe)."""
        return self._number

    def _live(self) -> int:
        h = self._handle
        if h is None:
            raise _closed()
        return h

    def fileno(self) -> int:
        """The socket's file descriptor. It stays owned by the Pipe;
        reading or writing it directly would break the framing.

        Its readiness is the kernel's only: a recv reads ahead, so after a
        recv further whole messages can wait inside the Pipe while
        select()/selectors on this descriptor say "nothing". To serve many
        pipes use kiwi_ipc.wait() (or kiwi_ipc.aio); with an event loop of
        your own, drain the Pipe while poll() is true before waiting on
        the descriptor again."""
        return self._call(_c.ipc_fileno)

    def set_max_message(self, max_bytes: int) -> None:
        """Refuse incoming messages longer than ``max_bytes``: recv() then
        raises MessageTooBigError, the message is skipped without being
        held in memory, and the pipe stays usable. The default and upper
        bound is MAX_MESSAGE. recv() allocates a message's whole length as
        soon as its header arrives, so this also bounds what a peer can
        make it allocate."""
        self._call(_c.ipc_set_max_message, _max_bytes(max_bytes))

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        h = self._live()
        try:
            return fn(h, *args)
        except BadHandleError as e:
            self._lost_race()
            e.filename = self.path
            raise
        except IpcError as e:
            e.filename = self.path
            raise

    def _lost_race(self) -> None:
        # A call got IPC_EBADHANDLE: if close() from another thread won the
        # race for the handle, say so as a closed file would.
        if self._handle is None:
            raise _closed() from None

    # -- sending ----------------------------------------------------------

    # The hot paths are PipeCore's, in C (bindings/python/kiwi_ipc_py_pipe.c,
    # which has their docstrings): a round trip of small messages through
    # Python methods cost three times the C library's own instructions.
    send = _c.PipeCore.send
    send_bytes = _c.PipeCore.send_bytes

    def send_many(self, messages: Iterable[Union[str, Buffer]],
                  timeout: Timeout = None) -> int:
        """Send every message of an iterable (each a str, sent as UTF-8, or
        any bytes-like object, used in place), in order, each as its own
        frame, in as few system calls as the kernel takes. Returns how
        many were committed.

        Every message is checked first: one of another type raises
        TypeError, a str with a lone surrogate UnicodeEncodeError, one over
        MAX_MESSAGE MessageTooBigError, and nothing is sent. The rules of
        send() hold per message: when ``timeout`` runs out part-way, the
        count returned is below len(messages): the messages counted were
        committed (the last of them perhaps cut, its rest kept and sent
        before anything else), the others were not sent (send them
        again). IpcTimeoutError only when none was committed. A
        KeyboardInterrupt part-way carries the count as its ``committed``
        attribute.
        """
        # A batch is one call for many messages: the shared wrapper's cost
        # is spread over them.
        return self._call(_c.send_many, messages, _timeout_ms(timeout))

    def flush(self, timeout: Timeout = None) -> None:
        """Wait (at most ``timeout`` seconds) until the rest of a committed
        message whose send ran out of time is written; returns at once when
        nothing is pending. Call it before close() to be sure such a
        message arrives whole. Raises IpcTimeoutError (the rest stays kept)
        or PipeClosedError (the peer has gone)."""
        self._call(_c.ipc_flush, _timeout_ms(timeout))

    # -- receiving ------------------------------------------------------

    recv = _c.PipeCore.recv
    recv_bytes = _c.PipeCore.recv_bytes

    def recv_many(self, max_count: Optional[int] = None,
                  timeout: Timeout = None) -> List[str]:
        """Receive a burst of messages as str: wait, as recv() does, for
        the first; then take every whole message already held by the Pipe
        (read ahead with it), without waiting again and without a system
        call, up to ``max_count`` in all (None: no limit). Returns a list
        of at least one message. Whatever ends the burst (a message still
        arriving, one over the limit, the end of the stream) is left to the
        next call, which waits for it or raises for it. Otherwise as
        recv()."""
        return self._call(_c.recv_many, True, _max_count(max_count),
                          _timeout_ms(timeout))

    def recv_bytes_many(self, max_count: Optional[int] = None,
                        timeout: Timeout = None) -> List[bytes]:
        """recv_many(), the messages as bytes, exactly as sent."""
        return self._call(_c.recv_many, False, _max_count(max_count),
                          _timeout_ms(timeout))

    def __iter__(self) -> Iterator[str]:
        """Iterate over received str messages until the peer closes the
        pipe cleanly (or another thread closes it)."""
        return self

    def __next__(self) -> str:
        try:
            return self.recv()
        except PipeClosedError:
            raise StopIteration from None

    # -- closing ----------------------------------------------------------

    def close(self) -> None:
        """Close the pipe. Idempotent. A call blocked on it in another
        thread wakes up with PipeClosedError."""
        self._release()

    def __enter__(self) -> "Pipe":
        self._live()
        return self

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return "<kiwi_ipc.Pipe handle=%d name=%r path=%r %s>" % (
            self._number, self.name, self.path, state)

    # -- who is on the other end -----------------------------------------

    @property
    def peer(self) -> "Peer":
        """The process at the other end: Peer(pid, uid, gid), as the kernel
        recorded it when the connection was made. A field the OS does not
        give is None (Windows gives the pid only)."""
        return Peer(*self._call(_c.ipc_get_peer))

    # -- many pipes at once (kiwi_ipc._wait) ------------------------------

    def poll(self, timeout: Timeout = 0.0) -> bool:
        """Whether a recv() would return without waiting, as
        multiprocessing's Connection.poll(): a whole message is there
        (inside the Pipe, where fileno() readiness cannot see it, or in
        the kernel), or the end of the stream or an error is there to
        report. Waits at most ``timeout`` seconds (0, the default: only
        looks; None: without limit). Receives nothing."""
        h = self._live()
        try:
            if timeout == 0:
                # ipc_pending: no system call while a message is held.
                return _c.ipc_pending(h) == 1
            return _c.poll([(h, _c.IPC_POLLIN)], _timeout_ms(timeout))[0] != 0
        except BadHandleError:
            self._lost_race()
            raise

    def recv_into(self, buffer: Buffer, timeout: Timeout = None) -> int:
        """Receive one message into ``buffer`` (any writable, contiguous
        bytes-like object: bytearray, memoryview, array, mmap) and return
        its length, as socket.recv_into() and Connection.recv_bytes_into()
        do. A large message goes straight from the socket into it: a
        buffer reused for every message costs no allocation and no page
        faults. A message longer than the buffer raises
        BufferTooShortError (its ``size`` is the length needed) and stays
        in the pipe for the next receive; a buffer that is read-only or
        not contiguous raises TypeError. Otherwise as recv_bytes()."""
        h = self._live()
        try:
            return _c.recv_into(h, buffer, _timeout_ms(timeout))
        except BadHandleError:
            self._lost_race()
            raise


class Listener(_Owner):
    """A server on pipe ``name`` for any number of clients.

    Listener(name) starts listening at once (it does not block); accept()
    waits for the next client and returns its Pipe. Raises NameInUseError
    (a FileExistsError) if another server already listens on the name. A
    stale socket file left by a crashed server is reclaimed; anything at the
    path that is not a socket is never removed. close() stops listening and
    removes the socket file; a thread blocked in accept() then gets
    PipeClosedError. A context manager; close() is idempotent.
    """

    _handle: Optional[int]

    def __init__(self, name: Name, *, same_user: bool = True) -> None:
        """Listen on pipe ``name``; see the class docstring. same_user
        (the default): accept() closes clients of other users at once and
        waits on; same_user=False accepts anyone, as Kiwi does."""
        self._handle = None
        # listen first, so that a bad name is reported as listen()'s.
        self._number = _c.ipc_listen_ex(name, _user_flags(same_user))
        self._handle = self._number
        self.name: str = _c.ipc_name(self._number)
        """The pipe name it listens on, as given."""
        self.path: str = _c.ipc_handle_path(self._number)
        """The socket path the name maps to (see kiwi_ipc.path()); also the
        ``filename`` of every exception accept() raises."""

    @property
    def handle(self) -> int:
        """The C library's int handle of the listener."""
        return self._number

    def accept(self, timeout: Timeout = None) -> Pipe:
        """Wait for the next client, at most ``timeout`` seconds (None:
        forever), and return its Pipe. Raises IpcTimeoutError (a
        TimeoutError) when nobody came in time."""
        h = self._handle
        if h is None:
            raise ValueError("accept() on closed listener")
        try:
            return Pipe(_c.ipc_accept(h, _timeout_ms(timeout)))
        except BadHandleError as e:
            if self._handle is None:
                raise ValueError("accept() on closed listener") from None
            e.filename = self.path
            raise
        except IpcError as e:
            e.filename = self.path
            raise

    def fileno(self) -> int:
        """The listening socket's descriptor: readable when a client is
        queued (kiwi_ipc.wait() also takes a Listener)."""
        h = self._handle
        if h is None:
            raise ValueError("fileno() on closed listener")
        return _c.ipc_fileno(h)

    def close(self) -> None:
        """Stop listening and remove the socket file. Idempotent."""
        self._release()

    def __enter__(self) -> "Listener":
        if self._handle is None:
            raise ValueError("listener is closed")
        return self

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return "<kiwi_ipc.Listener handle=%d name=%r path=%r %s>" % (
            self._number, self.name, self.path, state)


# -- who is on the other end ----------------------------------------------


class Peer(NamedTuple):
    """Pipe.peer: the process at the other end of a pipe."""

    pid: Optional[int]
    uid: Optional[int]
    gid: Optional[int]


def _user_flags(same_user: bool) -> int:
    """The C _ex calls' flags for ``same_user``.

    Why same_user defaults to True on Pipe and Listener (and not on the
    Kiwi-shaped create()/connect(), which accept anyone as Kiwi does): they
    are this package's own API, whose users almost always run both ends as
    one user, so the check costs them nothing; when it does refuse, the
    error is loud and says how to opt out, never a message silently handed
    to a stranger.
    """
    return 0 if same_user else _c.IPC_ANY_USER
