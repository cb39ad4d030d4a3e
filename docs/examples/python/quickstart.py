"""quickstart.py - a server (a thread with a Listener) and a client in
one process: the Getting started example for Python."""
import threading

import kiwi_ipc


def serve(listener):
    with listener.accept(timeout=5) as pipe:
        for request in pipe:  # until the client closes the pipe
            pipe.send("hello, " + request)


with kiwi_ipc.Listener("demo") as listener:
    server = threading.Thread(target=serve, args=(listener,))
    server.start()
    with kiwi_ipc.Pipe.connect("demo", timeout=5) as pipe:
        pipe.send("Python")
        print(pipe.recv())
    server.join()
