"""roundtrip.py - use an installed kiwi_ipc package: import it, check where
it came from, and do round trips in-process and with a C peer.

    python roundtrip.py PIPE_DIR [--peer KIWI_ECHO] [--under DIR]

PIPE_DIR   a private directory for pipe names
--peer     kiwi_echo (tests_install/consumer): also talk to a C process,
           as its client and as its server
--under    fail unless kiwi_ipc was imported from below DIR
"""

import argparse
import os
import subprocess
import sys
import threading

import kiwi_ipc


def check(what, got, want):
    if got != want:
        sys.exit("roundtrip.py: %s: expected %r, got %r" % (what, want, got))
    print("roundtrip.py: ok: %s" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pipe_dir")
    ap.add_argument("--peer")
    ap.add_argument("--under")
    args = ap.parse_args()

    where = os.path.realpath(kiwi_ipc.__file__)
    print("roundtrip.py: Python %s, kiwi_ipc %s from %s"
          % (sys.version.split()[0], kiwi_ipc.__version__, where))
    print("roundtrip.py: module %s" % kiwi_ipc._kiwi_ipc.__file__)
    if args.under and not where.startswith(os.path.realpath(args.under) + os.sep):
        sys.exit("roundtrip.py: kiwi_ipc is not from below %s" % args.under)

    # help(kiwi_ipc) shows the public API: no module aliases such as the
    # old "_c" listed as SUBMODULES (the package's own files are listed
    # under PACKAGE CONTENTS anyway).
    import pydoc
    text = pydoc.render_doc(kiwi_ipc, renderer=pydoc.plaintext)
    check("help(kiwi_ipc) lists no SUBMODULES", "\nSUBMODULES\n" in text, False)

    # In-process: a Listener's accepted Pipe echoes what a client sends.
    name = os.path.join(args.pipe_dir, "py1")
    with kiwi_ipc.Listener(name) as listener:
        def echo():
            with listener.accept(timeout=20) as server:
                while True:
                    try:
                        message = server.recv_bytes(timeout=20)
                    except kiwi_ipc.PipeClosedError:
                        return
                    server.send_bytes(message)

        t = threading.Thread(target=echo)
        t.start()
        with kiwi_ipc.Pipe.connect(name, timeout=20) as client:
            client.send("hello é ☃")
            check("in-process str", client.recv(timeout=20), "hello é ☃")
            client.send_bytes(b"\x00\xff\x01")
            check("in-process bytes", client.recv_bytes(timeout=20),
                  b"\x00\xff\x01")
        t.join(20)

    if not args.peer:
        return
    # Python client, C server (kiwi_echo echoes 2 messages).
    name = os.path.join(args.pipe_dir, "py2")
    server = subprocess.Popen([args.peer, "server", name, "2"])
    h = kiwi_ipc.connect(name)
    kiwi_ipc.send(h, "from Python")
    check("C server echoes str", kiwi_ipc.recv(h), "from Python")
    kiwi_ipc.send(h, bytearray(b"\xfe\x00"))
    check("C server echoes bytes", kiwi_ipc.recv_bytes(h), b"\xfe\x00")
    kiwi_ipc.close(h)
    check("C server exit status", server.wait(20), 0)

    # C client, Python server.
    name = os.path.join(args.pipe_dir, "py3")
    client = subprocess.Popen([args.peer, "client", name, "from C"],
                              stdout=subprocess.PIPE)
    with kiwi_ipc.Pipe.create(name, timeout=20) as pipe:
        message = pipe.recv(timeout=20)
        pipe.send(message)
    out, _ = client.communicate(timeout=20)
    check("C client got its echo", (client.returncode, out), (0, b"from C\n"))
    check("Python server got", message, "from C")


if __name__ == "__main__":
    main()
    print("roundtrip.py: passed")
