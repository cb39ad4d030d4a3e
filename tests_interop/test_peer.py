"""Peer credentials with the .NET peer: Pipe.peer names the .NET
process at the other end (on Mono, and on CoreCLR, Kiwi's own runtime),
whichever end .NET is, and a same-user Pipe (the default) talks to a .NET
peer run by our own user.

Runs for each runtime with its server pairs (interop_matrix_mono,
interop_matrix_coreclr_server, or a plain pytest run), not once per server
language.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

import kiwi_ipc

from conftest import DOTNET, HERE, require

VECTORS = os.environ.get("KIWI_INTEROP_VECTORS") or os.path.join(HERE, "vectors.txt")


@pytest.fixture(params=DOTNET)
def dotnet(request, peers):
    runtime = request.param
    if runtime not in request.config._kiwi_servers:
        pytest.skip("runs with --servers=%s" % runtime)
    peer = peers[runtime]
    require(peer)
    return peer


@pytest.fixture
def name() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="kipeer", dir="/tmp")
    try:
        yield os.path.join(d, "p")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _start(peer, role: str, name: str, *options: str) -> subprocess.Popen:
    return subprocess.Popen(peer.argv + [role, name, VECTORS, *options],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, "%s\n%s" % (out, err)


def test_peer_of_a_dotnet_client_is_its_pid(dotnet, name):
    proc = _start(dotnet, "client", name, "send-close=2")
    try:
        with kiwi_ipc.Pipe.create(name, timeout=60) as pipe:
            assert pipe.peer == kiwi_ipc.Peer(proc.pid, os.geteuid(),
                                              os.getegid())
            assert pipe.recv(timeout=30) == "message 1 of 2"
            assert pipe.recv(timeout=30) == "message 2 of 2"
            with pytest.raises(kiwi_ipc.PipeClosedError):
                pipe.recv(timeout=30)
    finally:
        _finish(proc)


def test_peer_of_a_dotnet_server_is_its_pid(dotnet, name):
    proc = _start(dotnet, "server", name, "send-close=1")
    try:
        with kiwi_ipc.Pipe.connect(name, timeout=60) as pipe:
            assert pipe.peer == kiwi_ipc.Peer(proc.pid, os.geteuid(),
                                              os.getegid())
            assert pipe.recv(timeout=30) == "message 1 of 1"
    finally:
        _finish(proc)
