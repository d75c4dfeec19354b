"""The Khatri–Rao rank tools of Soudry & Carmon (2016): the matrix ``A ∘ X`` and its rank, without forming it.

For one hidden layer the outputs are ``y_hat_n = Σ_i a_{in} (z_i w_i)ᵀ x_n = (A ∘ X)[:, n]ᵀ vec(z wᵀ)``, where
``A: (d1, N)`` holds the activation slopes and ``A ∘ X: (d1·d0, N)`` is the Khatri–Rao (column-wise
Kronecker) product, column ``n`` = ``kron(a_n, x_n)``. At a differentiable local minimum with ``z_i ≠ 0``
the error satisfies ``(A ∘ X) e = 0`` (the paper's Lemma), so ``e = 0`` whenever ``A ∘ X`` has full column
rank ``N``, which holds for almost every ``(A, X)`` when ``d0·d1 ≥ N`` (Allman et al. 2009, Lemma 13).

**The tolerance rule** (one place, :func:`gram_tolerance`). The rank is decided on the Gram matrix
``K = (A∘X)ᵀ(A∘X) = (AᵀA) ⊙ (XᵀX)`` (``N × N``), whose eigenvalues are the squared singular values of
``A ∘ X``. An eigenvalue (or pivot) counts if it exceeds ``max(d0·d1, N) · ε_mach · λ_max(K)``, i.e. a singular
value counts if ``σ > σ_max · sqrt(max(d0·d1, N) · ε_mach)``. Working with ``K`` squares the condition
number, so rounding makes exactly-zero singular values look like ``~sqrt(ε_mach)·σ_max``, and the rule sits
just above that floor. It agrees with ``numpy.linalg.matrix_rank`` on the explicit product (threshold
``σ_max · max(d0·d1, N) · ε_mach``) whenever no singular value lies between the two thresholds: for exact
degeneracies (constant activations, repeated rows, low-rank ``X``, duplicated samples) and for generic
matrices, whose smallest singular value is far larger. :func:`khatri_rao_singular_values` shows the gap.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from ._checks import as_float64_matrix
from .derivatives import gradient_matrix

__all__ = ["khatri_rao", "khatri_rao_gram", "khatri_rao_rank", "khatri_rao_singular_values", "gram_tolerance",
           "gradient_matrix"]

_EPS = np.finfo(np.float64).eps
_GRAM_BLOCK = 2048  # rows of XᵀX formed at once in khatri_rao_gram


def _pair(A, X):
    A = as_float64_matrix("A", A)
    X = as_float64_matrix("X", X)
    if A.shape[1] != X.shape[1]:
        raise ValueError(f"A and X must have the same number N of columns (samples), got A {A.shape} and X {X.shape}")
    return A, X


def khatri_rao(A, X):
    """``A ∘ X``: ``A: (d1, N)``, ``X: (d0, N)`` → ``(d1·d0, N)`` with column ``n = kron(a_n, x_n)``.

    Equal to ``scipy.linalg.khatri_rao(A, X)``. Returns a float64 ``torch`` tensor if ``A`` is a tensor,
    else a NumPy array.
    """
    as_tensor = isinstance(A, torch.Tensor)
    A, X = _pair(A, X)
    product = (A[:, None, :] * X[None, :, :]).reshape(A.shape[0] * X.shape[0], A.shape[1])
    return torch.from_numpy(product) if as_tensor else product


def khatri_rao_gram(A, X, *, device=None) -> torch.Tensor:
    """``K = (AᵀA) ⊙ (XᵀX) = (A∘X)ᵀ(A∘X)``, ``(N, N)`` float64, on ``device`` (default CPU), never forming ``A∘X``."""
    A, X = _pair(A, X)
    device = torch.device("cpu") if device is None else torch.device(device)
    At, Xt = torch.from_numpy(A).to(device), torch.from_numpy(X).to(device)
    gram = At.T @ At
    for start in range(0, A.shape[1], _GRAM_BLOCK):  # XᵀX a block of rows at a time: no second N × N temporary
        gram[start:start + _GRAM_BLOCK].mul_(Xt[:, start:start + _GRAM_BLOCK].T @ Xt)
    return gram


def gram_tolerance(lambda_max: float, n_rows: int, n_samples: int) -> float:
    """The eigenvalue (pivot) threshold of the Gram matrix: ``max(n_rows, N) · ε_mach · λ_max``."""
    return max(n_rows, n_samples) * _EPS * lambda_max


def _largest_eigenvalue(gram: torch.Tensor, iterations: int = 10) -> float:
    """``λ_max`` of a positive semi-definite matrix to a few digits (enough for a threshold), by power iteration."""
    vector = torch.ones(gram.shape[0], dtype=gram.dtype, device=gram.device)
    value = float(gram.diagonal().max())
    for _ in range(iterations):
        image = gram @ vector
        norm = float(image.norm())
        if norm == 0.0:
            return 0.0
        value = max(value, float(vector @ image) / float(vector @ vector))
        vector = image / norm
    return value


def khatri_rao_singular_values(A, X, *, device=None) -> np.ndarray:
    """The singular values of ``A ∘ X`` in descending order, ``(N,)``, as ``sqrt`` of the Gram eigenvalues.

    Values below ``~sqrt(ε_mach)·σ_max`` are rounding noise (see the module's tolerance rule).
    """
    eigenvalues = torch.linalg.eigvalsh(khatri_rao_gram(A, X, device=device)).cpu().numpy()
    return np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))


def khatri_rao_rank(A, X, tol: float | None = None, *, method: str | None = None, device=None) -> int:
    """The numerical rank of ``A ∘ X`` (``A: (d1, N)``, ``X: (d0, N)``) without forming it.

    ``method="cholesky"`` (the default on the CPU) runs LAPACK's pivoted Cholesky ``dpstrf`` on the Gram
    matrix and stops at the first pivot below the threshold: ``N³/3`` flops at most, fewer when the rank is
    low. ``method="eigh"`` counts Gram eigenvalues above it (the default on a GPU ``device``). ``tol`` is a
    threshold on singular values, like ``numpy.linalg.matrix_rank``'s; ``None`` uses the module's rule.
    """
    A, X = _pair(A, X)
    n_rows, n_samples = A.shape[0] * X.shape[0], A.shape[1]
    if n_samples == 0 or n_rows == 0:
        return 0
    device = torch.device("cpu") if device is None else torch.device(device)
    method = method or ("cholesky" if device.type == "cpu" else "eigh")
    if method not in ("cholesky", "eigh"):
        raise ValueError(f"method must be 'cholesky' or 'eigh', got {method!r}")
    if method == "cholesky" and device.type != "cpu":
        raise ValueError("method 'cholesky' runs on the CPU only; use method='eigh' on a GPU device")
    if tol is not None and (not np.isfinite(tol) or tol < 0):
        raise ValueError(f"tol must be a non-negative finite number, got {tol!r}")
    gram = khatri_rao_gram(A, X, device=device)
    if method == "eigh":
        eigenvalues = torch.linalg.eigvalsh(gram)
        lambda_max = float(eigenvalues[-1])
        if lambda_max <= 0:
            return 0
        threshold = tol ** 2 if tol is not None else gram_tolerance(lambda_max, n_rows, n_samples)
        return int((eigenvalues > threshold).sum())
    lambda_max = _largest_eigenvalue(gram)
    if lambda_max <= 0:
        return 0
    threshold = tol ** 2 if tol is not None else gram_tolerance(lambda_max, n_rows, n_samples)
    # the Gram matrix is symmetric, so its transpose is the same matrix in Fortran order: no copy is made
    _, _, rank, info = scipy.linalg.lapack.dpstrf(gram.numpy().T, tol=max(threshold, np.finfo(float).tiny),
                                                  lower=1, overwrite_a=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    return int(rank)
