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

ROLE, WORKLOAD, PATH, COUNT and SIZE are as for every contender (see
bench/c/bench.h): the timing side prints "seconds=<float>". A received
message is dropped (del) before the next one is received, so a receiver
never holds two at once.
"""

import socket
import struct
import sys
import time

HDR = struct.Struct(">i")


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
    warm = count // 10
    t0 = 0.0
    for i in range(warm + count):
        if i == warm:
            t0 = time.perf_counter()
        if server:
            send(recv())
        else:
            send(payload)
            check(recv(), size, text)
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


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    impl, role, workload, path, count, size = sys.argv[1:]
    server, count, size = role == "server", int(count), int(size)
    text = impl == "kiwi-str"
    # Made before connecting (the receiver's clock may start right after),
    # and by the client only (the server's peak RSS is its receiving alone).
    payload = None if server else ("x" * size if text else b"x" * size)
    if impl in ("kiwi-bytes", "kiwi-str"):
        conn, send, recv, close = kiwi_open(server, path, text)
    elif impl == "mp":
        conn, send, recv, close = mp_open(server, path)
    elif impl == "socket":
        conn, send, recv, close = socket_open(server, path)
    else:
        sys.exit("bench_py: unknown IMPL " + impl)
    run = pingpong if workload == "pingpong" else stream
    run(server, send, recv, count, size, payload, text)
    close()


if __name__ == "__main__":
    main()
