"""minima.volume and regions.region_minimum: exact volumes against sampling, Cover's count, the census."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minima
from minima import volume
from minima.rank import khatri_rao_rank
from minima.regions import activation_pattern, region_minimum, solve_in_region


@settings(max_examples=15, deadline=None)
@given(d0=st.sampled_from([2, 3]), n=st.integers(3, 9), seed=st.integers(0, 10_000))
def test_regions_match_cover_and_sum_to_one(d0, n, seed):
    X = minima.data.gaussian_binary(d0, n, seed=seed)[0]
    found = volume.regions(X)
    assert len(found.volumes) == volume.cover_count(n, d0)
    assert abs(found.volumes.sum() - 1) < 1e-10
    assert len(np.unique(found.signs, axis=0)) == len(found.signs)


def test_sphere_volumes_stay_exact_for_samples_nearly_in_one_plane():
    """Nearly coplanar samples put polygon corners nearly antipodal, where triangulating the polygon by
    geodesics loses digits; the exterior-angle formula must not (this data once summed to 1 + 2e-7)."""
    X = minima.data.gaussian_binary(3, 3, seed=1000)[0]
    assert np.linalg.svd(X.numpy(), compute_uv=False)[-1] < 1e-3  # nearly coplanar
    for scale in (1.0, 1e-2):  # smallest regions 6e-8 and 2e-10
        flat = X.clone()
        flat[2] *= scale
        found = volume.regions(flat)
        assert len(found.volumes) == volume.cover_count(3, 3)
        assert abs(found.volumes.sum() - 1) < 1e-12


@pytest.mark.parametrize("d0", [2, 3])
def test_exact_unit_volume_agrees_with_monte_carlo(d0):
    X = minima.data.gaussian_binary(d0, 7, seed=d0)[0]
    found = volume.regions(X)
    for k in (0, len(found.volumes) // 2, len(found.volumes) - 1):
        exact = volume.unit_region_volume(X, found.signs[k])
        assert exact.method == "exact" and exact.value == pytest.approx(found.volumes[k], abs=1e-12)
        sampled = volume.unit_region_volume(X, found.signs[k], method="monte carlo", samples=300_000, seed=k)
        assert sampled.method == "monte carlo"
        assert abs(sampled.value - exact.value) < 4.5 * max(sampled.standard_error, 1e-5)


def test_known_volumes():
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # the quarter plane w1 > 0, w2 > 0
    assert volume.unit_region_volume(X, [1, 1]).value == pytest.approx(0.25)
    X3 = torch.eye(3, dtype=torch.float64)
    assert volume.unit_region_volume(X3, [1, -1, 1]).value == pytest.approx(1 / 8)
    # two opposite samples with the same sign: an empty region
    assert volume.unit_region_volume(torch.tensor([[1.0, -1.0], [0.0, 0.0]]), [1, 1]).value == 0.0
    # a sample set of rank 1 in R^4 is exact too: half the space or nothing
    line = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    assert volume.unit_region_volume(line, [1, 1]) == volume.Volume(0.5, 0.0, "exact")


def test_high_dimension_falls_back_to_monte_carlo_with_its_error():
    X = minima.data.gaussian_binary(5, 6, seed=0)[0]
    result = volume.unit_region_volume(X, np.ones(6), samples=100_000)
    assert result.method == "monte carlo" and result.standard_error > 0
    with pytest.raises(ValueError, match="method='exact'"):
        volume.unit_region_volume(X, np.ones(6), method="exact")


def test_region_volume_is_the_product_of_rows_and_matches_direct_sampling():
    X = minima.data.gaussian_binary(2, 6, seed=3)[0]
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(300_000, 2, 2, generator=generator, dtype=torch.float64)
    patterns = (W @ X) > 0
    target = patterns[0]
    frequency = (patterns == target).flatten(1).all(dim=1).double().mean().item()
    product = volume.region_volume(X, target)
    rows = [volume.unit_region_volume(X, np.where(row, 1, -1)).value for row in target.numpy()]
    assert product.value == pytest.approx(rows[0] * rows[1])
    assert abs(frequency - product.value) < 4 * math.sqrt(product.value / 300_000)


def test_rank_criterion_agrees_with_the_numerical_rank():
    generator = np.random.default_rng(1)
    for trial in range(40):
        n = int(generator.integers(4, 10))
        A = np.where(generator.random((3, n)) < 0.5, 1.0, 0.3)
        if trial % 2:
            A[2] = A[0]
        X = generator.standard_normal((3, n))
        assert volume.rank_criterion(A, X) == (khatri_rao_rank(A, X) == n)
    assert not volume.rank_criterion(np.ones((2, 7)), np.ones((3, 7)))  # N > d0 d1


def test_region_minimum_matches_training_started_inside_the_region():
    """Train, move to the exact least-squares point of the region, compare with the untrained answer."""
    X, y = minima.data.gaussian_binary(3, 10, seed=1, labels="01")
    net = minima.LeakyReLUNet((3, 2), 0.2, ensemble=6, seed=0, dtype=torch.float64)
    minima.train(net, X, y, epochs=2000, lr=1e-2, stop_at_zero=False, progress=False)
    pattern = activation_pattern(net, X)
    compared = 0
    for member in range(net.ensemble):
        if not solve_in_region(net, X, y, member=member).converged:
            continue
        found = region_minimum(X, y, pattern[member], 0.2)
        trained_error = y - net.forward(X)[member].detach()
        assert found.exists and not found.empty
        assert torch.allclose(trained_error, found.error, atol=1e-10)
        compared += 1
    assert compared >= 3


def test_region_minimum_returns_a_minimum_inside_the_region():
    generator = np.random.default_rng(2)
    seen = 0
    for trial in range(25):
        X = generator.standard_normal((3, 6))
        y = generator.choice([0.0, 1.0], 6)
        W = generator.standard_normal((4, 3))
        pattern = (W @ X) > 0
        found = region_minimum(X, y, pattern, 0.2, labels="01")
        if not found.exists:
            continue
        seen += 1
        assert np.array_equal((found.W.numpy() @ X) > 0, pattern)
        outputs = minima.forward([found.W, found.z], torch.from_numpy(X), 0.2)
        assert torch.allclose(torch.from_numpy(y) - outputs, found.error, atol=1e-9)
        assert found.mse == pytest.approx(float(found.error @ found.error) / 6)
    assert seen > 5


def test_region_minimum_sees_an_empty_region_and_a_region_without_minimum():
    X = torch.tensor([[1.0, -1.0, 0.3], [0.2, -0.2, 1.0]], dtype=torch.float64)
    empty = region_minimum(X, torch.tensor([0.0, 1.0, 1.0]), [[1, 1, 1]], 0.1)
    assert empty.empty and not empty.exists
    # one ReLU unit, all three samples active: the unique least-squares fit v = (2/3, -1/3) has
    # v·x_1 > 0 > v·x_2, so it is neither in the unit's cone nor in its negative: no minimum there
    X = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    found = region_minimum(X, torch.tensor([1.0, 0.0, 0.0]), [[1, 1, 1]], 0.0)
    assert not found.exists and not found.empty


def test_sampled_census_agrees_with_the_exact_census():
    X, y = minima.data.gaussian_binary(2, 6, seed=4, labels="01")
    exact = volume.exact_census(X, y, 3, 0.2, progress=False)
    sampled = volume.landscape_census(X, y, 3, 0.2, samples=20_000, seed=0, device="cpu", progress=False)
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
    first = volume.landscape_census(X, y, 2, 0.1, samples=500, seed=3, device="cpu", progress=False)
    second = volume.landscape_census(X, y, 2, 0.1, samples=500, seed=3, device="cpu", progress=False)
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
    (lambda: volume.landscape_census(np.ones((2, 3)), [0, 1, 1], 0, 0.1, samples=10), "d1"),
    (lambda: volume.landscape_census(np.ones((2, 3)), [0, 1, 1], 2, 0.1, samples=10, epsilons=[1.5]),
     "epsilons"),
    (lambda: volume.landscape_census(np.ones((2, 3)), [[0, 1, 1]], 2, 0.1, samples=10), "y"),
    (lambda: region_minimum(np.ones((2, 3)), [0, 1], [[1, 1, 1]], 0.1), "y"),
    (lambda: region_minimum(np.ones((2, 3)), [0, 1, 1], [[1, 1]], 0.1), "pattern"),
    (lambda: region_minimum(np.zeros((2, 3)), [0, 1, 1], [[1, 1, 1]], 0.1), "zero column"),
])
def test_bad_input_is_refused_with_the_argument_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_circle_arcs_cover_the_circle_with_the_regions():
    X = minima.data.gaussian_binary(2, 5, seed=2)[0]
    starts, lengths, signs = volume.circle_arcs(X)
    assert lengths.sum() == pytest.approx(2 * np.pi) and np.all(np.diff(starts) > 0)
    found = volume.regions(X)
    for s, length in zip(signs, lengths):
        k = int(np.flatnonzero((found.signs == s).all(axis=1))[0])
        assert found.volumes[k] == pytest.approx(length / (2 * np.pi), abs=1e-12)
    with pytest.raises(ValueError, match="X"):
        volume.circle_arcs(np.ones((3, 4)))


# ---- the census in the regime d0 ∝ N: exact rank-deficient volume, conditional census ---------------------

def _random_correlations(generator, count, d, d0):
    W = generator.standard_normal((count, d, d0))
    gram = W @ W.transpose(0, 2, 1)
    norms = np.sqrt(np.diagonal(gram, axis1=1, axis2=2))
    return gram / (norms[:, :, None] * norms[:, None, :])


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_orthant_probability_agrees_with_genz(d):
    import scipy.stats
    generator = np.random.default_rng(d)
    for R in _random_correlations(generator, 2, d, d + 3):
        reference = scipy.stats.multivariate_normal.cdf(np.zeros(d), np.zeros(d), R, abseps=1e-9,
                                                        releps=1e-9, maxpts=2 * 10**6) if d > 1 else 0.5
        assert volume.orthant_probability(R) == pytest.approx(reference, abs=2e-7)


def test_orthant_probability_of_a_singular_correlation_agrees_with_sampling():
    generator = np.random.default_rng(0)
    W = generator.standard_normal((4, 3))  # four rows in R^3: WWᵀ has rank 3
    probabilities = volume.pattern_probabilities(W)
    draws = generator.standard_normal((400_000, 3)) @ W.T > 0
    codes = draws @ (2 ** np.arange(4))
    sampled = np.bincount(codes, minlength=16) / len(codes)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-7)
    assert np.all(np.abs(probabilities - sampled) < 4 * np.sqrt(sampled * (1 - sampled) / len(codes)) + 1e-4)


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
        by_counts = bool(volume._deficient_by_counts(torch.from_numpy(pattern), d0, rho))
        assert by_counts == (khatri_rao_rank(A, X) < n)
        if d0 * d1 >= n and rho != 0:
            assert by_counts == (not volume.rank_criterion(A, X))
        checked += 1
        deficient += by_counts
    assert checked == 120 and 10 < deficient < 110


@pytest.mark.parametrize("rho", [0.1, 0.0])
def test_rank_deficient_volume_agrees_with_brute_force(rho):
    d0, d1, n, draws = 4, 3, 8, 4000
    exact = volume.rank_deficient_volume(d0, d1, n, rho, samples=3000, seed=0)
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
    tiny = volume.rank_deficient_volume(40, 4, 80, 0.1, samples=600, seed=0)
    assert 0 < tiny.value < 1e-8 and tiny.standard_error < 0.1 * tiny.value
    again = volume.rank_deficient_volume(40, 4, 80, 0.1, samples=600, seed=1)
    assert abs(again.value - tiny.value) < 4 * math.hypot(tiny.standard_error, again.standard_error)


@pytest.mark.parametrize("rho", [0.1, 0.0])
def test_data_drawn_given_the_rank_loss_are_rank_deficient(rho):
    generator = np.random.default_rng(3)
    d0, d1, n = 5, 3, 10
    for _ in range(30):
        W = generator.standard_normal((d1, d0))
        wanted = volume._patterns_given_deficiency(volume.pattern_probabilities(W), d0, n, rho, generator)
        X = volume._data_with_patterns(W, wanted, generator)
        pattern = (W @ X) > 0
        assert np.array_equal(pattern.T @ (2 ** np.arange(d1)), wanted)
        assert khatri_rao_rank(np.where(pattern, 1.0, rho), X) < n


def test_averaged_census_conditional_agrees_with_plain_sampling():
    conditional = volume.averaged_census(3, 3, 6, 0.1, samples=300, deficient_samples=300, seed=0, progress=False)
    plain = volume.averaged_census(3, 3, 6, 0.1, samples=800, deficient_samples=2, seed=1, method="plain",
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
    full = volume.landscape_census(X, y, 3, 0.1, samples=1500, seed=0, device="cpu", progress=False, labels="01")
    screened = volume.landscape_census(X, y, 3, 0.1, samples=1500, seed=0, device="cpu", progress=False,
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
        volume.exact_census(X, y, 2, 0.1)


@pytest.mark.parametrize("call, match", [
    (lambda: volume.rank_deficient_volume(2, 3, 6, 0.1, samples=10), "2·d0 ≥ n"),
    (lambda: volume.rank_deficient_volume(4, 6, 8, 0.1, samples=10), "d1"),
    (lambda: volume.rank_deficient_volume(4, 3, 8, 0.1, samples=1), "samples"),
    (lambda: volume.averaged_census(4, 3, 8, 0.1, samples=2, deficient_samples=2, method="guess"), "method"),
    (lambda: volume.orthant_probability(np.eye(6)), "correlation"),
    (lambda: volume.orthant_probability(2 * np.eye(3)), "unit diagonal"),
    (lambda: volume.orthant_probability([[1, 2], [2, 1]]), "correlation must be positive semi-definite"),
    (lambda: volume.orthant_probability([[1, 0.5], [0.2, 1]]), "correlation must be symmetric"),
    (lambda: volume.orthant_probability([[1, np.nan], [np.nan, 1]]), "correlation contains NaN"),
    (lambda: volume.orthant_probability(np.full((4, 4), -0.5) + 1.5 * np.eye(4)),
     "correlation must be positive semi-definite"),
    (lambda: volume.decay_rate([1, 2, 3], [1.0, 0.5, 0.2], [0.1, -0.1, 0.1]), "errors must be"),
    (lambda: volume.decay_rate([1, 2, 3], [1.0, -0.5, 0.2], [0.1, 0.1, 0.1]), "values must be"),
    (lambda: volume.decay_rate([1, np.nan, 3], [1.0, 0.5, 0.2], [0.1, 0.1, 0.1]), "n contains NaN"),
    (lambda: volume.pattern_probabilities(np.zeros((2, 3))), "zero row"),
    (lambda: volume.landscape_census(np.ones((2, 6)), [0, 1] * 3, 2, 0.1, samples=5, full_rank_samples=2),
     "2·d0 ≥ N"),
])
def test_regime_functions_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_linear_network_loses_rank_exactly_when_d0_is_below_n():
    """ρ = 1: every column of A is 1, rank(A∘X) = rank X = min(d0, n); no NaN."""
    assert volume.rank_deficient_volume(5, 3, 10, 1.0, samples=10) == volume.Volume(
        1.0, 0.0, "exact: ρ = 1, rank(A∘X) = rank X")
    assert volume.rank_deficient_volume(10, 3, 10, 1.0, samples=10).value == 0.0
    X = np.random.default_rng(0).standard_normal((5, 10))
    khatri_rao = np.einsum("in,jn->ijn", np.ones((3, 10)), X).reshape(15, 10)  # columns a_n ⊗ x_n
    assert np.linalg.matrix_rank(khatri_rao) == 5 < 10


def test_orthant_probability_takes_a_singular_correlation_within_round_off():
    R = np.ones((4, 4)) - 1e-14 * np.eye(4)
    R[np.diag_indices(4)] = 1.0
    assert volume.orthant_probability(R) == pytest.approx(0.5, abs=1e-6)


def test_decay_rate_recovers_a_known_exponent_and_its_interval():
    generator = np.random.default_rng(0)
    n = np.arange(6, 61, 6)
    truth = 0.3 * np.exp(-0.17 * n)
    errors = 0.05 * truth
    covered = 0
    for _ in range(200):
        fit = volume.decay_rate(n, truth * (1 + 0.05 * generator.standard_normal(len(n))), errors)
        covered += fit.low <= 0.17 <= fit.high
    assert 180 <= covered <= 199  # a 95 % interval
    with pytest.raises(ValueError, match="three points"):
        volume.decay_rate([1, 2, 3], [1.0, 0.0, 0.0], [0.1, 0.1, 0.1])
