"""--exec: a program bridged to the pipe, line for message."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

import kiwi_ipc

from conftest import session_members, wait_for_path

pytestmark = pytest.mark.posix_only(
    "--exec commands written for sh (and process groups, /proc sessions): on Windows --exec runs cmd.exe (test_cli_win.py)")


def test_each_message_a_line_each_line_a_message(cli, name):
    # CMD must write each line as it goes (tr buffers a pipe: stdbuf -oL).
    srv = cli("create", name, "--exec", "stdbuf -oL tr a-z A-Z", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        for m in (b"hello", "wörld".encode(), b""):
            p.send_bytes(m)
            assert p.recv_bytes(timeout=20) == m.upper()
    # The peer closed: CMD got end of file and exited; so does the tool.
    assert srv.wait() == 0, srv.stderr
    assert srv.stdout == b""


def test_program_in_another_language(cli, name):
    prog = ("import sys\n"
            "for line in sys.stdin:\n"
            "    print(len(line.rstrip('\\n')), flush=True)\n")
    srv = cli("listen", name, "--exec", "%s -c \"%s\"" % (sys.executable, prog),
              "--clients", "1", "-t", "20")
    wait_for_path(name)
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send("kiwi")
        assert p.recv(timeout=20) == "4"
        p.send("🥝")
        assert p.recv(timeout=20) == "1"  # one character
    assert srv.wait() == 0, srv.stderr


def test_program_that_exits_early_ends_the_session(cli, name):
    # head reads one line, answers, and exits while the peer still talks.
    srv = cli("create", name, "--exec", "head -n 1", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"first")
        assert p.recv_bytes(timeout=20) == b"first"
        t0 = time.monotonic()
        # The tool ends promptly and closes the pipe, although we did not.
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
        assert time.monotonic() - t0 < 5
    assert srv.wait() == 0, srv.stderr


def test_program_that_exits_before_reading_anything(cli, name):
    srv = cli("create", name, "--exec", "echo bye", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        assert p.recv_bytes(timeout=20) == b"bye"
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
    assert srv.wait() == 0, srv.stderr


def test_failing_program_is_exit_1(cli, name):
    srv = cli("create", name, "--exec", "read line; echo got $line; exit 3",
              "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"x")
        assert p.recv_bytes(timeout=20) == b"got x"
    assert srv.wait() == 1
    assert "exited with status 3" in srv.stderr


def test_count_closes_stdin_and_keeps_the_output(cli, name):
    # After -n 2, CMD's stdin ends; what it writes afterwards still goes.
    srv = cli("create", name, "--exec", "sort; echo end", "-n", "2", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"b")
        p.send_bytes(b"a")
        got = [p.recv_bytes(timeout=20) for _ in range(3)]
        assert got == [b"a", b"b", b"end"]
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
    assert srv.wait() == 0, srv.stderr


def test_peer_close_stops_a_program_that_ignores_eof(cli, name):
    srv = cli("create", name, "--exec", "exec sleep 60", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20):
        pass
    t0 = time.monotonic()
    assert srv.wait(15) == 0, srv.stderr
    # One second of grace, then SIGTERM.
    assert time.monotonic() - t0 < 5


def test_exec_format_json_is_binary_safe(cli, name):
    srv = cli("create", name, "--exec", "cat", "--format", "json", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"two\nlines")
        assert p.recv_bytes(timeout=20) == b'"two\\nlines"'
    assert srv.wait() == 0, srv.stderr


def test_exec_as_client_with_data_first(cli, listener, name):
    c = cli("connect", name, "-d", "hello", "--exec", "cat", "-n", "1", "-t", "20")
    with listener.accept(timeout=20) as p:
        assert p.recv_bytes(timeout=20) == b"hello"
        p.send_bytes(b"echoed by cat")
        assert p.recv_bytes(timeout=20) == b"echoed by cat"
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
    assert c.wait() == 0, c.stderr


def test_listen_exec_one_program_per_client_none_lost(cli, name):
    srv = cli("listen", name, "--exec", "read x; echo \"$x from $$\"",
              "--clients", "3", "-t", "20")
    wait_for_path(name)
    pipes = [kiwi_ipc.Pipe.connect(name, timeout=20) for _ in range(3)]
    for i, p in enumerate(pipes):
        p.send_bytes(b"c%d" % i)
    answers = [p.recv_bytes(timeout=20) for p in pipes]
    for p in pipes:
        p.close()
    assert srv.wait() == 0, srv.stderr
    assert [a.split()[0] for a in answers] == [b"c0", b"c1", b"c2"]
    # Three different shells.
    assert len({a.split()[-1] for a in answers}) == 3


def test_exec_missing_program(cli, name):
    srv = cli("create", name, "--exec", "/nonexistent/program", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
    assert srv.wait() == 1
    assert "exited with status 127" in srv.stderr


def test_listen_exec_waits_for_the_next_client(cli, name):
    # The first client's program has ended (and stopped its session) long
    # before the second client comes: listen must still wait for it.
    srv = cli("listen", name, "--exec", "head -n 1", "--clients", "2", "-t", "20")
    wait_for_path(name)
    for i in range(2):
        with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
            p.send_bytes(b"client %d" % i)
            assert p.recv_bytes(timeout=20) == b"client %d" % i
            with pytest.raises(kiwi_ipc.PipeClosedError):
                p.recv_bytes(timeout=20)
        time.sleep(0.3)  # several of the hook's 50 ms slices
    assert srv.wait() == 0, srv.stderr
    assert not os.path.exists(name)


def test_peer_close_while_the_program_keeps_writing(cli, name):
    # The program ignores its stdin and writes forever: once the peer has
    # gone, the tool stops it (SIGPIPE or SIGTERM) and ends, status 0.
    srv = cli("create", name, "--exec",
              "while :; do echo tick || exit 0; sleep 0.02; done", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        assert p.recv_bytes(timeout=20) == b"tick"
    t0 = time.monotonic()
    assert srv.wait(15) == 0, srv.stderr
    assert time.monotonic() - t0 < 5


def wait_session_empty(sid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while session_members(sid):
        assert time.monotonic() < deadline, (
            "left running: %s" % session_members(sid))
        time.sleep(0.05)


# ---- the command's whole process group ------------------------
#
# Bounds below: the documented second for EOF plus one for SIGTERM, with
# room to spare, against the 30 s of the `sleep 30` the defect waited for.


def test_peer_close_stops_what_the_command_started(cli, name):
    # sh runs sleep as a child that holds CMD's stdout: SIGTERM to sh alone
    # left the tool waiting for the sleep (30 s).
    srv = cli("create", name, "--exec", "sleep 30; echo late", "-t", "20",
              new_session=True)
    with kiwi_ipc.Pipe.connect(name, timeout=20):
        time.sleep(0.3)  # sh has started sleep
    # One second for EOF, one for SIGTERM: well within 5.
    assert srv.wait(5) == 0, srv.stderr
    wait_session_empty(srv.session)


def test_session_ends_when_the_command_exits_leaving_a_child(cli, name):
    # CMD exits at once; the child it left holds its stdout open. The
    # session ends with CMD (the man page), and the child is stopped.
    srv = cli("create", name, "--exec", "sleep 30 & echo started", "-t", "20",
              new_session=True)
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        assert p.recv_bytes(timeout=20) == b"started"
        t0 = time.monotonic()
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=20)
        assert time.monotonic() - t0 < 5
    assert srv.wait(5) == 0, srv.stderr
    wait_session_empty(srv.session)


def test_peer_close_ends_the_session_though_an_escaped_process_holds_the_output(
        cli, name, pipe_dir):
    # A process that left CMD's group (and session) keeps CMD's stdout:
    # once CMD itself is stopped, the tool reads what the pipe holds and
    # no more, instead of waiting for an end of output that never comes.
    pidfile = os.path.join(pipe_dir, "escaped")
    srv = cli("create", name, "--exec",
              "setsid sh -c 'echo $$ > %s; exec sleep 30' & sleep 30" % pidfile,
              "-t", "20", new_session=True)
    try:
        with kiwi_ipc.Pipe.connect(name, timeout=20):
            wait_for_path(pidfile)
            time.sleep(0.2)
        assert srv.wait(5) == 0, srv.stderr
    finally:
        for _ in range(100):  # the pid is written before the sleep starts
            with open(pidfile) as f:
                text = f.read().strip()
            if text:
                break
            time.sleep(0.05)
        try:
            os.kill(int(text), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
