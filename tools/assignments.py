"""Course assignments from the chapters' exercises: student and instructor notebooks, and grading.

``assign`` reads each chapter's ``{exercise}`` and ``{solution}`` blocks and writes an otter-grader
master notebook (``_build/assignments/master/NN_slug.ipynb``): every exercise is a question; a
computational one (listed in ``minima.exercises.EXERCISES``) gets a code cell whose reference solution
is the ``python`` code of its solution block, and a test that calls ``minima.exercises.check``. Then
``otter assign`` writes ``student/`` (solutions removed, outputs cleared, a stub and an ``otter check``
cell per computational exercise) and ``autograder/`` (the instructor's version, with solutions and
tests, and ``autograder.zip``, the file ``otter grade`` and Gradescope need: it packs a copy of the
library and the exact pins) for each chapter.

``grade`` runs each submitted notebook in its own kernel (a separate process), in a temporary copy of
its folder and with a temporary copy of the library: every cell has a time limit, after which the
kernel is interrupted and the next cell runs; errors do not stop the run. A last cell exports each
computational exercise's variable as plain data; the grader's own process rebuilds and checks it, so
no code of the submission (a replaced checker, patched expected values, an object whose comparisons
always succeed) takes part in the check. A run that changes the library or the folder of submissions
scores 0 and the library is restored. The scores (one column per exercise, one row per submission) go
to a CSV file, and each exercise's reason for its score to a second one beside it.

Usage (``python3 dev.py assignments`` and ``python3 dev.py grade`` call these)::

    python tools/assignments.py assign [--out _build/assignments] [--chapters 02 05]
    python tools/assignments.py grade SUBMISSIONS_FOLDER [--out scores.csv] [--timeout 60]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dev import sections_of, teaching_chapters  # noqa: E402
DEFAULT_OUT = ROOT / "_build" / "assignments"
SETUP = """import math

import numpy as np
import torch

import minima
from minima import construction, linear, ntk, rank, regions, volume
from minima.exercises import check, exercise_data"""

EXERCISE = re.compile(r"^:::\{exercise\} (?P<title>[^\n]+)\n:label: (?P<label>\S+)\n(?P<body>.*?)^:::$",
                      re.M | re.S)
KINDS = ("Derivation", "Prediction", "Computation")
"""What an exercise asks, the first word of its title: prove or derive by hand, predict before running,
or compute. An instructor chooses by kind; a title may name two ("Prediction and computation")."""
SOLUTION = re.compile(r"^:::\{solution\} (?P<label>\S+)\n(?::class: \S+\n)?(?P<body>.*?)^:::$",
                      re.M | re.S)
PYTHON = re.compile(r"^```python\n(?P<code>.*?)^```\n?", re.M | re.S)


@dataclass
class ChapterExercise:
    label: str
    title: str
    prompt: str
    solution_text: str
    solution_code: str

    @property
    def kinds(self) -> list[str]:
        """The kinds of :data:`KINDS` the title names, in the order of :data:`KINDS`."""
        return [kind for kind in KINDS if kind.lower() in self.title.lower()]

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
        exercises.append(ChapterExercise(label, match["title"].strip(), match["body"].strip(),
                                         PYTHON.sub("", solution).strip(), code))
    return exercises


def _raw(source: str):
    return nbformat.v4.new_raw_cell(source)


def master_notebook(chapter: str) -> nbformat.NotebookNode:
    """Otter-grader's master notebook for ``chapter`` (e.g. ``chapters/02_one_hidden_layer``)."""
    from minima.exercises import EXERCISES

    text = chapter_source(chapter)
    slug = Path(chapter).name
    config = {"name": slug, "init_cell": True, "check_all_cell": False, "export_cell": False,
              "run_tests": False, "generate": True, "requirements": "requirements.txt",
              "files": ["minima"]}
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
                      nbformat.v4.new_markdown_cell(f"**{exercise.label}** ({exercise.title}). {exercise.prompt}"),
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
                      nbformat.v4.new_markdown_cell(f"**{exercise.label}** ({exercise.title}). {exercise.prompt}"),
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
    chapters = teaching_chapters() if chapters is None else chapters
    otter = Path(sys.executable).parent / "otter"
    written = {}
    for chapter in chapters:
        slug = Path(chapter).name
        master = out / "master" / f"{slug}.ipynb"
        master.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(master_notebook(chapter), master)
        _autograder_files(master.parent)
        target = out / slug
        if target.exists():
            shutil.rmtree(target)
        result = subprocess.run([str(otter), "assign", str(master), str(target)], capture_output=True,
                                text=True)
        if result.returncode:
            raise RuntimeError(f"otter assign failed for {chapter}:\n{result.stdout}\n{result.stderr}")
        zips = sorted((target / "autograder").glob(f"{slug}-autograder_*.zip"))
        if not zips:
            raise RuntimeError(f"otter assign wrote no autograder.zip for {chapter}")
        zips[-1].rename(target / "autograder" / "autograder.zip")
        written[slug] = {"student": target / "student" / f"{slug}.ipynb",
                         "instructor": target / "autograder" / f"{slug}.ipynb",
                         "autograder": target / "autograder" / "autograder.zip"}
        print(f"{slug}: student {written[slug]['student'].relative_to(out)}, "
              f"instructor {written[slug]['instructor'].relative_to(out)}")
    return written


def _autograder_files(folder: Path) -> None:
    """What ``otter assign`` packs into ``autograder.zip`` beside the tests: a copy of the library (the
    zip's environment has no checkout of this repository) and the exact pins, less ``-e .``."""
    target = folder / "minima"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "lib" / "minima", target, ignore=shutil.ignore_patterns("__pycache__"))
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith(("#", "-e"))]
    (folder / "requirements.txt").write_text("\n".join(pins) + "\n")


def otter_run(autograder: Path, submission: Path, out: Path) -> dict[str, int]:
    """Scores of ``submission`` by ``otter run`` with ``autograder.zip``, without Docker: ``{label: 0 or 1}``.

    This is otter's own path (the one Gradescope runs); its tests run in the submission's kernel, so
    unlike :func:`grade_submission` it trusts the submission.
    """
    out.mkdir(parents=True, exist_ok=True)
    otter = Path(sys.executable).parent / "otter"
    result = subprocess.run([str(otter), "run", "-a", str(autograder), "-o", str(out), str(submission)],
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"otter run failed on {submission.name}:\n{result.stdout}\n{result.stderr}")
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {test["name"]: int(test["score"] == test["max_score"]) for test in tests if "score" in test}


def exercises_in(notebook: nbformat.NotebookNode) -> list[str]:
    """The computational exercises a (student) notebook contains, from its check cells."""
    from minima.exercises import EXERCISES

    labels = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            labels += [label for label in re.findall(r'check\("([^"]+)"\)', cell.source)
                       if label in EXERCISES and label not in labels]
    return labels


EXPORT_CELL = """import json as _json
def _minima_export(value, depth=0):
    if depth > 4:
        raise TypeError("nested too deeply")
    if value is None or value is Ellipsis:
        return {"kind": "none"}
    if type(value) in (bool, int, float, str):
        return {"kind": type(value).__name__, "value": value}
    if type(value) in (list, tuple):
        return {"kind": type(value).__name__,
                "items": [_minima_export(item, depth + 1) for item in value]}
    module = type(value).__module__.split(".")[0]
    if module in ("numpy", "torch") and type(value).__name__ in (
            "ndarray", "Tensor", "float64", "float32", "int64", "int32", "bool_"):
        import numpy
        array = numpy.asarray(value.detach().cpu().numpy() if module == "torch" else value)
        if array.dtype.kind in "biuf":
            return {"kind": "array", "value": array.tolist()}
    raise TypeError(type(value).__name__ + " is not plain data")
_minima_answers = {}
for _label, _name in %(answers)r:
    try:
        _minima_answers[_label] = {"answer": _minima_export(eval(_name))}
    except NameError:
        _minima_answers[_label] = {"reason": "the variable " + _name + " is not set"}
    except BaseException as _error:
        _minima_answers[_label] = {"reason": "not plain data (" + str(_error)[:200] + ")"}
with open(%(path)r, "w") as _stream:
    _stream.write(_json.dumps(_minima_answers))"""


@dataclass
class GradedSubmission:
    """One submission's scores ``{label: 0 or 1}`` and, for each exercise, why it scored what it did."""
    scores: dict[str, int]
    reasons: dict[str, str]


def _rebuild(exported):
    """An exported answer back as a value: plain Python data, tuples, and float or int numpy arrays."""
    import numpy as np

    kind = exported["kind"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        value = exported["value"]
        if type(value).__name__ != kind and not (kind == "float" and type(value) is int):
            raise TypeError(f"a {kind} was announced, {type(value).__name__} exported")
        return {"bool": bool, "int": int, "float": float, "str": str}[kind](value)
    if kind in ("list", "tuple"):
        items = [_rebuild(item) for item in exported["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "array":
        array = np.asarray(exported["value"])
        if array.dtype.kind not in "biuf":
            raise TypeError("an array of numbers was announced")
        return array.item() if array.ndim == 0 else array
    raise TypeError(f"unknown kind {kind!r}")


def _tree_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but caches, by relative path: a snapshot held in this process."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _snapshot_digest(snapshot: dict[str, bytes]) -> str:
    """One SHA-256 of a ``_tree_files`` snapshot: its names and contents, in order."""
    digest = hashlib.sha256()
    for name, content in snapshot.items():
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def _restore(folder: Path, snapshot: dict[str, bytes]) -> None:
    """Put ``folder`` back as ``snapshot`` holds it (files the run added are removed)."""
    shutil.rmtree(folder)
    for name, content in snapshot.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)


def _assignment_labels(notebook: nbformat.NotebookNode) -> list[str]:
    """Every computational exercise of the submission's chapter, even those whose cells were deleted."""
    from minima.exercises import EXERCISES

    chapters = {EXERCISES[label].chapter for label in exercises_in(notebook)}
    name = notebook.metadata.get("otter", {}).get("assignment_name")
    chapters |= {exercise.chapter for exercise in EXERCISES.values() if exercise.chapter == name}
    return [label for label, exercise in EXERCISES.items() if exercise.chapter in chapters]


def grade_submission(path: Path, timeout: int = 60) -> GradedSubmission:
    """Grade one submitted notebook; the student's code never runs in this process.

    The notebook runs in its own kernel, in a temporary copy of its folder, importing a temporary copy of
    ``minima`` (so that nothing it does to the library persists); every cell has ``timeout`` seconds. A
    last cell exports each exercise's answer variable as plain data (numbers, booleans, strings, lists
    and tuples of these, numpy or torch arrays of numbers) to a JSON file; anything else is refused
    there. Here, in the grader's own process, each exported answer is rebuilt and checked with this
    process's ``minima.exercises.check``. If the run changed any file of the library or of the folder of
    submissions, every exercise scores 0 and the library is restored from a snapshot held in memory.
    """
    from minima.exercises import EXERCISES, check
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    labels = _assignment_labels(notebook)
    reasons = {label: "" for label in labels}
    library = ROOT / "lib" / "minima"
    watched = {"library": library, "submissions folder": path.parent}
    backup = _tree_files(library)  # in memory: no file of it is within the submission's reach
    before = {"library": _snapshot_digest(backup),
              "submissions folder": _snapshot_digest(_tree_files(path.parent))}
    with tempfile.TemporaryDirectory(prefix="minima-grade-") as scratch:
        scratch = Path(scratch)
        shutil.copytree(library, scratch / "lib" / "minima")
        work = scratch / "work"
        work.mkdir()
        shutil.copy2(path, work / path.name)  # otter's first cell reads the notebook beside it
        answers_file = scratch / f"answers-{secrets.token_hex(8)}.json"
        notebook.cells.append(nbformat.v4.new_code_cell(EXPORT_CELL % {
            "answers": [(label, EXERCISES[label].answer) for label in labels], "path": str(answers_file)}))
        client = NotebookClient(notebook, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                                kernel_name="python3", resources={"metadata": {"path": str(work)}})
        environment = {"PYTHONPATH": os.pathsep.join(filter(None, [str(scratch / "lib"),
                                                                   os.environ.get("PYTHONPATH")]))}
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)  # the kernel inherits it
        try:
            client.execute()
        except Exception as error:  # a dead kernel: an answer file written so far still counts
            print(f"{path.name}: the run stopped early ({type(error).__name__})", file=sys.stderr)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        changed = [name for name, folder in watched.items() if _snapshot_digest(_tree_files(folder)) != before[name]]
        if "library" in changed:
            _restore(library, backup)
        exported = {}
        if answers_file.is_file() and answers_file.stat().st_size < 10_000_000:
            try:
                exported = json.loads(answers_file.read_text())
            except ValueError:
                exported = {}
    errors = [cell for cell in notebook.cells[:-1] if cell.cell_type == "code"
              and any(output.get("output_type") == "error" for output in cell.get("outputs", []))]
    scores = {}
    for label in labels:
        entry = exported.get(label) if isinstance(exported, dict) else None
        if changed:
            scores[label], reasons[label] = 0, f"the run changed the {' and the '.join(changed)}"
        elif not isinstance(entry, dict):
            scores[label] = 0
            reasons[label] = "no answer exported (the kernel died or a cell ran out of time)"
        elif "answer" not in entry:
            scores[label], reasons[label] = 0, str(entry.get("reason", "no answer"))[:300]
        else:
            try:
                verdict = check(label, _rebuild(entry["answer"]))
                scores[label] = int(bool(verdict.correct))
                reasons[label] = "" if verdict.correct else verdict.message
            except Exception as error:
                scores[label], reasons[label] = 0, f"not plain data ({error})"
        if not scores[label] and errors and "no answer" in reasons[label]:
            reasons[label] += f"; {len(errors)} cell(s) raised an error"
    return GradedSubmission(scores, reasons)


def grade_notebook(path: Path, timeout: int = 60) -> dict[str, int]:
    """Scores of one submission, ``{label: 0 or 1}`` (:func:`grade_submission` gives the reasons too)."""
    return grade_submission(path, timeout).scores


def grade(submissions: Path, out: Path, timeout: int = 60) -> list[dict]:
    """Grade every ``.ipynb`` in ``submissions``: scores to ``out`` (CSV), reasons beside it
    (``<out>-report.csv``: submission, exercise, score, reason)."""
    rows, report = [], []
    for path in sorted(submissions.glob("*.ipynb")):
        graded = grade_submission(path, timeout)
        rows.append({"submission": path.name, **graded.scores, "total": sum(graded.scores.values())})
        report += [{"submission": path.name, "exercise": label, "score": score,
                    "reason": graded.reasons[label]} for label, score in graded.scores.items()]
        print(f"{path.name}: {sum(graded.scores.values())} of {len(graded.scores)}")
    columns = ["submission"] + sorted({key for row in rows for key in row} - {"submission", "total"}) \
        + ["total"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval=0)
        writer.writeheader()
        writer.writerows(rows)
    with report_path(out).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["submission", "exercise", "score", "reason"])
        writer.writeheader()
        writer.writerows(report)
    return rows


def report_path(out: Path) -> Path:
    """Where :func:`grade` writes the per-exercise reasons beside the scores ``out``."""
    return out.with_name(out.stem + "-report.csv")


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
        chosen = [c for c in teaching_chapters()
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
