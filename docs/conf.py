# Sphinx configuration of kiwi-ipc's documentation: built by scripts/build-docs
# into build/docs/html/ with warnings as errors.
#
# The references are generated from the sources, so that they cannot drift:
# the C API from the doc comments of libipc/include/kiwi_ipc.h (_ext/kiwi_capi),
# Python from the package's docstrings (autodoc, importing the build tree's
# module: KIWI_IPC_BUILD_DIR, default build/), Lua from the doc comments of
# bindings/lua/kiwi_ipc.lua (_ext/kiwi_luadoc), the tool from its man page
# tools/kiwi-ipc/kiwi-ipc.1 (_ext/kiwi_man), the Performance page from
# bench/RESULTS.md, what bench/run writes (_ext/kiwi_bench).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "_ext"))
build_dir = os.environ.get("KIWI_IPC_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(build_dir, "python"))

project = "kiwi-ipc"
author = "the kiwi-ipc authors"
copyright = "2026, the kiwi-ipc authors"


def _version():
    with open(os.path.join(ROOT, "libipc", "include", "kiwi_ipc.h")) as f:
        for line in f:
            if line.startswith("#define KIWI_IPC_VERSION "):
                return line.split('"')[1]
    raise RuntimeError("no KIWI_IPC_VERSION in kiwi_ipc.h")


release = version = _version()

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
    "kiwi_capi",
    "kiwi_luadoc",
    "kiwi_man",
    "kiwi_bench",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples"]
primary_domain = "c"
highlight_language = "none"
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The module must be the one built from this checkout, never an installed one.
autodoc_mock_imports = []

html_theme = "alabaster"
html_title = f"kiwi-ipc {release}"
html_theme_options = {
    "description": "the Kiwi language's ipc pipes for C, Python and Lua",
    "fixed_sidebar": True,
    "show_relbars": True,
    "page_width": "1140px",
    "sidebar_width": "230px",
}
html_sidebars = {
    "**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]
}
html_show_sourcelink = False
html_last_updated_fmt = None

# The included bench/RESULTS.md starts at its "##" headings, on purpose.
suppress_warnings = ["myst.header"]


def _plain_docstrings(app, what, name, obj, options, lines):
    # The package's docstrings are plain text, written for help() (see
    # bindings/python/kiwi_ipc): paragraphs, "- " lists, indented code,
    # `code`. Read them as that, not as reStructuredText, as the C and Lua
    # references read their comments (_ext/kiwi_textdoc.py).
    from kiwi_textdoc import to_rst

    lines[:] = to_rst(list(lines), link_calls=False)


def setup(app):
    app.connect("autodoc-process-docstring", _plain_docstrings)

# No typographic quotes or dashes: "--clients" and '"demo"' are to be typed
# as shown.
smartquotes = False

# Every cross-reference must resolve (scripts/build-docs passes -n): a call
# named in a doc comment, ipc_foo(), that the header does not declare fails
# the build. These are not ours to document: C's size_t, the package's type
# aliases and TypeVar, and os.PathLike (no intersphinx: the build is
# offline).
nitpick_ignore = [
    ("c:identifier", "size_t"),
    ("py:class", "Name"),
    ("py:class", "Timeout"),
    ("py:class", "os.PathLike"),
    ("py:class", "kiwi_ipc._wait._W"),
]
