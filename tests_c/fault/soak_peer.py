"""The Python end of the soak exchange (scripts/soak). Not a test.

    python3 soak_peer.py server NAME SECONDS
    python3 soak_peer.py client NAME SECONDS SEED

Same roles and summary line as the C peer's soak-server and soak-client
(tests_common/kiwi_peer.c): the server echoes each session
with the Kiwi-shaped calls on bytes; the client sends text (str, valid
UTF-8 with multi-byte characters) and bytes, and checks every echo.
"""

from __future__ import annotations

import random
import sys
import time

import kiwi_ipc

sessions = messages = nbytes = errors = 0


def error(role: str, what: str, exc: BaseException) -> None:
    global errors
    errors += 1
    print(f"soak: {role}: {what}: {exc!r}", file=sys.stderr, flush=True)


def server(name: str, secs: float) -> None:
    global sessions, messages, nbytes
    end = time.monotonic() + secs
    idle_until = end + 3.0
    while time.monotonic() < idle_until:
        try:
            pipe = kiwi_ipc.Pipe.create(name, timeout=0.25)
        except kiwi_ipc.IpcTimeoutError:
            continue
        except kiwi_ipc.IpcError as exc:
            error("server", "create", exc)
            return
        with pipe:
            while True:
                try:
                    data = pipe.recv_bytes()
                except kiwi_ipc.PipeClosedError:
                    break
                except kiwi_ipc.IpcError as exc:
                    error("server", "recv", exc)
                    break
                try:
                    pipe.send_bytes(data)
                except kiwi_ipc.IpcError as exc:
                    error("server", "send", exc)
                    break
                messages += 1
                nbytes += len(data)
        sessions += 1
        now = time.monotonic()
        idle_until = end + 3.0 if now < end else now + 1.0


PIECES = ["a", "Z", " ", "\u00e9", "\u20ac", "\U0001F600", "\u65e5"]


def client(name: str, secs: float, seed: int) -> None:
    global sessions, messages, nbytes, errors
    rng = random.Random(seed)
    end = time.monotonic() + secs
    while time.monotonic() < end and errors == 0:
        try:
            h = kiwi_ipc.connect(name)  # the Kiwi-shaped calls, int handle
        except kiwi_ipc.IpcError as exc:
            error("client", "connect", exc)
            return
        try:
            for _ in range(rng.randint(1, 200)):
                r = rng.random()
                n = (0 if r < 0.05 else rng.randrange(256) if r < 0.75
                     else rng.randrange(64 * 1024) if r < 0.97
                     else rng.randrange(4 << 20))
                if rng.random() < 0.5:
                    text = "".join(rng.choice(PIECES) for _ in range(n // 2))
                    kiwi_ipc.send(h, text)
                    back = kiwi_ipc.recv(h)
                    size = len(text.encode())
                    ok = back == text
                else:
                    data = rng.randbytes(n)
                    kiwi_ipc.send(h, data)
                    back = kiwi_ipc.recv_bytes(h)
                    size = n
                    ok = back == data
                if not ok:
                    errors += 1
                    print(f"soak: client: the echo of a {size}-byte message "
                          "differs", file=sys.stderr, flush=True)
                    break
                messages += 1
                nbytes += size
        except kiwi_ipc.IpcError as exc:
            error("client", "exchange", exc)
        finally:
            kiwi_ipc.close(h)
        sessions += 1


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[1] not in ("server", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    role, name, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if role == "server":
        server(name, secs)
    else:
        client(name, secs, int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    print(f"soak: {role} {name} sessions={sessions} messages={messages} "
          f"bytes={nbytes} errors={errors}", flush=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
