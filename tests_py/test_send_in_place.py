"""A bytes-like payload is sent from its own memory, without a copy: with
the build tree's module, and with the abi3 module (built for 3.9) when it
runs on Python 3.11 or later, where the buffer protocol is in the stable ABI
(a run-time check in bindings/python/kiwi_ipc_py.c). Before 3.11
the abi3 module copies a payload that is not bytes once, by design.

The measure is the sender's peak RSS (VmHWM, reset through clear_refs)
while a 256 MiB mmap memoryview goes to a raw socket drained in a thread:
a copy would add 256 MiB."""

from __future__ import annotations

import mmap
import os
import sys
import threading

import pytest

from kiwi_ipc import _kiwi_ipc as _c

MiB = 1 << 20
SIZE = 256 * MiB
ABI3 = ".abi3." in os.path.basename(_c.__file__)
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="VmHWM and clear_refs are Linux's"),
    pytest.mark.skipif(UNDER_ASAN, reason="RSS under AddressSanitizer"),
]


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _drain(conn, total, got):
    buf = bytearray(MiB)
    n = 0
    while n < total:
        k = conn.recv_into(buf)
        if k == 0:
            break
        n += k
    got.append(n)


def _peak_growth_of_send(raw_server, payload) -> float:
    conn, pipe = raw_server
    got = []
    t = threading.Thread(target=_drain, args=(conn, 4 + SIZE, got))
    t.start()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := the current RSS
    before = _peak_rss_mib()
    try:
        pipe.send_bytes(payload, timeout=60)
    finally:
        t.join(60)
    assert got == [4 + SIZE]
    return _peak_rss_mib() - before


@pytest.mark.skipif(ABI3 and sys.version_info < (3, 11),
                    reason="the abi3 module copies before Python 3.11")
@pytest.mark.parametrize("kind", ["memoryview", "mmap", "bytearray"])
def test_big_buffer_is_sent_without_a_copy(raw_server, kind):
    m = mmap.mmap(-1, SIZE)
    m.write(b"k" * SIZE)  # every page is resident before the measure
    payload = {"memoryview": lambda: memoryview(m), "mmap": lambda: m,
               "bytearray": lambda: bytearray(m)}[kind]()
    del m
    grown = _peak_growth_of_send(raw_server, payload)
    assert grown < 64, "peak RSS grew by %.0f MiB sending %d MiB" % (
        grown, SIZE // MiB)
