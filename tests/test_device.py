import random

import numpy as np
import pytest
import torch

import minima
from minima.device import torch_generator


def test_default_device_is_cpu_without_gpu_or_when_overridden(monkeypatch):
    monkeypatch.setenv("MINIMA_DEVICE", "cpu")
    assert minima.default_device() == torch.device("cpu")
    monkeypatch.delenv("MINIMA_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert minima.default_device().type == expected


def test_seed_everything_reproduces_all_generators():
    draws = []
    for _ in range(2):
        minima.seed_everything(7)
        draws.append((random.random(), np.random.rand(), torch.rand(3).tolist()))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        minima.seed_everything(bad)


def test_torch_generator_is_private_and_seeded():
    a = torch.rand(4, generator=torch_generator(3))
    b = torch.rand(4, generator=torch_generator(3))
    assert torch.equal(a, b)
