"""The Python contenders.

    python3 bench_py.py IMPL ROLE WORKLOAD PATH COUNT SIZE

IMPL is one of
    kiwi-bytes   kiwi_ipc.Pipe.send_bytes() / recv_bytes()
    kiwi-str     kiwi_ipc.Pipe.send() / recv() with str (UTF-8 both ways)
    mp           multiprocessing.connection Listener/Client over AF_UNIX,
                 send_bytes() / recv_bytes() (the same 4-byte big-endian
                 framing as Kiwi's)
    socket       a raw socket.socket(AF_UNIX) with struct framing, written
                 the way a careful user would: one sendall() of header and
                 payload for small messages, recv() of exactly 4 then
                 exactly N bytes (recv_into() a bytearray for large ones)
    kiwi-into    kiwi_ipc.Pipe.send_bytes() / recv_into() one bytearray of
                 SIZE bytes, reused for every message
    kiwi-many    (stream only) kiwi_ipc.Pipe.send_many() of batches of
                 BATCH messages / recv_bytes_many(BATCH)

and, for the fan-in workload only (WORKLOAD "fanin": the client role
starts FANIN_CLIENTS sender processes, each streaming COUNT/FANIN_CLIENTS
messages of SIZE bytes; the server accepts them all, sends each "go",
and times until every one has closed; see fanin() below),
    kiwi-wait    kiwi_ipc.wait() over the pipes, draining each ready pipe
                 while pipe.poll() is true
    kiwi-aio     kiwi_ipc.aio: one task per pipe, `async for` in one loop
    mp-wait      multiprocessing.connection.wait() over Connections,
                 draining each while conn.poll() is true
    selectors    raw AF_UNIX sockets, selectors.DefaultSelector, each
                 readable socket read 256 KiB at a time and split into
                 frames (the best a user can do by hand)

ROLE, WORKLOAD, PATH, COUNT and SIZE are as for every contender (see
bench/c/bench.h): the timing side prints "seconds=<float>". A received
message is dropped (del) before the next one is received, so a receiver
never holds two at once.

The "paced" and "sliced" workloads (kiwi-bytes, kiwi-str and
kiwi-into, server side only: raw_c writes the frames in pieces) receive
each message with one blocking call, or with calls of a 1 ms timeout in a
loop until one returns it.
"""

import socket
import struct
import sys
import time

HDR = struct.Struct(">i")
BATCH = 100  # messages per send_many() and at most per recv_bytes_many()


# ---- kiwi-ipc -------------------------------------------------------------

def kiwi_open(server, path, text):
    import kiwi_ipc

    pipe = kiwi_ipc.Pipe.create(path) if server else kiwi_ipc.Pipe.connect(path)
    if text:
        return pipe, pipe.send, pipe.recv, pipe.close
    return pipe, pipe.send_bytes, pipe.recv_bytes, pipe.close


# ---- multiprocessing.connection -------------------------------------------

def retry_connect(make):
    """Call make() until the server is there (30 s at most)."""
    give_up = time.monotonic() + 30
    while True:
        try:
            return make()
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > give_up:
                raise
            time.sleep(0.001)


def mp_open(server, path):
    from multiprocessing.connection import Client, Listener

    if server:
        with Listener(path, "AF_UNIX") as listener:
            conn = listener.accept()
    else:
        conn = retry_connect(lambda: Client(path, "AF_UNIX"))
    return conn, conn.send_bytes, conn.recv_bytes, conn.close


# ---- raw socket -----------------------------------------------------------

def socket_open(server, path):
    if server:
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(1)
        sock, _ = ls.accept()
        ls.close()
        import os
        os.unlink(path)
    else:
        def make():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
            except OSError:
                s.close()
                raise
            return s
        sock = retry_connect(make)

    sendall, recv, recv_into = sock.sendall, sock.recv, sock.recv_into
    pack, unpack = HDR.pack, HDR.unpack

    def send(data):
        if len(data) < 65536:
            sendall(pack(len(data)) + data)
        else:
            sendall(pack(len(data)))
            sendall(data)

    def recv_exact(n):
        if n < 65536:
            data = recv(n)
            if len(data) == n:
                return data
            buf = bytearray(data)
            while len(buf) < n:
                more = recv(n - len(buf))
                if not more:
                    raise EOFError("the peer closed the connection")
                buf += more
            return buf
        buf = bytearray(n)
        view = memoryview(buf)
        pos = 0
        while pos < n:
            got = recv_into(view[pos:])
            if not got:
                raise EOFError("the peer closed the connection")
            pos += got
        return buf

    def recv_msg():
        (n,) = unpack(recv_exact(4))
        return recv_exact(n)

    return sock, send, recv_msg, sock.close


# ---- the workloads ----------------------------------------------------------

def check(msg, size, text):
    x = "x" if text else ord("x")
    if len(msg) != size or (size and (msg[0] != x or msg[-1] != x)):
        sys.exit("bench_py: got a %d-byte message, wanted %d" % (len(msg), size))


def pingpong(server, send, recv, count, size, payload, text):
    """W1 measures the cost of a call, so its loop is a hot loop written as
    a Python programmer writes one (and as bench/c writes C's): the calls
    held in locals, nothing else in the loop, and the echo checked by one
    comparison (all of it, where check() looks at its length and ends).
    Every contender runs this same loop."""

    def run(n):
        if server:
            for _ in range(n):
                send(recv())
            return
        for _ in range(n):
            send(payload)
            msg = recv()
            if msg != payload:
                sys.exit("bench_py: the echo was %d other bytes, not the %d "
                         "bytes of x sent" % (len(msg), size))

    run(count // 10)  # warm-up, untimed
    t0 = time.perf_counter()
    run(count)
    if not server:
        print("seconds=%.9f" % (time.perf_counter() - t0), flush=True)


def stream(server, send, recv, count, size, payload, text):
    if server:
        t0 = time.perf_counter()
        send("g" if text else b"g")
        for _ in range(count):
            msg = recv()
            check(msg, size, text)
            del msg
        print("seconds=%.9f" % (time.perf_counter() - t0), flush=True)
    else:
        recv()  # "go"
        for _ in range(count):
            send(payload)


def stream_many(server, path, count, size):
    """kiwi-many: the stream workload in batches, both ways."""
    import kiwi_ipc

    pipe = kiwi_ipc.Pipe.create(path) if server else kiwi_ipc.Pipe.connect(path)
    if server:
        recv_many = pipe.recv_bytes_many
        t0 = time.perf_counter()
        pipe.send_bytes(b"g")
        got = 0
        while got < count:
            msgs = recv_many(min(BATCH, count - got))
            for msg in msgs:
                check(msg, size, False)
            got += len(msgs)
            del msgs
        print("seconds=%.9f" % (time.perf_counter() - t0), flush=True)
    else:
        pipe.recv_bytes()  # "go"
        send_many = pipe.send_many
        batch = [b"x" * size] * BATCH
        left = count
        while left >= BATCH:
            left -= send_many(batch)
        if left:
            send_many(batch[:left])
    pipe.close()


def paced(server, send, recv, count, size, text, sliced):
    """The server of "paced" (one blocking recv per message) and "sliced"
    (recv(timeout=0.001) until it returns the message); the client is
    raw_c's writer (see bench/c/bench.h)."""
    if not server:
        sys.exit("bench_py: the client of the paced workloads is raw_c")
    import kiwi_ipc

    timed_out = kiwi_ipc.IpcTimeoutError
    slice_s = 0.001
    timeouts = 0
    t0 = time.perf_counter()
    send("g" if text else b"g")
    for _ in range(count):
        if sliced:
            while True:
                try:
                    msg = recv(slice_s)
                    break
                except timed_out:
                    timeouts += 1
        else:
            msg = recv()
        check(msg, size, text)
        del msg
    print("seconds=%.9f" % (time.perf_counter() - t0), flush=True)
    if sliced:
        print("timeouts=%d" % timeouts, flush=True)


# ---- recv_into ---------------------------------------------------

def kiwi_into_open(server, path, size):
    import kiwi_ipc

    pipe = kiwi_ipc.Pipe.create(path) if server else kiwi_ipc.Pipe.connect(path)
    buf = bytearray(max(size, 1))  # made once, before the clock starts
    view = memoryview(buf)
    recv_into = pipe.recv_into

    def recv(timeout=None):
        return view[:recv_into(buf, timeout)]

    return pipe, pipe.send_bytes, recv, pipe.close


# ---- fan-in --------------------------------------------------------

FANIN_CLIENTS = 16


def fanin_client(impl, path, each, size):
    """One sender: connect, wait for "go", stream `each` messages, close."""
    payload = b"x" * size
    if impl == "selectors":
        def make():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
            except OSError:
                s.close()
                raise
            return s
        sock = retry_connect(make)
        if sock.recv(1) != b"g":
            sys.exit("bench_py: no go")
        # One send per message, as every other sender does: the server's
        # side is what the workload compares.
        pack, sendall = HDR.pack, sock.sendall
        for _ in range(each):
            sendall(pack(size) + payload)
        sock.close()
        return
    if impl == "mp-wait":
        from multiprocessing.connection import Client
        conn = retry_connect(lambda: Client(path, "AF_UNIX"))
        conn.recv_bytes()
        send = conn.send_bytes
    else:
        import kiwi_ipc
        conn = kiwi_ipc.Pipe.connect(path, timeout=30)
        conn.recv_bytes()
        send = conn.send_bytes
    for _ in range(each):
        send(payload)
    conn.close()


def fanin_server(impl, path, count, size):
    n = FANIN_CLIENTS
    each = count // n
    total = each * n
    got = 0
    if impl == "selectors":
        import selectors
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        ls.listen(n)
        socks = [ls.accept()[0] for _ in range(n)]
        ls.close()
        import os
        os.unlink(path)
        sel = selectors.DefaultSelector()
        bufs = {}
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
            bufs[s] = bytearray()
        t0 = time.perf_counter()
        for s in socks:
            s.sendall(b"g")
        unpack_from = HDR.unpack_from
        live = n
        while live:
            for key, _ in sel.select():
                s = key.fileobj
                data = s.recv(262144)
                if not data:
                    sel.unregister(s)
                    s.close()
                    live -= 1
                    continue
                buf = bufs[s]
                buf += data
                pos, end = 0, len(buf)
                while end - pos >= 4:
                    (m,) = unpack_from(buf, pos)
                    if end - pos - 4 < m:
                        break
                    msg = bytes(buf[pos + 4:pos + 4 + m])
                    check(msg, size, False)
                    got += 1
                    pos += 4 + m
                del buf[:pos]
    elif impl == "mp-wait":
        from multiprocessing.connection import Listener, wait
        with Listener(path, "AF_UNIX", backlog=n) as listener:
            conns = [listener.accept() for _ in range(n)]
        t0 = time.perf_counter()
        for c in conns:
            c.send_bytes(b"g")
        live = list(conns)
        while live:
            for c in wait(live):
                try:
                    while True:
                        check(c.recv_bytes(), size, False)
                        got += 1
                        if not c.poll():
                            break
                except EOFError:
                    live.remove(c)
                    c.close()
    elif impl == "kiwi-wait":
        import kiwi_ipc
        with kiwi_ipc.Listener(path) as listener:
            pipes = [listener.accept() for _ in range(n)]
        t0 = time.perf_counter()
        for p in pipes:
            p.send_bytes(b"g")
        live = list(pipes)
        closed = kiwi_ipc.PipeClosedError
        while live:
            for p in kiwi_ipc.wait(live):
                recv, poll = p.recv_bytes, p.poll
                try:
                    while True:
                        check(recv(0), size, False)
                        got += 1
                        if not poll():
                            break
                except closed:
                    live.remove(p)
                    p.close()
    elif impl == "kiwi-aio":
        import asyncio
        import kiwi_ipc
        from kiwi_ipc import aio

        async def serve(p):
            k = 0
            try:
                while True:
                    check(await p.recv_bytes(), size, False)
                    k += 1
            except kiwi_ipc.PipeClosedError:
                p.close()
            return k

        async def run():
            with aio.Listener(path) as listener:
                pipes = [await listener.accept() for _ in range(n)]
            start = time.perf_counter()
            for p in pipes:
                await p.send_bytes(b"g")
            counts = await asyncio.gather(*(serve(p) for p in pipes))
            return start, sum(counts)

        t0, got = asyncio.run(run())
    else:
        sys.exit("bench_py: unknown fan-in IMPL " + impl)
    elapsed = time.perf_counter() - t0
    if got != total:
        sys.exit("bench_py: fan-in got %d of %d messages" % (got, total))
    print("seconds=%.9f" % elapsed, flush=True)


def fanin(impl, server, path, count, size):
    if server:
        fanin_server(impl, path, count, size)
        return
    import os
    each = count // FANIN_CLIENTS
    kids = []
    for _ in range(FANIN_CLIENTS):
        pid = os.fork()
        if pid == 0:
            try:
                fanin_client(impl, path, each, size)
                os._exit(0)
            except BaseException as e:  # noqa: B902 - report, then exit
                sys.stderr.write("bench_py: fan-in client: %r\n" % (e,))
                os._exit(1)
        kids.append(pid)
    bad = 0
    for pid in kids:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    if bad:
        sys.exit("bench_py: %d fan-in clients failed" % bad)


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    impl, role, workload, path, count, size = sys.argv[1:]
    server, count, size = role == "server", int(count), int(size)
    if workload == "fanin":
        fanin(impl, server, path, count, size)
        return
    if impl == "kiwi-many":
        if workload != "stream":
            sys.exit("bench_py: kiwi-many runs the stream workload only")
        stream_many(server, path, count, size)
        return
    text = impl == "kiwi-str"
    # Made before connecting (the receiver's clock may start right after),
    # and by the client only (the server's peak RSS is its receiving alone).
    payload = None if server else ("x" * size if text else b"x" * size)
    if impl in ("kiwi-bytes", "kiwi-str"):
        conn, send, recv, close = kiwi_open(server, path, text)
    elif impl == "kiwi-into":
        conn, send, recv, close = kiwi_into_open(server, path, size)
    elif impl == "mp":
        conn, send, recv, close = mp_open(server, path)
    elif impl == "socket":
        conn, send, recv, close = socket_open(server, path)
    else:
        sys.exit("bench_py: unknown IMPL " + impl)
    if workload in ("paced", "sliced"):
        if not impl.startswith("kiwi"):
            sys.exit("bench_py: %s has no paced workloads" % impl)
        paced(server, send, recv, count, size, text, workload == "sliced")
    else:
        run = pingpong if workload == "pingpong" else stream
        run(server, send, recv, count, size, payload, text)
    close()


if __name__ == "__main__":
    main()
