"""Smooth activations in the one model: selected by one argument, the leaky ReLU the unchanged default."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import minima
from minima.depth import basis_regression_loss, linear_units, pattern_loss
from minima.derivatives import gradient_matrix, loss_gradient
from minima.models import ACTIVATIONS, activate, activation_slope, forward
from minima.rank import khatri_rao, matrix_rank


def data(d0=3, n=10, seed=0):
    return minima.data.gaussian_binary(d0, n, seed=seed)


def test_the_default_is_the_leaky_relu_bit_for_bit():
    X, y = data()
    default = minima.LeakyReLUNet((3, 6), 0.1, ensemble=3, seed=0)
    explicit = minima.LeakyReLUNet((3, 6), 0.1, ensemble=3, seed=0, activation="leaky_relu")
    assert default.activation == "leaky_relu"
    assert torch.equal(default(X.float()), explicit(X.float()))
    first = minima.train(default, X, y, epochs=50, lr=0.01, progress=False)
    second = minima.train(explicit, X, y, epochs=50, lr=0.01, progress=False)
    assert torch.equal(first.loss, second.loss) and torch.equal(first.final_mce, second.final_mce)
    assert all(torch.equal(a, b) for a, b in zip(default.weights, explicit.weights))
    u = torch.linspace(-2, 2, 9)
    assert torch.equal(activate(u, 0.1), minima.leaky_relu(u, 0.1))
    assert torch.equal(activation_slope(u, 0.1), minima.models.leaky_relu_slope(u, 0.1))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softplus"])
def test_smooth_units_forward_and_derivatives(activation):
    X, y = data()
    net = minima.LeakyReLUNet((3, 5, 4), ensemble=2, seed=1, dtype=torch.float64, activation=activation)
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": torch.nn.functional.softplus}
    W1, W2, z = (w.detach() for w in net.weights)
    expected = torch.einsum("rd,rdn->rn", z, functions[activation](W2 @ functions[activation](W1 @ X)))
    assert torch.allclose(net(X), expected, atol=1e-14)
    u = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    slope = torch.autograd.grad(activate(u, 0.0, activation).sum(), u)[0]
    assert torch.allclose(activation_slope(u.detach(), 0.0, activation), slope, atol=1e-14)
    G, _ = gradient_matrix(net, X, member=1)  # the library's back-propagation against autograd
    theta = torch.cat([w.detach()[1].reshape(-1) for w in net.weights])
    shapes = [w.shape[1:] for w in net.weights]

    def outputs(flat):
        parts, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            parts.append(flat[start:start + size].reshape(shape))
            start += size
        return forward(parts, X, 0.0, activation=activation, validate=False)

    assert torch.allclose(G, torch.func.jacrev(outputs)(theta).T, atol=1e-12)
    assert loss_gradient(net, X, y).shape == theta.shape
    history = minima.train(net, X, y, epochs=30, lr=0.01, progress=False)
    assert history.loss[-1].max() < history.loss[0].max()


def test_bad_activations_are_refused():
    with pytest.raises(ValueError, match="activation must be one of"):
        minima.LeakyReLUNet((3, 4), activation="relu6")
    with pytest.raises(ValueError, match="rho"):
        minima.LeakyReLUNet((3, 4), 0.1, activation="tanh")
    X, _ = data()
    weights = [w.detach().double() for w in minima.LeakyReLUNet((3, 4)).weights]
    with pytest.raises(ValueError, match="activation"):
        forward(weights, X, 0.0, activation="gelu")
    smooth = minima.LeakyReLUNet((3, 4), activation="sigmoid", dtype=torch.float64)
    with pytest.raises(ValueError, match="leaky ReLU"):
        minima.regions.activation_pattern(smooth, X)
    with pytest.raises(ValueError, match="layer"):
        smooth.features(X, layer=2)
    assert ACTIVATIONS[0] == "leaky_relu"


def test_features_and_their_rank():
    X, _ = data(5, 12)
    for activation in ("sigmoid", "tanh", "softplus"):
        for width, rank in [(6, 6), (12, 12), (30, 12)]:
            net = minima.LeakyReLUNet((5, width), seed=0, dtype=torch.float64, activation=activation)
            features = net.features(X)
            assert features.shape == (1, width, 12)
            assert matrix_rank(features[0]) == rank
    assert matrix_rank(np.zeros((3, 4))) == 0
    assert matrix_rank(np.outer(np.arange(1.0, 4.0), np.ones(5))) == 1
    with pytest.raises(ValueError, match="M"):
        matrix_rank(np.ones(3))


def test_member_copies_and_conversions_keep_the_activation():
    net = minima.LeakyReLUNet((3, 4), ensemble=2, activation="tanh")
    assert net.member(1).activation == "tanh" and net.to(torch.float64).activation == "tanh"
    sweep = minima.sweep_widths(*data(3, 8), [2, 8], repetitions=2, activation="sigmoid", epochs=20,
                                progress=False)
    assert sweep.final_mce.shape == (2, 2)


def test_pattern_loss_is_chapter_2s_regression():
    generator = np.random.default_rng(0)
    X, y = generator.standard_normal((3, 20)), generator.standard_normal(20)
    A = (generator.random((4, 20)) < 0.5).astype(float)
    design = khatri_rao(A, X)  # (12, 20)
    solution = np.linalg.lstsq(design.T, y, rcond=None)[0]
    assert pattern_loss(A, X, y) == pytest.approx(0.5 * np.sum((y - design.T @ solution) ** 2))
    assert pattern_loss(np.ones((7, 20)), np.vstack([X, generator.standard_normal((0, 20))]), y) > 0
    assert basis_regression_loss(np.eye(20), y) == pytest.approx(0.0, abs=1e-20)
    with pytest.raises(ValueError, match="Y must be"):
        basis_regression_loss(np.eye(5), y)


def test_linear_units_are_the_ones_active_on_every_sample():
    X = torch.cat([torch.randn(2, 15, dtype=torch.float64), torch.ones(1, 15, dtype=torch.float64)])
    net = minima.LeakyReLUNet((3, 4), 0.0, seed=0, dtype=torch.float64)
    with torch.no_grad():
        net.weights[0][0, 0] = torch.tensor([0.0, 0.0, 1.0])  # pre-activation 1 on every sample
        net.weights[0][0, 1] = torch.tensor([0.0, 0.0, -1.0])  # dead: not linear (output 0 ≠ u)
    mask = linear_units(net, X)[0]
    assert bool(mask[0]) and not bool(mask[1])
    assert linear_units(minima.LeakyReLUNet((3, 4), 1.0), X.float())[0].all()
    with pytest.raises(ValueError, match="piecewise-linear"):
        linear_units(minima.LeakyReLUNet((3, 4), activation="tanh"), X.float())
