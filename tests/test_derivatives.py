import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.derivatives import flat_parameters, gradient_matrix, mse_gradient, mse_hessian
from minima.rank import largest_singular_value
from minima.regions import activation_slopes, planted_local_minimum, stationarity


def _autograd_jacobian(net, X, noise=None):
    """The Jacobian of the (flattened) outputs by autograd through the pure forward: the oracle for G."""
    shapes = [w[0].shape for w in net.weights]
    sizes = [w[0].numel() for w in net.weights]
    masks = None if net.active_units is None else [m[:1].double() for m in net.active_units]

    def outputs(theta):
        weights = [p.reshape(1, *s) for p, s in zip(theta.split(sizes), shapes)]
        return minima.forward(weights, X, net.rho, noise=noise, active_units=masks, validate=False)[0].reshape(-1)

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
    A = activation_slopes(net, X)[0]
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
    # closed form (2/N)(G Gᵀ + Σ_n e_n ∇²ŷ_n): for one hidden layer ŷ_n = Σ_i z_i f(w_iᵀx_n) is bilinear in
    # (W, z) inside a region, so the only second derivatives are ∂²ŷ_n/∂W_ij∂z_i = a_in x_jn
    A = activation_slopes(net, X)[0]
    d1, d0 = 4, 3
    cross = torch.zeros(d1 * d0, d1, dtype=torch.float64)
    for i in range(d1):
        cross[i * d0:(i + 1) * d0, i] = X @ (e * A[i])
    curvature = torch.zeros(16, 16, dtype=torch.float64)
    curvature[:12, 12:], curvature[12:, :12] = cross, cross.T
    assert torch.allclose(H, 2 / 10 * (G @ G.T + curvature), atol=1e-13)


@pytest.mark.parametrize("widths", [(3, 4), (3, 4, 2)])
def test_hessian_matches_central_differences_of_the_gradient(widths):
    X, y = minima.data.gaussian_binary(3, 12, seed=1)
    net = minima.LeakyReLUNet(widths, 0.2, seed=3, dtype=torch.float64)
    theta = flat_parameters(net)
    shapes = [w.shape for w in net.weights]

    def gradient_at(point):
        weights = [part.reshape(shape) for part, shape in zip(point.split([w.numel() for w in net.weights]), shapes)]
        return mse_gradient(minima.LeakyReLUNet.from_weights(weights, 0.2), X, y)

    step = 1e-5  # the loss is a polynomial of degree 4 in θ inside a region: O(step²) error, far from any kink
    columns = []
    for k in range(theta.numel()):
        shift = torch.zeros_like(theta)
        shift[k] = step
        columns.append((gradient_at(theta + shift) - gradient_at(theta - shift)) / (2 * step))
    assert torch.allclose(mse_hessian(net, X, y), torch.stack(columns, dim=1), atol=1e-8)


@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=3), d_out=st.integers(1, 3), n=st.integers(1, 6),
       rho=st.floats(-1, 1), seed=st.integers(0, 500))
@settings(max_examples=20, deadline=None)
def test_gradient_matrix_of_vector_outputs_matches_autograd(widths, d_out, n, rho, seed):
    net = minima.LeakyReLUNet(widths, rho, outputs=d_out, seed=seed, dtype=torch.float64)
    X = torch.randn(widths[0], n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    G, blocks = gradient_matrix(net, X)
    assert G.shape == (flat_parameters(net).numel(), d_out * n)
    assert torch.allclose(G, _autograd_jacobian(net, X), atol=1e-10)


def test_largest_singular_value():
    # seeded: power iteration converges like (σ2/σ1)^(2k), so an unlucky draw with σ2 ≈ σ1 would need
    # more than 100 iterations for 8 digits
    M = torch.randn(30, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert largest_singular_value(M) == pytest.approx(float(torch.linalg.matrix_norm(M, 2)), rel=1e-8)
    assert largest_singular_value(torch.zeros(3, 2, dtype=torch.float64)) == 0.0


def test_bad_member_is_refused():
    net = minima.LeakyReLUNet((3, 4), seed=0)
    with pytest.raises(ValueError, match="member"):
        gradient_matrix(net, torch.randn(3, 2), member=3)
    with pytest.raises(ValueError, match="net"):
        gradient_matrix("net", torch.randn(3, 2))


def test_stationarity_is_zero_at_a_planted_minimum_and_not_elsewhere():
    X, _ = minima.data.gaussian_binary(4, 30, seed=0)
    planted = planted_local_minimum(X, 3, 0.2, seed=1)
    net = minima.LeakyReLUNet.from_weights([planted.W, planted.z], 0.2)
    assert stationarity(net, X, planted.y) < 1e-13
    assert stationarity(net, X, planted.y + torch.linspace(-1, 1, 30, dtype=torch.float64)) > 1e-3
    with pytest.raises(ValueError, match="undefined"):
        stationarity(net, X, net(X)[0].detach())


def test_planted_minimum_needs_a_null_space():
    X, _ = minima.data.gaussian_binary(4, 12, seed=0)
    with pytest.raises(ValueError, match="full rank"):
        planted_local_minimum(X, 3, 0.2)  # d0·d1 = 12 = N: A∘X has full rank, nothing can be planted
    planted = planted_local_minimum(X, 2, 0.2, error_norm=2.0)
    assert planted.null_dimension == 12 - 8
    assert float(planted.error.norm()) == pytest.approx(2.0)
