#!/usr/bin/env python3
"""check_code_blocks.py - every example in the docs runs.

    check_code_blocks.py DOCS_DIR [--readme FILE.md...]

Code that a reader could run is never written inline in docs/*.rst or
docs/*.md: it is
included (literalinclude) from a file that a test runs, so a docs example
that stops working fails a test. This fails, naming file and line, for

- a code-block (or code, sourcecode) in a runnable language: C, Python,
  Lua, shell, CMake;
- a literalinclude of a file outside the directories whose files the tests
  run (docs/examples/: tests_docs' docs_example_* tests; examples/: the
  example tests; tests_install/: the install tests), or of a file that
  does not exist;
- a file in docs/examples/ without the .out file its test compares with.

READMEs given after --readme (README.md, the bindings' READMEs) are
checked as well, but there a runnable block may be written inline if it is
a verbatim copy of a file, or of part of one, in docs/examples/ or
examples/: the README shows short examples without an include mechanism.

Allowed inline: console (commands to type, such as an install), text
(output), kiwi (a Kiwi script: there is no Kiwi here; examples/'s .kiwi
programs run under a C# stand-in instead).
"""
import os
import re
import sys

RUNNABLE = {"c", "python", "python3", "py", "pycon", "lua", "sh", "bash",
            "shell", "cmake", "cpp", "zsh"}
INCLUDE_DIRS = ("docs/examples/", "examples/", "tests_install/")
DIRECTIVE = re.compile(r"^\s*\.\. (code-block|code|sourcecode|literalinclude)::\s*(\S*)")
# The same in the Markdown (MyST) pages: ```lang and ```{literalinclude} path
FENCE = re.compile(r"^\s*(?:```|~~~)\s*(\{literalinclude\}|\{code-block\}|\{code\})?\s*(\S*)")


def readme_blocks(path):
    """[(line number, language, text)] of the fenced blocks of a README."""
    blocks, lang, start, body = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("```"):
                if lang is None:
                    lang, start, body = line[3:].strip() or "text", lineno, []
                else:
                    blocks.append((start, lang, "".join(body)))
                    lang = None
            elif lang is not None:
                body.append(line)
    return blocks


def check_readme(path, root, errors):
    sources = []
    for top in ("docs/examples", "examples"):
        for dirpath, _, filenames in os.walk(os.path.join(root, top)):
            for name in filenames:
                with open(os.path.join(dirpath, name), encoding="utf-8",
                          errors="replace") as f:
                    sources.append(f.read())
    count = 0
    for lineno, lang, text in readme_blocks(path):
        if lang.lower() not in RUNNABLE:
            continue
        count += 1
        if not any(text in src for src in sources):
            errors.append(f"{os.path.relpath(path, root)}:{lineno}: this {lang} "
                          f"block is not a copy of a file the tests run "
                          f"(docs/examples/, examples/)")
    return count


def main():
    args = sys.argv[1:]
    readmes = []
    if "--readme" in args:
        readmes = args[args.index("--readme") + 1:]
        args = args[:args.index("--readme")]
    docs = os.path.abspath(args[0])
    root = os.path.dirname(docs)
    errors = []
    count = 0
    for dirpath, dirnames, filenames in os.walk(docs):
        dirnames[:] = [d for d in dirnames if not d.startswith("_")
                       and d != "examples"]
        for name in filenames:
            if not name.endswith((".rst", ".md")):
                continue
            path = os.path.join(dirpath, name)
            markdown = name.endswith(".md")
            in_fence = False
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if markdown:
                        m = FENCE.match(line)
                        if not m:
                            continue
                        if in_fence:  # the closing fence
                            in_fence = False
                            continue
                        in_fence = True
                        kind = (m.group(1) or "code-block").strip("{}")
                        arg = m.group(2)
                    else:
                        m = DIRECTIVE.match(line)
                        if not m:
                            continue
                        kind, arg = m.groups()
                    where = f"{os.path.relpath(path, root)}:{lineno}"
                    if kind == "literalinclude":
                        target = os.path.normpath(os.path.join(dirpath, arg))
                        rel = os.path.relpath(target, root)
                        count += 1
                        if not os.path.isfile(target):
                            errors.append(f"{where}: no such file {rel}")
                        elif not rel.startswith(INCLUDE_DIRS):
                            errors.append(f"{where}: {rel} is not in a "
                                          f"directory the tests run")
                    elif arg.lower() in RUNNABLE:
                        errors.append(f"{where}: inline {arg} code: put it in "
                                      f"docs/examples/ (with a .out file) and "
                                      f"literalinclude it")
    examples = os.path.join(docs, "examples")
    for dirpath, _, filenames in os.walk(examples):
        for name in filenames:
            if name.endswith(".out"):
                continue
            base = os.path.splitext(os.path.join(dirpath, name))[0]
            if not os.path.isfile(base + ".out"):
                errors.append(f"{os.path.relpath(base, root)}: no .out file")
    for readme in readmes:
        count += check_readme(os.path.abspath(readme), root, errors)
    for e in errors:
        print("FAIL:", e)
    print(f"{count} included examples checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
