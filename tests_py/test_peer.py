"""Who is on the other end: Pipe.peer, same_user, check_path.

The cross-user tests need root: a module fixture creates a second Unix user
with useradd (kipy_<pid>, removed afterwards even when a test fails, and a
sweep removes any left by a killed run), and runs that user's side as a
Python child started with subprocess's user=/group=. They skip with the
reason when not run as root or when useradd is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Iterator, List, NamedTuple

import pytest

import kiwi_ipc

from conftest import PACKAGE_ROOT, WINDOWS


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class _Child:
    """A Python child running `code`, optionally as another user; killed
    and reaped when the test ends."""

    def __init__(self, code: str, *args: str, user: "OtherUser | None" = None):
        kw: dict = {}
        python = sys.executable
        if user is not None:
            kw = dict(user=user.uid, group=user.gid, extra_groups=[])
            python = user.python
        self.popen = subprocess.Popen(
            [python, "-c", code, *args], env=_child_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd="/", **kw)

    def line(self, timeout: float = 20) -> str:
        """The child's next stdout line (bounded)."""
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.popen.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.kill()
            raise AssertionError("child said nothing in %ss: %s"
                                 % (timeout, self.popen.stderr.read()))
        return self.popen.stdout.readline().strip()

    def finish(self, timeout: float = 20) -> str:
        out, err = self.popen.communicate(timeout=timeout)
        assert self.popen.returncode == 0, err
        return out

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.communicate()


@pytest.fixture
def children() -> Iterator[List[_Child]]:
    made: List[_Child] = []
    yield made
    for c in made:
        c.kill()


# -- peer credentials --------------------------------------------------------

CONNECT_AND_REPORT = """
import os, sys, kiwi_ipc
with kiwi_ipc.Pipe.connect(sys.argv[1], timeout=20) as p:
    print(p.peer.pid, p.peer.uid, p.peer.gid, flush=True)
    p.recv(timeout=20)
"""


@pytest.mark.posix_only("the peer's uid and gid (os.geteuid; Windows gives a pipe's peer pid only), a child that takes PYTHONPATH and selectors on its stdout pipe")
def test_peer_of_a_python_peer_process(name, children):
    child = _Child(CONNECT_AND_REPORT, name)
    children.append(child)
    with kiwi_ipc.Pipe.create(name, timeout=20) as pipe:
        assert pipe.peer == kiwi_ipc.Peer(child.popen.pid, os.geteuid(),
                                          os.getegid())
        assert isinstance(pipe.peer, tuple) and pipe.peer.pid == pipe.peer[0]
        # The child sees us.
        assert child.line() == "%d %d %d" % (os.getpid(), os.geteuid(),
                                             os.getegid())
        pipe.send("bye")
    child.finish()


def test_peer_of_an_adopted_kiwi_handle(name):
    with kiwi_ipc.Listener(name) as listener:
        h = kiwi_ipc.connect(name)  # a Kiwi-shaped int handle
        with kiwi_ipc.Pipe(h) as client, listener.accept(timeout=5) as server:
            assert client.peer.pid == server.peer.pid == os.getpid()
            # Windows gives a pipe's peer pid only
            assert client.peer.uid == (None if WINDOWS else os.geteuid())


def test_peer_of_a_closed_pipe_is_value_error(pair):
    server, _ = pair
    server.close()
    with pytest.raises(ValueError):
        server.peer


@pytest.mark.posix_only("directory modes (chmod 0777/01777) around a socket file: a Windows pipe is guarded by its DACL (test_win32.c)")
def test_check_path_and_same_user_refuse_an_open_directory(pipe_dir):
    open_dir = os.path.join(pipe_dir, "open")
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)
    name = os.path.join(open_dir, "p")
    with pytest.raises(kiwi_ipc.IpcPermissionError) as e:
        kiwi_ipc.check_path(name)
    assert "no sticky bit" in str(e.value) and open_dir in str(e.value)
    assert isinstance(e.value, PermissionError)
    assert e.value.errname == "permission"
    with pytest.raises(kiwi_ipc.IpcPermissionError):
        kiwi_ipc.Pipe.connect(name, timeout=0)
    with pytest.raises(kiwi_ipc.IpcPermissionError):
        kiwi_ipc.Pipe.create(name, timeout=0)
    with pytest.raises(kiwi_ipc.IpcPermissionError):
        kiwi_ipc.Listener(name)
    # Opting out, and Kiwi's own calls, do not judge the path.
    with pytest.raises(kiwi_ipc.NoServerError):
        kiwi_ipc.Pipe.connect(name, timeout=0, same_user=False)
    kiwi_ipc.Listener(name, same_user=False).close()
    os.chmod(open_dir, 0o1777)
    kiwi_ipc.check_path(name)
    kiwi_ipc.Listener(name).close()


# -- another user ------------------------------------------------------------


class OtherUser(NamedTuple):
    name: str
    uid: int
    gid: int
    python: str  # an interpreter that user may run


def _reachable_by_others(path: str, mode: int = 0o001) -> bool:
    """Every directory on the way is searchable by any user, and the file
    has `mode` for them (default: executable; root's pyenv under /root
    fails this)."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:i]) or "/").st_mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & mode)


def _python_for_others() -> "str | None":
    """This interpreter, or another of the same version that other users
    can run (it imports the same built extension)."""
    want = "%d.%d" % sys.version_info[:2]
    for exe in (sys.executable, getattr(sys, "_base_executable", ""),
                shutil.which("python" + want) or "",
                "/usr/bin/python" + want):
        if exe and os.path.exists(exe) and _reachable_by_others(exe):
            return exe
    return None


def _run_locked(argv: List[str]) -> int:
    """useradd/userdel fail while another holds /etc/passwd's lock
    (parallel runs do): retry for a while."""
    rc = 1
    for _ in range(100):
        rc = subprocess.run(argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode
        if rc == 0:
            return 0
        time.sleep(0.1)
    return rc


def _sweep_stale_users() -> None:
    import pwd  # POSIX only: imported where the POSIX-only tests need it

    for entry in pwd.getpwall():
        prefix, _, rest = entry.pw_name.partition("_")
        if prefix != "kipy" or not rest.isdigit():
            continue
        try:
            os.kill(int(rest), 0)
        except ProcessLookupError:
            _run_locked(["userdel", "-f", entry.pw_name])
        except PermissionError:
            pass


@pytest.fixture(scope="module")
def other_user() -> Iterator[OtherUser]:
    if os.geteuid() != 0:
        pytest.skip("not running as root: cannot create a second user")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    python = _python_for_others()
    if python is None:
        pytest.skip("no Python %d.%d that another user may run"
                    % sys.version_info[:2])
    package = os.path.join(PACKAGE_ROOT, "kiwi_ipc")
    if not (_reachable_by_others(os.path.join(package, "__init__.py"), 0o004)
            and all(os.stat(d).st_mode & 0o004
                    for d in (PACKAGE_ROOT, package))):
        pytest.skip("the kiwi_ipc under test (%s) is not readable by other "
                    "users" % PACKAGE_ROOT)
    _sweep_stale_users()
    name = "kipy_%d" % os.getpid()
    if _run_locked(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin",
                    name]) != 0:
        pytest.skip("useradd failed to create a test user")
    try:
        import pwd

        entry = pwd.getpwnam(name)
        yield OtherUser(name, entry.pw_uid, entry.pw_gid, python)
    finally:
        _run_locked(["userdel", "-f", name])


@pytest.fixture
def shared_dir() -> Iterator[str]:
    """A private stand-in for /tmp: root's, 1777, reachable by everyone."""
    base = tempfile.mkdtemp(prefix="kipy-share", dir="/tmp")
    os.chmod(base, 0o755)
    share = os.path.join(base, "share")
    os.mkdir(share)
    os.chmod(share, 0o1777)
    try:
        yield share
    finally:
        shutil.rmtree(base, ignore_errors=True)


SQUAT = """
import sys, kiwi_ipc
with kiwi_ipc.Listener(sys.argv[1], same_user=False) as l:
    print("listening", flush=True)
    with l.accept(timeout=20) as p:
        try:
            p.recv_bytes(timeout=20)
            print("got a message", flush=True)
        except kiwi_ipc.PipeClosedError:
            print("nothing", flush=True)
    with l.accept(timeout=20) as p:
        print("second:", p.recv(timeout=20), flush=True)
"""


@pytest.mark.posix_only("a second Unix user (useradd, subprocess user=): Windows users are not made by the tests")
def test_a_squatter_is_refused_before_a_byte_is_sent(other_user, shared_dir,
                                                    children):
    name = os.path.join(shared_dir, "demo")
    squatter = _Child(SQUAT, name, user=other_user)
    children.append(squatter)
    assert squatter.line() == "listening"
    with pytest.raises(kiwi_ipc.IpcPermissionError) as e:
        kiwi_ipc.Pipe.connect(name, timeout=10)
    message = str(e.value)
    assert "the server at %s is run by uid %d" % (name, other_user.uid) \
        in message, message
    assert squatter.line() == "nothing"
    # Kiwi's connect accepts anyone, and says who it reached.
    h = kiwi_ipc.connect(name)
    with kiwi_ipc.Pipe(h) as pipe:
        assert pipe.peer.uid == other_user.uid
        assert pipe.peer.pid == squatter.popen.pid
        pipe.send("kiwi")
        assert squatter.line() == "second: kiwi"
    squatter.finish()


SERVE = """
import sys, kiwi_ipc
print("ready", flush=True)
with kiwi_ipc.Pipe.create(sys.argv[1], timeout=30) as p:
    p.send("served %d" % p.peer.uid)
    p.recv(timeout=20)
"""

OURS = """
import sys, kiwi_ipc
with kiwi_ipc.Pipe.connect(sys.argv[1], timeout=30) as p:
    print(p.recv(timeout=20), flush=True)
    p.send("done")
"""


@pytest.mark.posix_only("a second Unix user (useradd, subprocess user=): Windows users are not made by the tests")
def test_a_same_user_server_refuses_a_stranger_then_serves_ours(
        other_user, shared_dir, children):
    # "Ours" is the test user's: root, the stranger here, can connect
    # through the socket's 0600 where another plain user could not.
    name = os.path.join(shared_dir, "svc")
    server = _Child(SERVE, name, user=other_user)
    children.append(server)
    assert server.line() == "ready"
    deadline = time.monotonic() + 20
    while not os.path.exists(name):
        assert time.monotonic() < deadline, "the server never listened"
        time.sleep(0.01)
    h = kiwi_ipc.connect(name)  # Kiwi's: connects to anyone
    with kiwi_ipc.Pipe(h) as stranger:
        with pytest.raises(kiwi_ipc.PipeClosedError):
            stranger.recv(timeout=10)  # closed at once, unread
    ours = _Child(OURS, name, user=other_user)
    children.append(ours)
    assert ours.line() == "served %d" % other_user.uid
    ours.finish()
    server.finish()
