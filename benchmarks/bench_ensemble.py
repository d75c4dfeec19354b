"""Ensemble training against the programs a PyTorch user would write, side by side in one run.

The work: R = 30 one-hidden-layer ReLU networks trained with Adam (β = (0.9, 0.99), ε = 1e-8) on the
same Gaussian data, at two sizes, at float32 (the library's default) and float64:

* the opening chapter's book size, full batch: d0 = 32, N = 512, d1 = 16 (#parameters ≈ N), 300 epochs;
* Soudry & Hoffer's Figure 5.1 size, mini-batches: d = d0 = d1 = 50, N = 2,500, each member on its own
  data, batches of floor(min(N/2, d/2)) = 25, a few epochs.

The peers, each run in the same process and the same dtype:

* **batched program** (``bmm``): the weights stacked as ``(R, d1, d0)`` and ``(R, 1, d1)`` tensors, the
  forward pass two batched matrix products, one ``torch.optim.Adam`` over the stacks with
  ``foreach=True`` and, separately, with ``fused=True``: the twenty lines a skilled user writes;
* **torch.func ensemble**: ``stack_module_state`` and ``vmap(grad(functional_call))``, as in PyTorch's
  model-ensembling tutorial, with one Adam over the stacked parameters;
* **loop of torch.nn models**: 30 ``torch.nn.Sequential`` models, each with its own optimiser, one after
  another: where a reader starts (book size, float32 only).

Each row sets ``minima.train`` (which also keeps the papers' stopping rule, per-member masks, records and
callbacks) against the fastest peer of its size and dtype: the goal is ratio ≥ 1.0. Times are the
best of three (of five at Figure 5.1's size, whose three epochs take a sixth of a second), each
program warmed up first.

Usage: ``python benchmarks/bench_ensemble.py [--epochs 300] [--fig51-epochs 3] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import copy

import torch

import minima
from table import best_of, matmul_rate, record

BETAS, EPS = (0.9, 0.99), 1e-8


def initial_weights(repetitions, width, d0, dtype, device):
    """He-uniform stacks ``W: (R, d1, d0)`` and ``z: (R, 1, d1)``, as ``minima.LeakyReLUNet`` draws them."""
    net = minima.LeakyReLUNet((d0, width), 0.0, ensemble=repetitions, seed=0, dtype=dtype, device=device)
    W, z = (w.detach().clone() for w in net.weights)
    return W.requires_grad_(True), z.unsqueeze(1).requires_grad_(True)


def batched_program(X, y, repetitions, width, epochs, lr, device, dtype, *, kind="foreach", batch=None,
                    seed=0):
    """The stacked program: ``X: (d0, N)`` shared or ``(R, d0, N)`` per member; Adam ``foreach`` or
    ``fused``; full batch, or shuffled mini-batches of ``batch`` samples (one permutation per epoch)."""
    d0, n = X.shape[-2], X.shape[-1]
    W, z = initial_weights(repetitions, width, d0, dtype, device)
    optimizer = torch.optim.Adam([W, z], lr=lr, betas=BETAS, eps=EPS,
                                 foreach=kind == "foreach", fused=kind == "fused")
    rows = X.to(device=device, dtype=dtype).transpose(-1, -2).contiguous()  # samples as rows
    targets = y.to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = [None] if batch is None else torch.randperm(n, generator=generator).to(device).split(batch)
        for picked in order:
            inputs = rows if picked is None else rows.index_select(-2, picked)
            wanted = targets if picked is None else targets.index_select(-1, picked)
            hidden = torch.relu(torch.matmul(W, inputs.transpose(-1, -2)))  # (R, d1, n)
            outputs = torch.bmm(z, hidden).squeeze(1)  # (R, n)
            loss = (outputs - wanted).pow(2).mean(dim=-1).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():  # each member's final loss on all its samples, as minima.train reports
        outputs = torch.bmm(z, torch.relu(torch.matmul(W, rows.transpose(-1, -2)))).squeeze(1)
        return (outputs - targets).pow(2).mean(dim=-1)


def torch_func_ensemble(X, y, repetitions, width, epochs, lr, device, dtype):
    """PyTorch's model-ensembling recipe, full batch: ``vmap(grad(functional_call))`` over stacked state."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    models = [torch.nn.Sequential(torch.nn.Linear(X.shape[0], width, bias=False), torch.nn.ReLU(),
                                  torch.nn.Linear(width, 1, bias=False)).to(device=device, dtype=dtype)
              for _ in range(repetitions)]
    params, buffers = stack_module_state(models)
    params = {name: value.detach().requires_grad_(True) for name, value in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    inputs, targets = X.T.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)

    def loss_of(parameters, state):
        outputs = functional_call(base, (parameters, state), (inputs,)).squeeze(-1)
        return (outputs - targets).pow(2).mean()

    gradients_of = vmap(grad(loss_of))
    optimizer = torch.optim.Adam(params.values(), lr=lr, betas=BETAS, eps=EPS, foreach=True)
    for _ in range(epochs):
        gradients = gradients_of(params, buffers)
        for name, value in params.items():
            value.grad = gradients[name]
        optimizer.step()
    return float(loss_of({k: v[0] for k, v in params.items()}, {}).detach())


def loop_of_models(X, y, repetitions, width, epochs, lr, device):
    Xt, yt = X.T.to(device=device, dtype=torch.float32), y.to(device=device, dtype=torch.float32)
    models = [torch.nn.Sequential(torch.nn.Linear(X.shape[0], width, bias=False), torch.nn.ReLU(),
                                  torch.nn.Linear(width, 1, bias=False)).to(device) for _ in range(repetitions)]
    for model in models:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=BETAS, eps=EPS)
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = (model(Xt).squeeze(1) - yt).pow(2).mean()
            loss.backward()
            optimizer.step()
    return float(loss.detach())


def ensemble(X, y, repetitions, width, epochs, lr, device, dtype=torch.float32, batch=None):
    net = minima.LeakyReLUNet((X.shape[-2], width), 0.0, ensemble=repetitions, seed=0, device=device,
                              dtype=dtype)
    history = minima.train(net, X, y, epochs=epochs, lr=lr, stop_at_zero=False, progress=False,
                           batch_size=batch, seed=0)
    return history.final_loss


def training_flops(repetitions, d0, width, n_samples, epochs):
    """Multiply-adds of forward and backward (three products of each layer's size) over all epochs."""
    return 2 * 3 * repetitions * n_samples * (d0 * width + width) * epochs


def compare(label, X, y, repetitions, width, epochs, lr, device, dtype, rate, *, batch=None, repeats=3):
    """Time minima.train and every peer of this size at ``dtype``; record minima against the fastest."""
    setting = dict(repetitions=repetitions, width=width, lr=lr, device=device, dtype=dtype)
    programs = {"minima.train": lambda n: ensemble(X, y, **setting, epochs=n, batch=batch)}
    for kind in ("foreach", "fused"):
        programs[f"bmm + Adam({kind}=True)"] = (
            lambda n, kind=kind: batched_program(X, y, **setting, epochs=n, kind=kind, batch=batch))
    if batch is None and X.ndim == 2:
        programs["torch.func ensemble"] = lambda n: torch_func_ensemble(X, y, **setting, epochs=n)
    times = {}
    for name, program in programs.items():
        program(1)  # warm-up
        times[name] = best_of(lambda: program(epochs), repeats, device=device)[1]
    peer = min((name for name in times if name != "minima.train"), key=times.get)
    dtype_name = str(dtype).removeprefix("torch.")
    print(f"{label}, {dtype_name}: " + ", ".join(f"{name} {t:.3f} s" for name, t in times.items()))
    print(f"    fastest peer: {peer}; ratio (peer / minima) {times[peer] / times['minima.train']:.2f}x")
    n_samples = X.shape[-1]
    record(f"ensemble training, {label}, {dtype_name}", f"{peer} (fastest of {len(times) - 1} peers)",
           baseline_s=times[peer], ours_s=times["minima.train"], goal=1.0,
           flops=training_flops(repetitions, X.shape[-2], width, n_samples, epochs), gemm_gflops=rate)
    return times


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--fig51-epochs", type=int, default=3,
                        help="epochs timed at the Figure 5.1 size (0 skips that row)")
    parser.add_argument("--device", default=None, help="default: minima.default_device()")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else minima.default_device()
    rate = matmul_rate(device=str(device))
    X, y = minima.data.gaussian_binary(32, 512, seed=0)
    print(f"device {device}, threads {torch.get_num_threads()}, R = {args.repetitions}")
    label = f"R = {args.repetitions}, d0 = 32, d1 = 16, N = 512, {args.epochs} full-batch Adam epochs"
    ratios = []
    for dtype in (torch.float32, torch.float64):
        times = compare(label, X, y, args.repetitions, 16, args.epochs, 1e-2, device, dtype, rate)
        ratios.append(min(t for n, t in times.items() if n != "minima.train") / times["minima.train"])
    loop_of_models(X, y, args.repetitions, 16, 5, 1e-2, device)  # warm-up
    t_loop = best_of(lambda: loop_of_models(X, y, args.repetitions, 16, args.epochs, 1e-2, device),
                     3, device=device)[1]
    t_ours = best_of(lambda: ensemble(X, y, args.repetitions, 16, args.epochs, 1e-2, device), 3,
                     device=device)[1]
    print(f"loop of separate torch.nn models (float32): {t_loop:.3f} s, minima {t_ours:.3f} s, "
          f"ratio {t_loop / t_ours:.1f}x")
    record(f"ensemble training, {label}, float32", "a loop of separate torch.nn models",
           baseline_s=t_loop, ours_s=t_ours, goal=6.0 if device.type == "cpu" else 30.0,
           flops=training_flops(args.repetitions, 32, 16, 512, args.epochs), gemm_gflops=rate)
    if args.fig51_epochs > 0:
        d, n = 50, 2500
        data = [minima.data.gaussian_binary(d, n, seed=r) for r in range(args.repetitions)]
        X51 = torch.stack([x for x, _ in data])
        y51 = torch.stack([t for _, t in data])
        label51 = (f"Figure 5.1 size, R = {args.repetitions}, d = {d}, N = {n}, batches of 25, "
                   f"{args.fig51_epochs} epochs")
        for dtype in (torch.float32, torch.float64):
            times = compare(label51, X51, y51, args.repetitions, d, args.fig51_epochs, 1e-2, device, dtype,
                            rate, batch=min(n // 2, d // 2), repeats=5)
            ratios.append(min(t for k, t in times.items() if k != "minima.train") / times["minima.train"])
    return min(ratios)


if __name__ == "__main__":
    main()
