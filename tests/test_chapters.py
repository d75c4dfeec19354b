"""Execute every chapter and section listed in _toc.yml at the smoke profile: the book is a test suite.

Each executed notebook is kept in ``_build/executed-smoke/`` (the rendered-page tests build the book from
them, so nothing executes twice), and the time of each chapter and of each of its cells is recorded in
``_build/chapter-timings.json``: where the test time goes.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dev import chapters_in_toc, notebooks_in_toc, sections_of  # noqa: E402  (one reader of _toc.yml)
from minima.claims import CLAIMS_DIR, read_ledgers  # noqa: E402
TIMINGS = ROOT / "_build" / "chapter-timings.json"
EXECUTED = ROOT / "_build" / "executed-smoke"


def prune_stale_pages(folder: Path = EXECUTED) -> list[Path]:
    """Remove executed notebooks and claim ledgers of pages ``_toc.yml`` no longer lists (a renamed or
    moved page), so that the page tests and the report see only the book as it is."""
    listed = set(notebooks_in_toc())
    stale = [path for path in folder.rglob("chapters/**/*")
             if path.is_file() and path.name.endswith((".ipynb", ".claims.json"))
             and str(path.relative_to(folder)).removesuffix(".claims.json").removesuffix(".ipynb")
             not in listed]
    for path in stale:
        path.unlink()
    return stale


prune_stale_pages()


def test_toc_lists_chapters():
    chapters = chapters_in_toc()
    assert chapters, "_toc.yml lists no chapter"
    for name in notebooks_in_toc():
        assert (ROOT / f"{name}.md").is_file(), f"_toc.yml names {name}, which has no .md file"
    listed = {f"{name}.md" for name in notebooks_in_toc()}
    on_disk = {str(path.relative_to(ROOT)) for path in (ROOT / "chapters").rglob("*.md")
               if ".ipynb_checkpoints" not in path.parts}
    assert on_disk <= listed, f"pages that _toc.yml does not list: {sorted(on_disk - listed)}"


def reader_lines(source: str) -> int:
    """The lines of a page's source that a reader scrolls past: prose and the code of cells shown
    open; a cell folded behind ``hide-input`` (its checks, its set-up) counts as one line, its fold."""
    lines, count, index = source.splitlines(), 0, 0
    while index < len(lines):
        if lines[index].startswith("```{code-cell}"):
            end = next(k for k in range(index + 1, len(lines)) if lines[k].startswith("```"))
            cell = lines[index + 1:end]
            folded = any(line.startswith(":tags:") and "hide-input" in line for line in cell)
            count += 1 if folded else end - index + 1
            index = end + 1
        else:
            count, index = count + 1, index + 1
    return count


def prose_words(source: str) -> int:
    """The words of a page's main line: its prose, without code cells, code blocks, display maths, the
    front matter, and what sits in a fold (``:class: dropdown`` blocks: solutions, the formal statements
    a chapter keeps behind its idea). Inline maths counts as one word."""
    text = re.sub(r"\A---\n.*?\n---\n", "", source, flags=re.S)
    text = re.sub(r"^(`{3,})[^\n]*\n.*?^\1\s*$", "", text, flags=re.S | re.M)  # code cells, blocks
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"^(:{3,})\{[^}]+\}[^\n]*\n(?::[^\n]*\n)*?:class: dropdown\n.*?^\1\s*$", "", text,
                  flags=re.S | re.M)
    text = re.sub(r"\$[^$\n]+\$", " x ", text)
    text = re.sub(r"^:::+.*$|^:\w+:.*$|^\(.*\)=$", "", text, flags=re.M)  # directive fences, options
    return len(re.findall(r"[A-Za-z0-9][\w'’.-]*", text))


def test_prose_words_skip_code_maths_and_folds():
    source = ("---\njupytext: x\n---\n# Two words\n\n```{code-cell} ipython3\nnot counted\n```\n"
              "$$a + b$$\n:::{solution} s\n:class: dropdown\n\nhidden words here\n:::\nand $x$ too\n")
    assert prose_words(source) == 5  # Two, words, and, x, too


def test_chapter_4_main_line_is_at_most_3000_words():
    """Chapter 4 teaches in the order a reader learns: its pages' prose outside folds stays short."""
    pages = ["chapters/04_angular_volume", *sections_of("chapters/04_angular_volume")]
    words = sum(prose_words((ROOT / f"{page}.md").read_text()) for page in pages)
    assert words <= 3000, f"chapter 4's main line has {words} prose words"


def test_reader_lines_count_a_fold_as_one_line():
    source = "# T\n\n```{code-cell} ipython3\n:tags: [hide-input]\n\nassert 1\nassert 2\n```\n" \
             "```{code-cell} ipython3\nx = 1\n```\ntext\n"
    assert reader_lines(source) == 2 + 1 + 3 + 1


@pytest.mark.parametrize("chapter", chapters_in_toc())
def test_long_chapters_are_split_into_sections(chapter):
    """A page of a chapter stays within 400 lines of what a reader scrolls past (:func:`reader_lines`:
    prose and open code; a folded check or set-up cell counts as its one-line fold): a longer chapter is
    split into sections, each a notebook of its own in ``chapters/NN_slug/`` that runs on its own."""
    for page in [chapter, *sections_of(chapter)]:
        lines = reader_lines((ROOT / f"{page}.md").read_text())
        assert lines <= 400, f"{page}.md has {lines} lines a reader sees: split it into sections"


@pytest.mark.chapters
@pytest.mark.parametrize("chapter", notebooks_in_toc())
def test_chapter_executes(chapter, tmp_path):
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{chapter} must have exactly one cell tagged 'parameters'"
    assert "PROFILE" in tagged[0].source, f"{chapter}: the parameters cell must set PROFILE"
    executed = execute_chapter(chapter, tmp_path)
    result = nbformat.read(executed, as_version=4)
    code_cells = [cell for cell in result.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells), f"{chapter}: some code cell did not run"
    injected = [cell for cell in result.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert injected and 'PROFILE = "smoke"' in injected[0].source, "papermill did not inject the smoke profile"
    durations = [cell.metadata.get("papermill", {}).get("duration") or 0.0 for cell in code_cells]
    assert sum(durations) > 0.5, f"{chapter} finished in {sum(durations):.3f} s: it cannot have run"


def run_at_smoke(markdown: Path, executed: Path, tmp_path: Path, claims: Path = EXECUTED) -> None:
    """Execute the MyST notebook ``markdown`` with papermill at the smoke profile into ``executed``; its
    recorded claims go to ``claims/chapters/<page>.claims.json`` (beside the executed notebooks)."""
    source = tmp_path / "source.ipynb"
    nbformat.write(jupytext.read(markdown), source)
    previous = os.environ.get(CLAIMS_DIR)
    os.environ[CLAIMS_DIR] = str(claims)  # the kernel inherits it
    try:
        papermill.execute_notebook(str(source), str(executed), parameters={"PROFILE": "smoke"},
                                   cwd=str(ROOT / "chapters"), kernel_name="python3", progress_bar=False)
    finally:
        if previous is None:
            os.environ.pop(CLAIMS_DIR, None)
        else:
            os.environ[CLAIMS_DIR] = previous


def execute_chapter(chapter: str, tmp_path: Path) -> Path:
    """Run ``chapter`` (a chapter or a section page) at the smoke profile; keep the result and its
    timings."""
    executed = EXECUTED / f"{chapter}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        run_at_smoke(ROOT / f"{chapter}.md", executed, tmp_path)
    except Exception:
        executed.unlink(missing_ok=True)  # never leave a failed run for the page tests to render
        raise
    record_timings(chapter, time.perf_counter() - start, nbformat.read(executed, as_version=4))
    return executed


def record_timings(chapter: str, seconds: float, executed) -> None:
    cells = [{"seconds": round(cell.metadata.get("papermill", {}).get("duration") or 0.0, 2),
              "first_line": cell.source.strip().splitlines()[0][:80] if cell.source.strip() else ""}
             for cell in executed.cells if cell.cell_type == "code"]
    TIMINGS.parent.mkdir(exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    if not all(isinstance(entry, dict) for entry in timings.values()):
        timings = {}  # an older format
    timings[chapter] = {"seconds": round(seconds, 1), "cells": cells}
    TIMINGS.write_text(json.dumps(timings, indent=1))
    slowest = sorted(cells, key=lambda cell: -cell["seconds"])[:3]
    print(f"{chapter}: {seconds:.1f} s; slowest cells: "
          + "; ".join(f"{cell['seconds']:.1f} s {cell['first_line']!r}" for cell in slowest))


@pytest.mark.chapters
def test_chapter_template_executes(tmp_path):
    """The template a new chapter starts from runs, with its parameters cell and figure metadata."""
    notebook = jupytext.read(ROOT / "templates" / "chapter.md")
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells) == 1
    assert any("figure" in cell.metadata.get("mystnb", {}) for cell in notebook.cells)
    executed = tmp_path / "executed.ipynb"
    run_at_smoke(ROOT / "templates" / "chapter.md", executed, tmp_path, claims=tmp_path)
    cells = nbformat.read(executed, as_version=4).cells
    assert all(cell.execution_count for cell in cells if cell.cell_type == "code")
    assert read_ledgers(tmp_path), "the template records its claims"


@pytest.mark.chapters
def test_a_false_claim_fails_its_page_and_is_recorded(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("""---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

```{code-cell} ipython3
:tags: [parameters]
PROFILE = "book"
```

```{code-cell} ipython3
from minima import claims
claims.page("99_probe")
claims.claim("probe.true", "one is one", "nowhere, 1", 1, 1, True)
claims.claim("probe.false", "two is three", "nowhere, 2", 3, 2, False, note="on purpose")
```
""")
    with pytest.raises(papermill.PapermillExecutionError, match="two is three"):
        run_at_smoke(page, tmp_path / "executed.ipynb", tmp_path, claims=tmp_path)
    ledger = read_ledgers(tmp_path)["99_probe"]
    assert [(c["id"], c["status"]) for c in ledger] == [("probe.true", "reproduced"), ("probe.false", "differs")]
