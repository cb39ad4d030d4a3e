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
                              tests_common/KiwiIpc.cs (with Peer.runtimeconfig.json
                              beside it); if empty, it is compiled here with
                              the mcs found on PATH
  KIWI_INTEROP_MONO           the mono runtime (default: from PATH): the
                              "mono" peer runs Peer.exe on it
  KIWI_INTEROP_CORECLR        the dotnet host of Microsoft's CoreCLR
                              (default: <repo>/.venv/dotnet/dotnet, then
                              PATH): the "coreclr" peer runs Peer.exe on it
  KIWI_INTEROP_REQUIRE_ALL    if set (or CI is set), a missing peer fails
                              the run instead of skipping its pairs

CoreCLR peers run with DOTNET_EnableDiagnostics=0 (set here unless the
environment says otherwise): no dotnet-diagnostic-* or clr-debug-pipe-*
files in their $TMPDIR. Only test_coreclr.py turns them on, on purpose.

Options: --servers=c,python,... and --clients=... run only the pairs with
those servers and those clients (ctest runs one pytest per server
language, so that ctest -j spreads them, and the pairs with a CoreCLR side
apart, under the label coreclr).
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

ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests_common"))
from kiwi_pytest import coreclr_host, env  # noqa: E402

# "mono" and "coreclr" are one peer, Peer.exe (our stand-in for Kiwi), on
# two .NET runtimes.
LANGS = ["c", "python", "lua5.4", "luajit", "mono", "coreclr"]
DOTNET = ("mono", "coreclr")

os.environ.setdefault("DOTNET_EnableDiagnostics", "0")


@dataclass
class Peer:
    lang: str
    argv: List[str] = field(default_factory=list)  # command before ROLE
    missing: Optional[str] = None  # why it cannot run, if it cannot
    binary_safe: bool = True  # False: the .NET peers (text only)


def _lua_peer(lang: str, var: str, interpreter: str, subdir: str) -> Peer:
    exe = env("KIWI_INTEROP_" + var) or shutil.which(interpreter) or ""
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


def _dotnet_exe(workdir: str):
    """Peer.exe (and its runtimeconfig.json): CMake's, or built here.
    Returns (path, None) or (None, why not)."""
    exe = env("KIWI_INTEROP_DOTNET_PEER")
    if exe:
        if not os.path.exists(exe):
            return None, "%s does not exist" % exe
        return exe, None
    exe = os.path.join(workdir, "Peer.exe")
    if os.path.exists(exe):
        return exe, None
    mcs = shutil.which("mcs")
    if not mcs:
        return None, "mcs not found (install it: apt-get install mono-mcs)"
    build = subprocess.run(
        [mcs, "-nologo", "-out:" + exe, os.path.join(PEERS, "Peer.cs"),
         os.path.join(ROOT, "tests_common", "KiwiIpc.cs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if build.returncode != 0:
        pytest.exit("mcs could not build the .NET peer:\n" + build.stdout, 1)
    shutil.copy(os.path.join(ROOT, "tests_common", "dotnet.runtimeconfig.json"),
                os.path.join(workdir, "Peer.runtimeconfig.json"))
    return exe, None


def _dotnet_peer(workdir: str, runtime: str) -> Peer:
    if runtime == "mono":
        host = env("KIWI_INTEROP_MONO") or shutil.which("mono")
        install = "apt-get install mono-runtime"
    else:
        host = coreclr_host("KIWI_INTEROP_CORECLR")
        install = "scripts/install-deps puts CoreCLR 8 in .venv/dotnet"
    if not host or not os.access(host, os.X_OK):
        return Peer(runtime, missing="%s not found: its .NET pairs are "
                    "skipped (%s)" % ("mono" if runtime == "mono"
                                      else "CoreCLR (dotnet)", install))
    exe, why = _dotnet_exe(workdir)
    if why:
        return Peer(runtime, missing=why)
    return Peer(runtime, [host, exe], binary_safe=False)


def _find_peers(workdir: str) -> Dict[str, Peer]:
    c_peer = env("KIWI_INTEROP_C_PEER", os.path.join(BUILD, "tests_interop", "interop_peer"))
    python = env("KIWI_INTEROP_PYTHON", sys.executable)
    peers = {
        "c": Peer("c", [c_peer]) if os.access(c_peer, os.X_OK)
        else Peer("c", missing="C peer not built: %s" % c_peer),
        "python": Peer("python", [python, os.path.join(PEERS, "peer.py")]),
        "lua5.4": _lua_peer("lua5.4", "LUA54", "lua5.4", "5.4"),
        "luajit": _lua_peer("luajit", "LUAJIT", "luajit", "jit"),
        "mono": _dotnet_peer(workdir, "mono"),
        "coreclr": _dotnet_peer(workdir, "coreclr"),
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
    parser.addoption("--clients", default=",".join(LANGS),
                     help="comma-separated client languages to run (default: all)")


def pytest_configure(config):
    workdir = tempfile.mkdtemp(prefix="kiwi-interop-")
    config._kiwi_workdir = workdir
    config._kiwi_peers = _find_peers(workdir)
    for option in ("servers", "clients"):
        langs = config.getoption("--" + option).split(",")
        for s in langs:
            if s not in LANGS:
                raise pytest.UsageError("--%s: unknown language %r (known: %s)"
                                        % (option, s, ", ".join(LANGS)))
        setattr(config, "_kiwi_" + option, langs)


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


@pytest.fixture(params=DOTNET)
def dotnet(request, peers) -> Peer:
    """Each .NET runtime's peer in turn (Mono, CoreCLR), for the servers
    this run takes (--servers)."""
    runtime = request.param
    if runtime not in request.config._kiwi_servers:
        pytest.skip("runs with --servers=%s" % runtime)
    require(peers[runtime])
    return peers[runtime]
