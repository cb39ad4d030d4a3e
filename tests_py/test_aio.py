"""kiwi_ipc.aio: asyncio pipes.

Many pipes in one loop, bursts, a listener with clients queued, and
cancellation in the middle of a message, which must lose nothing. None of
this exists before kiwi_ipc.aio and wait() (no kiwi_ipc.aio); a selectors/add_reader loop
on fileno() alone stalls on the bursts (see test_wait.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import threading
import time

import pytest

import kiwi_ipc
from kiwi_ipc import aio

from conftest import WINDOWS
from kiwi_pytest import VECTORS
from wire import frame, read_frame


def run(coro, timeout: float = 60):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_fifty_pipes_in_one_loop(name):
    clients_n, rounds, burst = 50, 10, 30

    async def serve(pipe: aio.AsyncPipe) -> int:
        async with pipe:
            count = 0
            async for m in pipe:
                if m == "burst":
                    for i in range(burst):
                        await pipe.send("b%d" % i)
                else:
                    await pipe.send(m.upper())
                count += 1
            return count

    async def client(k: int) -> None:
        # All fifty connect at once, and a Windows listener takes them one
        # accept at a time while the loop serves the others: under wine on
        # a loaded machine the last ones wait tens of seconds (measured),
        # so the connect may wait as long as the test may run.
        async with await aio.connect(name, timeout=50) as p:
            for r in range(rounds):
                await p.send("hello %d %d" % (k, r))
                assert await p.recv() == "HELLO %d %d" % (k, r)
            await p.send("burst")
            for i in range(burst):
                assert await p.recv_bytes() == b"b%d" % i

    async def accept_and_serve(listener: aio.Listener) -> list:
        servers = []
        for _ in range(clients_n):
            servers.append(asyncio.ensure_future(serve(await listener.accept())))
        return await asyncio.gather(*servers)

    async def main() -> None:
        with aio.Listener(name) as listener:
            served = asyncio.ensure_future(accept_and_serve(listener))
            # A client that fails ends the test here, with its error, and
            # not in an accept waiting for it.
            await asyncio.gather(*(client(k) for k in range(clients_n)))
            assert await served == [rounds + 1] * clients_n

    run(main(), timeout=55)


def test_loop_is_never_blocked(pair):
    server, client = pair
    ticks = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> None:
        t = asyncio.ensure_future(ticker())
        p = aio.AsyncPipe(server)
        threading.Timer(0.3, lambda: client.send("late")).start()
        assert await p.recv() == "late"
        t.cancel()

    run(main())
    assert len(ticks) >= 10  # the loop ran while recv waited


def test_cancel_recv_mid_message(raw_server):
    raw, pipe = raw_server

    async def main() -> None:
        p = aio.AsyncPipe(pipe)
        raw.sendall(struct.pack(">i", 8) + b"half")
        task = asyncio.ensure_future(p.recv_bytes())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p.recv_bytes(), 0.05)
        raw.sendall(b"full" + frame(b"after"))
        assert await p.recv_bytes() == b"halffull"
        assert await p.recv_bytes() == b"after"

    run(main())


def test_cancel_send_mid_message_loses_nothing(raw_server):
    raw, pipe = raw_server
    big = os.urandom(1 << 20) * 8

    async def main() -> None:
        p = aio.AsyncPipe(pipe)
        # The peer reads nothing yet: the send cannot finish.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p.send_bytes(big), 0.1)
        got = []
        reader = threading.Thread(
            target=lambda: got.extend([read_frame(raw), read_frame(raw)]))
        reader.start()
        await p.send_bytes(b"after")
        await asyncio.get_running_loop().run_in_executor(None, reader.join, 30)
        # Committed (part was out): whole, before "after". Else not at all.
        if got[0] == big:
            assert got[1] == b"after"
        else:
            assert got[0] == b"after"

    run(main())


@pytest.mark.posix_only("clients queued before accept: a Windows listener keeps one instance ready, so a second connect waits for accept (docs/guides/platforms.md)")
def test_listener_with_clients_queued(name):
    async def main() -> None:
        with aio.Listener(name) as listener:
            clients = [kiwi_ipc.Pipe.connect(name, timeout=5) for _ in range(3)]
            for i, c in enumerate(clients):
                c.send("c%d" % i)
            got = set()
            for _ in range(3):
                p = await asyncio.wait_for(listener.accept(), 5)
                async with p:
                    got.add(await p.recv())
            assert got == {"c0", "c1", "c2"}
            for c in clients:
                c.close()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(listener.accept(), 0.05)

    run(main())


def test_create_and_connect(name):
    async def main() -> None:
        srv = asyncio.ensure_future(aio.create(name, timeout=10))
        await asyncio.sleep(0.05)
        c = await aio.connect(name, timeout=10)
        s = await srv
        async with s, c:
            await c.send("ping")
            assert await s.recv() == "ping"
            await s.send_bytes(b"pong")
            assert await c.recv_bytes() == b"pong"
            buf = bytearray(8)
            await s.send("12345")
            assert await c.recv_into(buf) == 5
        assert c.closed and s.closed

    run(main())


def test_create_timeout_and_cancel(name, new_name):
    async def main() -> None:
        t0 = time.monotonic()
        with pytest.raises(kiwi_ipc.IpcTimeoutError):
            await aio.create(name, timeout=0.2)
        assert time.monotonic() - t0 < 5
        task = asyncio.ensure_future(aio.create(new_name()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(kiwi_ipc.NoServerError):
            await aio.connect(name, timeout=0.1)

    run(main())
    time.sleep(0.3)  # the cancelled create's thread gives its name back


@pytest.mark.windows_only("aio's own waiting thread polls the pipe only on Windows; on POSIX the loop watches the descriptor, and a thread that polls the same pipe can take the bytes it waits for (docs/guides/many-pipes.rst)")
def test_recv_while_another_thread_polls_the_pipe(pair):
    """A poll of the pipe in another thread holds its receive side for a
    moment while it reads ahead: on Windows aio's own waiting thread does
    that (kiwi_ipc/_aio_poll.py), here with three more pollers to make it
    likely. An aio recv that meets it must wait its turn, not raise
    IpcTimeoutError, and every message arrives once, in order."""
    server, client = pair
    n = 3000
    stop = threading.Event()

    def poller() -> None:
        while not stop.is_set():
            server.poll(0.05)

    def sender() -> None:
        for i in range(n):
            client.send("m%d" % i)

    async def main() -> None:
        p = aio.AsyncPipe(server)
        got = []
        for _ in range(n // 2):
            got.append(await p.recv())
        while len(got) < n:
            got.extend(await p.recv_many())
        assert got == ["m%d" % i for i in range(n)]

    threads = [threading.Thread(target=poller) for _ in range(3)]
    threads.append(threading.Thread(target=sender))
    for t in threads:
        t.start()
    try:
        run(main())
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def test_connect_timeout_says_how_long_it_waited(name):
    """aio.connect retries on the loop with attempts of its own that do
    not wait; the NoServerError it gives up with names the pipe, its path
    and the time it waited, not the last attempt's 0 ms."""
    async def main() -> "tuple[kiwi_ipc.NoServerError, float]":
        t0 = time.monotonic()
        with pytest.raises(kiwi_ipc.NoServerError) as info:
            await aio.connect(name, timeout=0.3)
        waited_ms = (time.monotonic() - t0) * 1000
        return info.value, waited_ms

    err, waited_ms = run(main())
    assert err.errname == "no_server"
    assert ('connect("%s"): no server listening at ' % name) in str(err)
    assert kiwi_ipc.path(name) in str(err)
    m = re.search(r"\(gave up after (\d+) ms\)$", str(err))
    assert m, str(err)
    assert 300 <= int(m.group(1)) <= waited_ms + 1, str(err)


def test_async_for_until_close(pair):
    server, client = pair

    async def main() -> None:
        for i in range(5):
            client.send("m%d" % i)
        client.close()
        got = [m async for m in aio.AsyncPipe(server)]
        assert got == ["m%d" % i for i in range(5)]

    run(main())


def test_seventy_clients_on_the_default_loop(name):
    """70 clients and their servers in one loop (more than one Windows
    wait takes), with a recv cancelled by a timeout that takes nothing. On
    Windows the default loop is the proactor (no add_reader: aio's own
    waiting thread)."""
    if WINDOWS:
        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, asyncio.ProactorEventLoop)
        finally:
            loop.close()

    async def serve(p):  # type: ignore[no-untyped-def]
        async with p:
            async for m in p:
                await p.send(m.upper())

    async def client(i: int) -> None:
        # Accepted one at a time on Windows: as in the fifty-pipe test, the
        # last ones may wait as long as the test may run (wine, loaded).
        async with await aio.connect(name, timeout=45) as p:
            for j in range(5):
                await p.send("c%d m%d" % (i, j))
                assert await p.recv() == ("C%d M%d" % (i, j))
            # a recv cancelled by a timeout takes nothing
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.recv(), 0.05)
            await p.send("last")
            assert await p.recv() == "LAST"

    async def main() -> None:
        with aio.Listener(name) as listener:
            n = 70
            servers = []

            async def accept_all() -> None:
                for _ in range(n):
                    servers.append(asyncio.ensure_future(
                        serve(await listener.accept())))

            acc = asyncio.ensure_future(accept_all())
            await asyncio.wait_for(
                asyncio.gather(*(client(i) for i in range(n))), 50)
            await asyncio.wait_for(acc, 10)
            await asyncio.wait_for(asyncio.gather(*servers), 10)

    asyncio.run(main())


def test_create_and_a_big_message(name):
    big = VECTORS[3] * 4

    async def main() -> None:
        srv = asyncio.ensure_future(aio.create(name, timeout=10))
        async with await aio.connect(name, timeout=10) as c:
            async with await srv as s:
                send = asyncio.ensure_future(s.send_bytes(big))
                assert await c.recv_bytes() == big
                await send

    run(main())
