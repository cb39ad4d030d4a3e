"""The C API reference, generated from libipc/include/kiwi_ipc.h.

    .. kiwi-c-api:: ../libipc/include/kiwi_ipc.h

The header is the one source: its banner comments become sections, each
doc comment with the declarations right below it becomes a C-domain entry
(c:function, c:macro, c:struct, c:type: indexed and searchable, and what
:c:func:`ipc_send` links to), the status map becomes a table. Comments
without a declaration below them become text; code without a comment above
it (include guards, the export macro) is left out as internal.
"""

import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from kiwi_textdoc import inline, to_rst

BANNER = re.compile(r"^/\* -{10,} \*/$")
FUNC = re.compile(r"IPC_API\s+(.*?)\s*;", re.S)
DEFINE = re.compile(r"^#define\s+(IPC_[A-Z0-9_]+|KIWI_IPC_[A-Z_]+)\b(?!\()")
STATUS = re.compile(r'X\((IPC_[A-Z]+),\s*(-?\d+),\s*"([a-z_]+)",\s*"([^"]*)"\)')
STRUCT = re.compile(r"^struct\s+(\w+)\s*\{")
TYPEDEF_FN = re.compile(r"^typedef\s+.*\(\*(\w+)\)\s*\(")


def parse(path):
    """[(kind, data)]: ("section", title), ("text", lines),
    ("entry", (comment lines, code lines))."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    items = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if BANNER.match(line) and i + 2 < n and BANNER.match(lines[i + 2]):
            items.append(("section", lines[i + 1][2:-2].strip()))
            i += 3
            continue
        if line.startswith("/*"):
            comment = []
            if line.rstrip().endswith("*/") and line.strip() != "/*":
                comment.append(line.strip()[2:-2].strip())
                i += 1
            else:
                first = line.strip()[2:].strip()
                if first:
                    comment.append(first)
                i += 1
                while i < n and "*/" not in lines[i]:
                    comment.append(re.sub(r"^ \* ?|^ \*$", "", lines[i]))
                    i += 1
                last = lines[i].split("*/")[0].strip().lstrip("*").strip()
                if last:
                    comment.append(last)
                i += 1
            code = []
            while i < n and lines[i].strip() and not lines[i].startswith("/*"):
                code.append(lines[i])
                i += 1
            items.append(("entry", (comment, code)))
            continue
        i += 1
    return items


def _strip_comment(code_line):
    return re.sub(r"/\*.*?\*/", "", code_line).rstrip()


class CApiDirective(SphinxDirective):
    required_arguments = 1

    def run(self):
        path = self.env.relfn2path(self.arguments[0])[1]
        self.env.note_dependency(path)
        rst = []
        seen = set()
        items = parse(path)
        # The file's opening comment: what the header says of the whole API.
        _, (intro, _) = items.pop(0)
        rst += to_rst(intro)
        for kind, data in items:
            if kind == "section":
                rst += ["", data, "-" * len(data), ""]
                continue
            comment, code = data
            if not code:
                rst += to_rst(comment)
                continue
            text = "\n".join(code)
            if "IPC_STATUS_MAP" in text and STATUS.search(text):
                rst += to_rst(comment)
                rst += [".. list-table:: Statuses", "   :header-rows: 1", "",
                        "   * - constant", "     - value",
                        "     - ipc_errname()", "     - ipc_strerror()"]
                for m in STATUS.finditer(text):
                    rst += [f"   * - ``{m.group(1)}``", f"     - {m.group(2)}",
                            f"     - ``\"{m.group(3)}\"``",
                            f"     - {inline(m.group(4))}"]
                rst += [""]
                for m in STATUS.finditer(text):
                    rst += [f".. c:enumerator:: {m.group(1)}", "",
                            "   " + inline(m.group(4)), ""]
                continue
            funcs = [" ".join(_strip_comment(l) for l in m.group(1).split("\n"))
                     for m in FUNC.finditer("\n".join(_strip_comment(l)
                                                       for l in code))]
            if funcs:
                rst += [".. c:function:: " + re.sub(r"\s+", " ", funcs[0])]
                for sig in funcs[1:]:
                    rst += ["                " + re.sub(r"\s+", " ", sig)]
                rst += [""] + ["   " + l for l in to_rst(comment)] + [""]
                continue
            # Anything else: a declaration of names (macros, a struct, a
            # typedef), shown as written under its comment.
            names = []
            for l in code:
                for rx, directive in ((DEFINE, "c:macro"), (STRUCT, "c:struct"),
                                      (TYPEDEF_FN, "c:type")):
                    m = rx.match(l.strip())
                    if m and m.group(1) not in seen:
                        names.append((directive, m.group(1)))
                        seen.add(m.group(1))
            if names:
                directive, name = names[0]
                rst += [f".. {directive}:: {name}"]
                rst += [""] + ["   " + l for l in to_rst(comment)]
                rst += ["", "   .. code-block:: c", ""]
                rst += ["      " + l for l in code if "clang-format" not in l]
                rst += [""]
                for directive, name in names[1:]:
                    rst += [f".. {directive}:: {name}", "",
                            f"   Declared with ``{names[0][1]}``, above.", ""]
            else:
                rst += to_rst(comment)
                rst += ["", ".. code-block:: c", ""]
                rst += ["   " + l for l in code if "clang-format" not in l]
                rst += [""]
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(rst, path), container)
        return container.children


def setup(app):
    app.add_directive("kiwi-c-api", CApiDirective)
    return {"parallel_read_safe": True, "version": "1"}
