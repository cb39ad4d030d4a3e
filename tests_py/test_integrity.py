"""Never corrupt, never wedge, as a Python user meets it: sends
that stop mid-frame, a signal handler that sends on the pipe, and errors
that name the pipe. Each failed (or hung) before the fix."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import kiwi_ipc
from conftest import ALARM, alarm_soon
from wire import read_frame

BIG = 8 << 20


def test_timed_out_send_then_another_thread_never_splices(raw_server):
    # The report: 8 MiB of "A" with a 0.05 s timeout to a peer that
    # does not read, then another thread sends 8 MiB of "B". Before, the
    # peer got ONE frame of A's start and B's end.
    conn, pipe = raw_server
    pipe.send_bytes(b"A" * BIG, timeout=0.05)  # committed: part of it went
    other = threading.Thread(target=pipe.send_bytes, args=(b"B" * BIG,))
    other.start()
    conn.settimeout(30)
    first = read_frame(conn)
    second = read_frame(conn)
    other.join(30)
    assert not other.is_alive()
    assert first == b"A" * BIG
    assert second == b"B" * BIG


def test_a_different_message_right_after_a_timed_out_send(pair):
    server, client = pair
    big = os.urandom(BIG)
    client.send_bytes(big, timeout=0.05)  # committed, not an error
    # Before: InvalidArgumentError "send that same message again first".
    sender = threading.Thread(target=client.send, args=("next",))
    sender.start()
    assert server.recv_bytes(timeout=30) == big
    assert server.recv(timeout=30) == "next"
    sender.join(30)
    assert not sender.is_alive()


def test_timeout_before_anything_went_sent_nothing(pair):
    server, client = pair
    client.send_bytes(b"x" * BIG, timeout=0.05)  # fills the socket, commits
    with pytest.raises(kiwi_ipc.IpcTimeoutError) as info:
        client.send("never", timeout=0.05)  # waits behind the rest
    assert "nothing" in str(info.value)
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        client.flush(timeout=0)
    reader = threading.Thread(target=server.recv_bytes, kwargs={"timeout": 30})
    reader.start()
    client.flush(timeout=30)
    reader.join(30)
    client.send("after")
    assert server.recv(timeout=10) == "after"  # "never" was never sent
    client.flush(timeout=0)  # nothing pending: returns at once


def _in_signal_handler(action):
    """Run `action` from a signal handler (conftest.alarm_soon's ALARM) 0.2 s
    from now; returns a list that gets its result or exception, and what
    restores the handler before."""
    out = []

    def handler(signum, frame):
        try:
            out.append(action())
        except BaseException as e:  # noqa: BLE001 - reported to the test
            out.append(e)

    old = signal.signal(ALARM, handler)
    cancel = alarm_soon(0.2)

    def restore() -> None:
        cancel()
        signal.signal(ALARM, old)

    return out, restore


def test_signal_handler_sends_during_a_blocked_send(raw_server):
    # Before: the handler's send spun forever on the lock the blocked send
    # held (the whole process hung). Now it is refused at once.
    conn, pipe = raw_server
    out, restore = _in_signal_handler(lambda: pipe.send("from the handler"))
    try:
        t0 = time.monotonic()
        pipe.send_bytes(b"z" * BIG, timeout=1.0)
        assert time.monotonic() - t0 < 10
    finally:
        restore()
    assert len(out) == 1
    assert isinstance(out[0], kiwi_ipc.InvalidArgumentError)
    assert "interrupt hook" in str(out[0])
    conn.settimeout(30)
    reader = threading.Thread(target=lambda: read_frame(conn))
    reader.start()
    pipe.flush(timeout=30)
    reader.join(30)


def test_signal_handler_sends_during_a_blocked_recv(pair):
    server, client = pair
    out, restore = _in_signal_handler(lambda: client.send("from the handler"))
    try:
        replier = threading.Thread(
            target=lambda: server.send(server.recv(timeout=10) + " back"))
        replier.start()
        assert client.recv(timeout=10) == "from the handler back"
        replier.join(10)
    finally:
        restore()
    assert out == [None]


def test_pipes_and_listeners_know_their_name(name):
    path = kiwi_ipc.path(name)
    with kiwi_ipc.Listener(name) as listener:
        assert (listener.name, listener.path) == (name, path)
        assert repr(name) in repr(listener) and repr(path) in repr(listener)
        with kiwi_ipc.Pipe.connect(name, timeout=5) as client, \
                listener.accept(timeout=5) as server:
            for p in (client, server):
                assert (p.name, p.path) == (name, path)
                assert repr(path) in repr(p)
            with pytest.raises(kiwi_ipc.IpcTimeoutError) as info:
                client.recv(timeout=0)
            assert info.value.filename == path
            assert name in str(info.value) and path in str(info.value)
            with kiwi_ipc.Pipe(kiwi_ipc.connect(name)) as adopted, \
                    listener.accept(timeout=5):
                assert (adopted.name, adopted.path) == (name, path)
        with pytest.raises(kiwi_ipc.IpcTimeoutError) as info:
            listener.accept(timeout=0)
        assert info.value.filename == path


def test_a_long_listener_name_is_reported_as_listen():
    with pytest.raises(kiwi_ipc.InvalidArgumentError) as info:
        # past both OSes' limits: sun_path's 107 bytes, Windows' 256
        # UTF-16 characters
        kiwi_ipc.Listener("x" * 300)
    assert str(info.value).startswith("listen(")


def _liblua_or_skip():
    """The Lua 5.4 binding's build dir and liblua5.4's name, or a skip."""
    import ctypes.util
    lua_dir = os.environ.get("KIWI_IPC_TEST_LUA54_DIR")
    if not lua_dir or not os.path.isdir(lua_dir):
        pytest.skip("KIWI_IPC_TEST_LUA54_DIR (the Lua 5.4 binding's build "
                    "dir) is not set: run through ctest")
    name = ctypes.util.find_library("lua5.4")
    if name is None:
        pytest.skip("no liblua5.4 (Debian's liblua5.4-0)")
    return lua_dir, name


def _lua_in_this_process():
    """The Lua 5.4 binding loaded into this Python process through Lua's C
    API: a second copy of the library beside the Python binding's."""
    import ctypes
    lua_dir, name = _liblua_or_skip()
    lua = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    lua.luaL_newstate.restype = ctypes.c_void_p
    lua.luaL_openlibs.argtypes = [ctypes.c_void_p]
    lua.luaL_loadstring.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lua.lua_pcallk.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lua.lua_tolstring.restype = ctypes.c_char_p
    lua.lua_tolstring.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                  ctypes.c_void_p]
    lua.lua_close.argtypes = [ctypes.c_void_p]
    state = lua.luaL_newstate()
    lua.luaL_openlibs(state)

    def run(code):
        """Run a Lua chunk; its one result, as a str."""
        assert lua.luaL_loadstring(state, code.encode()) == 0
        rc = lua.lua_pcallk(state, 0, 1, 0, None, None)
        out = lua.lua_tolstring(state, -1, None)
        assert rc == 0, out
        return out.decode() if out is not None else None

    run("package.path = %r .. '/?.lua;' .. package.path; "
        "package.cpath = %r .. '/?.so;' .. package.cpath; "
        "ipc = require 'kiwi_ipc'; return ''" % (lua_dir, lua_dir))
    return run, lambda: lua.lua_close(state)


_CTRL_C_AFTER_LUA = r"""
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import test_integrity
run, close_lua = test_integrity._lua_in_this_process()
# A blocking call puts the Lua binding's SIGINT handler in front of Python's.
run("local l = assert(ipc.listen(%r)); local c, err = ipc.accept(l, 0.05); "
    "ipc.close(l); return tostring(c)" % sys.argv[2])
close_lua()  # lua_close unloads kiwi_ipc_core.so
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # Python raises at once; this only bounds a lost signal
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.mark.posix_only("a real SIGINT to the process after dlclose")
def test_ctrl_c_after_lua_unloaded_reaches_python(name, tmp_path):
    # Python embedding Lua, which closes its state: the Lua binding's SIGINT
    # handler was chained in front of Python's. It must not outlive the
    # module: a Ctrl-C after lua_close crashed the process (SIGSEGV in
    # unmapped code) instead of raising KeyboardInterrupt.
    _liblua_or_skip()
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", _CTRL_C_AFTER_LUA, here, name],
                       capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "KeyboardInterrupt", (
        r.returncode, r.stdout, r.stderr)


def test_two_copies_in_one_process_never_share_a_handle(name):
    # Python embedding Lua: each binding links its own copy of the library.
    # Before, both counted from 1, so a handle of one reached the other's
    # pipe. Now each copy has a range of its own.
    run, close_lua = _lua_in_this_process()
    try:
        with kiwi_ipc.Listener(name) as listener:
            client_lua = int(run("c = assert(ipc.connect(%r, 5)); "
                                 "return tostring(c)" % name))
            server = listener.accept(timeout=5)
            with server:
                mine = {listener.handle, server.handle}
                assert client_lua not in mine
                # Lua's handle means nothing to Python's copy, and says so.
                with pytest.raises(kiwi_ipc.BadHandleError) as info:
                    kiwi_ipc.send(client_lua, "lost?")
                assert "another copy" in str(info.value)
                # Each copy works with its own handles.
                server.send("to lua")
                assert run("return ipc.recv(c, 5)") == "to lua"
                assert run("return tostring(ipc.send(c, 'to python'))") == \
                    "true"
                assert server.recv(timeout=5) == "to python"
                run("ipc.close(c); return ''")
    finally:
        close_lua()
