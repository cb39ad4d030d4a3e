import kiwi_ipc

with kiwi_ipc.Listener("demo") as listener:
    with kiwi_ipc.Pipe.connect("demo", timeout=5) as client:
        with listener.accept(timeout=5) as server:
            client.send("hello")
            print(server.recv())
