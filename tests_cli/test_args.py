"""The command line itself: path, --help, --version, the man page, and
every usage error (exit status 2, a clear message, nothing on stdout)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import kiwi_ipc

from conftest import MAN_PAGE, WINDOWS


@pytest.mark.posix_only("TMPDIR, CoreFxPipe_ and absolute socket paths; Windows' \\\\.\\pipe\\ mapping: test_cli_win.py")
def test_path_maps_like_dotnet(run):
    env = dict(os.environ)
    env.pop("TMPDIR", None)
    r = run("path", "demo", env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"/tmp/CoreFxPipe_demo\n", b"")
    env["TMPDIR"] = "/var/tmp"  # no trailing slash: one is added
    r = run("path", "demo", env=env)
    assert r.stdout == b"/var/tmp/CoreFxPipe_demo\n"
    r = run("path", "/abs/olute", env=env)
    assert r.stdout == b"/abs/olute\n"
    # The same as the library's own mapping.
    assert run("path", "x y").stdout.decode().rstrip("\n") == kiwi_ipc.path("x y")


# Refused on both OSes, then by each OS's own rules (POSIX: a relative name
# with "/", a directory, past sun_path; Windows: out of \\.\pipe\, or
# "anonymous" once normalized).
@pytest.mark.parametrize("bad", ["", "anonymous", "ANONYMOUS"] + (
    [r"..\COM1", r"x\..\anonymous"] if WINDOWS
    else ["a/b", "/x/", "/" + "x" * 120]))
def test_invalid_name_is_a_usage_error(run, bad):
    for verb in ("path", "connect", "create", "listen"):
        r = run(verb, bad, *([] if verb == "path" else ["-t", "0"]))
        assert r.returncode == 2, (verb, bad, r)
        assert r.stdout == b""
        assert r.stderr.startswith(b"kiwi-ipc: ") and b"name" in r.stderr, r.stderr


def test_help_lists_every_option_and_the_json_rule(run):
    r = run("--help")
    assert r.returncode == 0 and r.stderr == b""
    text = r.stdout.decode()
    for word in ("path NAME", "connect NAME", "create NAME", "listen NAME",
                 "--data", "--file", "--lines", "--count", "--format",
                 "--timeout", "--echo", "--exec", "--max-size", "--clients",
                 "--quiet", "--verbose", "--help", "--version",
                 "text", "json", "raw", "hex", "U+FFFD", "Exit status"):
        assert word in text, word
    # Options after the verb work as well.
    assert run("connect", "x", "--help").stdout == r.stdout


def test_version(run):
    r = run("--version")
    assert r.returncode == 0
    v = kiwi_ipc.__version__
    assert r.stdout.decode() == "kiwi-ipc %s (library %s)\n" % (v, v)


def test_man_page_covers_the_options(run):
    with open(MAN_PAGE, encoding="utf-8") as f:
        roff = f.read()
    assert roff.startswith(".\\\"") and ".TH KIWI-IPC 1" in roff
    plain = roff.replace("\\-", "-")
    for word in ("--data", "--file", "--lines", "--count", "--format",
                 "--timeout", "--echo", "--exec", "--max-size", "--clients",
                 "--quiet", "--verbose", "U+FFFD", "EXIT STATUS"):
        assert word in plain, word
    man = shutil.which("man")
    if man:
        # man -l renders it; --warnings makes groff complain of bad roff.
        r = subprocess.run([man, "--warnings", "-l", MAN_PAGE],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"),
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert b"warning" not in r.stderr, r.stderr
        assert b"kiwi-ipc" in r.stdout


USAGE_ERRORS = [
    ([], "no verb"),
    (["talk", "x"], "unknown verb 'talk'"),
    (["connect"], "missing the pipe NAME"),
    (["connect", "x", "y"], "unexpected argument 'y'"),
    (["connect", "x", "--bogus"], "unknown option '--bogus'"),
    (["connect", "x", "-Z"], "unknown option '-Z'"),
    (["connect", "x", "-d"], "needs an argument"),
    (["connect", "x", "--exec"], "needs an argument"),
    (["connect", "x", "-n", "-1"], "-n: not a count"),
    (["connect", "x", "-n", "3x"], "-n: not a count"),
    (["connect", "x", "-t", "soon"], "-t: not a number of seconds"),
    (["connect", "x", "-t", "-1"], "-t: not a number of seconds"),
    (["connect", "x", "--format", "xml"], "--format: 'xml' is not one of"),
    (["connect", "x", "--max-size", "2147483648"], "--max-size"),
    (["connect", "x", "--max-size", "big"], "--max-size"),
    (["connect", "x", "--clients", "2"], "--clients is for listen only"),
    (["listen", "x", "--clients", "0"], "--clients: not a number >= 1"),
    (["connect", "x", "--echo", "--exec", "cat"], "cannot be used together"),
    (["connect", "x", "-l", "--exec", "cat"], "cannot be used together"),
    (["listen", "x", "-l"], "-l is for connect and create"),
    (["connect", "x", "-f", "-", "-f", "-"], "stdin can be read once"),
    (["connect", "x", "-f", "-", "-l"], "stdin can be read once"),
    (["path", "x", "-n", "1"], "path takes no options"),
]


@pytest.mark.parametrize("args,message", USAGE_ERRORS,
                         ids=[" ".join(a) or "nothing" for a, _ in USAGE_ERRORS])
def test_usage_errors(run, args, message):
    r = run(*args)
    assert r.returncode == 2, r
    assert r.stdout == b""
    err = r.stderr.decode()
    first = err.splitlines()[0]
    assert first.startswith("kiwi-ipc: ") and message in first, err
    assert "kiwi-ipc --help" in err


def test_usage_error_touches_no_pipe(run, name):
    # A usage error is found before anything is created.
    r = run("create", name, "--format", "xml")
    assert r.returncode == 2
    assert not os.path.exists(name)


def test_unreadable_file_fails_before_connecting(run, listener, name):
    r = run("connect", name, "-f", "/nonexistent/file", "-t", "5")
    assert r.returncode == 1
    assert re.search(rb"^kiwi-ipc: -f /nonexistent/file: No such file",
                     r.stderr), r.stderr
    # Nobody connected: the listener has no client waiting.
    with pytest.raises(TimeoutError):
        listener.accept(timeout=0.2)
