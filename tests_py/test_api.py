"""The API surface: the Kiwi-shaped calls, Pipe and Listener, path(),
__version__, the package layout and its type stubs."""

from __future__ import annotations

import ast
import gc
import inspect
import os
import pathlib
import re
import select
import socket
import threading

import pytest

import kiwi_ipc
from kiwi_ipc import _kiwi_ipc as _c

from conftest import WINDOWS
from kiwi_pytest import VECTORS

PACKAGE_DIR = pathlib.Path(kiwi_ipc.__file__).parent


# -- version, path ---------------------------------------------------------


def test_version_comes_from_the_c_library():
    assert kiwi_ipc.__version__ == _c.ipc_version() == _c.KIWI_IPC_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", kiwi_ipc.__version__)


def test_max_message():
    assert kiwi_ipc.MAX_MESSAGE == 2**31 - 1


@pytest.mark.posix_only("the name is a socket file (a path, TMPDIR, CoreFxPipe_); a Windows pipe name is no file")
def test_path_of_a_relative_name(monkeypatch):
    monkeypatch.delenv("TMPDIR", raising=False)
    assert kiwi_ipc.path("demo") == "/tmp/CoreFxPipe_demo"
    monkeypatch.setenv("TMPDIR", "")
    assert kiwi_ipc.path("demo") == "/tmp/CoreFxPipe_demo"
    monkeypatch.setenv("TMPDIR", "/var/tmp")
    assert kiwi_ipc.path("demo") == "/var/tmp/CoreFxPipe_demo"
    monkeypatch.setenv("TMPDIR", "/var/tmp/")
    assert kiwi_ipc.path("dé mo") == "/var/tmp/CoreFxPipe_dé mo"


@pytest.mark.posix_only("the name is a socket file (a path, TMPDIR, CoreFxPipe_); a Windows pipe name is no file")
def test_path_of_an_absolute_name():
    assert kiwi_ipc.path("/run/x.sock") == "/run/x.sock"
    assert kiwi_ipc.path(b"/run/x.sock") == "/run/x.sock"
    assert kiwi_ipc.path(pathlib.Path("/run/x.sock")) == "/run/x.sock"
    longest = "/" + "x" * 106  # 107 bytes and the NUL fill sun_path
    assert kiwi_ipc.path(longest) == longest
    with pytest.raises(kiwi_ipc.InvalidArgumentError):
        kiwi_ipc.path(longest + "x")


@pytest.mark.posix_only("the name is a socket file (a path, TMPDIR, CoreFxPipe_); a Windows pipe name is no file")
def test_path_is_the_socket_the_listener_binds(name):
    with kiwi_ipc.Listener(pathlib.Path(name)) as listener:
        assert listener.path == kiwi_ipc.path(name) == name
        assert os.path.exists(name)
        assert listener.handle > 0
        assert not listener.closed
        assert "Listener" in repr(listener)
    assert listener.closed
    assert not os.path.exists(name)


@pytest.mark.posix_only("the name is a socket file (a path, TMPDIR, CoreFxPipe_); a Windows pipe name is no file")
def test_relative_names_work_end_to_end(monkeypatch, pipe_dir):
    monkeypatch.setenv("TMPDIR", pipe_dir)
    with kiwi_ipc.Listener("rel") as listener:
        assert listener.path == os.path.join(pipe_dir, "CoreFxPipe_rel")
        with kiwi_ipc.Pipe.connect("rel", timeout=5) as client:
            with listener.accept(timeout=5) as server:
                client.send("hi")
                assert server.recv() == "hi"


# -- the Kiwi-shaped calls ---------------------------------------------------


def test_kiwi_shaped_calls_in_one_process(name):
    server_handle = []
    t = threading.Thread(target=lambda: server_handle.append(kiwi_ipc.create(name)))
    t.start()
    h = kiwi_ipc.connect(name)
    t.join(10)
    (s,) = server_handle
    assert isinstance(h, int) and isinstance(s, int) and h > 0 and s > 0
    kiwi_ipc.send(h, "ping")
    assert kiwi_ipc.recv(s) == "ping"
    kiwi_ipc.send(s, b"pong")
    assert kiwi_ipc.recv(h) == "pong"
    kiwi_ipc.close(h)
    with pytest.raises(kiwi_ipc.PipeClosedError):
        kiwi_ipc.recv(s)
    kiwi_ipc.close(s)
    kiwi_ipc.close(s)  # twice: harmless
    assert not os.path.exists(name)  # create stopped listening


def test_kiwi_shaped_calls_across_processes(name, spawn):
    peer = spawn("kiwi-client", name)
    h = kiwi_ipc.create(name)
    kiwi_ipc.send(h, "x")
    assert kiwi_ipc.recv(h) == "ping x"
    peer.expect("done")
    with pytest.raises(kiwi_ipc.PipeClosedError):
        kiwi_ipc.recv(h)
    kiwi_ipc.close(h)
    assert peer.finish() == 0


def test_close_of_unknown_handles_is_harmless():
    for h in (0, -1, 10**6, 2**31 - 1, 2**70, -(2**70)):
        kiwi_ipc.close(h)


def test_handles_are_never_reused(name):
    seen = set()
    for _ in range(5):
        with kiwi_ipc.Listener(name) as listener:
            seen.add(listener.handle)
    assert len(seen) == 5


# -- Pipe ------------------------------------------------------------------


def test_pipe_create_and_connect(name):
    result = []
    t = threading.Thread(
        target=lambda: result.append(kiwi_ipc.Pipe.create(name, timeout=10)))
    t.start()
    client = kiwi_ipc.Pipe.connect(name, timeout=10)
    t.join(10)
    (server,) = result
    with server, client:
        client.send("a")
        server.send("b")
        assert server.recv() == "a"
        assert client.recv() == "b"
    assert server.closed and client.closed


def test_create_timeout_leaves_nothing(name):
    with pytest.raises(kiwi_ipc.IpcTimeoutError):
        kiwi_ipc.Pipe.create(name, timeout=0.1)
    assert not os.path.exists(name)


@pytest.mark.posix_only("a stale socket file; a Windows named pipe leaves nothing behind to reclaim")
def test_create_reclaims_a_stale_socket(name):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(name)  # bound, never listening: what a crash leaves
    stale.close()
    assert os.path.exists(name)
    with kiwi_ipc.Listener(name):
        with kiwi_ipc.Pipe.connect(name, timeout=5):
            pass


@pytest.mark.parametrize("server_first", [True, False])
def test_start_orders_and_vectors(name, server_first):
    """kiwi_pytest.VECTORS through a Pipe.create server that echoes them,
    the server started first and last."""
    import time

    box = {}

    def serve() -> None:
        with kiwi_ipc.Pipe.create(name, timeout=10) as s:
            for _ in VECTORS:
                s.send_bytes(s.recv_bytes(timeout=10), timeout=10)

    def client() -> None:
        box["c"] = kiwi_ipc.Pipe.connect(name, timeout=10)

    if server_first:
        t = threading.Thread(target=serve)
        t.start()
        time.sleep(0.2)
        client()
    else:
        c = threading.Thread(target=client)
        c.start()
        time.sleep(0.3)
        t = threading.Thread(target=serve)
        t.start()
        c.join(10)
    with box["c"] as c:
        for v in VECTORS:
            c.send_bytes(v, timeout=10)
            assert c.recv_bytes(timeout=10) == v
        with pytest.raises(kiwi_ipc.PipeClosedError):
            c.recv_bytes(timeout=5)
    t.join(10)
    assert not t.is_alive()


def test_connect_waits_for_a_late_server(name):
    def serve_later() -> None:
        import time

        time.sleep(0.3)
        with kiwi_ipc.Pipe.create(name, timeout=10) as server:
            server.send("late")

    t = threading.Thread(target=serve_later)
    t.start()
    with kiwi_ipc.Pipe.connect(name) as client:
        assert client.recv() == "late"
    t.join(10)


def test_pipe_adopts_a_handle(name):
    with kiwi_ipc.Listener(name) as listener:
        h = kiwi_ipc.connect(name)
        with kiwi_ipc.Pipe(h) as client, listener.accept(timeout=5) as server:
            assert client.handle == h
            server.send("adopted")
            assert client.recv() == "adopted"
    with pytest.raises(kiwi_ipc.BadHandleError):
        kiwi_ipc.send(h, "closed by the Pipe")


def test_pipe_state_and_idempotent_close(pair):
    server, client = pair
    assert not client.closed
    h = client.handle
    assert isinstance(h, int) and h > 0
    assert "open" in repr(client)
    client.close()
    client.close()
    assert client.closed
    assert client.handle == h
    assert "closed" in repr(client)


def test_context_manager_closes_on_error(pair):
    _, client = pair
    with pytest.raises(RuntimeError):
        with client:
            raise RuntimeError("boom")
    assert client.closed


def test_iteration_until_the_peer_closes(pair):
    server, client = pair
    for m in ("a", "", "c😀"):
        client.send(m)
    client.close()
    assert list(server) == ["a", "", "c😀"]
    assert iter(server) is server


@pytest.mark.posix_only("select() on fileno(); a Windows named pipe has no file descriptor (test_listener_accept_timeout, test_python_win.py)")
def test_fileno_is_ready_for_select(pair):
    server, client = pair
    fd = server.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert select.select([fd], [], [], 0)[0] == []
    client.send("x")
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert server.recv() == "x"


def test_set_max_message(pair):
    server, client = pair
    server.set_max_message(3)
    client.send("four")
    client.send("ok")
    with pytest.raises(kiwi_ipc.MessageTooBigError):
        server.recv()
    assert server.recv() == "ok"
    kiwi_ipc.set_max_message(server.handle, kiwi_ipc.MAX_MESSAGE)
    client.send("four")
    assert server.recv() == "four"


def test_send_with_timeout(pair):
    server, client = pair
    client.send("quick", timeout=1)
    client.send_bytes(b"quick", timeout=0)
    assert server.recv(timeout=1) == "quick"
    assert server.recv_bytes(timeout=1) == b"quick"


def test_an_unclosed_pipe_warns_and_closes(pair):
    server, client = pair
    h = client.handle
    orphan = kiwi_ipc.Pipe(h)
    client._handle = None  # hand the handle over to the orphan
    with pytest.warns(ResourceWarning):
        del orphan
        gc.collect()
    with pytest.raises(kiwi_ipc.BadHandleError):
        kiwi_ipc.send(h, "x")


# -- Listener --------------------------------------------------------------


@pytest.mark.posix_only("clients queued before accept: a Windows listener keeps one instance ready, so a second connect waits for accept (docs/guides/platforms.md)")
def test_listener_serves_many_clients(name):
    with kiwi_ipc.Listener(name) as listener:
        clients = [kiwi_ipc.Pipe.connect(name, timeout=5) for _ in range(5)]
        servers = [listener.accept(timeout=5) for _ in range(5)]
        try:
            for i, c in enumerate(clients):
                c.send(str(i))
            assert sorted(s.recv() for s in servers) == [str(i) for i in range(5)]
        finally:
            for p in clients + servers:
                p.close()


def test_listener_accepts_several(name):
    """Clients that connect on threads of their own, before and while the
    Listener accepts: every one is served (on Windows, where a listener
    keeps one instance ready, the others wait in connect)."""
    results = []

    def client(i: int) -> None:
        with kiwi_ipc.Pipe.connect(name, timeout=10) as p:
            p.send("client %d" % i)
            results.append(p.recv(timeout=10))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    with kiwi_ipc.Listener(name) as listener:
        for _ in ts:
            with listener.accept(timeout=10) as p:
                p.send("ack " + p.recv(timeout=10))
    for t in ts:
        t.join(10)
    assert sorted(results) == ["ack client %d" % i for i in range(4)]


def test_listener_accept_timeout(name):
    with kiwi_ipc.Listener(name) as listener:
        with pytest.raises(TimeoutError):
            listener.accept(timeout=0.05)
        with pytest.raises(kiwi_ipc.IpcTimeoutError):
            listener.accept(timeout=0)
        if WINDOWS:  # no file descriptor: ERROR_NOT_SUPPORTED
            with pytest.raises(kiwi_ipc.IpcError) as e:
                listener.fileno()
            assert e.value.errno == 50
        else:
            assert isinstance(listener.fileno(), int)
    listener.close()  # idempotent


def test_echo_peer_process(name, spawn):
    with kiwi_ipc.Listener(name) as listener:
        peer = spawn("echo", name)
        with listener.accept(timeout=15) as pipe:
            for m in ("one", "", "three ☃", "x" * 100_000):
                pipe.send(m)
                assert pipe.recv(timeout=15) == m
        peer.expect("done")
    assert peer.finish() == 0


# -- the package -----------------------------------------------------------


def test_private_module_lives_in_the_package():
    assert _c.__name__ == "kiwi_ipc._kiwi_ipc"
    assert pathlib.Path(_c.__file__).parent == PACKAGE_DIR


def test_typing_files_ship():
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "__init__.pyi").is_file()


def _stub():
    return ast.parse((PACKAGE_DIR / "__init__.pyi").read_text())


def _stub_all(tree) -> list:
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
            return ast.literal_eval(node.value)
    raise AssertionError("no __all__ in the stub")


def test_stub_names_match_the_runtime():
    tree = _stub()
    assert sorted(_stub_all(tree)) == sorted(kiwi_ipc.__all__)
    for name in kiwi_ipc.__all__:
        assert hasattr(kiwi_ipc, name), name


def _params(args: ast.arguments) -> list:
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")]


def test_stub_signatures_match_the_runtime():
    for node in _stub().body:
        if isinstance(node, ast.FunctionDef):
            runtime = inspect.signature(getattr(kiwi_ipc, node.name))
            assert _params(node.args) == list(runtime.parameters), node.name
        elif isinstance(node, ast.ClassDef):
            cls = getattr(kiwi_ipc, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    attr = inspect.getattr_static(cls, item.name)
                    if isinstance(attr, property):
                        continue
                    fn = getattr(cls, item.name)
                    params = [p for p in inspect.signature(fn).parameters
                              if p not in ("self", "cls")]
                    assert _params(item.args) == params, (node.name, item.name)


def test_everything_public_has_a_docstring():
    for name in kiwi_ipc.__all__:
        obj = getattr(kiwi_ipc, name)
        if callable(obj):
            assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if not attr.startswith("_") and (callable(value) or isinstance(
                        value, (property, classmethod))):
                    assert inspect.getdoc(getattr(obj, attr)), (name, attr)
    assert kiwi_ipc.__doc__


def test_timeouts_are_seconds_rounded_up_to_milliseconds():
    from decimal import Decimal

    from kiwi_ipc._pipe import _timeout_ms

    assert _timeout_ms(None) == _c.IPC_FOREVER
    assert _timeout_ms(float("inf")) == _c.IPC_FOREVER
    assert _timeout_ms(0) == 0
    assert _timeout_ms(0.0) == 0
    assert _timeout_ms(0.0001) == 1  # never "do not wait" by rounding
    assert _timeout_ms(1.5) == 1500
    assert _timeout_ms(2) == 2000
    assert _timeout_ms(Decimal("0.25")) == 250
    assert _timeout_ms(1e12) == 2**31 - 1
