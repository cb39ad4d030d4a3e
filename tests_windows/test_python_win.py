r"""kiwi_ipc (the Python binding, an abi3 .pyd against python3.dll): what
only Windows has, run by the embeddable CPython under wine
(scripts/run-windows).

The behaviour both OSes share is tests_py/, which runs here too
(win_python_suite), with posix_only / not_under_wine markers on what
Windows lacks. Here: \\.\pipe\ names, fileno() without meaning, a
.NET-style peer process (win_peer.exe, KIWI_WIN_BIN) and a real console
Ctrl-C (GenerateConsoleCtrlEvent) to a Python and a Lua child.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time

import pytest

import kiwi_ipc
from kiwi_ipc import Pipe

from kiwi_pytest import VECTORS  # tests_common/, shared with tests_py

_counter = itertools.count()


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
