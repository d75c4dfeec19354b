import pytest
import torch
from hypothesis import given, settings, strategies as st

from minima import LeakyReLUNet, leaky_relu
from minima.regions import activation_slopes


def test_leaky_relu_values():
    u = torch.tensor([-2.0, 0.0, 3.0])
    assert leaky_relu(u, 0.1).tolist() == pytest.approx([-0.2, 0.0, 3.0])


@given(d0=st.integers(1, 6), d1=st.integers(1, 6), d2=st.integers(1, 4), R=st.integers(1, 4),
       n=st.integers(1, 7), rho=st.floats(-1, 0.9), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_forward_matches_papers_formula_and_members_are_independent(d0, d1, d2, R, n, rho, seed):
    net = LeakyReLUNet((d0, d1, d2), rho, ensemble=R, seed=seed, dtype=torch.float64)
    X = torch.randn(d0, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = net(X)
    assert out.shape == (R, n)
    for r in range(R):
        W1, W2, z = (w[r].detach() for w in net.weights)
        expected = z @ leaky_relu(W2 @ leaky_relu(W1 @ X, rho), rho)
        assert torch.allclose(out[r], expected, atol=1e-12)
        assert torch.allclose(net.member(r)(X)[0], expected, atol=1e-12)


def test_initialisation_variance_is_two_over_fan_in():
    net = LeakyReLUNet((400, 300), ensemble=4, seed=0, dtype=torch.float64)
    W = net.weights[0].detach()
    assert abs(float(W.var()) * 400 / 2 - 1) < 0.02
    assert abs(float(W.mean())) < 0.01


def test_same_seed_same_weights_and_different_seed_differs():
    a = LeakyReLUNet((3, 4), seed=5).weights[0]
    b = LeakyReLUNet((3, 4), seed=5).weights[0]
    c = LeakyReLUNet((3, 4), seed=6).weights[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_activation_slopes_and_noise():
    net = LeakyReLUNet((3, 5), 0.2, ensemble=2, seed=0, dtype=torch.float64)
    X = torch.randn(3, 4, dtype=torch.float64)
    A = activation_slopes(net, X)
    u = torch.matmul(net.weights[0].detach(), X)
    assert torch.equal(A, torch.where(u > 0, torch.ones_like(u), torch.full_like(u, 0.2)))
    # the output is z^T (a_n ⊙ W x_n), the linear form the papers use
    assert torch.allclose(net(X), torch.einsum("rd,rdn->rn", net.weights[1].detach(), A * u))
    eps = torch.rand(2, 5, 4, dtype=torch.float64) + 0.5
    assert torch.allclose(activation_slopes(net, X, [eps]), A * eps)
    assert torch.allclose(net(X, [eps]), torch.einsum("rd,rdn->rn", net.weights[1].detach(), A * eps * u))


def test_active_units_switch_units_off():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.float64)
    net = LeakyReLUNet((3, 4), ensemble=2, active_units=[mask], seed=0, dtype=torch.float64)
    assert net.n_parameters().tolist() == [3 * 2 + 2, 3 * 4 + 4]
    X = torch.randn(3, 6, dtype=torch.float64)
    small = LeakyReLUNet.from_weights([net.weights[0][:1, :2], net.weights[1][:1, :2]])
    assert torch.allclose(net(X)[0], small(X)[0])
    assert float(net.min_abs_preactivation(X)[0]) > 0


def test_from_weights_and_validation():
    W = torch.randn(4, 3)
    z = torch.randn(4)
    net = LeakyReLUNet.from_weights([W, z], rho=0.1)
    assert net.widths == (3, 4) and net.ensemble == 1 and net.depth == 2
    with pytest.raises(ValueError, match="z"):
        LeakyReLUNet.from_weights([W, torch.randn(5)])
    with pytest.raises(ValueError, match="widths"):
        LeakyReLUNet((3,))
    with pytest.raises(ValueError, match="widths"):
        LeakyReLUNet((3, 0))
    with pytest.raises(ValueError, match="rho"):
        LeakyReLUNet((3, 2), rho=float("nan"))
    with pytest.raises(ValueError, match="ensemble"):
        LeakyReLUNet((3, 2), ensemble=0)
    with pytest.raises(ValueError, match="active_units"):
        LeakyReLUNet((3, 2), active_units=[torch.ones(1, 3)])
    with pytest.raises(ValueError, match="X"):
        net(torch.randn(2, 5))
    with pytest.raises(ValueError, match="X"):
        net(torch.tensor([[float("inf")]] * 3))
    with pytest.raises(ValueError, match="noise"):
        net(torch.randn(3, 5), [torch.ones(1, 4, 6)])


def test_pure_forward_matches_the_network_with_and_without_the_ensemble_axis():
    import minima

    net = LeakyReLUNet((3, 4, 2), 0.3, ensemble=2, seed=1, dtype=torch.float64)
    X = torch.randn(3, 5, dtype=torch.float64)
    weights = [w.detach() for w in net.weights]
    assert torch.equal(minima.forward(weights, X, 0.3), net(X))
    assert torch.equal(minima.forward([w[1] for w in weights], X, 0.3), net(X)[1])
    jacobian = torch.func.jacrev(lambda W1: minima.forward([W1, *weights[1:]], X, 0.3, validate=False))(weights[0])
    assert jacobian.shape == (2, 5, 2, 4, 3)  # torch.func works on the pure core
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        minima.forward([weights[0], weights[1][:, :, :1], weights[2]], X, 0.3)
    with pytest.raises(ValueError, match="X"):
        minima.forward(weights, X.float(), 0.3)


@given(d_out=st.integers(1, 3), R=st.integers(1, 3), seed=st.integers(0, 100))
@settings(max_examples=10, deadline=None)
def test_vector_outputs_and_the_linear_case(d_out, R, seed):
    net = LeakyReLUNet((3, 4, 5), 1.0, outputs=d_out, ensemble=R, seed=seed, dtype=torch.float64)
    X = torch.randn(3, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = net(X)
    assert out.shape == (R, d_out, 6) == net.output_shape(6)
    for r in range(R):
        W1, W2, W3 = (w[r].detach() for w in net.weights)
        assert torch.allclose(out[r], W3 @ W2 @ W1 @ X, atol=1e-12)  # ρ = 1: a deep linear network
    assert net.n_parameters().tolist() == [3 * 4 + 4 * 5 + 5 * d_out] * R
    assert LeakyReLUNet.from_weights([w.detach() for w in net.weights], 1.0).outputs == d_out
    assert torch.equal(net.member(R - 1)(X)[0], out[R - 1])


def test_to_copies_without_touching_the_original():
    net = LeakyReLUNet((3, 4), 0.1, seed=0)
    copy = net.to(torch.float64)
    assert copy.dtype == torch.float64 and net.dtype == torch.float32
    assert torch.equal(copy.weights[0].float(), net.weights[0].detach())
    with torch.no_grad():
        copy.weights[0].zero_()
    assert net.weights[0].abs().sum() > 0


def test_slope_noise_rejects_bad_input():
    from minima import slope_noise

    net = LeakyReLUNet((3, 4), seed=0)
    with pytest.raises(ValueError, match="std"):
        slope_noise(net, 5, -1.0)
    with pytest.raises(ValueError, match="net"):
        slope_noise("net", 5, 0.1)
