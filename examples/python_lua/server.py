"""server.py - the Kiwi reference's two-process example, server side, in
Python, with a Lua client (client.lua).

It spawns the client first (the client waits in connect until the pipe
exists), then creates the pipe, which blocks until the client has connected;
then ping, pong, quit, and it waits for the client to exit.

Usage: python3 server.py [PIPE_NAME]     (default "kiwi_demo_pipe")
The Lua interpreter is $KIWI_IPC_LUA, else lua5.4, lua or luajit from PATH;
it must find kiwi_ipc (LUA_PATH / LUA_CPATH, see README.md).

Expected output:
    Client connected (pid=12345)
    Server got: pong
    Done.
"""

import os
import shutil
import subprocess
import sys

import kiwi_ipc

HERE = os.path.dirname(os.path.abspath(__file__))


def lua_interpreter():
    for candidate in (os.environ.get("KIWI_IPC_LUA"), "lua5.4", "lua", "luajit"):
        if candidate and shutil.which(candidate):
            return candidate
    sys.exit("server.py: no Lua interpreter found (set KIWI_IPC_LUA)")


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "kiwi_demo_pipe"

    # Spawn the client process first (it will call ipc.connect).
    client = subprocess.Popen(
        [lua_interpreter(), os.path.join(HERE, "client.lua"), name])
    try:
        # Create the server end: blocks until the client connects.
        handle = kiwi_ipc.create(name)
        print("Client connected (pid=%d)" % client.pid, flush=True)

        # Exchange messages.
        kiwi_ipc.send(handle, "ping")
        reply = kiwi_ipc.recv(handle)
        print("Server got: %s" % reply, flush=True)

        kiwi_ipc.send(handle, "quit")
        kiwi_ipc.close(handle)
        status = client.wait()
    finally:
        if client.poll() is None:  # something failed: do not leave it waiting
            client.kill()
            client.wait()
    if status != 0:
        sys.exit("server.py: the client exited with status %d" % status)
    print("Done.")


if __name__ == "__main__":
    main()
