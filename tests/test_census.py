"""minima.census: what regions hold (sampled and exact censuses), the rank-deficient volume averaged over data,
the conditional census, and the fitted and large-N rates."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch

import minima
from minima import census, volume
from minima.rank import khatri_rao_rank
from minima.regions import region_minimum

def test_sampled_census_agrees_with_the_exact_census():
    X, y = minima.data.gaussian_binary(2, 6, seed=4, labels="01")
    exact = census.exact_census(X, y, 3, 0.2, progress=False)
    sampled = census.landscape_census(X, y, 3, 0.2, samples=20_000, seed=0, device="cpu", progress=False)
    assert exact.method == "exact" and sampled.method == "monte carlo"
    total = exact.global_volume + exact.correct_volume + exact.bad_volume[0] + exact.no_minimum_volume
    assert total == pytest.approx(1.0, abs=1e-9)
    # regions whose DLM classifies all samples but has e ≠ 0 exist, and are not counted in G
    assert exact.correct_volume > 0.01
    assert abs(sampled.correct_volume - exact.correct_volume) < 4.5 * sampled.correct_error + 1e-4
    assert abs(sampled.global_volume - exact.global_volume) < 4.5 * sampled.global_error + 1e-4
    assert abs(sampled.no_minimum_volume - exact.no_minimum_volume) < 4.5 * sampled.no_minimum_error + 1e-4
    assert np.all(np.abs(sampled.bad_volume - exact.bad_volume) < 4.5 * sampled.bad_error + 1e-4)
    assert np.all(np.diff(exact.bad_volume) <= 0)  # L_eps shrinks as eps grows


def test_census_is_reproducible():
    X, y = minima.data.gaussian_binary(3, 6, seed=0, labels="01")
    first = census.landscape_census(X, y, 2, 0.1, samples=500, seed=3, device="cpu", progress=False)
    second = census.landscape_census(X, y, 2, 0.1, samples=500, seed=3, device="cpu", progress=False)
    assert (first.global_volume, first.no_minimum_volume, first.distinct_regions) == \
        (second.global_volume, second.no_minimum_volume, second.distinct_regions)
    assert np.array_equal(first.bad_volume, second.bad_volume)


@pytest.mark.parametrize("call, match", [
    (lambda: volume.unit_region_volume(np.ones((2, 3)), [1, 0, 1]), "signs"),
    (lambda: volume.unit_region_volume(np.ones((2, 3)), [1, 1, 1], method="guess"), "method"),
    (lambda: volume.unit_region_volume(np.ones((2, 3)), [1, 1, 1], samples=0), "samples"),
    (lambda: volume.region_volume(np.ones((2, 3)), np.ones((2, 4))), "pattern"),
    (lambda: volume.region_volume(np.ones((2, 3)), np.full((2, 3), 2)), "pattern"),
    (lambda: volume.regions(np.random.default_rng(0).standard_normal((5, 8))), "rank"),
    (lambda: volume.regions(np.zeros((2, 3))), "zero column"),
    (lambda: volume.rank_criterion(np.ones((2, 15)), np.ones((3, 15))), "N ≤ 14"),
    (lambda: volume.cover_count(0, 2), "n_samples"),
    (lambda: census.landscape_census(np.ones((2, 3)), [0, 1, 1], 0, 0.1, samples=10), "d1"),
    (lambda: census.landscape_census(np.ones((2, 3)), [0, 1, 1], 2, 0.1, samples=10, epsilons=[1.5]),
     "epsilons"),
    (lambda: census.landscape_census(np.ones((2, 3)), [[0, 1, 1]], 2, 0.1, samples=10), "y"),
    (lambda: region_minimum(np.ones((2, 3)), [0, 1], [[1, 1, 1]], 0.1), "y"),
    (lambda: region_minimum(np.ones((2, 3)), [0, 1, 1], [[1, 1]], 0.1), "pattern"),
    (lambda: region_minimum(np.zeros((2, 3)), [0, 1, 1], [[1, 1, 1]], 0.1), "zero column"),
])
def test_bad_input_is_refused_with_the_argument_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_class_counts_decide_rank_as_corollary_28_and_the_numerical_rank_do():
    generator = np.random.default_rng(1)
    checked = deficient = 0
    for trial in range(120):
        d1 = int(generator.integers(2, 4))
        n = int(generator.integers(4, 11))
        d0 = int(generator.integers(-(-n // 2), n + 1))
        rho = [0.0, 0.1, 1.0][trial % 3]
        X = generator.standard_normal((d0, n))
        W = generator.standard_normal((d1, d0))
        if trial % 4 == 0:
            W[1] = 2.0 * W[0]  # two units with one pattern: many proportional columns
        pattern = (W @ X) > 0
        A = np.where(pattern, 1.0, rho)
        by_counts = bool(census._deficient_by_counts(torch.from_numpy(pattern), d0, rho))
        assert by_counts == (khatri_rao_rank(A, X) < n)
        if d0 * d1 >= n and rho != 0:
            assert by_counts == (not volume.rank_criterion(A, X))
        checked += 1
        deficient += by_counts
    assert checked == 120 and 10 < deficient < 110


@pytest.mark.parametrize("rho", [0.1, 0.0])
def test_rank_deficient_volume_agrees_with_brute_force(rho):
    d0, d1, n, draws = 4, 3, 8, 4000
    exact = census.rank_deficient_volume(d0, d1, n, rho, samples=3000, seed=0)
    generator = np.random.default_rng(5)
    low = 0
    for _ in range(draws):
        X = generator.standard_normal((d0, n))
        W = generator.standard_normal((d1, d0))
        low += khatri_rao_rank(np.where((W @ X) > 0, 1.0, rho), X) < n
    p = low / draws
    assert exact.standard_error < 0.05 * exact.value
    assert abs(p - exact.value) < 4 * math.hypot(math.sqrt(p * (1 - p) / draws), exact.standard_error)


def test_rank_deficient_volume_resolves_tiny_volumes_with_a_stated_error():
    tiny = census.rank_deficient_volume(40, 4, 80, 0.1, samples=600, seed=0)
    assert 0 < tiny.value < 1e-8 and tiny.standard_error < 0.1 * tiny.value
    again = census.rank_deficient_volume(40, 4, 80, 0.1, samples=600, seed=1)
    assert abs(again.value - tiny.value) < 4 * math.hypot(tiny.standard_error, again.standard_error)


@pytest.mark.parametrize("rho", [0.1, 0.0])
def test_data_drawn_given_the_rank_loss_are_rank_deficient(rho):
    generator = np.random.default_rng(3)
    d0, d1, n = 5, 3, 10
    for _ in range(30):
        W = generator.standard_normal((d1, d0))
        wanted = census._patterns_given_deficiency(volume.pattern_probabilities(W), d0, n, rho, generator)
        X = census._data_with_patterns(W, wanted, generator)
        pattern = (W @ X) > 0
        assert np.array_equal(pattern.T @ (2 ** np.arange(d1)), wanted)
        assert khatri_rao_rank(np.where(pattern, 1.0, rho), X) < n


def test_averaged_census_conditional_agrees_with_plain_sampling():
    conditional = census.averaged_census(3, 3, 6, 0.1, samples=300, deficient_samples=300, seed=0, progress=False)
    plain = census.averaged_census(3, 3, 6, 0.1, samples=800, deficient_samples=2, seed=1, method="plain",
                                   progress=False)
    for a, b in [(conditional.global_volume, plain.global_volume), (conditional.bad_volume, plain.bad_volume),
                 (conditional.correct_volume, plain.correct_volume), (conditional.deficient_volume,
                                                                      plain.deficient_volume)]:
        assert np.all(np.abs(np.asarray(a) - np.asarray(b)) < 0.05)
    total = (conditional.global_volume + conditional.correct_volume + conditional.bad_volume[0]
             + conditional.no_minimum_volume)
    assert total == pytest.approx(1.0, abs=0.05)
    assert np.all(conditional.bad_volume <= conditional.deficient_volume + 1e-12)
    for a, se_a, b, se_b in [(conditional.bad_volume[0], conditional.bad_error[0], plain.bad_volume[0],
                              plain.bad_error[0]),
                             (conditional.deficient_volume, conditional.deficient_error, plain.deficient_volume,
                              plain.deficient_error)]:
        assert abs(a - b) < 4 * math.hypot(se_a, se_b)


def test_screened_census_agrees_with_the_full_census():
    X, y = minima.data.gaussian_binary(4, 8, seed=2, labels="01")
    full = census.landscape_census(X, y, 3, 0.1, samples=1500, seed=0, device="cpu", progress=False, labels="01")
    screened = census.landscape_census(X, y, 3, 0.1, samples=1500, seed=0, device="cpu", progress=False,
                                       labels="01", full_rank_samples=150)
    assert screened.programmes < full.programmes
    assert np.array_equal(screened.bad_volume, full.bad_volume)  # every rank-deficient region is decided
    assert screened.correct_volume == full.correct_volume
    for name in ("global", "no_minimum"):
        a, se = getattr(screened, f"{name}_volume"), getattr(screened, f"{name}_error")
        assert abs(a - getattr(full, f"{name}_volume")) < 4 * se + 1e-9


def test_one_class_labels_need_the_labelling_stated():
    X = torch.tensor([[1.0, 0.5, 0.2, 0.9], [0.1, 0.7, 0.3, -0.2]], dtype=torch.float64)
    y = torch.ones(4, dtype=torch.float64)
    pattern = [[1, 1, 1, 1]]
    with pytest.raises(ValueError, match="labels"):
        region_minimum(X, y, pattern, 0.1)
    as_01 = region_minimum(X, y, pattern, 0.1, labels="01")
    as_pm1 = region_minimum(X, y, pattern, 0.1, labels="pm1")
    fitted = (y - as_01.error).numpy()
    assert as_01.mce == np.mean(fitted <= 0.5) and as_pm1.mce == np.mean(fitted <= 0.0)
    with pytest.raises(ValueError, match="labels"):
        region_minimum(X, y - 2, pattern, 0.1, labels="01")
    with pytest.raises(ValueError, match="labels"):
        census.exact_census(X, y, 2, 0.1)


@pytest.mark.parametrize("call, match", [
    (lambda: census.rank_deficient_volume(2, 3, 6, 0.1, samples=10), "2·d0 ≥ n"),
    (lambda: census.rank_deficient_volume(4, 6, 8, 0.1, samples=10), "d1"),
    (lambda: census.rank_deficient_volume(4, 3, 8, 0.1, samples=1), "samples"),
    (lambda: census.averaged_census(4, 3, 8, 0.1, samples=2, deficient_samples=2, method="guess"), "method"),
    (lambda: volume.orthant_probability(np.eye(6)), "correlation"),
    (lambda: volume.orthant_probability(2 * np.eye(3)), "unit diagonal"),
    (lambda: volume.orthant_probability([[1, 2], [2, 1]]), "correlation must be positive semi-definite"),
    (lambda: volume.orthant_probability([[1, 0.5], [0.2, 1]]), "correlation must be symmetric"),
    (lambda: volume.orthant_probability([[1, np.nan], [np.nan, 1]]), "correlation contains NaN"),
    (lambda: volume.orthant_probability(np.full((4, 4), -0.5) + 1.5 * np.eye(4)),
     "correlation must be positive semi-definite"),
    (lambda: census.decay_rate([1, 2, 3], [1.0, 0.5, 0.2], [0.1, -0.1, 0.1]), "errors must be"),
    (lambda: census.decay_rate([1, 2, 3], [1.0, -0.5, 0.2], [0.1, 0.1, 0.1]), "values must be"),
    (lambda: census.decay_rate([1, np.nan, 3], [1.0, 0.5, 0.2], [0.1, 0.1, 0.1]), "n contains NaN"),
    (lambda: volume.pattern_probabilities(np.zeros((2, 3))), "zero row"),
    (lambda: census.landscape_census(np.ones((2, 6)), [0, 1] * 3, 2, 0.1, samples=5, full_rank_samples=2),
     "2·d0 ≥ N"),
])
def test_regime_functions_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_linear_network_loses_rank_exactly_when_d0_is_below_n():
    """ρ = 1: every column of A is 1, rank(A∘X) = rank X = min(d0, n); no NaN."""
    assert census.rank_deficient_volume(5, 3, 10, 1.0, samples=10) == volume.Volume(
        1.0, 0.0, "exact: ρ = 1, rank(A∘X) = rank X")
    assert census.rank_deficient_volume(10, 3, 10, 1.0, samples=10).value == 0.0
    X = np.random.default_rng(0).standard_normal((5, 10))
    khatri_rao = np.einsum("in,jn->ijn", np.ones((3, 10)), X).reshape(15, 10)  # columns a_n ⊗ x_n
    assert np.linalg.matrix_rank(khatri_rao) == 5 < 10


def test_decay_rate_recovers_a_known_exponent_and_its_interval():
    generator = np.random.default_rng(0)
    n = np.arange(6, 61, 6)
    truth = 0.3 * np.exp(-0.17 * n)
    errors = 0.05 * truth
    covered = 0
    for _ in range(200):
        fit = census.decay_rate(n, truth * (1 + 0.05 * generator.standard_normal(len(n))), errors)
        covered += fit.low <= 0.17 <= fit.high
    assert 180 <= covered <= 199  # a 95 % interval
    with pytest.raises(ValueError, match="three points"):
        census.decay_rate([1, 2, 3], [1.0, 0.0, 0.0], [0.1, 0.1, 0.1])


@pytest.mark.parametrize("kappa, d1", [(1 / 2, 3), (2 / 3, 3)])
def test_rank_loss_rate_is_the_slope_of_the_exact_volume_at_large_n(kappa, d1):
    """The large-deviation rate against the exact volume's local slope between N = 120 and 200.

    The O(log N) terms of the volume (a binomial N^(−1/2), the Laplace integral over the correlations)
    shift a local slope by a·log(200/120)/80 = 0.0064·a; |a| ≤ 1.5 allows 0.0096. The importance
    sampler's 3 % standard errors add sqrt(2)·0.03/80 < 0.001. So 0.01 is the tolerance."""
    rate = census.rank_loss_rate(kappa, d1, 0.1)
    values = [census.rank_deficient_volume(round(kappa * n), d1, n, 0.1, samples=4000, seed=n).value
              for n in (120, 200)]
    slope = math.log(values[0] / values[1]) / 80
    assert abs(slope - rate.rate) < 0.01, (slope, rate)


def test_rank_loss_rate_is_attained_at_equicorrelated_rows():
    """The minimum over every 3×3 correlation matrix equals the one over equicorrelated ones."""
    kappa = 1 / 2

    def objective(x):
        R = np.eye(3)
        R[0, 1], R[0, 2], R[1, 2] = x
        R = np.triu(R) + np.triu(R, 1).T
        if np.linalg.eigvalsh(R)[0] <= 1e-9:
            return 10.0
        q = 2 * float(volume.orthant_probability(R))
        kl = 0.0 if q >= kappa else kappa * math.log(kappa / q) + (1 - kappa) * math.log((1 - kappa) / (1 - q))
        return -kappa / 2 * np.linalg.slogdet(R)[1] + kl

    best = min(scipy.optimize.minimize(objective, start, method="Nelder-Mead",
                                       options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000}).fun
               for start in [(0.1, 0.2, 0.3), (0.5, 0.1, -0.2), (-0.2, 0.4, 0.6)])
    rate = census.rank_loss_rate(kappa, 3, 0.1)
    assert best == pytest.approx(rate.rate, abs=1e-7)
    assert rate.rate == pytest.approx(rate.weight_rate + rate.kl_rate)
    assert 0 < rate.correlation < 1 and rate.class_probability < kappa


def test_rank_loss_rate_grows_with_the_width_and_with_kappa_and_refuses_bad_input():
    rates = {(k, d1): census.rank_loss_rate(k, d1, 0.1).rate for k in (1 / 2, 2 / 3) for d1 in (3, 4)}
    assert rates[1 / 2, 3] < rates[1 / 2, 4] and rates[1 / 2, 3] < rates[2 / 3, 3] < rates[2 / 3, 4]
    # the slope of leaky-ReLU's own ρ does not enter (only proportionality of the classes does)
    assert census.rank_loss_rate(1 / 2, 3, 0.5).rate == pytest.approx(rates[1 / 2, 3])
    for call, match in [(lambda: census.rank_loss_rate(0.4, 3, 0.1), "kappa"),
                        (lambda: census.rank_loss_rate(1.0, 3, 0.1), "kappa"),
                        (lambda: census.rank_loss_rate(0.5, 1, 0.1), "d1"),
                        (lambda: census.rank_loss_rate(0.5, 6, 0.1), "d1"),
                        (lambda: census.rank_loss_rate(0.5, 3, 0.0), "rho"),
                        (lambda: census.rank_loss_rate(0.5, 3, 1.0), "rho"),
                        (lambda: census.rank_loss_rate(0.5, 1.5, 0.1), "d1")]:
        with pytest.raises(ValueError, match=match):
            call()
