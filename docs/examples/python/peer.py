"""peer.py - who is at the other end, and same-user pipes (the Security
guide)."""
import os

import kiwi_ipc

with kiwi_ipc.Listener("demo", same_user=True) as listener:
    with kiwi_ipc.Pipe.connect("demo", timeout=5, same_user=True) as client:
        with listener.accept(timeout=5) as server:
            peer = server.peer  # Peer(pid, uid, gid), from the kernel
            print("peer is this process:", peer.pid == os.getpid())
            print("peer runs as our user:", peer.uid == os.geteuid())
