"""server.py - the harness's Python server (see harness.py).

Usage: python3 server.py PIPE_NAME CLIENTS LABEL

Serves CLIENTS clients one after another, as a Kiwi server does: one
create() per client. Each message is answered with "LABEL got: MESSAGE"
until the client sends "bye".
"""

import sys

import kiwi_ipc


def main() -> None:
    name, clients, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    for _ in range(clients):
        with kiwi_ipc.Pipe.create(name) as pipe:
            for message in pipe:
                if message == "bye":
                    break
                pipe.send("%s got: %s" % (label, message))


if __name__ == "__main__":
    main()
