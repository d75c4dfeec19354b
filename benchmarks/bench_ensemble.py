"""Ensemble training against a loop of separate torch.nn models, measured side by side in one run.

Trains R = 30 one-hidden-layer ReLU networks at the opening chapter's book size (Gaussian inputs,
d0 = 32, N = 512, d1 = 16, so #parameters ≈ N) for the same number of full-batch Adam epochs, once as one
`minima` ensemble and once as 30 `torch.nn.Sequential` models with `torch.optim.Adam`, and prints the
ratio of the two times. Usage: ``python benchmarks/bench_ensemble.py [--epochs 300] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import time

import torch

import minima


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


def timed(function, *args, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    function(*args, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--device", default=None, help="default: minima.default_device()")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else minima.default_device()
    X, y = minima.data.gaussian_binary(32, 512, seed=0)
    setting = (X, y, args.repetitions, 16, args.epochs, 1e-2)
    ensemble(*setting[:4], 5, 1e-2, device=device)  # warm-up (allocators, kernels)
    loop_of_models(*setting[:4], 5, 1e-2, device=device)
    t_ensemble = timed(ensemble, *setting, device=device)
    t_loop = timed(loop_of_models, *setting, device=device)
    print(f"device {device}, threads {torch.get_num_threads()}, R = {args.repetitions}, "
          f"d0 = 32, d1 = 16, N = 512, {args.epochs} full-batch Adam epochs")
    print(f"separate torch.nn models: {t_loop:.3f} s")
    print(f"one minima ensemble:      {t_ensemble:.3f} s")
    print(f"speed-up (loop / ensemble): {t_loop / t_ensemble:.1f}x")


if __name__ == "__main__":
    main()
