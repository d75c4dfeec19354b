"""Course assignments from the chapters' exercises: student and instructor notebooks, and grading.

``assign`` reads each chapter's ``{exercise}`` and ``{solution}`` blocks and writes an otter-grader
master notebook (``_build/assignments/master/NN_slug.ipynb``): every exercise is a question; a
computational one (listed in ``minima.exercises.EXERCISES``) gets a code cell whose reference solution
is the ``python`` code of its solution block, and a test that calls ``minima.exercises.check``. Then
``otter assign`` writes ``student/`` (solutions removed, outputs cleared, a stub and an ``otter check``
cell per computational exercise) and ``autograder/`` (the instructor's version, with solutions and
tests) for each chapter.

``grade`` runs each submitted notebook in its own kernel (a separate process): every cell has a time
limit, after which the kernel is interrupted and the next cell runs; errors do not stop the run. A last
cell then checks each computational exercise's variable with ``minima.exercises.check``; an exercise
whose variable is missing, wrong, or not set because its cell raised or ran out of time scores 0, and
the others are graded as usual. The scores (one column per exercise, one row per submission) go to a
CSV file.

Usage (``python3 dev.py assignments`` and ``python3 dev.py grade`` call these)::

    python tools/assignments.py assign [--out _build/assignments] [--chapters 02 05]
    python tools/assignments.py grade SUBMISSIONS_FOLDER [--out scores.csv] [--timeout 60]
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dev import chapters_in_toc, sections_of  # noqa: E402
DEFAULT_OUT = ROOT / "_build" / "assignments"
SETUP = """import math

import numpy as np
import torch

import minima
from minima import construction, linear, ntk, rank, regions, volume
from minima.exercises import check, exercise_data"""
GRADES_MARKER = "MINIMA-GRADES "

EXERCISE = re.compile(r"^:::\{exercise\}\n:label: (?P<label>\S+)\n(?P<body>.*?)^:::$", re.M | re.S)
SOLUTION = re.compile(r"^:::\{solution\} (?P<label>\S+)\n(?::class: \S+\n)?(?P<body>.*?)^:::$",
                      re.M | re.S)
PYTHON = re.compile(r"^```python\n(?P<code>.*?)^```\n?", re.M | re.S)


@dataclass
class ChapterExercise:
    label: str
    prompt: str
    solution_text: str
    solution_code: str

    @property
    def computational(self) -> bool:
        from minima.exercises import EXERCISES

        return self.label in EXERCISES


def chapter_source(chapter: str) -> str:
    """The MyST source of ``chapter`` (e.g. ``chapters/02_one_hidden_layer``): its first page and
    its sections, in reading order."""
    return "\n".join((ROOT / f"{page}.md").read_text() for page in [chapter, *sections_of(chapter)])


def chapter_title(text: str) -> str:
    return re.search(r"^# (.+)$", text, re.M).group(1).strip()


def parse_exercises(text: str) -> list[ChapterExercise]:
    """The exercises of a chapter's MyST source, in order, each with its solution's prose and code."""
    solutions = {match["label"]: match["body"] for match in SOLUTION.finditer(text)}
    exercises = []
    for match in EXERCISE.finditer(text):
        label, solution = match["label"], solutions.get(match["label"], "")
        code = "\n".join(block["code"].rstrip() for block in PYTHON.finditer(solution))
        exercises.append(ChapterExercise(label, match["body"].strip(), PYTHON.sub("", solution).strip(),
                                         code))
    return exercises


def _raw(source: str):
    return nbformat.v4.new_raw_cell(source)


def master_notebook(chapter: str) -> nbformat.NotebookNode:
    """Otter-grader's master notebook for ``chapter`` (e.g. ``chapters/02_one_hidden_layer``)."""
    from minima.exercises import EXERCISES

    text = chapter_source(chapter)
    slug = Path(chapter).name
    config = {"name": slug, "init_cell": True, "check_all_cell": False, "export_cell": False,
              "run_tests": False, "generate": False}
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)),
             nbformat.v4.new_markdown_cell(
                 f"# Exercises: {chapter_title(text)}\n\n"
                 f"The exercises of the chapter `{slug}`. Read the chapter first. For each exercise "
                 "with a code cell, replace the `...` with your computation and run the check cell "
                 "after it: it says `correct`, or `not yet` with a hint. Written exercises are answered "
                 "in the Markdown cell below them."),
             nbformat.v4.new_code_cell(SETUP)]
    for exercise in parse_exercises(text):
        if exercise.computational:
            answer = EXERCISES[exercise.label].answer
            reasoning = [nbformat.v4.new_markdown_cell(exercise.solution_text)] \
                if exercise.solution_text else []  # for the instructor; otter drops it for students
            cells += [_raw(f"# BEGIN QUESTION\nname: {exercise.label}\npoints: 1"),
                      nbformat.v4.new_markdown_cell(f"**{exercise.label}.** {exercise.prompt}"),
                      _raw("# BEGIN SOLUTION"),
                      *reasoning,
                      nbformat.v4.new_code_cell(
                          f"# set `{answer}`; the check below reads it\n{EXERCISES[exercise.label].stub}\n"
                          f"# BEGIN SOLUTION NO PROMPT\n{exercise.solution_code}\n# END SOLUTION"),
                      _raw("# END SOLUTION"),
                      _raw("# BEGIN TESTS"),
                      nbformat.v4.new_code_cell(
                          f'""" # BEGIN TEST CONFIG\nfailure_message: the hint is in the last line '
                          f'of the error\n""" # END TEST CONFIG\n'
                          f'verdict = check("{exercise.label}", {answer})\n'
                          "assert verdict.correct, verdict.message"),
                      _raw("# END TESTS"),
                      _raw("# END QUESTION")]
        else:
            cells += [_raw(f"# BEGIN QUESTION\nname: {exercise.label}\nmanual: true\npoints: 1"),
                      nbformat.v4.new_markdown_cell(f"**{exercise.label}.** {exercise.prompt}"),
                      _raw("# BEGIN SOLUTION"),
                      nbformat.v4.new_markdown_cell(exercise.solution_text or "(no reference answer)"),
                      _raw("# END SOLUTION"),
                      _raw("# END QUESTION")]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def assign(out: Path = DEFAULT_OUT, chapters: list[str] | None = None) -> dict[str, dict[str, Path]]:
    """Write the master, student and instructor notebooks of each chapter under ``out``."""
    chapters = chapters_in_toc() if chapters is None else chapters
    otter = Path(sys.executable).parent / "otter"
    written = {}
    for chapter in chapters:
        slug = Path(chapter).name
        master = out / "master" / f"{slug}.ipynb"
        master.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(master_notebook(chapter), master)
        target = out / slug
        if target.exists():
            shutil.rmtree(target)
        result = subprocess.run([str(otter), "assign", str(master), str(target)], capture_output=True,
                                text=True)
        if result.returncode:
            raise RuntimeError(f"otter assign failed for {chapter}:\n{result.stdout}\n{result.stderr}")
        written[slug] = {"student": target / "student" / f"{slug}.ipynb",
                         "instructor": target / "autograder" / f"{slug}.ipynb"}
        print(f"{slug}: student {written[slug]['student'].relative_to(out)}, "
              f"instructor {written[slug]['instructor'].relative_to(out)}")
    return written


def exercises_in(notebook: nbformat.NotebookNode) -> list[str]:
    """The computational exercises a (student) notebook contains, from its check cells."""
    from minima.exercises import EXERCISES

    labels = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            labels += [label for label in re.findall(r'check\("([^"]+)"\)', cell.source)
                       if label in EXERCISES and label not in labels]
    return labels


def grading_cell(labels: list[str]) -> str:
    return f"""import json as _json
import minima.exercises as _exercises
_scores = {{}}
for _label in {labels!r}:
    try:
        _value = eval(_exercises.EXERCISES[_label].answer)
        _scores[_label] = int(bool(_exercises.check(_label, _value)))
    except BaseException:
        _scores[_label] = 0
print({GRADES_MARKER!r} + _json.dumps(_scores))"""


def grade_notebook(path: Path, timeout: int = 60) -> dict[str, int]:
    """Scores of one submission, ``{label: 0 or 1}``; see the module for how it is run."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    labels = exercises_in(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell(grading_cell(labels)))
    client = NotebookClient(notebook, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                            kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as error:  # a dead kernel: what was printed so far still counts
        print(f"{path.name}: the run stopped early ({type(error).__name__})", file=sys.stderr)
    scores = {label: 0 for label in labels}
    for output in notebook.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(GRADES_MARKER):
                scores.update(json.loads(line[len(GRADES_MARKER):]))
    return scores


def grade(submissions: Path, out: Path, timeout: int = 60) -> list[dict]:
    """Grade every ``.ipynb`` in ``submissions`` and write the table of scores to ``out`` (CSV)."""
    rows = []
    for path in sorted(submissions.glob("*.ipynb")):
        scores = grade_notebook(path, timeout)
        rows.append({"submission": path.name, **scores, "total": sum(scores.values())})
        print(f"{path.name}: {sum(scores.values())} of {len(scores)}")
    columns = ["submission"] + sorted({key for row in rows for key in row} - {"submission", "total"}) \
        + ["total"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval=0)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    assign_parser = commands.add_parser("assign", help="write student and instructor notebooks")
    assign_parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    assign_parser.add_argument("--chapters", nargs="*", help="chapter numbers, e.g. 02 05 (default: all)")
    grade_parser = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade_parser.add_argument("submissions", type=Path)
    grade_parser.add_argument("--out", type=Path, default=Path("scores.csv"))
    grade_parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    options = parser.parse_args(argv)
    if options.command == "assign":
        chosen = [c for c in chapters_in_toc()
                  if not options.chapters or Path(c).name[:2] in options.chapters]
        if not chosen:
            parser.error(f"--chapters {' '.join(options.chapters)} names no chapter of _toc.yml")
        assign(options.out, chosen)
    else:
        if not options.submissions.is_dir():
            parser.error(f"{options.submissions} is not a folder of notebooks")
        rows = grade(options.submissions, options.out, options.timeout)
        print(f"{len(rows)} submissions graded; scores in {options.out}")


if __name__ == "__main__":
    main()
