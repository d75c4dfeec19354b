"""The book as a reader meets it: built from the executed chapters and opened in headless Chromium.

The chapter tests (``test_chapters.py``) keep each executed smoke-profile notebook in
``_build/executed-smoke/``; here the book is built from those notebooks with execution off and warnings
as errors (a chapter that the chapter tests did not run in this session is executed first, the same
way), then every page of ``_toc.yml`` is opened from ``file://`` with no network, and checked as a
reader would look at it. A full-page screenshot of every page is saved under
``_build/page-screenshots/``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``);
without them the browser tests are skipped with that hint, and the build test still runs; with
``CI=true`` (as ``.ci/run`` runs, after installing them) a missing browser is a failure.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_chapters import EXECUTED, execute_chapter  # puts the repository root on sys.path
from minima.claims import read_ledgers  # noqa: E402
from dev import (chapters_in_toc, notebooks_in_toc, pages_in_toc, sections_of,  # noqa: E402
                 teaching_chapters)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "page-screenshots"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL_HINT = ("the rendered-page tests need Chromium and its WebDriver: "
                "apt-get install chromium chromium-driver (Debian/Ubuntu)")
BOOK_FILES = ("_toc.yml", "intro.md", "running.md", "notation.md", "bibliography.md", "references.bib", "reproduction_report.md",
              "_ext", "_static")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """The HTML book built from the executed smoke-profile notebooks, with execution off."""
    book = tmp_path_factory.mktemp("book")
    for name in BOOK_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, book / name)
        elif source.is_file():
            shutil.copy2(source, book / name)
    for page in notebooks_in_toc():
        executed = EXECUTED / f"{page}.ipynb"
        source = ROOT / f"{page}.md"
        if not executed.is_file() or executed.stat().st_mtime < source.stat().st_mtime:
            execute_chapter(page, tmp_path_factory.mktemp("execute"))
        (book / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed, book / f"{page}.ipynb")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "--path-output",
               str(book / "out"), "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "MINIMA_CLAIMS_DIR": str(EXECUTED)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return book / "out" / "_build" / "html"


def test_chapters_and_their_figures_are_numbered(built_book):
    """Chapter i's heading reads "i.", each of its section pages "i.k." (numbered on from the chapter
    page's own sections), in the page and in the sidebar; every figure of its pages is "Figure i.n",
    counting on across the chapter's pages."""
    for number, chapter in enumerate(chapters_in_toc(), start=1):
        figures, previous = [], 0
        for page in [chapter, *sections_of(chapter)]:
            html = (built_book / f"{page}.html").read_text()
            heading = re.search(r'<h1><span class="section-number">([\d.]+) </span>', html)
            assert heading, f"{page}: its heading has no chapter number"
            parts = heading.group(1).rstrip(".").split(".")
            assert parts[0] == str(number), (page, heading.group(1))
            if page == chapter:
                assert len(parts) == 1, (page, heading.group(1))
            else:
                assert len(parts) == 2 and int(parts[1]) > previous, (page, heading.group(1))
                previous = int(parts[1])
            sidebar = rf'class="[^"]*reference internal[^"]*"[^>]*>{re.escape(heading.group(1))} '
            assert re.search(sidebar, html), f"{page}: the sidebar does not number it {heading.group(1)}"
            figures += re.findall(r'<span class="caption-number">Figure ([\d.]+) </span>', html)
        assert figures, f"{chapter}: no numbered figure"
        assert all(figure.startswith(f"{number}.") for figure in figures), (chapter, figures)
        assert [int(figure.split(".")[1]) for figure in figures] == list(range(1, len(figures) + 1)), \
            (chapter, figures)


IDEA_FIGURES = {
    "chapters/02_one_hidden_layer": ["fig-one-layer-regions", "fig-one-layer-orthogonal"],
    "chapters/03_zero_error_construction": ["fig-construction-trapezoid", "fig-construction-plane",
                                           "fig-construction-3d"],
    "chapters/04_angular_volume": ["fig-volume-arcs", "fig-volume-argument"],
    "chapters/05_deep_linear_depth_width": ["fig-deep-linear-landscape"],
    "chapters/05_deep_linear_depth_width/4_width_law_and_linear_units": ["fig-khk-linear-structure"],
    "chapters/07_ntk_dynamics": ["fig-ntk-gram-heat"],
    "chapters/07_ntk_dynamics/2_training_at_width": ["fig-ntk-units"],
}
"""The figures that draw an idea (a region, a projection, a landscape, a proof's chain, a kernel, the
units' movement) rather than plot a measurement, by page: each computed by the library."""


def test_the_figures_that_draw_an_idea_render(built_book):
    """At least ten figures draw an idea; each renders on its page as a numbered figure with an image."""
    assert sum(map(len, IDEA_FIGURES.values())) >= 10
    for page, names in IDEA_FIGURES.items():
        html = (built_book / f"{page}.html").read_text()
        for name in names:
            figure = re.search(rf'<figure[^>]*id="{name}"(.*?)</figure>', html, re.S)
            assert figure, f"{page}: no figure {name}"
            assert "<img" in figure.group(1) and "caption-number" in figure.group(1), name


def test_a_loops_printed_lines_are_one_output_block(built_book):
    """Lines printed one by one in a loop arrive as many stream outputs; the page shows one block per
    stream of a cell (``nb_merge_streams``), not one box per line."""
    import nbformat

    split = 0
    for page in notebooks_in_toc():
        cells = [cell for cell in nbformat.read(EXECUTED / f"{page}.ipynb", as_version=4).cells
                 if cell.cell_type == "code"]
        outputs = [[output for output in cell.get("outputs", []) if output.get("output_type") == "stream"]
                   for cell in cells]
        split += sum(len(streams) > len({output["name"] for output in streams}) for streams in outputs)
        blocks = sum(len({output["name"] for output in streams}) for streams in outputs)
        shown = (built_book / f"{page}.html").read_text().count('class="output stream')
        assert shown <= blocks, f"{page}: {shown} printed-output boxes for {blocks} streams"
    assert split, "no cell printed in several pieces: this test would not notice a split"


def test_every_chapter_records_its_claims_with_unique_ids(built_book):
    ledgers = read_ledgers(EXECUTED)
    pages = set(notebooks_in_toc())
    recorded = {f"chapters/{page}" for page in ledgers}
    assert recorded <= pages, f"ledgers of pages the book does not list: {sorted(recorded - pages)}"
    ids = [claim["id"] for claims in ledgers.values() for claim in claims]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for chapter in chapters_in_toc():
        name = chapter.removeprefix("chapters/")
        count = sum(len(claims) for page, claims in ledgers.items() if page.split("/")[0] == name)
        assert count >= 6, f"{chapter} records {count} claims, fewer than 6"
    assert all(claim["status"] != "differs" for claims in ledgers.values() for claim in claims)


def test_the_report_page_lists_every_claim_and_the_json_agrees(built_book):
    rows = json.loads((EXECUTED.parent / "claims.json").read_text())
    ledgers = read_ledgers(EXECUTED)
    assert len(rows) == sum(len(claims) for claims in ledgers.values())
    assert set(rows[0]) == {"id", "chapter", "page", "statement", "source", "paper_value", "book_value", "status",
                            "note"}
    html = (built_book / "reproduction_report.html").read_text()
    count = re.search(r"(\d+) claims on (\d+) pages", html)
    assert count and int(count.group(1)) == len(rows), count
    for row in rows:
        assert f'id="claim-{row["id"]}"' in html, f"claim {row['id']} is not on the report page"
    assert html.count('class="claims-table') >= len(chapters_in_toc())


def test_book_builds_from_the_executed_chapters_without_warnings(built_book):
    for page in pages_in_toc():
        assert (built_book / f"{page}.html").is_file(), f"{page} was not built"
    mathjax = built_book / "_static" / "mathjax" / "tex-mml-chtml.js"
    assert mathjax.is_file(), "MathJax is not served from the build"
    for page in pages_in_toc():
        html = (built_book / f"{page}.html").read_text()
        remote = re.findall(r'<script[^>]*\ssrc="(?:https?:)?//[^"]*"|<link[^>]*stylesheet[^>]*href="https?://[^"]*"',
                            html)
        assert not remote, f"{page} loads from the network when read: {remote}"


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI") == "true":  # CI installs them (.ci/run): missing is a failure there
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}", "--proxy-server=127.0.0.1:9",  # no network at all
                     "--allow-file-access-from-files"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$", "\\begin{", "\\frac", "\\mathbb")

# What a reader sees on one page, gathered in the browser after MathJax has typeset it.
PAGE_REPORT = """
const done = arguments[arguments.length - 1];
const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
const wait = (tries) => ready() ? MathJax.startup.promise.then(report)
                                : (tries > 0 ? setTimeout(() => wait(tries - 1), 100) : report());
// shown to a reader without opening anything: not inside a closed <details> (a folded cell),
// and rendered (a collapsed toggle renders nothing)
function shown(element) {
  return !element.closest("details:not([open])") && element.getClientRects().length > 0
         && (!element.checkVisibility || element.checkVisibility());
}
function clipped(selector) {
  return [...document.querySelectorAll(selector)].filter(
      element => shown(element) && element.scrollWidth > element.clientWidth + 1).length;
}
function report() {
  const article = document.querySelector("main") || document.body;
  const prose = article.cloneNode(true);  // the text a reader reads, without the code cells' sources
  prose.querySelectorAll("div.cell_input, div.highlight, mjx-container, script, style")
       .forEach(element => element.remove());
  const text = prose.textContent;
  const images = [...article.querySelectorAll("img")].filter(image => !image.closest(".navbar-brand"));
  const links = [...article.querySelectorAll("a.reference.internal")].map(a => a.href);
  done({
    mathjax: !!window.MathJax && !!window.MathJax.version,
    typeset: document.querySelectorAll("mjx-container").length,
    math_sources: document.querySelectorAll(".math").length,
    text: text,
    images: images.length,
    broken_images: images.filter(image => !(image.complete && image.naturalWidth > 0))
                         .map(image => image.src.slice(-60)),
    tracebacks: [...article.querySelectorAll(".output.traceback, .output.error, .output.stderr")]
                 .filter(element => /Traceback|Error/.test(element.innerText)).length,
    proofs: article.querySelectorAll("div.proof").length,
    exercises: article.querySelectorAll("div.exercise").length,
    solutions: article.querySelectorAll("div.solution").length,
    links: links,
    unresolved_citations: [...article.querySelectorAll("span.problematic, a.problematic")].length,
    clipped_code: clipped("div.cell_input pre, div.cell_output pre, div.highlight pre"),
    // code a reader sees without opening a fold: rendered (a closed <details> or a collapsed
    // toggle renders nothing), not an output
    visible_code: [...article.querySelectorAll("div.cell_input pre, div.highlight pre")]
                  .filter(pre => !pre.closest("div.cell_output") && shown(pre))
                  .map(pre => pre.innerText),
    all_code_lines: [...article.querySelectorAll("div.cell_input pre")]
                    .reduce((sum, pre) => sum + pre.textContent.trimEnd().split("\\n").length, 0),
    launch: [...document.querySelectorAll("a[href*='mybinder'], a[href*='colab']")].map(a => a.href),
  });
}
wait(100);
"""


WINDOW = (1280, 900)


def open_page(browser, html: Path, page: str) -> dict:
    browser.get((html / f"{page}.html").as_uri())
    browser.set_script_timeout(30)
    report = browser.execute_async_script(PAGE_REPORT)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page as a reader sees it in a 1280-pixel window: make the viewport as tall as the
    # page (so that nothing is captured beyond it, where a scrolled or sticky layout shifts), scroll
    # to the top, capture, and restore the window.
    browser.execute_script("window.scrollTo(0, 0)")
    height = min(browser.execute_script("return document.documentElement.scrollHeight"), 30000)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        screenshot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    (SCREENSHOTS / f"{page.replace('/', '__')}.png").write_bytes(base64.b64decode(screenshot["data"]))
    return report


@pytest.fixture(scope="module")
def page_reports(built_book, browser) -> dict[str, dict]:
    reports = {page: open_page(browser, built_book, page) for page in pages_in_toc()}
    (SCREENSHOTS / "reports.json").write_text(json.dumps(
        {page: {key: value for key, value in report.items() if key != "text"}
         for page, report in reports.items()}, indent=1))
    return reports


@pytest.mark.parametrize("page", pages_in_toc())
def test_page_as_a_reader_sees_it(page, page_reports, built_book):
    report = page_reports[page]
    if report["math_sources"]:  # Sphinx includes MathJax only on pages with mathematics
        assert report["mathjax"], f"{page}: MathJax did not load"
        assert report["typeset"] >= report["math_sources"], f"{page}: math left untypeset"
    raw = [marker for marker in RAW_TEX if marker in report["text"]]
    assert not raw, f"{page}: raw TeX in the visible text: {raw}, near " + repr(
        report["text"][max(0, report["text"].find(raw[0]) - 60):][:120] if raw else "")
    assert not report["broken_images"], f"{page}: images that did not load: {report['broken_images']}"
    assert report["tracebacks"] == 0, f"{page}: a cell shows an error"
    assert report["unresolved_citations"] == 0, f"{page}: unresolved references or citations"
    assert report["clipped_code"] == 0, f"{page}: {report['clipped_code']} code or output blocks are clipped"
    for link in report["links"]:
        target = Path(link.split("#")[0].removeprefix("file://"))
        assert target.is_file(), f"{page}: internal link to a missing page {link}"
    assert not [link for link in report["launch"] if "colab" in link], f"{page}: a Colab button"
    if page.startswith("chapters/"):
        assert report["images"] >= 1, f"{page}: a chapter or section without a figure"
        # the page's own source in the repository (the rendered book's pages come from the .md
        # chapters; this build renders the executed .ipynb copies, so both suffixes are accepted)
        assert report["launch"], f"{page}: no Binder button"
        for link in report["launch"]:
            opened = link.replace("%2F", "/").split("urlpath=lab/tree/")[-1]
            assert link.startswith("https://mybinder.org/v2/gh/"), link
            assert opened in (f"{page}.md", f"{page}.ipynb") and (ROOT / f"{page}.md").is_file(), link


CHECK_CODE = re.compile(r"^\s*assert\b|claim\(", re.M)


def test_no_visible_code_holds_a_check_and_the_visible_code_is_counted(page_reports):
    """Teach first, check behind a fold: no code block a reader sees without opening a fold holds an
    ``assert`` or a ``claim(`` call. Prints, and writes to ``visible-code.txt`` beside the screenshots,
    the code lines a reader scrolls past per page against all the page's code lines."""
    rows, offenders = [], []
    for page, report in page_reports.items():
        visible = sum(len(block.rstrip().splitlines()) for block in report["visible_code"])
        rows.append(f"{page:58s} {visible:5d} of {report['all_code_lines']:5d}")
        offenders += [(page, block[:120]) for block in report["visible_code"] if CHECK_CODE.search(block)]
    total_visible = sum(int(row.split()[-3]) for row in rows)
    total = sum(int(row.split()[-1]) for row in rows)
    table = "\n".join(["visible code lines per page (of all code lines):", *rows,
                       f"{'all pages':58s} {total_visible:5d} of {total:5d}"])
    print(table)
    (SCREENSHOTS / "visible-code.txt").write_text(table + "\n")
    assert not offenders, f"checks visible without opening a fold: {offenders[:3]}"
    assert total_visible < total, "set-up cells and checks sit behind folds"


@pytest.mark.parametrize("chapter", teaching_chapters())
def test_chapter_renders_its_theorems_and_exercises(chapter, page_reports):
    """Across a chapter's pages (the chapter and its sections): theorem or definition blocks, and
    exercises with their solutions."""
    reports = [page_reports[page] for page in [chapter, *sections_of(chapter)]]
    assert sum(report["proofs"] for report in reports) >= 1, f"{chapter}: no theorem block rendered"
    assert sum(report["exercises"] for report in reports) >= 1, f"{chapter}: no exercise rendered"
    assert sum(report["solutions"] for report in reports) >= 1, f"{chapter}: no solution rendered"


def text_output_lines(cell):
    """The lines of a code cell's printed (text) outputs; rich outputs (tables, figures) excluded."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            yield from output.get("text", "").splitlines()
        elif set(output.get("data", {})) == {"text/plain"}:
            yield from output["data"]["text/plain"].splitlines()


@pytest.mark.parametrize("chapter", notebooks_in_toc())
def test_printed_output_fits_the_page(chapter, built_book):
    """Printed lines are at most 88 characters, like the code (tables are printed as tables)."""
    import nbformat

    executed = nbformat.read(EXECUTED / f"{chapter}.ipynb", as_version=4)
    long_lines = [line for cell in executed.cells if cell.cell_type == "code"
                  and "remove-output" not in cell.metadata.get("tags", [])
                  for line in text_output_lines(cell) if len(line) > 88]
    assert not long_lines, f"{chapter}: printed lines over 88 characters: {long_lines[:3]}"


@pytest.mark.parametrize("chapter", notebooks_in_toc())
def test_chapter_code_lines_fit_the_page(chapter):
    """Code cells of the chapter sources (their metadata included) have lines of at most 88
    characters; code in the solutions (```python blocks, shown inside a dropdown, whose padding
    narrows the column) at most 84."""
    long_lines, inside, limit = [], False, 88
    for number, line in enumerate((ROOT / f"{chapter}.md").read_text().splitlines(), start=1):
        if line.startswith(("```{code-cell}", "```python")):
            inside, limit = True, 84 if line.startswith("```python") else 88
        elif inside and line.startswith("```"):
            inside = False
        elif inside and len(line) > limit:
            long_lines.append(number)
    assert not long_lines, f"{chapter}.md: code lines over 88 characters at lines {long_lines}"
