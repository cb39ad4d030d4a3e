"""cmake --install puts the tool in bin/ and its man page in
share/man/man1/ (component "tool"), and the installed binary works on its
own: it links the static library."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

pytestmark = pytest.mark.posix_only(
    "cmake --install of the POSIX build tree")


def test_cmake_install_component_tool(tmp_path):
    cmake = os.environ.get("KIWI_CLI_CMAKE") or shutil.which("cmake")
    build = os.environ.get("KIWI_CLI_BUILD_DIR") or BUILD
    if not cmake or not os.path.exists(os.path.join(build, "cmake_install.cmake")):
        pytest.skip("no configured build tree at %s" % build)
    prefix = tmp_path / "prefix"
    r = subprocess.run([cmake, "--install", build, "--prefix", str(prefix),
                        "--component", "tool"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    assert r.returncode == 0, r.stdout.decode()
    files = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*")
                   if p.is_file())
    assert files == ["bin/kiwi-ipc", "share/man/man1/kiwi-ipc.1"], files
    exe = str(prefix / "bin" / "kiwi-ipc")
    v = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, timeout=30)
    assert v.returncode == 0 and v.stdout.startswith(b"kiwi-ipc ")
    with open(os.path.join(ROOT, "tools", "kiwi-ipc", "kiwi-ipc.1"), "rb") as a, \
            open(prefix / "share" / "man" / "man1" / "kiwi-ipc.1", "rb") as b:
        assert a.read() == b.read()
    readelf = shutil.which("readelf")
    if readelf:
        d = subprocess.run([readelf, "-d", exe], stdout=subprocess.PIPE,
                           timeout=30).stdout.decode()
        # (A sanitizer build adds its runtimes; nothing else may come.)
        needed = [l.split("[")[1].rstrip("]") for l in d.splitlines()
                  if "(NEEDED)" in l and "san.so" not in l]
        assert needed == ["libc.so.6"], needed
