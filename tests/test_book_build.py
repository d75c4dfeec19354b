"""Build the HTML book with execution off and warnings as errors: broken references turn the tests red."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_demands_failing_execution():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["execute_notebooks"] in ("cache", "force")


def test_book_builds_without_warnings(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    override = tmp_path / "_config.yml"
    override.write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--config", str(override),
               "--path-output", str(tmp_path / "out"), "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "out" / "_build" / "html" / "index.html").is_file()
