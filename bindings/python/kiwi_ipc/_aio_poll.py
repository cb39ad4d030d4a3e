"""How kiwi_ipc.aio waits where the event loop cannot watch a pipe: on
Windows a named pipe has no descriptor, and the Proactor loop has no
add_reader(). One thread per event loop waits with ipc_poll() (no limit on
the number of pipes) for every pipe and listener a task is waiting on, and
hands each ready one back with loop.call_soon_threadsafe().

The set changes while that thread waits, so its poll also watches one
pipe of its own: a kiwi-ipc pipe pair in this process, on which a change
is announced with an empty message. The thread ends once its loop is
closed (it looks at least every second while nothing is waited for), and
closes its pair.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import weakref
from typing import Dict, List, Optional, Tuple

from . import _kiwi_ipc as _c
from ._errors import IpcError, IpcTimeoutError

# How long the thread's poll lasts while no task waits (ms): how soon it
# notices that its loop was closed.
_IDLE_MS = 1000

_names = itertools.count()


class _PollThread:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._waiting: Dict[int, Tuple[int, int, "asyncio.Future[None]"]] = {}
        self._keys = itertools.count()
        self._woken = False
        name = "kiwi-ipc-aio-%d-%d" % (os.getpid(), next(_names))
        listener = _c.ipc_listen(name)
        try:
            self._tx = _c.ipc_connect_timeout(name, 5000)
            self._rx = _c.ipc_accept(listener, 5000)
        finally:
            _c.ipc_close(listener)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="kiwi_ipc.aio.poll")
        self._thread.start()

    async def wait(self, handle: int, events: int) -> None:
        """Until ipc_poll says `handle` has one of `events` (or something
        to report: an end, an error, a closed handle)."""
        fut = self._loop.create_future()
        key = next(self._keys)
        with self._lock:
            self._waiting[key] = (handle, events, fut)
        self._wake()
        try:
            await fut
        finally:
            with self._lock:
                self._waiting.pop(key, None)
            # No wake: a handle nobody waits for is dropped at the next
            # round, and one closed meanwhile only makes that round early.

    def _wake(self) -> None:
        with self._lock:
            if self._woken:
                return
            self._woken = True
        try:
            _c.ipc_send_timeout(self._tx, b"", 0)
        except IpcError:
            pass  # the thread is gone with its loop

    def _run(self) -> None:
        try:
            while not self._loop.is_closed():
                with self._lock:
                    self._woken = False
                    waiting = list(self._waiting.values())
                items = [(self._rx, _c.IPC_POLLIN)]
                items += [(h, ev) for h, ev, _ in waiting]
                revents = _c.poll(items, -1 if waiting else _IDLE_MS)
                if revents[0]:
                    self._drain()
                ready = [f for (_, _, f), r in zip(waiting, revents[1:]) if r]
                if ready:
                    try:
                        self._loop.call_soon_threadsafe(_wake_all, ready)
                    except RuntimeError:
                        return  # the loop is closed
        finally:
            _c.ipc_close(self._tx)
            _c.ipc_close(self._rx)

    def _drain(self) -> None:
        while _c.ipc_pending(self._rx) > 0:
            try:
                _c.ipc_recv_timeout(self._rx, False, 0)
            except IpcTimeoutError:
                return


def _wake_all(futures: List["asyncio.Future[None]"]) -> None:
    for f in futures:
        if not f.done():
            f.set_result(None)


_threads: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PollThread]"
_threads = weakref.WeakKeyDictionary()
_threads_lock = threading.Lock()


async def ready(handle: Optional[int], events: int) -> None:
    """Wait on the running loop until `handle` is ready for `events`."""
    if handle is None:
        raise ValueError("the pipe is closed")
    loop = asyncio.get_running_loop()
    with _threads_lock:
        t = _threads.get(loop)
        if t is None:
            t = _threads[loop] = _PollThread(loop)
    await t.wait(handle, events)
