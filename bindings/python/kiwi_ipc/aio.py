"""kiwi_ipc.aio - Kiwi pipes for asyncio, name for name as the blocking API.

::

    import asyncio
    from kiwi_ipc import aio

    async def main():
        async with await aio.connect("demo", timeout=5) as pipe:
            await pipe.send("hello")
            async for message in pipe:      # until the peer closes
                print(message)

    asyncio.run(main())

A server for many clients::

    async def serve(pipe):
        async with pipe:
            async for request in pipe:
                await pipe.send(request.upper())

    async def main():
        with aio.Listener("demo") as listener:
            while True:
                asyncio.ensure_future(serve(await listener.accept()))

It runs on the default event loop and never blocks it: every call into the
C library is made with timeout 0 ("do not wait"), and the waiting is the
loop's. On POSIX a pipe waits with loop.add_reader()/add_writer() on its
descriptor, after asking the library what it already holds
(Pipe.poll(0): ipc_pending, which also takes in what the kernel has
without waiting), because a recv reads ahead and further whole messages
can wait inside the pipe where the descriptor cannot show them. Any number
of pipes share one loop.

Cancellation (task.cancel(), asyncio.wait_for, timeouts) loses no message:
- a recv that is cancelled has taken nothing; bytes of a message that had
  partly arrived stay in the pipe, and the next recv continues it;
- a send that is cancelled before its message is committed has sent
  nothing (send it again if you like); once committed (part of its frame
  is out) the message arrives whole: the pipe keeps the unsent rest and
  writes it before anything else, on the next send or recv on this pipe
  (and as far as the peer takes it without waiting, at close()).

On Windows a named pipe has no descriptor and the Proactor event loop
has no add_reader(): there one thread per loop waits with ipc_poll() (no
limit on the number of pipes) for every pipe and listener that a task
waits on, and hands each ready one back with loop.call_soon_threadsafe()
(kiwi_ipc/_aio_poll.py). The API is the same; each wait costs that
thread a round trip.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from types import TracebackType
from typing import Callable, Iterable, List, Optional, Type, TypeVar, Union

from . import _aio_poll
from . import _kiwi_ipc as _c
from ._errors import IpcTimeoutError, NoServerError, PipeClosedError
from ._pipe import Buffer, Listener as _Listener, Name, Pipe, _timeout_ms

__all__ = ["connect", "create", "Listener", "AsyncPipe"]

Timeout = Optional[float]
_T = TypeVar("_T")


# Windows: a pipe has no descriptor (see the module's text).
_NO_FD = sys.platform == "win32"


async def _os_ready(obj: Union[Pipe, _Listener], writable: bool) -> None:
    """Wait until the OS may have something for `obj`: bytes, room to
    write, a client (the caller then asks the library again)."""
    if _NO_FD:
        events = _c.IPC_POLLOUT if writable else _c.IPC_POLLIN
        await _aio_poll.ready(obj._handle, events)
    else:
        await _fd_ready(obj.fileno(), writable)


async def _fd_ready(fd: int, writable: bool) -> None:
    """Wait until the loop sees `fd` readable (or writable)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if writable:
        loop.add_writer(fd, ready)
    else:
        loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class AsyncPipe:
    """A Pipe for asyncio: send, send_bytes, recv and recv_bytes are
    coroutines; ``async for`` iterates over received str messages until
    the peer closes; ``async with`` closes it. ``pipe`` is the blocking
    Pipe underneath (its poll(), fileno(), set_max_message() and so on
    still apply). Several tasks may use one AsyncPipe: sends are taken in
    turn, and so are receives."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self._send_lock = asyncio.Lock()
        self._recv_lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self.pipe.closed

    # -- sending ---------------------------------------------------------

    async def _flush(self) -> None:
        # The kept rest of a committed message goes first, and all of it.
        while True:
            try:
                _c.ipc_flush(self.pipe._live(), 0)
                return
            except IpcTimeoutError:
                await _os_ready(self.pipe, True)

    async def send_bytes(self, data: Buffer) -> None:
        """Send one message from a bytes-like object, as Pipe.send_bytes();
        returns once the whole frame is written."""
        if isinstance(data, str):
            raise TypeError("send_bytes() takes a bytes-like object, not str")
        await self._send(data)

    async def send(self, message: Union[str, Buffer]) -> None:
        """Send one message (str as UTF-8, or bytes-like), as Pipe.send();
        returns once the whole frame is written."""
        await self._send(message)

    async def _send(self, message: Union[str, Buffer]) -> None:
        async with self._send_lock:
            await self._flush()
            while True:
                try:
                    # 0 either sends all, or commits the message with its
                    # rest kept, or (IpcTimeoutError) sends nothing.
                    _c.ipc_send_timeout(self.pipe._live(), message, 0)
                    break
                except IpcTimeoutError:
                    await _os_ready(self.pipe, True)
            await self._flush()

    async def send_many(self, messages: Iterable[Union[str, Buffer]]) -> int:
        """Send every message of an iterable, in order, each its own frame,
        as Pipe.send_many(); returns (the number of messages) once every
        frame is written."""
        batch = list(messages)
        done = 0
        async with self._send_lock:
            await self._flush()
            while done < len(batch):
                try:
                    # 0: the messages committed now (the last perhaps with
                    # its rest kept), or IpcTimeoutError: none.
                    done += _c.send_many(self.pipe._live(), batch[done:], 0)
                except IpcTimeoutError:
                    pass
                if done < len(batch):
                    await _os_ready(self.pipe, True)
            await self._flush()
        return done

    # -- receiving -------------------------------------------------------

    async def _ready(self) -> None:
        # Until a recv with timeout 0 cannot wait: what the pipe holds
        # first (the descriptor cannot see it), then the loop's wait.
        while True:
            try:
                _c.ipc_flush(self.pipe._live(), 0)
            except IpcTimeoutError:  # a recv would write the rest first
                await _os_ready(self.pipe, True)
                continue
            except PipeClosedError:
                return  # the recv reports the end
            if self.pipe.poll(0):
                return
            await _os_ready(self.pipe, False)

    async def _recv(self, fn: Callable[..., _T], *args: object) -> _T:
        # fn(*args, 0), once _ready() says it cannot wait. It may time out
        # all the same: another thread's poll of this pipe can hold its
        # receive side for a moment while it reads ahead (on Windows,
        # _aio_poll's thread does). A recv that times out takes nothing,
        # so look again, after the loop's other work.
        async with self._recv_lock:
            while True:
                await self._ready()
                try:
                    return fn(*args, 0)
                except IpcTimeoutError:
                    await asyncio.sleep(0)

    async def recv(self) -> str:
        """Receive one message as str, as Pipe.recv()."""
        return await self._recv(self.pipe.recv)

    async def recv_bytes(self) -> bytes:
        """Receive one message as bytes, as Pipe.recv_bytes()."""
        return await self._recv(self.pipe.recv_bytes)

    async def recv_many(self, max_count: Optional[int] = None) -> List[str]:
        """Receive a burst of str messages, as Pipe.recv_many(): the first
        when it is there, then those already held, up to max_count."""
        return await self._recv(self.pipe.recv_many, max_count)

    async def recv_bytes_many(self,
                              max_count: Optional[int] = None) -> List[bytes]:
        """recv_many(), the messages as bytes, as Pipe.recv_bytes_many()."""
        return await self._recv(self.pipe.recv_bytes_many, max_count)

    async def recv_into(self, buffer: Buffer) -> int:
        """Receive one message into a writable buffer, as
        Pipe.recv_into()."""
        return await self._recv(self.pipe.recv_into, buffer)

    def __aiter__(self) -> "AsyncPipe":
        return self

    async def __anext__(self) -> str:
        try:
            return await self.recv()
        except PipeClosedError:
            raise StopAsyncIteration from None

    # -- closing ---------------------------------------------------------

    def close(self) -> None:
        """Close the pipe (idempotent). A task waiting on it gets
        PipeClosedError or ValueError at its next look."""
        self.pipe.close()

    async def __aenter__(self) -> "AsyncPipe":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<kiwi_ipc.aio.AsyncPipe %r>" % (self.pipe,)


# The end of the C library's connect message.
_GAVE_UP = re.compile(r"\(gave up after \d+ ms\)$")


async def connect(name: Name, timeout: Timeout = None) -> AsyncPipe:
    """Connect to the server of pipe ``name``, as Pipe.connect(): while
    there is no server yet it retries with the same backoff (1 ms doubling
    up to 32 ms), sleeping on the loop; NoServerError when ``timeout``
    seconds passed without one (None: no limit)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = None if timeout is None else start + _timeout_ms(timeout) / 1e3
    delay = 0.001
    while True:
        try:
            return AsyncPipe(Pipe(_c.ipc_connect_timeout(name, 0)))
        except NoServerError as e:
            if end is not None and loop.time() >= end:
                # The attempt's message says it gave up after 0 ms (it
                # does not wait): say how long this call waited.
                waited = "(gave up after %d ms)" % round(
                    (loop.time() - start) * 1e3)
                raise NoServerError(e.code, _GAVE_UP.sub(waited, e.message),
                                    e.errno or 0) from None
        pause = delay if end is None else max(0.0, min(delay,
                                                       end - loop.time()))
        await asyncio.sleep(pause)
        delay = min(delay * 2, 0.032)


# How long each of create()'s waits for a client lasts (seconds).
_CREATE_SLICE = 0.1


async def create(name: Name, timeout: Timeout = None) -> AsyncPipe:
    """Be the server of pipe ``name`` for exactly one client, as
    Pipe.create() (Kiwi's create: the name is given back once the client
    is in, so a second client waits for the next create). IpcTimeoutError
    when no client came within ``timeout`` seconds (None: no limit).

    The C library's create waits for its one client inside the call, so
    this runs it in a thread of its own, in slices of 0.1 s with the name
    given back in between, so that a cancelled create stops within a
    slice. A client connecting in such a gap retries (kiwi-ipc's and
    .NET's connect both do). If the task is cancelled in the instant a
    client got in, that client's pipe is closed: it sees the server go."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[Pipe]" = loop.create_future()
    stop = threading.Event()
    end = None if timeout is None else loop.time() + _timeout_ms(timeout) / 1e3

    def deliver(result: object, error: Optional[BaseException]) -> None:
        if fut.done():
            if isinstance(result, Pipe):
                result.close()
        elif error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        while not stop.is_set():
            left = None if end is None else end - loop.time()
            ms = int(_CREATE_SLICE * 1000)
            if left is not None:
                ms = max(0, min(ms, int(left * 1000)))
            try:
                pipe = Pipe(_c.ipc_create_timeout(name, ms))
            except IpcTimeoutError as e:
                if left is not None and left * 1000 <= ms:
                    loop.call_soon_threadsafe(deliver, None, e)
                    return
                continue
            except BaseException as e:  # noqa: B902 - handed to the task
                loop.call_soon_threadsafe(deliver, None, e)
                return
            try:
                loop.call_soon_threadsafe(deliver, pipe, None)
            except RuntimeError:  # the loop is closed
                pipe.close()
            return

    threading.Thread(target=run, name="kiwi_ipc.aio.create",
                     daemon=True).start()
    try:
        return AsyncPipe(await fut)
    finally:
        stop.set()


class Listener:
    """A server on pipe ``name`` for any number of clients, as
    kiwi_ipc.Listener; ``await accept()`` gives each client's AsyncPipe.
    A context manager (plain ``with`` and ``async with``)."""

    def __init__(self, name: Name) -> None:
        self.listener = _Listener(name)
        self.path = self.listener.path

    async def accept(self) -> AsyncPipe:
        """Wait for the next client, on the loop."""
        while True:
            h = self.listener._handle
            if h is None:
                raise ValueError("accept() on closed listener")
            if _c.ipc_pending(h):
                try:
                    return AsyncPipe(Pipe(_c.ipc_accept(h, 0)))
                except IpcTimeoutError:
                    pass  # another accept took that client
            await _os_ready(self.listener, False)

    def close(self) -> None:
        self.listener.close()

    @property
    def closed(self) -> bool:
        return self.listener.closed

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    async def __aenter__(self) -> "Listener":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.close()
