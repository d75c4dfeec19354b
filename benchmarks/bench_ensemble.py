"""Ensemble training against a loop of separate torch.nn models, measured side by side in one run.

Trains R = 30 one-hidden-layer ReLU networks at the opening chapter's book size (Gaussian inputs,
d0 = 32, N = 512, d1 = 16, so #parameters ≈ N) for the same number of full-batch Adam epochs, once as one
`minima` ensemble and once as 30 `torch.nn.Sequential` models with `torch.optim.Adam`, and prints the
ratio of the two times (the goal: at least 6x on two CPU cores, 30x on a GPU).

A second row trains at chapter 4's Figure 5.1 size (Soudry & Hoffer: d = d0 = d1 = 50, N = 2,500, one
and two hidden layers, 30 repetitions each on its own data, Adam on mini-batches of
floor(min(N/2, d/2)) = 25) and prints epochs per second, for the ensemble and for the loop of models.

Usage: ``python benchmarks/bench_ensemble.py [--epochs 300] [--fig51-epochs 3] [--device cpu]``.
"""
from __future__ import annotations

import argparse

import torch

import minima
from table import best_of, record


def loop_of_models(X, y, repetitions, width, epochs, lr, device):
    Xt, yt = X.T.to(device=device, dtype=torch.float32), y.to(device=device, dtype=torch.float32)
    models = [torch.nn.Sequential(torch.nn.Linear(X.shape[0], width, bias=False), torch.nn.ReLU(),
                                  torch.nn.Linear(width, 1, bias=False)).to(device) for _ in range(repetitions)]
    for model in models:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8)
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = (model(Xt).squeeze(1) - yt).pow(2).mean()
            loss.backward()
            optimizer.step()
    return float(loss.detach())


def ensemble(X, y, repetitions, width, epochs, lr, device):
    net = minima.LeakyReLUNet((X.shape[0], width), 0.0, ensemble=repetitions, seed=0, device=device)
    history = minima.train(net, X, y, epochs=epochs, lr=lr, stop_at_zero=False, progress=False)
    return float(history.final_loss[-1])


def loop_of_models_minibatch(X, y, width, depth, epochs, batch, device):
    """Figure 5.1's training as a loop of torch.nn models: ``X: (R, d, N)``, each on its own data."""
    generator = torch.Generator().manual_seed(0)
    for inputs, targets in zip(X.transpose(1, 2).to(device), y.to(device)):
        layers, fan_in = [], inputs.shape[1]
        for _ in range(depth - 1):
            layers += [torch.nn.Linear(fan_in, width, bias=False), torch.nn.ReLU()]
            fan_in = width
        model = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 1, bias=False)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-8)
        for _ in range(epochs):
            for rows in torch.randperm(inputs.shape[0], generator=generator).to(device).split(batch):
                optimizer.zero_grad()
                (model(inputs[rows]).squeeze(1) - targets[rows]).pow(2).mean().backward()
                optimizer.step()
            with torch.no_grad():  # the epoch's loss and error on all samples, as minima.train records
                float((model(inputs).squeeze(1) - targets).pow(2).mean())


def ensemble_minibatch(X, y, width, depth, epochs, batch, device):
    net = minima.LeakyReLUNet((X.shape[1],) + (width,) * (depth - 1), 0.0, ensemble=X.shape[0], seed=0,
                              device=device)
    minima.train(net, X.to(device), y.to(device), epochs=epochs, lr=0.01, batch_size=batch, seed=0,
                 stop_at_zero=False, progress=False)


def figure_51_rows(repetitions, epochs, device):
    d, n = 50, 2500
    data = [minima.data.gaussian_binary(d, n, seed=r) for r in range(repetitions)]
    X = torch.stack([x for x, _ in data]).float()
    y = torch.stack([t for _, t in data]).float()
    batch = min(n // 2, d // 2)
    for depth in (2, 3):
        ensemble_minibatch(X, y, d, depth, 1, batch, device=device)  # warm-up
        setting = (X, y, d, depth, epochs, batch)
        t_ensemble = best_of(lambda: ensemble_minibatch(*setting, device=device), device=device)[1]
        t_loop = best_of(lambda: loop_of_models_minibatch(*setting, device=device), device=device)[1]
        print(f"Figure 5.1 size, {depth - 1} hidden layer{'s' if depth == 3 else ''} (d = {d}, N = {n}, "
              f"R = {repetitions}, batch {batch}, {epochs} epochs): ensemble {epochs / t_ensemble:.2f} "
              f"epochs/s, torch.nn loop {epochs / t_loop:.2f} epochs/s, ratio {t_loop / t_ensemble:.1f}x")


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--fig51-epochs", type=int, default=3,
                        help="epochs timed at the Figure 5.1 size (0 skips that row)")
    parser.add_argument("--device", default=None, help="default: minima.default_device()")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else minima.default_device()
    X, y = minima.data.gaussian_binary(32, 512, seed=0)
    setting = (X, y, args.repetitions, 16, args.epochs, 1e-2)
    ensemble(*setting[:4], 5, 1e-2, device=device)  # warm-up (allocators, kernels)
    loop_of_models(*setting[:4], 5, 1e-2, device=device)
    # a quarter of a second and under two seconds: both the best of three, like the other short times
    t_ensemble = best_of(lambda: ensemble(*setting, device=device), 3, device=device)[1]
    t_loop = best_of(lambda: loop_of_models(*setting, device=device), 3, device=device)[1]
    print(f"device {device}, threads {torch.get_num_threads()}, R = {args.repetitions}, "
          f"d0 = 32, d1 = 16, N = 512, {args.epochs} full-batch Adam epochs")
    print(f"separate torch.nn models: {t_loop:.3f} s")
    print(f"one minima ensemble:      {t_ensemble:.3f} s")
    print(f"speed-up (loop / ensemble): {t_loop / t_ensemble:.1f}x")
    if args.fig51_epochs > 0:
        figure_51_rows(args.repetitions, args.fig51_epochs, device)
    record(f"ensemble training, R = {args.repetitions}, {args.epochs} Adam epochs", "separate torch.nn models",
           baseline_s=t_loop, ours_s=t_ensemble, goal=6.0 if device.type == "cpu" else 30.0)
    return t_loop / t_ensemble


if __name__ == "__main__":
    main()
