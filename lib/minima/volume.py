"""Angular volume of differentiable regions (Soudry & Hoffer 2018, Definition 3), exact and sampled.

For data ``X: (d0, N)`` and a one-hidden-layer network, the differentiable region of an activation pattern
``A: (d1, N)`` is ``D_A(X) = {W : sign(W X) = A}``, a product of polyhedral cones, one per row of ``W``.
Its *angular volume* is ``V(D_A) = P_{W∼N}(W ∈ D_A)``: the regions are invariant under a positive scaling
of each row, so only directions matter. Rows of ``W`` are independent, so

    V(D_A) = Π_i P_{w∼N(0, I_d0)}( sign(wᵀ x_n) = s_in for every n ),

each factor the normalised solid angle of one cone {w : s_in x_nᵀ w > 0} (:func:`unit_region_volume`).
It is an orthant probability of ``wᵀX ∼ N(0, XᵀX)``, whose covariance has rank ``d0 < N``, so it is
computed in ``ℝ^{d0}``: exactly on the circle (``rank X = 2``: an arc) and on the sphere (``rank X = 3``:
a spherical polygon, its area by Gauss–Bonnet from its exterior angles), else by Monte Carlo with its
standard error. :func:`regions` lists every cone of one unit (Cover's ``C(N, d0)`` of them, :func:`cover_count`);
:func:`rank_criterion` is Corollary 28's
combinatorial test for ``rank(A∘X) = N``.

What the regions hold, sampled and averaged over data, is :mod:`minima.census`, a layer above.

Chapter 4.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_float64_matrix, check_positive_int
from .device import default_device, torch_generator
from .rank import generic_rank
from .regions import check_pattern

__all__ = ["Volume", "unit_region_volume", "region_volume", "cover_count", "UnitRegions", "regions", "circle_arcs",
           "rank_criterion", "orthant_probability", "pattern_probabilities"]

_EXACT_RANK = 3  # circle and sphere; above that, Monte Carlo
_DEFAULT_SAMPLES = 200_000
_BATCH = 1 << 16


@dataclass(frozen=True)
class Volume:
    """An angular volume: ``value``, its ``standard_error`` (0 when exact) and the ``method`` used
    (``"exact"`` or ``"monte carlo"``). Chapter 4."""
    value: float
    standard_error: float
    method: str


def _check_signs(signs, n_samples: int) -> np.ndarray:
    if isinstance(signs, torch.Tensor):
        signs = signs.detach().cpu().numpy()
    array = np.asarray(signs, dtype=np.float64)
    if array.shape != (n_samples,) or not np.isin(array, (-1.0, 1.0)).all():
        raise ValueError(f"signs must be a ({n_samples},) vector of ±1, got shape {array.shape}")
    return array


def _check_method(method: str) -> str:
    if method not in ("auto", "exact", "monte carlo"):
        raise ValueError(f"method must be 'auto', 'exact' or 'monte carlo', got {method!r}")
    return method


def _reduce(X: np.ndarray) -> np.ndarray:
    """``X`` in coordinates of its column space: ``Qᵀ X``, ``(r, N)``, ``r = rank X``.

    ``w ∼ N(0, I)`` projected on an orthonormal basis ``Q`` of the column space is ``N(0, I_r)``, and only
    that projection decides the signs of ``wᵀ X``.
    """
    U, singular, _ = np.linalg.svd(X, full_matrices=False)
    rank = int((singular > singular[0] * max(X.shape) * np.finfo(float).eps).sum()) if singular.size else 0
    return U[:, :rank].T @ X


def _arcs(B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``2N`` arcs into which the lines ``⟂ bₙ`` cut the circle: their start angles, lengths and the unit
    vector at the middle of each, ``(2N,)``, ``(2N,)`` and ``(2N, 2)``. ``B: (2, N)``."""
    angles = np.arctan2(B[1], B[0])
    starts = np.sort(np.mod(np.concatenate([angles + np.pi / 2, angles - np.pi / 2]), 2 * np.pi))
    lengths = np.diff(np.append(starts, starts[0] + 2 * np.pi))
    middles = starts + lengths / 2
    return starts, lengths, np.stack([np.cos(middles), np.sin(middles)], axis=1)


def circle_arcs(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arcs of one unit's direction on the circle, for ``X: (2, N)``: start angles ``(2N,)``, lengths
    ``(2N,)`` and the sign pattern ``sign(wᵀX)`` on each ``(2N, N)``, to draw the regions. Chapter 4."""
    X = as_float64_matrix("X", X, rows=2)
    starts, lengths, middles = _arcs(X)
    return starts, lengths, np.sign(middles @ X)


def _arc_volume(B: np.ndarray) -> float:
    """``P(bₙᵀ w > 0 ∀n)`` for ``w ∼ N(0, I_2)``: the length of the arc where all hold, over ``2π``. ``B: (2, N)``."""
    _, lengths, middles = _arcs(B)
    inside = (middles @ B > 0).all(axis=1)
    return float(lengths[inside].sum() / (2 * np.pi))


def _spherical_polygon_volume(B: np.ndarray) -> float:
    """``P(bₙᵀ w > 0 ∀n)`` for ``w ∼ N(0, I_3)``: the spherical polygon's area over ``4π``. ``B: (3, N)``.

    The polygon's corners are the rays ``±(b_i × b_j)`` that satisfy every constraint. By Gauss–Bonnet its
    area is ``2π − Σ`` of its exterior angles, and the exterior angle at the corner where the sides
    ``b_iᵀw = 0`` and ``b_jᵀw = 0`` meet is the angle between ``b_i`` and ``b_j``, computed as
    ``atan2(|b_i × b_j|, b_i·b_j)``. Unlike a triangulation this needs no geodesics between corners, which
    are ill-conditioned when two corners are nearly antipodal (samples nearly in one plane). Where more
    than two sides meet at one corner (points not in general position) the sides of the polygon are the
    two whose normals are furthest apart, so the corner's exterior angle is the largest of its pairs.
    """
    unit = B / np.linalg.norm(B, axis=0)
    i, j = np.triu_indices(unit.shape[1], k=1)
    crosses = np.cross(unit[:, i].T, unit[:, j].T)
    sines = np.linalg.norm(crosses, axis=1)
    exterior = np.arctan2(sines, np.einsum("kn,kn->n", unit[:, i], unit[:, j]))
    keep = sines > 1e-12
    rays = crosses[keep] / sines[keep, None]
    rays, exterior = np.concatenate([rays, -rays]), np.concatenate([exterior[keep], exterior[keep]])
    corner = (rays @ unit >= -1e-12).all(axis=1)
    if not corner.any():
        return 0.0
    _, which = np.unique(np.round(rays[corner], 12), axis=0, return_inverse=True)
    angles = np.zeros(which.max() + 1)
    np.maximum.at(angles, which.reshape(-1), exterior[corner])
    return float(max(2 * np.pi - angles.sum(), 0.0) / (4 * np.pi))


def _exact_unit_volume(B: np.ndarray) -> float | None:
    """The exact volume of ``{w : Bᵀw > 0}`` after reduction to rank ≤ 3, or ``None`` above rank 3."""
    if np.any(np.linalg.norm(B, axis=0) == 0):
        return 0.0
    reduced = _reduce(B)
    rank = reduced.shape[0]
    if rank > _EXACT_RANK:
        return None
    if rank == 1:
        return 0.5 if (np.all(reduced > 0) or np.all(reduced < 0)) else 0.0
    return _arc_volume(reduced) if rank == 2 else _spherical_polygon_volume(reduced)


def _monte_carlo_unit_volume(B: np.ndarray, samples: int, seed: int | None, device=None) -> Volume:
    device = default_device() if device is None else torch.device(device)
    generator = torch_generator(seed, device)
    B_t = torch.from_numpy(B).to(device)
    hits, drawn = 0, 0
    while drawn < samples:
        size = min(_BATCH, samples - drawn)
        w = torch.randn(size, B.shape[0], generator=generator, dtype=torch.float64, device=device)
        hits += int(((w @ B_t) > 0).all(dim=1).sum())
        drawn += size
    p = hits / samples
    return Volume(p, math.sqrt(p * (1 - p) / samples), "monte carlo")


def unit_region_volume(X, signs, *, samples: int | None = None, seed: int | None = 0,
                       method: str = "auto") -> Volume:
    """``P_{w∼N(0, I_d0)}(sign(wᵀ x_n) = s_n ∀n)``: the angular volume of one unit's region.

    ``X: (d0, N)``, ``signs: (N,)`` of ±1. ``method="auto"`` is exact when ``rank X ≤ 3`` (an arc over ``2π``
    or a spherical polygon over ``4π``, in the column space of ``X``; an empty region gives 0) and otherwise a
    Monte Carlo estimate from ``samples`` draws (default 200,000) with its standard error; ``"exact"``
    refuses ranks above 3, ``"monte carlo"`` always samples. Chapter 4.
    """
    X = as_float64_matrix("X", X)
    signs = _check_signs(signs, X.shape[1])
    method = _check_method(method)
    samples = _DEFAULT_SAMPLES if samples is None else check_positive_int("samples", samples)
    B = X * signs
    if method != "monte carlo":
        value = _exact_unit_volume(B)
        if value is not None:
            return Volume(value, 0.0, "exact")
        if method == "exact":
            raise ValueError(f"method='exact' needs rank X ≤ {_EXACT_RANK}, got X of shape {X.shape} and higher rank")
    return _monte_carlo_unit_volume(B, samples, seed)


def region_volume(X, pattern, *, samples: int | None = None, seed: int | None = 0, method: str = "auto") -> Volume:
    """``V(D_A(X))`` for a whole pattern ``(d1, N)`` (``True``/1 where ``w_iᵀx_n > 0``): the product of the
    rows' :func:`unit_region_volume`, rows of ``W ∼ N`` being independent. A Monte Carlo product carries
    the standard error ``V · sqrt(Σ_i (se_i / v_i)²)`` (first order); where a factor is estimated as 0 it
    carries the bound ``Π_i (v_i + se_i)`` instead. Chapter 4.
    """
    X = as_float64_matrix("X", X)
    pattern = check_pattern(pattern, X.shape[1])
    rows, inverse = np.unique(pattern, axis=0, return_inverse=True)
    unit_volumes = [unit_region_volume(X, np.where(row, 1.0, -1.0), samples=samples,
                                       seed=None if seed is None else seed + index, method=method)
                    for index, row in enumerate(rows)]
    values = np.array([unit_volumes[k].value for k in inverse.reshape(-1)])
    errors = np.array([unit_volumes[k].standard_error for k in inverse.reshape(-1)])
    value = float(np.prod(values))
    exact = all(v.method == "exact" for v in unit_volumes)
    if exact or value == 0.0:
        return Volume(value, 0.0 if exact else float(np.prod(values + errors)), "exact" if exact else "monte carlo")
    return Volume(value, value * float(np.sqrt(np.sum((errors / values) ** 2))), "monte carlo")


def cover_count(n_samples: int, d0: int) -> int:
    """Cover's count of the sign patterns ``sign(wᵀX)`` of ``N`` points in general position in ``ℝ^{d0}``:
    ``2 Σ_{k<d0} C(N−1, k)`` (Soudry & Hoffer, Fact 29). Chapter 4."""
    n_samples = check_positive_int("n_samples", n_samples)
    d0 = check_positive_int("d0", d0)
    return 2 * sum(math.comb(n_samples - 1, k) for k in range(d0))


@dataclass
class UnitRegions:
    """Every region of one unit: ``signs: (K, N)`` of ±1 and their exact ``volumes: (K,)``. Chapter 4."""
    signs: np.ndarray
    volumes: np.ndarray


def regions(X) -> UnitRegions:
    """Every realisable sign pattern of one unit on ``X: (d0, N)`` with its exact angular volume.

    For ``rank X ≤ 3``: on the circle the ``2N`` boundaries ``⟂ x_n`` cut it into arcs; on the sphere each
    region is a polygon whose corners are rays ``±(x_i × x_j)``, so the four patterns around every such
    corner name all regions. For points in general position there are :func:`cover_count` of them and the
    volumes sum to one. Ordered by decreasing volume. Chapter 4.
    """
    X = as_float64_matrix("X", X)
    if np.any(np.linalg.norm(X, axis=0) == 0):
        raise ValueError("X has a zero column, which lies on the boundary of every region")
    reduced = _reduce(X)
    rank, n_samples = reduced.shape
    if rank > _EXACT_RANK:
        raise ValueError(f"regions needs rank X ≤ {_EXACT_RANK} (the circle or the sphere), got rank {rank}")
    if rank == 1:
        base = np.sign(reduced[0])
        candidates = [base, -base]
    elif rank == 2:
        candidates = list(np.sign(_arcs(reduced)[2] @ reduced))
    else:
        unit = reduced / np.linalg.norm(reduced, axis=0)
        candidates = []
        for i, j in itertools.combinations(range(n_samples), 2):
            ray = np.cross(unit[:, i], unit[:, j])
            if np.linalg.norm(ray) < 1e-12:
                continue
            for direction in (ray, -ray):
                base = np.sign(direction @ unit)
                for s_i, s_j in itertools.product((-1.0, 1.0), repeat=2):
                    pattern = base.copy()
                    pattern[i], pattern[j] = s_i, s_j
                    candidates.append(pattern)
    candidates = np.unique(np.array(candidates), axis=0)
    candidates = candidates[(candidates != 0).all(axis=1)]
    volumes = np.array([_exact_unit_volume(reduced * s) for s in candidates])
    keep = volumes > 0
    order = np.argsort(-volumes[keep], kind="stable")
    return UnitRegions(candidates[keep][order].astype(np.int8), volumes[keep][order])


def rank_criterion(A, X) -> bool:
    """Corollary 28: for ``N ≤ d1·d0``, ``rank(A∘X) = N`` for almost every ``X`` iff ``|S| ≤ rank(A_S)·d0``
    for every subset ``S`` of the samples. ``A: (d1, N)`` (slopes), ``X: (d0, N)`` (only ``d0`` matters).

    Checks all ``2^N`` subsets at once (``N ≤ 14``); ``False`` when ``N > d1·d0``. Chapter 4.
    """
    A = as_float64_matrix("A", A)
    X = as_float64_matrix("X", X)
    d1, n_samples = A.shape
    d0 = X.shape[0]
    if X.shape[1] != n_samples:
        raise ValueError(f"A and X must have the same number of columns, got {A.shape} and {X.shape}")
    if n_samples > 14:
        raise ValueError(f"rank_criterion enumerates 2^N subsets and takes N ≤ 14, got N = {n_samples}")
    return n_samples <= d1 * d0 and generic_rank(A, d0) == n_samples


_LEGENDRE = np.polynomial.legendre.leggauss(48)
_MAX_ORTHANT_DIMENSION = 5


def _orthant_closed_form(R: np.ndarray) -> np.ndarray:
    d = R.shape[-1]
    if d == 1:
        return np.full(R.shape[:-2], 0.5)
    if d == 2:
        return 0.25 + np.arcsin(R[..., 0, 1]) / (2 * np.pi)
    return 0.125 + (np.arcsin(R[..., 0, 1]) + np.arcsin(R[..., 0, 2]) + np.arcsin(R[..., 1, 2])) / (4 * np.pi)


def _block(M: np.ndarray, rows, cols) -> np.ndarray:
    return M[..., rows, :][..., cols]


_CORRELATION_TOLERANCE = 1e-10


def _check_correlation(R: np.ndarray) -> None:
    """A correlation matrix: finite, symmetric and with a unit diagonal to ``1e-10``, and positive
    semi-definite within round-off (its smallest eigenvalue above ``−1e-10·d``); else ``ValueError``."""
    d = R.shape[-1]
    if not np.all(np.isfinite(R)):
        raise ValueError("correlation contains NaN or inf")
    if not np.allclose(R, np.swapaxes(R, -1, -2), rtol=0, atol=_CORRELATION_TOLERANCE):
        raise ValueError("correlation must be symmetric")
    if not np.allclose(np.diagonal(R, axis1=-2, axis2=-1), 1.0, rtol=0, atol=_CORRELATION_TOLERANCE):
        raise ValueError("correlation must have a unit diagonal")
    smallest = np.linalg.eigvalsh(R)[..., 0].min()
    if smallest < -_CORRELATION_TOLERANCE * d:
        raise ValueError(f"correlation must be positive semi-definite, got an eigenvalue {smallest:.3g}")


def orthant_probability(correlation) -> np.ndarray:
    """``P(u > 0)`` for ``u ∼ N(0, R)``, for correlation matrices ``R: (..., d, d)``, ``d ≤ 5`` → ``(...)``.

    ``d ≤ 3`` in closed form (``¼ + asin ρ/2π``; ``⅛ + Σ asin ρ_ij/4π``). ``d = 4, 5`` by Plackett's
    reduction (1954): along ``R(t) = I + t(R − I)``,
    ``dP/dt = Σ_{i<j} ρ_ij φ₂(0, 0; tρ_ij) · P_{d−2}(R(t) of the others given u_i = u_j = 0)``, where
    ``φ₂(0, 0; r) = 1/(2π√(1 − r²))`` and the conditional orthant is of dimension ``d − 2 ≤ 3``, in closed
    form from the partial correlations (a Schur complement). The integral over ``t ∈ [0, 1]`` from
    ``P(I) = 2^{−d}`` is a 48-point Gauss–Legendre rule in ``τ`` with ``t = 1 − (1 − τ)²``, which
    smooths the square-root behaviour at ``t = 1`` of a singular ``R`` (``d1 > d0``): agreement with
    Genz's algorithm is ~1e-9, and the probabilities of all ``2^d`` orthants sum to one within ~1e-8 for
    singular ``R`` too (tested). A matrix that is not a correlation matrix (not finite, not symmetric, no
    unit diagonal, or an eigenvalue below ``−1e-10·d``) is a ``ValueError``. Chapter 4.
    """
    R = np.asarray(correlation, dtype=np.float64)
    if R.ndim < 2 or R.shape[-1] != R.shape[-2] or not 1 <= R.shape[-1] <= _MAX_ORTHANT_DIMENSION:
        raise ValueError(f"correlation must have shape (..., d, d) with 1 ≤ d ≤ {_MAX_ORTHANT_DIMENSION}, "
                         f"got {R.shape}")
    d = R.shape[-1]
    _check_correlation(R)
    if d <= 3:
        return _orthant_closed_form(R)
    eye = np.eye(d)
    total = np.full(R.shape[:-2], 2.0 ** -d)
    nodes, weights = _LEGENDRE
    tau = (nodes + 1) / 2  # t = 1 − (1 − τ)²: smooth in τ where R is singular and P(R(t)) ∼ √(1 − t)
    for t, weight in zip(1 - (1 - tau) ** 2, weights * (1 - tau)):
        Rt = eye + t * (R - eye)
        for i, j in itertools.combinations(range(d), 2):
            pair, rest = [i, j], [k for k in range(d) if k not in (i, j)]
            schur = _block(Rt, rest, rest) - _block(Rt, rest, pair) @ np.linalg.solve(
                _block(Rt, pair, pair), _block(Rt, pair, rest))
            scale = np.sqrt(np.clip(np.diagonal(schur, axis1=-2, axis2=-1), 1e-300, None))
            partial = np.clip(schur / (scale[..., :, None] * scale[..., None, :]), -1.0, 1.0)
            density = 1.0 / (2 * np.pi * np.sqrt(np.clip(1 - Rt[..., i, j] ** 2, 1e-300, None)))
            total = total + weight * R[..., i, j] * density * _orthant_closed_form(partial)
    return total


def _all_patterns(d1: int) -> np.ndarray:
    """Every sign pattern of ``d1`` units, ``(2^d1, d1)`` bool; row ``s`` has unit ``i`` active at bit ``i``."""
    return (np.arange(2 ** d1)[:, None] >> np.arange(d1)) & 1 == 1


def pattern_probabilities(W) -> np.ndarray:
    """``P_{x∼N(0, I)}(sign(W x) = s)`` for each of the ``2^{d1}`` patterns ``s``: ``W: (..., d1, d0)`` →
    ``(..., 2^{d1})``, pattern ``s`` at index ``Σ_i [unit i active] 2^i`` (:func:`_all_patterns`).

    ``Wx ∼ N(0, WWᵀ)``, so each is an orthant probability of the correlation of the rows of ``W`` with the
    rows' signs flipped where ``s`` is negative (:func:`orthant_probability`; ``d1 ≤ 5``). Chapter 4.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim < 2 or not 1 <= W.shape[-2] <= _MAX_ORTHANT_DIMENSION:
        raise ValueError(f"W must have shape (..., d1, d0) with 1 ≤ d1 ≤ {_MAX_ORTHANT_DIMENSION}, got {W.shape}")
    gram = W @ np.swapaxes(W, -1, -2)
    norms = np.sqrt(np.diagonal(gram, axis1=-2, axis2=-1))
    if np.any(norms == 0):
        raise ValueError("W has a zero row")
    R = gram / (norms[..., :, None] * norms[..., None, :])
    signs = np.where(_all_patterns(W.shape[-2]), 1.0, -1.0)  # (P, d1)
    flipped = R[..., None, :, :] * signs[:, :, None] * signs[:, None, :]
    return np.clip(orthant_probability(flipped), 0.0, 1.0)
