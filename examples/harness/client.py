"""client.py - the harness's Python client (see harness.py).

Usage: python3 client.py PIPE_NAME LABEL

Sends three messages (a greeting, a line of emoji and a 64 KiB message),
prints each reply (a long one as its size in bytes), then says "bye".
"""

import sys

import kiwi_ipc


def show(reply: str) -> str:
    data = reply.encode()
    return reply if len(data) < 200 else "<%d bytes>" % len(data)


def main() -> None:
    name, label = sys.argv[1], sys.argv[2]
    with kiwi_ipc.Pipe.connect(name, timeout=60) as pipe:
        for message in ("hello from " + label,
                        "🥝 kiwi, 🐍 python, 🌙 lua — from " + label,
                        label + ":" + "z" * 65536):
            pipe.send(message)
            print(show(pipe.recv()))
        pipe.send("bye")


if __name__ == "__main__":
    main()
