"""The benchmarks run (at tiny sizes) and compute the same matrix as their baseline."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import minima

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_ntk  # noqa: E402


def test_ntk_benchmark_runs_and_agrees(capsys):
    ratio = bench_ntk.main(["--n", "12", "--d", "4", "--m", "64", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert ratio > 0 and "speed-up" in printed
    difference = float(printed.split("largest relative difference ")[1].split()[0])
    assert difference <= 1e-10


def test_volume_benchmark_runs_and_agrees(capsys):
    import bench_volume

    ratio = bench_volume.main(["--n", "6", "--d0", "2", "--d1", "2", "--samples", "300", "--device", "cpu"])
    assert ratio > 0 and "speed-up" in capsys.readouterr().out


def test_volume_benchmark_in_the_regime_runs_and_agrees(capsys):
    import bench_volume

    ratio = bench_volume.main(["--regime", "--n", "12", "--d0", "6", "--d1", "3", "--samples", "2000",
                               "--full-rank-samples", "20", "--baseline-draws", "20", "--device", "cpu"])
    assert ratio > 0 and "speed-up" in capsys.readouterr().out


def test_ensemble_benchmark_runs(capsys):
    import bench_ensemble

    ratio = bench_ensemble.main(["--epochs", "3", "--repetitions", "2", "--fig51-epochs", "1",
                                 "--device", "cpu"])
    printed = capsys.readouterr().out
    assert ratio > 0 and "loop of separate torch.nn models" in printed
    assert printed.count("fastest peer") == 4  # two sizes, two dtypes


def test_the_batched_peer_trains_the_same_networks_as_minima():
    """The peer is the same computation: from the same weights, the same Adam steps, the same losses."""
    import bench_ensemble

    X, y = minima.data.gaussian_binary(6, 40, seed=0)
    ours = bench_ensemble.ensemble(X, y, 3, 5, 20, 1e-2, "cpu", torch.float64)
    for kind in ("foreach", "fused"):
        peer = bench_ensemble.batched_program(X, y, 3, 5, 20, 1e-2, "cpu", torch.float64, kind=kind)
        assert torch.allclose(ours, peer, rtol=1e-10, atol=1e-14), kind
    data = [minima.data.gaussian_binary(6, 40, seed=r) for r in range(3)]
    X3, y3 = torch.stack([x for x, _ in data]), torch.stack([t for _, t in data])
    ours = bench_ensemble.ensemble(X3, y3, 3, 5, 4, 1e-2, "cpu", torch.float64, batch=8)
    peer = bench_ensemble.batched_program(X3, y3, 3, 5, 4, 1e-2, "cpu", torch.float64, batch=8)
    assert torch.allclose(ours, peer, rtol=1e-10, atol=1e-14)


def test_the_table_runs_every_named_benchmark_and_writes_its_rows(tmp_path, capsys):
    """``dev.py bench``'s runner at tiny sizes: each script in its own process, one row a goal, JSON."""
    import json

    import table

    status = table.main(["--quick", "--only", "rank", "construction", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    written = json.loads((tmp_path / "benchmarks.json").read_text())
    assert status == 0 and written["failed"] == [] and written["gemm_gflops"] > 0
    works = [row["work"] for row in written["rows"]]
    assert works == ["khatri_rao_rank, N = 256, d0 = d1 = 16", "rank certificate, N = 512, d0 = 30, d1 = 20",
                     "Theorem 8 construction, N = 200, d0 = 5"]
    rank_row, certificate_row, construction_row = written["rows"]
    assert rank_row["ratio"] == rank_row["baseline_s"] / rank_row["ours_s"]  # a speed-up
    assert certificate_row["ratio"] == certificate_row["ours_s"] / certificate_row["baseline_s"]  # over a limit
    assert certificate_row["flop_limit_ratio"] is not None and construction_row["met"] is True
    assert "| work | baseline |" in printed and "goals met" in printed


def test_a_failing_benchmark_fails_the_table(tmp_path, monkeypatch):
    import table

    broken = (("construction", "bench_construction.py", [], ["--n", "not-a-number"]),)
    monkeypatch.setattr(table, "BENCHMARKS", broken)
    assert table.main(["--quick", "--out", str(tmp_path)]) == 1


def test_table_rows_and_lines():
    import table

    faster = table.record("w", "b", baseline_s=10.0, ours_s=0.5, goal=25.0)
    assert faster["ratio"] == 20.0 and faster["met"] is False
    within = table.record("w", "b", baseline_s=2.0, ours_s=2.4, goal=1.3, kind="budget", flops=8e9,
                          gemm_gflops=4.0, note="peak 1 GB")
    assert within["ratio"] == 1.2 and within["met"] is True and within["flop_limit_ratio"] == 1.2
    unmet = table.record("w", "b", baseline_s=2.0, ours_s=1.0, goal=1.3, kind="budget", met=False)
    assert unmet["met"] is False  # within the time, but missed for a reason the note gives
    free = table.record("w", "b", baseline_s=1.0, ours_s=1.0, goal=None)
    lines = table.table_lines([faster, within, unmet, free], 80.0)
    assert lines[0].endswith("80 GFLOP/s") and lines[-1] == "1 of 3 goals met"
    assert "| w (peak 1 GB) | b | 2 | 2.4 | 1.20× | ≤ 1.3× | yes | 1.20 |" in lines
    for bad in (dict(kind="slower"), dict(ours_s=0.0)):
        with pytest.raises(ValueError, match="kind|positive"):
            table.record("w", "b", **{**dict(baseline_s=1.0, ours_s=1.0, goal=1.0), **bad})


def test_best_of_keeps_the_shortest_time_and_the_value():
    import itertools
    import time

    import table

    delays = itertools.cycle([0.03, 0.0, 0.02])

    def work():
        time.sleep(next(delays))
        return "value"

    value, seconds = table.best_of(work, repeats=3)
    assert value == "value" and seconds < 0.015
    with pytest.raises(ValueError, match="repeats"):
        table.best_of(work, repeats=0)
