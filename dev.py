#!/usr/bin/env python3
"""The book's two commands; each sets up what it needs on a fresh machine with Python 3.11 and pip.

    python3 dev.py book    build the executed HTML book (book profile) into _build/html
    python3 dev.py test    run every test: the library's unit and property tests and every chapter

Both create the virtual environment ``.venv`` and install ``requirements.txt`` into it when it is
missing or the requirements changed, then run inside it.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"


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


def book() -> None:
    ensure_environment()
    run([str(VENV / "bin" / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going"],
        MINIMA_PROGRESS="0", BOOK_PROFILE="book")
    print(f"\nThe book is in {ROOT / '_build' / 'html'}: open {ROOT / '_build' / 'html' / 'index.html'}")


def test() -> None:
    ensure_environment()
    run([str(PYTHON), "-m", "pytest", "-q", "--durations=15", *sys.argv[2:]], MINIMA_PROGRESS="0",
        MINIMA_DEVICE=os.environ.get("MINIMA_DEVICE", "cpu"))


if __name__ == "__main__":
    commands = {"book": book, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]]()
