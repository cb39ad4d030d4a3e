#!/usr/bin/env python3
"""run_reference_snippets.py - run the code that the generated references
show from the sources' own doc comments.

    run_reference_snippets.py python PYTHON KIWI_IPC_TOOL
    run_reference_snippets.py lua LUA KIWI_IPC_TOOL LUA_MODULE_FILE

The Python API page shows the code of the package's docstrings, the Lua
API page the code of kiwi_ipc.lua's doc comments (docs/_ext/: a comment's
block indented by 4 or more is code). Those are not files of
docs/examples/, so this runs them: the code blocks of one docstring or doc
comment, in order, make one program, run with the given interpreter and
the binding of the build tree (PYTHONPATH, LUA_PATH and LUA_CPATH from the
environment) against a real peer, the kiwi-ipc tool serving "demo" as an
echo server (`kiwi-ipc listen demo --echo -n 1`: one message per client,
then it closes, so "until the peer closes" loops end). Each runs in a
private directory that is its TMPDIR, within 30 s, and must exit with 0.

A block that is not code in that language (Python: it does not compile,
such as IpcError's list of attributes) is reported and not run; the test
fails if nothing was run at all.
"""
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "docs", "_ext"))
from kiwi_textdoc import to_rst  # noqa: E402  (the references' own reader)


def code_blocks(comment_lines):
    """The literal blocks the reference shows for one comment."""
    blocks, cur = [], None
    for line in to_rst(comment_lines):
        if line == "::":
            cur = []
            blocks.append(cur)
        elif cur is not None:
            if line.startswith("    ") or line == "":
                cur.append(line[4:])
            else:
                cur = None
    return [textwrap.dedent("\n".join(b)).strip("\n") + "\n"
            for b in blocks if "".join(b).strip()]


def python_programs():
    import kiwi_ipc
    import kiwi_ipc.aio

    seen, programs = set(), []

    def walk(obj, name):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) \
            else None
        blocks = code_blocks(doc.split("\n")) if doc else []
        if blocks:
            # The page is the module's: its reader has imported it.
            program = "import kiwi_ipc\n" + "\n".join(blocks)
            try:
                compile(program, name, "exec")
                programs.append((name, program))
            except SyntaxError as e:
                print(f"not code, not run: {name}: {e.msg}")
        if inspect.ismodule(obj) or inspect.isclass(obj):
            for key, value in vars(obj).items():
                if key.startswith("_"):
                    continue
                module = getattr(value, "__module__", None) or ""
                if inspect.ismodule(obj) and not module.startswith("kiwi_ipc"):
                    continue
                walk(value, f"{name}.{key}")

    walk(kiwi_ipc, "kiwi_ipc")
    walk(kiwi_ipc.aio, "kiwi_ipc.aio")
    return programs


def lua_programs(module_file):
    from kiwi_luadoc import is_table, parse

    programs = []
    for block, after, _ in parse(module_file):
        code = [] if is_table(block) else code_blocks(block)
        if code:
            programs.append((f"{os.path.basename(module_file)}: {block[0]}",
                             "\n".join(code)))
    return programs


def run(name, program, suffix, interpreter, tool):
    tmp = tempfile.mkdtemp(prefix="kiwi-docs-ref-")
    peer = None
    try:
        env = dict(os.environ, TMPDIR=tmp)
        path = os.path.join(tmp, "snippet" + suffix)
        with open(path, "w", encoding="utf-8") as f:
            f.write(program)
        peer = subprocess.Popen([tool, "listen", "demo", "--echo", "-n", "1"],
                                cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc = subprocess.run([interpreter, path], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            print(f"FAIL: {name}: did not finish within 30 s:\n{program}")
            return False
        if proc.returncode != 0:
            print(f"FAIL: {name}: exit status {proc.returncode}\n{program}"
                  f"--- stderr\n{proc.stderr}")
            return False
        print(f"ok: {name} ({len(program.splitlines())} lines)")
        return True
    finally:
        if peer is not None:
            os.killpg(peer.pid, signal.SIGTERM)
            peer.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    lang, interpreter, tool = sys.argv[1:4]
    tool = os.path.abspath(tool)
    interpreter = shutil.which(interpreter) or interpreter
    if lang == "python":
        programs, suffix = python_programs(), ".py"
    else:
        programs, suffix = lua_programs(sys.argv[4]), ".lua"
    if not programs:
        print("FAIL: no code found in the doc comments: the reader is broken")
        return 1
    results = [run(n, p, suffix, interpreter, tool) for n, p in programs]
    print(f"{sum(results)} of {len(results)} {lang} reference snippets ran")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
