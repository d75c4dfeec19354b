"""Kawaguchi–Huang–Kaelbling's J(θ): `minima.depth.j_value` against autograd Jacobian + least squares, in one run.

The baseline is the generic route: `torch.autograd.functional.jacobian` of vec Ŷ with respect to all
weights, then `torch.linalg.lstsq(J, vec Y)` and the residual, with the SVD driver `gelsd` and the paper's
cut-off (`minima.depth.khk_cutoff`): the default driver `gelsy` decides the rank by a pivoted-QR condition
estimate and can drop directions that the paper's rule keeps, which changes J(θ). The library forms the tangent kernel
J Jᵀ from per-layer Khatri–Rao Grams, decides its rank by pivoted Cholesky, and forms J only when that
rank is short of full. Prints both times, the ratio (goal: at least 10× at m = 2,000, depth 3, at every
width: 8 and 16, where J_θ has fewer columns than rows, and 32, where it has full row rank) and the
relative difference of the two values (goal: at most 1e-8, relative to ½‖Y‖²). Each time is the best
of ``--repeats`` runs (3).
"""
from __future__ import annotations

import argparse

import torch

import minima
from minima.depth import j_value, khk_cutoff
from table import best_of, matmul_rate, record


def autograd_jacobian(net, X):
    """The Jacobian of vec Ŷ with respect to all weights of member 0, by plain autograd (the oracle)."""
    shapes = [w[0].shape for w in net.weights]
    sizes = [w[0].numel() for w in net.weights]
    theta = torch.cat([w.detach()[0].reshape(-1) for w in net.weights])

    def outputs(parameters):
        weights = [p.reshape(s) for p, s in zip(parameters.split(sizes), shapes)]
        return minima.forward(weights, X, net.rho, validate=False).reshape(-1)

    return torch.autograd.functional.jacobian(outputs, theta)


def autograd_j(net, X, Y):
    J = autograd_jacobian(net, X)
    y = Y.reshape(-1, 1)
    rcond = khk_cutoff(J) / float(torch.linalg.matrix_norm(J, ord=2))
    solution = torch.linalg.lstsq(J, y, rcond=rcond, driver="gelsd").solution
    residual = y - J @ solution
    return 0.5 * float(residual.pow(2).sum())


def j_value_flops(widths, parameters: int, m: int, outputs: int) -> float:
    """Multiply-adds ×2 of the kernel method: the smaller Gram matrix (``K = J Jᵀ`` from the layer factors
    when the parameters outnumber the rows, ``Jᵀ J`` otherwise) and one Cholesky factorisation of it."""
    rows = m * outputs
    if parameters >= rows:
        return 2 * rows ** 2 * (sum(widths) + sum(widths[1:]) + outputs) + rows ** 3 / 3
    return 2 * parameters ** 2 * rows + parameters ** 3 / 3


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=2000)
    parser.add_argument("--d0", type=int, default=10)
    parser.add_argument("--depth", type=int, default=3, help="hidden layers H")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="each time is the best of this many runs")
    args = parser.parse_args(argv)
    X = torch.randn(args.d0, args.m, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = torch.randn(args.outputs, args.m, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scale = 0.5 * float(Y.pow(2).sum())
    print(f"threads {torch.get_num_threads()}, m = {args.m}, d0 = {args.d0}, H = {args.depth}, "
          f"d_y = {args.outputs}")
    ratios = []
    rate = matmul_rate()
    for width in args.widths:
        net = minima.LeakyReLUNet((args.d0,) + (width,) * args.depth, 0.0, outputs=args.outputs, seed=0,
                                  dtype=torch.float64)
        j_value(net, X[:, :50], Y[:, :50])  # warm-up
        ours, library_time = best_of(lambda: j_value(net, X, Y), args.repeats)
        theirs, baseline_time = best_of(lambda: autograd_j(net, X, Y), args.repeats)
        parameters = sum(w[0].numel() for w in net.weights)
        ratios.append(baseline_time / library_time)
        print(f"width {width}: J is {args.m * args.outputs} × {parameters}")
        print(f"  autograd jacobian + lstsq: {baseline_time:.3f} s, J(θ) = {theirs:.10g}")
        print(f"  minima.depth.j_value:      {library_time:.3f} s, J(θ) = {ours:.10g}")
        difference = abs(ours - theirs) / scale
        print(f"  speed-up: {ratios[-1]:.1f}x (goal 10x); difference relative to ½‖Y‖²: "
              f"{difference:.1e} (goal 1e-8)")
        record(f"depth.j_value, m = {args.m}, H = {args.depth}, width {width}",
               "autograd Jacobian + lstsq", baseline_s=baseline_time, ours_s=library_time, goal=10.0,
               met=difference <= 1e-8, note=f"difference {difference:.0e}", gemm_gflops=rate,
               flops=j_value_flops(net.widths, parameters, args.m, args.outputs))
    print(f"smallest speed-up over the widths: {min(ratios):.1f}x (goal 10x)")
    return min(ratios)


if __name__ == "__main__":
    main()
