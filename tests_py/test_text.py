"""Round trips of str and bytes: NULs, emoji, 64 MiB; invalid UTF-8 from a
raw peer; lone surrogates; every kind of bytes-like object."""

from __future__ import annotations

import array
import threading

import pytest

import kiwi_ipc
from wire import frame, read_exact, read_frame

TEXTS = [
    "",
    "hello",
    "nul\x00inside\x00",
    "\x00",
    "emoji 😀🎉 and 🏳️‍🌈",
    "ñ 日本語 Ελληνικά",
    "\U0010ffff\u0080\u07ff\u0800\uffff",
    "h\u00e9llo \u2713",
]


@pytest.mark.parametrize("text", TEXTS)
def test_str_round_trip(pair, text):
    server, client = pair
    client.send(text)
    assert server.recv() == text
    server.send(text)
    assert client.recv_bytes() == text.encode("utf-8")


@pytest.mark.parametrize("text", TEXTS)
def test_bytes_round_trip(pair, text):
    server, client = pair
    data = text.encode("utf-8")
    client.send_bytes(data)
    got = server.recv_bytes()
    assert got == data and type(got) is bytes


def test_every_byte_value(pair):
    server, client = pair
    data = bytes(range(256)) * 4
    client.send_bytes(data)
    assert server.recv_bytes() == data


def _send_in_thread(pipe, message):  # type: ignore[no-untyped-def]
    errors = []

    def run() -> None:
        try:
            pipe.send(message)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, errors


def test_64_mib_bytes(pair):
    server, client = pair
    data = bytes(range(251)) * ((64 << 20) // 251) + b"end"
    t, errors = _send_in_thread(client, data)
    got = server.recv_bytes(timeout=60)
    t.join(60)
    assert not errors
    assert len(got) == len(data) and got == data


def test_64_mib_str(pair):
    server, client = pair
    text = "ab€😀" * ((64 << 20) // 9 + 1)  # 9 bytes of UTF-8 per repeat
    assert len(text.encode("utf-8")) >= 64 << 20
    t, errors = _send_in_thread(client, text)
    got = server.recv(timeout=60)
    t.join(60)
    assert not errors
    assert got == text


def test_wire_format_is_big_endian_utf8(raw_server):
    conn, pipe = raw_server
    pipe.send("héllo")
    assert read_exact(conn, 10) == b"\x00\x00\x00\x06h\xc3\xa9llo"
    pipe.send("")
    assert read_exact(conn, 4) == b"\x00\x00\x00\x00"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        b"a\x80b",
        b"cut \xe2\x82",
        b"\xed\xa0\x80 surrogate",
        b"\xc0\xaf overlong",
        b"\xf4\x90\x80\x80 beyond U+10FFFF",
        b"ok \xf0\x9f\x98\x80 then bad \xf0\x9f",
    ],
)
def test_invalid_utf8_becomes_replacement_character(raw_server, raw):
    conn, pipe = raw_server
    conn.sendall(frame(raw) + frame(raw))
    text = pipe.recv()
    assert text == raw.decode("utf-8", "replace")
    assert "\ufffd" in text
    assert pipe.recv_bytes() == raw  # the bytes call is untouched


def test_lone_surrogate_is_refused_and_nothing_is_sent(raw_server):
    conn, pipe = raw_server
    for bad in ("\udc80", "abc\ud800", "\udfff end"):
        with pytest.raises(UnicodeEncodeError):
            pipe.send(bad)
        with pytest.raises(UnicodeEncodeError):
            kiwi_ipc.send(pipe.handle, bad)
    pipe.send("next")
    assert read_frame(conn) == b"next"
    # The bytes behind a surrogate-escaped str can be sent as bytes.
    pipe.send_bytes("\udc80".encode("utf-8", "surrogateescape"))
    assert read_frame(conn) == b"\x80"


def test_bytes_like_objects(pair):
    server, client = pair
    base = bytes(range(100))
    cases = [
        bytearray(base),
        memoryview(base),
        memoryview(base)[10:20],
        memoryview(base)[::3],  # not contiguous: copied once
        array.array("i", [1, 2, 3]),
        memoryview(array.array("d", [1.5, 2.5])),
    ]
    for obj in cases:
        client.send_bytes(obj)
        assert server.recv_bytes() == bytes(obj)
        client.send(obj)
        assert server.recv_bytes() == bytes(obj)


def test_send_keeps_bytearray_exported_until_done(pair):
    server, client = pair
    buf = bytearray(b"x" * 100)
    client.send_bytes(buf)
    buf.extend(b"y")  # the export is released after the call
    assert server.recv_bytes() == b"x" * 100


def test_kiwi_shaped_text_and_bytes(pair):
    server, client = pair
    kiwi_ipc.send(client.handle, "😀\x00")
    assert kiwi_ipc.recv(server.handle) == "😀\x00"
    kiwi_ipc.send(client.handle, b"\xff")
    assert kiwi_ipc.recv(server.handle) == "\ufffd"
    kiwi_ipc.send(client.handle, b"\xff")
    assert kiwi_ipc.recv_bytes(server.handle) == b"\xff"
