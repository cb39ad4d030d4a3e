"""The Lua reference, generated from bindings/lua/kiwi_ipc.lua.

    .. kiwi-lua-api:: ../bindings/lua/kiwi_ipc.lua

The module's doc comments are the one source: a block that starts with
"---" (LDoc's mark) and goes on with "--" lines documents what follows it.
The first block is the module's overview; a block whose first line is a
call ("Pipe.create(name [, timeout]) - ...", "p:recv([timeout]) -> ...")
documents that call; a block of calls one a line, each with its summary
after two spaces, is a table of calls; any other block ("A pipe: ...")
opens a section. "--- text" inside a table documents the field below it.
"""

import re

from docutils.statemachine import StringList
from docutils import nodes
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from kiwi_textdoc import inline, to_rst

CALL = re.compile(r"^([\w.]+[.:][\w]+\([^)]*\)|[\w]+\.[\w]+\([^)]*\))"
                  r"(\s*->\s*[^.:]*?)?(?:\s+-\s+|\.\s+|:\s+|\.$|$)(.*)$")
FIELD = re.compile(r"^\s+([A-Za-z_]+)\s*=")


def parse(path):
    """[(lines of one doc block, the code line after it)]"""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("---") and not s.startswith("----"):
            block = [s[3:].lstrip() if s[3:4] == " " else s[3:]]
            i += 1
            while i < len(lines) and lines[i].strip().startswith("--") \
                    and not lines[i].strip().startswith("---"):
                t = lines[i].strip()[2:]
                block.append(t[1:] if t.startswith(" ") else t)
                i += 1
            after = lines[i] if i < len(lines) else ""
            blocks.append((block, after, lines[i - len(block)].startswith(" ")))
            continue
        i += 1
    return blocks


def is_table(block):
    """A block of calls one a line, each with its summary after two spaces
    (continued by indented lines): shown as a list of calls, not text."""
    return len(block) > 1 and all(re.match(r"^[\w.:]+\(", l)
                                  or l.startswith(" ") for l in block)


def _table(block):
    """A block of calls one a line: [(call, summary)]."""
    rows = []
    for line in block:
        if line.startswith(" ") and rows:
            rows[-1][1] += " " + line.strip()
            continue
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        rows.append([parts[0], parts[1] if len(parts) > 1 else ""])
    return rows


class LuaApiDirective(SphinxDirective):
    required_arguments = 1

    def run(self):
        path = self.env.relfn2path(self.arguments[0])[1]
        self.env.note_dependency(path)
        blocks = parse(path)
        rst = []
        overview, _, _ = blocks.pop(0)
        rst += to_rst(overview, link_calls=False)
        for block, after, indented in blocks:
            if indented:
                m = FIELD.match(after)
                if m:
                    rst += [f"``ipc.{m.group(1)}``",
                            "   " + inline(" ".join(block), False), ""]
                continue
            if is_table(block):
                for call, summary in _table(block):
                    rst += [f"``{call}``", "   " + (inline(summary, False)
                                                    or "\\ "), ""]
                continue
            m = CALL.match(block[0])
            if m:
                term = m.group(1) + (m.group(2) or "")
                rest = [m.group(3)] + block[1:] if m.group(3) else block[1:]
                rst += [f"``{term.strip()}``"]
                body = to_rst(rest, link_calls=False) or ["\\ "]
                rst += ["   " + l if l else "" for l in body] + [""]
                continue
            title = re.split(r"[:.]", block[0])[0].strip()
            title = title[0].upper() + title[1:]
            rst += ["", title, "-" * len(title), ""]
            rst += to_rst(block, link_calls=False)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(rst, path), container)
        return container.children


def setup(app):
    app.add_directive("kiwi-lua-api", LuaApiDirective)
    return {"parallel_read_safe": True, "version": "1"}
