"""The Performance page's plots, drawn from bench/run's output at build time.

    .. kiwi-bench-plots:: ../bench/RESULTS.md

bench/run writes bench/RESULTS.md (date, machine, versions, method, the
results table with medians and min-max per contender). This reads its
"Results" table and draws one bar chart per column (median, with the
min-max range as the error bar) with matplotlib, under a caption naming the
date and machine the figures come from. The tables themselves are included
from the same file by the page (see performance.rst), so the numbers shown
and the plots are always of one run.
"""

import os
import re

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

CELL = re.compile(r"^([0-9.]+)\s*\(([0-9.]+)\u2013([0-9.]+)\)")


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"Written by `bench/run[^`]*` on ([0-9-]+ [0-9:]+ UTC)", text)
    if not m:
        raise ExtensionError(f"kiwi_bench: {path}: no 'Written by' line")
    date = m.group(1)
    machine = re.search(r"## Machine\n\n((?:- .*\n)+)", text)
    machine = [l[2:] for l in machine.group(1).splitlines()] if machine else []
    results = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [l for l in results.splitlines() if l.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    table = []
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        table.append(cells)
    return date, machine, header, table


def plot(header, table, outdir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(outdir, exist_ok=True)
    files = []
    for col in range(1, len(header)):
        names, med, lo, hi = [], [], [], []
        for cells in table:
            m = CELL.match(cells[col])
            if not m:
                continue
            v, a, b = (float(x) for x in m.groups())
            names.append(cells[0])
            med.append(v)
            lo.append(v - a)
            hi.append(b - v)
        if not names:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(names) + 1.2))
        y = range(len(names))
        colors = ["#4a7f2c" if n.startswith("kiwi-ipc") else "#9a9a9a"
                  for n in names]
        ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=2)
        ax.set_yticks(list(y), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(header[col], fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        name = f"bench-{col}.png"
        fig.savefig(os.path.join(outdir, name), dpi=90)
        plt.close(fig)
        files.append((name, header[col]))
    return files


class BenchPlots(SphinxDirective):
    required_arguments = 1

    def run(self):
        path = self.env.relfn2path(self.arguments[0])[1]
        self.env.note_dependency(path)
        date, machine, header, table = parse(path)
        # Drawn beside the doctrees, in the output tree, never in the
        # sources: build trees built at once do not share them.
        outdir = os.path.join(os.path.dirname(self.env.app.doctreedir), "plots")
        here = os.path.dirname(str(self.env.doc2path(self.env.docname)))
        out = []
        para = nodes.paragraph()
        para += nodes.Text(f"Measured by bench/run on {date}, on: "
                           + "; ".join(machine) + ".")
        out.append(para)
        for name, title in plot(header, table, outdir):
            uri = os.path.relpath(os.path.join(outdir, name), here)
            image = nodes.image(uri=uri,
                                alt=f"bar chart: {title}")
            figure = nodes.figure("", image)
            figure += nodes.caption("", f"{title} (median; bar: min\u2013max "
                                    f"over the repetitions), {date}")
            out.append(figure)
        return out


def setup(app):
    app.add_directive("kiwi-bench-plots", BenchPlots)
    return {"parallel_read_safe": True, "version": "1"}
