"""The book's configuration executes every chapter and fails on a cell error.

The build itself, with warnings as errors, is tested in ``test_pages.py`` (from the executed chapters).
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_demands_failing_execution():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["execute_notebooks"] in ("cache", "force")
