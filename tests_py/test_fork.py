"""fork and kiwi_ipc: what a forked child may do to its parent's pipes.

Only the process that created a Listener removes its socket file; only the
process that committed a message writes its kept rest; a second copy of the
library first loaded in a child keeps a handle range of its own. Tested
with os.fork() and with multiprocessing's "fork" start method (POSIX only:
Windows has no fork).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import kiwi_ipc

from conftest import PACKAGE_ROOT

pytestmark = pytest.mark.posix_only("fork(): Windows has none")


def _wait_child(pid: int, timeout: float = 20.0) -> int:
    """The exit code of forked child `pid`, killing it after `timeout`."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("forked child %d still running after %s s" % (pid, timeout))


def _served(listener: kiwi_ipc.Listener, name: str) -> None:
    """The listener's name is alive: a new client gets through."""
    assert os.path.exists(name)
    with kiwi_ipc.Pipe.connect(name, timeout=5) as client:
        with listener.accept(timeout=5) as server:
            client.send("still here")
            assert server.recv(timeout=5) == "still here"


def test_child_exiting_through_interpreter_shutdown_keeps_the_socket(name):
    # The child returns from the script: interpreter shutdown finalizes the
    # Listener it inherited (and closes it). The parent's name lives on.
    script = textwrap.dedent("""
        import os, sys, kiwi_ipc
        listener = kiwi_ipc.Listener(sys.argv[1])
        pid = os.fork()
        if pid == 0:
            sys.exit(0)          # the child: a plain exit, finalizers run
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.path.exists(sys.argv[1]), "the child removed the socket"
        with kiwi_ipc.Pipe.connect(sys.argv[1], timeout=5) as c:
            with listener.accept(timeout=5) as s:
                c.send("hi")
                assert s.recv(timeout=5) == "hi"
        listener.close()
        assert not os.path.exists(sys.argv[1])
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    out = subprocess.run([sys.executable, "-c", script, name], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_os_fork_child_closing_the_listener_keeps_the_socket(name):
    with kiwi_ipc.Listener(name) as listener:
        pid = os.fork()
        if pid == 0:
            try:
                listener.close()
                own = name + "-child"
                with kiwi_ipc.Listener(own):
                    ok = os.path.exists(own)
                os._exit(0 if ok and not os.path.exists(own) else 1)
            finally:
                os._exit(2)
        assert _wait_child(pid) == 0
        _served(listener, name)
    assert not os.path.exists(name)


def _close_inherited(listener: kiwi_ipc.Listener) -> None:
    listener.close()


def _do_nothing(listener: kiwi_ipc.Listener) -> None:
    pass


@pytest.mark.parametrize("target", [_close_inherited, _do_nothing])
def test_multiprocessing_fork_child_keeps_the_socket(name, target):
    ctx = multiprocessing.get_context("fork")
    with kiwi_ipc.Listener(name) as listener:
        proc = ctx.Process(target=target, args=(listener,))
        proc.start()
        proc.join(20)
        if proc.is_alive():
            proc.kill()
            proc.join()
            pytest.fail("the child did not end")
        assert proc.exitcode == 0
        _served(listener, name)
    assert not os.path.exists(name)


def test_child_never_writes_the_parents_kept_rest(pair):
    server, client = pair
    big = os.urandom(8 << 20)
    # Nobody reads yet: part of the frame goes out, the rest is kept.
    client.send_bytes(big, timeout=0.05)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            try:
                client.flush(timeout=5)
            except kiwi_ipc.InvalidArgumentError as e:
                if "committed by process" in str(e):
                    code = 0
            try:
                client.send("spliced?", timeout=5)
                code = 3
            except kiwi_ipc.InvalidArgumentError:
                pass
            client.close()
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    got = []
    reader = threading.Thread(
        target=lambda: got.extend([server.recv_bytes(timeout=20),
                                   server.recv(timeout=20)]))
    reader.start()
    client.flush(timeout=20)
    client.send("after")
    reader.join(30)
    assert not reader.is_alive()
    assert len(got) == 2 and got[0] == big and got[1] == "after"


def test_a_copy_first_loaded_in_a_child_has_its_own_handles(name):
    import ctypes.util
    from test_integrity import _lua_in_this_process
    # Checked here: a skip raised in the child would be its failure.
    if not sys.platform.startswith("linux"):
        pytest.skip("copies are told apart on Linux and Windows only")
    if not os.path.isdir(os.environ.get("KIWI_IPC_TEST_LUA54_DIR", "")):
        pytest.skip("KIWI_IPC_TEST_LUA54_DIR (the Lua 5.4 binding's build "
                    "dir) is not set: run through ctest")
    if ctypes.util.find_library("lua5.4") is None:
        pytest.skip("no liblua5.4 (Debian's liblua5.4-0)")
    with kiwi_ipc.Listener(name) as listener:
        mine = listener.handle
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                run, close_lua = _lua_in_this_process()
                h = int(run("l = assert(ipc.listen(%r)); return tostring(l)"
                            % (name + "-lua")))
                code = 2 if h == mine else 3
                try:
                    kiwi_ipc.send(h, "whose?")
                except kiwi_ipc.BadHandleError as e:
                    if "another copy" in str(e):
                        code = 0
                run("ipc.close(l); return ''")
                close_lua()
            except BaseException as e:  # report, never unwind into pytest
                print("child:", repr(e), file=sys.stderr)
            finally:
                os._exit(code)
        assert _wait_child(pid) == 0
