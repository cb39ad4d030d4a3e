"""The bounds the man page promises: a send is bounded by -t,
the rest of a message whose send ran out of time part-way included, and
is exit 3 when it runs out; -l ends when the peer closes, whatever -n
says. (--exec's bounds: test_exec.py.)

The time limits below are correctness bounds, not benchmarks: what the
defects took was unbounded (until stdin ends)."""

from __future__ import annotations

import os
import threading
import time

import pytest

import kiwi_ipc

BIG = 64 * 1024 * 1024  # far more than a socket's buffers hold


# ---- -t bounds the whole of a send ---------------------------------------


def test_file_the_peer_does_not_read_is_exit_3(cli, listener, name, pipe_dir):
    # The send runs out of -t part-way (the library then commits the
    # message and keeps its rest): the tool must not exit 0 nor say it
    # sent the bytes, since the peer can only get part of the frame.
    big = os.path.join(pipe_dir, "big")
    with open(big, "wb") as f:
        f.truncate(BIG)
    c = cli("connect", name, "-f", big, "-n", "0", "-t", "1", "-v",
            new_session=True)
    with listener.accept(timeout=20) as p:
        rc = c.wait(15)  # the peer reads nothing meanwhile
        # What the peer then gets: a truncated frame.
        with pytest.raises(kiwi_ipc.ProtocolError):
            p.recv_bytes(timeout=20)
    assert rc == 3, c.stderr
    assert "sent %d bytes" % BIG not in c.stderr
    assert "timed out" in c.stderr, c.stderr


def test_line_the_peer_does_not_read_is_exit_3(cli, listener, name):
    line = b"x" * (16 * 1024 * 1024)
    c = cli("connect", name, "-l", "-n", "0", "-t", "1", "-v",
            stdin=line + b"\n", new_session=True)
    with listener.accept(timeout=20) as p:
        rc = c.wait(15)
        with pytest.raises(kiwi_ipc.ProtocolError):
            p.recv_bytes(timeout=20)
    assert rc == 3, c.stderr
    assert "sent %d bytes" % len(line) not in c.stderr


def test_echo_the_peer_does_not_read_is_exit_3(cli, listener, name):
    msg = b"e" * (16 * 1024 * 1024)
    c = cli("connect", name, "--echo", "-q", "-n", "1", "-t", "1",
            new_session=True)
    with listener.accept(timeout=20) as p:
        sender = threading.Thread(target=p.send_bytes, args=(msg,),
                                  daemon=True)
        sender.start()  # the tool reads it all; its echo is not read
        rc = c.wait(15)
        sender.join(10)
        with pytest.raises(kiwi_ipc.ProtocolError):
            p.recv_bytes(timeout=20)
    assert rc == 3, c.stderr


def test_file_the_peer_reads_late_within_t_arrives_whole(cli, listener, name,
                                                         pipe_dir):
    # The other side of the rule: a peer that starts reading late, but
    # within -t, gets the message whole and the tool exits 0.
    payload = os.urandom(1024) * (8 * 1024)  # 8 MiB
    src = os.path.join(pipe_dir, "src")
    with open(src, "wb") as f:
        f.write(payload)
    c = cli("connect", name, "-f", src, "-n", "0", "-t", "20", "-v",
            new_session=True)
    with listener.accept(timeout=20) as p:
        time.sleep(0.5)
        assert p.recv_bytes(timeout=20) == payload
        assert c.wait(15) == 0, c.stderr
    assert "sent %d bytes" % len(payload) in c.stderr


# ---- -l ends when the peer closes ----------------------------------------


@pytest.mark.parametrize("count, unread", [("0", False), ("1", False),
                                           ("0", True)],
                         ids=["n0", "n1", "n0-unread-message"])
def test_lines_end_when_the_peer_closes(cli, listener, name, count, unread):
    # stdin stays open: the peer's close alone must end the run, with -n
    # 0 (no receive at all) as after -n messages, and behind a message of
    # the peer's that nobody reads.
    c = cli("connect", name, "-l", "-n", count, keep_stdin_open=True,
            new_session=True)
    with listener.accept(timeout=20) as p:
        c.write(b"one\n")
        assert p.recv_bytes(timeout=10) == b"one"
        if count == "1":
            p.send_bytes(b"reply")
            c.wait_output(b"reply\n")
        if unread:
            p.send_bytes(b"never read")
    # Closed. Was noticed only at the next line of stdin (never, here).
    assert c.wait(5) == 0, c.stderr
    assert c.stdout == (b"reply\n" if count == "1" else b"")
