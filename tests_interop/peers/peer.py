"""peer.py - the Python peer of the cross-language interop matrix.

Usage: python3 peer.py ROLE NAME VECTORS [OPTION...]
with the same arguments as every other peer (see peer.c and README.md).
Uses the Kiwi-shaped calls of the kiwi_ipc package (int handles), with
bytes, so that the binary vectors cross unchanged.
"""

import sys

import kiwi_ipc

sent = 0
received = 0


class Vector:
    def __init__(self, name, flags, kind, args):
        self.name = name
        self.large = "large" in flags
        self.binary = "binary" in flags
        self.burst = 0
        if kind == "hex":
            self.data = unhex(args[0])
        elif kind == "repeat":
            self.data = unhex(args[0]) * int(args[1])
        elif kind == "burst":
            self.burst = int(args[0])
            self.data = unhex(args[1])
        else:
            raise SystemExit("peer.py: unknown vector kind %r" % kind)

    def burst_message(self, i):
        return self.data + str(i).encode()


def unhex(text):
    return b"" if text == "-" else bytes.fromhex(text)


def load(path):
    vectors = []
    with open(path, encoding="ascii") as f:
        for line in f.read().splitlines():
            if line and not line.startswith("#"):
                name, flags, kind, *args = line.split(" ")
                vectors.append(Vector(name, flags, kind, args))
    return vectors


def fail(message):
    sys.stderr.write("peer.py %s: %s\n" % (ROLE, message))
    sys.exit(1)


def send(h, data):
    global sent
    kiwi_ipc.send(h, data)
    sent += 1


def expect(h, what, want):
    global received
    got = kiwi_ipc.recv_bytes(h)
    received += 1
    if got != want:
        at = 0
        while at < min(len(got), len(want)) and got[at] == want[at]:
            at += 1
        fail("%s: got %d bytes, want %d; first difference at byte %d"
             % (what, len(got), len(want), at))


def run_vector(h, v, lead):
    if not v.burst:
        if lead:
            send(h, v.data)
            expect(h, v.name, v.data)
        else:
            expect(h, v.name, v.data)
            send(h, v.data)
        return
    for sending in (lead, not lead):
        for i in range(v.burst):
            if sending:
                send(h, v.burst_message(i))
            else:
                expect(h, "%s #%d" % (v.name, i), v.burst_message(i))


def expect_closed(h):
    try:
        data = kiwi_ipc.recv_bytes(h)
    except kiwi_ipc.PipeClosedError:
        return
    fail("expected the peer's close, got a message of %d bytes" % len(data))


def main(argv):
    global ROLE
    if len(argv) < 4 or argv[1] not in ("server", "client"):
        sys.stderr.write("usage: peer.py server|client NAME VECTORS [quick] "
                         "[text] [send-close=N|recv-close=N]\n")
        return 2
    ROLE, name = argv[1], argv[2]
    quick = text = False
    send_close = recv_close = -1
    for opt in argv[4:]:
        if opt == "quick":
            quick = True
        elif opt == "text":
            text = True
        elif opt.startswith("send-close="):
            send_close = int(opt[len("send-close="):])
        elif opt.startswith("recv-close="):
            recv_close = int(opt[len("recv-close="):])
        else:
            sys.stderr.write("peer.py: unknown option %s\n" % opt)
            return 2
    server = ROLE == "server"
    vectors = load(argv[3])

    print("READY", flush=True)
    h = kiwi_ipc.create(name) if server else kiwi_ipc.connect(name)

    if send_close >= 0:
        for i in range(1, send_close + 1):
            send(h, "message %d of %d" % (i, send_close))
        kiwi_ipc.close(h)
        print("OK sent=%d received=%d" % (sent, received))
        return 0
    if recv_close >= 0:
        for i in range(1, recv_close + 1):
            m = "message %d of %d" % (i, recv_close)
            expect(h, m, m.encode())
        expect_closed(h)
        kiwi_ipc.close(h)
        print("OK sent=%d received=%d closed" % (sent, received))
        return 0

    # Phase 1: the server leads through every vector. Phase 2: the client
    # leads, large vectors left out.
    for phase in (1, 2):
        lead = (phase == 1) == server
        for v in vectors:
            if (text and v.binary) or (v.large and (quick or phase == 2)):
                continue
            run_vector(h, v, lead)
    if not server:
        expect_closed(h)
    kiwi_ipc.close(h)
    print("OK sent=%d received=%d" % (sent, received))
    return 0


ROLE = "?"

if __name__ == "__main__":
    sys.exit(main(sys.argv))
