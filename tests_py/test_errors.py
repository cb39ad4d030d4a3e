"""The exception hierarchy, every error status from a real failure, and the
argument checks."""

from __future__ import annotations

import errno
import math
import os
import pickle
import threading

import pytest

import kiwi_ipc
from kiwi_ipc import _kiwi_ipc as _c
from conftest import WINDOWS
from wire import frame

HIERARCHY = [
    # class, C status, built-in base(s) besides OSError
    (kiwi_ipc.InvalidArgumentError, _c.IPC_EINVAL, ValueError),
    (kiwi_ipc.BadHandleError, _c.IPC_EBADHANDLE, ValueError),
    (kiwi_ipc.IpcTimeoutError, _c.IPC_ETIMEDOUT, TimeoutError),
    (kiwi_ipc.PipeClosedError, _c.IPC_ECLOSED, ConnectionError),
    (kiwi_ipc.ProtocolError, _c.IPC_EPROTO, None),
    (kiwi_ipc.NameInUseError, _c.IPC_EINUSE, FileExistsError),
    (kiwi_ipc.NoServerError, _c.IPC_ENOSERVER, ConnectionRefusedError),
    (kiwi_ipc.MessageTooBigError, _c.IPC_ETOOBIG, None),
    (kiwi_ipc.IpcMemoryError, _c.IPC_ENOMEM, MemoryError),
]


@pytest.mark.parametrize("cls,code,builtin", HIERARCHY)
def test_class_hierarchy(cls, code, builtin):
    assert issubclass(cls, kiwi_ipc.IpcError)
    assert issubclass(cls, OSError)
    if builtin is not None:
        assert issubclass(cls, builtin)
    exc = cls(code, "the detail", 0)
    assert isinstance(exc, OSError)
    assert exc.code == code
    assert exc.errname == _c.ipc_errname(code)
    assert str(exc) == exc.message == "the detail"
    assert exc.errno is None
    with pytest.raises(builtin or kiwi_ipc.IpcError):
        raise exc
    # The factory the C wrapper uses picks the same class.
    from kiwi_ipc._errors import _from_status

    assert type(_from_status(code, "x", 0)) is cls


def test_ipc_error_is_the_root():
    assert issubclass(kiwi_ipc.IpcError, OSError)
    exc = kiwi_ipc.IpcError(_c.IPC_ESYSTEM, "bind failed", errno.EACCES)
    assert exc.errno == errno.EACCES
    assert exc.errname == "system"
    assert str(exc) == "bind failed"


@pytest.mark.parametrize("cls,code,builtin", HIERARCHY)
def test_exceptions_pickle(cls, code, builtin):
    exc = cls(code, "detail", 5)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls
    assert (back.code, back.message, back.errno) == (code, "detail", 5)


def test_exception_classes_are_public_names():
    for cls, _, _ in HIERARCHY:
        assert getattr(kiwi_ipc, cls.__name__) is cls
        assert cls.__module__ == "kiwi_ipc"
        assert cls.__doc__


# Every status, from a real failure.


def test_timeout(pair):
    server, _ = pair
    with pytest.raises(TimeoutError) as info:
        server.recv(timeout=0.05)
    assert type(info.value) is kiwi_ipc.IpcTimeoutError
    assert info.value.code == _c.IPC_ETIMEDOUT
    assert info.value.message  # the C library's detailed message


def test_peer_closed(pair):
    server, client = pair
    client.close()
    with pytest.raises(ConnectionError) as info:
        server.recv()
    assert type(info.value) is kiwi_ipc.PipeClosedError
    assert info.value.code == _c.IPC_ECLOSED
    with pytest.raises(kiwi_ipc.PipeClosedError):
        server.send("anyone?")


def test_name_in_use(name):
    with kiwi_ipc.Listener(name):
        with pytest.raises(FileExistsError) as info:
            kiwi_ipc.Listener(name)
        assert type(info.value) is kiwi_ipc.NameInUseError
        assert name in str(info.value)
        with pytest.raises(kiwi_ipc.NameInUseError):
            kiwi_ipc.Pipe.create(name, timeout=0)
        with pytest.raises(kiwi_ipc.NameInUseError):  # refused, not waited
            kiwi_ipc.Pipe.create(name, timeout=0.1)


@pytest.mark.posix_only("a regular file where the socket would be; a Windows pipe name is no file")
def test_not_a_socket_is_in_use_and_left_alone(name):
    with open(name, "w") as f:
        f.write("precious")
    with pytest.raises(kiwi_ipc.NameInUseError):
        kiwi_ipc.Listener(name)
    with open(name) as f:
        assert f.read() == "precious"


def test_no_server(name):
    with pytest.raises(ConnectionRefusedError) as info:
        kiwi_ipc.Pipe.connect(name, timeout=0)
    assert type(info.value) is kiwi_ipc.NoServerError
    assert info.value.code == _c.IPC_ENOSERVER
    assert name in str(info.value)


def test_protocol_error_breaks_the_pipe(raw_server):
    conn, pipe = raw_server
    conn.sendall(b"\xff\xff\xff\xfe")  # length -2
    with pytest.raises(kiwi_ipc.ProtocolError) as info:
        pipe.recv()
    assert info.value.code == _c.IPC_EPROTO
    assert not isinstance(info.value, ConnectionError)
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.recv_bytes(timeout=0)
    with pytest.raises(kiwi_ipc.ProtocolError):
        pipe.send("x")


def test_message_too_big_is_skipped(raw_server):
    conn, pipe = raw_server
    pipe.set_max_message(10)
    conn.sendall(frame(b"x" * 11) + frame(b"y" * 10))
    with pytest.raises(kiwi_ipc.MessageTooBigError) as info:
        pipe.recv()
    assert info.value.code == _c.IPC_ETOOBIG
    assert pipe.recv() == "y" * 10


def test_invalid_argument():
    # Refused on both OSes, then by the OS's own rules: on POSIX a relative
    # name with a "/", a directory, a path past sun_path; on Windows a
    # name out of \\.\pipe\ or normalizing to "anonymous".
    own = ([r"..\COM1", r"x\..\anonymous", "ANONYMOUS."] if WINDOWS
           else ["a/b", "/tmp/dir/", "/" + "x" * 107])
    for bad in ["", "anonymous", "AnOnYmOuS"] + own:
        with pytest.raises(ValueError) as info:
            kiwi_ipc.path(bad)
        assert type(info.value) is kiwi_ipc.InvalidArgumentError, bad
        assert info.value.code == _c.IPC_EINVAL
    with pytest.raises(kiwi_ipc.InvalidArgumentError):
        kiwi_ipc.Listener("anonymous")
    with pytest.raises(kiwi_ipc.InvalidArgumentError):
        kiwi_ipc.Pipe.connect("", timeout=0)


def test_bad_handle(name):
    unknown = 10**6
    for call in (lambda: kiwi_ipc.send(unknown, "x"),
                 lambda: kiwi_ipc.recv(unknown),
                 lambda: kiwi_ipc.recv_bytes(unknown),
                 lambda: kiwi_ipc.set_max_message(unknown, 5),
                 lambda: kiwi_ipc.send(2**70, "x")):
        with pytest.raises(ValueError) as info:
            call()
        assert type(info.value) is kiwi_ipc.BadHandleError
        assert info.value.code == _c.IPC_EBADHANDLE
    with kiwi_ipc.Listener(name) as listener:  # a listener is not a pipe
        with pytest.raises(kiwi_ipc.BadHandleError):
            kiwi_ipc.send(listener.handle, "x")
        with pytest.raises(kiwi_ipc.BadHandleError):
            kiwi_ipc.recv(listener.handle)


@pytest.mark.posix_only("a socket path in a missing directory is ENOENT; a Windows pipe name has no directories to miss")
def test_system_error_carries_errno(pipe_dir):
    missing_dir = os.path.join(pipe_dir, "no", "such", "dir")
    with pytest.raises(kiwi_ipc.IpcError) as info:
        kiwi_ipc.Listener(os.path.join(missing_dir, "p"))
    exc = info.value
    assert type(exc) is kiwi_ipc.IpcError
    assert exc.code == _c.IPC_ESYSTEM
    assert exc.errno == errno.ENOENT
    assert missing_dir in str(exc)


def test_error_messages_stay_with_their_thread(new_name):
    """ipc_last_error() is per thread; with the GIL released around calls,
    each thread must still see the message of its own failure."""
    names = [new_name() for _ in range(4)]
    failures = []

    def worker(name: str) -> None:
        for _ in range(200):
            try:
                kiwi_ipc.Pipe.connect(name, timeout=0)
            except kiwi_ipc.NoServerError as exc:
                if name not in str(exc):
                    failures.append((name, str(exc)))
            try:
                kiwi_ipc.path(name + "/")
            except kiwi_ipc.InvalidArgumentError as exc:
                if name not in str(exc):
                    failures.append((name, str(exc)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures


# Bad arguments raised by the binding itself.


def test_bad_timeouts(pair):
    server, _ = pair
    for bad in (-0.001, -1, float("-inf"), math.nan):
        with pytest.raises(ValueError):
            server.recv(timeout=bad)
    for bad in ("1", b"1", [1], object()):
        with pytest.raises(TypeError):
            server.recv(timeout=bad)


def test_huge_timeout_is_capped(pair):
    server, client = pair
    client.send("x")
    assert server.recv(timeout=1e12) == "x"
    client.send("y")
    assert server.recv(timeout=math.inf) == "y"


def test_bad_names():
    with pytest.raises(ValueError):
        kiwi_ipc.path("a\0b")
    with pytest.raises(ValueError):
        kiwi_ipc.Pipe.connect("/tmp/x\0y", timeout=0)
    for bad in (None, 12, 1.5, ["x"]):
        with pytest.raises(TypeError):
            kiwi_ipc.path(bad)
        with pytest.raises(TypeError):
            kiwi_ipc.Listener(bad)


def test_bad_handles_types():
    for bad in ("1", 1.0, None):
        with pytest.raises(TypeError):
            kiwi_ipc.send(bad, "x")
        with pytest.raises(TypeError):
            kiwi_ipc.recv(bad)
        with pytest.raises(TypeError):
            kiwi_ipc.close(bad)
        with pytest.raises(TypeError):
            kiwi_ipc.Pipe(bad)


def test_bad_messages(pair):
    server, client = pair
    for bad in (None, 42, 1.5, ["x"], object()):
        with pytest.raises(TypeError):
            client.send(bad)
        with pytest.raises(TypeError):
            kiwi_ipc.send(client.handle, bad)
    with pytest.raises(TypeError):
        client.send_bytes("text is not bytes")
    client.send("still fine")
    assert server.recv() == "still fine"


def test_bad_max_message(pair):
    server, _ = pair
    for bad in (-1, kiwi_ipc.MAX_MESSAGE + 1, 2**70):
        with pytest.raises(ValueError):
            server.set_max_message(bad)
    with pytest.raises(TypeError):
        server.set_max_message("10")


def test_closed_pipe_raises_value_error(pair):
    server, client = pair
    client.close()
    calls = [
        lambda: client.send("x"),
        lambda: client.send_bytes(b"x"),
        lambda: client.recv(),
        lambda: client.recv_bytes(timeout=0),
        lambda: client.fileno(),
        lambda: client.set_max_message(5),
        lambda: next(client),
        lambda: client.__enter__(),
    ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        assert "closed" in str(info.value)


def test_closed_listener_raises_value_error(name):
    listener = kiwi_ipc.Listener(name)
    listener.close()
    for call in (listener.accept, listener.fileno, listener.__enter__):
        with pytest.raises(ValueError):
            call()
