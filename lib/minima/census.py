"""The census of what differentiable regions hold, sampled and averaged over data (Soudry & Hoffer 2018).

:mod:`minima.volume` measures regions: their angular volume, Cover's count, Corollary 28's rank test, the
orthant probabilities of activation patterns. This module asks what the regions *hold*, and how much of
the weight space does. :func:`landscape_census` samples ``W`` for one data set and asks
:func:`minima.regions.region_minimum` what each region holds; :func:`exact_census` enumerates every
region where that is possible.

Averaged over Gaussian data, and where ``2·d0 ≥ N ≤ d0·d1`` (the regime ``d0 ∝ N`` of the paper's
Assumption 3), Corollary 28 reduces rank loss to class counts: :func:`rank_deficient_volume` computes its
volume exactly given ``W`` and averages over ``W`` by importance sampling, so that volumes of ``10⁻⁴⁰``
are resolved; :func:`averaged_census` adds what the rank-deficient regions hold, from data drawn
conditionally on the rank loss. :func:`decay_rate` fits the effective rate of a volume over a range of
``N``, and :func:`rank_loss_rate` computes the large-``N`` rate of the rank-deficient volume at
``d0 = κN`` by a large-deviation argument.

Chapter 4.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats
import torch
from tqdm.auto import tqdm

from ._checks import as_float64_matrix, check_positive_int, check_real, check_targets
from .device import default_device, progress_enabled, torch_generator
from .losses import threshold_of_labels
from .regions import RegionMinimum, _region_minimum
from .volume import _BATCH, _MAX_ORTHANT_DIMENSION, Volume, orthant_probability, pattern_probabilities, regions

__all__ = ["Census", "landscape_census", "exact_census", "rank_deficient_volume", "averaged_census",
           "DecayRate", "decay_rate", "RankLossRate", "rank_loss_rate", "bernoulli_kl", "region_class",
           "REGION_CLASSES"]

REGION_CLASSES = ("global minimum", "correct, e ≠ 0", "sub-optimal DLM", "no DLM")
"""The four classes of region the census counts, in the order of :func:`region_class`."""

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


def region_class(result: RegionMinimum, y) -> str:
    """What a region holds, by the census's rule: one of :data:`REGION_CLASSES` (a global minimum is a DLM
    with ``e = 0``; a DLM that classifies every sample with ``e ≠ 0`` is kept apart). ``result`` from
    :func:`minima.regions.region_minimum`, ``y: (N,)``. Chapter 4."""
    is_global, is_correct, is_bad, is_none = _classify(result, np.asarray(y, dtype=float), np.zeros(1))
    return REGION_CLASSES[[is_global, is_correct, bool(is_bad[0]), is_none].index(True)]


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


@dataclass(frozen=True)
class RankLossRate:
    """The large-``N`` rate of the rank-deficient volume at ``d0 = κN`` (:func:`rank_loss_rate`):
    ``P(rank(A∘X) < N) = exp(−rate·N + o(N))``; ``correlation`` is the correlation ``r*`` of the rows of
    ``W`` that dominates, ``class_probability`` the probability ``q(r*)`` of the merged all-on/all-off
    class there, ``kl_rate`` the Kullback–Leibler part and ``weight_rate`` the part ``−(κ/2)·log det R``.
    Chapter 4."""
    rate: float
    correlation: float
    class_probability: float
    kl_rate: float
    weight_rate: float


def bernoulli_kl(kappa: float, q: float) -> float:
    """``KL(κ ‖ q)`` of Bernoulli laws, the rate of ``P(Bin(N, q) ≥ κN)`` for ``q < κ``; 0 for ``q ≥ κ``.
    Chapter 4."""
    if q >= kappa:
        return 0.0
    return kappa * math.log(kappa / q) + (1 - kappa) * math.log((1 - kappa) / (1 - q))


def _equicorrelated(d1: int, r: float) -> np.ndarray:
    return (1 - r) * np.eye(d1) + r * np.ones((d1, d1))


def rank_loss_rate(kappa: float, d1: int, rho: float) -> RankLossRate:
    """The large-``N`` exponential rate of :func:`rank_deficient_volume` at ``d0 = κN``, ``d1`` fixed,
    leaky ReLU ``0 < ρ < 1``:

        −(1/N) log P(rank(A∘X) < N) → min_R [ −(κ/2)·log det R + KL(κ ‖ q(R)) ],

    ``R: (d1, d1)`` the correlation matrix of the rows of ``W``, ``q(R) = 2·P(u > 0)`` for ``u ∼ N(0, R)``
    the probability that a sample falls in the merged class of the all-active and all-inactive patterns
    (``ρ·1`` is proportional to ``1``), and ``KL(κ ‖ q)`` the Bernoulli divergence (0 for ``q ≥ κ``).

    Derivation. Given ``W``, rank loss is the event that one class of proportional columns of ``A`` holds
    more than ``d0 = κN`` samples (Corollary 28 with ``2·d0 ≥ N``); the count of a class with probability
    ``q < κ`` exceeds ``κN`` with probability ``exp(−N·KL(κ‖q) + O(log N))`` (Chernoff–Hoeffding, sharp).
    The rows of ``W`` are ``d1`` Gaussian vectors in ``ℝ^{d0}``; their correlation matrix has the density
    ``∝ det(R)^{(d0 − d1 − 1)/2}`` (Wishart), i.e. ``exp((κN/2)·log det R + O(log N))``, and the norms of
    the rows do not enter the patterns. Laplace's method over ``R`` (Varadhan's lemma: both terms are
    continuous in the interior, and ``log det R → −∞`` keeps the minimiser off the boundary) gives the
    formula. Where it needs care: (i) single patterns other than the merged one have probability
    ``P(u > 0)`` of a sign-flipped ``R``, never more than half of the merged class's best, so they never
    dominate; (ii) the ``O(log N)`` terms (a binomial prefactor ``N^{−1/2}``, the Laplace integral over
    the ``d1(d1−1)/2`` correlations) shift the local slope ``−d log V/dN`` by ``O(1/N)``, so finite-``N``
    slopes approach the rate from above or below like ``a/N``; (iii) the minimum is over all correlation
    matrices, and by the symmetry of both terms under permutations of the units it is attained at an
    equicorrelated ``R = (1 − r)I + r·11ᵀ`` (the tests check this against an unrestricted minimisation
    for ``d1 = 3``), so the minimisation is over ``r ∈ [0, 1)``; (iv) ReLU (``ρ = 0``) adds the dead
    pattern, whose single sample already drops the rank, and ``ρ = 1`` has one class: both are refused.

    ``kappa ∈ [1/2, 1)`` (the regime ``2·d0 ≥ N``) with ``κ·d1 ≥ 1``; ``2 ≤ d1 ≤ 5``. Chapter 4.
    """
    kappa = check_real("kappa", kappa, low=0.5, high=1.0, high_open=True)
    d1 = check_positive_int("d1", d1, minimum=2)
    rho = check_real("rho", rho, low=0.0, high=1.0, low_open=True, high_open=True)
    if d1 > _MAX_ORTHANT_DIMENSION:
        raise ValueError(f"d1 must be at most {_MAX_ORTHANT_DIMENSION} (orthant probabilities), got {d1}")
    if kappa * d1 < 1:
        raise ValueError(f"kappa·d1 must be at least 1 (d0·d1 ≥ N), got kappa = {kappa}, d1 = {d1}")

    def parts(r: float) -> tuple[float, float, float]:
        R = _equicorrelated(d1, r)
        q = min(1.0, 2 * float(orthant_probability(R)))
        return -0.5 * kappa * float(np.linalg.slogdet(R)[1]), bernoulli_kl(kappa, q), q

    result = scipy.optimize.minimize_scalar(lambda r: sum(parts(r)[:2]), bounds=(0.0, 1 - 1e-9),
                                            method="bounded", options={"xatol": 1e-10})
    weight, kl, q = parts(float(result.x))
    return RankLossRate(weight + kl, float(result.x), q, kl, weight)
