"""The command-line tool's reference, generated from its man page.

    .. kiwi-man:: ../tools/kiwi-ipc/kiwi-ipc.1

tools/kiwi-ipc/kiwi-ipc.1 is the one source: `man kiwi-ipc` shows it as
installed, and this translates the man(7) macros it uses into the page's
nodes (.SH sections, .TP/.IP tagged paragraphs, .RS/.RE indents, .EX/.EE
examples, .B/.I/.BR/.BI/.IR/.RB/.RI fonts and \\fB \\fI \\fR inline, the
escapes \\- \\e \\(xx). A macro it does not know is an error, so the page
cannot silently lose text when the man page starts using a new one.
"""

import re

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

ESCAPES = {
    r"\-": "-", r"\e": "\\", r"\(em": "\u2014", r"\(en": "\u2013",
    r"\(aq": "'", r"\(lq": "\u201c", r"\(rq": "\u201d", r"\(bu": "\u2022",
    r"\(co": "\u00a9", r"\(ga": "`", r"\(ti": "~", r"\(ha": "^",
    r"\&": "", r"\ ": " ", r"\(mu": "\u00d7", r"\(->": "\u2192",
    r"\(rs": "\\", r"\(dq": '"', r"\(ul": "_", r"\(+-": "\u00b1",
}
ESCAPE = re.compile(r"\\\(..|\\[-e&\\ ]")


def unescape(text):
    def repl(m):
        s = m.group(0)
        if s == "\\\\":
            return "\\"
        if s not in ESCAPES:
            raise ExtensionError(f"kiwi_man: unknown roff escape {s!r}")
        return ESCAPES[s]
    return ESCAPE.sub(repl, text)


def runs(text, font="R"):
    """Inline \\fB \\fI \\fR \\fP into [(font, text)]."""
    out = []
    prev = font
    for part in re.split(r"(\\f[BIRP])", text):
        if re.fullmatch(r"\\f[BIRP]", part):
            f = part[2]
            prev, font = font, (prev if f == "P" else f)
        elif part:
            out.append((font, unescape(part)))
    return out


def to_nodes(pieces):
    out = []
    for font, text in pieces:
        if font == "B":
            out.append(nodes.strong(text, text))
        elif font == "I":
            out.append(nodes.emphasis(text, text))
        else:
            out.append(nodes.Text(text))
    return out


def roff_args(rest):
    """A macro's arguments as roff splits them: at spaces, except inside
    double quotes ("" there is one quote); backslashes are left for
    unescape(), and a single quote is an ordinary character."""
    args, cur, quoted, i, have = [], [], False, 0, False
    while i < len(rest):
        c = rest[i]
        if c == '"':
            if quoted and rest[i + 1:i + 2] == '"':
                cur.append('"')
                i += 2
                continue
            quoted = not quoted
            have = True
        elif c == " " and not quoted:
            if cur or have:
                args.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
        i += 1
    if cur or have:
        args.append("".join(cur))
    return args


def macro_runs(name, args):
    fonts = {"B": "B", "I": "I", "R": "R"}
    if name in ("B", "I"):
        return runs(" ".join(args), name) if args else []
    # .BR .BI .IR .RB .RI .IB: alternate two fonts, no spaces between.
    pieces = []
    for k, a in enumerate(args):
        pieces += runs(a, fonts[name[k % 2]])
    return pieces


class ManDirective(SphinxDirective):
    required_arguments = 1

    def run(self):
        path = self.env.relfn2path(self.arguments[0])[1]
        self.env.note_dependency(path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        top = nodes.container(classes=["manpage"])
        stack = [top]  # where blocks go (.RS nests)
        para = None  # the paragraph being filled
        pending_tag = False  # the next line is a .TP tag
        item = None
        literal = None
        root = top

        def body():
            return stack[-1]

        def new_para():
            nonlocal para
            para = nodes.paragraph()
            body().append(para)
            return para

        def add(pieces, space=True):
            nonlocal para, pending_tag, item
            if pending_tag:
                dl = body()
                if not isinstance(dl, nodes.definition_list):
                    raise ExtensionError("kiwi_man: .TP tag outside a list")
                term = nodes.term()
                term += to_nodes(pieces)
                definition = nodes.definition()
                item = nodes.definition_list_item("", term, definition)
                dl.append(item)
                stack.append(definition)
                pending_tag = False
                para = None
                return
            if para is None:
                new_para()
            if space and len(para):
                para.append(nodes.Text(" "))
            para += to_nodes(pieces)

        def close_list():
            # Leave a definition and its list, back to the section body.
            nonlocal para
            while len(stack) > 1 and isinstance(
                    stack[-1], (nodes.definition, nodes.definition_list)):
                stack.pop()
            para = None

        def start_tagged():
            nonlocal para
            while isinstance(stack[-1], nodes.definition):
                stack.pop()
            if not isinstance(stack[-1], nodes.definition_list):
                dl = nodes.definition_list()
                stack[-1].append(dl)
                stack.append(dl)
            para = None

        for line in lines:
            if literal is not None:
                if line.startswith(".EE"):
                    literal = None
                else:
                    text = unescape(re.sub(r"\\f[BIRP]", "", line))
                    literal.append(nodes.Text(text + "\n"))
                continue
            if line.startswith(".\\\"") or line.startswith("'\\\""):
                continue
            if not line.startswith("."):
                if not line.strip():
                    para = None
                    continue
                add(runs(line))
                continue
            name, _, rest = line[1:].partition(" ")
            args = roff_args(rest)
            if name == "TH":
                continue
            if name == "SH":
                title = unescape(" ".join(args))
                section = nodes.container(ids=[nodes.make_id("kiwi-ipc-" + title)],
                                        names=[nodes.fully_normalize_name(
                                            "kiwi-ipc " + title)])
                section += nodes.rubric(title, title)
                root.append(section)
                stack[:] = [section]
                para = None
                pending_tag = False
                continue
            if name in ("PP", "P", "LP"):
                close_list()
                continue
            if name == "TP":
                start_tagged()
                pending_tag = True
                continue
            if name == "IP":
                start_tagged()
                pending_tag = True
                add(runs(args[0]) if args else [("R", "\u2022")])
                continue
            if name == "RS":
                block = nodes.block_quote()
                body().append(block)
                stack.append(block)
                para = None
                continue
            if name == "RE":
                while len(stack) > 1 and not isinstance(stack[-1],
                                                        nodes.block_quote):
                    stack.pop()
                if len(stack) > 1:
                    stack.pop()
                para = None
                continue
            if name == "EX":
                literal = nodes.literal_block("", "")
                body().append(literal)
                para = None
                continue
            if name == "br":
                if para is not None:
                    para = None
                continue
            if name in ("B", "I", "BR", "BI", "IR", "RB", "RI", "IB"):
                add(macro_runs(name, args))
                continue
            if name in ("", "sp", "ad", "nh", "hy", "fi", "nf", "ne"):
                para = None if name == "sp" else para
                continue
            raise ExtensionError(f"kiwi_man: {path}: unknown macro .{name}")
        for literal_block in top.findall(nodes.literal_block):
            text = literal_block.astext()
            literal_block.children = [nodes.Text(text.rstrip("\n"))]
            literal_block.rawsource = text
        return [top]


def setup(app):
    app.add_directive("kiwi-man", ManDirective)
    return {"parallel_read_safe": True, "version": "1"}
