"""The one place where the project chooses a device, a dtype policy and its seeds."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["default_device", "seed_everything", "torch_generator"]


def default_device() -> torch.device:
    """The device every chapter and benchmark uses: the first CUDA GPU if one is present, else the CPU.

    Setting the environment variable ``MINIMA_DEVICE`` (for example to ``cpu``) overrides the choice.
    """
    override = os.environ.get("MINIMA_DEVICE")
    if override:
        return torch.device(override)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def seed_everything(seed: int) -> int:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) global generators with ``seed``.

    Returns the seed, so a chapter can write ``SEED = seed_everything(0)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def torch_generator(seed: int | None, device: torch.device | str | None = None) -> torch.Generator:
    """A private ``torch.Generator`` on ``device`` seeded with ``seed`` (``None``: from the global one)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    generator = torch.Generator(device=device)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    generator.manual_seed(int(seed))
    return generator
