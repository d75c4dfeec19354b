"""Execute every chapter listed in _toc.yml at the smoke profile: the book is a test suite."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ROOT / "_build" / "chapter-timings.json"


def chapters_in_toc() -> list[str]:
    text = (ROOT / "_toc.yml").read_text()
    return [name for name in re.findall(r"(?m)^\s*-?\s*file:\s*(\S+)", text) if name.startswith("chapters/")]


def test_toc_lists_chapters():
    chapters = chapters_in_toc()
    assert chapters, "_toc.yml lists no chapter"
    for name in chapters:
        assert (ROOT / f"{name}.md").is_file(), f"_toc.yml names {name}, which has no .md file"


@pytest.mark.chapters
@pytest.mark.parametrize("chapter", chapters_in_toc())
def test_chapter_executes(chapter, tmp_path):
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{chapter} must have exactly one cell tagged 'parameters'"
    assert "PROFILE" in tagged[0].source, f"{chapter}: the parameters cell must set PROFILE"
    source = tmp_path / "chapter.ipynb"
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, source)
    start = time.perf_counter()
    papermill.execute_notebook(str(source), str(executed), parameters={"PROFILE": "smoke"},
                               cwd=str(ROOT / "chapters"), kernel_name="python3", progress_bar=False)
    seconds = time.perf_counter() - start
    result = nbformat.read(executed, as_version=4)
    code_cells = [cell for cell in result.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells), f"{chapter}: some code cell did not run"
    injected = [cell for cell in result.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert injected and 'PROFILE = "smoke"' in injected[0].source, "papermill did not inject the smoke profile"
    durations = [cell.metadata.get("papermill", {}).get("duration") or 0.0 for cell in code_cells]
    assert sum(durations) > 0.5, f"{chapter} finished in {sum(durations):.3f} s: it cannot have run"
    TIMINGS.parent.mkdir(exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[chapter] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(timings, indent=1))
    print(f"{chapter}: {seconds:.1f} s")
