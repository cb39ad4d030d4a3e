"""client.py - the Kiwi reference's two-process example, client side, in
Python (client.kiwi): connect, then answer every message with "pong" until
"quit" arrives.

Usage: python3 client.py [PIPE_NAME]     (default "kiwi_demo_pipe")
Normally started by server.lua, which passes its pipe name.
"""

import sys

import kiwi_ipc

name = sys.argv[1] if len(sys.argv) > 1 else "kiwi_demo_pipe"

# Waits until the server has created the pipe.
handle = kiwi_ipc.connect(name)

while True:
    msg = kiwi_ipc.recv(handle)
    if msg == "quit":
        break
    kiwi_ipc.send(handle, "pong")

kiwi_ipc.close(handle)
