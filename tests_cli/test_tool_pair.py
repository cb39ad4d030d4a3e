"""The tool against itself: a server kiwi-ipc and a client kiwi-ipc in
either start order, exit statuses 3 and 4, byte-exact raw, files and
stdin, JSON with non-ASCII text and names, listen serving clients in turn,
and a peer's close ending a run whose stdin stays open. On both OSes
(moved here from tests_windows/test_cli_win.py, where they ran on Windows
only)."""

from __future__ import annotations

import time
from typing import Callable, List, Optional, Tuple

import pytest

import kiwi_ipc

from conftest import Proc

WAIT = 30  # seconds: a bound on every wait, far above what a run takes
ALL_BYTES = bytes(range(256)) + b"\r\n\x1a\r\r\n\n\x00" * 3

Result = Tuple[int, bytes, str]


def finish(p: Proc) -> Result:
    """(exit code, stdout bytes, stderr text) of a started process."""
    rc = p.wait(WAIT)
    return rc, p.stdout, p.stderr


def pair(cli: Callable[..., Proc], server_args: List[str],
         client_args: List[str], server_first: bool = True,
         client_input: Optional[bytes] = None) -> Tuple[Result, Result]:
    """Run a server and a client kiwi-ipc, in either start order."""
    if server_first:
        s = cli(*server_args)
        time.sleep(0.3)
        c = cli(*client_args, stdin=client_input)
    else:
        c = cli(*client_args, stdin=client_input)
        time.sleep(0.3)
        s = cli(*server_args)
    c_result = finish(c)
    return finish(s), c_result


def test_connect_with_no_server_times_out_3_naming_the_pipe(run, name):
    n = name + "-none-\u00e9"
    t0 = time.monotonic()
    r = run("connect", n, "-t", "0.5")
    assert r.returncode == 3
    assert time.monotonic() - t0 < 10
    # The message names the pipe, in UTF-8.
    err = r.stderr.decode("utf-8")
    assert kiwi_ipc.path(n) in err and "no_server" in err


def test_receive_timeout_3_and_peer_closed_4(cli, name):
    (s_rc, _, s_err), (c_rc, _, c_err) = pair(
        cli, ["create", name, "-n", "1", "-t", "1"],
        ["connect", name, "-n", "1", "-t", "20"])
    assert s_rc == 3, s_err  # nothing came within 1 s
    assert c_rc == 4, c_err  # then the server closed before 1 message
    assert "closed after 0 of 1" in c_err


def test_peer_closed_before_n_messages_4(cli, name):
    (s_rc, s_out, s_err), (c_rc, _, _) = pair(
        cli, ["create", name, "-n", "3", "-t", "20"],
        ["connect", name, "-d", "only", "-n", "0"])
    assert (s_rc, s_out) == (4, b"only\n"), s_err
    assert c_rc == 0


@pytest.mark.parametrize("server_first", [True, False])
def test_send_and_receive_both_start_orders(cli, name, server_first):
    (s_rc, s_out, s_err), (c_rc, c_out, c_err) = pair(
        cli, ["create", name, "-n", "2", "--echo", "-t", "20"],
        ["connect", name, "-d", "one", "-d", "", "-n", "2", "-t", "20"],
        server_first)
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == b"one\n\n"  # text: "\n" alone, never "\r\n"
    assert c_out == b"one\n\n"


def test_raw_mode_and_files_are_byte_exact(cli, name, tmp_path):
    # -f with a non-ASCII file name; every byte value, CR LF, ^Z and NUL.
    f = tmp_path / "d\u00e4t\u00e4.bin"
    f.write_bytes(ALL_BYTES)
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        cli, ["create", name, "-n", "2", "--format", "raw", "-t", "20"],
        ["connect", name, "-f", str(f), "-d", "\u00e9", "-n", "0", "-t", "20"])
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == ALL_BYTES + "\u00e9".encode("utf-8")


def test_stdin_file_is_byte_exact(cli, name):
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        cli, ["create", name, "-n", "1", "--format", "hex", "-t", "20"],
        ["connect", name, "-f", "-", "-n", "0", "-t", "20"],
        client_input=ALL_BYTES)
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out == ALL_BYTES.hex().encode() + b"\n"


def test_json_with_non_ascii_text_and_name(cli, name, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"a\xffb\xe2\x82")
    n = name + "-j\u00e9son-\u2713"
    text = "h\u00e9llo \u2713 \U0001d11e \"q\"\n"
    (s_rc, s_out, s_err), (c_rc, _, c_err) = pair(
        cli, ["create", n, "-n", "2", "--format", "json", "-t", "20"],
        ["connect", n, "-d", text, "-f", str(bad), "-n", "0", "-t", "20"])
    assert (s_rc, c_rc) == (0, 0), s_err + c_err
    assert s_out.decode("utf-8") == (
        '"h\u00e9llo \u2713 \U0001d11e \\"q\\"\\n"\n' '"a\ufffdb\ufffd"\n')


def test_listen_serves_tool_clients_in_turn(cli, run, name):
    srv = cli("listen", name, "--clients", "2", "-n", "1", "-t", "20")
    for i in range(2):
        r = run("connect", name, "-d", "client %d" % i, "-n", "0", "-t", "20")
        assert r.returncode == 0, r.stderr
    rc, out, err = finish(srv)
    assert (rc, out) == (0, b"client 0\nclient 1\n"), err


def test_peer_closing_ends_a_run_blocked_reading_stdin(cli, name):
    # -l's thread is blocked reading a stdin that never ends; the peer
    # closes: kiwi-ipc must still exit (leaving that thread behind).
    s = cli("create", name, "-d", "bye", "-n", "0", "-t", "20")
    c = cli("connect", name, "-l", "-t", "20", keep_stdin_open=True)
    assert finish(s)[0] == 0
    try:
        assert c.wait(WAIT) == 0
    finally:
        c.close_stdin()
    assert c.stdout == b"bye\n"


def test_peer_closing_ends_lines_with_count_zero(cli, name):
    # -n 0 receives nothing: the peer's close alone must end -l, although
    # stdin stays open (before, only the next line of stdin would have
    # found the peer gone).
    s = cli("create", name, "-n", "0", "-t", "20")
    c = cli("connect", name, "-l", "-n", "0", "-t", "20",
            keep_stdin_open=True)
    assert finish(s)[0] == 0
    t0 = time.monotonic()
    try:
        assert c.wait(WAIT) == 0
        assert time.monotonic() - t0 < 15
    finally:
        c.close_stdin()
