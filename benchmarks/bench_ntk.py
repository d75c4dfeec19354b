"""Du et al.'s Gram matrix H(W): `minima.ntk.empirical_gram` against per-sample Jacobians, side by side in one run.

The baseline is the generic route of PyTorch's neural-tangent-kernel tutorial: per-sample Jacobians of the
network's output with respect to W by `torch.func.vmap(torch.func.jacrev(...))`, then their contraction
J Jᵀ. The library forms (XᵀX) ⊙ (SᵀS)/m from the 0/1 pattern S = 1{WX ≥ 0} instead: N²m flops against
N²md, and no (N, m·d) Jacobian in memory. Prints both times, the ratio (goal: at least 50×) and the largest
relative difference of the two matrices (goal: at most 1e-10).
"""
from __future__ import annotations

import argparse

import torch

import minima
from minima.ntk import empirical_gram, two_layer_network
from table import best_of, matmul_rate, record


def jacobian_gram(W, z, X):
    def output(weights, x):
        return minima.forward([weights, z], x.unsqueeze(1), 0.0, validate=False)[0]

    J = torch.func.vmap(torch.func.jacrev(output), in_dims=(None, 1))(W, X).reshape(X.shape[1], -1)
    return J @ J.T


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--m", type=int, default=4096)
    parser.add_argument("--device", default=None, help="default: minima.default_device()")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else minima.default_device()
    X, _ = minima.data.unit_sphere_regression(args.d, args.n, seed=0)
    X = X.to(device)
    net = two_layer_network(args.d, args.m, seed=0, device=device)
    W, z = (w.detach()[0] for w in net.weights)
    empirical_gram(W[:64], X[:, :64])  # warm-up of both routes on a small problem
    jacobian_gram(W[:64], z[:64], X[:, :64])
    H, library_time = best_of(lambda: empirical_gram(W, X), device=device)
    H_jacobian, baseline_time = best_of(lambda: jacobian_gram(W, z, X), device=device)
    difference = float((H - H_jacobian).abs().max() / H_jacobian.abs().max())
    ratio = baseline_time / library_time
    print(f"device {device}, threads {torch.get_num_threads()}, N = {args.n}, d = {args.d}, m = {args.m}, float64")
    print(f"vmap(jacrev) Jacobians, J Jᵀ: {baseline_time:.3f} s")
    print(f"minima.ntk.empirical_gram:    {library_time:.3f} s")
    print(f"speed-up: {ratio:.0f}x (goal 50x); largest relative difference {difference:.1e} (goal 1e-10)")
    # the work: the patterns S = 1{WX ≥ 0} (N·m·d), XᵀX (N²·d) and SᵀS (N²·m) multiply-adds
    flops = 2 * (args.n * args.m * args.d + args.n ** 2 * (args.d + args.m))
    record(f"ntk.empirical_gram, N = {args.n}, d = {args.d}, m = {args.m}", "vmap(jacrev) Jacobians, J Jᵀ",
           baseline_s=baseline_time, ours_s=library_time, goal=50.0, met=difference <= 1e-10,
           note=f"difference {difference:.0e}", flops=flops, gemm_gflops=matmul_rate(device=str(device)))
    return ratio


if __name__ == "__main__":
    main()
