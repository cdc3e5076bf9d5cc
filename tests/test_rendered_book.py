"""The rendered book works offline: a chapter's equations are typeset by the MathJax that the build
ships (book/_ext/digitlib_book.py copies it into _static), and no page needs the network.

The tests read ``_build/html``, which tests/test_book_build.py builds earlier in the same pytest
run (files run in alphabetical order). One chapter is opened in headless Chromium with the network
cut off (every host name resolves to nothing, every connection goes to a proxy that is not there);
Chromium's network log then shows every request the page itself made, and its DOM, dumped after
MathJax ran, shows what a reader sees.
"""
import json
import os
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import ROOT

BUILD = ROOT / "_build" / "html"
#: a chapter with display equations (eq-position, eq-sequence, eq-iou) and inline math
CHAPTER = "notebooks/01_introduction.html"
#: rel values of <link> that make the browser fetch something
LOADING_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "mask-icon", "manifest", "preload",
                "prefetch", "modulepreload", "preconnect", "dns-prefetch"}
#: elements whose src (or srcset) the browser loads
LOADING_TAGS = {"script", "img", "source", "iframe", "embed", "video", "audio", "track", "input"}
#: text in these elements is code, not prose: a `$$` there is not a failed equation
CODE_TAGS = {"pre", "code", "script", "style", "textarea", "kbd", "samp"}
RAW_MATH = ("\\[", "\\(", "$$")


def _is_remote(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://", "//"))


class _Page(HTMLParser):
    """What the checks need from a page: prose text, loaded and linked URLs, MathJax's elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.loads, self.links, self.images = [], [], [], []
        self.math = self.math_errors = 0
        self._code_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag in CODE_TAGS:
            self._code_depth += 1
        if tag == "mjx-container":
            self.math += 1
        if tag == "mjx-merror" or "data-mjx-error" in attrs:
            self.math_errors += 1
        if tag in LOADING_TAGS:
            for url in [attrs.get("src", "")] + [s.split()[0] for s in attrs.get("srcset", "").split(",") if s.split()]:
                if url:
                    self.loads.append((tag, url))
                    if tag == "img":
                        self.images.append(url)
        if tag == "link" and set(attrs.get("rel", "").lower().split()) & LOADING_RELS:
            self.loads.append((f"link rel={attrs['rel']}", attrs.get("href", "")))
        if tag == "object" and attrs.get("data"):
            self.loads.append((tag, attrs["data"]))
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in CODE_TAGS and self._code_depth:
            self._code_depth -= 1

    def handle_data(self, data):
        if not self._code_depth:
            self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _local_target(html_root: Path, page_path: Path, url: str) -> Path | None:
    """The file a relative or root-relative URL of ``page_path`` points at (None: not a file URL)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path:  # http:, mailto:, data:, javascript:, #anchor
        return None
    path = unquote(parts.path)
    base = html_root if path.startswith("/") else page_path.parent
    target = (base / path.lstrip("/")).resolve()
    return target / "index.html" if url.split("#")[0].split("?")[0].endswith("/") else target


def page_problems(html_root: Path, page_path: Path, html: str, require_math: bool = False) -> list[str]:
    """Everything that would break ``page_path`` offline, one line each (empty: none).

    ``html`` is the page's DOM (after MathJax ran when ``require_math``)."""
    html_root = Path(html_root).resolve()
    page = parse(html)
    problems = [f"loads {what} from the network: {url}" for what, url in page.loads if _is_remote(url)]
    for url in page.images:
        target = _local_target(html_root, page_path, url)
        if target is not None and not target.is_file():
            problems.append(f"<img> whose file is missing: {url}")
    for url in page.links:
        target = _local_target(html_root, page_path, url)
        if target is not None and not target.exists():
            problems.append(f"link to a missing file: {url}")
    if require_math:
        text = " ".join(page.text)
        if not page.math:
            problems.append("no equation typeset by MathJax (no <mjx-container>)")
        if page.math_errors:
            problems.append(f"{page.math_errors} MathJax error(s) (<mjx-merror>)")
        for raw in RAW_MATH:
            at = text.find(raw)
            if at >= 0:
                problems.append(f"raw {raw} left in the text: ...{' '.join(text[max(0, at - 40):at + 60].split())}...")
    return problems


def stylesheet_problems(html_root: Path) -> list[str]:
    """url(...) and @import of http(s) resources in the build's CSS files."""
    problems = []
    for css in sorted(Path(html_root).rglob("*.css")):
        for url in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", css.read_text(errors="replace")):
            if _is_remote(url):
                problems.append(f"{css.relative_to(html_root)} loads {url}")
    return problems


def _require_build(html_root: Path = BUILD) -> None:
    if not (html_root / CHAPTER).is_file():
        pytest.fail(f"{html_root / CHAPTER} does not exist: this test reads the book that "
                    "tests/test_book_build.py builds; run `pytest tests/test_book_build.py "
                    "tests/test_rendered_book.py` (or the whole suite, `make test`)", pytrace=False)


def _chromium() -> str:
    """A headless-capable Chromium or Chrome; installs Debian's chromium when it can, else skips."""
    candidates = [os.environ.get("CHROME_BIN", ""), "chromium", "chromium-browser", "google-chrome",
                  "google-chrome-stable"]
    found = next((shutil.which(c) for c in candidates if c and shutil.which(c)), None)
    if found:
        return found
    why = "no chromium, chromium-browser, google-chrome or $CHROME_BIN on PATH"
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                        ["apt-get", "install", "-y", "chromium"]):
            run = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                 env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            if command[1] == "install" and run.returncode == 0 and shutil.which("chromium"):
                return shutil.which("chromium")
        why += f", and `apt-get install -y chromium` failed: {(run.stdout + run.stderr).strip()[-300:]}"
    else:
        why += " (install Debian's `chromium` package, or set CHROME_BIN)"
    warnings.warn(f"the rendered book was not opened in a browser: {why}")
    pytest.skip(why)


def render_offline(page_path: Path, workdir: Path, budget_ms: int = 10000) -> tuple[str, list[str]]:
    """Open ``page_path`` in headless Chromium without network; return the DOM after scripts ran
    (``--virtual-time-budget``) and the http(s) URLs the page itself requested."""
    netlog = workdir / "netlog.json"
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
        "--disable-extensions", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", f"--user-data-dir={workdir / 'profile'}",
        # the network is cut off: no host name resolves, and any connection goes to a closed port
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
        f"--log-net-log={netlog}", f"--virtual-time-budget={budget_ms}", "--dump-dom",
        page_path.resolve().as_uri(),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "<html" in run.stdout, (
        f"Chromium failed ({run.returncode}) on {page_path}:\n{run.stderr[-3000:]}")
    requests = []
    if netlog.exists():  # requests of the page carry its origin ("null" for file://) as initiator
        log = json.loads(netlog.read_text())
        start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        for event in log["events"]:
            params = event.get("params") or {}
            if (event["type"] == start and _is_remote(params.get("url", ""))
                    and str(params.get("initiator", "")).startswith(("null", "file:"))):
                requests.append(params["url"])
    return run.stdout, sorted(set(requests))


def check_chapter_offline(html_root: Path, workdir: Path, chapter: str = CHAPTER) -> list[str]:
    page_path = Path(html_root) / chapter
    dom, requests = render_offline(page_path, Path(workdir))
    problems = page_problems(html_root, page_path, dom, require_math=True)
    return problems + [f"requested from the network: {url}" for url in requests]


@pytest.mark.book
def test_chapter_equations_render_offline(tmp_path):
    """MathJax typesets every equation of a chapter with the network cut off."""
    _require_build()
    problems = check_chapter_offline(BUILD, tmp_path)
    assert not problems, f"{CHAPTER} does not work offline:\n" + "\n".join(problems)


@pytest.mark.book
def test_no_page_needs_the_network():
    """No page of the book loads a script, stylesheet, image or font from the network, and no
    image or local link points at a missing file."""
    _require_build()
    problems = stylesheet_problems(BUILD)
    for page_path in sorted(BUILD.rglob("*.html")):
        problems += [f"{page_path.relative_to(BUILD)}: {p}"
                     for p in page_problems(BUILD, page_path, page_path.read_text(errors="replace"))]
    assert not problems, "the built book needs the network or misses files:\n" + "\n".join(problems)


def test_the_checks_find_a_page_that_needs_the_network(tmp_path):
    """The checks above can fail: a page with a CDN script, raw TeX, a missing image and a broken
    link is caught, and its clean twin passes."""
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"png")
    (tmp_path / "other.html").write_text("<html></html>")
    good = ('<html><head><link rel="stylesheet" href="pics/theme.css">'
            '<link rel="canonical" href="https://example.org/book/"></head><body>'
            '<p>An equation: <mjx-container>x</mjx-container></p><pre>print("$$")</pre>'
            '<img src="pics/a.png"><a href="other.html#top">next</a><a href="https://example.org">out</a>'
            '<a href="#here">here</a></body></html>')
    assert page_problems(tmp_path, tmp_path / "page.html", good, require_math=True) == []
    bad = ('<html><head><script src="https://cdn.example.org/mathjax.js"></script>'
           '<link rel="stylesheet" href="//fonts.example.org/x.css"></head><body>'
           '<div class="math">\\[ x^2 \\]</div><p>and $$y$$</p>'
           '<img src="pics/missing.png"><a href="gone.html#x">gone</a></body></html>')
    problems = page_problems(tmp_path, tmp_path / "page.html", bad, require_math=True)
    expected = ["loads script from the network: https://cdn.example.org/mathjax.js",
                "loads link rel=stylesheet from the network: //fonts.example.org/x.css",
                "<img> whose file is missing: pics/missing.png", "link to a missing file: gone.html#x",
                "no equation typeset by MathJax (no <mjx-container>)"]
    assert problems[:5] == expected, problems
    assert any(p.startswith("raw \\[ left in the text") for p in problems), problems
    assert any(p.startswith("raw $$ left in the text") for p in problems), problems
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "theme.css").write_text("@import 'https://fonts.example.org/f.css'; a{}")
    assert stylesheet_problems(tmp_path) == ["_static/theme.css loads https://fonts.example.org/f.css"]
