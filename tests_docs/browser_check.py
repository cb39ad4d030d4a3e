#!/usr/bin/env python3
"""browser_check.py - look at the built documentation in a real browser.

    browser_check.py HTML_DIR

Serves HTML_DIR (what scripts/build-docs wrote) on 127.0.0.1 and opens it
in headless Chromium (Debian's chromium), once per page with a fresh
profile:

- the start page and one page of each section render: Chromium's DOM of the
  page has its title as the h1, the theme's stylesheet, and no error page;
- every internal link of those pages resolves: the file exists and, for a
  link to #anchor, the target page has an element with that id; every
  image the page shows exists;
- the search works, offline: search.html?q=ipc_send, once its JavaScript
  has run, lists a result linking to ipc_send in the C reference;
- screenshots of the start page and of the search results (PNG, in
  HTML_DIR/../screenshots/) are not blank.

Without chromium it prints "docs_browser skipped: ..." (ctest reports the
test as skipped), unless CI is set: CI installs chromium
(scripts/install-deps), so there a missing browser fails.
"""
import functools
import html.parser
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse

PAGES = {
    "index.html": "kiwi-ipc",
    "getting-started.html": "Getting started",
    "guides/index.html": "Guides",
    "guides/many-pipes.html": "Many pipes at once",
    "reference/index.html": "Reference",
    "reference/c.html": "C API",
    "reference/python.html": "Python API",
    "reference/lua.html": "Lua API",
    "reference/kiwi-ipc.html": "kiwi-ipc (the command-line tool)",
    "protocol.html": "Wire protocol",
    "performance.html": "Performance",
    "changelog.html": "Changelog",
    "contributing.html": "Contributing",
}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         # /dev/shm may be small or missing (a chroot, a container): /tmp
         "--disable-dev-shm-usage",
         "--hide-scrollbars", "--window-size=1280,1400"]


class Page(html.parser.HTMLParser):
    """What a check needs of a DOM: ids, links, images, h1 and stylesheets."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.css = set(), [], [], []
        self.h1s = []  # the theme's sidebar has one too
        self._in_h1 = False
        self._text = []
        self.search_results = []
        self._in_search = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
            if self._in_search:
                self.search_results.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.css.append(a.get("href", ""))
        if tag == "h1":
            self._in_h1 = True
            self._text = []
        if tag == "ul" and "search" in (a.get("class") or "").split():
            self._in_search += 1
        elif tag == "ul" and self._in_search:
            self._in_search += 1

    def handle_endtag(self, tag):
        if tag == "h1" and self._in_h1:
            self._in_h1 = False
            self.h1s.append("".join(self._text).replace("\u00b6", "").strip())
        if tag == "ul" and self._in_search:
            self._in_search -= 1

    def handle_data(self, data):
        if self._in_h1:
            self._text.append(data)


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser, args, url):
    profile = tempfile.mkdtemp(prefix="kiwi-docs-chromium-")
    try:
        proc = subprocess.Popen([browser, *FLAGS, f"--user-data-dir={profile}",
                                 *args, url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"chromium did not finish within 90 s: {url}")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its helper processes
            except ProcessLookupError:
                pass
        if proc.returncode != 0:
            raise RuntimeError(f"chromium failed ({proc.returncode}) on {url}:\n"
                               + err.decode("utf-8", "replace")[-2000:])
        return out.decode("utf-8", "replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def parse(text):
    p = Page()
    p.feed(text)
    return p


def file_ids(root, rel, cache={}):
    if rel not in cache:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            cache[rel] = parse(f.read()).ids
    return cache[rel]


def check_links(root, page_rel, page, problems):
    base = "http://site/" + page_rel
    for href in page.links + page.images:
        url = urllib.parse.urljoin(base, href)
        parts = urllib.parse.urlsplit(url)
        if parts.netloc != "site":
            continue  # an external link: not checked (no network here)
        rel = urllib.parse.unquote(parts.path.lstrip("/")) or "index.html"
        target = os.path.join(root, rel)
        if os.path.isdir(target):
            rel = os.path.join(rel, "index.html")
            target = os.path.join(root, rel)
        if not os.path.isfile(target):
            problems.append(f"{page_rel}: broken link {href}")
            continue
        if parts.fragment and rel.endswith(".html"):
            ids = page.ids if rel == page_rel else file_ids(root, rel)
            if urllib.parse.unquote(parts.fragment) not in ids:
                problems.append(f"{page_rel}: no #{parts.fragment} in {rel}")


def not_blank(png):
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    return float(pixels.std()) > 0.01


def main():
    root = os.path.abspath(sys.argv[1])
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            print("FAIL: no chromium (scripts/install-deps installs it)")
            return 1
        print("docs_browser skipped: no chromium on PATH (apt-get install chromium)")
        return 0
    if not os.path.isfile(os.path.join(root, "index.html")):
        print(f"FAIL: no {root}/index.html: run scripts/build-docs first")
        return 1
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}/"
    shots = os.path.join(os.path.dirname(root), "screenshots")
    os.makedirs(shots, exist_ok=True)
    problems = []
    links = 0
    try:
        version = subprocess.run([browser, "--version"], capture_output=True,
                                 text=True, timeout=30).stdout.strip()
        print(f"browser: {version}")
        for rel, title in PAGES.items():
            page = parse(run_browser(browser, ["--dump-dom"], site + rel))
            if title not in page.h1s:
                problems.append(f"{rel}: no h1 {title!r} (h1s: {page.h1s})")
            if not any("alabaster.css" in c or "basic.css" in c
                       for c in page.css):
                problems.append(f"{rel}: the theme's stylesheet is missing")
            before = len(problems)
            check_links(root, rel, page, problems)
            links += len(page.links) + len(page.images)
            print(f"{rel}: rendered, h1 {title!r}, {len(page.links)} links "
                  f"and {len(page.images)} images"
                  + (" ok" if len(problems) == before else " with problems"))

        # The search runs in the page's JavaScript, from searchindex.js.
        url = site + "search.html?q=ipc_send"
        page = parse(run_browser(browser, ["--virtual-time-budget=15000",
                                           "--dump-dom"], url))
        hits = [h for h in page.search_results if "ipc_send" in h]
        print(f"search for ipc_send: {len(page.search_results)} results, "
              f"e.g. {hits[:3]}")
        if not any(h.startswith("reference/c.html") for h in hits):
            problems.append("search for ipc_send: no result in reference/c.html "
                            f"(results: {page.search_results[:10]})")

        for name, url, extra in (
                ("index.png", site + "index.html", []),
                ("search-ipc_send.png", url, ["--virtual-time-budget=15000"])):
            png = os.path.join(shots, name)
            if os.path.exists(png):
                os.remove(png)
            run_browser(browser, extra + [f"--screenshot={png}"], url)
            if not os.path.isfile(png) or not not_blank(png):
                problems.append(f"screenshot {name}: missing or blank")
            else:
                print(f"screenshot: {png} ({os.path.getsize(png)} bytes)")
    except RuntimeError as e:
        problems.append(str(e))
    finally:
        server.shutdown()
    for p in problems:
        print("FAIL:", p)
    print(f"{len(PAGES)} pages and the search checked in {version}, {links} "
          f"links and images followed, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
