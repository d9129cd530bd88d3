"""The book `make book` builds: every page there, no cell error, links that resolve, math and figures rendered.

Runs after ``python tools/book.py`` (``tools/run_tests.sh`` builds the book from FAST-mode outputs, then runs
this file with ``AIGC_REQUIRE_BOOK=1``). Without a build the tests are skipped, unless that variable is set.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "book"
HTML = BUILD / "html"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def report() -> dict:
    path = BUILD / "report.json"
    if not path.exists():
        if os.environ.get("AIGC_REQUIRE_BOOK") == "1":
            pytest.fail("AIGC_REQUIRE_BOOK=1 but no book was built (python tools/book.py)")
        pytest.skip("no book built yet: run `make book`")
    return json.loads(path.read_text(encoding="utf-8"))


def _course_notebooks() -> list[str]:
    return [f"{folder}/{p.stem}" for folder in ("chapters", "solutions")
            for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]


def test_every_chapter_and_solution_has_a_page(report):
    missing = [name for name in _course_notebooks() if not (HTML / f"{name}.html").is_file()]
    assert not missing, f"no page for {missing} (was the book built with --only?)"
    assert (HTML / "index.html").is_file()


def test_no_cell_error_and_no_sphinx_warning(report):
    errors = [f"{r['notebook']}: {r['error']}" for r in report["notebooks"] if r["error"]]
    assert not errors, "cells failed while building the book:\n" + "\n".join(errors)
    for path in (BUILD / "src").glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        bad = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not bad, f"{path.name} has an error output: {bad[0].get('ename')}"
    assert report["sphinx_returncode"] == 0
    assert not report["sphinx_warnings"], "\n".join(report["sphinx_warnings"][:20])


def test_widget_views_became_snapshots(report):
    for path in (BUILD / "src").glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        views = [o for c in nb.cells for o in c.get("outputs", [])
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert not views, f"{path.name}: {len(views)} live widget view(s) left; a static page cannot show them"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if (tag, name) in {("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")} and value:
                self.links.append(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_internal_links_resolve(report):
    pages = {p: _parse(p) for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(HTML)} -> {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if parts.fragment not in ids:
                    broken.append(f"{page.relative_to(HTML)} -> {link} (no such anchor)")
    assert not broken, f"{len(broken)} broken link(s):\n" + "\n".join(broken[:30])


RAW_TEX = r"\\(frac|mathcal|mathbb|mathrm|tag|mid|sum|int|log|sqrt|big|left|right)\b"
PROSE_TEXT = """() => { const main = document.querySelector('main').cloneNode(true);
    main.querySelectorAll('pre, code, mjx-container, .cell_output').forEach(e => e.remove());
    return main.textContent; }"""


def test_chapter_pages_show_rendered_math_and_figures(report):
    from test_browser import CHROMIUM_FLAGS, _chromium  # the same system Chromium the browser test uses

    executable = _chromium()
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        for path in sorted((HTML / "chapters").glob("*.html")):
            page.goto(path.as_uri())
            has_math = "$" in (BUILD / "src" / "chapters" / f"{path.stem}.ipynb").read_text(encoding="utf-8")
            if has_math:
                page.wait_for_selector("mjx-container", state="attached", timeout=30_000)   # MathJax typeset them
            figures = page.evaluate("""() => [...document.querySelectorAll('.cell_output img')]
                                        .filter(img => img.complete && img.naturalWidth > 100).length""")
            raw = sorted(set(re.findall(RAW_TEX, page.evaluate(PROSE_TEXT))))
            if figures < 1:
                problems.append(f"{path.name}: no rendered figure")
            if raw:
                commands = ", ".join("\\" + name for name in raw)
                problems.append(f"{path.name}: raw TeX in the text ({commands}): MathJax did not parse it")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"book-{path.stem}.png"), full_page=True)
        browser.close()
    assert not problems, "\n".join(problems)
