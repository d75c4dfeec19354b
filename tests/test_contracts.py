"""Input contracts over the public API: no silently wrong number from a badly shaped argument.

Every function that takes targets refuses ``(N, 1)`` (which would broadcast to ``(N, N)``) and ``(N − 1,)``;
every function that takes a member index refuses ``−1`` and ``R``; every function that takes ``X`` refuses
NaN. Each refusal is a ``ValueError`` naming the argument.
"""
from __future__ import annotations

import pytest
import torch

import minima
from minima import construction, derivatives, losses, regions

N, D0, D1, R = 12, 3, 3, 2


def _setting():
    X, y = minima.data.gaussian_binary(D0, N, seed=0)
    net = minima.LeakyReLUNet((D0, D1), 0.2, ensemble=R, seed=0, dtype=torch.float64)
    return X, y, net


TAKES_TARGETS = {
    "losses.mse": lambda X, y, net: losses.mse(net(X).detach(), y),
    "losses.half_squared_error": lambda X, y, net: losses.half_squared_error(net(X).detach(), y),
    "losses.mce": lambda X, y, net: losses.mce(net(X).detach(), y),
    "train": lambda X, y, net: minima.train(net, X, y, epochs=1),
    "sweep_widths": lambda X, y, net: minima.sweep_widths(X, y, [2], repetitions=1, epochs=1),
    "derivatives.mse_gradient": lambda X, y, net: derivatives.mse_gradient(net, X, y),
    "derivatives.mse_hessian": lambda X, y, net: derivatives.mse_hessian(net, X, y),
    "derivatives.loss_gradient": lambda X, y, net: derivatives.loss_gradient(net, X, y, normalization="half_sum"),
    "regions.stationarity": lambda X, y, net: regions.stationarity(net, X, y),
    "regions.solve_in_region": lambda X, y, net: regions.solve_in_region(net, X, y),
    "regions.region_minimum": lambda X, y, net: regions.region_minimum(X, y, torch.ones(2, N), 0.1),
    "census.landscape_census": lambda X, y, net: minima.census.landscape_census(X, y, 2, 0.1, samples=5),
    "census.exact_census": lambda X, y, net: minima.census.exact_census(X[:2], y, 2, 0.1),
    "construction.interpolating_network": lambda X, y, net: construction.interpolating_network(X, y, 0.1),
    "construction.zero_error_network": lambda X, y, net: construction.zero_error_network(X, (y + 1) / 2, 0.1),
}

TAKES_MEMBER = {
    "derivatives.gradient_matrix": lambda X, y, net, m: derivatives.gradient_matrix(net, X, member=m),
    "derivatives.flat_parameters": lambda X, y, net, m: derivatives.flat_parameters(net, m),
    "derivatives.mse_gradient": lambda X, y, net, m: derivatives.mse_gradient(net, X, y, member=m),
    "derivatives.mse_hessian": lambda X, y, net, m: derivatives.mse_hessian(net, X, y, member=m),
    "regions.design_matrix": lambda X, y, net, m: regions.design_matrix(net, X, member=m),
    "regions.solve_in_region": lambda X, y, net, m: regions.solve_in_region(net, X, y, member=m),
    "regions.stationarity": lambda X, y, net, m: regions.stationarity(net, X, y, member=m),
    "LeakyReLUNet.member": lambda X, y, net, m: net.member(m),
}

TAKES_X = {
    "LeakyReLUNet.__call__": lambda X, y, net: net(X),
    "models.forward": lambda X, y, net: minima.forward([w.detach() for w in net.weights], X, 0.2),
    "train": lambda X, y, net: minima.train(net, X, y, epochs=1),
    "sweep_widths": lambda X, y, net: minima.sweep_widths(X, y, [2], repetitions=1, epochs=1),
    "MinAbsPreactivation": lambda X, y, net: minima.MinAbsPreactivation(X),
    "derivatives.gradient_matrix": lambda X, y, net: derivatives.gradient_matrix(net, X),
    "derivatives.mse_gradient": lambda X, y, net: derivatives.mse_gradient(net, X, y),
    "derivatives.mse_hessian": lambda X, y, net: derivatives.mse_hessian(net, X, y),
    "regions.activation_pattern": lambda X, y, net: regions.activation_pattern(net, X),
    "regions.activation_slopes": lambda X, y, net: regions.activation_slopes(net, X),
    "regions.design_matrix": lambda X, y, net: regions.design_matrix(net, X),
    "regions.solve_in_region": lambda X, y, net: regions.solve_in_region(net, X, y),
    "regions.region_minimum": lambda X, y, net: regions.region_minimum(X, y, torch.ones(2, N), 0.1),
    "census.landscape_census": lambda X, y, net: minima.census.landscape_census(X, y, 2, 0.1, samples=5),
    "census.exact_census": lambda X, y, net: minima.census.exact_census(X[:2], y, 2, 0.1),
    "regions.stationarity": lambda X, y, net: regions.stationarity(net, X, y),
    "regions.planted_local_minimum": lambda X, y, net: regions.planted_local_minimum(X, 2, 0.2),
    "construction.interpolating_network": lambda X, y, net: construction.interpolating_network(X, y, 0.1),
    "construction.zero_error_network": lambda X, y, net: construction.zero_error_network(X, (y + 1) / 2, 0.1),
    "rank.khatri_rao_rank": lambda X, y, net: minima.rank.khatri_rao_rank(torch.ones(2, N), X),
    "data.standardize": lambda X, y, net: minima.data.standardize(X),
}


@pytest.mark.parametrize("name", sorted(TAKES_TARGETS))
@pytest.mark.parametrize("bad", ["column", "short"])
def test_targets_of_the_wrong_shape_are_refused(name, bad):
    X, y, net = _setting()
    wrong = y.unsqueeze(1) if bad == "column" else y[:-1]
    with pytest.raises(ValueError, match=r"\b(y|targets) must have shape"):
        TAKES_TARGETS[name](X, wrong, net)


@pytest.mark.parametrize("name", sorted(TAKES_TARGETS))
def test_targets_of_the_right_shape_are_accepted(name):
    X, y, net = _setting()
    TAKES_TARGETS[name](X, y, net)


@pytest.mark.parametrize("name", sorted(TAKES_MEMBER))
@pytest.mark.parametrize("member", [-1, R, 0.5, True])
def test_member_outside_the_ensemble_is_refused(name, member):
    X, y, net = _setting()
    with pytest.raises(ValueError, match="member|index"):
        TAKES_MEMBER[name](X, y, net, member)


@pytest.mark.parametrize("name", sorted(TAKES_MEMBER))
def test_last_member_is_accepted(name):
    X, y, net = _setting()
    TAKES_MEMBER[name](X, y, net, R - 1)


@pytest.mark.parametrize("name", sorted(TAKES_X))
def test_nan_in_X_is_refused(name):
    X, y, net = _setting()
    X = X.clone()
    X[1, 4] = float("nan")
    with pytest.raises(ValueError, match=r"X.*(NaN|inf)"):
        TAKES_X[name](X, y, net)


def test_the_broadcasting_hole_is_closed():
    """The bug these contracts exist for: (N, 1) targets against (N,) outputs gave an (N, N) error matrix."""
    X, y, net = _setting()
    outputs = net(X).detach()
    assert (outputs[:1] - y.unsqueeze(1)).shape == (N, N)  # what torch would silently do
    with pytest.raises(ValueError, match="y must have shape"):
        losses.mse(outputs[:1], y.unsqueeze(1))
