"""The book command's cache: a library edit makes the next build re-execute, an unchanged library does not."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402

CHAPTER = textwrap.dedent('''\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    # Probe

    ```{code-cell} ipython3
    import probe
    print("probe says", probe.VALUE)
    ```
    ''')


def _tiny_book(tmp_path: Path) -> tuple[Path, Path]:
    book, library = tmp_path / "book", tmp_path / "lib"
    book.mkdir()
    library.mkdir()
    (book / "_config.yml").write_text("title: probe\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: cache\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (book / "intro.md").write_text(CHAPTER)
    (library / "probe.py").write_text("VALUE = 'first'\n")
    return book, library


def test_library_edit_makes_the_next_build_re_execute(tmp_path):
    book, library = _tiny_book(tmp_path)
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")

    def build() -> str:
        html = dev.build_book(book, "smoke", library=library, jupyter_book=jupyter_book, PYTHONPATH=str(library))
        return (html / "intro.html").read_text()

    assert "probe says first" in build()
    cached = book / "_build" / "smoke" / "_build" / ".jupyter_cache"
    assert cached.is_dir()
    assert "probe says first" in build()  # unchanged library: the cache is kept
    assert cached.is_dir() and not dev.prepare_build_folder(book / "_build" / "smoke", dev.library_digest(library))
    (library / "probe.py").write_text("VALUE = 'second'\n")  # the notebook's cells did not change
    assert "probe says second" in build()


def test_library_digest_and_the_profile_argument(tmp_path):
    _, library = _tiny_book(tmp_path)
    before = dev.library_digest(library)
    (library / "probe.py").write_text("VALUE = 'first' \n")
    assert dev.library_digest(library) != before
    with pytest.raises(ValueError, match="profile"):
        dev.build_book(tmp_path, "huge", library=library)


def test_report_lines_count_and_list_every_claim():
    rows = [{"id": f"ch1.c{k}", "chapter": "01_x", "page": "01_x", "statement": "s", "source": "p",
             "paper_value": "1", "book_value": "1", "status": status, "note": ""}
            for k, status in enumerate(["reproduced", "paper corrected", "not checked at this size"])]
    lines = dev.report_lines(rows, width=70)
    assert " ".join(lines[:3]).replace("   ", " ") == ("3 claims on 1 pages: 1 reproduced, 0 reproduced in another setting, 0 outside "
                        "the paper's hypotheses, 1 paper corrected, 0 book finding, 1 not checked at "
                        "this size, 0 differs")
    assert "  corrected   ch1.c1" in "\n".join(lines)
    assert sum("ch1.c" in line for line in lines) == 3 and all(len(line) <= 70 for line in lines)


def test_teaching_chapters_leave_out_the_audit_part(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Ideas\n    chapters:\n"
        "      - file: chapters/01_a\n      - file: chapters/02_b\n"
        f"  - caption: {dev.AUDIT_PART}\n    chapters:\n      - file: chapters/08_c\n"
        "        sections:\n          - file: chapters/08_c/2_d\n"
        "  - caption: Back matter\n    chapters:\n      - file: notation\n")
    assert dev.chapters_in_toc(tmp_path) == ["chapters/01_a", "chapters/02_b", "chapters/08_c"]
    assert dev.teaching_chapters(tmp_path) == ["chapters/01_a", "chapters/02_b"]
    assert dev.teaching_chapters() != dev.chapters_in_toc()  # the book has an audit part
