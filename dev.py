#!/usr/bin/env python3
"""The book's two commands; each sets up what it needs on a fresh machine with Python 3.11 and pip.

    python3 dev.py book [--profile book|smoke|full]
                           build the executed HTML book into _build/<profile>/_build/html
    python3 dev.py test    run every test: the library's unit and property tests and every chapter
    python3 dev.py lab     open JupyterLab at the chapters, each .md chapter opening as a notebook
    python3 dev.py assignments [--out DIR]
                           student and instructor notebooks of every chapter's exercises (otter-grader)
    python3 dev.py grade SUBMISSIONS [--out scores.csv] [--timeout 60]
                           grade a folder of submitted student notebooks into a CSV of scores
    python3 dev.py report [--profile book|smoke|full]
                           print the reproduction report (every recorded claim) of the last build
    python3 dev.py bench [--only NAME ...] [--quick] [--device cuda]
                           run every benchmark and print one table (also _build/bench/benchmarks.json)
    python3 dev.py gpu-check
                           on a GPU machine: the GPU tests, the benchmarks and every page at full, timed,
                           with peak GPU memory (_build/gpu-check/); without CUDA it says so and fails

Both create the virtual environment ``.venv`` and install ``requirements.txt`` into it when it is
missing or the requirements changed, then run inside it.

Each profile has its own build folder, so its executed outputs are cached apart from the others'. The
execution cache keys only on a notebook's code cells, and Sphinx re-reads only changed sources, so a
build folder is cleared whenever the library ``lib/minima`` changes: every chapter then re-executes
against the new library, and no page shows numbers or passing asserts of an older one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"
LIBRARY = ROOT / "lib" / "minima"
PROFILES = ("smoke", "book", "full")


def pages_in_toc(root: Path = ROOT) -> list[str]:
    """Every page of the book in reading order, as ``_toc.yml`` names it: the root page, then each file."""
    text = (root / "_toc.yml").read_text()
    return re.findall(r"(?m)^root:\s*(\S+)", text) + re.findall(r"(?m)^\s*-?\s*file:\s*(\S+)", text)


def notebooks_in_toc(root: Path = ROOT) -> list[str]:
    """Every executable page of ``_toc.yml`` in reading order: each chapter, then its sections."""
    return [page for page in pages_in_toc(root) if page.startswith("chapters/")]


def chapters_in_toc(root: Path = ROOT) -> list[str]:
    """The chapters of ``_toc.yml`` (``chapters/NN_slug``), in reading order, without their sections.

    A chapter past about 400 lines is split: its first page is ``chapters/NN_slug.md``, and its
    sections, listed under it in ``_toc.yml``, live in the folder ``chapters/NN_slug/``.
    """
    return [page for page in notebooks_in_toc(root) if page.count("/") == 1]


AUDIT_PART = "Reproducing the papers"
"""The part of ``_toc.yml`` whose pages check how a paper was reproduced rather than teach an idea: its
chapters have no exercises and no theorem blocks of their own."""


def teaching_chapters(root: Path = ROOT) -> list[str]:
    """The chapters of :func:`chapters_in_toc` outside the part :data:`AUDIT_PART`: the ones that teach,
    each with its theorems and exercises (and so its assignment)."""
    text = (root / "_toc.yml").read_text()
    audit = set()
    for block in re.split(r"(?m)^\s*-\s*caption:", text)[1:]:
        if block.strip().startswith(AUDIT_PART):
            audit.update(re.findall(r"(?m)^\s*-?\s*file:\s*(\S+)", block))
    return [chapter for chapter in chapters_in_toc(root) if chapter not in audit]


def sections_of(chapter: str, root: Path = ROOT) -> list[str]:
    """The section pages of ``chapter`` (``chapters/NN_slug/K_topic``), in reading order."""
    return [page for page in notebooks_in_toc(root) if page.startswith(f"{chapter}/")]


def run(command: list[str], **env: str) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **env})
    if result.returncode:
        sys.exit(result.returncode)


def ensure_environment() -> None:
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes()
                                     for name in ("requirements.txt", "pyproject.toml"))).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    if sys.version_info[:2] != (3, 11):
        print(f"warning: the pins are made for Python 3.11, this is {sys.version.split()[0]}", flush=True)
    if not PYTHON.exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"])
    STAMP.write_text(digest)


def library_digest(library: Path = LIBRARY) -> str:
    """A hash of every Python file of the library, names and contents."""
    digest = hashlib.sha256()
    for path in sorted(library.rglob("*.py")):
        digest.update(str(path.relative_to(library)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare_build_folder(folder: Path, digest: str) -> bool:
    """Empty ``folder`` if it was built against another library (``digest``); True when it was emptied.

    The stamp ``folder/library.sha256`` is written by :func:`record_build` after a successful build, so a
    failed build is redone in full next time.
    """
    stamp = folder / "library.sha256"
    if stamp.is_file() and stamp.read_text() == digest:
        return False
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return True


def record_build(folder: Path, digest: str) -> None:
    (folder / "library.sha256").write_text(digest)


def build_book(root: Path, profile: str, *, library: Path = LIBRARY, jupyter_book: str | None = None,
               **env: str) -> Path:
    """Build the executed book of ``root`` at ``profile`` into ``root/_build/<profile>``; return the HTML folder."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    folder = root / "_build" / profile
    digest = library_digest(library)
    if prepare_build_folder(folder, digest):
        print(f"building the {profile} profile from scratch (new build folder or changed library)", flush=True)
    command = [jupyter_book or str(VENV / "bin" / "jupyter-book"), "build", str(root), "--path-output",
               str(folder), "-W", "-n", "--keep-going"]
    run(command, MINIMA_PROGRESS="0", BOOK_PROFILE=profile, MINIMA_CLAIMS_DIR=str(folder / "claims"), **env)
    record_build(folder, digest)
    return folder / "_build" / "html"


def chapter_times(folder: Path) -> dict[str, float]:
    """Seconds each page (a chapter or a section, named ``NN_slug`` or ``NN_slug/K_topic``) took to
    execute in the build at ``folder``, from its execution cache.

    The cache (jupyter-cache, the same record the running page's table shows) keeps the time of the run
    that produced each cached notebook, so a page served from the cache reports its last real run.
    """
    database = folder / "_build" / ".jupyter_cache" / "global.db"
    if not database.is_file():
        return {}
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT uri, data FROM nbcache").fetchall()
    times = {}
    for uri, data in rows:
        page = uri.split("/chapters/")[-1].removesuffix(Path(uri).suffix)
        times[page] = round(json.loads(data or "{}").get("execution_seconds", float("nan")), 1)
    return times


def report_times(folder: Path) -> None:
    times = chapter_times(folder)
    (folder / "chapter-times.json").write_text(json.dumps(dict(sorted(times.items())), indent=1))
    print("\nexecution time per page (s):")
    for name, seconds in sorted(times.items()):
        print(f"  {name:52s} {seconds:7.1f}")
    print(f"  {'total':52s} {sum(times.values()):7.1f}")


def book() -> None:
    parser = argparse.ArgumentParser(prog="python3 dev.py book", description="Build the executed book.")
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("BOOK_PROFILE", "book"),
                        help="sizes of the chapters' computations (default: book, or $BOOK_PROFILE)")
    options = parser.parse_args(sys.argv[2:])
    ensure_environment()
    html = build_book(ROOT, options.profile)
    report_times(ROOT / "_build" / options.profile)
    print(f"\nThe book ({options.profile} profile) is in {html}: open {html / 'index.html'}")


def claims_module():
    """``minima.claims``, loaded from its file (it needs only the standard library), so that the
    report's statuses and count line are the library's own, also outside the environment."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("minima_claims", LIBRARY / "claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def report_lines(rows: list[dict], width: int = 100) -> list[str]:
    """The reproduction report as terminal lines: a count per status, then per chapter one line a
    claim (its status abbreviated: ok, setting, outside, corrected, finding, not checked, DIFFERS)."""
    short = {"reproduced": "ok", "reproduced in another setting": "setting",
             "outside the paper's hypotheses": "outside", "paper corrected": "corrected",
             "book finding": "finding", "not checked at this size": "not checked", "differs": "DIFFERS"}
    lines = textwrap.wrap(claims_module().summary_lines(rows), width, subsequent_indent="  ")
    for chapter in sorted({row["chapter"] for row in rows}):
        lines.append(f"\n{chapter}")
        for row in (r for r in rows if r["chapter"] == chapter):
            text = f"  {short[row['status']]:11s} {row['id']}: paper {row['paper_value']} | book {row['book_value']}"
            lines.append(text if len(text) <= width else text[:width - 1] + "…")
    return lines


def report() -> None:
    parser = argparse.ArgumentParser(prog="python3 dev.py report",
                                     description="Print the reproduction report of the last build.")
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("BOOK_PROFILE", "book"))
    options = parser.parse_args(sys.argv[2:])
    path = ROOT / "_build" / options.profile / "claims.json"
    if not path.is_file():
        sys.exit(f"no report for the {options.profile} profile: build it with "
                 f"python3 dev.py book --profile {options.profile}")
    print("\n".join(report_lines(json.loads(path.read_text()))))


def install_lab_settings(prefix: Path = VENV) -> Path:
    """Make JupyterLab in the environment at ``prefix`` open ``.md`` files as notebooks (jupytext).

    Copies ``jupyterlab-overrides.json`` to ``share/jupyter/lab/settings/overrides.json``, where JupyterLab
    reads its defaults; Binder's ``postBuild`` copies the same file, so the two cannot drift.
    """
    settings = prefix / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "jupyterlab-overrides.json", settings / "overrides.json")
    return settings / "overrides.json"


def lab() -> None:
    ensure_environment()
    install_lab_settings()
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    run([str(VENV / "bin" / "jupyter"), "lab", f"--ServerApp.root_dir={ROOT}",
         "--LabApp.default_url=/lab/tree/chapters", *as_root, *sys.argv[2:]])


def test() -> None:
    ensure_environment()
    run([str(PYTHON), "-m", "pytest", "-q", "-rs", "--durations=15", *sys.argv[2:]], MINIMA_PROGRESS="0",
        MINIMA_DEVICE=os.environ.get("MINIMA_DEVICE", "cpu"))


def assignments() -> None:
    ensure_environment()
    run([str(PYTHON), str(ROOT / "tools" / "assignments.py"), "assign", *sys.argv[2:]])


def grade() -> None:
    ensure_environment()
    run([str(PYTHON), str(ROOT / "tools" / "assignments.py"), "grade", *sys.argv[2:]])


def bench() -> None:
    ensure_environment()
    run([str(PYTHON), str(ROOT / "benchmarks" / "table.py"), *sys.argv[2:]], MINIMA_PROGRESS="0")


def gpu_check() -> None:
    ensure_environment()
    run([str(PYTHON), str(ROOT / "tools" / "gpu_check.py"), *sys.argv[2:]], MINIMA_PROGRESS="0")


if __name__ == "__main__":
    commands = {"book": book, "test": test, "lab": lab, "assignments": assignments, "grade": grade,
                "report": report, "bench": bench, "gpu-check": gpu_check}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]]()
