"""wheel_peer.py - what scripts/check-wheels runs against an installed
wheel: round trips between kiwi-ipc as the wheel installed it (the package
kiwi_ipc, the kiwi-ipc tool) and a stand-in for Kiwi in another process.

    python wheel_peer.py --peer dotnet  --run 'mono KiwiPeer.exe' [--tool T] [--no-module] DIR
    python wheel_peer.py --peer winpeer --run win_peer.exe       [--tool T] DIR

--peer dotnet   tests_cli/peers/KiwiPeer.cs (over tests_common/KiwiIpc.cs,
                the System.IO.Pipes calls Kiwi makes), on Mono or CoreCLR:
                `RUN server NAME STEP...`
--peer winpeer  tests_windows/win_peer.exe, the Windows stand-in for .NET
                (.NET's own Win32 calls): `RUN dotnet-server PATH N` echoes
                N frames, then closes
--tool T        also the installed command-line tool T, as the client (a
                command line: an emulator may come first)
--no-module     the tool only (a wheel whose module cannot load here)
DIR             a private directory for pipe names (POSIX)

Prints one "wheel_peer.py: ok: ..." line per round trip; exits non-zero,
saying what differed, on the first failure. Every peer is waited for
within a bounded time and killed on failure.
"""

import argparse
import os
import shlex
import subprocess
import sys

# Kiwi's strings are UTF-8 text: the vectors are text, one of them large.
# The last one is UNIT * COUNT (the .NET peer takes it as sendrep/recvlen:
# it would not fit on a command line).
UNIT, COUNT = "kiwi \U0001f95d \u00fc\n".encode("utf-8"), 40000
VECTORS = [
    b"",
    b"hello, kiwi",
    "h\u00e9llo w\u00f6rld \u2713 \U0001f95d".encode("utf-8"),
    UNIT * COUNT,
]


def fail(what):
    sys.exit("wheel_peer.py: FAILED: %s" % what)


def start(cmd):
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc, what, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        fail("%s: still running after %d s" % (what, timeout))
    if proc.returncode != 0:
        fail("%s: exit %d: %s" % (what, proc.returncode,
                                  err.decode(errors="replace").strip()))
    return out.decode(errors="replace")


class Names:
    def __init__(self, pipe_dir):
        self.dir = os.path.abspath(pipe_dir)
        self.n = 0

    def next(self, tag):
        self.n += 1
        base = "kiwi-wheel-%d-%d-%s" % (os.getpid(), self.n, tag)
        # POSIX: a path under DIR; Windows: a bare name (\\.\pipe\NAME).
        return base if os.name == "nt" else os.path.join(self.dir, base)


def peer_server(args, name, messages):
    """The stand-in as the server echoing `messages` (the .NET peer sends
    them back as it was told; win_peer echoes what it reads)."""
    count = len(messages)
    run = shlex.split(args.run, posix=os.name != "nt")
    if args.peer == "dotnet":
        steps = []
        for v in messages:
            if v == UNIT * COUNT:
                steps += ["recvlen", "sendrep:%s:%d" % (UNIT.hex(), COUNT)]
            else:
                steps += ["recv", "send:" + (v.hex() or "-")]
        return start(run + ["server", name] + steps + ["closed"])
    import kiwi_ipc  # the path .NET would open for the name
    return start(run + ["dotnet-server", kiwi_ipc.path(name), str(count)])


def module_round_trip(args, names):
    import kiwi_ipc
    name = names.next("py")
    proc = peer_server(args, name, VECTORS)
    try:
        with kiwi_ipc.Pipe.connect(name, timeout=60) as p:
            for v in VECTORS:
                p.send_bytes(v, timeout=60)
                got = p.recv_bytes(timeout=60)
                if got != v:
                    fail("module: echo of %d bytes came back as %d bytes"
                         % (len(v), len(got)))
            if args.peer == "winpeer":
                # win_peer closes after its last echo (the .NET peer waits
                # for our close instead, and says so: CLOSED).
                try:
                    p.recv_bytes(timeout=30)
                    fail("module: a message after the peer's last one")
                except kiwi_ipc.PipeClosedError:
                    pass
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    out = finish(proc, "the peer of the module's round trip")
    if args.peer == "dotnet":
        got = [l[5:] for l in out.splitlines() if l.startswith("RECV ")]
        if got != [v.hex() or "-" for v in VECTORS[:-1]]:
            fail("module: the .NET peer received %r" % got)
        big = UNIT * COUNT
        want = "RECVLEN %d %s %s" % (len(big), big[:8].hex(), big[-8:].hex())
        if want not in out.splitlines():
            fail("module: the .NET peer did not say %r: %r" % (want, out))
        if "CLOSED" not in out.splitlines():
            fail("module: the .NET peer saw no clean close")
    print("wheel_peer.py: ok: kiwi_ipc %s (%s) <-> %s: %d messages, "
          "up to %d bytes, each way, then a clean close"
          % (kiwi_ipc.__version__, os.path.basename(kiwi_ipc._kiwi_ipc.__file__),
             args.peer, len(VECTORS), max(map(len, VECTORS))))


def tool_round_trip(args, names):
    name = names.next("tool")
    text = "h\u00e9llo from the wheel's tool \U0001f95d"
    proc = peer_server(args, name, [text.encode("utf-8")])
    try:
        tool = subprocess.run(
            shlex.split(args.tool, posix=os.name != "nt") + ["connect", name, "-n", "1", "-t", "60", "-d", text],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    out = finish(proc, "the peer of the tool's round trip")
    if tool.returncode != 0:
        fail("tool: exit %d: %s" % (tool.returncode,
                                    tool.stderr.decode(errors="replace")))
    if tool.stdout.decode("utf-8") != text + "\n":
        fail("tool: printed %r" % tool.stdout)
    if args.peer == "dotnet" and "RECV %s" % text.encode().hex() not in out:
        fail("tool: the .NET peer received %r" % out)
    print("wheel_peer.py: ok: %s connect <-> %s: echoed"
          % (args.tool.split()[-1].replace("\\", "/").rsplit("/", 1)[-1],
             args.peer))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", choices=["dotnet", "winpeer"], required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--tool")
    ap.add_argument("--no-module", action="store_true")
    ap.add_argument("dir")
    args = ap.parse_args()
    names = Names(args.dir)
    if not args.no_module:
        module_round_trip(args, names)
    if args.tool:
        tool_round_trip(args, names)


if __name__ == "__main__":
    main()
