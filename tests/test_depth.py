import sys
from pathlib import Path

import pytest
import torch
from hypothesis import example, given, settings, strategies as st

import minima
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_depth import autograd_jacobian as _autograd_jacobian
from minima.depth import j_value, khk_cutoff, parameter_jacobian
from minima.derivatives import tangent_kernel
from minima.losses import half_squared_error


def _setting(widths, outputs, m, rho, seed):
    generator = torch.Generator().manual_seed(seed)
    net = minima.LeakyReLUNet(widths, rho, outputs=outputs, seed=seed, dtype=torch.float64)
    X = torch.randn(widths[0], m, generator=generator, dtype=torch.float64)
    Y = torch.randn(m if outputs is None else (outputs, m), generator=generator, dtype=torch.float64)
    return net, X, Y


@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=4), outputs=st.sampled_from([None, 1, 3]),
       m=st.integers(2, 25), rho=st.sampled_from([0.0, 0.2, 1.0]), seed=st.integers(0, 200))
@settings(max_examples=25, deadline=None)
@example(widths=[3, 2, 2], outputs=None, m=11, rho=0.2, seed=167)  # nearly dependent blocks
def test_three_forms_of_j_agree_and_j_is_below_the_loss(widths, outputs, m, rho, seed):
    net, X, Y = _setting(widths, outputs, m, rho, seed)
    J = _autograd_jacobian(net, X)
    assert torch.allclose(parameter_jacobian(net, X, rho=rho), J, atol=1e-10)
    values = [j_value(net, X, Y, rho=rho, method=method) for method in ("kernel", "svd", "sum")]
    scale = 0.5 * float(Y.pow(2).sum())
    assert max(values) - min(values) <= 1e-8 * scale
    # against least squares on the autograd Jacobian with the paper's cut-off
    rcond = khk_cutoff(J) / max(float(torch.linalg.matrix_norm(J, ord=2)), 1e-300)
    solution = torch.linalg.lstsq(J, Y.reshape(-1, 1), rcond=rcond, driver="gelsd").solution
    reference = 0.5 * float((Y.reshape(-1, 1) - J @ solution).pow(2).sum())
    assert values[1] == pytest.approx(reference, abs=1e-8 * scale)
    # the literal recursion can only over-count (a round-off residual above the cut-off), never under-count
    recursion = j_value(net, X, Y, rho=rho, method="recursion")
    per_block = j_value(net, X, Y, rho=rho, method="recursion-per-block")
    assert per_block <= recursion + 1e-8 * scale and recursion <= values[1] + 1e-8 * scale
    loss = float(half_squared_error(net(X).detach(), Y if outputs is not None else Y)[0])
    assert values[0] <= loss + 1e-9 * scale  # vec Ŷ = J θ / (H + 1) lies in the column space (homogeneity)


def test_homogeneity_and_the_kernel():
    net, X, Y = _setting((3, 5, 4), 2, 15, 0.0, 1)
    J = parameter_jacobian(net, X)
    theta = torch.cat([w.detach()[0].reshape(-1) for w in net.weights])
    assert torch.allclose(J @ theta / 3, net(X).detach()[0].reshape(-1), atol=1e-12)  # degree H + 1 = 3
    assert torch.allclose(tangent_kernel(net, X), J @ J.T, atol=1e-11)


def test_j_equals_the_loss_at_a_planted_minimum():
    from minima.regions import planted_local_minimum

    X, _ = minima.data.gaussian_binary(4, 30, seed=0)
    planted = planted_local_minimum(X, 3, 0.2, seed=1)
    weights = [planted.W, planted.z]
    loss = 0.5 * float(planted.error.pow(2).sum())
    assert j_value(weights, X, planted.y, rho=0.2) == pytest.approx(loss, rel=1e-10)
    assert j_value(weights, X, planted.y, rho=0.2, method="sum") == pytest.approx(loss, rel=1e-10)


@pytest.mark.parametrize("widths, m", [((4, 6, 5), 30), ((3, 2, 2), 40), ((4, 3), 12)])
def test_the_full_rank_certificate_decides_as_pivoted_cholesky(widths, m, monkeypatch):
    """With as many parameters as rows, J(θ) is the same whether the certificate or dpstrf decides."""
    net, X, Y = _setting(widths, None, m, 0.2, 5)
    certified = j_value(net, X, Y)
    monkeypatch.setattr(minima.depth, "certify_positive_definite", lambda matrix, threshold: False)
    assert j_value(net, X, Y) == pytest.approx(certified, rel=1e-10, abs=1e-14)
    assert certified == pytest.approx(j_value(net, X, Y, method="svd"), rel=1e-8, abs=1e-12)


def test_the_literal_recursion_agrees_and_per_block_cut_offs_over_count():
    """Theorem 1's block Gram–Schmidt with one cut-off equals the SVD form on typical points; with each
    block cut at its own cut-off, round-off residuals count as directions and J comes out too low."""
    agree, lower = 0, 0
    for seed in range(20):
        net, X, Y = _setting((4, 6, 5), None, 30, 0.2, seed)
        svd = j_value(net, X, Y, rho=0.2, method="svd")
        scale = 0.5 * float(Y.pow(2).sum())
        agree += abs(j_value(net, X, Y, rho=0.2, method="recursion") - svd) <= 1e-10 * scale
        lower += j_value(net, X, Y, rho=0.2, method="recursion-per-block") < svd - 1e-3 * svd
    assert agree == 20 and lower >= 15


def test_bad_input():
    net, X, Y = _setting((3, 4), None, 10, 0.0, 0)
    with pytest.raises(ValueError, match="method"):
        j_value(net, X, Y, method="qr")
    with pytest.raises(ValueError, match="Y must have shape"):
        j_value(net, X, Y[:5])
    with pytest.raises(ValueError, match="ensemble axis"):
        j_value([w.detach() for w in net.weights], X, Y)


@pytest.mark.parametrize("widths, rho, seed", [((10, 16, 16, 16), 0.0, 0), ((10, 12, 12, 12), 0.0, 1),
                                               ((10, 8, 8, 8, 8), 0.1, 2), ((10, 16, 16), 0.5, 3)])
def test_refined_normal_equations_agree_with_householder_and_svd(widths, rho, seed, monkeypatch):
    """Fewer parameters than rows: the refined normal-equation residual against its own fallback and
    the SVD form, to round-off of ½‖Y‖²."""
    import minima.depth as depth

    net, X, Y = _setting(widths, 1, 900, rho, seed)
    scale = 0.5 * float(Y.pow(2).sum())
    assert sum(w[0].numel() for w in net.weights) < 900
    refined = j_value(net, X, Y, rho=rho)
    monkeypatch.setattr(depth, "_REFINEMENT_STEPS", 0)  # no step converges: Householder QR decides
    householder = j_value(net, X, Y, rho=rho)
    svd = j_value(net, X, Y, rho=rho, method="svd")
    assert abs(refined - householder) <= 1e-12 * scale and abs(refined - svd) <= 1e-12 * scale


def test_refinement_gives_up_when_the_factor_is_wrong():
    """A factor of another matrix makes the iteration diverge: the caller is told to use QR."""
    import minima.depth as depth

    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(5, 40, generator=generator, dtype=torch.float64)
    y = torch.randn(40, generator=generator, dtype=torch.float64)
    exact = torch.linalg.cholesky(rows @ rows.T)
    residual = depth._refined_normal_residual(rows, exact, y)
    solution = torch.linalg.lstsq(rows.T, y.unsqueeze(1)).solution.squeeze(1)
    assert torch.allclose(residual, y - rows.T @ solution, atol=1e-12)
    wrong = exact / 4  # L Lᵀ sixteen times too small: each step overshoots fifteen-fold
    assert depth._refined_normal_residual(rows, wrong, y) is None
