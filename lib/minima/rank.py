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

**Full rank by certificate** (:func:`certify_positive_definite`). Most ranks asked for are full, and a
full rank has a cheaper proof than a rank-revealing factorisation: one blocked, unpivoted Cholesky
factorisation (which runs at matrix-multiply speed, unlike the mostly level-2 pivoted ``dpstrf``) of the
shifted Gram matrix ``K − s·I``. :func:`khatri_rao_rank` tries it first and falls back to the
rank-revealing path only when it fails, so its decision is the pivoted one's; the proof is in the
certificate's docstring. The shift ``s`` is a rounding bound of order ``N²·ε_mach``, far above the rule's
threshold, so at ``d0·d1 = N`` (a square product, whose ``λ_min`` is of order ``1/N²``) it fails on about
half of the inputs, in its last rows only. Then the tail (:func:`_tail_rank`) decides: the factorisation
already done gives the Schur complement of those rows, and a pivoted Cholesky factorisation of it (a few
per cent of the work) the rank.
"""
from __future__ import annotations

import ctypes
import functools
import itertools

import numpy as np
import scipy.linalg
import torch

from ._checks import as_float64_matrix, check_positive_int

__all__ = ["khatri_rao", "khatri_rao_gram", "khatri_rao_rank", "khatri_rao_singular_values", "gram_tolerance",
           "largest_eigenvalue", "largest_singular_value", "eigenvalue_tolerance", "is_positive_semidefinite",
           "count_clearly_positive", "generic_rank", "certify_positive_definite", "matrix_rank"]

_EPS = np.finfo(np.float64).eps
_GRAM_BLOCK = 2048  # rows of XᵀX formed at once in khatri_rao_gram
# rows of the lower triangle formed at once by the certificate: 256 skips more of the upper triangle
# (khatri_rao_rank at N = 4096 measured 5 % faster than with 2048 here)
_LOWER_GRAM_BLOCK = 256
_CHOLESKY_BLOCK = 2048  # columns of the blocked Cholesky factored at once (6 % faster than 1024 here)
# SciPy's LAPACK (OpenBLAS) factors fastest on the CPU, but its dpotrf has crashed (SIGSEGV) on whole
# matrices of n = 16,384 and 23,170 here; tiles of at most this order keep every dpotrf call small.
# 0: the blocked factorisation in torch instead (the GPU's path, and the tests' second path)
_LAPACK_TILE = 8192
# order of the last tile of the certificate of khatri_rao_rank: when only that tile fails (a few eigenvalues
# between the rule's threshold and the certificate's shift, as at d0·d1 = N), the rank is decided on it
_TAIL = 128


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


def _power_iteration(apply, ones, iterations: int) -> float:
    """The largest eigenvalue of a positive semi-definite operator ``v ↦ apply(v)`` by power iteration.

    Starts from ``ones``, the all-ones vector (a tensor or a NumPy array, the type ``apply`` takes:
    deterministic, and not orthogonal to the top eigenvector of an entrywise non-negative matrix), and
    returns the largest Rayleigh quotient met, a lower bound that converges to ``λ_max``.
    """
    vector = ones / ones.shape[0] ** 0.5
    value = 0.0
    for _ in range(iterations):
        image = apply(vector)
        norm = float((image * image).sum()) ** 0.5
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
    estimate = _power_iteration(lambda v: matrix @ v, matrix.new_ones(matrix.shape[0]), iterations)
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
    squared = _power_iteration(lambda v: matrix.T @ (matrix @ v), matrix.new_ones(matrix.shape[1]), iterations)
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


def matrix_rank(M) -> int:
    """The numerical rank of a matrix ``M: (m, n)`` given explicitly (a layer's feature matrix ``F``): the
    singular values above ``σ_max · max(m, n) · ε_mach``, the rule of :func:`numpy.linalg.matrix_rank` and of
    the explicit product in the module's tolerance rule. A zero matrix has rank 0. Chapter 6.
    """
    M = as_float64_matrix("M", M.detach().cpu().numpy() if isinstance(M, torch.Tensor) else M)
    singular = np.linalg.svd(M, compute_uv=False)
    if singular.size == 0 or singular[0] == 0.0:
        return 0
    return int((singular > singular[0] * max(M.shape) * _EPS).sum())


def khatri_rao_singular_values(A, X, *, device=None) -> np.ndarray:
    """The singular values of ``A ∘ X`` in descending order, ``(N,)``, as ``sqrt`` of the Gram eigenvalues.

    Values below ``~sqrt(ε_mach)·σ_max`` are rounding noise (see the module's tolerance rule).

    Chapter 2.
    """
    eigenvalues = torch.linalg.eigvalsh(khatri_rao_gram(A, X, device=device)).cpu().numpy()
    return np.sqrt(np.clip(eigenvalues[::-1], 0.0, None))


def certify_positive_definite(matrix, threshold: float, *, overwrite: bool = False) -> bool:
    """``True`` only if ``λ_min(matrix) > threshold``, proved by one Cholesky factorisation; else ``False``.

    ``matrix``: a symmetric ``(n, n)`` float64 NumPy array or tensor, on any device; only its lower
    triangle is read. It is factored in place when ``overwrite`` (its contents are then lost), else a copy:
    on the CPU by SciPy's LAPACK and BLAS in tiles (:func:`_tiled_lapack_cholesky`), on other devices by a
    blocked factorisation in torch (:func:`_cholesky_in_place`).
    ``threshold ≥ 0``. ``False`` means "not proved", not "not positive definite": the caller decides such
    a matrix by a rank-revealing method.

    **The proof.** Factor ``B = K − s·I`` with ``s = threshold + 2·margin`` and
    ``margin = (n + 2)·ε_mach·trace(K)``. If floating-point Cholesky runs to completion on ``B``, then
    ``B + E = L̂ L̂ᵀ`` with ``|E| ≤ γ_{n+1} |L̂| |L̂ᵀ|`` entrywise, ``γ_k = k u / (1 − k u)``, ``u = ε_mach / 2``
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Theorem 10.3; it holds for any
    order of the inner products, so for the blocked factorisation used here too, with conventional
    matrix products). Then
    ``‖E‖₂ ≤ γ_{n+1} ‖L̂‖_F² = γ_{n+1} trace(B + E)``, so ``‖E‖₂ ≤ γ_{n+1} trace(B) / (1 − γ_{n+1})``; with the
    rounding of the shift itself (``≤ u·max K_ii``) the perturbation is at most ``margin`` while
    ``n u ≤ ¼``. Since ``L̂ L̂ᵀ ⪰ 0``, ``λ_min(K) ≥ s − margin > threshold``. No pivot and no eigenvalue is
    inspected: the certificate needs only that the factorisation did not break down.

    **The same decision as a rank-revealing method.** Pivoted Cholesky (``dpstrf``) declares full rank when
    every pivot exceeds the threshold, and the eigenvalue rule when ``λ_min`` does. Every pivot of symmetric
    Gaussian elimination, in any order, is ``1 / (K_S⁻¹)_{jj} ≥ λ_min(K_S) ≥ λ_min(K)`` for the principal
    submatrix ``K_S`` of the indices eliminated so far (Cauchy interlacing). So when the certificate holds,
    both would declare full rank too, up to their own rounding of the pivots (``O(n ε ‖K‖)``, below the
    rule's threshold). The converse fails only for matrices with ``λ_min ≤ s``, within a few ``n²ε‖K‖`` of
    the threshold, and those are decided by the rank-revealing method. Chapters 2 to 5.
    """
    if threshold is None or not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a non-negative finite number, got {threshold!r}")
    if not isinstance(matrix, (np.ndarray, torch.Tensor)):
        matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be square and non-empty, got shape {tuple(matrix.shape)}")
    if matrix.dtype not in (np.float64, torch.float64):
        raise ValueError(f"matrix must be float64, got {matrix.dtype}")
    size = matrix.shape[0]
    if isinstance(matrix, np.ndarray):
        if overwrite and not matrix.flags.c_contiguous:
            raise ValueError("matrix must be C-contiguous to be overwritten")
        matrix = torch.from_numpy(matrix if overwrite else np.array(matrix, dtype=np.float64, order="C"))
    elif not overwrite:
        matrix = matrix.clone()
    if not np.isfinite(float(matrix.diagonal().sum())):
        raise ValueError("matrix contains NaN or inf on its diagonal")
    return _certify_in_place(matrix, threshold)[0]


def _certify_in_place(matrix: torch.Tensor, threshold: float, tail: int = 0,
                      kept: list | None = None) -> tuple[bool, float]:
    """:func:`certify_positive_definite` on a checked float64 tensor, factored in place: (proved, shift ``s``).

    ``tail`` and ``kept`` go to :func:`_tiled_lapack_cholesky` (the CPU's path only).
    """
    diagonal = matrix.diagonal()
    margin = (matrix.shape[0] + 2) * _EPS * float(diagonal.sum())
    shift = threshold + 2 * margin
    if float(diagonal.min()) <= shift:  # a diagonal entry is an upper bound on λ_min
        return False, shift
    diagonal.sub_(shift)
    if matrix.device.type == "cpu" and matrix.is_contiguous() and _LAPACK_TILE > 0:
        # a C-ordered array is its transpose in Fortran order: its lower triangle is that view's upper one
        return _tiled_lapack_cholesky(matrix.numpy().T, _LAPACK_TILE, tail, kept), shift
    return _cholesky_in_place(matrix), shift


@functools.cache
def _fortran_routines() -> dict:
    """SciPy's LAPACK ``dpotrf`` and BLAS ``dtrsm``, ``dsyrk``, ``dgemm`` as ctypes functions.

    They are SciPy's public low-level interface (``scipy.linalg.cython_lapack`` / ``cython_blas``): the
    Fortran routines themselves, which take a leading dimension, so that a block of a large matrix is
    read and written in place, without the copy that ``scipy.linalg.lapack`` makes of a non-contiguous one.
    """
    import scipy.linalg.cython_blas as cython_blas
    import scipy.linalg.cython_lapack as cython_lapack

    capsule_name = ctypes.pythonapi.PyCapsule_GetName
    capsule_name.restype, capsule_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    capsule_pointer.restype, capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    routines = {}
    for module, name, n_arguments in ((cython_lapack, "dpotrf", 5), (cython_blas, "dtrsm", 11),
                                      (cython_blas, "dsyrk", 10), (cython_blas, "dgemm", 13)):
        capsule = module.__pyx_capi__[name]
        address = capsule_pointer(capsule, capsule_name(capsule))
        routines[name] = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * n_arguments)(address)
    return routines


def _integer(value: int):
    return ctypes.byref(ctypes.c_int(value))


def _real(value: float):
    return ctypes.byref(ctypes.c_double(value))


def _letter(value: str) -> ctypes.c_char_p:
    return ctypes.c_char_p(value.encode())


def _address(array: np.ndarray, row: int, column: int) -> ctypes.c_void_p:
    """The address of ``array[row, column]`` of a Fortran-ordered float64 array, for a BLAS argument."""
    if not array.flags.f_contiguous or array.dtype != np.float64:
        raise ValueError("array must be a Fortran-ordered float64 array")
    return ctypes.c_void_p(array.ctypes.data + 8 * (row + column * array.shape[0]))


def _tile_edges(size: int, tile: int, tail: int = 0) -> list[int]:
    """The tiles' edges: the first ``size − tail`` rows in ``⌈(size − tail) / tile⌉`` tiles of nearly equal
    order, then one tile of ``tail`` rows (none when ``tail`` is 0 or not below ``size``)."""
    lead = size - tail if 0 < tail < size else size
    count = -(-lead // tile)
    return [round(index * lead / count) for index in range(count + 1)] + ([size] if lead < size else [])


def _tiled_lapack_cholesky(matrix: np.ndarray, tile: int, tail: int = 0, kept: list | None = None) -> bool:
    """Right-looking tiled Cholesky ``F = Uᵀ U`` of the upper triangle of ``matrix``, in place; completed?

    ``matrix``: a Fortran-ordered float64 ``(n, n)`` array (the transpose view of a C-ordered one, whose
    lower triangle is this upper one); only its upper triangle is read or written. The rows are cut into
    tiles by :func:`_tile_edges` (a last tile of ``tail`` rows if ``tail > 0``); for each diagonal tile
    ``k``: ``dpotrf`` factors it,
    ``dtrsm`` solves ``U_kkᵀ U_kj = F_kj`` for the row of tiles to its right, and ``dsyrk`` and ``dgemm``
    subtract ``U_kiᵀ U_kj`` from every tile below that row. These are the inner products of the unblocked
    algorithm in another order of summation, with conventional matrix products (Higham's Theorem 10.3
    holds). No copy is made: each routine gets a pointer into ``matrix`` and its leading dimension ``n``.
    If ``kept`` is a list, a copy of the last diagonal tile (the Schur complement of the rows before it) is
    appended to it just before that tile is factored: a failure after that is the last tile's.
    """
    routines = _fortran_routines()
    size = matrix.shape[0]
    if not matrix.flags.f_contiguous or matrix.dtype != np.float64 or matrix.shape != (size, size):
        raise ValueError("matrix must be a square Fortran-ordered float64 array")

    def at(row: int, column: int) -> ctypes.c_void_p:
        return _address(matrix, row, column)

    edges = _tile_edges(size, tile, tail)
    tiles = list(zip(edges[:-1], edges[1:]))
    lda, info = _integer(size), ctypes.c_int(0)
    for index, (first, last) in enumerate(tiles):
        order = _integer(last - first)
        if kept is not None and last == size:
            kept.append(np.array(matrix[first:, first:], order="F"))
        routines["dpotrf"](_letter("U"), order, at(first, first), lda, ctypes.byref(info))
        if info.value < 0:
            raise RuntimeError(f"LAPACK dpotrf rejected argument {-info.value}")
        if info.value > 0:
            return False
        if last == size:
            break
        routines["dtrsm"](_letter("L"), _letter("U"), _letter("T"), _letter("N"), order, _integer(size - last),
                          _real(1.0), at(first, first), lda, at(first, last), lda)
        for below, end in tiles[index + 1:]:
            routines["dsyrk"](_letter("U"), _letter("T"), _integer(end - below), order, _real(-1.0),
                              at(first, below), lda, _real(1.0), at(below, below), lda)
            if end < size:
                routines["dgemm"](_letter("T"), _letter("N"), _integer(end - below), _integer(size - end), order,
                                  _real(-1.0), at(first, below), lda, at(first, end), lda, _real(1.0),
                                  at(below, end), lda)
    return bool(np.isfinite(np.diagonal(matrix)).all())


def _cholesky_in_place(matrix: torch.Tensor, block: int = _CHOLESKY_BLOCK) -> bool:
    """Left-looking blocked Cholesky of the lower triangle of ``matrix``, in place; whether it completed.

    Block column ``k``: subtract ``L[k:, :k] L[k, :k]ᵀ`` (one matrix product), factor the diagonal block,
    solve for the rest of the column. The same inner products as the unblocked algorithm in another order
    of summation, at matrix-multiply speed, on any device, with no second ``n × n`` array.
    """
    size = matrix.shape[0]
    for first in range(0, size, block):
        last = min(size, first + block)
        panel = matrix[first:, first:last]
        if first:
            panel.addmm_(matrix[first:, :first], matrix[first:last, :first].T, alpha=-1.0)
        factor, info = torch.linalg.cholesky_ex(panel[:last - first])
        if int(info) != 0:
            return False
        panel[:last - first] = factor
        if last < size:
            panel[last - first:] = torch.linalg.solve_triangular(factor.T, panel[last - first:], upper=True,
                                                                 left=False)
    return bool(torch.isfinite(matrix.diagonal()).all())


def _unit_columns(M: np.ndarray) -> np.ndarray | None:
    """``M`` with every column scaled to unit norm, or ``None`` if a column is zero."""
    norms = np.sqrt(np.einsum("ij,ij->j", M, M))
    return None if not np.all(norms > 0) else M / norms


def _lower_gram(A: np.ndarray, X: np.ndarray, device: torch.device) -> torch.Tensor:
    """The lower triangle of ``K = (AᵀA) ⊙ (XᵀX)``, ``(N, N)``: half the flops of :func:`khatri_rao_gram`.

    The strict upper triangle is left unset (its blocks above the diagonal hold partial products). Memory:
    ``K`` plus one ``(block, N)`` temporary. On the CPU the products are SciPy's BLAS ``dgemm``, the
    library the certificate then factors with: a product in torch's library right after it ran 2.5× slower
    here, its cores still held by the other library's waiting threads.
    """
    return _blas_lower_gram(A, X) if device.type == "cpu" else _torch_lower_gram(A, X, device)


def _torch_lower_gram(A: np.ndarray, X: np.ndarray, device: torch.device) -> torch.Tensor:
    """:func:`_lower_gram` by torch's matrix products, on any device."""
    n_samples = A.shape[1]
    A_rows, X_rows = torch.from_numpy(A.T).to(device), torch.from_numpy(X.T).to(device)
    gram = torch.empty(n_samples, n_samples, dtype=torch.float64, device=device)
    block = torch.empty(min(_LOWER_GRAM_BLOCK, n_samples), n_samples, dtype=torch.float64, device=device)
    for start in range(0, n_samples, _LOWER_GRAM_BLOCK):
        stop = min(start + _LOWER_GRAM_BLOCK, n_samples)
        rows = gram[start:stop, :stop]  # the matrix products write into the triangle's blocks in place
        torch.mm(X_rows[start:stop], X_rows[:stop].T, out=rows)
        slopes = block[:stop - start, :stop]
        torch.mm(A_rows[start:stop], A_rows[:stop].T, out=slopes)
        rows.mul_(slopes)
    return gram


def _blas_lower_gram(A: np.ndarray, X: np.ndarray) -> torch.Tensor:
    """:func:`_lower_gram` on the CPU by ``dgemm``: rows ``s:e`` of the triangle are columns ``s:e`` of
    its transpose ``F``, ``F[:e, s:e] = (X[:, :e]ᵀ X[:, s:e]) ⊙ (A[:, :e]ᵀ A[:, s:e])``, written in place."""
    routines = _fortran_routines()
    n_samples = A.shape[1]
    A, X = np.asfortranarray(A), np.asfortranarray(X)
    gram = torch.empty(n_samples, n_samples, dtype=torch.float64)
    transpose = gram.numpy().T  # Fortran order: its upper triangle is the gram's lower one
    block = np.empty((n_samples, min(_LOWER_GRAM_BLOCK, n_samples)), order="F")
    for start in range(0, n_samples, _LOWER_GRAM_BLOCK):
        stop = min(start + _LOWER_GRAM_BLOCK, n_samples)
        for factor, target, column in ((X, transpose, start), (A, block, 0)):  # target[:stop, column:]
            inner = _integer(factor.shape[0])
            routines["dgemm"](_letter("T"), _letter("N"), _integer(stop), _integer(stop - start), inner,
                              _real(1.0), _address(factor, 0, 0), inner, _address(factor, 0, start), inner,
                              _real(0.0), _address(target, 0, column), _integer(n_samples))
        columns = transpose[:stop, start:stop]
        np.multiply(columns, block[:stop, :stop - start], out=columns)
    return gram


def _certified_or_tail_rank(A: np.ndarray, X: np.ndarray, tol: float | None, device: torch.device,
                            tail: bool) -> int | None:
    """The rank of ``A ∘ X`` if the certificate decides it, else ``None`` (the caller's method decides).

    :func:`certify_positive_definite` proves full column rank ``N`` under the rule or ``tol``. With the
    module's rule the columns are scaled to unit norm first (``a_n / ‖a_n‖`` and ``x_n / ‖x_n‖``, so ``K``
    has unit diagonal) and the threshold uses ``trace(K) = N ≥ λ_max``, which is never below the one the
    rank-revealing path computes. With ``tol`` the threshold is ``tol²`` on the product as given.
    With ``tail`` (the CPU's pivoted method) the certificate's last tile has ``_TAIL`` rows, and if only
    that tile fails, :func:`_tail_rank` decides the rank from the factorisation already done.
    """
    n_rows, n_samples = A.shape[0] * X.shape[0], A.shape[1]
    if n_samples > n_rows:
        return None
    if tol is None:
        A, X = _unit_columns(A), _unit_columns(X)
        if A is None or X is None:
            return None
    gram = _lower_gram(A, X, device)
    threshold = gram_tolerance(float(gram.diagonal().sum()), n_rows, n_samples) if tol is None else tol ** 2
    tail = _TAIL if tail and device.type == "cpu" and 0 < 2 * _TAIL <= n_samples else 0
    kept = [] if tail else None  # the last tile's copy, only where the tail can use it
    proved, shift = _certify_in_place(gram, threshold, tail, kept)
    if proved:
        return n_samples
    if not tail or not kept:
        return None
    # the rule's threshold from λ_max, as the rank-revealing path sets it (tol² is already the threshold)
    if tol is None:
        threshold = gram_tolerance(_khatri_rao_largest_eigenvalue(A, X), n_rows, n_samples)
    return _tail_rank(gram.numpy().T, kept[0], shift, threshold)


def _khatri_rao_largest_eigenvalue(A: np.ndarray, X: np.ndarray, iterations: int = 10) -> float:
    """``λ_max`` of ``K = (A∘X)ᵀ(A∘X)`` as :func:`largest_eigenvalue` finds it, without ``K``:
    ``K v = rowsum((Aᵀ (A diag(v) Xᵀ)) ⊙ Xᵀ)``, two products of ``N·d0·d1`` multiply-adds, by SciPy's BLAS
    (the library the certificate ran on, see :func:`_lower_gram`)."""
    dgemm = scipy.linalg.blas.dgemm
    A_rows, X_rows = np.ascontiguousarray(A.T), np.ascontiguousarray(X.T)  # (N, d1), (N, d0)

    def apply(vector: np.ndarray) -> np.ndarray:  # NumPy throughout: no torch threads beside BLAS's
        # Fortran views of the C-ordered rows: no copy on the way to BLAS
        outer = dgemm(1.0, (A_rows * vector[:, None]).T, X_rows.T, trans_b=1)  # (d1, d0)
        return np.einsum("nj,nj->n", dgemm(1.0, A_rows.T, outer, trans_a=1), X_rows)

    estimate = _power_iteration(apply, np.ones(A.shape[1]), iterations)
    diagonal = np.einsum("in,in->n", A, A) * np.einsum("jn,jn->n", X, X)
    return max(estimate, float(diagonal.max()))


def _tail_rank(factor: np.ndarray, schur: np.ndarray, shift: float, threshold: float) -> int | None:
    """The rank of ``K`` when the certificate of ``K − sI`` failed only in its last tile (``m`` rows).

    ``factor``: the certificate's Fortran view after the failure, whose first ``p = n − m`` rows hold
    ``U₁₁`` (``K₁₁ − sI = U₁₁ᵀU₁₁``, upper) and ``U₁₂ = U₁₁⁻ᵀ K₁₂``; ``schur``: the copy of the last tile
    made before it failed, ``S_s = K₂₂ − sI − U₁₂ᵀU₁₂`` (upper triangle). The leading tiles factored
    completely, so ``λ_min(K₁₁) > s − margin ≥ threshold`` (the certificate's proof on ``K₁₁``). The Schur
    complement of the unshifted ``K`` follows from ``K₁₁ = U₁₁ᵀU₁₁ + sI``:
    ``S₀ = K₂₂ − K₂₁K₁₁⁻¹K₁₂ = S_s + sI + s·U₁₂ᵀ(U₁₁U₁₁ᵀ + sI)⁻¹U₁₂ = S_s + sI + s·HᵀH − s²·JᵀJ + …``
    with ``H = U₁₁⁻¹U₁₂`` and ``J = U₁₁⁻ᵀH``. The rest is exact to bound: with ``A = U₁₁U₁₁ᵀ``,
    ``(A + sI)⁻¹ = A⁻¹ − sA⁻² + s²A⁻²(A + sI)⁻¹``, so the neglected part of ``S₀`` lies between 0 and
    ``s³·CᵀC``, ``C = U₁₁⁻¹J``, whose norm is at most ``s³‖C‖²_F`` (a third triangular solve; the three
    cost ``3p²m`` flops, a few per cent of the factorisation). At N = 4096, d0 = d1 = 64 it is ten
    orders of magnitude below the threshold. LAPACK's pivoted
    ``dpstrf`` then ranks ``S₀`` at ``threshold``: the rank of ``K`` is ``p`` plus that rank, a pivoted
    Cholesky factorisation of ``K`` whose first ``p`` pivots, all ``≥ λ_min(K₁₁)``, come in their order
    (every pivot is ``≥ λ_min(K)``, so a rank above the threshold is full in any order; a singular value
    within rounding of the threshold may be decided otherwise than by complete pivoting, as by any two
    pivot orders).
    ``None`` (the caller's method decides) if that bound exceeds 1 % of ``threshold``: a leading block
    so weakly conditioned that the series has not settled.
    """
    routines = _fortran_routines()
    size, tail = factor.shape[0], schur.shape[0]
    lead = size - tail

    def solve(right: np.ndarray, transpose: str) -> np.ndarray:  # U₁₁⁻¹ right or U₁₁⁻ᵀ right, in place
        routines["dtrsm"](_letter("L"), _letter("U"), _letter(transpose), _letter("N"), _integer(lead),
                          _integer(tail), _real(1.0), _address(factor, 0, 0), _integer(size),
                          _address(right, 0, 0), _integer(lead))
        return right

    H = solve(np.array(factor[:lead, lead:], order="F"), "N")
    J = solve(np.array(H, order="F"), "T")
    C = solve(np.array(J, order="F"), "N")
    if not shift ** 3 * np.einsum("ij,ij", C, C) <= 0.01 * threshold:  # also refuses NaN
        return None
    dsyrk = scipy.linalg.blas.dsyrk  # upper triangles, as dpstrf reads them
    complement = dsyrk(shift, H, beta=1.0, c=schur, trans=1, lower=0, overwrite_c=1)
    complement = dsyrk(-shift ** 2, J, beta=1.0, c=complement, trans=1, lower=0, overwrite_c=1)
    complement[np.diag_indices(tail)] += shift
    _, _, rank, info = scipy.linalg.lapack.dpstrf(complement, tol=max(threshold, np.finfo(float).tiny),
                                                  lower=0, overwrite_a=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    return lead + int(rank)


def khatri_rao_rank(A, X, tol: float | None = None, *, method: str | None = None, device=None,
                    certificate: bool = True) -> int:
    """The numerical rank of ``A ∘ X`` (``A: (d1, N)``, ``X: (d0, N)``) without forming it.

    With ``certificate`` (the default) a full column rank is first sought by
    :func:`certify_positive_definite` on the lower triangle of the Gram matrix (``N³/3`` flops at
    matrix-multiply speed, half the Gram's flops, memory ``N² · 8`` bytes plus one block). If it fails only
    in its last ``_TAIL`` rows (``method="cholesky"`` on the CPU), the pivoted factorisation of their Schur
    complement decides (:func:`_tail_rank`); otherwise the Gram matrix is formed in full and decided by
    ``method``, with the same answer (see the certificate's proof). ``certificate=False`` skips both.
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
    if certificate:
        decided = _certified_or_tail_rank(A, X, tol, device, tail=method == "cholesky")
        if decided is not None:
            return decided
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
