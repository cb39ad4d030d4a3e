"""The tool against the Python binding, in this process: every option,
every exit status, binary-safe round trips in every format."""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from typing import Callable, List

import pytest

import kiwi_ipc

from conftest import wait_for_path

# name, payload: the round-trip vectors.
VECTORS = [
    ("empty", b""),
    ("ascii", b"hello"),
    ("newlines", b"\nline one\nline two\r\n\n"),
    ("utf8", "héllo wörld ñ € 日本語".encode()),
    ("emoji", "🥝 kiwi 🐦".encode()),
    ("controls", bytes(range(0, 32)) + b"\x7f\"\\"),
    ("nul", b"a\x00b"),
]
LARGE = random.Random(15).randbytes(2 * 1024 * 1024)
LARGE_TEXT = ("kiwi ü 🥝\n" * (2 * 1024 * 1024 // 14)).encode()


class Served:
    """Run fn(pipe) in a thread on the next client of a listener."""

    def __init__(self, listener: kiwi_ipc.Listener,
                 fn: Callable[[kiwi_ipc.Pipe], object], clients: int = 1):
        self.results: List[object] = []
        self.error: List[BaseException] = []

        def serve():
            try:
                for _ in range(clients):
                    with listener.accept(timeout=20) as p:
                        self.results.append(fn(p))
            except BaseException as e:  # reported by join()
                self.error.append(e)

        self.t = threading.Thread(target=serve, daemon=True)
        self.t.start()

    def join(self, timeout: float = 30.0) -> List[object]:
        self.t.join(timeout)
        assert not self.t.is_alive(), "the Python side did not finish"
        if self.error:
            raise self.error[0]
        return self.results


def recv_all(p: kiwi_ipc.Pipe) -> List[bytes]:
    """Every message until the peer closes."""
    got = []
    while True:
        try:
            got.append(p.recv_bytes(timeout=20))
        except kiwi_ipc.PipeClosedError:
            return got


def expected(fmt: str, data: bytes) -> bytes:
    if fmt == "text":
        return data + b"\n"
    if fmt == "raw":
        return data
    if fmt == "hex":
        return data.hex().encode() + b"\n"
    # Like json.dumps, and DEL escaped as well (a control character).
    return (json.dumps(data.decode("utf-8", "replace"), ensure_ascii=False)
            .replace("\x7f", "\\u007f").encode() + b"\n")


@pytest.mark.parametrize("fmt", ["text", "json", "raw", "hex"])
def test_receive_every_vector_in_every_format(run, listener, name, fmt):
    payloads = [v for _, v in VECTORS] + [LARGE_TEXT]
    if fmt != "json":
        payloads.append(LARGE)

    def send(p):
        for m in payloads:
            p.send_bytes(m)

    s = Served(listener, send)
    r = run("connect", name, "--format", fmt, "-t", "20")
    s.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(expected(fmt, m) for m in payloads)


def test_json_lines_decode_back(run, listener, name):
    payloads = [v for _, v in VECTORS]
    s = Served(listener, lambda p: [p.send_bytes(m) for m in payloads])
    r = run("connect", name, "--format", "json", "-n", str(len(payloads)))
    s.join()
    lines = r.stdout.split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(payloads) + 1
    assert [json.loads(l) for l in lines[:-1]] == [m.decode() for m in payloads]


@pytest.mark.parametrize("bad,shown", [
    (b"\xff", "\ufffd"),
    (b"a\x80b", "a\ufffdb"),
    (b"\xc0\xaf", "\ufffd\ufffd"),               # overlong: C0 never starts one
    (b"\xe2\x82", "\ufffd"),                      # truncated: one maximal subpart
    (b"\xe2\x82x", "\ufffdx"),
    (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),      # a surrogate
    (b"\xf4\x90\x80\x80", "\ufffd" * 4),          # above U+10FFFF
    (b"\xf0\x9f\xa5", "\ufffd"),                  # a cut emoji
    (b"ok \xf0\x9f\xa5\x9d", "ok \U0001f95d"),    # a whole one
])
def test_json_writes_invalid_utf8_as_kiwi_decodes_it(run, listener, name, bad, shown):
    # Python's "replace" error handler follows the same Unicode practice
    # as .NET's decoder (so Kiwi's): one U+FFFD per maximal subpart.
    assert bad.decode("utf-8", "replace") == shown
    s = Served(listener, lambda p: p.send_bytes(bad))
    r = run("connect", name, "--format", "json", "-n", "1")
    s.join()
    assert r.returncode == 0
    assert json.loads(r.stdout) == shown


def test_data_and_files_are_sent_in_order(run, listener, name, pipe_dir):
    f1 = os.path.join(pipe_dir, "f1")
    with open(f1, "wb") as f:
        f.write(LARGE)
    empty = os.path.join(pipe_dir, "empty")
    open(empty, "wb").close()
    s = Served(listener, recv_all)
    r = run("connect", name, "-d", "first", "-f", f1, "-d", "", "-f", empty,
            "-d", "-starts-with-a-dash", "-f", "-", "-n", "0",
            input=b"from stdin\n\xff")
    got = s.join()[0]
    assert r.returncode == 0, r.stderr
    assert got == [b"first", LARGE, b"", b"", b"-starts-with-a-dash",
                   b"from stdin\n\xff"]


@pytest.mark.parametrize("name_vec,payload", VECTORS + [("large", LARGE)],
                         ids=[n for n, _ in VECTORS] + ["2MB"])
def test_binary_round_trip_through_echo(cli, name, name_vec, payload):
    # The tool serves: every byte comes back as it was sent.
    srv = cli("create", name, "--echo", "-n", "1", "-q", "-t", "20")
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(payload)
        assert p.recv_bytes(timeout=20) == payload
    assert srv.wait() == 0, srv.stderr


def test_raw_file_round_trip_2mb(run, listener, name, pipe_dir):
    src = os.path.join(pipe_dir, "src")
    with open(src, "wb") as f:
        f.write(LARGE)

    def echo(p):
        p.send_bytes(p.recv_bytes(timeout=20))

    s = Served(listener, echo)
    r = run("connect", name, "-f", src, "-n", "1", "--format", "raw")
    s.join()
    assert r.returncode == 0
    assert r.stdout == LARGE


def test_lines_are_sent_as_they_come(cli, listener, name):
    lines: List[bytes] = []
    s = Served(listener, lambda p: lines.extend(recv_all(p)))
    c = cli("connect", name, "-l", "-n", "0", keep_stdin_open=True)
    c.write(b"one\n")
    c.write("\nzwei ü\nlast without newline".encode())
    c.close_stdin()
    assert c.wait() == 0, c.stderr
    s.join()
    assert lines == [b"one", b"", "zwei ü".encode(), b"last without newline"]


def test_lines_already_waiting_go_in_one_batch(cli, listener, name):
    # Lines of every length, across the tool's 64 KiB reads, one longer
    # than a read, an empty one, a last one without a newline: each is its
    # own message, in order; and lines that one read brings go together.
    lines = [b"%d:" % i + b"x" * (i % 97) for i in range(3000)]
    lines += [b"y" * 200_000, b"", b"end"]
    got: List[bytes] = []
    s = Served(listener, lambda p: got.extend(recv_all(p)))
    c = cli("connect", name, "-l", "-n", "0", "-v",
            stdin=b"\n".join(lines))
    assert c.wait() == 0, c.stderr
    s.join()
    assert got == lines
    batches = [int(n) for n in
               re.findall(r"sent (\d+) lines of stdin in one batch", c.stderr)]
    assert batches and max(batches) > 100, c.stderr[-2000:]


def test_lines_reach_the_peer_before_stdin_ends(cli, listener, name):
    c = cli("connect", name, "-l", "-n", "1", keep_stdin_open=True)
    with listener.accept(timeout=20) as p:
        c.write(b"ping\n")
        assert p.recv_bytes(timeout=10) == b"ping"
        p.send_bytes(b"pong")
        c.wait_output(b"pong\n")
        # -n is met, but stdin has not ended: still running, still sending.
        c.write(b"more\n")
        assert p.recv_bytes(timeout=10) == b"more"
        assert c.p.poll() is None
        c.close_stdin()
        assert c.wait() == 0
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=10)


def test_count_stops_after_n(run, listener, name):
    def send5(p):
        try:
            for i in range(5):
                p.send_bytes(b"m%d" % i)
        except kiwi_ipc.PipeClosedError:
            return  # the tool has left already, after 3
        # The tool leaves after 3, without reading the rest.
        with pytest.raises(kiwi_ipc.PipeClosedError):
            p.recv_bytes(timeout=10)

    s = Served(listener, send5)
    r = run("connect", name, "-n", "3")
    s.join()
    assert (r.returncode, r.stdout) == (0, b"m0\nm1\nm2\n")


def test_count_zero_receives_nothing(run, listener, name):
    def offer(p):
        try:
            p.send_bytes(b"unread")
        except kiwi_ipc.PipeClosedError:
            pass  # the tool may be gone already: it reads nothing
        return recv_all(p)

    s = Served(listener, offer)
    r = run("connect", name, "-d", "x", "-n", "0")
    assert r.returncode == 0 and r.stdout == b""
    assert s.join()[0] == [b"x"]


def test_default_receives_until_the_peer_closes(run, listener, name):
    s = Served(listener, lambda p: [p.send_bytes(b"a"), p.send_bytes(b"b")])
    r = run("connect", name, "-t", "20")
    s.join()
    assert (r.returncode, r.stdout, r.stderr) == (0, b"a\nb\n", b"")


def test_exit_4_when_the_peer_closes_before_n(run, listener, name):
    s = Served(listener, lambda p: p.send_bytes(b"only one"))
    r = run("connect", name, "-n", "2")
    s.join()
    assert r.returncode == 4
    assert r.stdout == b"only one\n"
    assert b"closed after 1 of 2 messages" in r.stderr


def test_exit_3_connect_timeout(run, name):
    t0 = time.monotonic()
    r = run("connect", name, "-t", "0.3")
    took = time.monotonic() - t0
    assert r.returncode == 3
    err = r.stderr.decode()
    assert ('connect("%s")' % name) in err and "no server" in err, err
    assert 0.25 < took < 5


def test_exit_3_create_timeout_leaves_no_socket(run, name):
    r = run("create", name, "-t", "0.2")
    assert r.returncode == 3
    assert "timed out" in r.stderr.decode() or "timeout" in r.stderr.decode()
    assert not os.path.exists(name)


def test_exit_3_receive_timeout(run, listener, name):
    held = threading.Event()

    def hold(p):
        p.send_bytes(b"one")
        held.wait(20)

    s = Served(listener, hold)
    t0 = time.monotonic()
    r = run("connect", name, "-n", "2", "-t", "0.5")
    held.set()
    s.join()
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"one\n"
    assert b"recv" in r.stderr
    assert 0.4 < time.monotonic() - t0 < 10


def test_exit_1_name_in_use_names_call_name_path_cause(run, listener, name):
    r = run("create", name, "-t", "1")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert err.startswith('kiwi-ipc: create("%s")' % name), err
    assert name in err and "in_use" in err
    # The running server is undisturbed.
    with kiwi_ipc.Pipe.connect(name, timeout=5):
        listener.accept(timeout=5).close()


def test_exit_1_listen_name_in_use(run, listener, name):
    r = run("listen", name, "-t", "1")
    assert r.returncode == 1 and b"in_use" in r.stderr


def test_max_size(run, listener, name):
    s = Served(listener, lambda p: [p.send_bytes(b"12345"), p.send_bytes(b"123456")])
    r = run("connect", name, "--max-size", "5", "-n", "2")
    s.join()
    assert r.returncode == 1
    assert r.stdout == b"12345\n"
    assert b"too_big" in r.stderr


def test_max_size_zero_allows_empty(run, listener, name):
    s = Served(listener, lambda p: [p.send_bytes(b""), p.send_bytes(b"x")])
    r = run("connect", name, "--max-size", "0", "-n", "2")
    s.join()
    assert (r.returncode, r.stdout) == (1, b"\n")


def test_echo_and_print(run, listener, name):
    def talk(p):
        p.send_bytes(b"marco")
        return p.recv_bytes(timeout=10)

    s = Served(listener, talk)
    r = run("connect", name, "--echo", "-n", "1")
    assert s.join() == [b"marco"]
    assert (r.returncode, r.stdout) == (0, b"marco\n")


def test_quiet_prints_no_messages(run, listener, name):
    s = Served(listener, lambda p: p.send_bytes(b"hidden"))
    r = run("connect", name, "-q", "-n", "1", "-v")
    s.join()
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_verbose_notes_on_stderr(run, listener, name):
    s = Served(listener, lambda p: (p.recv_bytes(timeout=10), p.send_bytes(b"seen")))
    r = run("connect", name, "-v", "-n", "1", "-d", "hi")
    s.join()
    assert r.stdout == b"seen\n"
    err = r.stderr.decode()
    assert "connected to " + kiwi_ipc.path(name) in err
    assert "sent 2 bytes" in err and "received 4 bytes" in err


def test_client_started_before_create(cli, name):
    # As in Kiwi's reference example: the client first, then the server.
    c = cli("connect", name, "-d", "hello from the client", "-n", "1", "-t", "20")
    time.sleep(0.3)
    assert not os.path.exists(name) and c.p.poll() is None
    with kiwi_ipc.Pipe.create(name, timeout=20) as p:
        assert p.recv_bytes(timeout=10) == b"hello from the client"
        p.send_bytes(b"welcome")
        assert c.wait() == 0, c.stderr
    assert c.stdout == b"welcome\n"


def test_tool_create_with_binding_client_started_first(cli, name):
    result = []

    def client():
        with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
            result.append(p.recv_bytes(timeout=20))
            p.send_bytes(b"thanks")

    t = threading.Thread(target=client, daemon=True)
    t.start()
    time.sleep(0.2)
    srv = cli("create", name, "-d", "hello", "-n", "1", "-t", "20")
    assert srv.wait() == 0, srv.stderr
    t.join(20)
    assert result == [b"hello"] and srv.stdout == b"thanks\n"
    # create removed its socket file once its client had come.
    assert not os.path.exists(name)


@pytest.mark.posix_only("four clients queued before accept: a Windows listener keeps one instance ready, so they cannot all connect at once (docs/guides/platforms.md); test_cli_win.py serves clients in turn")
def test_listen_serves_clients_in_turn_and_loses_none(cli, name):
    srv = cli("listen", name, "--echo", "--clients", "4", "-q", "-t", "20")
    wait_for_path(name)
    # All four connect at once; they are served one after another.
    pipes = [kiwi_ipc.Pipe.connect(name, timeout=20) for _ in range(4)]
    for i, p in reversed(list(enumerate(pipes))):
        p.send_bytes(b"client %d" % i)
    for i, p in enumerate(pipes):
        assert p.recv_bytes(timeout=20) == b"client %d" % i
        p.close()
    assert srv.wait() == 0, srv.stderr
    assert not os.path.exists(name)


def test_listen_prints_each_client_and_stops_after_clients(cli, name):
    srv = cli("listen", name, "--clients", "2", "--format", "hex")
    wait_for_path(name)
    for m in (b"\x00\x01", b"\xff"):
        with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
            p.send_bytes(m)
    assert srv.wait() == 0, srv.stderr
    assert srv.stdout == b"0001\nff\n"
    assert not os.path.exists(name)


def test_listen_sends_data_to_each_client(cli, name):
    srv = cli("listen", name, "-d", "banner", "--clients", "2", "-n", "0")
    wait_for_path(name)
    for _ in range(2):
        with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
            assert p.recv_bytes(timeout=10) == b"banner"
    assert srv.wait() == 0, srv.stderr


def test_listen_reports_a_failing_client_and_goes_on(cli, name):
    srv = cli("listen", name, "-n", "2", "--clients", "2")
    wait_for_path(name)
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"just one")  # then closes: this client fails (4)
    with kiwi_ipc.Pipe.connect(name, timeout=20) as p:
        p.send_bytes(b"a")
        p.send_bytes(b"b")
    assert srv.wait() == 4
    assert srv.stdout == b"just one\na\nb\n"
    assert "closed after 1 of 2" in srv.stderr


def test_listen_timeout_waiting_for_a_client(run, name):
    r = run("listen", name, "-t", "0.2")
    assert r.returncode == 3
    assert not os.path.exists(name)


def test_stdout_closed_is_an_error_not_a_hang(tool, listener, name):
    import subprocess
    def flood(p):
        try:
            for _ in range(50):
                p.send_bytes(b"x" * 100000, timeout=20)
        except kiwi_ipc.PipeClosedError:
            pass  # the tool has given up, as it should

    s = Served(listener, flood)
    r = subprocess.Popen([tool, "connect", name, "-n", "50"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    r.stdout.close()
    try:
        rc = r.wait(20)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    err = r.stderr.read()
    r.stderr.close()
    s.join()
    assert rc == 1 and b"stdout" in err
