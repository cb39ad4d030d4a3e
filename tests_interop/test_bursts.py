"""Bursts from every peer language into one kiwi_ipc.wait() loop.

Three clients of one language (the .NET peer, our stand-in for Kiwi, on
Mono and on CoreCLR, included) each send 300 messages back to back and close, into one Python
server that serves all three pipes with kiwi_ipc.wait(). A recv reads up to
64 KiB ahead, so after the first recv on a pipe most of its burst waits
inside the Pipe, where readiness of fileno() cannot see it: a loop that
waits on the descriptors stalls there (before ipc_poll there was no
wait() at all, and the documented selectors loop stalled). wait() must
report every pipe that holds a message, and every message must arrive, in
order, then the clean close.

Runs under the python server's ctest entry (interop_matrix_python) only:
the test process itself is the server.
"""

from __future__ import annotations

import os
import uuid

import pytest

import kiwi_ipc
from conftest import LANGS, require
from test_matrix import START_TIMEOUT, run  # noqa: F401 (the fixture)

MESSAGES = 300
CLIENTS = 3


@pytest.mark.parametrize("sender", LANGS)
def test_wait_serves_bursts(request, run, peers, sender):
    if ("python" not in request.config._kiwi_servers
            or sender not in request.config._kiwi_clients):
        pytest.skip("runs with the python servers (interop_matrix_python, "
                    "and interop_matrix_coreclr_client for CoreCLR)")
    peer = peers[sender]
    require(peer)
    name = "burst-" + uuid.uuid4().hex[:12]
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = run.tmpdir  # the name maps where the peers look
    try:
        with kiwi_ipc.Listener(name) as listener:
            procs = [run.start(peer, "client", name,
                               ["send-close=%d" % MESSAGES], run.tmpdir)
                     for _ in range(CLIENTS)]
            pipes = []
            while len(pipes) < CLIENTS:
                if not kiwi_ipc.wait([listener], timeout=START_TIMEOUT):
                    run.fail("only %d of %d clients came" % (len(pipes),
                                                             CLIENTS))
                pipes.append(listener.accept(timeout=0))
        expect = {p.handle: 1 for p in pipes}
        live = list(pipes)
        while live:
            ready = kiwi_ipc.wait(live, timeout=30)
            if not ready:
                run.fail("wait() stalled with %s" % sorted(
                    "%d of %d" % (expect[p.handle] - 1, MESSAGES)
                    for p in live))
            for p in ready:
                try:
                    m = p.recv(timeout=0)
                except kiwi_ipc.PipeClosedError:
                    assert expect[p.handle] == MESSAGES + 1
                    live.remove(p)
                    p.close()
                    continue
                n = expect[p.handle]
                assert m == "message %d of %d" % (n, MESSAGES)
                expect[p.handle] = n + 1
        run.finish()
        for proc in procs:
            run.check_ok(proc, MESSAGES, 0)
    finally:
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
