"""The rendered book, as a reader meets it: built offline from the committed notebooks, opened in Chromium.

``python docs/book/build.py --out DIR`` is run into tmp_path (nothing is executed: the notebooks'
committed outputs are rendered).  Then, without a network: every internal link and anchor of the
site resolves, no page loads anything from outside, and every chapter page, opened from disk in
headless Chromium, shows its figures (``naturalWidth > 0``) and its typeset math (MathJax elements
in every math span, no raw ``$$`` left); the explorer chapter (6) shows its static figure in place
of the widget.  A screenshot of chapter 3 goes to ``$PERCEIVER_EDU_ARTIFACTS`` (default
``tests/e2e/artifacts/``).

Run it alone:  ``python -m pytest tests/e2e -k rendered_book -p no:nbval``
``PERCEIVER_EDU_BOOK_DIR=DIR`` reuses a book already built there instead of building one.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PERCEIVER_EDU_ARTIFACTS", REPO / "tests" / "e2e" / "artifacts"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]

pytest.importorskip("myst_nb", reason="pip install -r requirements.txt (myst-nb, sphinx)")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_book", REPO / "docs" / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    if os.environ.get("PERCEIVER_EDU_BOOK_DIR"):
        return Path(os.environ["PERCEIVER_EDU_BOOK_DIR"])
    out = tmp_path_factory.mktemp("book")
    start = time.perf_counter()
    assert _load_builder().build(out) == 0, "the book did not build (Sphinx's messages above)"
    print(f"book built in {time.perf_counter() - start:.0f} s")
    return out


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append((tag, attrs[key]))


# docutils wraps markup it could not parse in a docstring (e.g. |x| read as a substitution) in a
# link to its error message, which the HTML leaves out: a docstring's flaw, not a navigation link.
PROBLEMATIC = re.compile(r'<a href="#id\d+">(?=<span class="problematic")')


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(PROBLEMATIC.sub("<a>", path.read_text(encoding="utf-8")))
    return parser


def test_rendered_book_links_resolve_and_nothing_is_fetched(book):
    pages = sorted(book.rglob("*.html"))
    chapters = sorted(p.name for p in (book / "notebooks").glob("*.html"))
    assert (book / "index.html").is_file()
    assert chapters == sorted(p.stem + ".html" for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    parsed = {p: _parse(p) for p in pages}
    broken, external = [], []
    for page, links in parsed.items():
        for tag, ref in links.refs:
            url = urlsplit(ref)
            if url.scheme in ("http", "https") or ref.startswith("//"):
                if tag != "a":  # a script, stylesheet or image from outside: not offline
                    external.append(f"{page.relative_to(book)}: <{tag}> {ref}")
                continue
            if url.scheme in ("mailto", "data", "javascript"):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(book)}: {ref}")
            elif url.fragment and target.suffix == ".html" and target in parsed \
                    and url.fragment not in parsed[target].ids:
                broken.append(f"{page.relative_to(book)}: {ref} (no such anchor)")
    assert not external, "resources fetched from outside:\n" + "\n".join(external)
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:30])
    # The table of contents lists the chapters in order, and the API pages are linked from it.
    index = (book / "index.html").read_text(encoding="utf-8")
    positions = [index.find(f'href="notebooks/{c}"') for c in chapters]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert 'href="api/index.html"' in index
    api = (book / "api" / "index.html").read_text(encoding="utf-8")
    assert "perceiver_edu.model.attention" in api and "perceiver_edu.exercises.core" in api


WAIT_MATHJAX = """async () => {
    if (!document.querySelector('.math')) return 0;
    for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
        await new Promise(r => setTimeout(r, 100));
    await MathJax.startup.promise;
    return document.querySelectorAll('mjx-container').length;
}"""
MATH_STATE = """() => {
    const spans = [...document.querySelectorAll('.math')];
    return {spans: spans.length, typeset: spans.filter(s => s.querySelector('mjx-container')).length,
            raw: (document.body.innerText.match(/\\$\\$/g) || []).length,
            errors: document.querySelectorAll('mjx-merror').length};
}"""
IMAGES = """() => [...document.querySelectorAll('img')].map(i => ({src: i.getAttribute('src').slice(0, 80),
                                                              ok: i.complete && i.naturalWidth > 0}))"""
FALLBACK = """() => {
    const p = [...document.querySelectorAll('p')].find(p => p.innerText.includes('widget above is not live'));
    if (!p) return null;
    const it = document.evaluate('following::img[1]', p, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null);
    const img = it.singleNodeValue;
    return img && {width: img.naturalWidth, height: img.naturalHeight};
}"""


def test_rendered_book_chapters_show_figures_and_math_in_chromium(book, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chapters = sorted((book / "notebooks").glob("*.html"))
    outside, report = [], {}
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", lambda route: (outside.append(route.request.url), route.abort())
                       if not route.request.url.startswith("file://") else route.continue_())
            for chapter in chapters:
                page.goto(chapter.as_uri(), wait_until="load")
                containers = page.evaluate(WAIT_MATHJAX)
                math, images = page.evaluate(MATH_STATE), page.evaluate(IMAGES)
                report[chapter.stem] = (math, len(images), containers)
                assert images, f"{chapter.name}: no figure"
                assert all(i["ok"] for i in images), f"{chapter.name}: figures that did not load: " \
                    f"{[i['src'] for i in images if not i['ok']]}"
                assert math["typeset"] == math["spans"], f"{chapter.name}: math left untypeset: {math}"
                assert math["raw"] == 0 and math["errors"] == 0, f"{chapter.name}: raw TeX or MathJax errors: {math}"
                if chapter.stem.startswith("03_"):
                    page.screenshot(path=str(ARTIFACTS / "book_chapter03.png"))
                if chapter.stem.startswith("06_"):
                    fallback = page.evaluate(FALLBACK)
                    assert fallback and fallback["width"] > 0, "chapter 6: the explorer's static figure is missing"
        finally:
            browser.close()
    print({k: f"{m['typeset']}/{m['spans']} math typeset, {n} figures" for k, (m, n, _) in report.items()})
    assert not outside, f"pages asked for resources outside the book: {sorted(set(outside))[:10]}"
    assert sum(m["spans"] for m, _, _ in report.values()) > 100  # the chapters are full of math
