"""The GPU paths, against the CPU: skipped without CUDA; run ``python3 dev.py test -m gpu`` on a GPU machine."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import minima
from minima.rank import khatri_rao_rank, largest_singular_value
from minima.regions import planted_local_minimum, stationarity

pytestmark = pytest.mark.gpu


def test_eigh_rank_on_the_gpu_equals_the_cpu_rank():
    generator = np.random.default_rng(0)
    X = generator.standard_normal((6, 40))
    for A in (generator.standard_normal((7, 40)), np.ones((7, 40)), np.repeat(generator.standard_normal((1, 40)), 7, 0)):
        assert khatri_rao_rank(A, X, method="eigh", device="cuda") == khatri_rao_rank(A, X)


def test_stationarity_and_power_iteration_on_a_cuda_network():
    X, _ = minima.data.gaussian_binary(4, 30, seed=0)
    planted = planted_local_minimum(X, 3, 0.2, seed=1)
    cpu_net = minima.LeakyReLUNet.from_weights([planted.W, planted.z], 0.2)
    gpu_net = cpu_net.to(device="cuda")
    assert stationarity(gpu_net, X.cuda(), planted.y.cuda()) < 1e-13
    M = torch.randn(50, 9, dtype=torch.float64)
    assert largest_singular_value(M.cuda()) == pytest.approx(largest_singular_value(M), rel=1e-10)


def test_ensemble_training_on_the_gpu_matches_the_cpu():
    X, y = minima.data.gaussian_binary(5, 40, seed=2)
    histories, nets = [], []
    for device in ("cpu", "cuda"):
        net = minima.LeakyReLUNet((5, 8), 0.1, ensemble=3, seed=4, dtype=torch.float64, device=device)
        histories.append(minima.train(net, X, y, epochs=50, lr=1e-2, stop_at_zero=False))
        nets.append(net)
    assert torch.allclose(histories[0].loss, histories[1].loss, rtol=1e-9)
    for cpu_weight, gpu_weight in zip(nets[0].weights, nets[1].weights):
        assert torch.allclose(cpu_weight.detach(), gpu_weight.detach().cpu(), atol=1e-9)
