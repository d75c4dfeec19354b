"""The one place where the project chooses its device, its seeds and its runtime switches.

Chapters 1–7 all start here: ``minima.seed_everything(SEED)`` and ``minima.default_device()``.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["default_device", "seed_everything", "torch_generator", "progress_enabled"]


def default_device() -> torch.device:
    """The device every chapter and benchmark uses: the first CUDA GPU if one is present, else the CPU.

    Setting the environment variable ``MINIMA_DEVICE`` (for example to ``cpu``) overrides the choice.

    Chapters 1–7.
    """
    override = os.environ.get("MINIMA_DEVICE")
    if override:
        return torch.device(override)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def progress_enabled() -> bool:
    """Whether progress bars are on: yes unless the environment sets ``MINIMA_PROGRESS=0``.

    The book build and the tests set it to 0, so that no widget lands in the rendered pages.

    Chapters 1–7, through :func:`minima.train`.
    """
    return os.environ.get("MINIMA_PROGRESS", "1") != "0"


def seed_everything(seed: int) -> int:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) global generators with ``seed``.

    Returns the seed, so a chapter can write ``SEED = seed_everything(0)``.

    Chapters 1–7.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def torch_generator(seed: int | None, device: torch.device | str | None = None) -> torch.Generator:
    """A private ``torch.Generator`` on ``device`` seeded with ``seed`` (``None``: from the global one).

    Chapters 1–7, through the library's random draws.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    generator = torch.Generator(device=device)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    generator.manual_seed(int(seed))
    return generator
