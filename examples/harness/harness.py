"""harness.py - a small cross-language test harness built on kiwi-ipc.

For each language in turn it starts a server written in that language,
then one client in every language, one after another (a Kiwi-style server
serves one client per create, and creates again for the next). Each client
sends three messages and prints the replies; the harness checks every
reply.

Usage: python3 harness.py [--build DIR] [--pipe NAME]
                          [--languages python,lua5.4,luajit]
                          [--interpreter LANG=PROGRAM]...

  --build DIR      the build tree with the bindings: DIR/python, DIR/lua/5.4
                   and DIR/lua/jit (default: build/ at the top of the
                   repository)
  --pipe NAME      the pipe name (default: kiwi_harness_<pid>)
  --languages      which languages take part (default: all three)
  --interpreter    the program that runs LANG (defaults: this Python,
                   lua5.4, luajit)

Exits with status 0 when every reply was as expected, 1 otherwise. The
servers and clients are server.py, client.py, server.lua and client.lua
beside this file; adding a language means adding its two small programs
and a line to LANGUAGES.
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# language -> (default interpreter, kind)
LANGUAGES = {
    "python": (sys.executable, "python"),
    "lua5.4": ("lua5.4", "lua"),
    "luajit": ("luajit", "lua"),
}
LUA_DIRS = {"lua5.4": "5.4", "luajit": "jit"}
TIMEOUT = 60  # seconds for one server and all its clients


class Harness:
    def __init__(self, build, interpreters):
        self.build = build
        self.interpreters = interpreters

    def command(self, language, role, args):
        """The argv and environment that run ROLE (server/client) in
        LANGUAGE, finding kiwi_ipc in the build tree."""
        program = self.interpreters[language]
        env = dict(os.environ)
        if LANGUAGES[language][1] == "python":
            path = os.path.join(self.build, "python")
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (path, env.get("PYTHONPATH")) if p)
            argv = [program, os.path.join(HERE, role + ".py")]
        else:
            mods = os.path.join(self.build, "lua", LUA_DIRS[language])
            setup = ("package.path=[==[%s/?.lua;]==]..package.path "
                     "package.cpath=[==[%s/?.so;]==]..package.cpath"
                     % (mods, mods))
            argv = [program, "-e", setup, os.path.join(HERE, role + ".lua")]
        return argv + args, env

    def start(self, language, role, args):
        argv, env = self.command(language, role, args)
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def run(self, server_language, client_languages, pipe):
        """One server, then each client in turn; returns a list of
        problems."""
        server = self.start(server_language, "server",
                            [pipe, str(len(client_languages)), server_language])
        deadline = time.monotonic() + TIMEOUT
        problems = []
        try:
            for c in client_languages:
                client = self.start(c, "client", [pipe, c])
                problems += self.finish(c + " client", client, deadline, server)
                if problems:
                    break
                got = client.stdout.read().decode("utf-8", "replace").splitlines()
                want = expected_replies(server_language, c)
                if got != want:
                    problems.append("%s client: got %r, want %r" % (c, got, want))
            if not problems:
                problems += self.finish(server_language + " server", server,
                                        deadline)
        finally:
            if server.poll() is None:  # nothing outlives its run
                server.kill()
                server.wait()
                remove_stale_socket(pipe)
        return problems

    @staticmethod
    def finish(label, proc, deadline, server=None):
        """Wait for proc until the deadline; stop early if the server
        fails. Returns a list of problems."""
        while proc.poll() is None:
            if time.monotonic() > deadline:
                problem = "%s: no result after %d s" % (label, TIMEOUT)
                break
            if server is not None and server.poll() not in (None, 0):
                problem = "the server failed (status %d) while the %s was " \
                          "running:\n%s" % (server.returncode, label,
                                             server.stderr.read().decode())
                break
            time.sleep(0.005)
        else:
            if proc.returncode == 0:
                return []
            problem = "%s: exit status %d\n%s" % (
                label, proc.returncode, proc.stderr.read().decode())
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        return [problem]


def remove_stale_socket(name):
    """A server killed while waiting in create leaves its socket file
    behind (harmless: the next create reclaims it); tidy it up."""
    if name.startswith("/"):
        path = name
    else:
        tmp = os.environ.get("TMPDIR") or "/tmp"
        path = os.path.join(tmp, "CoreFxPipe_" + name)
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


def expected_replies(server, client):
    """What client.* prints when talking to server.* (see those files)."""
    prefix = server + " got: "
    big = len((prefix + client + ":").encode()) + 65536
    return [prefix + "hello from " + client,
            prefix + "🥝 kiwi, 🐍 python, 🌙 lua — from " + client,
            "<%d bytes>" % big]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--pipe", default="kiwi_harness_%d" % os.getpid())
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--interpreter", action="append", default=[],
                        metavar="LANG=PROGRAM")
    args = parser.parse_args()

    languages = args.languages.split(",")
    for language in languages:
        if language not in LANGUAGES:
            parser.error("unknown language %r" % language)
    interpreters = {lang: default for lang, (default, _) in LANGUAGES.items()}
    for item in args.interpreter:
        lang, _, program = item.partition("=")
        if lang not in LANGUAGES or not program:
            parser.error("--interpreter wants LANG=PROGRAM, got %r" % item)
        interpreters[lang] = program

    for language in languages:
        if not shutil.which(interpreters[language]):
            parser.error("no %s interpreter: %s not found (use --interpreter)"
                         % (language, interpreters[language]))
    harness = Harness(os.path.abspath(args.build), interpreters)
    failed = 0
    for server in languages:
        # Every language as a client, the server's own last.
        clients = [c for c in languages if c != server] + [server]
        problems = harness.run(server, clients, args.pipe)
        verdict = "FAILED" if problems else "all replies as expected"
        print("%s server <- %s clients: %s" % (server, ", ".join(clients), verdict),
              flush=True)
        for p in problems:
            print("  " + p.replace("\n", "\n  "), file=sys.stderr)
        failed += bool(problems)
    n = len(languages)
    print("%d servers x %d clients: %s" % (
        n, n, "%d server runs FAILED" % failed if failed else "OK"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
