"""Throughput of `landscape_census` (samples of W per second) against a per-sample loop, in one run.

The baseline is the straightforward census: for every draw of ``W``, compute its activation pattern and
call `region_minimum` on it. `landscape_census` draws all ``W`` and computes every pattern as one tensor
programme, merges draws that fall in the same region up to a permutation of the units, and decides each
distinct region once. Both use the same draws, so their estimates must agree exactly; the script checks
that and prints the ratio of throughputs.

Second, the census in the theorem's regime (``--regime``: 10⁵ draws at N = 60, d0 = 30, d1 = 3, goal ≥ 20×
and ≤ 60 s on two cores): `landscape_census(..., full_rank_samples=300)` decides the rank of every draw
by Corollary 28's class counts and runs the linear programmes only for the rank-deficient draws and 300
full-rank ones, against `landscape_census` deciding every region. At this size every draw lands in its
own region, so the baseline's time is linear in the draws: it is timed on ``--baseline-draws`` of them
and scaled to all, and the two estimates of V(G) and V(none) must agree within their errors.

Usage: ``python benchmarks/bench_volume.py [--n 9] [--d0 3] [--d1 3] [--samples 4000] [--device cpu]``
and ``python benchmarks/bench_volume.py --regime [--n 60 --d0 30 --d1 3 --samples 100000]``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

import minima
from minima import census, volume
from minima.device import torch_generator
from minima.regions import region_minimum
from table import best_of, record


def per_sample_census(X, y, d1, rho, samples, seed, device):
    """The baseline: one `region_minimum` call per draw of W (the same draws as `landscape_census`)."""
    generator = torch_generator(seed, device)
    X_t = X.to(device)
    counts = np.zeros(3)  # global, bad (MCE > 0), none
    drawn = 0
    while drawn < samples:
        size = min(volume._BATCH, samples - drawn)
        W = torch.randn(size, d1, X.shape[0], generator=generator, dtype=torch.float64, device=device)
        for pattern in (W @ X_t > 0).cpu():
            found = region_minimum(X, y, pattern, rho, labels="01")
            counts[0 if found.exists and found.mce == 0 else 1 if found.exists else 2] += 1
        drawn += size
    return counts / samples


def regime(args) -> float:
    """The screened census against the census that decides every region; returns the speed-up."""
    X, y = minima.data.gaussian_binary(args.d0, args.n, seed=0, labels="01")
    print(f"regime: N = {args.n}, d0 = {args.d0}, d1 = {args.d1}, rho = {args.rho}, {args.samples} draws, "
          f"{args.full_rank_samples} full-rank draws decided, torch threads {torch.get_num_threads()}")
    screened, ours = best_of(lambda: census.landscape_census(
        X, y, args.d1, args.rho, samples=args.samples, seed=0, labels="01",
        full_rank_samples=args.full_rank_samples, device=args.device, progress=False), device=args.device)
    every, every_time = best_of(lambda: census.landscape_census(
        X, y, args.d1, args.rho, samples=args.baseline_draws, seed=1, labels="01", device=args.device,
        progress=False), device=args.device)
    per_draw = every_time / args.baseline_draws
    if every.distinct_regions < 0.95 * args.baseline_draws:
        raise AssertionError("draws share regions at this size: the baseline's time is not linear in draws")
    baseline = per_draw * args.samples
    for name in ("global", "no_minimum"):
        a, se_a = getattr(screened, f"{name}_volume"), getattr(screened, f"{name}_error")
        b, se_b = getattr(every, f"{name}_volume"), getattr(every, f"{name}_error")
        if abs(a - b) > 4 * np.hypot(se_a, se_b) + 1e-9:
            raise AssertionError(f"V({name}) disagrees: {a:.4g} ± {se_a:.2g} against {b:.4g} ± {se_b:.2g}")
    print(f"V(G) = {screened.global_volume:.4f} ± {screened.global_error:.4f} (screened), "
          f"{every.global_volume:.4f} ± {every.global_error:.4f} (every region, {args.baseline_draws} draws)")
    print(f"rank-deficient draws decided: {screened.programmes - min(args.full_rank_samples, args.samples)}; "
          f"V(L_0) = {screened.bad_volume[0]:.2e}")
    print(f"every region: {per_draw * 1000:.1f} ms a draw, {baseline:.0f} s for {args.samples} draws "
          f"(scaled from {args.baseline_draws})")
    print(f"screened:     {ours:.1f} s for {args.samples} draws (goal ≤ 60 s)")
    ratio = baseline / ours
    print(f"speed-up {ratio:.1f}x (goal ≥ 20x)")
    record(f"landscape_census(full_rank_samples={args.full_rank_samples}), N = {args.n}, d0 = {args.d0}, "
           f"d1 = {args.d1}, {args.samples} draws", "census deciding every region (scaled)",
           baseline_s=baseline, ours_s=ours, goal=20.0, met=ours <= 60, note=f"{ours:.0f} s of 60")
    return ratio


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", action="store_true", help="the census with d0 ∝ N (see the docstring)")
    parser.add_argument("--full-rank-samples", type=int, default=300)
    parser.add_argument("--baseline-draws", type=int, default=300)
    parser.add_argument("--n", type=int, default=9)
    parser.add_argument("--d0", type=int, default=3)
    parser.add_argument("--d1", type=int, default=3)
    parser.add_argument("--rho", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--device", default=str(minima.default_device()))
    args = parser.parse_args(argv)
    if args.regime:
        for name, value in (("n", 60), ("d0", 30), ("d1", 3), ("samples", 100_000)):
            if f"--{name}" not in (argv if argv is not None else sys.argv):
                setattr(args, name, value)
        return regime(args)
    device = torch.device(args.device)
    X, y = minima.data.gaussian_binary(args.d0, args.n, seed=0, labels="01")
    print(f"N = {args.n}, d0 = {args.d0}, d1 = {args.d1}, rho = {args.rho}, {args.samples} draws, "
          f"device {device}, torch threads {torch.get_num_threads()}")
    found, batched = best_of(lambda: census.landscape_census(
        X, y, args.d1, args.rho, samples=args.samples, seed=0, epsilons=(0.0,), labels="01",
        device=device, progress=False), device=device)
    baseline, looped = best_of(lambda: per_sample_census(X, y, args.d1, args.rho, args.samples, 0, device),
                               device=device)
    ours = np.array([found.global_volume + found.correct_volume, found.bad_volume[0],
                     found.no_minimum_volume])  # the loop counts every DLM with MCE 0 as global
    if not np.allclose(ours, baseline, atol=1e-12):
        raise AssertionError(f"the two censuses disagree: {ours} against {baseline}")
    print(f"V(G) = {ours[0]:.4f}, V(L_0) = {ours[1]:.4f}, V(none) = {ours[2]:.4f} (both censuses); "
          f"{found.distinct_regions} distinct regions")
    print(f"per-sample loop: {args.samples / looped:9.1f} samples/s ({looped:.2f} s)")
    print(f"landscape_census: {args.samples / batched:9.1f} samples/s ({batched:.2f} s)")
    ratio = looped / batched
    print(f"speed-up {ratio:.1f}x")
    record(f"landscape_census, N = {args.n}, d0 = {args.d0}, d1 = {args.d1}, {args.samples} draws",
           "one region_minimum per draw", baseline_s=looped, ours_s=batched, goal=None)
    return ratio


if __name__ == "__main__":
    main()
