"""``dev.py gpu-check`` on its CPU path: without CUDA it refuses, and its page runner times and reports."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402

PAGE = textwrap.dedent('''\
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
    :tags: [parameters]
    PROFILE = "book"
    ```

    ```{code-cell} ipython3
    import os
    print("profile", PROFILE, "device", os.environ["MINIMA_DEVICE"])
    assert PROFILE == "full" and FAIL is False
    ```
    ''')


def test_without_cuda_it_says_so_and_fails(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--skip-tests"]) == 1
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no GPU")
def test_the_dev_command_exits_non_zero_without_cuda():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py")], capture_output=True, text=True)
    assert result.returncode == 1 and "no CUDA device" in result.stderr


@pytest.mark.chapters
def test_a_page_runs_at_the_profile_timed_with_its_memory(tmp_path):
    (tmp_path / "chapters").mkdir()
    for name, fail in (("passing", "False"), ("failing", "True")):
        (tmp_path / "chapters" / f"{name}.md").write_text(PAGE.replace("# Probe", f"# Probe\n\n```{{code-cell}} "
                                                                       f"ipython3\nFAIL = {fail}\n```"))
    passing = gpu_check.run_page("chapters/passing", tmp_path / "out", profile="full", device="cpu", root=tmp_path)
    failing = gpu_check.run_page("chapters/failing", tmp_path / "out", profile="full", device="cpu", root=tmp_path)
    assert passing["passed"] and passing["seconds"] > 0 and passing["peak_gb"] is None  # no GPU: no peak
    assert not failing["passed"] and "AssertionError" in failing["error"]
    executed = (tmp_path / "out" / "chapters" / "passing.ipynb").read_text()
    assert "profile full device cpu" in executed
    lines = gpu_check.table_lines([passing, failing], "cpu")
    assert lines[-1].endswith("1 of 2 steps passed") and "| chapters/failing |" in lines[-3]
