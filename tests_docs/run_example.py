#!/usr/bin/env python3
"""run_example.py - run one example of the documentation (docs/examples/)
and compare what it prints with the .out file beside it.

    run_example.py EXPECTED -- COMMAND [ARG...]

The example runs in a private temporary directory, which is also its
TMPDIR, so its pipe names ("demo") map to sockets of its own and examples
run in parallel with each other and with every other test. It must exit
with 0 within 60 s, print exactly EXPECTED, and leave no socket file
behind; its process group is killed and the directory removed in any case.
"""
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit(__doc__)
    expected_file, command = args[0], args[2:]
    with open(expected_file, encoding="utf-8") as f:
        expected = f.read()
    tmp = tempfile.mkdtemp(prefix="kiwi-docs-")
    failures = []
    try:
        env = dict(os.environ, TMPDIR=tmp)
        proc = subprocess.Popen(command, cwd=tmp, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            failures.append("timed out after 60 s")
        sys.stderr.write(err.decode("utf-8", "replace"))
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0:
            failures.append(f"exit status {proc.returncode}")
        if text != expected:
            failures.append("output differs from %s:\n--- expected\n%s--- got\n%s"
                            % (expected_file, expected, text))
        sockets = [n for n in os.listdir(tmp)
                   if stat.S_ISSOCK(os.lstat(os.path.join(tmp, n)).st_mode)]
        if sockets:
            failures.append(f"socket files left behind: {sockets}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left running
        except (ProcessLookupError, PermissionError, UnboundLocalError):
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAIL: " + " ".join(command), *failures, sep="\n")
        return 1
    print(f"ok: {' '.join(command)}: printed what {os.path.basename(expected_file)} shows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
