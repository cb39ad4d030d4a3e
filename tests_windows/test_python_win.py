"""kiwi_ipc (the Python binding, an abi3 .pyd against python3.dll) on
Windows, run by the embeddable CPython under wine (scripts/run-windows).

tests_py/ is POSIX-shaped (AF_UNIX raw peers, /tmp, fork, signals); these
are the Windows counterparts of its core: names, both start orders and the
vectors, timeouts that lose nothing, close() from another thread, the
interrupt hook as KeyboardInterrupt, a second server, fileno, and a real
.NET-style peer process (win_peer.exe, KIWI_WIN_BIN).
"""

from __future__ import annotations

import _thread
import itertools
import os
import subprocess
import threading
import time

import pytest

import kiwi_ipc
from kiwi_ipc import Pipe, Listener

_counter = itertools.count()
VECTORS = [
    b"",
    b"hello, kiwi",
    "h\u00e9llo w\u00f6rld \u2713 \U0001d11e".encode("utf-8"),
    bytes((i * 7 + (i >> 11)) & 0xFF for i in range(1 << 20)),
]


def name(tag: str) -> str:
    return "kiwi-py-%d-%d-%s" % (os.getpid(), next(_counter), tag)


def pair(tag: str):
    """(server Pipe from create, client Pipe from connect)."""
    n = name(tag)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("s", Pipe.create(n, timeout=10)))
    t.start()
    c = Pipe.connect(n, timeout=10)
    t.join(10)
    return box["s"], c


def test_path_rules():
    assert kiwi_ipc.path("demo") == r"\\.\pipe\demo"
    assert kiwi_ipc.path("a/b") == r"\\.\pipe\a\b"
    assert kiwi_ipc.path("p\u00e9") == "\\\\.\\pipe\\p\u00e9"
    for bad in ("", "anonymous", "ANONYMOUS", r"x\..\anonymous", r"..\COM1"):
        with pytest.raises(kiwi_ipc.InvalidArgumentError):
            kiwi_ipc.path(bad)


@pytest.mark.parametrize("server_first", [True, False])
def test_start_orders_and_vectors(server_first):
    n = name("order")
    box = {}

    def serve():
        with Pipe.create(n, timeout=10) as s:
            for _ in VECTORS:
                s.send_bytes(s.recv_bytes(timeout=10), timeout=10)

    def client():
        box["c"] = Pipe.connect(n, timeout=10)

    if server_first:
        t = threading.Thread(target=serve)
        t.start()
        time.sleep(0.2)
        client()
    else:
        c = threading.Thread(target=client)
        c.start()
        time.sleep(0.3)
        t = threading.Thread(target=serve)
        t.start()
        c.join(10)
    with box["c"] as c:
        for v in VECTORS:
            c.send_bytes(v, timeout=10)
            assert c.recv_bytes(timeout=10) == v
        with pytest.raises(kiwi_ipc.PipeClosedError):
            c.recv_bytes(timeout=5)
    t.join(10)
    assert not t.is_alive()


def test_text_round_trip():
    s, c = pair("text")
    with s, c:
        c.send("h\u00e9llo \u2713")
        assert s.recv(timeout=5) == "h\u00e9llo \u2713"


def test_timeout_loses_nothing():
    s, c = pair("timeout")
    with s, c:
        t0 = time.monotonic()
        with pytest.raises(kiwi_ipc.IpcTimeoutError):
            c.recv_bytes(timeout=0.2)
        assert 0.15 < time.monotonic() - t0 < 2
        big = VECTORS[3] * 4
        done = threading.Event()

        def slow_reader():
            time.sleep(0.5)
            assert c.recv_bytes(timeout=20) == big
            assert c.recv_bytes(timeout=20) == b"after"
            done.set()

        r = threading.Thread(target=slow_reader)
        r.start()
        t0 = time.monotonic()
        # Part of it goes before the time runs out: committed, not raised.
        s.send_bytes(big, timeout=0.05)
        assert time.monotonic() - t0 < 5
        s.send_bytes(b"after", timeout=20)  # the rest goes first
        r.join(20)
        assert done.is_set()


def test_close_from_another_thread_wakes_recv():
    s, c = pair("wake")
    box = {}

    def blocked():
        try:
            kiwi_ipc.recv_bytes(c.handle)
        except BaseException as e:  # noqa: B036 - the test inspects it
            box["e"] = e

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.2)
    kiwi_ipc.close(c.handle)
    t.join(5)
    assert not t.is_alive()
    assert isinstance(box["e"], kiwi_ipc.PipeClosedError)
    s.close()


def _raise_sigint():
    import signal

    signal.raise_signal(signal.SIGINT)


# _thread.interrupt_main, as Python's own Ctrl-C does; and SIGINT raised on
# another thread: on Windows the C runtime's console handler runs Python's
# SIGINT handler on a thread of its own, and raise() takes that same path
# (without the console).
@pytest.mark.parametrize("interrupt", [_thread.interrupt_main, _raise_sigint],
                         ids=["interrupt_main", "sigint_on_another_thread"])
def test_keyboard_interrupt_through_the_hook(interrupt):
    s, c = pair("ctrlc")
    with s, c:
        threading.Timer(0.2, interrupt).start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            c.recv_bytes()
        assert time.monotonic() - t0 < 2
        # the pipe still works
        s.send_bytes(b"still here")
        assert c.recv_bytes(timeout=5) == b"still here"


def test_listener_accepts_several():
    n = name("listen")
    results = []

    def client(i):
        with Pipe.connect(n, timeout=10) as p:
            p.send("client %d" % i)
            results.append(p.recv(timeout=10))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    with Listener(n) as l:
        for _ in ts:
            with l.accept(timeout=10) as p:
                p.send("ack " + p.recv(timeout=10))
    for t in ts:
        t.join(10)
    assert sorted(results) == ["ack client %d" % i for i in range(4)]


def test_second_server_is_refused():
    n = name("second")
    with Listener(n):
        with pytest.raises(kiwi_ipc.NameInUseError):
            Pipe.create(n, timeout=0.1)


def test_fileno_has_no_meaning_on_windows():
    s, c = pair("fileno")
    with s, c:
        with pytest.raises(kiwi_ipc.IpcError) as e:
            c.fileno()
        assert e.value.errno == 50  # ERROR_NOT_SUPPORTED


def test_dotnet_standin_peer():
    peer = os.path.join(os.environ["KIWI_WIN_BIN"], "win_peer.exe")
    n = name("dotnet")
    proc = subprocess.Popen([peer, "dotnet-server", kiwi_ipc.path(n), str(len(VECTORS))])
    try:
        with Pipe.connect(n, timeout=10) as p:
            for v in VECTORS:
                p.send_bytes(v, timeout=10)
                assert p.recv_bytes(timeout=10) == v
            with pytest.raises(kiwi_ipc.PipeClosedError):
                p.recv_bytes(timeout=5)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# ---- many pipes at once: wait(), poll(), kiwi_ipc.aio ------------------------


def test_wait_and_poll_over_pipes_and_a_listener():
    pairs = [pair("wait%d" % i) for i in range(3)]
    ln = name("waitl")
    with Listener(ln) as listener:
        servers = [s for s, _ in pairs]
        assert kiwi_ipc.wait(servers + [listener], timeout=0.05) == []
        pairs[1][1].send("one")
        assert kiwi_ipc.wait(servers + [listener], timeout=5) == [servers[1]]
        assert servers[1].recv(timeout=0) == "one"
        # a burst: every message is seen by poll(), though the first recv
        # took them all into the Pipe
        for i in range(20):
            pairs[2][1].send("m%d" % i)
        for i in range(20):
            assert servers[2].poll(5)
            assert servers[2].recv(timeout=0) == "m%d" % i
        assert not servers[2].poll(0)
        c = Pipe.connect(ln, timeout=5)
        assert kiwi_ipc.wait(servers + [listener], timeout=5) == [listener]
        with listener.accept(timeout=0) as p, c:
            c.send("via listener")
            assert p.recv(timeout=5) == "via listener"
    for s, c in pairs:
        s.close()
        c.close()


def test_wait_on_more_pipes_than_one_windows_wait():
    pairs = [pair("many%d" % i) for i in range(70)]
    try:
        servers = [s for s, _ in pairs]
        for k in (0, 40, 69):
            pairs[k][1].send("to %d" % k)
            assert kiwi_ipc.wait(servers, timeout=10) == [servers[k]]
            assert servers[k].recv(timeout=0) == "to %d" % k
    finally:
        for s, c in pairs:
            s.close()
            c.close()


def test_aio_on_the_proactor_loop():
    import asyncio
    from kiwi_ipc import aio

    assert isinstance(asyncio.new_event_loop(), asyncio.ProactorEventLoop)
    ln = name("aio")

    async def serve(p):
        async with p:
            async for m in p:
                await p.send(m.upper())

    async def client(i):
        async with await aio.connect(ln, timeout=10) as p:
            for j in range(5):
                await p.send("c%d m%d" % (i, j))
                assert await p.recv() == ("C%d M%d" % (i, j))
            # a recv cancelled by a timeout takes nothing
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.recv(), 0.05)
            await p.send("last")
            assert await p.recv() == "LAST"

    async def main():
        with aio.Listener(ln) as listener:
            n = 70  # more than one Windows wait takes
            servers = []

            async def accept_all():
                for _ in range(n):
                    servers.append(asyncio.ensure_future(
                        serve(await listener.accept())))

            acc = asyncio.ensure_future(accept_all())
            await asyncio.wait_for(
                asyncio.gather(*(client(i) for i in range(n))), 60)
            await asyncio.wait_for(acc, 10)
            await asyncio.wait_for(asyncio.gather(*servers), 10)

    asyncio.run(main())


def test_aio_create_and_big_message():
    import asyncio
    from kiwi_ipc import aio

    n = name("aiobig")
    big = VECTORS[3] * 4

    async def main():
        srv = asyncio.ensure_future(aio.create(n, timeout=10))
        async with await aio.connect(n, timeout=10) as c:
            async with await srv as s:
                send = asyncio.ensure_future(s.send_bytes(big))
                assert await c.recv_bytes() == big
                await send

    asyncio.run(main())


# ---- a console Ctrl-C, for real ---------------------------------------------
#
# GenerateConsoleCtrlEvent needs a console that the target shares; ctest
# gives us none, so the test makes one (AllocConsole, after FreeConsole
# drops whatever wine attached), then starts the child in a new process
# group (which starts with Ctrl-C ignored: the child takes it back with
# SetConsoleCtrlHandler(NULL, FALSE), as a console program would have it)
# and sends CTRL_C_EVENT to that group: the console's control thread in
# the child runs the C runtime's SIGINT handler, and the binding's hook
# ends the blocked recv.

_CHILD_PY = r"""
import ctypes, sys
sys.path.insert(0, sys.argv[1])
ctypes.windll.kernel32.SetConsoleCtrlHandler(None, False)
import kiwi_ipc
with kiwi_ipc.Pipe.connect(sys.argv[2], timeout=10) as p:
    print("READY", flush=True)
    try:
        p.recv_bytes()
        print("NO INTERRUPT", flush=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        p.send("still here")
"""

_CHILD_LUA = r"""
local ipc = require "kiwi_ipc"
local p = assert(ipc.Pipe.connect(arg[1], 10))
io.write("READY\n") io.flush()
local ok, err = pcall(function() return p:recv() end)
io.write(ok and "NO INTERRUPT\n" or ("error: " .. tostring(err) .. "\n"))
io.flush()
assert(p:send("still here"))
p:close()
"""


def _console():
    import ctypes

    k = ctypes.WinDLL("kernel32", use_last_error=True)
    if not k.GetConsoleWindow():
        k.FreeConsole()
        assert k.AllocConsole(), "AllocConsole failed (%d)" % ctypes.get_last_error()
    return k


def _ctrl_c_child(argv, tag, env=None, group=True):
    """Run `argv + [pipe name]`, send it a console Ctrl-C once it says
    READY, and return its output and how long the interrupt took. With
    `group`, the child has a process group of its own (and must take
    Ctrl-C back itself); without, the event goes to every process of the
    console, and this one ignores it meanwhile (SetConsoleCtrlHandler(NULL,
    TRUE) after the child started, so the child does not inherit that)."""
    import ctypes

    k = _console()
    n = name(tag)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("s", Pipe.create(n, timeout=20)))
    t.start()
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if group else 0
    child = subprocess.Popen(argv + [n], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=env, creationflags=flags)
    try:
        assert child.stdout.readline().strip() == b"READY"
        t.join(20)
        s = box["s"]
        time.sleep(0.3)  # the child is in its recv
        t0 = time.monotonic()
        if not group:
            assert k.SetConsoleCtrlHandler(None, True)
        try:
            assert k.GenerateConsoleCtrlEvent(0, child.pid if group else 0), (
                "GenerateConsoleCtrlEvent failed (%d)" % ctypes.get_last_error())
            time.sleep(0.5)  # delivered on the console's thread
        finally:
            if not group:
                k.SetConsoleCtrlHandler(None, False)
        with s:
            assert s.recv(timeout=10) == "still here"
        took = time.monotonic() - t0
        out = child.stdout.read().decode("utf-8", "replace")
        assert child.wait(10) == 0, out
        return out, took
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)


def test_console_ctrl_c_python_child():
    import sys

    out, took = _ctrl_c_child(
        [sys.executable, "-B", "-c", _CHILD_PY, os.environ["KIWI_IPC_PYTHON_DIR"]],
        "ccpy")
    assert "KeyboardInterrupt" in out
    assert took < 5


@pytest.mark.skipif("KIWI_WIN_LUA" not in os.environ,
                    reason="the Lua binding is not built (no Lua for Windows)")
def test_console_ctrl_c_lua_child():
    mod = os.environ["KIWI_WIN_LUA_MOD"].replace("/", "\\")
    env = dict(os.environ, LUA_PATH="Z:%s\\?.lua" % mod,
               LUA_CPATH="Z:%s\\?.dll" % mod)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "child.lua")
        with open(script, "w") as f:
            f.write(_CHILD_LUA)
        # lua.exe leaves the console's Ctrl-C state as it found it: no
        # group of its own, where Ctrl-C would start ignored.
        out, took = _ctrl_c_child([os.environ["KIWI_WIN_LUA"], script],
                                  "cclua", env, group=False)
    assert "interrupted" in out, out
    assert took < 5
