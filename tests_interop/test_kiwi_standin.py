"""The stand-in for Kiwi (tests_common/KiwiIpc.cs) fails as Kiwi's ipc package
does, on Mono and on CoreCLR: a raw socket plays a hostile
client of the .NET server, and the server's error must be Kiwi's
SystemError text, word for word, on handle 1 (Kiwi's first handle):

- a negative length: Kiwi allocates new byte[length], which throws
  OverflowException ("Arithmetic operation resulted in an overflow.") on
  CoreCLR; the same code on Mono throws OutOfMemoryException;
- the end of the stream in the middle of a message: "Pipe closed
  unexpectedly." (Kiwi says the same at a message boundary).

Runs for each runtime with its server pairs (interop_matrix_mono,
interop_matrix_coreclr_server).
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from test_matrix import START_TIMEOUT, run  # noqa: F401 (the fixture)


OVERFLOW = "Arithmetic operation resulted in an overflow."
# Mono 6.8 throws OutOfMemoryException for a negative array size where
# CoreCLR (and so Kiwi) throws OverflowException.
MONO_OVERFLOW = ("Insufficient memory to continue the execution of the "
                 "program.")
EOF_TEXT = "Pipe closed unexpectedly."


@pytest.mark.parametrize("sent,error", [
    (b"\xff\xff\xff\xfe", OVERFLOW),
    (b"\x00\x00\x00\x0aabc", EOF_TEXT),
], ids=["negative-length", "end-mid-message"])
def test_recv_error_is_kiwis(run, dotnet, sent, error):
    path = os.path.join(run.root, "s")
    srv = run.start(dotnet, "server", path, ["recv-close=1"], run.tmpdir)
    run.wait_socket(srv, path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        # The file appears at bind(), a moment before listen(): retry, as
        # every client (ours, .NET's) does.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                s.connect(path)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        s.sendall(sent)
    srv.popen.wait(START_TIMEOUT)
    assert srv.popen.returncode == 1, srv.describe()
    if dotnet.lang == "mono" and error == OVERFLOW:
        error = MONO_OVERFLOW
    want = "KiwiStandIn.KiwiError: Failed to receive on IPC handle 1: " + error
    assert want in srv.errors(), srv.describe()
