"""Many pipes at once: kiwi_ipc.wait(), and what Pipe.poll() and
Pipe.recv_into() share.

A Pipe reads up to 64 KiB ahead and hands out one message per recv(), so
after a burst further whole messages wait inside the Pipe, where select(),
poll() and selectors on fileno() cannot see them: a loop that waits on the
descriptor stalls with messages in hand. wait() asks the C library
(ipc_poll), which counts what the Pipe holds as well as what the kernel
holds, and is the one loop to use for many pipes::

    while pipes:
        for p in kiwi_ipc.wait(pipes):
            try:
                handle(p.recv())
            except kiwi_ipc.PipeClosedError:
                pipes.remove(p)
                p.close()

For asyncio, see kiwi_ipc.aio.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, TypeVar

from . import _kiwi_ipc as _c
from ._pipe import _timeout_ms

_W = TypeVar("_W")

POLLIN = _c.IPC_POLLIN
POLLOUT = _c.IPC_POLLOUT


class BufferTooShortError(ValueError):
    """Pipe.recv_into(): the next message is longer than the buffer. The
    message is not lost: it stays in the pipe, and ``size`` (its length)
    says how large a buffer the next recv_into() needs (recv_bytes()
    also takes it)."""

    def __init__(self, size: int, capacity: int) -> None:
        super().__init__(
            "the next message has %d bytes; the buffer holds %d (the message "
            "is kept for the next receive)" % (size, capacity))
        self.size = size
        self.capacity = capacity


def _too_short(size: int, capacity: int) -> BufferTooShortError:
    # Called by the C of recv_into (kiwi_ipc_py.c).
    return BufferTooShortError(size, capacity)


def _handle_of(obj: object) -> int:
    h = getattr(obj, "_handle", None)
    if h is None:
        if hasattr(obj, "_handle"):
            raise ValueError("wait() on a closed %s" % type(obj).__name__)
        raise TypeError("wait() takes kiwi_ipc Pipe and Listener objects, "
                        "not " + type(obj).__name__)
    return h


def wait(objects: Iterable[_W],
         timeout: Optional[float] = None) -> List[_W]:
    """Wait until one or more of ``objects`` (Pipe and Listener objects)
    is ready, as multiprocessing.connection.wait() does, and return the
    ready ones in the order given: a Pipe whose recv() returns without
    waiting (a whole message is there, already inside the Pipe or in the
    kernel, or the end of the stream or an error is there to report), a
    Listener whose accept() returns without waiting (a client is queued).

    ``timeout`` is in seconds; None (the default) waits without limit, 0
    only looks. Returns an empty list when the time ran out. Nothing is
    received: the messages stay for recv(). Ctrl-C interrupts the wait
    with KeyboardInterrupt. Any number of objects; each may appear once.
    """
    objs = list(objects)
    items = [(_handle_of(o), POLLIN) for o in objs]
    revents = _c.poll(items, _timeout_ms(timeout))
    return [o for o, r in zip(objs, revents) if r]


