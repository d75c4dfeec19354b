"""Binder's environment resolves, and repo2docker reads the ``binder/`` folder as intended.

Both need the package registry (the CI machine has it) but no Docker: pip resolves
``binder/requirements.txt`` as a dry run, and repo2docker renders its Dockerfile without building it.
PyTorch's CPU wheel index, the file's first line, cannot be reached from our machines, so the resolve
runs without that line (``torch==2.13.0`` then resolves from the registry) and the line's form is
checked on its own.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
REPO2DOCKER = "jupyter-repo2docker==2026.4.0"
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def pins(path: Path) -> dict[str, str]:
    """``name: version`` for every ``name==version`` line of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match[1].split("[")[0]).lower()] = match[2]
    return found


def test_the_cpu_index_line_has_its_form():
    lines = [line for line in (BINDER / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines == [CPU_INDEX, "-r ../requirements.txt"]


def test_binder_requirements_resolve_with_every_pin_met(tmp_path):
    resolvable = tmp_path / "binder" / "requirements.txt"
    resolvable.parent.mkdir()
    resolvable.write_text((BINDER / "requirements.txt").read_text().replace(CPU_INDEX, "")
                          .replace("-r ../requirements.txt", f"-r {ROOT / 'requirements.txt'}"))
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                             "--quiet", "--report", str(report), "-r", str(resolvable)],
                            cwd=ROOT, capture_output=True, text=True)  # cwd: the file's `-e .`
    assert result.returncode == 0, result.stderr[-3000:]
    chosen = {re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    wanted = pins(ROOT / "requirements.txt")
    assert wanted, "requirements.txt pins nothing"
    unmet = {name: (version, chosen.get(name)) for name, version in wanted.items()
             if chosen.get(name, "").split("+")[0] != version.split("+")[0]}
    assert not unmet, f"pins the resolver did not keep: {unmet}"


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory) -> str:
    """repo2docker's Dockerfile for this repository, rendered without Docker (``--no-build``)."""
    environment = tmp_path_factory.mktemp("repo2docker")
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", REPO2DOCKER],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    rendered = subprocess.run([str(environment / "bin" / "repo2docker"), "--no-build", "--no-run", "--debug",
                               str(ROOT)], capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    return rendered.stdout + rendered.stderr


def test_repo2docker_reads_the_binder_folder(dockerfile):
    assert "python=3.11" in dockerfile  # runtime.txt
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    assert dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < install  # ../requirements.txt, -e .
    assert install < dockerfile.index("RUN ./binder/postBuild")  # the lab settings after the packages
