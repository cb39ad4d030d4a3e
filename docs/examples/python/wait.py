"""wait.py - one thread serves several clients: kiwi_ipc.wait() sees the
messages held inside each Pipe, which select() on fileno() cannot (the
"Many pipes at once" guide)."""
import kiwi_ipc

with kiwi_ipc.Listener("demo") as listener:
    clients = [kiwi_ipc.Pipe.connect("demo", timeout=5) for _ in range(4)]
    pipes = [listener.accept(timeout=5) for _ in range(4)]
    for i, client in enumerate(clients):  # a burst each, then goodbye
        client.send("client %d: first" % i)
        client.send("client %d: second" % i)
        client.close()

    received = []
    while pipes:
        for p in kiwi_ipc.wait(pipes, timeout=5):  # Pipe and Listener objects
            try:
                received.append(p.recv(timeout=0))  # ready: does not wait
            except kiwi_ipc.PipeClosedError:
                pipes.remove(p)
                p.close()
    print(len(received), "messages, for example:", sorted(received)[0])
