"""Configuration of the interop matrix: which peers exist and how to run them.

ctest (tests_interop/CMakeLists.txt) says where everything is through the
environment; run by hand, the defaults below look in a build tree at
../build:

  PYTHONPATH                  must let `import kiwi_ipc` work (the Python
                              peer inherits it)
  KIWI_INTEROP_PYTHON         the Python interpreter (default: this one)
  KIWI_INTEROP_C_PEER         the built C peer (tests_interop/peers/peer.c)
  KIWI_INTEROP_LUA54          the Lua 5.4 interpreter ...
  KIWI_INTEROP_LUA54_DIR      ... and the directory holding its kiwi_ipc.lua
                              and kiwi_ipc_core.so (<build>/lua/5.4)
  KIWI_INTEROP_LUAJIT         the same for LuaJIT
  KIWI_INTEROP_LUAJIT_DIR     (<build>/lua/jit)
  KIWI_INTEROP_DOTNET_PEER    Peer.exe, built from peers/Peer.cs and
                              peers/KiwiIpc.cs; if empty, it is compiled
                              here with the mcs found on PATH
  KIWI_INTEROP_MONO           the mono runtime (default: from PATH)
  KIWI_INTEROP_REQUIRE_ALL    if set (or CI is set), a missing peer fails
                              the run instead of skipping its pairs

Options: --servers=c,python,... runs only the pairs with those servers
(ctest runs one pytest per server language, so that ctest -j spreads them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
BUILD = os.path.join(os.path.dirname(HERE), "build")

LANGS = ["c", "python", "lua5.4", "luajit", "dotnet"]


@dataclass
class Peer:
    lang: str
    argv: List[str] = field(default_factory=list)  # command before ROLE
    missing: Optional[str] = None  # why it cannot run, if it cannot
    binary_safe: bool = True  # False: the .NET peer (text only)


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name, "")
    return value if value else default


def _lua_peer(lang: str, var: str, interpreter: str, subdir: str) -> Peer:
    exe = _env("KIWI_INTEROP_" + var) or shutil.which(interpreter) or ""
    # Set but empty: CMake did not build this Lua's module.
    mod_dir = os.environ.get("KIWI_INTEROP_%s_DIR" % var,
                             os.path.join(BUILD, "lua", subdir))
    if not mod_dir:
        return Peer(lang, missing="the kiwi_ipc module for %s was not built "
                    "(are its development files installed?)" % lang)
    if not exe:
        return Peer(lang, missing="%s not found (install it, e.g. "
                    "apt-get install %s)" % (interpreter, interpreter))
    if not os.path.exists(os.path.join(mod_dir, "kiwi_ipc.lua")):
        return Peer(lang, missing="kiwi_ipc.lua not built in %s" % mod_dir)
    # -e sets the module paths whatever LUA_PATH(_5_4) says.
    setup = ("package.path=[==[%s/?.lua;]==]..package.path "
             "package.cpath=[==[%s/?.so;]==]..package.cpath") % (mod_dir, mod_dir)
    return Peer(lang, [exe, "-e", setup, os.path.join(PEERS, "peer.lua")])


def _dotnet_peer(workdir: str) -> Peer:
    mono = _env("KIWI_INTEROP_MONO") or shutil.which("mono")
    exe = _env("KIWI_INTEROP_DOTNET_PEER")
    if not mono or not os.access(mono, os.X_OK):
        return Peer("dotnet", missing="mono not found: the .NET pairs are "
                    "skipped (install it: apt-get install mono-runtime mono-mcs)")
    if not exe:
        mcs = shutil.which("mcs")
        if not mcs:
            return Peer("dotnet", missing="mcs not found: the .NET pairs are "
                        "skipped (install it: apt-get install mono-mcs)")
        exe = os.path.join(workdir, "Peer.exe")
        build = subprocess.run(
            [mcs, "-nologo", "-out:" + exe, os.path.join(PEERS, "Peer.cs"),
             os.path.join(PEERS, "KiwiIpc.cs")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if build.returncode != 0:
            pytest.exit("mcs could not build the .NET peer:\n" + build.stdout, 1)
    elif not os.path.exists(exe):
        return Peer("dotnet", missing="%s does not exist" % exe)
    return Peer("dotnet", [mono, exe], binary_safe=False)


def _find_peers(workdir: str) -> Dict[str, Peer]:
    c_peer = _env("KIWI_INTEROP_C_PEER", os.path.join(BUILD, "tests_interop", "interop_peer"))
    python = _env("KIWI_INTEROP_PYTHON", sys.executable)
    peers = {
        "c": Peer("c", [c_peer]) if os.access(c_peer, os.X_OK)
        else Peer("c", missing="C peer not built: %s" % c_peer),
        "python": Peer("python", [python, os.path.join(PEERS, "peer.py")]),
        "lua5.4": _lua_peer("lua5.4", "LUA54", "lua5.4", "5.4"),
        "luajit": _lua_peer("luajit", "LUAJIT", "luajit", "jit"),
        "dotnet": _dotnet_peer(workdir),
    }
    try:
        import kiwi_ipc  # noqa: F401
    except ImportError as e:
        peers["python"] = Peer("python", missing="cannot import kiwi_ipc (%s);"
                               " is PYTHONPATH set to <build>/python?" % e)
    return peers


def pytest_addoption(parser):
    parser.addoption("--servers", default=",".join(LANGS),
                     help="comma-separated server languages to run (default: all)")


def pytest_configure(config):
    workdir = tempfile.mkdtemp(prefix="kiwi-interop-")
    config._kiwi_workdir = workdir
    config._kiwi_peers = _find_peers(workdir)
    servers = config.getoption("--servers").split(",")
    for s in servers:
        if s not in LANGS:
            raise pytest.UsageError("--servers: unknown language %r (known: %s)"
                                    % (s, ", ".join(LANGS)))
    config._kiwi_servers = servers


def pytest_unconfigure(config):
    workdir = getattr(config, "_kiwi_workdir", None)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def pytest_report_header(config):
    lines = []
    for lang, peer in config._kiwi_peers.items():
        lines.append("interop peer %-7s %s" % (
            lang, "MISSING: " + peer.missing if peer.missing else " ".join(peer.argv[-1:])))
    return lines


@pytest.fixture(scope="session")
def peers(request) -> Dict[str, Peer]:
    return request.config._kiwi_peers


def require(peer: Peer) -> None:
    """Skip (or, in CI, fail) a test whose peer cannot run."""
    if peer.missing:
        if os.environ.get("KIWI_INTEROP_REQUIRE_ALL") or os.environ.get("CI"):
            pytest.fail("%s peer unavailable: %s" % (peer.lang, peer.missing),
                        pytrace=False)
        pytest.skip("%s peer unavailable: %s" % (peer.lang, peer.missing))
