"""The tool against the .NET peer, our stand-in for Kiwi (KiwiPeer.cs over
tests_common/KiwiIpc.cs: the System.IO.Pipes calls Kiwi makes). Kiwi's
strings are UTF-8 text, so these vectors are text; the bytes that only
kiwi-ipc can carry are covered in test_binding.py."""

from __future__ import annotations

import os
import time

import pytest

from conftest import wait_for_path

pytestmark = pytest.mark.posix_only(
    "the .NET peer runs on Mono and CoreCLR for Linux; on Windows win_peer.exe stands in (test_cli_win.py)")

TEXT = [
    b"",
    b"ascii",
    b"two\nlines\n",
    "héllo wörld ñ € 日本語".encode(),
    "🥝 kiwi 🐦".encode(),
]


def hx(b: bytes) -> str:
    return b.hex() or "-"


def peer(spawn, dotnet, role, name, *steps):
    p = spawn(dotnet + [role, name] + list(steps))
    p.wait_output(b"READY\n", timeout=60)
    return p


def test_kiwi_server_shell_client(spawn, dotnet, run, name):
    # The Kiwi side creates, receives every vector and answers each one.
    steps = []
    for m in TEXT:
        steps += ["recv", "send:" + hx(m[::-1] if m.isascii() else m)]
    k = peer(spawn, dotnet, "server", name, *steps, "closed")
    args = ["connect", name, "-n", str(len(TEXT)), "--format", "hex", "-t", "60"]
    for m in TEXT:
        args += ["-d", m.decode()]
    r = run(*args, timeout=90)
    assert r.returncode == 0, r.stderr
    assert k.wait(60) == 0, k.stderr
    assert r.stdout.decode().split("\n")[:-1] == [
        (m[::-1] if m.isascii() else m).hex() for m in TEXT]
    assert k.stdout.decode().split("\n").count("CLOSED") == 1
    got = [l[5:] for l in k.stdout.decode().split("\n") if l.startswith("RECV ")]
    assert got == [hx(m) for m in TEXT]


def test_shell_server_kiwi_client_started_first(spawn, dotnet, cli, name):
    # As in Kiwi's reference example: the client is running before create.
    k = peer(spawn, dotnet, "client", name, "send:" + hx(b"ping"), "recv", "closed")
    time.sleep(0.5)
    assert k.p.poll() is None  # still waiting for a server
    srv = cli("create", name, "-n", "1", "-d", "pong", "-t", "60")
    assert srv.wait(60) == 0, srv.stderr
    assert srv.stdout == b"ping\n"
    assert k.wait(60) == 0, k.stderr
    assert "RECV %s" % hx(b"pong") in k.stdout.decode()
    assert not os.path.exists(name)


def test_large_message_both_ways(spawn, dotnet, cli, name):
    unit = "kiwi 🥝 ü\n".encode()  # 2 MB of multi-byte text
    count = 2 * 1024 * 1024 // len(unit)
    k = peer(spawn, dotnet, "client", name, "sendrep:%s:%d" % (unit.hex(), count),
             "recvlen", "closed")
    srv = cli("create", name, "--echo", "-n", "1", "--format", "raw", "-t", "60")
    assert srv.wait(60) == 0, srv.stderr
    assert srv.stdout == unit * count
    assert k.wait(60) == 0, k.stderr
    line = [l for l in k.stdout.decode().split("\n") if l.startswith("RECVLEN")][0]
    total = len(unit) * count
    assert line == "RECVLEN %d %s %s" % (total, (unit * 2)[:8].hex(),
                                        (unit * 2)[-8:].hex())


def test_listen_echo_serves_kiwi_clients(spawn, dotnet, cli, name):
    srv = cli("listen", name, "--echo", "--clients", "2", "-q", "-t", "60")
    wait_for_path(name)
    ks = [peer(spawn, dotnet, "client", name, "send:" + hx(m), "recv")
          for m in (TEXT[3], TEXT[4])]
    for k, m in zip(ks, (TEXT[3], TEXT[4])):
        assert k.wait(60) == 0, k.stderr
        assert "RECV " + hx(m) in k.stdout.decode()
    assert srv.wait(60) == 0, srv.stderr
    assert not os.path.exists(name)


def test_exec_bridge_with_kiwi_client(spawn, dotnet, cli, name):
    srv = cli("create", name, "--exec", "while read l; do echo \"<$l>\"; done",
              "-t", "60")
    k = peer(spawn, dotnet, "client", name, "send:" + hx(b"a"), "recv",
             "send:" + hx("ü".encode()), "recv")
    assert k.wait(60) == 0, k.stderr
    got = [l for l in k.stdout.decode().split("\n") if l.startswith("RECV ")]
    assert got == ["RECV " + hx(b"<a>"), "RECV " + hx("<ü>".encode())]
    assert srv.wait(60) == 0, srv.stderr


def test_kiwi_closes_early_is_exit_4(spawn, dotnet, run, name):
    k = peer(spawn, dotnet, "server", name, "send:" + hx(b"one"))
    r = run("connect", name, "-n", "3", "-t", "60", timeout=90)
    assert r.returncode == 4, r.stderr
    assert r.stdout == b"one\n"
    assert k.wait(60) == 0


def test_kiwi_server_in_use_is_exit_1(spawn, dotnet, run, name):
    k = peer(spawn, dotnet, "server", name, "recv")
    wait_for_path(name)
    time.sleep(0.2)
    r = run("create", name, "-t", "1")
    assert r.returncode == 1
    assert b"in_use" in r.stderr and name.encode() in r.stderr
    # The Kiwi server was left alone and still takes its client.
    r = run("connect", name, "-d", "still there", "-n", "0", "-t", "30")
    assert r.returncode == 0, r.stderr
    assert k.wait(60) == 0
    assert "RECV " + hx(b"still there") in k.stdout.decode()
