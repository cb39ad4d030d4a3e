"""aio_echo.py - asyncio: a server task per client and the clients, all in
one event loop (the "Many pipes at once" guide)."""
import asyncio

from kiwi_ipc import aio


async def serve(pipe):
    async with pipe:
        async for request in pipe:  # until the peer closes
            await pipe.send(request.upper())


async def client(n):
    async with await aio.connect("demo", timeout=5) as pipe:
        await pipe.send("client %d" % n)
        return await pipe.recv()


async def main():
    with aio.Listener("demo") as listener:
        async def accept_all(count):
            for _ in range(count):
                asyncio.ensure_future(serve(await listener.accept()))
        accepting = asyncio.ensure_future(accept_all(3))
        replies = await asyncio.gather(*(client(n) for n in range(3)))
        await accepting
    print(replies)


asyncio.run(main())
