"""The benchmarks run (at tiny sizes) and compute the same matrix as their baseline."""
from __future__ import annotations

import sys
from pathlib import Path

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
    assert ratio > 0 and "speed-up" in printed
    assert printed.count("epochs/s") == 4  # Figure 5.1 rows: one and two hidden layers
