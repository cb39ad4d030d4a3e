"""Plain-text doc comments (the header's and the Lua module's) to rst.

The comments are written to be read as plain text in an editor: paragraphs,
"- " lists (nested by indenting), code indented by 4 or more, `code` in
backquotes, and ipc_name() for a call. This turns such a comment into rst
with everything else escaped, so that no character of a comment can become
markup by accident.
"""

import re

# ``code`` or `code`, a call such as ipc_send() (a link into the C
# reference), or text.
_TOKEN = re.compile(r"``(.+?)``|`([^`]+)`|\b(ipc_[a-z_]+)\(\)")


def _escape(text):
    return re.sub(r"([\\*_|`\[\]<>:])", r"\\\1", text)


def inline(text, link_calls=True):
    out = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(_escape(text[pos:m.start()]))
        code = m.group(1) if m.group(1) is not None else m.group(2)
        if code is not None:
            out.append("\\ ``" + code + "``\\ ")
        elif link_calls:
            out.append("\\ :c:func:`" + m.group(3) + "`\\ ")
        else:
            out.append("\\ ``" + m.group(3) + "()``\\ ")
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _blocks(lines):
    """Split into blocks at blank lines."""
    block = []
    for line in lines:
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def _list_items(block):
    """(indent, text) per "- " item; continuation lines join their item."""
    items = []
    for line in block:
        ind = _indent(line)
        body = line.strip()
        if body.startswith("- "):
            items.append([ind, body[2:]])
        elif items:
            items[-1][1] += " " + body
        else:
            items.append([ind, body])
    return items


def to_rst(lines, link_calls=True):
    """The rst of a comment, as a list of lines."""
    out = []
    base = min((_indent(l) for l in lines if l.strip()), default=0)
    lines = [l[base:] for l in lines]
    for block in _blocks(lines):
        while block:
            first = block[0]
            if first.startswith("- "):
                # A list, nested by indentation, to the end of the block.
                levels = sorted({ind for ind, _ in _list_items(block)})
                for ind, text in _list_items(block):
                    depth = levels.index(ind)
                    out += ["  " * depth + "- " + inline(text, link_calls), ""]
                block = []
            elif _indent(first) >= 2:
                # Code, or a table laid out with spaces: as written.
                run = []
                while block and _indent(block[0]) >= 2:
                    run.append(block.pop(0))
                out += ["::", ""] + ["    " + l for l in run] + [""]
            else:
                run = []
                while block and not (run and block[0].startswith("- ")):
                    if _indent(block[0]) == 0:
                        run.append(block.pop(0).strip())
                        continue
                    # "NAME:   text" with its next line indented to "text"
                    # (a hanging indent) goes on the same item.
                    label = re.match(r"^\S+:\s+", run[-1]) if run else None
                    if label and _indent(block[0]) == len(label.group(0)):
                        run.append(block.pop(0).strip())
                        continue
                    break
                text = " ".join(run)
                if text.endswith("::"):  # reST's "code follows": one colon
                    text = text[:-1]
                out += [inline(text, link_calls), ""]
    return out
