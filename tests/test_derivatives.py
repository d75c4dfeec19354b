import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.derivatives import flat_parameters, gradient_matrix, largest_singular_value, mse_gradient, mse_hessian


def _autograd_jacobian(net, X, noise=None):
    single = net.member(0)
    single.weights = [w.detach().double() for w in single.weights]
    single.dtype = torch.float64
    shapes = [w.shape for w in single.weights]
    sizes = [w.numel() for w in single.weights]

    def outputs(theta):
        single.weights = [p.reshape(s) for p, s in zip(theta.split(sizes), shapes)]
        return single.forward(X, noise)[0]

    return torch.autograd.functional.jacobian(outputs, flat_parameters(net)).T


@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=4), n=st.integers(1, 8),
       rho=st.floats(-1, 0.9), seed=st.integers(0, 500), use_noise=st.booleans())
@settings(max_examples=30, deadline=None)
def test_gradient_matrix_matches_autograd(widths, n, rho, seed, use_noise):
    net = minima.LeakyReLUNet(widths, rho, seed=seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(widths[0], n, generator=generator, dtype=torch.float64)
    noise = None
    if use_noise:
        noise = [torch.rand(1, w, n, generator=generator, dtype=torch.float64) + 0.5 for w in widths[1:]]
    G, blocks = gradient_matrix(net, X, noise=noise)
    assert G.shape == (flat_parameters(net).numel(), n)
    assert [b.shape[0] for b in blocks] == [w.numel() for w in net.weights]
    assert torch.allclose(G, _autograd_jacobian(net, X, noise), atol=1e-10)


def test_one_hidden_layer_block_is_khatri_rao_of_az_and_x():
    net = minima.LeakyReLUNet((3, 4), 0.2, seed=1, dtype=torch.float64)
    X = torch.randn(3, 6, dtype=torch.float64)
    _, (block_W, block_z) = gradient_matrix(net, X)
    A = net.activation_pattern(X)[0]
    z = net.weights[1][0].detach()
    expected = torch.stack([torch.kron(A[:, n] * z, X[:, n]) for n in range(6)], dim=1)
    assert torch.allclose(block_W, expected)
    assert torch.allclose(block_z, minima.leaky_relu(net.weights[0][0].detach() @ X, 0.2))


def test_mse_gradient_and_hessian_formulas():
    X, y = minima.data.gaussian_binary(3, 10, seed=0)
    net = minima.LeakyReLUNet((3, 4), 0.1, seed=0, dtype=torch.float64)
    G, _ = gradient_matrix(net, X)
    e = net(X)[0].detach() - y
    assert torch.allclose(mse_gradient(net, X, y), 2 / 10 * G @ e)
    H = mse_hessian(net, X, y)
    assert H.shape == (16, 16) and torch.allclose(H, H.T)
    # the Gauss-Newton part plus the error-weighted output Hessian (only W-z cross terms are non-zero)
    assert not torch.allclose(H, 2 / 10 * G @ G.T)


def test_largest_singular_value():
    M = torch.randn(30, 7, dtype=torch.float64)
    assert largest_singular_value(M) == pytest.approx(float(torch.linalg.matrix_norm(M, 2)), rel=1e-8)
    assert largest_singular_value(torch.zeros(3, 2, dtype=torch.float64)) == 0.0


def test_bad_member_is_refused():
    net = minima.LeakyReLUNet((3, 4), seed=0)
    with pytest.raises(ValueError, match="member"):
        gradient_matrix(net, torch.randn(3, 2), member=3)
    with pytest.raises(ValueError, match="net"):
        gradient_matrix("net", torch.randn(3, 2))


def test_stationarity_is_zero_at_a_planted_minimum_and_not_elsewhere():
    from minima.construction import planted_local_minimum
    from minima.derivatives import stationarity

    X, _ = minima.data.gaussian_binary(4, 30, seed=0)
    planted = planted_local_minimum(X, 3, 0.2, seed=1)
    net = minima.LeakyReLUNet.from_weights([planted.W, planted.z], 0.2)
    assert stationarity(net, X, planted.y) < 1e-13
    assert stationarity(net, X, planted.y + torch.linspace(-1, 1, 30, dtype=torch.float64)) > 1e-3
    with pytest.raises(ValueError, match="undefined"):
        stationarity(net, X, net(X)[0].detach())


def test_planted_minimum_needs_a_null_space():
    from minima.construction import planted_local_minimum

    X, _ = minima.data.gaussian_binary(4, 12, seed=0)
    with pytest.raises(ValueError, match="full rank"):
        planted_local_minimum(X, 3, 0.2)  # d0·d1 = 12 = N: A∘X has full rank, nothing can be planted
    planted = planted_local_minimum(X, 2, 0.2, error_norm=2.0)
    assert planted.null_dimension == 12 - 8
    assert float(planted.error.norm()) == pytest.approx(2.0)
