"""The first run on a GPU machine (``python3 dev.py gpu-check``): GPU tests, benchmarks, every page at full.

On a machine where PyTorch sees CUDA it runs, with ``MINIMA_DEVICE=cuda``:

1. the tests marked ``gpu`` (``pytest -m gpu``), which compare each GPU path with the CPU;
2. every benchmark (``benchmarks/table.py --device cuda``), whose table it keeps;
3. every page of ``_toc.yml`` at the ``full`` profile with papermill, timing each page and reading its
   peak GPU memory (``torch.cuda.max_memory_allocated``) from a cell appended to the page's copy;

and prints one table: each step, its time, the peak GPU memory of each page, and whether it passed.
Everything is written under ``_build/gpu-check/`` (the table as ``gpu-check.json``, each executed page,
the benchmark table). Without CUDA it says so and exits with status 1.

The ``full`` sizes are set so that the pages fit one 80 GB GPU. The largest by far is chapter 7's
training section at width m = 10⁶ (N = d = 1000, float64): W, its starting copy and the training
step's activations and gradients are (m × N) or (m × d) arrays of 8 GB each, while
:class:`minima.ntk.GramDynamics` records in blocks of units (its H(k) are N × N, 8 MB) and only
the narrowest network is kept after training. Measured on the CPU at m = 10⁵ (two steps, recording
each): 6.8 GB resident, about 8.5 such arrays, so about 68 GB at m = 10⁶: it fits, with little room
to spare. Every other page stays within a few GB: chapter 5's
largest J_θ (m = 5000 rows; width 128, depth 7: 114,688 columns) would be 4.6 GB and is formed only
when its tangent kernel (5000², 0.2 GB) is short of full rank; chapter 3's largest construction
(N = 30,000, d0 = 100) peaks at 0.8 GB resident on the CPU. The ten-minute total has not been measured on a GPU yet: the
table this command prints is that measurement, and a page past its share is the one to cut.

Usage: ``python tools/gpu_check.py [--pages PAGE ...] [--skip-tests] [--skip-benchmarks]
[--profile full] [--device cuda] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dev import notebooks_in_toc  # noqa: E402  (one reader of _toc.yml)

PEAK_FILE = "MINIMA_PEAK_MEMORY_FILE"
#: The cell appended to each page's copy: the kernel's peak GPU memory, written where the check reads it.
PEAK_CELL = """\
import json, os, torch
_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
with open(os.environ["MINIMA_PEAK_MEMORY_FILE"], "w") as _stream:
    json.dump({"peak_bytes": _peak}, _stream)
"""


def run_page(page: str, folder: Path, *, profile: str, device: str, root: Path = ROOT) -> dict:
    """Execute ``root/page.md`` at ``profile`` on ``device`` into ``folder``; its time, peak memory, status."""
    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.read(root / f"{page}.md")
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    target = folder / f"{page}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = target.with_suffix(".source.ipynb")
    nbformat.write(notebook, source)
    peak_file = target.with_suffix(".peak.json")
    peak_file.unlink(missing_ok=True)
    saved = {name: os.environ.get(name) for name in (PEAK_FILE, "MINIMA_DEVICE", "MINIMA_PROGRESS")}
    os.environ.update({PEAK_FILE: str(peak_file), "MINIMA_DEVICE": device, "MINIMA_PROGRESS": "0"})
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(str(source), str(target), parameters={"PROFILE": profile},
                                   cwd=str((root / page).parent), kernel_name="python3", progress_bar=False)
    except Exception as failure:  # the table reports it; the other pages still run
        error = f"{type(failure).__name__}: {str(failure).strip().splitlines()[-1] if str(failure).strip() else ''}"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        source.unlink(missing_ok=True)
    peak = json.loads(peak_file.read_text())["peak_bytes"] if peak_file.is_file() else None
    return dict(step=page, seconds=time.perf_counter() - start, peak_gb=None if peak is None else peak / 1e9,
                passed=error is None, error=error)


def run_step(name: str, command: list[str], device: str) -> dict:
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "MINIMA_DEVICE": device, "MINIMA_PROGRESS": "0"})
    return dict(step=name, seconds=time.perf_counter() - start, peak_gb=None, passed=result.returncode == 0,
                error=None if result.returncode == 0 else f"exit status {result.returncode}")


def table_lines(rows: list[dict], device_name: str) -> list[str]:
    lines = [f"device: {device_name}", "", "| step | time (s) | peak GPU memory (GB) | passed |", "|---|---|---|---|"]
    for row in rows:
        peak = f"{row['peak_gb']:.1f}" if row["peak_gb"] is not None else "–"
        passed = "yes" if row["passed"] else f"**no**: {row['error']}"
        lines.append(f"| {row['step']} | {row['seconds']:.0f} | {peak} | {passed} |")
    total = sum(row["seconds"] for row in rows)
    lines += ["", f"total {total:.0f} s ({total / 60:.1f} min; goal ≤ 10 min); "
                  f"{sum(row['passed'] for row in rows)} of {len(rows)} steps passed"]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="+", default=None, help="pages of _toc.yml (default: all)")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-benchmarks", action="store_true")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu to try the machinery without a GPU")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu-check")
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device: PyTorch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) sees no GPU "
              f"on this machine, so there is nothing to check; run python3 dev.py gpu-check on a GPU machine",
              file=sys.stderr)
        return 1
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    if not args.skip_tests:
        rows.append(run_step("tests marked gpu", [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests"],
                             args.device))
    if not args.skip_benchmarks:
        rows.append(run_step("benchmarks", [sys.executable, str(ROOT / "benchmarks" / "table.py"), "--device",
                                            args.device, "--out", str(args.out / "bench")], args.device))
    for page in args.pages or notebooks_in_toc():
        print(f"\n== {page} at {args.profile}", flush=True)
        rows.append(run_page(page, args.out / "pages", profile=args.profile, device=args.device))
        print(f"   {rows[-1]['seconds']:.0f} s, passed: {rows[-1]['passed']}", flush=True)
    lines = table_lines(rows, device_name)
    print("\n" + "\n".join(lines))
    (args.out / "gpu-check.json").write_text(json.dumps(dict(device=device_name, profile=args.profile,
                                                             rows=rows), indent=1))
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
