"""Every benchmark in one run, and one table of their results (``python3 dev.py bench``).

Each benchmark script prints its own lines and, when the environment variable ``MINIMA_BENCH_ROWS``
names a file, appends one JSON row per measured goal to it (:func:`record`). :func:`main` runs every
script of :data:`BENCHMARKS` in its own process (so that each one's peak memory is its own), measures
this machine's float64 matrix-multiply rate, prints the table and writes it to
``_build/bench/benchmarks.json``.

A row: ``work``, ``baseline`` (what the time is set against), ``baseline_s`` and ``ours_s``, ``ratio``
(``baseline_s / ours_s`` for a speed-up; ``ours_s / baseline_s`` for a time against a budget or a flop
limit), ``goal`` and ``met``, and ``flop_limit_ratio``: the time over the time the row's flop count
takes at the measured matrix-multiply rate, where the work has such a count.

Usage: ``python benchmarks/table.py [--quick] [--only NAME ...] [--device cpu|cuda] [--out DIR]``;
``--quick`` runs every benchmark at tiny sizes (a check that the machinery works, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROWS_VARIABLE = "MINIMA_BENCH_ROWS"
HERE = Path(__file__).resolve().parent

#: (name, script, arguments, arguments for ``--quick``), in the order the table shows them.
BENCHMARKS = (
    ("rank", "bench_rank.py", [], ["--part1", "256", "16", "--seeds", "2", "--part2", "512", "30", "20"]),
    ("depth", "bench_depth.py", [], ["--m", "120", "--widths", "3", "8"]),
    ("ntk", "bench_ntk.py", [], ["--n", "12", "--d", "4", "--m", "64"]),
    ("census", "bench_volume.py", [], ["--n", "6", "--d0", "2", "--d1", "2", "--samples", "300"]),
    ("census-regime", "bench_volume.py", ["--regime"],
     ["--regime", "--n", "12", "--d0", "6", "--d1", "3", "--samples", "2000", "--full-rank-samples", "20",
      "--baseline-draws", "20"]),
    ("ensemble", "bench_ensemble.py", [], ["--epochs", "3", "--repetitions", "2", "--fig51-epochs", "0"]),
    ("construction", "bench_construction.py", [], ["--n", "200", "--d0", "5", "--repeats", "1"]),
)
#: The benchmarks that take ``--device``.
ON_A_DEVICE = ("rank", "ntk", "census", "census-regime", "ensemble")


def best_of(function, repeats: int = 1, device="cpu"):
    """``(value, seconds)``: ``function()``'s value and its shortest wall time over ``repeats`` calls.

    On a GPU the device is synchronised before and after each call, so the time is the work's, not its
    launch's. The shortest of a few calls is the least disturbed by the machine's other load.
    """
    import torch

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats!r}")
    cuda = str(device).startswith("cuda")
    best, value = float("inf"), None
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        value = function()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return value, best


def matmul_rate(size: int = 2048, device: str = "cpu") -> float:
    """This machine's float64 matrix-multiply rate in GFLOP/s (best of three ``size × size`` products).

    On the CPU the larger of torch's (MKL here) and NumPy's (OpenBLAS) rates: the library code uses both,
    and a limit set by the slower one would flatter the work done by the faster.
    """
    import torch

    a = torch.randn(size, size, dtype=torch.float64, device=device)
    _, best = best_of(lambda: a @ a, 3, device)
    if not str(device).startswith("cuda"):
        array = a.numpy()
        _, numpy_best = best_of(lambda: array @ array, 3)
        best = min(best, numpy_best)
    return 2 * size ** 3 / best / 1e9


def record(work: str, baseline: str, *, baseline_s: float, ours_s: float, goal: float | None,
           kind: str = "speed-up", flops: float | None = None, gemm_gflops: float | None = None,
           note: str = "", met: bool = True) -> dict:
    """One row of the table; appended as a JSON line to ``$MINIMA_BENCH_ROWS`` when that is set.

    ``kind``: ``"speed-up"`` (ratio ``baseline_s / ours_s``, the goal a least ratio) or ``"budget"``
    (ratio ``ours_s / baseline_s``, the goal a largest ratio; ``baseline_s`` is the budget or the flop
    limit). ``flops``, with the measured ``gemm_gflops``, gives ``flop_limit_ratio``. ``met=False``
    marks a goal missed for a reason the ratio does not show (``note`` says which).
    """
    if kind not in ("speed-up", "budget"):
        raise ValueError(f"kind must be 'speed-up' or 'budget', got {kind!r}")
    if not (baseline_s > 0 and ours_s > 0):
        raise ValueError(f"baseline_s and ours_s must be positive, got {baseline_s} and {ours_s}")
    ratio = baseline_s / ours_s if kind == "speed-up" else ours_s / baseline_s
    if goal is None:
        reached = None
    else:
        reached = bool(met and (ratio >= goal if kind == "speed-up" else ratio <= goal))
    row = dict(work=work, baseline=baseline, baseline_s=baseline_s, ours_s=ours_s, ratio=ratio, kind=kind,
               goal=goal, met=reached, note=note, gemm_gflops=gemm_gflops,
               flop_limit_ratio=(ours_s / (flops / (gemm_gflops * 1e9))
                                 if flops and gemm_gflops else None))
    target = os.environ.get(ROWS_VARIABLE)
    if target:
        with open(target, "a") as stream:
            stream.write(json.dumps(row) + "\n")
    return row


def goal_text(row: dict) -> str:
    if row["goal"] is None:
        return "none set"
    return f"≥ {row['goal']:g}×" if row["kind"] == "speed-up" else f"≤ {row['goal']:g}×"


def table_lines(rows: list[dict], gemm_gflops: float) -> list[str]:
    """The table as Markdown lines: one row a goal, then a count of the goals met."""
    lines = [f"float64 matrix multiply on this machine: {gemm_gflops:.0f} GFLOP/s", "",
             "| work | baseline | baseline (s) | ours (s) | ratio | goal | met | time / flop limit |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "–"}[row["met"]]
        limit = f"{row['flop_limit_ratio']:.2f}" if row["flop_limit_ratio"] else "–"
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(f"| {row['work']}{note} | {row['baseline']} | {row['baseline_s']:.3g} | "
                     f"{row['ours_s']:.3g} | {row['ratio']:.2f}× | {goal_text(row)} | {met} | {limit} |")
    goals = [row for row in rows if row["met"] is not None]
    lines += ["", f"{sum(row['met'] for row in goals)} of {len(goals)} goals met"]
    return lines


def run_benchmarks(names, *, quick: bool, device: str | None, folder: Path) -> tuple[list[dict], list[str]]:
    """Run the named benchmarks, each in its own process; return their rows and the names that failed."""
    folder.mkdir(parents=True, exist_ok=True)
    rows_file = folder / "rows.jsonl"
    rows_file.write_text("")
    failed = []
    for name, script, arguments, quick_arguments in BENCHMARKS:
        if name not in names:
            continue
        command = [sys.executable, str(HERE / script), *(quick_arguments if quick else arguments)]
        if device and name in ON_A_DEVICE:
            command += ["--device", device]
        print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
        environment = {**os.environ, ROWS_VARIABLE: str(rows_file)}
        if device:
            environment["MINIMA_DEVICE"] = device
        if subprocess.run(command, env=environment).returncode:
            failed.append(name)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line]
    return rows, failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [name for name, *_ in BENCHMARKS]
    parser.add_argument("--only", nargs="+", choices=names, default=names, metavar="NAME",
                        help=f"run only these ({', '.join(names)})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the machinery only")
    parser.add_argument("--device", default=None, help="passed to the benchmarks that take one")
    parser.add_argument("--out", type=Path, default=HERE.parent / "_build" / "bench")
    args = parser.parse_args(argv)
    rows, failed = run_benchmarks(args.only, quick=args.quick, device=args.device, folder=args.out)
    rate = matmul_rate(device=args.device or "cpu")
    lines = table_lines(rows, rate)
    print("\n" + "\n".join(lines))
    (args.out / "benchmarks.json").write_text(json.dumps(
        dict(gemm_gflops=rate, device=args.device or "cpu", quick=args.quick, failed=failed, rows=rows),
        indent=1))
    print(f"\nwritten to {args.out / 'benchmarks.json'}")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
