r"""kiwi-ipc.exe, the command-line tool on Windows, run by the embeddable
CPython under wine (ctest win_cli, scripts/run-windows).

Real processes only: kiwi-ipc.exe against itself and against win_peer.exe
(the stand-in for a Kiwi program on .NET, making .NET's Win32 calls), over
real named pipes; --exec through the real cmd.exe. What both OSes share is
tests_cli/, which runs here too (win_cli_suite); these are what only
Windows has: \\.\pipe\ names from UTF-16 arguments, CR LF ending a line,
the .NET-style peer, --exec's cmd.exe rules and job, and Ctrl-C as far as
wine delivers it.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import sys
import time

import pytest

BIN = os.environ["KIWI_WIN_BIN"]
TOOL = os.path.join(BIN, "kiwi-ipc.exe")
PEER = os.path.join(BIN, "win_peer.exe")
# What a process ended by Ctrl-C exits with on Windows (NTSTATUS).
STATUS_CONTROL_C_EXIT = 0xC000013A
WAIT = 30  # seconds: a bound on every wait, far above what a run takes

_counter = itertools.count()
_procs: list[subprocess.Popen] = []


def name(tag: str) -> str:
    return "kiwi-cli-%d-%d-%s" % (os.getpid(), next(_counter), tag)


def pipe_path(n: str) -> str:
    return "\\\\.\\pipe\\" + n


@pytest.fixture(autouse=True)
def no_process_left():
    """Every process a test starts is gone when it ends, even on failure."""
    yield
    while _procs:
        p = _procs.pop()
        if p.poll() is None:
            p.kill()
        p.communicate()


def start(args, stdin=subprocess.DEVNULL, **kw) -> subprocess.Popen:
    p = subprocess.Popen(
        args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
    )
    _procs.append(p)
    return p


def tool(*args, **kw) -> subprocess.Popen:
    return start([TOOL, *args], **kw)


def finish(p: subprocess.Popen, input: bytes | None = None):
    """(exit code, stdout bytes, stderr text) of a started process."""
    out, err = p.communicate(input, timeout=WAIT)
    return p.returncode & 0xFFFFFFFF, out, err.decode("utf-8", "replace")


def run(*args, input: bytes | None = None):
    p = tool(*args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    return finish(p, input)


def pair(server_args, client_args, server_first=True, client_input=None):
    """Run a server and a client kiwi-ipc, in either start order."""
    kw = {"stdin": subprocess.PIPE} if client_input is not None else {}
    if server_first:
        s = tool(*server_args)
        time.sleep(0.3)
        c = tool(*client_args, **kw)
    else:
        c = tool(*client_args, **kw)
        time.sleep(0.3)
        s = tool(*server_args)
    # The client first: it may be waiting for its stdin.
    c_result = finish(c, client_input)
    return finish(s), c_result


# ---- names and arguments -------------------------------------------------


def test_path_takes_non_ascii_arguments_as_utf8():
    rc, out, _ = run("path", "d\u00e9mo-\u2713")
    assert rc == 0
    # Byte for byte: UTF-8, and "\n" alone (stdout is binary).
    assert out == ("\\\\.\\pipe\\d\u00e9mo-\u2713\n").encode("utf-8")


def test_lines_end_in_lf_or_crlf():
    n = name("lines")
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        ["create", n, "-n", "4", "--format", "json", "-t", "20"],
        ["connect", n, "-l", "-n", "0", "-t", "20"],
        client_input=b"crlf\r\nlf\n\r\nlast\r",
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    # A lone "\r" is kept: only "\r\n" and "\n" end a line.
    assert s_out == b'"crlf"\n"lf"\n""\n"last\\r"\n'


# ---- against the .NET stand-in (win_peer.exe) ----------------------------


# One message per run: win_peer's server asks for no pipe buffers, as
# .NET's does, so (README, "Buffers") a write to it completes only once it
# reads, and it reads the second message only after its echo of the first
# is read: -d a -d b then receiving would wait on each other.
@pytest.mark.parametrize("peer_first", [True, False])
@pytest.mark.parametrize("payload", [b"x" * 70000, "\u00e9\r\n\x00".encode()])
def test_dotnet_server_peer(peer_first, payload, tmp_path):
    n = name("dn-server")
    f = tmp_path / "payload"
    f.write_bytes(payload)  # 70000: more than one pipe buffer
    args = [PEER, "dotnet-server", pipe_path(n), "1"]
    if peer_first:
        peer = start(args)
        time.sleep(0.3)
    c = tool("connect", n, "-f", str(f), "--format", "raw", "-n", "1", "-t", "20")
    if not peer_first:
        time.sleep(0.3)
        peer = start(args)
    rc, out, err = finish(c)
    assert (rc, out) == (0, payload), err
    assert finish(peer)[0] == 0


def test_dotnet_client_peer_then_closes():
    n = name("dn-client")
    s = tool("create", n, "-d", "a", "-d", "b", "-n", "3", "-t", "20")
    peer = start([PEER, "dotnet-client", pipe_path(n), "2"])
    rc, out, err = finish(s)
    # The peer echoes 2 and closes: the third never comes.
    assert (rc, out) == (4, b"a\nb\n"), err
    assert finish(peer)[0] == 0


# ---- --exec through cmd.exe ----------------------------------------------

ECHO_PY = r"""
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(b"got " + line.rstrip(b"\r\n") + b"\r\n")
    sys.stdout.buffer.flush()
"""


def test_exec_round_trip_through_cmd(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text(ECHO_PY)
    n = name("exec")
    cmd = '"%s" -u "%s"' % (sys.executable, script)
    (s_rc, _, s_err), (c_rc, c_out, c_err) = pair(
        ["create", n, "-n", "2", "--exec", cmd, "-t", "20"],
        ["connect", n, "-d", "one", "-d", "tw\u00f6", "-n", "2", "-t", "20"],
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    # Its "\r\n" line endings are not part of the messages.
    assert c_out == ("got one\ngot tw\u00f6\n").encode("utf-8")


def test_exec_cmd_builtins_and_exit_code():
    n = name("exit")
    (s_rc, _, s_err), (c_rc, c_out, c_err) = pair(
        ["create", n, "--exec", "echo hello& echo world& exit 7", "-t", "20"],
        ["connect", n, "-n", "2", "-t", "20"],
    )
    assert c_rc == 0, c_err
    assert c_out == b"hello\nworld\n"
    # A non-zero exit code of CMD's (cmd.exe's: its last command's) is a
    # failure, 1, and named.
    assert s_rc == 1
    assert "exited with status 7" in s_err


def test_exec_child_inherits_no_pipe_handle_of_ours():
    # win_peer scan-pipes exits with the number of kiwi-ipc pipe handles it
    # inherited: any would make kiwi-ipc fail ("exited with status N").
    n = name("leak")
    (s_rc, _, s_err), (c_rc, _, _) = pair(
        ["create", n, "--exec", '"%s" scan-pipes' % PEER, "-t", "20"],
        ["connect", n, "-n", "0", "-t", "20"],
    )
    assert s_rc == 0, s_err


def _wait_pid_gone(pid: int, seconds: float) -> bool:
    k = ctypes.WinDLL("kernel32", use_last_error=True)
    SYNCHRONIZE = 0x00100000
    h = k.OpenProcess(SYNCHRONIZE, False, pid)
    if not h:
        return True  # already gone
    try:
        return k.WaitForSingleObject(h, int(seconds * 1000)) == 0
    finally:
        k.CloseHandle(h)


SLEEPER_PY = r"""
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def test_exec_stopped_with_what_it_started_once_the_peer_is_gone(tmp_path):
    # CMD ignores its stdin's end and never exits: once the peer has gone,
    # kiwi-ipc waits its grace (1 s), then ends cmd.exe and the python it
    # started (a job), and that is no failure.
    script, pidfile = tmp_path / "sleeper.py", tmp_path / "pid"
    script.write_text(SLEEPER_PY)
    n = name("stuck")
    cmd = '"%s" "%s" "%s"' % (sys.executable, script, pidfile)
    s = tool("create", n, "--exec", cmd, "-t", "20")
    c = tool("connect", n, "-n", "1", "-t", "60")
    deadline = time.monotonic() + WAIT
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and s.poll() is None
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    c.kill()  # the peer goes
    t0 = time.monotonic()
    rc, _, err = finish(s)
    assert rc == 0, err
    assert time.monotonic() - t0 < 15
    assert _wait_pid_gone(pid, 5), "CMD's child outlived kiwi-ipc"


LEAVER_PY = r"""
import subprocess, sys
# A grandchild of cmd.exe that holds CMD's stdout, then this exits.
p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                     stdout=sys.stdout)
print("grandchild", p.pid, flush=True)
"""


def test_exec_ends_with_cmd_though_what_it_started_holds_its_output(tmp_path):
    # cmd.exe exits once its python has; the python that one started still
    # holds CMD's stdout for 60 s. The session ends with CMD (what it
    # wrote is sent), and the grandchild, in CMD's job, ends with it.
    # Before, the tool read on until the grandchild exited.
    script = tmp_path / "leaver.py"
    script.write_text(LEAVER_PY)
    n = name("left")
    cmd = '"%s" "%s"' % (sys.executable, script)
    t0 = time.monotonic()
    s = tool("create", n, "--exec", cmd, "-t", "20")
    c = tool("connect", n, "-t", "60")
    rc, out, err = finish(c)  # receives until the tool's session ends
    assert rc == 0, err
    assert time.monotonic() - t0 < 15
    assert out.startswith(b"grandchild "), out
    s_rc, _, s_err = finish(s)
    assert s_rc == 0, s_err
    assert _wait_pid_gone(int(out.split()[1]), 5), "CMD's child outlived it"


# ---- Ctrl-C --------------------------------------------------------------


def _console_for_ctrl_events():
    """GenerateConsoleCtrlEvent needs a console shared with the target;
    under ctest we have none: make one (FreeConsole drops what wine may
    have attached). Skips if that fails."""
    k = ctypes.WinDLL("kernel32", use_last_error=True)
    if not k.GetConsoleWindow():
        k.FreeConsole()
        # Wine 8 makes one (measured): a failure here is a failure.
        assert k.AllocConsole(), ("no console for Ctrl-C: AllocConsole "
                                  "failed (%d)" % ctypes.get_last_error())
    return k


def _ctrl_c(k, p):
    # A new process group starts with Ctrl-C ignored: kiwi-ipc must take
    # it back for this to work. (Wine 8 fails CTRL_BREAK_EVENT to a group
    # with ERROR_INVALID_HANDLE, so only Ctrl-C is tested.)
    assert k.GenerateConsoleCtrlEvent(0, p.pid), (  # CTRL_C_EVENT
        "GenerateConsoleCtrlEvent failed (%d)" % ctypes.get_last_error())


GROUP = subprocess.CREATE_NEW_PROCESS_GROUP


def test_ctrl_c_ends_a_blocked_create():
    k = _console_for_ctrl_events()
    p = tool("create", name("ctrlc"), creationflags=GROUP)
    time.sleep(1)
    assert p.poll() is None
    t0 = time.monotonic()
    _ctrl_c(k, p)
    rc, _, err = finish(p)
    assert rc == STATUS_CONTROL_C_EXIT, err
    assert time.monotonic() - t0 < 5


def test_ctrl_c_ends_a_write_to_a_full_stdout():
    # The server writes 4 MiB to a stdout nobody reads, blocking in a
    # synchronous WriteFile: Ctrl-C must end that too (CancelSynchronousIo
    # from the handler), as SIGINT interrupts write() on POSIX.
    k = _console_for_ctrl_events()
    n = name("ctrlc-full")
    s = tool("create", n, "--format", "raw", creationflags=GROUP)
    c = tool("connect", n, "-f", "-", "-n", "0", stdin=subprocess.PIPE)
    c.stdin.write(b"z" * (4 << 20))
    c.stdin.close()
    assert c.wait(WAIT) == 0
    time.sleep(1)
    assert s.poll() is None  # still blocked writing
    t0 = time.monotonic()
    _ctrl_c(k, s)
    while s.poll() is None and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    assert s.poll() is not None, "Ctrl-C did not end a blocked write"
    assert s.returncode & 0xFFFFFFFF == STATUS_CONTROL_C_EXIT
