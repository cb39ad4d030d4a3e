"""wheel_contents.py - check one kiwi-ipc wheel as a file, before anything
runs it (scripts/check-wheels):

    python wheel_contents.py WHEEL VERSION

- the name is kiwi_ipc-VERSION-cp39-abi3-<platform>.whl, and the WHEEL
  file's Tag lines are exactly the name's tags (cp39-abi3-<each platform>);
- every file is listed in RECORD with its sha256 and size, and RECORD lists
  nothing else;
- METADATA names kiwi-ipc VERSION, MIT, Python >= 3.9;
- the package: the hand-written files and one extension module, the one of
  the platform (_kiwi_ipc.abi3.so, or _kiwi_ipc.pyd on Windows); the tool
  as the wheel's script (kiwi-ipc, or kiwi-ipc.exe on Windows); nothing
  outside kiwi_ipc/, the .data scripts and the .dist-info.

Prints "module=PATH tool=PATH" (the members to look at next) on success;
exits non-zero naming what is wrong.
"""

import base64
import csv
import hashlib
import io
import re
import sys
import zipfile

PACKAGE = ["__init__.py", "__init__.pyi", "_aio_poll.py", "_errors.py",
           "_pipe.py", "_wait.py", "_wait.pyi", "aio.py", "aio.pyi",
           "_kiwi_ipc.pyi", "py.typed"]


def fail(what):
    sys.exit("wheel_contents.py: %s" % what)


def main():
    path, version = sys.argv[1], sys.argv[2]
    base = path.rsplit("/", 1)[-1]
    m = re.fullmatch(r"kiwi_ipc-%s-cp39-abi3-([a-z0-9_.]+)\.whl" % re.escape(version),
                     base)
    if not m:
        fail("%s: not kiwi_ipc-%s-cp39-abi3-PLATFORM.whl" % (base, version))
    platforms = m.group(1).split(".")
    windows = platforms == ["win_amd64"]
    z = zipfile.ZipFile(path)
    names = z.namelist()
    info = "kiwi_ipc-%s.dist-info/" % version
    data = "kiwi_ipc-%s.data/scripts/" % version

    wheel = z.read(info + "WHEEL").decode()
    tags = sorted(l.split(": ", 1)[1] for l in wheel.splitlines()
                  if l.startswith("Tag: "))
    if tags != sorted("cp39-abi3-" + p for p in platforms):
        fail("WHEEL says %s, the name %s" % (tags, platforms))
    if "Root-Is-Purelib: false" not in wheel.splitlines():
        fail("WHEEL: not Root-Is-Purelib: false")

    record = list(csv.reader(io.StringIO(z.read(info + "RECORD").decode())))
    listed = {}
    for row in record:
        listed[row[0]] = row
    if sorted(listed) != sorted(names):
        fail("RECORD and the zip differ: %s"
             % sorted(set(listed) ^ set(names)))
    for name in names:
        if name == info + "RECORD":
            continue
        _, digest, size = listed[name]
        body = z.read(name)
        want = "sha256=" + base64.urlsafe_b64encode(
            hashlib.sha256(body).digest()).rstrip(b"=").decode()
        if digest != want or int(size) != len(body):
            fail("%s: RECORD says %s %s, the file is %s %d"
                 % (name, digest, size, want, len(body)))

    meta = z.read(info + "METADATA").decode().splitlines()
    for line in ("Name: kiwi-ipc", "Version: " + version,
                 "License-Expression: MIT", "Requires-Python: >=3.9"):
        if line not in meta:
            fail("METADATA lacks %r" % line)

    module = "kiwi_ipc/_kiwi_ipc." + ("pyd" if windows else "abi3.so")
    tool = data + ("kiwi-ipc.exe" if windows else "kiwi-ipc")
    want = sorted(["kiwi_ipc/" + f for f in PACKAGE] + [module, tool] +
                  [info + f for f in ("METADATA", "WHEEL", "RECORD",
                                      "licenses/LICENSE")])
    if sorted(names) != want:
        fail("unexpected files: %s; missing: %s"
             % (sorted(set(names) - set(want)), sorted(set(want) - set(names))))
    print("module=%s tool=%s" % (module, tool))


if __name__ == "__main__":
    main()
