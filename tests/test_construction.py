import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.construction import (interpolating_network, neurons_needed, paper_neuron_count,
                                 trapezoid, zero_error_network)


@pytest.mark.parametrize("rho", [0.0, 0.2, -1.0, -0.5, 2.0])
def test_trapezoid_shape(rho):
    eps1, eps2 = 0.4, 0.1
    u = np.array([-1.0, -0.4, -0.25, -0.1, 0.0, 0.05, 0.1, 0.25, 0.4, 2.0])
    expected = np.clip((eps1 - np.abs(u)) / (eps1 - eps2), 0, 1)
    assert np.allclose(trapezoid(u, eps1, eps2, rho), expected, atol=1e-12)
    assert torch.allclose(trapezoid(torch.tensor(u), eps1, eps2, rho), torch.tensor(expected), atol=1e-12)


def test_trapezoid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rho"):
        trapezoid(0.0, 0.2, 0.1, 1.0)
    with pytest.raises(ValueError, match="eps2"):
        trapezoid(0.0, 0.1, 0.2, 0.0)
    with pytest.raises(ValueError, match="eps1"):
        trapezoid(0.0, -0.1, 0.2, 0.0)


@given(d0=st.integers(2, 12), n=st.integers(1, 120), rho=st.sampled_from([0.0, 0.1, -1.0, 0.5, -0.3]),
       balance=st.floats(0.0, 1.0), units=st.sampled_from([3, 4]), seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_zero_error_network_is_exact_differentiable_and_counted(d0, n, rho, balance, units, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(d0, n, generator=generator, dtype=torch.float64)
    y = (torch.rand(n, generator=generator, dtype=torch.float64) < balance).double()
    details = zero_error_network(X, y, rho, units_per_group=units, return_details=True)
    W, z = details.W, details.z
    assert W.shape == (neurons_needed(int(y.sum()), d0, units), d0) and z.shape == (W.shape[0],)
    output = minima.forward([W, z], X, rho)
    error = float((output - y).abs().max())
    assert max(error, details.max_error) <= details.roundoff_bound  # exact up to float64 round-off
    assert error < 1e-6
    if W.shape[0]:
        assert float((W @ X).abs().min()) > 0  # a differentiable point
    # the same network through the library's model
    if W.shape[0]:
        net = minima.LeakyReLUNet.from_weights([W, z], rho)
        assert torch.allclose(net(X)[0], y, atol=1e-6)


def test_zero_error_network_is_a_critical_point_of_the_mse():
    X, y = minima.data.gaussian_binary(5, 60, seed=3, labels="01")
    W, z = zero_error_network(X, y, 0.1)
    net = minima.LeakyReLUNet.from_weights([W, z], 0.1)
    loss = minima.mse(net(X), y).sum()
    grads = torch.autograd.grad(loss, net.weights)
    assert max(float(g.abs().max()) for g in grads) < 1e-8


def test_groups_hold_at_most_d0_minus_1_positive_samples():
    X, y = minima.data.gaussian_binary(4, 50, seed=0, labels="01")
    details = zero_error_network(X, y, 0.0, return_details=True)
    assert all(len(g) <= 3 for g in details.groups)
    assert sorted(np.concatenate(details.groups).tolist()) == torch.nonzero(y).flatten().tolist()
    assert (details.eps2 < details.eps1).all()


def test_interpolating_network_fits_signed_real_targets():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(6, 80, generator=generator, dtype=torch.float64)
    targets = torch.randn(80, generator=generator, dtype=torch.float64)
    targets[::7] = 0.0
    for units in (3, 4):
        details = interpolating_network(X, targets, -0.2, units_per_group=units)
        assert details.max_error < 1e-8
        positive, negative = int((targets > 0).sum()), int((targets < 0).sum())
        assert details.W.shape[0] == neurons_needed(positive, 6, units, negative)


def test_counts():
    assert paper_neuron_count(100, 6) == 4 * math.ceil(100 / 10)
    assert neurons_needed(50, 6) == 4 * 10 and neurons_needed(50, 6, 3) == 30
    assert neurons_needed(0, 6) == 0
    with pytest.raises(ValueError, match="units_per_group"):
        neurons_needed(5, 6, 5)


def test_no_positive_labels_needs_no_units():
    X, y = minima.data.gaussian_binary(3, 10, seed=0, labels="01")
    W, z = zero_error_network(X, torch.zeros(10), 0.0)
    assert W.shape == (0, 3) and z.shape == (0,)


def test_zero_error_network_rejects_bad_input():
    X, y = minima.data.gaussian_binary(3, 10, seed=0, labels="01")
    with pytest.raises(ValueError, match="rho"):
        zero_error_network(X, y, 1.0)
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        zero_error_network(X, 2 * y - 1, 0.0)
    with pytest.raises(ValueError, match="y must have shape"):
        zero_error_network(X, y[:5], 0.0)
    with pytest.raises(ValueError, match="d0 >= 2"):
        zero_error_network(X[:1], y, 0.0)
    with pytest.raises(ValueError, match="X"):
        zero_error_network(X[0], y, 0.0)
    nan_X = X.clone()
    nan_X[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        zero_error_network(nan_X, y, 0.0)
    with pytest.raises(ValueError, match="beta"):
        zero_error_network(X, y, 0.0, beta=1.0)


def test_same_point_with_both_labels_is_refused():
    X = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    X[:, 5] = X[:, 0]
    y = torch.tensor([1.0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="general position"):
        zero_error_network(X, y, 0.0)
    y_both = torch.tensor([1.0, 0, 0, 0, 0, 1], dtype=torch.float64)  # same point, same label: fine
    W, z = zero_error_network(X, y_both, 0.0)
    assert torch.allclose(minima.forward([W, z], X, 0.0), y_both, atol=1e-9)


def test_zero_sample_with_label_one_is_refused():
    X = torch.randn(3, 5, dtype=torch.float64)
    X[:, 2] = 0
    y = torch.tensor([0.0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="zero column"):
        zero_error_network(X, y, 0.0)


def test_angular_margin():
    from minima.construction import angular_margin

    W = np.array([[1.0, 0.0]])
    X = np.array([[1.0, 1.0], [1.0, 0.0]])  # 45 degrees and 90 degrees from the hyperplane x1 = 0
    assert angular_margin(W, X) == pytest.approx(math.sqrt(0.5))
    assert angular_margin(W, np.array([[0.0], [1.0]])) == 0.0  # on the hyperplane
    with pytest.raises(ValueError, match="X"):
        angular_margin(W, np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero"):
        angular_margin(np.zeros((1, 2)), X)
