"""kiwi-ipc and who is on the other end: -v names the peer's
pid, uid and gid; --same-user refuses a path (and a peer) that another
user controls, and without it such a path draws only a warning."""

from __future__ import annotations

import os
import subprocess

import pytest

import kiwi_ipc


@pytest.mark.posix_only("the peer's uid and gid (os.geteuid): on Windows -v shows the pid only")
def test_verbose_names_the_peer(tool, name):
    with kiwi_ipc.Listener(name) as listener:
        proc = subprocess.Popen([tool, "connect", "-v", "-n", "1", "-t", "20",
                                 name], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            with listener.accept(timeout=20) as pipe:
                # We see the tool; the tool sees us.
                assert pipe.peer == kiwi_ipc.Peer(proc.pid, os.geteuid(),
                                                  os.getegid())
                pipe.send("hi")
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert out == "hi\n"
    assert "peer: pid %d, uid %d, gid %d" % (
        os.getpid(), os.geteuid(), os.getegid()) in err, err


@pytest.mark.posix_only("directory modes (chmod) around a socket file: a Windows pipe is guarded by its DACL")
def test_same_user_refuses_an_open_directory(tool, pipe_dir):
    open_dir = os.path.join(pipe_dir, "open")
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)
    name = os.path.join(open_dir, "p")
    run = subprocess.run([tool, "connect", "--same-user", "-t", "0", name],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "no sticky bit" in run.stderr and "[permission]" in run.stderr
    # Kiwi's trust: a warning, then the usual wait (here: none).
    run = subprocess.run([tool, "connect", "-t", "0", name],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr
    assert "warning:" in run.stderr and "--same-user" in run.stderr
    # -q silences the warning, not the error.
    run = subprocess.run([tool, "connect", "-q", "-t", "0", name],
                         capture_output=True, text=True, timeout=60)
    assert "warning:" not in run.stderr and "[no_server]" in run.stderr


def test_same_user_is_not_an_option_of_path(tool, name):
    run = subprocess.run([tool, "path", "--same-user", name],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
