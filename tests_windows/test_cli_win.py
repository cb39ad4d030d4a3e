"""kiwi-ipc.exe, the command-line tool on Windows, run by the embeddable
CPython under wine (ctest win_cli, scripts/run-windows).

Real processes only: kiwi-ipc.exe against itself and against win_peer.exe
(the stand-in for a Kiwi program on .NET, making .NET's Win32 calls), over
real named pipes; --exec through the real cmd.exe. tests_cli/ is the POSIX
suite (sh, signals, /tmp); these are its Windows counterparts: both start
orders, exit statuses, byte-exact raw and stdin, JSON with non-ASCII text
and names, --exec's rules, and Ctrl-C as far as wine delivers it.
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


def test_version():
    rc, out, _ = run("--version")
    assert rc == 0 and out.startswith(b"kiwi-ipc ")


# ---- exit statuses -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["connect"],
        ["bogus", "x"],
        ["connect", "x", "-t", "soon"],
        ["connect", "x", "--format", "xml"],
        ["connect", "x", "--echo", "--exec", "echo"],
        ["connect", "x", "--no-such-option"],
        ["connect", "anonymous"],
    ],
)
def test_bad_usage_exits_2(args):
    rc, _, err = run(*args)
    assert rc == 2, err
    assert err.startswith("kiwi-ipc: ")


def test_connect_with_no_server_times_out_3():
    n = name("none-\u00e9")
    t0 = time.monotonic()
    rc, _, err = run("connect", n, "-t", "0.5")
    assert rc == 3
    assert time.monotonic() - t0 < 10
    # The message names the pipe, in UTF-8.
    assert pipe_path(n) in err and "no_server" in err


def test_create_with_no_client_times_out_3():
    rc, _, err = run("create", name("alone"), "-t", "0.5")
    assert rc == 3, err


def test_receive_timeout_3_and_peer_closed_4():
    n = name("quiet")
    (s_rc, _, s_err), (c_rc, _, c_err) = pair(
        ["create", n, "-n", "1", "-t", "1"], ["connect", n, "-n", "1", "-t", "20"]
    )
    assert s_rc == 3, s_err  # nothing came within 1 s
    assert c_rc == 4, c_err  # then the server closed before 1 message
    assert "closed after 0 of 1" in c_err


def test_peer_closed_before_n_messages_4():
    n = name("short")
    (s_rc, s_out, s_err), (c_rc, _, _) = pair(
        ["create", n, "-n", "3", "-t", "20"], ["connect", n, "-d", "only", "-n", "0"]
    )
    assert (s_rc, s_out) == (4, b"only\n"), s_err
    assert c_rc == 0


# ---- sending and receiving -----------------------------------------------


@pytest.mark.parametrize("server_first", [True, False])
def test_send_and_receive_both_start_orders(server_first):
    n = name("order")
    (s_rc, s_out, s_err), (c_rc, c_out, c_err) = pair(
        ["create", n, "-n", "2", "--echo", "-t", "20"],
        ["connect", n, "-d", "one", "-d", "", "-n", "2", "-t", "20"],
        server_first,
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == b"one\n\n"  # text: "\n" alone, never "\r\n"
    assert c_out == b"one\n\n"


ALL_BYTES = bytes(range(256)) + b"\r\n\x1a\r\r\n\n\x00" * 3


def test_raw_mode_and_files_are_byte_exact(tmp_path):
    # -f with a non-ASCII file name; every byte value, CR LF, ^Z and NUL.
    f = tmp_path / "d\u00e4t\u00e4.bin"
    f.write_bytes(ALL_BYTES)
    n = name("raw")
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        ["create", n, "-n", "2", "--format", "raw", "-t", "20"],
        ["connect", n, "-f", str(f), "-d", "\u00e9", "-n", "0", "-t", "20"],
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == ALL_BYTES + "\u00e9".encode("utf-8")


def test_stdin_file_is_byte_exact():
    n = name("stdin")
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        ["create", n, "-n", "1", "--format", "hex", "-t", "20"],
        ["connect", n, "-f", "-", "-n", "0", "-t", "20"],
        client_input=ALL_BYTES,
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == ALL_BYTES.hex().encode() + b"\n"


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


def test_json_with_non_ascii_text_and_name(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"a\xffb\xe2\x82")
    n = name("j\u00e9son-\u2713")
    text = "h\u00e9llo \u2713 \U0001d11e \"q\"\n"
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        ["create", n, "-n", "2", "--format", "json", "-t", "20"],
        ["connect", n, "-d", text, "-f", str(bad), "-n", "0", "-t", "20"],
    )
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out.decode("utf-8") == (
        '"h\u00e9llo \u2713 \U0001d11e \\"q\\"\\n"\n' '"a\ufffdb\ufffd"\n'
    )


def test_listen_serves_clients_in_turn():
    n = name("listen")
    srv = tool("listen", n, "--clients", "2", "-n", "1", "-t", "20")
    for i in range(2):
        rc, _, err = run("connect", n, "-d", "client %d" % i, "-n", "0", "-t", "20")
        assert rc == 0, err
    rc, out, err = finish(srv)
    assert (rc, out) == (0, b"client 0\nclient 1\n"), err


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


def test_peer_closing_ends_a_run_blocked_reading_stdin():
    # -l's thread is blocked reading a stdin that never ends; the peer
    # closes: kiwi-ipc must still exit (leaving that thread behind).
    n = name("stdin-open")
    s = tool("create", n, "-d", "bye", "-n", "0", "-t", "20")
    c = tool("connect", n, "-l", "-t", "20", stdin=subprocess.PIPE)
    assert finish(s)[0] == 0
    try:
        assert c.wait(WAIT) == 0
    finally:
        c.stdin.close()
    assert c.stdout.read() == b"bye\n"


def test_peer_closing_ends_lines_with_count_zero():
    # -n 0 receives nothing: the peer's close alone must end -l, although
    # stdin stays open (before, only the next line of stdin
    # would have found the peer gone).
    n = name("stdin-open-n0")
    s = tool("create", n, "-n", "0", "-t", "20")
    c = tool("connect", n, "-l", "-n", "0", "-t", "20", stdin=subprocess.PIPE)
    assert finish(s)[0] == 0
    t0 = time.monotonic()
    try:
        assert c.wait(WAIT) == 0
        assert time.monotonic() - t0 < 15
    finally:
        c.stdin.close()
