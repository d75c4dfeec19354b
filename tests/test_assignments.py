"""Course assignments: every chapter's checked exercises, the generated student and instructor
notebooks (otter-grader), the reference solutions graded full, empty stubs graded zero, plausible
wrong answers rejected, and grading that survives a loop, an error or a deleted variable."""
from __future__ import annotations

import ast
import builtins
import copy
import csv
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import minima
from minima.exercises import EXERCISES, Verdict, check

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import assignments  # noqa: E402
from dev import notebooks_in_toc  # noqa: E402

CHAPTERS = assignments.teaching_chapters()


def solution_cell_index(notebook, label):
    """Index of the code cell that sets the answer of ``label`` (the one before its check cell)."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and f'grader.check("{label}")' in cell.source:
            return index - 1
    raise AssertionError(f"no check cell for {label}")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return assignments.assign(tmp_path_factory.mktemp("assignments"))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_checked_exercises(chapter):
    exercises = assignments.parse_exercises(assignments.chapter_source(chapter))
    computational = [exercise for exercise in exercises if exercise.computational]
    assert len(exercises) >= 3 and len(computational) >= 2, chapter
    for exercise in computational:
        assert EXERCISES[exercise.label].chapter == Path(chapter).name
        assert EXERCISES[exercise.label].answer in exercise.solution_code, exercise.label
        assert f'check("{exercise.label}"' in exercise.prompt  # the reader is told how to check


def all_exercises():
    return [(chapter, exercise) for chapter in CHAPTERS
            for exercise in assignments.parse_exercises(assignments.chapter_source(chapter))]


def test_every_exercise_says_its_kind_and_has_a_solution():
    """An instructor chooses by kind: each title names derivation, prediction or computation; and every
    exercise has a written solution (prose and, where it computes, code), not a hint."""
    for chapter, exercise in all_exercises():
        assert exercise.kinds, f"{exercise.label}: title {exercise.title!r} names no kind of {assignments.KINDS}"
        assert len(exercise.solution_text) + len(exercise.solution_code) > 150, exercise.label


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_a_checked_prediction(chapter):
    """Predict, then run: each chapter has a prediction exercise whose check compares the reader's value
    with what the library computes."""
    exercises = assignments.parse_exercises(assignments.chapter_source(chapter))
    assert any("Prediction" in e.kinds and e.computational for e in exercises), chapter


def test_every_registered_exercise_is_in_its_chapter():
    for label, exercise in EXERCISES.items():
        text = assignments.chapter_source(f"chapters/{exercise.chapter}")
        assert f":label: {label}\n" in text, label


def solution_code(label):
    """The reference solution of ``label``: the ``python`` code of its chapter's solution block."""
    chapter = EXERCISES[label].chapter
    exercises = assignments.parse_exercises(assignments.chapter_source(f"chapters/{chapter}"))
    return next(e.solution_code for e in exercises if e.label == label)


def reference_answer(label):
    namespace = {}
    exec(assignments.SETUP + "\n" + solution_code(label), namespace)  # as the instructor's notebook runs it
    return namespace[EXERCISES[label].answer]


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_reference_solution_passes_and_wrong_answers_are_rejected(label):
    verdict = check(label, reference_answer(label))
    assert isinstance(verdict, Verdict) and verdict.correct, verdict.message
    namespace = {"minima": minima, "torch": torch, "np": np, "math": math}
    for wrong in EXERCISES[label].wrong_answers:
        verdict = check(label, eval(wrong, namespace))
        assert not verdict.correct, f"{label} accepted the wrong answer {wrong}"
        assert verdict.message.startswith("not yet: ")
    for empty in (..., None):
        assert repr(check(label, empty)) == f"not yet: {minima.exercises.NOT_GIVEN}"
    assert not check(label, "a sentence")  # malformed: a hint, not a crash


def test_check_rejects_unknown_labels():
    with pytest.raises(ValueError, match="label"):
        check("no-such-exercise", 1)


def test_float_answers_accept_other_correct_methods():
    """A Monte Carlo estimate within its error is accepted where the exercise allows it."""
    generator = torch.Generator().manual_seed(0)
    angle = math.pi / 3
    directions = torch.randn(100_000, 2, generator=generator, dtype=torch.float64)
    samples = torch.tensor([[1.0, 0.0], [math.cos(angle), math.sin(angle)]], dtype=torch.float64)
    estimate = float(((directions @ samples.T) > 0).all(dim=1).double().mean())
    assert check("volume-ex-sixty", estimate)
    assert check("ex-mystery-bias", [17, torch.tensor(144)])  # a list, a tensor: the same answer


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_version_has_stubs_and_no_solutions(chapter, generated):
    slug = Path(chapter).name
    student = nbformat.read(generated[slug]["student"], as_version=4)
    instructor = nbformat.read(generated[slug]["instructor"], as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)
    assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
    for exercise in assignments.parse_exercises(assignments.chapter_source(chapter)):
        for line in exercise.solution_code.splitlines():
            # given: loading the exercise's data, or an import the notebook's setup cell has too
            given = line.strip() in exercise.prompt or line.strip().startswith(("import ", "from "))
            if len(line.strip()) > 25 and not given:
                assert line.strip() not in student_text, f"{exercise.label}: solution code leaks"
        for paragraph in exercise.solution_text.split("\n\n"):
            if len(paragraph) > 40:
                assert paragraph[:40] not in student_text, f"{exercise.label}: solution text leaks"
                assert paragraph[:40] in "\n".join(c.source for c in instructor.cells)
        if exercise.computational:
            stub = student.cells[solution_cell_index(student, exercise.label)].source
            assert EXERCISES[exercise.label].stub in stub


def fill(notebook, answers: dict[str, str]):
    """A copy of a student notebook with the answer cells of ``answers`` replaced by that code."""
    notebook = copy.deepcopy(notebook)
    for label, code in answers.items():
        notebook.cells[solution_cell_index(notebook, label)].source = code
    return notebook


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_reference_solutions_grade_full_and_empty_stubs_zero(chapter, generated, tmp_path):
    slug = Path(chapter).name
    student = nbformat.read(generated[slug]["student"], as_version=4)
    labels = assignments.exercises_in(student)
    assert labels and all(label in EXERCISES for label in labels)
    solved = tmp_path / "solved.ipynb"
    nbformat.write(fill(student, {label: solution_code(label) for label in labels}), solved)
    empty = tmp_path / "empty.ipynb"
    nbformat.write(student, empty)
    assert assignments.grade_notebook(solved) == {label: 1 for label in labels}
    assert assignments.grade_notebook(empty) == {label: 0 for label in labels}


def test_otter_check_cells_report_without_crashing(generated, tmp_path):
    """The student's own check cells: "not yet" with the hint for an empty stub, passed when solved."""
    from nbclient import NotebookClient

    student = nbformat.read(generated["01_optimization_mystery"]["student"], as_version=4)
    solved = fill(student, {"ex-mystery-width": solution_code("ex-mystery-width")})
    # otter's first cell reads the notebook's own file (its tests are in the metadata)
    nbformat.write(solved, tmp_path / "01_optimization_mystery.ipynb")
    NotebookClient(solved, timeout=120, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    reports = {label: "".join(str(output.get("data", {}).get("text/plain", output.get("text", "")))
                              for output in solved.cells[solution_cell_index(solved, label) + 1].outputs)
               for label in ("ex-mystery-bias", "ex-mystery-width")}
    assert "not yet: replace the ..." in reports["ex-mystery-bias"]
    assert "passed" in reports["ex-mystery-width"]


def test_grading_survives_loops_errors_and_deleted_variables(generated, tmp_path):
    student = nbformat.read(generated["01_optimization_mystery"]["student"], as_version=4)
    bias, width = solution_code("ex-mystery-bias"), solution_code("ex-mystery-width")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    looping = fill(student, {"ex-mystery-bias": "while True:\n    pass", "ex-mystery-width": width})
    raising = fill(student, {"ex-mystery-bias": bias, "ex-mystery-width": "raise RuntimeError('x')"})
    deleting = fill(student, {"ex-mystery-bias": bias, "ex-mystery-width": width})
    deleting.cells.append(nbformat.v4.new_code_cell("del bias_free"))
    for name, notebook in (("looping", looping), ("raising", raising), ("deleting", deleting)):
        nbformat.write(notebook, submissions / f"{name}.ipynb")
    rows = assignments.grade(submissions, tmp_path / "scores.csv", timeout=5)
    with (tmp_path / "scores.csv").open() as handle:
        table = {row["submission"]: row for row in csv.DictReader(handle)}
    assert {row["submission"] for row in rows} == {"looping.ipynb", "raising.ipynb", "deleting.ipynb"}
    assert (table["looping.ipynb"]["ex-mystery-bias"], table["looping.ipynb"]["ex-mystery-width"]) \
        == ("0", "1")
    assert (table["raising.ipynb"]["ex-mystery-bias"], table["raising.ipynb"]["ex-mystery-width"]) \
        == ("1", "0")
    assert (table["deleting.ipynb"]["ex-mystery-bias"], table["deleting.ipynb"]["ex-mystery-width"]) \
        == ("0", "1")
    assert table["looping.ipynb"]["total"] == "1"


def test_exercise_data_rejects_unknown_labels():
    with pytest.raises(ValueError, match="label"):
        minima.exercises.exercise_data("ex-mystery-bias")  # an exercise without fixed data


def _bound_names(tree) -> set[str]:
    """Every name a piece of code binds: imports, assignments, loop targets, functions, arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


PAGES_WITH_SOLUTIONS = [page for page in notebooks_in_toc()
                        if ":::{solution}" in (ROOT / f"{page}.md").read_text()]


@pytest.mark.parametrize("page", PAGES_WITH_SOLUTIONS)
def test_every_solution_runs_as_printed_in_its_page(page):
    """A reader copies a solution block into the page's kernel: every name it uses must be bound by the
    block itself or by the page, and the block must run with nothing but the page's imports."""
    import jupytext

    text = (ROOT / f"{page}.md").read_text()
    cells = [cell.source for cell in jupytext.read(ROOT / f"{page}.md").cells if cell.cell_type == "code"]
    page_names = set().union(*(_bound_names(ast.parse(source)) for source in cells))
    imports = "\n".join(ast.unparse(node) for source in cells for node in ast.parse(source).body
                        if isinstance(node, (ast.Import, ast.ImportFrom)))
    blocks = [(match["label"], block["code"]) for match in assignments.SOLUTION.finditer(text)
              for block in assignments.PYTHON.finditer(match["body"])]
    assert blocks, f"{page} has solutions but no python block in them"
    for label, code in blocks:
        tree = ast.parse(code)
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        unbound = used - _bound_names(tree) - set(dir(builtins)) - page_names
        assert not unbound, f"{page}, solution {label} uses {sorted(unbound)}, which the page never defines"
        exec(compile(imports + "\n" + code, f"{page}:{label}", "exec"), {})  # only the page's imports


FORGERIES = {
    "the checker replaced": "import minima.exercises\n"
                            "class _Yes:\n    correct = True\n    message = 'correct'\n    def __bool__(self):\n"
                            "        return True\nminima.exercises.check = lambda label, value: _Yes()\n"
                            "check = minima.exercises.check",
    "the expected values changed": "import minima.exercises as _e\n"
                                   "for _exercise in list(_e.EXERCISES.values()):\n"
                                   "    object.__setattr__(_exercise, 'judge', lambda value: _e._correct('x'))",
    "an object equal to everything": "class _Everything(float):\n"
                                     "    def __eq__(self, other): return True\n"
                                     "    def __sub__(self, other): return _Everything(0.0)\n"
                                     "    def __rsub__(self, other): return _Everything(0.0)\n"
                                     "    def __abs__(self): return _Everything(0.0)\n"
                                     "    def __lt__(self, other): return True\n"
                                     "    def __le__(self, other): return True\n"
                                     "    __hash__ = float.__hash__\n"
                                     "bias_free = (_Everything(1.0), _Everything(1.0))\n"
                                     "smallest_width = _Everything(1.0)",
    "a cell that writes into the library": f"open({str(ROOT / 'lib' / 'minima' / 'exercises.py')!r}, 'a')"
                                           ".write('\\n# forged\\n')",
    "a cell that never ends": "while True:\n    pass",
    "a cell that writes into every copy of the library": (
        "import pathlib, tempfile\n"
        "for _root in {pathlib.Path('..').resolve(), pathlib.Path(tempfile.gettempdir())}:\n"
        "    for _file in _root.rglob('exercises.py'):\n"
        "        try:\n"
        "            _file.write_text('# forged')\n"
        "        except OSError:\n"
        "            pass\n"
        f"open({str(ROOT / 'lib' / 'minima' / 'exercises.py')!r}, 'a').write('\\n# forged\\n')"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_submission_scores_nothing_it_did_not_solve(forgery, generated, tmp_path):
    """Each forgery solves one exercise honestly and forges the other: only the honest one counts."""
    student = nbformat.read(generated["01_optimization_mystery"]["student"], as_version=4)
    width = solution_code("ex-mystery-width")
    forged = fill(student, {"ex-mystery-width": width})
    forged.cells.append(nbformat.v4.new_code_cell(FORGERIES[forgery]))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(forged, submissions / "forged.ipynb")
    library = ROOT / "lib" / "minima" / "exercises.py"
    before = library.read_bytes()
    rows = assignments.grade(submissions, tmp_path / "scores.csv", timeout=10)
    assert library.read_bytes() == before  # restored if the submission wrote to it
    with assignments.report_path(tmp_path / "scores.csv").open() as handle:
        reasons = {row["exercise"]: row for row in csv.DictReader(handle)}
    assert rows[0]["ex-mystery-bias"] == 0, reasons["ex-mystery-bias"]
    if forgery.startswith("a cell that writes into"):
        assert rows[0]["ex-mystery-width"] == 0 and "library" in reasons["ex-mystery-width"]["reason"]
    elif forgery == "an object equal to everything":  # it overwrote the honest answer too
        assert rows[0]["ex-mystery-width"] == 0 and "plain data" in reasons["ex-mystery-width"]["reason"]
    else:
        assert rows[0]["ex-mystery-width"] == 1, reasons["ex-mystery-width"]
    assert reasons["ex-mystery-bias"]["reason"], "a zero without its reason"


def test_a_deleted_exercise_cell_still_counts_as_zero(generated, tmp_path):
    student = nbformat.read(generated["01_optimization_mystery"]["student"], as_version=4)
    solved = fill(student, {"ex-mystery-width": solution_code("ex-mystery-width")})
    index = solution_cell_index(solved, "ex-mystery-bias")
    del solved.cells[index:index + 2]  # the answer cell and its check
    nbformat.write(solved, tmp_path / "deleted.ipynb")
    graded = assignments.grade_submission(tmp_path / "deleted.ipynb", timeout=30)
    assert graded.scores == {"ex-mystery-bias": 0, "ex-mystery-width": 1}
    assert "not set" in graded.reasons["ex-mystery-bias"]


def test_otter_run_with_the_autograder_zip_agrees_with_the_grader(generated, tmp_path):
    """otter's own path (autograder.zip, ``otter run`` without Docker) on a right, a blank and a wrong
    submission gives the scores ``dev.py grade`` gives."""
    slug = "07_ntk_dynamics"
    autograder = generated[slug]["autograder"]
    assert autograder.is_file()
    student = nbformat.read(generated[slug]["student"], as_version=4)
    labels = assignments.exercises_in(student)
    right = fill(student, {label: solution_code(label) for label in labels})
    wrong = fill(student, {labels[0]: solution_code(labels[0]), labels[1]: f"{EXERCISES[labels[1]].answer} = 0.5"})
    for name, notebook in (("right", right), ("blank", student), ("wrong", wrong)):
        path = tmp_path / name / f"{slug}.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, path)
        ours = assignments.grade_notebook(path)
        assert assignments.otter_run(autograder, path, tmp_path / f"{name}-otter") == ours, name
        assert sum(ours.values()) == {"right": len(labels), "blank": 0, "wrong": 1}[name]
