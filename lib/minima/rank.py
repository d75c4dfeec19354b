"""The linear-algebra leaf: the Khatri–Rao rank of Soudry & Carmon (2016), and the round-off rules.

This module imports nothing else of ``minima`` but input checks, so every other module may use it.
Chapters 2, 3 and 4 use the rank tools; every chapter that decides "zero", "positive semi-definite" or
"clearly positive" about a float64 eigenvalue uses :func:`eigenvalue_tolerance` and its two helpers.

For one hidden layer the outputs are ``y_hat_n = Σ_i a_{in} (z_i w_i)ᵀ x_n = (A ∘ X)[:, n]ᵀ vec((diag(z) W)ᵀ)``
(``vec`` stacks columns, so ``vec(Mᵀ)`` stacks the rows of ``M``: the row-major flattening), where
``A: (d1, N)`` holds the activation slopes and ``A ∘ X: (d1·d0, N)`` is the Khatri–Rao (column-wise
Kronecker) product, column ``n`` = ``kron(a_n, x_n)``. At a differentiable local minimum with ``z_i ≠ 0``
the error satisfies ``(A ∘ X) e = 0`` (the paper's Lemma), so ``e = 0`` whenever ``A ∘ X`` has full column
rank ``N``, which holds for almost every ``(A, X)`` when ``d0·d1 ≥ N`` (Allman et al. 2009, Lemma 13).

**The tolerance rule** (one place, :func:`gram_tolerance`). The rank is decided on the Gram matrix
``K = (A∘X)ᵀ(A∘X) = (AᵀA) ⊙ (XᵀX)`` (``N × N``), whose eigenvalues are the squared singular values of
``A ∘ X``. An eigenvalue (or pivot) counts if it exceeds ``max(d0·d1, N) · ε_mach · λ_max(K)``, i.e. a singular
value counts if ``σ > σ_max · sqrt(max(d0·d1, N) · ε_mach)``. Working with ``K`` squares the condition
number, so rounding makes exactly-zero singular values look like ``~sqrt(ε_mach)·σ_max``, and the rule sits
just above that floor. :func:`khatri_rao_rank` applies it to the product with unit-norm columns (the
same rank, and no dependence on the scale of the samples), and agrees with ``numpy.linalg.matrix_rank``
on that explicit product (threshold ``σ_max · max(d0·d1, N) · ε_mach``) whenever no singular value lies
between the two thresholds: for exact
degeneracies (constant activations, repeated rows, low-rank ``X``, duplicated samples) and for generic
matrices, whose smallest singular value is far larger. :func:`khatri_rao_singular_values` shows the gap.

**The same rule for spectra.** An eigenvalue of a symmetric float64 matrix of size ``n``, formed by sums
over ``N`` samples (a Hessian ``(2/N)(G Gᵀ + …)``, a Gram matrix ``XᵀX``), carries a round-off error of up to
about ``max(n, N) · ε_mach · max|λ|``: each entry is a sum of at most ``N`` products (error ``≲ N ε``
relative to the largest term) and the eigensolver adds ``≲ n ε ‖H‖`` (backward stable). So an eigenvalue
within :func:`eigenvalue_tolerance` of zero is zero to round-off; a spectrum is positive semi-definite when
none lies below ``−tolerance`` (:func:`is_positive_semidefinite`), and an eigenvalue above it is clearly
positive (:func:`count_clearly_positive`). This is :func:`gram_tolerance` applied to ``max|λ|``.
"""
from __future__ import annotations

import itertools

import numpy as np
import scipy.linalg
import torch

from ._checks import as_float64_matrix, check_positive_int

__all__ = ["khatri_rao", "khatri_rao_gram", "khatri_rao_rank", "khatri_rao_singular_values", "gram_tolerance",
           "largest_eigenvalue", "largest_singular_value", "eigenvalue_tolerance", "is_positive_semidefinite",
           "count_clearly_positive", "generic_rank"]

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

    Chapter 2.
    """
    as_tensor = isinstance(A, torch.Tensor)
    A, X = _pair(A, X)
    product = (A[:, None, :] * X[None, :, :]).reshape(A.shape[0] * X.shape[0], A.shape[1])
    return torch.from_numpy(product) if as_tensor else product


def khatri_rao_gram(A, X, *, device=None) -> torch.Tensor:
    """``K = (AᵀA) ⊙ (XᵀX) = (A∘X)ᵀ(A∘X)``, ``(N, N)`` float64, on ``device`` (default CPU), never forming ``A∘X``.

    Chapter 2.
    """
    A, X = _pair(A, X)
    device = torch.device("cpu") if device is None else torch.device(device)
    At, Xt = torch.from_numpy(A).to(device), torch.from_numpy(X).to(device)
    gram = At.T @ At
    for start in range(0, A.shape[1], _GRAM_BLOCK):  # XᵀX a block of rows at a time: no second N × N temporary
        gram[start:start + _GRAM_BLOCK].mul_(Xt[:, start:start + _GRAM_BLOCK].T @ Xt)
    return gram


def gram_tolerance(lambda_max: float, n_rows: int, n_samples: int) -> float:
    """The eigenvalue (pivot) threshold of the Gram matrix: ``max(n_rows, N) · ε_mach · λ_max``.

    Chapter 2.
    """
    return max(n_rows, n_samples) * _EPS * lambda_max


def _power_iteration(apply, size: int, iterations: int, dtype, device) -> float:
    """The largest eigenvalue of a positive semi-definite operator ``v ↦ apply(v)`` by power iteration.

    Starts from the all-ones vector (deterministic, and not orthogonal to the top eigenvector of an
    entrywise non-negative matrix) and returns the largest Rayleigh quotient met, a lower bound that
    converges to ``λ_max``.
    """
    vector = torch.ones(size, dtype=dtype, device=device) / size ** 0.5
    value = 0.0
    for _ in range(iterations):
        image = apply(vector)
        norm = float(image.norm())
        if norm == 0.0:
            return value
        value = max(value, float(vector @ image))
        vector = image / norm
    return value


def largest_eigenvalue(matrix: torch.Tensor, iterations: int = 10) -> float:
    """``λ_max`` of a positive semi-definite ``(n, n)`` tensor, to a few digits by default (enough for a threshold).

    Never below the largest diagonal entry, which is itself a lower bound on ``λ_max``. Used by
    :func:`khatri_rao_rank` (chapter 2).
    """
    iterations = check_positive_int("iterations", iterations)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        return 0.0
    estimate = _power_iteration(lambda v: matrix @ v, matrix.shape[0], iterations, matrix.dtype, matrix.device)
    return max(estimate, float(matrix.diagonal().max()))


def largest_singular_value(matrix: torch.Tensor, iterations: int = 100) -> float:
    """``‖M‖₂`` of an ``(m, n)`` tensor by power iteration on ``MᵀM``, without forming it (chapters 2, 3).

    Runs on ``matrix``'s device.
    """
    iterations = check_positive_int("iterations", iterations)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        return 0.0
    squared = _power_iteration(lambda v: matrix.T @ (matrix @ v), matrix.shape[1], iterations, matrix.dtype,
                               matrix.device)
    return squared ** 0.5


def eigenvalue_tolerance(eigenvalues, n_samples: int = 0) -> float:
    """The round-off level of a float64 spectrum: ``max(n, N) · ε_mach · max|λ|`` (the module's rule).

    ``eigenvalues``: the ``(n,)`` eigenvalues of a symmetric matrix; ``n_samples``: the number ``N`` of terms
    summed into each entry (0 if not more than ``n``). Eigenvalues within this distance of 0 are zero to
    round-off.

    Chapters 2 and 3.
    """
    values = torch.as_tensor(np.asarray(eigenvalues.detach().cpu() if isinstance(eigenvalues, torch.Tensor)
                                        else eigenvalues, dtype=np.float64))
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {tuple(values.shape)}")
    if not torch.isfinite(values).all():
        raise ValueError("eigenvalues contain NaN or inf")
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    return gram_tolerance(float(values.abs().max()), values.numel(), n_samples)


def is_positive_semidefinite(eigenvalues, n_samples: int = 0) -> bool:
    """Whether no eigenvalue lies below ``−eigenvalue_tolerance``: positive semi-definite to round-off.

    Chapters 2 and 3.
    """
    return float(torch.as_tensor(eigenvalues).min()) >= -eigenvalue_tolerance(eigenvalues, n_samples)


def count_clearly_positive(eigenvalues, n_samples: int = 0) -> int:
    """How many eigenvalues exceed ``eigenvalue_tolerance``: the ones that are not zero to round-off.

    Chapter 2.
    """
    tolerance = eigenvalue_tolerance(eigenvalues, n_samples)
    return int((torch.as_tensor(eigenvalues).double() > tolerance).sum())


def khatri_rao_singular_values(A, X, *, device=None) -> np.ndarray:
    """The singular values of ``A ∘ X`` in descending order, ``(N,)``, as ``sqrt`` of the Gram eigenvalues.

    Values below ``~sqrt(ε_mach)·σ_max`` are rounding noise (see the module's tolerance rule).

    Chapter 2.
    """
    eigenvalues = torch.linalg.eigvalsh(khatri_rao_gram(A, X, device=device)).cpu().numpy()
    return np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))


def khatri_rao_rank(A, X, tol: float | None = None, *, method: str | None = None, device=None) -> int:
    """The numerical rank of ``A ∘ X`` (``A: (d1, N)``, ``X: (d0, N)``) without forming it.

    ``method="cholesky"`` (the default on the CPU) runs LAPACK's pivoted Cholesky ``dpstrf`` on the Gram
    matrix and stops at the first pivot below the threshold: ``N³/3`` flops at most, fewer when the rank is
    low. ``method="eigh"`` counts Gram eigenvalues above it (the default on a GPU ``device``). ``tol`` is a
    threshold on singular values, like ``numpy.linalg.matrix_rank``'s; ``None`` uses the module's rule.
    The module's rule is applied to the product with its columns scaled to unit norm, which has the same
    rank, so the decision does not depend on how the samples are scaled (a zero column stays zero); an
    explicit ``tol`` applies to the singular values of the product as given.

    Chapters 2 and 3.
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
    if tol is None:
        # The rank of A∘X is that of A∘X D for any invertible diagonal D: with the module's rule, scale every
        # non-zero column to unit norm (the Gram matrix to unit diagonal), so that the decision does not
        # depend on the scales of the samples. An explicit tol keeps matrix_rank's meaning instead.
        norms = gram.diagonal().sqrt()
        scale = torch.where(norms > 0, 1.0 / norms.clamp_min(torch.finfo(gram.dtype).tiny),
                            torch.zeros_like(norms))
        gram.mul_(scale[:, None]).mul_(scale[None, :])
    if method == "eigh":
        eigenvalues = torch.linalg.eigvalsh(gram)
        lambda_max = float(eigenvalues[-1])
        if lambda_max <= 0:
            return 0
        threshold = tol ** 2 if tol is not None else gram_tolerance(lambda_max, n_rows, n_samples)
        return int((eigenvalues > threshold).sum())
    lambda_max = largest_eigenvalue(gram)
    if lambda_max <= 0:
        return 0
    threshold = tol ** 2 if tol is not None else gram_tolerance(lambda_max, n_rows, n_samples)
    # the Gram matrix is symmetric, so its transpose is the same matrix in Fortran order: no copy is made
    _, _, rank, info = scipy.linalg.lapack.dpstrf(gram.numpy().T, tol=max(threshold, np.finfo(float).tiny),
                                                  lower=1, overwrite_a=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    return int(rank)


def generic_rank(A, d0: int) -> int:
    """The rank of ``A ∘ X`` for almost every ``X: (d0, N)``, from ``A: (d1, N)`` alone:
    ``min over subsets T of the samples of  N − |T| + d0 · rank(A_T)``.

    A set ``T`` of samples whose columns of ``A`` span only ``r`` dimensions contributes at most ``d0·r``
    independent columns, so no more than ``N − |T| + d0·r`` in all; for generic ``X`` the smallest such
    bound is attained. Soudry & Hoffer's Corollary 28 is the case ``rank = N``. Checks all ``2^N`` subsets
    at once, ``N ≤ 14``. Chapters 2 and 4.
    """
    A = as_float64_matrix("A", A)
    d0 = check_positive_int("d0", d0)
    n_samples = A.shape[1]
    if n_samples > 14:
        raise ValueError(f"generic_rank enumerates 2^N subsets and takes N ≤ 14, got N = {n_samples}")
    subsets = torch.tensor(list(itertools.product((0.0, 1.0), repeat=n_samples)), dtype=torch.float64)
    ranks = torch.linalg.matrix_rank(torch.from_numpy(A)[None] * subsets[:, None, :])
    return int((n_samples - subsets.sum(dim=1) + d0 * ranks).min())
