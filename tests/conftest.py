import os

import pytest
import torch

os.environ.setdefault("MINIMA_PROGRESS", "0")
os.environ.setdefault("MINIMA_DEVICE", "cpu")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run only where PyTorch sees a CUDA device (``pytest -m gpu`` on a GPU machine)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
