"""minima.volume and regions.region_minimum: exact volumes against sampling, Cover's count, orthant probabilities."""
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


def test_orthant_probability_takes_a_singular_correlation_within_round_off():
    R = np.ones((4, 4)) - 1e-14 * np.eye(4)
    R[np.diag_indices(4)] = 1.0
    assert volume.orthant_probability(R) == pytest.approx(0.5, abs=1e-6)
