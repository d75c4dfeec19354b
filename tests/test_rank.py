import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.rank import gram_tolerance, khatri_rao, khatri_rao_gram, khatri_rao_rank, khatri_rao_singular_values


def _explicit_rank(A, X):
    return int(np.linalg.matrix_rank(scipy.linalg.khatri_rao(np.asarray(A, float), np.asarray(X, float))))


@given(d0=st.integers(1, 6), d1=st.integers(1, 6), n=st.integers(1, 40), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_khatri_rao_matches_scipy(d0, d1, n, seed):
    rng = np.random.default_rng(seed)
    A, X = rng.standard_normal((d1, n)), rng.standard_normal((d0, n))
    assert np.allclose(khatri_rao(A, X), scipy.linalg.khatri_rao(A, X))
    as_tensor = khatri_rao(torch.from_numpy(A), torch.from_numpy(X))
    assert isinstance(as_tensor, torch.Tensor) and np.allclose(as_tensor.numpy(), scipy.linalg.khatri_rao(A, X))
    M = scipy.linalg.khatri_rao(A, X)
    assert np.allclose(khatri_rao_gram(A, X).numpy(), M.T @ M)


@pytest.mark.parametrize("block", [1, 7, 30, 256])
@pytest.mark.parametrize("library", ["blas", "torch"])
def test_the_certificates_lower_gram_is_the_grams_lower_triangle(monkeypatch, block, library):
    from minima import rank

    monkeypatch.setattr(rank, "_LOWER_GRAM_BLOCK", block)  # 7: four blocks of rows, the last one short
    rng = np.random.default_rng(7)
    A, X = rng.standard_normal((3, 30)), rng.standard_normal((4, 30))
    if library == "blas":
        lower = rank._blas_lower_gram(A, X).numpy()
    else:
        lower = rank._torch_lower_gram(A, X, torch.device("cpu")).numpy()
    full = khatri_rao_gram(A, X).numpy()
    rows, columns = np.tril_indices(30)
    assert np.allclose(lower[rows, columns], full[rows, columns], rtol=1e-13, atol=1e-13)


def _degenerate(kind, rng, d0, d1, n, rho):
    X = rng.standard_normal((d0, n))
    W = rng.standard_normal((d1, d0))
    A = np.where(W @ X > 0, 1.0, rho)
    if kind == "constant":          # all-negative pre-activations: every slope is rho
        A = np.full((d1, n), rho if rho != 0 else 1.0)
    elif kind == "repeated_rows":   # two units with the same activation pattern
        A[1:] = A[:1]
    elif kind == "low_rank_X":
        X = rng.standard_normal((d0, 1)) @ rng.standard_normal((1, n))
        A = np.where(W @ X > 0, 1.0, rho)
    elif kind == "duplicated":      # the same sample twice
        X[:, -1] = X[:, 0]
        A[:, -1] = A[:, 0]
    elif kind == "zero_sample":
        X[:, 0] = 0.0
    return A, X


@given(kind=st.sampled_from(["generic", "constant", "repeated_rows", "low_rank_X", "duplicated", "zero_sample"]),
       d0=st.integers(2, 7), d1=st.integers(2, 7), n=st.integers(2, 60), rho=st.sampled_from([0.0, 0.1, -1.0, 0.5]),
       method=st.sampled_from(["cholesky", "eigh"]), certificate=st.booleans(), seed=st.integers(0, 10_000))
@settings(max_examples=150, deadline=None)
def test_rank_agrees_with_numpy_matrix_rank(kind, d0, d1, n, rho, method, certificate, seed):
    A, X = _degenerate(kind, np.random.default_rng(seed), d0, d1, n, rho)
    assert khatri_rao_rank(A, X, method=method, certificate=certificate) == _explicit_rank(A, X)


def _nearly_dependent(delta, rng, d0=4, d1=3, n=12):
    """Generic slopes and inputs with the last sample a δ-perturbed copy of the first: σ_min ∝ δ."""
    A, X = rng.standard_normal((d1, n)), rng.standard_normal((d0, n))
    A[:, -1] = A[:, 0]
    X[:, -1] = X[:, 0] + delta * rng.standard_normal(d0)
    return A, X


@pytest.mark.parametrize("seed", range(3))
def test_the_certificate_decides_as_the_pivoted_factorisation_near_the_threshold(seed):
    """Across the module's threshold (σ ≈ 1e-7 σ_max here) the certified rank is the pivoted one's.

    Where the certificate alone proves full rank, the eigenvalue rule agrees too (λ_min is above the
    threshold); near the threshold the pivoted and eigenvalue rules may differ from each other, as before.
    """
    rng = np.random.default_rng(seed)
    decisions, proofs = set(), set()
    for delta in np.logspace(-4, -11, 57):
        A, X = _nearly_dependent(delta, rng)
        certified = khatri_rao_rank(A, X)
        assert certified == khatri_rao_rank(A, X, certificate=False)
        proved = _proved(A, X, None)
        if proved:
            assert khatri_rao_rank(A, X, method="eigh", certificate=False) == 12
        decisions.add(certified)
        proofs.add(proved)
    assert decisions == {11, 12} and proofs == {True, False}  # both sides of the threshold were met


def test_the_certificate_honours_an_explicit_tolerance():
    rng = np.random.default_rng(4)
    A, X = _nearly_dependent(1e-3, rng)
    smallest = np.linalg.svd(scipy.linalg.khatri_rao(A, X), compute_uv=False)[-1]
    below, above = smallest * (1 - 1e-6), smallest * (1 + 1e-6)
    assert khatri_rao_rank(A, X, tol=below) == khatri_rao_rank(A, X, tol=below, certificate=False) == 12
    assert khatri_rao_rank(A, X, tol=below, method="eigh") == 12
    # above σ_min the certificate fails, and the method decides (pivots are ≥ λ_min: here they all pass)
    assert khatri_rao_rank(A, X, tol=above) == khatri_rao_rank(A, X, tol=above, certificate=False)
    assert khatri_rao_rank(A, X, tol=above, method="eigh") == 11
    assert _proved(A, X, below)
    assert not _proved(A, X, above)


def _proved(A, X, tol):
    """Whether the certificate alone proves full column rank (no tail decision)."""
    from minima.rank import _certified_or_tail_rank
    return _certified_or_tail_rank(A, X, tol, torch.device("cpu"), tail=False) == A.shape[1]


def _square_pattern(rng, d, rho=0.1):
    """Leaky-ReLU slopes of random weights at d0 = d1 = d and N = d²: the certificate fails on about
    half of such inputs, only in its last rows (λ_min of K between the rule's threshold and its shift)."""
    X = rng.standard_normal((d, d * d))
    return np.where(rng.standard_normal((d, d)) @ X > 0, 1.0, rho), X


@pytest.mark.parametrize("tol", [None, 1e-4])  # 1e-4: above round-off, below generic σ_min
def test_the_tail_decides_as_the_pivoted_factorisation(monkeypatch, tol):
    """When the certificate fails only in its last tile, the tail's rank is the whole pivoted one's and
    the explicit product's: on generic square inputs (full rank) and with the last samples repeating
    earlier ones (exact deficiencies of 1, 2 and 3 that only the tail can see)."""
    from minima import rank

    monkeypatch.setattr(rank, "_TAIL", 16)
    decided = []
    tail_rank = rank._tail_rank
    monkeypatch.setattr(rank, "_tail_rank", lambda *args: decided.append(tail_rank(*args)) or decided[-1])
    ranks = []
    for seed in range(24):
        rng = np.random.default_rng(seed)
        A, X = _square_pattern(rng, 12)
        repeats = seed % 4  # the last `repeats` samples copy samples 0, 1, 2
        if repeats:
            A[:, -repeats:], X[:, -repeats:] = A[:, :repeats], X[:, :repeats]
        ours = khatri_rao_rank(A, X, tol=tol)
        assert ours == khatri_rao_rank(A, X, tol=tol, certificate=False)
        assert ours == 144 - repeats
        if tol is None:
            assert ours == _explicit_rank(A, X)
        ranks.append(ours)
    assert len([r for r in decided if r is not None]) >= 18  # the tail decided most of them
    assert {144, 143, 142, 141} <= set(ranks)


def test_the_tails_factored_operator_finds_the_grams_largest_eigenvalue():
    from minima.rank import _khatri_rao_largest_eigenvalue, largest_eigenvalue

    A, X = _square_pattern(np.random.default_rng(3), 6)
    gram = khatri_rao_gram(A, X)
    assert _khatri_rao_largest_eigenvalue(A, X) == pytest.approx(largest_eigenvalue(gram), rel=1e-12)


@pytest.mark.parametrize("lapack_tile", [8192, 7, 0])
def test_certificate_is_true_only_above_the_smallest_eigenvalue(monkeypatch, lapack_tile):
    from minima import rank

    # 8192: one LAPACK call; 7: five tiles of six at size 30; 0: the blocked factorisation in torch
    monkeypatch.setattr(rank, "_LAPACK_TILE", lapack_tile)
    monkeypatch.setattr(rank, "_CHOLESKY_BLOCK", 7)
    rng = np.random.default_rng(5)
    for size in (1, 5, 30):
        M = rng.standard_normal((size, size + 3))
        K = M @ M.T
        smallest = float(np.linalg.eigvalsh(K)[0])
        before = K.copy()
        assert rank.certify_positive_definite(K, smallest * (1 - 1e-6))
        assert not rank.certify_positive_definite(K, smallest * (1 + 1e-6))
        assert np.array_equal(K, before)  # not overwritten by default
        upper_garbage = K.copy()
        upper_garbage[np.triu_indices(size, 1)] = np.nan
        assert rank.certify_positive_definite(torch.from_numpy(upper_garbage), smallest * 0.5, overwrite=True)
    singular = np.ones((4, 4))
    assert not rank.certify_positive_definite(singular, 0.0)
    with pytest.raises(ValueError, match="threshold"):
        rank.certify_positive_definite(np.eye(2), -1.0)
    with pytest.raises(ValueError, match="square"):
        rank.certify_positive_definite(np.ones((2, 3)), 0.0)
    with pytest.raises(ValueError, match="float64"):
        rank.certify_positive_definite(torch.eye(2, dtype=torch.float32), 0.0)


@pytest.mark.parametrize("tail", [0, 1, 13])
@pytest.mark.parametrize("tile", [1, 7, 17, 50, 8192])
def test_the_tiled_lapack_factor_is_choleskys_and_touches_only_its_triangle(tile, tail):
    from minima.rank import _tiled_lapack_cholesky

    rng = np.random.default_rng(6)
    M = rng.standard_normal((50, 60))
    K = M @ M.T
    stored = K.copy()  # C order: its lower triangle is the Fortran view's upper one
    stored[np.triu_indices(50, 1)] = np.nan
    kept = []
    assert _tiled_lapack_cholesky(stored.T, tile, tail, kept)
    if tail:  # the last tile before it was factored: the Schur complement of the rows before it
        lead = 50 - tail
        schur = K[lead:, lead:] - K[lead:, :lead] @ np.linalg.solve(K[:lead, :lead], K[:lead, lead:])
        rows, columns = np.tril_indices(tail)
        assert np.allclose(kept[0].T[rows, columns], schur[rows, columns], rtol=0, atol=1e-9 * np.abs(K).max())
    factor = np.tril(stored)
    assert np.allclose(factor, np.linalg.cholesky(K), rtol=0, atol=1e-12 * np.abs(K).max())
    assert np.isnan(stored[np.triu_indices(50, 1)]).all()  # the other triangle is never read or written
    indefinite_last = K.copy()
    indefinite_last[49, 49] = 0.0  # its Schur complement is negative: the breakdown is in the last tile
    kept = []
    assert not _tiled_lapack_cholesky(indefinite_last.T, tile, tail, kept)
    assert len(kept) == 1  # the breakdown came after the last tile was kept
    with pytest.raises(ValueError, match="Fortran-ordered"):
        _tiled_lapack_cholesky(np.ones((3, 4)), tile)


def test_generic_rank_is_min_of_d0d1_and_n():
    """Allman et al., Lemma 13: full rank for almost every (A, X), e.g. slopes with continuous noise."""
    rng = np.random.default_rng(0)
    for d0, d1, n in [(3, 4, 10), (3, 4, 12), (3, 4, 13), (5, 5, 40), (8, 2, 9)]:
        X = rng.standard_normal((d0, n))
        pattern = np.where(rng.standard_normal((d1, d0)) @ X > 0, 1.0, 0.2)
        assert khatri_rao_rank(rng.standard_normal((d1, n)), X) == min(d0 * d1, n)
        assert khatri_rao_rank(pattern * rng.standard_normal((d1, n)), X) == min(d0 * d1, n)


def test_constant_activations_give_rank_at_most_d0():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 30))
    assert khatri_rao_rank(np.full((6, 30), 0.3), X) == 4


def test_explicit_tolerance_and_singular_values():
    rng = np.random.default_rng(2)
    A, X = rng.standard_normal((3, 8)), rng.standard_normal((2, 8))
    values = khatri_rao_singular_values(A, X)
    expected = np.linalg.svd(scipy.linalg.khatri_rao(A, X), compute_uv=False)
    assert np.allclose(values[:6], expected, rtol=1e-8)
    assert khatri_rao_rank(A, X, tol=expected[3] * 1.0001) == 3
    assert khatri_rao_rank(A, X, tol=0.0, method="eigh") >= 6
    assert gram_tolerance(2.0, 10, 20) == pytest.approx(20 * np.finfo(float).eps * 2.0)


def test_rank_of_zero_matrices():
    assert khatri_rao_rank(np.zeros((2, 5)), np.ones((3, 5))) == 0


def test_rank_rejects_bad_input():
    A, X = np.ones((2, 5)), np.ones((3, 5))
    with pytest.raises(ValueError, match="same number N"):
        khatri_rao_rank(A, X[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        khatri_rao(np.ones(5), X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        khatri_rao_rank(A, bad)
    with pytest.raises(ValueError, match="A contains NaN"):
        khatri_rao(np.full((2, 5), np.inf), X)
    with pytest.raises(ValueError, match="method"):
        khatri_rao_rank(A, X, method="svd")
    with pytest.raises(ValueError, match="tol"):
        khatri_rao_rank(A, X, tol=-1.0)


def test_power_iterations_match_the_exact_values():
    from minima.rank import largest_eigenvalue, largest_singular_value

    generator = torch.Generator().manual_seed(0)
    M = torch.randn(40, 9, generator=generator, dtype=torch.float64)
    assert largest_singular_value(M) == pytest.approx(float(torch.linalg.matrix_norm(M, 2)), rel=1e-8)
    gram = M.T @ M
    assert largest_eigenvalue(gram, iterations=200) == pytest.approx(float(torch.linalg.eigvalsh(gram)[-1]), rel=1e-8)
    assert largest_eigenvalue(gram) <= float(torch.linalg.eigvalsh(gram)[-1]) * (1 + 1e-12)  # a lower bound
    assert largest_singular_value(torch.zeros(3, 2, dtype=torch.float64)) == 0.0
    with pytest.raises(ValueError, match="square"):
        largest_eigenvalue(M)
    with pytest.raises(ValueError, match="iterations"):
        largest_singular_value(M, iterations=0)


def test_one_round_off_rule_for_spectra():
    from minima.rank import count_clearly_positive, eigenvalue_tolerance, is_positive_semidefinite

    # a rank-3 PSD matrix formed from 50 samples: its 5 zero eigenvalues come out as round-off of either sign
    generator = torch.Generator().manual_seed(1)
    B = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    weights = torch.rand(3, 50, generator=generator, dtype=torch.float64)
    H = (B @ weights) @ (B @ weights).T / 50
    eigenvalues = torch.linalg.eigvalsh(H)
    tolerance = eigenvalue_tolerance(eigenvalues, n_samples=50)
    assert tolerance == pytest.approx(50 * np.finfo(float).eps * float(eigenvalues.abs().max()))
    assert is_positive_semidefinite(eigenvalues, 50) and count_clearly_positive(eigenvalues, 50) == 3
    shifted = eigenvalues - 1e-6 * float(eigenvalues[-1])  # a real negative direction
    assert not is_positive_semidefinite(shifted, 50)
    with pytest.raises(ValueError, match="eigenvalues"):
        eigenvalue_tolerance(torch.tensor([]))
    with pytest.raises(ValueError, match="NaN"):
        is_positive_semidefinite([1.0, float("nan")])


@given(spread=st.sampled_from([3.0, 4.0, 6.0]), seed=st.integers(0, 10_000), rows=st.integers(2, 6))
@settings(max_examples=30, deadline=None)
def test_rank_does_not_depend_on_the_scale_of_the_samples(spread, seed, rows):
    """Column norms of A∘X spread over 10^±spread: the rank is that of the product with unit-norm columns."""
    generator = np.random.default_rng(seed)
    n = rows * rows + generator.integers(-3, 4)
    A = generator.standard_normal((rows, n))
    X = generator.standard_normal((rows, n)) * 10.0 ** generator.uniform(-spread, spread, n)
    product = khatri_rao(A, X)
    normalised = product / np.linalg.norm(product, axis=0)
    expected = np.linalg.matrix_rank(normalised)
    assert khatri_rao_rank(A, X) == expected == min(rows * rows, n)  # generic: full rank
    assert khatri_rao_rank(A, X, method="eigh") == expected


def test_generic_rank_is_the_rank_for_random_inputs():
    """min_T [N − |T| + d0·rank(A_T)] against the numerical rank, for patterns with and without rank loss."""
    from minima.rank import generic_rank

    rng = np.random.default_rng(0)
    deficient = 0
    for trial in range(150):
        d0, d1, n = int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(3, 11))
        X = rng.standard_normal((d0, n))
        rho = (0.0, 0.1)[trial % 2]
        A = np.where(rng.standard_normal((d1, d0)) @ X > 0, 1.0, rho)
        rank = khatri_rao_rank(A, X)
        assert generic_rank(A, d0) == rank, (trial, A)
        deficient += rank < min(n, d0 * d1)
    assert deficient > 20  # the formula is tested where it matters


def test_generic_rank_refuses_large_n():
    from minima.rank import generic_rank

    with pytest.raises(ValueError, match="N ≤ 14"):
        generic_rank(np.ones((2, 15)), 3)


def test_the_tail_refuses_a_leading_block_too_weak_for_its_series(monkeypatch):
    """A tail coupled to a direction of K₁₁ barely above the shift: the bound s³‖C‖²_F on the neglected
    terms exceeds 1 % of the threshold, the tail returns None and the whole pivoted factorisation
    decides, as the explicit product does."""
    from minima import rank

    monkeypatch.setattr(rank, "_TAIL", 16)
    decided = []
    tail_rank = rank._tail_rank
    monkeypatch.setattr(rank, "_tail_rank", lambda *args: decided.append(tail_rank(*args)) or decided[-1])
    rng = np.random.default_rng(1)
    lead, tail = 48, 16
    Q, _ = np.linalg.qr(rng.standard_normal((lead, lead)))
    spectrum = np.linspace(1, 2, lead)
    spectrum[0] = 2e-6  # K₁₁ − sI keeps an eigenvalue near s = tol² = 1e-6
    K11 = Q @ np.diag(spectrum) @ Q.T
    B = rng.standard_normal((lead, tail))
    B[:, 0] += 5 * Q[:, 0]  # one tail column leans on that direction
    schur = np.eye(tail)
    schur[0, 0] = 3e-6
    K = np.block([[K11, K11 @ B], [B.T @ K11, B.T @ K11 @ B + schur]])
    eigenvalues, vectors = np.linalg.eigh((K + K.T) / 2)
    X = (vectors * np.sqrt(np.clip(eigenvalues, 0, None))).T  # XᵀX = K, A ∘ X = X
    A = np.ones((1, lead + tail))
    ours = khatri_rao_rank(A, X, tol=1e-3)
    assert decided == [None]
    explicit = int((np.linalg.svd(X, compute_uv=False) > 1e-3).sum())
    assert ours == khatri_rao_rank(A, X, tol=1e-3, certificate=False) == explicit
