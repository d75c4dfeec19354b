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
:func:`landscape_census` samples ``W`` and asks :func:`minima.regions.region_minimum` what each region holds;
:func:`exact_census` enumerates all regions where that is possible. :func:`rank_criterion` is Corollary 28's
combinatorial test for ``rank(A∘X) = N``.

Averaged over Gaussian data, and where ``2·d0 ≥ N ≤ d0·d1`` (the regime ``d0 ∝ N`` of the paper's
Assumptions 3–4), Corollary 28 reduces rank loss to class counts: :func:`rank_deficient_volume` computes
its volume exactly given ``W`` (:func:`orthant_probability`, :func:`pattern_probabilities`) and averages
over ``W`` by importance sampling, so that volumes of ``10⁻⁴⁰`` are resolved; :func:`averaged_census`
adds what the rank-deficient regions hold, from data drawn conditionally on the rank loss.

Chapter 4.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.special
import scipy.stats
import torch
from tqdm.auto import tqdm

from ._checks import as_float64_matrix, check_positive_int, check_real, check_targets
from .device import default_device, progress_enabled, torch_generator
from .losses import threshold_of_labels
from .rank import generic_rank
from .regions import RegionMinimum, _region_minimum, check_pattern

__all__ = ["Volume", "unit_region_volume", "region_volume", "cover_count", "UnitRegions", "regions", "circle_arcs",
           "rank_criterion", "orthant_probability", "pattern_probabilities", "rank_deficient_volume", "Census",
           "landscape_census", "exact_census", "averaged_census", "DecayRate", "decay_rate"]

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


# A DLM has zero error when ‖e‖ ≤ 1e-9·√N·max(1, rms(y)): least squares by SVD leaves e at round-off, about
# 1e-15 relative, so this is zero to many orders and far below any genuine residual of 0/1 labels.
_ZERO_ERROR = 1e-9


@dataclass
class Census:
    """The landscape of one data set (or of Gaussian data on average), by region (Soudry & Hoffer, Def. 4).

    Every region is in exactly one class, by what its DLMs (which share one error ``e``, Lemma 2) do:

    * ``global_volume``: ``V(G)``, regions holding a global minimum, a DLM with ``e = 0`` (MSE 0);
    * ``correct_volume``: regions whose DLM classifies every sample correctly but has ``e ≠ 0``. The
      paper's footnote 3 defines ``G`` by MCE 0 and so counts these in ``G``; this census keeps them apart
      (``global_volume + correct_volume`` is the footnote's ``G``);
    * ``bad_volume[k]``: ``V(L_ε)`` for ``ε = epsilons[k]``, regions holding a DLM with MCE ``> ε``, so
      ``L_0`` is every sub-optimal DLM that misclassifies at least one sample;
    * ``no_minimum_volume``: regions holding no DLM.

    ``global + correct + bad[ε = 0] + none = 1``. With ``d0·d1 ≥ N`` and ``rank(A∘X) = N`` every DLM has
    ``e = 0``, so ``correct`` and ``bad`` lie in the rank-deficient regions, whose volume is
    ``deficient_volume`` where the census computes it (``nan`` otherwise). Each volume has a standard
    error (0 for an exact census). ``samples`` draws of ``W`` visited ``distinct_regions`` regions (up to a
    permutation of the units); ``programmes`` regions were decided by :func:`minima.regions.region_minimum`.

    Chapter 4.
    """
    epsilons: np.ndarray
    global_volume: float
    global_error: float
    correct_volume: float
    correct_error: float
    bad_volume: np.ndarray
    bad_error: np.ndarray
    no_minimum_volume: float
    no_minimum_error: float
    samples: int
    distinct_regions: int
    method: str
    deficient_volume: float = math.nan
    deficient_error: float = math.nan
    programmes: int = 0

    def ratio(self, index: int = 0) -> float:
        """``V(L_ε)/V(G)`` for ``ε = epsilons[index]`` (``inf`` when ``V(G) = 0``). Chapter 4."""
        if self.global_volume == 0:
            return math.inf
        return float(self.bad_volume[index] / self.global_volume)


def _check_epsilons(epsilons) -> np.ndarray:
    epsilons = np.asarray(epsilons, dtype=np.float64)
    if epsilons.ndim != 1 or epsilons.size == 0 or np.any((epsilons < 0) | (epsilons >= 1)):
        raise ValueError(f"epsilons must be a non-empty list of numbers in [0, 1), got {epsilons!r}")
    return epsilons


def _check_census(X, y, d1, rho, epsilons, labels):
    X = as_float64_matrix("X", X)
    y = check_targets("y", y, ((X.shape[1],),)).double().cpu().numpy()
    d1 = check_positive_int("d1", d1)
    rho = check_real("rho", rho)
    epsilons = _check_epsilons(epsilons)
    if np.any(np.linalg.norm(X, axis=0) == 0):
        raise ValueError("X has a zero column, which lies on the boundary of every region")
    return X, y, d1, rho, epsilons, threshold_of_labels(torch.from_numpy(y), labels)


def _classify(result: RegionMinimum, y: np.ndarray, epsilons: np.ndarray) -> tuple[bool, bool, np.ndarray, bool]:
    """(holds a global minimum, a correct DLM with e ≠ 0, a DLM with MCE > ε for each ε, no DLM)."""
    if not result.exists:
        return False, False, np.zeros(len(epsilons), dtype=bool), True
    scale = max(1.0, float(np.mean(y ** 2)))
    zero_error = result.mse <= _ZERO_ERROR ** 2 * scale
    return zero_error, (not zero_error) and result.mce == 0, result.mce > epsilons, False


def _deficient_by_counts(patterns: torch.Tensor, d0: int, rho: float) -> torch.Tensor:
    """Corollary 28 where ``2·d0 ≥ N``: is ``rank(A∘X) < N`` (X-a.e.), for bool patterns ``(..., d1, N)``?

    Subsets of slope rank ≥ 2 satisfy ``|S| ≤ N ≤ 2·d0`` always, so only rank ≤ 1 subsets count: the rank
    drops exactly when more than ``d0`` samples have proportional columns of ``A`` (equal patterns; the
    all-active and all-inactive columns ``1`` and ``ρ·1`` are proportional too), or, for ReLU, when one
    sample has the zero column (rank 0). ``ρ = 1`` makes every column ``1``: one class.
    """
    d1 = patterns.shape[-2]
    powers = 2 ** torch.arange(d1, device=patterns.device, dtype=torch.long)
    codes = (patterns.long() * powers[:, None]).sum(dim=-2)  # (..., N)
    full = 2 ** d1 - 1
    if rho == 1:
        codes = torch.zeros_like(codes)
    elif rho != 0:
        codes = torch.where(codes == 0, full, codes)
    ordered = codes.sort(dim=-1).values
    same = ordered[..., 1:] == ordered[..., :-1]
    runs = same.long().cumsum(dim=-1)
    resets = torch.where(same, torch.zeros_like(runs), runs).cummax(dim=-1).values
    largest = (runs - resets).max(dim=-1).values + 1 if codes.shape[-1] > 1 else torch.ones(codes.shape[:-1])
    deficient = largest > d0
    if rho == 0:
        deficient |= (codes == 0).any(dim=-1)
    return deficient


def _pack(pattern: torch.Tensor) -> torch.Tensor:
    """Bool ``(..., N)`` → int64 ``(..., ⌈N/62⌉)``: each row's bits as integers, for hashing rows."""
    n_samples = pattern.shape[-1]
    words = -(-n_samples // 62)
    padded = torch.nn.functional.pad(pattern.long(), (0, words * 62 - n_samples))
    powers = 2 ** torch.arange(62, device=pattern.device, dtype=torch.long)
    return (padded.reshape(*pattern.shape[:-1], words, 62) * powers).sum(dim=-1)


class _Tally:
    """Weighted counts of the census classes; ``add(weight, result)`` for each decided region."""

    def __init__(self, epsilons: np.ndarray):
        self.epsilons = epsilons
        self.rows: list[np.ndarray] = []  # per draw: (global, correct, bad..., none) × weight

    def add(self, weight: float, result: RegionMinimum, y: np.ndarray) -> None:
        is_global, is_correct, is_bad, is_none = _classify(result, y, self.epsilons)
        self.rows.append(weight * np.concatenate([[is_global, is_correct], is_bad, [is_none]]).astype(float))

    def totals(self) -> np.ndarray:
        return np.sum(self.rows, axis=0) if self.rows else np.zeros(len(self.epsilons) + 3)


def _census_from(epsilons, values, errors, samples, distinct, method, programmes,
                 deficient=(math.nan, math.nan)) -> Census:
    k = len(epsilons)
    return Census(epsilons, float(values[0]), float(errors[0]), float(values[1]), float(errors[1]),
                  np.asarray(values[2:2 + k], dtype=float), np.asarray(errors[2:2 + k], dtype=float),
                  float(values[-1]), float(errors[-1]), samples, distinct, method,
                  float(deficient[0]), float(deficient[1]), programmes)


def _binomial(p, samples):
    """A fraction of ``samples`` draws and its standard error, from ``(k + ½)/(n + 1)`` so that a count
    of none or of all draws still carries an error (about ``1/(2n)``) instead of a false zero."""
    p = np.asarray(p, dtype=float)
    smoothed = (p * samples + 0.5) / (samples + 1)
    return p, np.sqrt(smoothed * (1 - smoothed) / samples)


def landscape_census(X, y, d1: int, rho: float, *, samples: int, seed: int | None = 0,
                     epsilons=(0.0, 0.1, 0.25), labels: str | None = None, full_rank_samples: int | None = None,
                     device=None, progress: bool | None = None) -> Census:
    """Estimate the census of one data set (:class:`Census`) by sampling ``W ∼ N``.

    Each of ``samples`` draws of ``W: (d1, d0)`` lands in one region; the draws are made and their patterns
    computed as one tensor programme on ``device``, the patterns are made canonical (units sorted, since
    permuting units permutes regions without changing what they hold) and deduplicated, and
    :func:`minima.regions.region_minimum` decides each distinct region once. The fractions of draws are
    unbiased estimates, with binomial standard errors (:func:`_binomial`). ``X: (d0, N)``, ``y: (N,)``; ``labels`` states the
    labelling (``"01"`` or ``"pm1"``; needed when ``y`` holds one label value).

    ``full_rank_samples=m`` (where ``2·d0 ≥ N ≤ d0·d1``) first decides the rank of every draw's ``A∘X``
    by Corollary 28's class counts, batched: a full-rank region can hold only a global minimum or no DLM
    (Lemma 2), so every rank-deficient region is decided, but only ``m`` full-rank draws chosen uniformly
    at random; ``V(G ∩ full rank)`` is then ``(F/S)·(g/m)`` (``F`` full-rank draws of ``S``, ``g`` of the
    ``m`` holding a global minimum), unbiased, with its delta-method error. Chapter 4.
    """
    X, y, d1, rho, epsilons, threshold = _check_census(X, y, d1, rho, epsilons, labels)
    samples = check_positive_int("samples", samples)
    d0, n_samples = X.shape
    screen = full_rank_samples is not None
    if screen:
        full_rank_samples = check_positive_int("full_rank_samples", full_rank_samples)
        if 2 * d0 < n_samples or d0 * d1 < n_samples:
            raise ValueError(f"full_rank_samples needs 2·d0 ≥ N ≤ d0·d1 (Corollary 28 by class counts), got "
                             f"d0 = {d0}, d1 = {d1}, N = {n_samples}")
    device = default_device() if device is None else torch.device(device)
    generator = torch_generator(seed, device)
    X_t = torch.from_numpy(X).to(device)
    codes = []
    for start in range(0, samples, _BATCH):
        size = min(_BATCH, samples - start)
        W = torch.randn(size, d1, d0, generator=generator, dtype=torch.float64, device=device)
        codes.append(_pack(W @ X_t > 0))
    codes = torch.cat(codes)  # (samples, d1, words)
    unit_codes, unit_ids = torch.unique(codes.reshape(-1, codes.shape[-1]), dim=0, return_inverse=True)
    canonical = unit_ids.reshape(samples, d1).sort(dim=1).values
    region_ids, draw_region, counts = torch.unique(canonical, dim=0, return_inverse=True, return_counts=True)
    bits = ((unit_codes[:, :, None] >> torch.arange(62, device=device)) & 1).reshape(len(unit_codes), -1)
    unit_patterns = bits[:, :n_samples].bool()
    weights = counts.double().cpu().numpy()
    decide = np.arange(len(region_ids))
    deficient = np.zeros(len(region_ids), dtype=bool)
    full_draws = 0
    if screen:
        deficient = _deficient_by_counts(unit_patterns[region_ids], d0, rho).cpu().numpy()
        full = ~deficient[draw_region.cpu().numpy()]
        full_draws = int(full.sum())
        chosen = torch.randperm(full_draws, generator=torch_generator(None if seed is None else seed + 1))
        picked = np.flatnonzero(full)[chosen[:full_rank_samples].numpy()]
        picked_regions, picked_counts = np.unique(draw_region.cpu().numpy()[picked], return_counts=True)
        full_weights = np.zeros(len(region_ids))
        full_weights[picked_regions] = picked_counts
        weights = np.where(deficient, weights, full_weights)
        decide = np.flatnonzero(deficient | (full_weights > 0))
    progress = progress_enabled() if progress is None else progress
    unit_patterns = unit_patterns.cpu().numpy()
    region_ids = region_ids.cpu().numpy()
    tallies = {True: _Tally(epsilons), False: _Tally(epsilons)}  # rank-deficient, full rank (screened)
    for index in tqdm(decide, desc="regions", disable=not progress):
        result = _region_minimum(X, y, unit_patterns[region_ids[index]], rho, threshold, known_nonempty=True)
        tallies[bool(deficient[index]) or not screen].add(weights[index], result, y)
    values, errors = _binomial(tallies[True].totals() / samples, samples)
    if screen and full_draws:
        m = min(full_rank_samples, full_draws)
        share, share_error = _binomial(full_draws / samples, samples)
        hits, hit_errors = _binomial(tallies[False].totals() / m, m)  # only global and none are non-zero
        values = values + share * hits
        errors = np.sqrt(errors ** 2 + (share * hit_errors) ** 2 + (hits * share_error) ** 2)
    return _census_from(epsilons, values, errors, samples, len(region_ids),
                        "monte carlo, full rank subsampled" if screen else "monte carlo", len(decide))


def exact_census(X, y, d1: int, rho: float, *, epsilons=(0.0, 0.1, 0.25), labels: str | None = None,
                 progress: bool | None = None) -> Census:
    """The census of :func:`landscape_census` computed exactly, by enumerating every region.

    Needs ``rank X ≤ 3`` (:func:`regions`). The ``K`` regions of one unit give ``C(K + d1 − 1, d1)`` regions
    of the layer up to a permutation of its units; each is weighted by its exact volume times the number of
    unit orderings that give it. ``X: (d0, N)``, ``y: (N,)``. Chapter 4.
    """
    X, y, d1, rho, epsilons, threshold = _check_census(X, y, d1, rho, epsilons, labels)
    units = regions(X)
    tally = _Tally(epsilons)
    progress = progress_enabled() if progress is None else progress
    combinations = list(itertools.combinations_with_replacement(range(len(units.volumes)), d1))
    for combination in tqdm(combinations, desc="regions", disable=not progress):
        orderings = math.factorial(d1)
        for repeats in np.unique(combination, return_counts=True)[1]:
            orderings //= math.factorial(int(repeats))
        volume = orderings * float(np.prod(units.volumes[list(combination)]))
        pattern = units.signs[list(combination)] > 0
        tally.add(volume, _region_minimum(X, y, pattern, rho, threshold, known_nonempty=True), y)
    totals = tally.totals()
    return _census_from(epsilons, totals, np.zeros_like(totals), 0, len(combinations), "exact", len(combinations))


# ---- averaged over Gaussian data, in the regime 2·d0 ≥ N ≤ d0·d1 -------------------------------------------

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


def _rank_classes(d1: int, rho: float) -> tuple[np.ndarray, int | None]:
    """Class of each pattern under proportionality of its slope column, and the rank-0 pattern (ReLU)."""
    classes = np.arange(2 ** d1)
    if rho == 1:
        return np.zeros(2 ** d1, dtype=int), None
    if rho == 0:
        return classes, 0
    classes[0] = 2 ** d1 - 1  # all inactive, ρ·1, is proportional to all active, 1
    return classes, None


def _class_sums(probabilities: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.unique(classes)
    return np.stack([probabilities[..., classes == c].sum(axis=-1) for c in labels], axis=-1), labels


def _deficiency(probabilities: np.ndarray, d0: int, n: int, rho: float):
    """``P(rank(A∘X) < N | W)`` and its parts, from pattern probabilities ``(M, 2^d1)``.

    Given ``W`` the samples' patterns are i.i.d. draws from ``probabilities``; with ``2·d0 ≥ N`` at most one
    class can hold more than ``d0`` samples, so the events "class c holds more than d0" are disjoint and
    ``P = Σ_c P(Bin(N, q_c) > d0)``. For ReLU a sample with the zero column alone drops the rank:
    ``P = 1 − (1 − q_0)^N + (1 − q_0)^N Σ_{c live} P(Bin(N, q_c/(1 − q_0)) > d0)``.
    Returns ``(total (M,), dead (M,), per-class tails (M, C), class labels, class probabilities (M, C))``.
    """
    classes, dead_pattern = _rank_classes(probabilities.shape[-1].bit_length() - 1, rho)
    if dead_pattern is None:
        q, labels = _class_sums(probabilities, classes)
        tails = scipy.stats.binom.sf(d0, n, q)
        return tails.sum(axis=-1), np.zeros(len(q)), tails, labels, q
    q0 = probabilities[..., dead_pattern]
    live = classes != dead_pattern
    q, labels = _class_sums(probabilities[..., live], classes[live])
    alive = np.clip(1 - q0, 1e-300, None)
    none_dead = np.exp(n * np.log1p(-np.clip(q0, 0, 1 - 1e-16)))
    tails = none_dead[:, None] * scipy.stats.binom.sf(d0, n, np.clip(q / alive[:, None], 0, 1))
    dead = -np.expm1(n * np.log1p(-np.clip(q0, 0, 1 - 1e-16)))
    return dead + tails.sum(axis=-1), dead, tails, labels, q / alive[:, None]


# The proposal for W: rows with a shared component, w_i = √(1−β) g_i + √β h, β on this grid, mixed
# equally. Correlated rows make one class of patterns likely, which is where rank loss happens; β = 0 is
# the target itself, so every weight is at most the number of components.
_TILTS = np.linspace(0.0, 0.6, 13)


def _tilted_weights(M: int, d1: int, d0: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``M`` draws of ``W: (d1, d0)`` from the tilted mixture and their weights ``p(W)/q(W)``."""
    component = generator.integers(len(_TILTS), size=M)
    beta = _TILTS[component][:, None, None]
    W = np.sqrt(1 - beta) * generator.standard_normal((M, d1, d0)) + np.sqrt(beta) * generator.standard_normal(
        (M, 1, d0))
    gram = W @ np.swapaxes(W, -1, -2)
    logs = []
    for b in _TILTS:
        covariance = (1 - b) * np.eye(d1) + b * np.ones((d1, d1))
        logs.append(-0.5 * d0 * np.linalg.slogdet(covariance)[1]
                    - 0.5 * np.einsum("ij,mji->m", np.linalg.inv(covariance), gram))
    log_proposal = scipy.special.logsumexp(np.stack(logs), axis=0) - math.log(len(_TILTS))
    return W, np.exp(-0.5 * np.einsum("mii->m", gram) - log_proposal)


def _check_regime(d0, d1, n, rho):
    d0, d1, n = (check_positive_int(name, value) for name, value in (("d0", d0), ("d1", d1), ("n", n)))
    rho = check_real("rho", rho)
    if d1 > _MAX_ORTHANT_DIMENSION:
        raise ValueError(f"d1 must be at most {_MAX_ORTHANT_DIMENSION} (orthant probabilities), got {d1}")
    if 2 * d0 < n or d0 * d1 < n:
        raise ValueError(f"the exact computation needs 2·d0 ≥ n and d0·d1 ≥ n (Corollary 28 by class counts), "
                         f"got d0 = {d0}, d1 = {d1}, n = {n}")
    return d0, d1, n, rho


def _mean_and_error(terms: np.ndarray) -> tuple[float, float]:
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms))) if len(terms) > 1 else math.inf


def rank_deficient_volume(d0: int, d1: int, n: int, rho: float, *, samples: int, seed: int | None = 0) -> Volume:
    """``P_{X, W}(rank(A∘X) < n)`` over Gaussian ``X: (d0, n)`` and ``W ∼ N``: the angular volume of the
    rank-deficient regions averaged over data, an upper bound on ``E V(L_0)`` (Lemma 2: a DLM with
    ``e ≠ 0`` needs ``(A∘X) e = 0``).

    Derivation (for ``2·d0 ≥ n ≤ d0·d1``). Rank loss given ``A`` happens X-a.e. exactly when Corollary 28's
    criterion fails, and that needs a class of proportional columns of ``A`` holding more than ``d0``
    samples (:func:`_deficient_by_counts`). Given ``W`` the samples' patterns are i.i.d., pattern ``s``
    with the orthant probability :func:`pattern_probabilities`, so ``P(rank < n | W)`` is a sum of
    binomial tails, exact (:func:`_deficiency`). The average over ``W`` is by importance sampling from
    ``samples`` draws of a mixture that tilts the rows towards a shared direction (the tail is dominated by
    ``W`` with correlated rows); the standard error is the weighted terms' sample standard deviation over
    ``√samples``, about 2–6 % at 2,000 samples for values from 1e-1 down to 1e-40. ``method`` is
    ``"exact given W, importance-sampled over W"``. For ``ρ = 1`` (a linear network) every column of ``A``
    is ``1``, ``rank(A∘X) = rank X = min(d0, n)``, and the volume is exactly 1 if ``d0 < n``, else 0.
    Chapter 4.
    """
    d0, d1, n, rho = _check_regime(d0, d1, n, rho)
    samples = check_positive_int("samples", samples, minimum=2)
    if rho == 1:
        return Volume(float(d0 < n), 0.0, "exact: ρ = 1, rank(A∘X) = rank X")
    W, weights = _tilted_weights(samples, d1, d0, np.random.default_rng(seed))
    total = _deficiency(pattern_probabilities(W), d0, n, rho)[0]
    value, error = _mean_and_error(weights * total)
    return Volume(value, error, "exact given W, importance-sampled over W")


def _truncated_binomial(n: int, q: float, low: int, generator: np.random.Generator) -> int:
    """A draw of ``Bin(n, q)`` conditioned on being at least ``low``."""
    values = np.arange(low, n + 1)
    logs = scipy.stats.binom.logpmf(values, n, q)
    p = np.exp(logs - logs.max())
    return int(generator.choice(values, p=p / p.sum()))


def _patterns_given_deficiency(probabilities: np.ndarray, d0: int, n: int, rho: float,
                               generator: np.random.Generator) -> np.ndarray:
    """The ``n`` samples' pattern indices drawn from their law given ``W`` and given ``rank(A∘X) < n``."""
    total, dead, tails, labels, q = _deficiency(probabilities[None], d0, n, rho)
    total, dead, tails, q = total[0], dead[0], tails[0], q[0]  # one W; the class labels are shared
    classes, dead_pattern = _rank_classes(probabilities.shape[-1].bit_length() - 1, rho)
    p = probabilities / probabilities.sum()
    if dead_pattern is not None and generator.random() < dead / total:
        forced, count, allowed = np.array([dead_pattern]), _truncated_binomial(n, p[dead_pattern], 1, generator), \
            classes != dead_pattern
    else:
        which = generator.choice(len(labels), p=tails / tails.sum())
        members = np.flatnonzero(classes == labels[which])
        count = _truncated_binomial(n, float(q[which]), d0 + 1, generator)
        forced = members
        allowed = classes != labels[which]
        if dead_pattern is not None:
            allowed &= classes != dead_pattern
    inside = generator.choice(forced, size=count, p=p[forced] / p[forced].sum())
    rest = np.flatnonzero(allowed)
    outside = generator.choice(rest, size=n - count, p=p[rest] / p[rest].sum()) if n > count else []
    return np.concatenate([inside, outside]).astype(int)


def _data_with_patterns(W: np.ndarray, wanted: np.ndarray, generator: np.random.Generator,
                        limit: int = 20_000_000) -> np.ndarray:
    """``X: (d0, n)`` with ``x_n ∼ N(0, I)`` conditioned on ``sign(W x_n) = pattern wanted[n]``, by rejection."""
    d1, d0 = W.shape
    powers = 2 ** np.arange(d1)
    X = np.empty((d0, len(wanted)))
    missing = {int(s): list(np.flatnonzero(wanted == s)) for s in np.unique(wanted)}
    drawn = 0
    while missing:
        batch = generator.standard_normal((max(256, 8 * len(wanted)), d0))
        drawn += len(batch)
        codes = ((batch @ W.T) > 0) @ powers
        for s in list(missing):
            found = batch[codes == s]
            slots = missing[s]
            take = min(len(found), len(slots))
            X[:, slots[:take]] = found[:take].T
            del slots[:take]
            if not slots:
                del missing[s]
        if drawn > limit:
            raise RuntimeError(f"could not draw samples with the patterns {sorted(missing)} in {limit} draws")
    return X


def averaged_census(d0: int, d1: int, n: int, rho: float, *, samples: int, deficient_samples: int,
                    seed: int | None = 0, epsilons=(0.0, 0.1, 0.25), method: str = "conditional",
                    progress: bool | None = None) -> Census:
    """The census averaged over data: ``E_X`` of each class's volume, for ``X: (d0, n)`` Gaussian and
    labels ``y ∈ {0, 1}^n`` uniform (the MCE threshold ½), in the regime ``2·d0 ≥ n ≤ d0·d1``.

    ``method="conditional"`` splits every volume at the rank of ``A∘X``:

    * full rank (Lemma 2: a DLM has ``e = 0``, so the region holds a global minimum or no DLM):
      ``samples`` independent draws of ``(X, y, W)``; each draw decided full rank by Corollary 28's class
      counts is decided by :func:`minima.regions.region_minimum`, and the rank-deficient ones are left to
      the second part. The full-rank volume ``1 − V(rank loss)`` is known from the second part, so the
      draws estimate only its split into global minima and no DLM (a stratified estimate, whose
      classes sum to one within the rank-deficient part's error);
    * rank-deficient: ``deficient_samples`` draws of ``W`` from :func:`rank_deficient_volume`'s tilted
      mixture, each with its weight ``p/q`` and its exact ``P(rank < n | W)``, and for each one data set
      drawn from its law given ``W`` and the rank loss (the forced class's count from a truncated
      binomial, the other patterns from theirs, each ``x_n`` Gaussian given its pattern); the region of
      ``W`` on it is decided by ``region_minimum``. ``E[weight · P(rank < n | W) · 1{class}]`` is the
      class's rank-deficient volume, unbiased, so ``V(L_ε)`` is resolved however small it is.

    ``method="plain"`` decides all ``samples`` draws and nothing else: the brute-force estimate to check
    the first against. ``deficient_volume`` is the rank-deficient volume from the same draws. Chapter 4.
    """
    d0, d1, n, rho = _check_regime(d0, d1, n, rho)
    samples = check_positive_int("samples", samples)
    deficient_samples = check_positive_int("deficient_samples", deficient_samples, minimum=2)
    epsilons = _check_epsilons(epsilons)
    if method not in ("conditional", "plain"):
        raise ValueError(f"method must be 'conditional' or 'plain', got {method!r}")
    generator = np.random.default_rng(seed)
    progress = progress_enabled() if progress is None else progress
    plain, plain_deficient, programmes = _Tally(epsilons), 0, 0
    for _ in tqdm(range(samples), desc="full-rank draws", disable=not progress):
        X = generator.standard_normal((d0, n))
        y = generator.integers(0, 2, n).astype(np.float64)
        W = generator.standard_normal((d1, d0))
        pattern = (W @ X) > 0
        deficient = bool(_deficient_by_counts(torch.from_numpy(pattern), d0, rho))
        plain_deficient += deficient
        if deficient and method == "conditional":
            continue
        plain.add(1.0, _region_minimum(X, y, pattern, rho, 0.5, known_nonempty=True), y)
        programmes += 1
    values, errors = _binomial(plain.totals() / samples, samples)
    deficient = _binomial(plain_deficient / samples, samples)
    if method == "plain":
        return _census_from(epsilons, values, errors, samples, samples, "plain", programmes, deficient)
    W_all, weights = _tilted_weights(deficient_samples, d1, d0, generator)
    probabilities = pattern_probabilities(W_all)
    totals = _deficiency(probabilities, d0, n, rho)[0]
    conditional = _Tally(epsilons)
    for W, weight, total, p in tqdm(list(zip(W_all, weights, totals, probabilities)), desc="rank-deficient draws",
                                    disable=not progress):
        if total <= 0:
            conditional.rows.append(np.zeros(len(epsilons) + 3))
            continue
        X = _data_with_patterns(W, _patterns_given_deficiency(p, d0, n, rho, generator), generator)
        y = generator.integers(0, 2, n).astype(np.float64)
        conditional.add(weight * total, _region_minimum(X, y, (W @ X) > 0, rho, 0.5, known_nonempty=True), y)
        programmes += 1
    rows = np.array(conditional.rows)
    part, part_error = rows.mean(axis=0), rows.std(axis=0, ddof=1) / math.sqrt(len(rows))
    deficient = _mean_and_error(weights * totals)
    # full rank: its volume 1 − V(rank loss) is known, so only the split among the classes is sampled
    full_draws = samples - plain_deficient
    share, share_error = _binomial(plain.totals() / max(full_draws, 1), max(full_draws, 1))
    values = (1 - deficient[0]) * share
    errors = np.hypot((1 - deficient[0]) * share_error, share * deficient[1])
    return _census_from(epsilons, values + part, np.hypot(errors, part_error), samples, samples + deficient_samples,
                        "conditional", programmes, deficient)


@dataclass(frozen=True)
class DecayRate:
    """The fit ``log V ≈ a − rate·N``: ``rate`` per sample, its standard error and 95 % interval. Chapter 4."""
    rate: float
    standard_error: float
    low: float
    high: float
    points: int


def decay_rate(n, values, errors) -> DecayRate:
    """Fit ``V(N) ≈ C exp(−rate·N)`` to volumes ``values`` with standard errors ``errors`` at sizes ``n``.

    Weighted least squares of ``log V`` on ``N`` with weights ``(V/σ)²`` (the delta method's variance of
    ``log V`` is ``(σ/V)²``); the slope's standard error is scaled by ``max(1, χ²/(k − 2))^{1/2}`` so that
    scatter beyond the stated errors widens it, and the interval uses Student's t with ``k − 2`` degrees of
    freedom. Only points with ``V > 0`` enter; at least three are needed. Chapter 4.
    """
    arrays = {}
    for name, value in (("n", n), ("values", values), ("errors", errors)):
        try:
            arrays[name] = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a sequence of numbers, got {type(value).__name__}") from exc
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{name} contains NaN or inf")
    n, values, errors = arrays["n"], arrays["values"], arrays["errors"]
    if not n.shape == values.shape == errors.shape:
        raise ValueError(f"n, values and errors must have one length, got {n.shape}, {values.shape}, {errors.shape}")
    if np.any(values < 0):
        raise ValueError(f"values must be volumes, at least 0, got {values[values < 0][0]:.3g}")
    if np.any(errors < 0):
        raise ValueError(f"errors must be standard errors, at least 0, got {errors[errors < 0][0]:.3g}")
    keep = (values > 0) & (errors > 0)
    if keep.sum() < 3:
        raise ValueError(f"decay_rate needs at least three points with values > 0 and errors > 0, "
                         f"got {int(keep.sum())}")
    x, logs, weights = n[keep], np.log(values[keep]), (values[keep] / errors[keep]) ** 2
    design = np.stack([np.ones_like(x), x], axis=1)
    normal = design.T @ (weights[:, None] * design)
    coefficients = np.linalg.solve(normal, design.T @ (weights * logs))
    residuals = logs - design @ coefficients
    dof = len(x) - 2
    scale = max(1.0, float(weights @ residuals ** 2) / dof) if dof > 0 else 1.0
    error = math.sqrt(np.linalg.inv(normal)[1, 1] * scale)
    t = float(scipy.stats.t.ppf(0.975, dof)) if dof > 0 else math.inf
    rate = -float(coefficients[1])
    return DecayRate(rate, error, rate - t * error, rate + t * error, len(x))
