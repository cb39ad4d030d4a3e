"""A kiwi_ipc peer run in its own process by the tests (see conftest.Peer).

    python peer_process.py SCENARIO NAME [ARGS...]

It reports on stdout, one line per event, starting with a word the test
waits for: "ready" just before a blocking call, "interrupted T" when
KeyboardInterrupt arrived (T = time.monotonic(), comparable with the
parent's clock), then what happened next.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time

# The embeddable CPython for Windows ignores PYTHONPATH: conftest.Peer
# names the package's directory here too.
if os.environ.get("KIWI_IPC_PYTHON_DIR"):
    sys.path.insert(0, os.environ["KIWI_IPC_PYTHON_DIR"])

import kiwi_ipc  # noqa: E402


def say(*fields: object) -> None:
    print(*fields, flush=True)


def interrupted() -> None:
    say("interrupted", "%.6f" % time.monotonic())


def blocked(call):  # type: ignore[no-untyped-def]
    """Run a blocking call that the parent interrupts with SIGINT."""
    say("ready")
    try:
        call()
    except KeyboardInterrupt:
        interrupted()
    else:
        say("not-interrupted")
        sys.exit(3)


def echo(name: str) -> None:
    """Connect to `name` and send back every message until it closes."""
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        while True:
            try:
                data = pipe.recv_bytes()
            except kiwi_ipc.PipeClosedError:
                break
            pipe.send_bytes(data)
    say("done")


def kiwi_client(name: str) -> None:
    """The Kiwi-shaped calls, as a Kiwi script would use them."""
    h = kiwi_ipc.connect(name)
    kiwi_ipc.send(h, "ping " + kiwi_ipc.recv(h))
    kiwi_ipc.close(h)
    kiwi_ipc.close(h)
    say("done")


def interrupt_recv(name: str) -> None:
    """Ctrl-C in recv while a frame is half there; then the whole frame."""
    pipe = kiwi_ipc.Pipe.connect(name, timeout=10)
    blocked(pipe.recv_bytes)
    say("ready")
    data = pipe.recv_bytes()
    say("got", len(data), hashlib.sha256(data).hexdigest())
    pipe.close()


def interrupt_recv_text(name: str) -> None:
    """interrupt_recv with recv() (str): the frame goes into a str."""
    pipe = kiwi_ipc.Pipe.connect(name, timeout=10)
    blocked(pipe.recv)
    say("ready")
    text = pipe.recv()
    say("got", len(text), hashlib.sha256(text.encode("utf-8")).hexdigest())
    pipe.close()


def recv_rss(name: str, mode: str) -> None:
    """Receive one message (mode "bytes" or "str") made of "x" only and
    report its length and this process's peak RSS in KiB before and after.
    The peak is VmHWM, not ru_maxrss: exec() starts a new VmHWM, whereas
    ru_maxrss keeps the peak of the (large) test process that forked us."""
    import re

    def peak() -> int:
        with open("/proc/self/status") as f:
            match = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        assert match is not None
        return int(match.group(1))

    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        say("ready", peak())
        if mode == "str":
            text = pipe.recv(timeout=60)
            ok = text.count("x") == len(text)
            n = len(text)
        else:
            data = pipe.recv_bytes(timeout=60)
            ok = data.count(b"x") == len(data)
            n = len(data)
        say("got", n, ok, peak())


def recv_nomem(name: str, mode: str) -> None:
    """Receive with the address space limited to what this process uses
    plus 16 MiB: a big message must fail with MemoryError and be kept; with
    the limit lifted, the next receive gets all of it."""
    import re
    import resource

    recv = {"str": "recv", "bytes": "recv_bytes"}[mode]
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        receive = getattr(pipe, recv)
        with open("/proc/self/status") as f:
            match = re.search(r"VmSize:\s+(\d+) kB", f.read())
        assert match is not None
        used = int(match.group(1)) * 1024
        old = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (used + (16 << 20), old[1]))
        try:
            receive(timeout=30)
        except MemoryError as exc:
            outcome = type(exc).__name__
        else:
            outcome = "received"
        finally:
            resource.setrlimit(resource.RLIMIT_AS, old)
        say("outcome", outcome)
        say("ready")
        message = receive(timeout=30)
        if isinstance(message, str):
            message = message.encode("utf-8")
        say("got", len(message), hashlib.sha256(message).hexdigest())


def interrupt_recv_signal_elsewhere(name: str) -> None:
    """Ctrl-C delivered to another thread while the main thread waits in
    recv: the main thread must notice it by polling (the hook runs at least
    every IPC_INTERRUPT_SLICE_MS), not by an interrupted system call."""
    import threading

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()  # SIGINT stays deliverable to this thread only
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    pipe = kiwi_ipc.Pipe.connect(name, timeout=10)
    blocked(pipe.recv_bytes)
    stop.set()
    helper.join()
    say("ready")
    data = pipe.recv_bytes()
    say("got", len(data), hashlib.sha256(data).hexdigest())
    pipe.close()


def interrupt_send(name: str, size: str) -> None:
    """Ctrl-C in a send the peer does not read. Part of the message had
    gone, so it is committed: it must not be sent again; the next send
    finishes it first."""
    message = bytes(range(256)) * (int(size) // 256)
    pipe = kiwi_ipc.Pipe.connect(name, timeout=10)
    blocked(lambda: pipe.send_bytes(message))
    pipe.send(b"after")  # the committed rest goes first, then this
    say("sent", hashlib.sha256(message).hexdigest())
    pipe.close()


def interrupt_create(name: str) -> None:
    """Ctrl-C in create (waiting for a client); then create again."""
    blocked(lambda: kiwi_ipc.Pipe.create(name))
    say("ready")
    with kiwi_ipc.Pipe.create(name, timeout=10) as pipe:
        pipe.send("created")
        say("got", pipe.recv())


def interrupt_kiwi_create(name: str) -> None:
    """Ctrl-C in the Kiwi-shaped create(); then create again."""
    blocked(lambda: kiwi_ipc.create(name))
    say("leftover", os.path.exists(name))  # the socket file, if any
    say("ready")
    h = kiwi_ipc.create(name)
    kiwi_ipc.send(h, "created")
    kiwi_ipc.close(h)


def interrupt_connect(name: str) -> None:
    """Ctrl-C in connect (no server yet); then connect again."""
    blocked(lambda: kiwi_ipc.Pipe.connect(name))
    say("ready")
    with kiwi_ipc.Pipe.connect(name, timeout=10) as pipe:
        pipe.send("connected")
        say("got", pipe.recv())


def interrupt_accept(name: str) -> None:
    """Ctrl-C in Listener.accept; then accept again."""
    with kiwi_ipc.Listener(name) as listener:
        blocked(listener.accept)
        say("ready")
        with listener.accept(timeout=10) as pipe:
            pipe.send("accepted")
            say("got", pipe.recv())


SCENARIOS = {
    "echo": echo,
    "kiwi-client": kiwi_client,
    "interrupt-recv": interrupt_recv,
    "interrupt-recv-text": interrupt_recv_text,
    "interrupt-recv-signal-elsewhere": interrupt_recv_signal_elsewhere,
    "recv-rss": recv_rss,
    "recv-nomem": recv_nomem,
    "interrupt-send": interrupt_send,
    "interrupt-create": interrupt_create,
    "interrupt-kiwi-create": interrupt_kiwi_create,
    "interrupt-connect": interrupt_connect,
    "interrupt-accept": interrupt_accept,
}

if __name__ == "__main__":
    # A shell that starts jobs in the background (as CI may) leaves SIGINT
    # ignored in its children, and Python keeps an inherited SIG_IGN (or a
    # blocked signal mask): make sure Ctrl-C raises KeyboardInterrupt here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "pthread_sigmask"):  # POSIX: Windows has no mask
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
