"""Batches reach the .NET peer (our stand-in for Kiwi, on Mono and on
CoreCLR) as single frames: a Python server sends 300 messages
with Pipe.send_many() in batches of several sizes, and the .NET client
must receive every one as its own message, in order, then the clean
close.

Runs under the python server's ctest entry (interop_matrix_python, and
interop_matrix_coreclr_client for CoreCLR) only: the test process itself
is the server.
"""

from __future__ import annotations

import os
import uuid

import pytest

import kiwi_ipc
from conftest import DOTNET, require
from test_matrix import START_TIMEOUT, run  # noqa: F401 (the fixture)

MESSAGES = 300
BATCHES = [1, 7, 100, 192]  # adds up to MESSAGES


@pytest.mark.parametrize("runtime", DOTNET)
def test_dotnet_receives_each_message_of_a_batch(request, run, peers,
                                                 runtime):
    if ("python" not in request.config._kiwi_servers
            or runtime not in request.config._kiwi_clients):
        pytest.skip("runs with the python servers (interop_matrix_python, "
                    "and interop_matrix_coreclr_client for CoreCLR)")
    peer = peers[runtime]
    require(peer)
    name = "batch-" + uuid.uuid4().hex[:12]
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = run.tmpdir  # the name maps where the peer looks
    try:
        with kiwi_ipc.Listener(name) as listener:
            proc = run.start(peer, "client", name,
                             ["recv-close=%d" % MESSAGES], run.tmpdir)
            pipe = listener.accept(timeout=START_TIMEOUT)
        messages = ["message %d of %d" % (i, MESSAGES)
                    for i in range(1, MESSAGES + 1)]
        at = 0
        with pipe:
            for size in BATCHES:
                batch = messages[at:at + size]
                assert pipe.send_many(batch, timeout=30) == len(batch)
                at += size
        assert at == MESSAGES
        run.finish()
        run.check_ok(proc, 0, MESSAGES, closed=True)
    finally:
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
