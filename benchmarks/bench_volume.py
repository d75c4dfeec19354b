"""Throughput of `landscape_census` (samples of W per second) against a per-sample loop, in one run.

The baseline is the straightforward census: for every draw of ``W``, compute its activation pattern and
call `region_minimum` on it. `landscape_census` draws all ``W`` and computes every pattern as one tensor
programme, merges draws that fall in the same region up to a permutation of the units, and decides each
distinct region once. Both use the same draws, so their estimates must agree exactly; the script checks
that and prints the ratio of throughputs.
Usage: ``python benchmarks/bench_volume.py [--n 9] [--d0 3] [--d1 3] [--samples 4000] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import minima
from minima import volume
from minima.device import torch_generator
from minima.regions import region_minimum


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
            found = region_minimum(X, y, pattern, rho)
            counts[0 if found.exists and found.mce == 0 else 1 if found.exists else 2] += 1
        drawn += size
    return counts / samples


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=9)
    parser.add_argument("--d0", type=int, default=3)
    parser.add_argument("--d1", type=int, default=3)
    parser.add_argument("--rho", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--device", default=str(minima.default_device()))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    X, y = minima.data.gaussian_binary(args.d0, args.n, seed=0, labels="01")
    print(f"N = {args.n}, d0 = {args.d0}, d1 = {args.d1}, rho = {args.rho}, {args.samples} draws, "
          f"device {device}, torch threads {torch.get_num_threads()}")
    start = time.perf_counter()
    census = volume.landscape_census(X, y, args.d1, args.rho, samples=args.samples, seed=0,
                                     epsilons=(0.0,), device=device, progress=False)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    baseline = per_sample_census(X, y, args.d1, args.rho, args.samples, 0, device)
    looped = time.perf_counter() - start
    ours = np.array([census.global_volume, census.bad_volume[0], census.no_minimum_volume])
    if not np.allclose(ours, baseline, atol=1e-12):
        raise AssertionError(f"the two censuses disagree: {ours} against {baseline}")
    print(f"V(G) = {ours[0]:.4f}, V(L_0) = {ours[1]:.4f}, V(none) = {ours[2]:.4f} (both censuses); "
          f"{census.distinct_regions} distinct regions")
    print(f"per-sample loop: {args.samples / looped:9.1f} samples/s ({looped:.2f} s)")
    print(f"landscape_census: {args.samples / batched:9.1f} samples/s ({batched:.2f} s)")
    ratio = looped / batched
    print(f"speed-up {ratio:.1f}x")
    return ratio


if __name__ == "__main__":
    main()
