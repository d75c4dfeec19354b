import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.ntk import (GramDynamics, empirical_gram, limit_gram, limit_gram_standard_error, linearized_prediction,
                        min_eigenvalue, proof_width, theory_step_size, theory_width, two_layer_network)


def _jacobian_gram(net, X):
    """The generic route: per-sample Jacobians of u with respect to W by torch.func, contracted."""
    W, z = (w.detach()[0] for w in net.weights)

    def output(weights, x):
        return minima.forward([weights, z], x.unsqueeze(1), 0.0, validate=False)[0]

    J = torch.func.vmap(torch.func.jacrev(output), in_dims=(None, 1))(W, X)  # (N, m, d)
    J = J.reshape(X.shape[1], -1)
    return J @ J.T


def test_closed_form_against_monte_carlo_within_its_standard_error():
    X, _ = minima.data.unit_sphere_regression(4, 12, seed=0)
    m = 200_000
    W = torch.randn(m, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    estimate, exact = empirical_gram(W, X), limit_gram(X)
    error = limit_gram_standard_error(X, m)
    # 144 entries: |z| < 4.5 for all holds with probability > 0.999 if the closed form is right
    assert ((estimate - exact).abs() <= 4.5 * error + 1e-15).all()
    assert torch.allclose(exact.diagonal(), torch.full((12,), 0.5, dtype=torch.float64))


@given(d=st.integers(2, 5), n=st.integers(1, 6), m=st.integers(1, 40), seed=st.integers(0, 100))
@settings(max_examples=20, deadline=None)
def test_empirical_gram_is_the_jacobian_gram(d, n, m, seed):
    X, _ = minima.data.unit_sphere_regression(d, n, seed=seed)
    net = two_layer_network(d, m, seed=seed)
    H = empirical_gram(net.weights[0].detach()[0], X, block=7)
    assert torch.allclose(H, _jacobian_gram(net, X), rtol=1e-10, atol=1e-14)
    assert torch.allclose(H, H.T) and float(torch.linalg.eigvalsh(H)[0]) > -1e-12


def test_ensemble_gram_and_lambda0():
    X, _ = minima.data.unit_sphere_regression(3, 5, seed=0)
    net = two_layer_network(3, 50, ensemble=3, seed=0)
    H = empirical_gram(net.weights[0].detach(), X)
    assert H.shape == (3, 5, 5)
    assert torch.allclose(H[1], empirical_gram(net.weights[0].detach()[1], X))
    assert min_eigenvalue(H).shape == (3,)
    x = X[:, :1]
    assert min_eigenvalue(limit_gram(torch.cat([x, -x], dim=1))) == pytest.approx(0.5)  # antiparallel: λ0 = ½
    assert abs(min_eigenvalue(limit_gram(torch.cat([x, x, X[:, 1:2]], dim=1)))) < 1e-15  # duplicated: λ0 = 0


def test_linearized_prediction_flow_and_steps():
    X, y = minima.data.unit_sphere_regression(3, 6, seed=2)
    H = limit_gram(X)
    u0 = torch.zeros(6, dtype=torch.float64)
    flow = linearized_prediction(H, u0, y, [0.0, 1.0, 50.0])
    assert torch.allclose(flow[0], u0) and torch.allclose(flow[1], y - torch.linalg.matrix_exp(-H) @ y)
    steps = linearized_prediction(H, u0, y, [0, 1, 2], learning_rate=0.3)
    step = torch.eye(6, dtype=torch.float64) - 0.3 * H
    assert torch.allclose(steps[2], y - step @ step @ y)
    with pytest.raises(ValueError, match="whole numbers"):
        linearized_prediction(H, u0, y, [0.5], learning_rate=0.3)


def test_training_with_the_tracker():
    X, y = minima.data.unit_sphere_regression(5, 8, seed=0)
    net = two_layer_network(5, 2000, ensemble=2, seed=0)
    W0 = net.weights[0].detach().clone()
    tracker = GramDynamics(X, y, every=5)
    history = minima.train(net, X, y, epochs=20, lr=0.5, optimizer="gd", normalization="half_sum", train_layers=[0],
                           stop_at_zero=False, callbacks=[tracker])
    values = tracker.values
    assert tracker.steps.tolist() == [0, 5, 10, 15, 20]
    assert torch.equal(tracker.initial_weights, W0)
    with pytest.raises(ValueError, match="nothing recorded"):
        GramDynamics(X, y).initial_weights
    assert values["residual_norm"].shape == (5, 2) and values["outputs"].shape == (5, 2, 8)
    assert torch.allclose(values["residual_norm"][1] ** 2 / 2, history.loss[5], rtol=1e-10)  # after step 5
    assert torch.allclose(values["outputs"][-1], net(X).detach(), atol=1e-14)
    assert torch.equal(net.weights[1].detach().abs(), torch.full((2, 2000), 1 / math.sqrt(2000), dtype=torch.float64))
    moved = (net.weights[0].detach() - W0).norm(dim=-1).max(dim=-1).values
    assert values["weight_movement"][0].eq(0).all() and values["weight_movement"][-1].le(moved + 1e-15).all()
    assert values["gram_change"][0].eq(0).all() and values["flip_fraction"][0].eq(0).all()
    bound = math.sqrt(8 / 2000) * values["residual_norm"]  # Golikov: ‖∂L/∂w_r‖ ≤ √(n/m) ‖u − y‖
    assert (values["max_neuron_gradient"] <= bound * (1 + 1e-12)).all()
    assert history.loss[-1].lt(history.loss[0]).all()


def test_tracker_in_blocks_of_units_records_what_one_block_records(monkeypatch):
    """At full width the record works on blocks of units (memory); the blocks change only round-off."""
    X, y = minima.data.unit_sphere_regression(4, 6, seed=1)
    records = []
    for elements in (2 ** 25, 7 * 2 * 6):  # one block; blocks of 7 units (of 50) for 2 members
        monkeypatch.setattr(minima.ntk, "_RECORD_ELEMENTS", elements)
        net = two_layer_network(4, 50, ensemble=2, seed=3)
        tracker = GramDynamics(X, y, every=2)
        minima.train(net, X, y, epochs=6, lr=0.3, optimizer="gd", normalization="half_sum", train_layers=[0],
                     stop_at_zero=False, callbacks=[tracker])
        records.append(tracker.values)
    for name, value in records[0].items():
        assert torch.allclose(records[1][name], value, rtol=1e-12, atol=1e-14), name
    assert records[0]["flip_fraction"][-1].gt(0).any()  # the flips are counted in both


def _neural_tangents_relu_kernels(X, first_std):
    """neural-tangents' analytic NNGP and NTK of bias-free ``Dense(m, W_std=first_std) → Relu →
    Dense(1, W_std=1)``, re-derived in numpy from its layer recursions (Lee et al. 2019, Arora et al. 2019):
    ``Dense`` maps a covariance ``Σ`` to ``W_std² Σ / fan_in`` and the NTK to ``W_std² Θ / fan_in + that``;
    ``Relu`` maps them by the arc-cosine kernels of degree 1 (``Σ``) and 0 (the derivative, ``Σ̇``), and
    ``Θ ↦ Σ̇ ⊙ Θ``."""
    X = np.asarray(X, dtype=np.float64)
    sigma = first_std ** 2 * (X.T @ X) / X.shape[0]  # first Dense: NNGP = NTK
    theta = sigma.copy()
    scale = np.sqrt(np.outer(np.diag(sigma), np.diag(sigma)))
    angle = np.arccos(np.clip(sigma / scale, -1.0, 1.0))
    np.fill_diagonal(angle, 0.0)  # an input with itself; arccos(1 − ε) would be √(2ε), not 0
    relu = scale * (np.sin(angle) + (np.pi - angle) * np.cos(angle)) / (2 * np.pi)  # E relu(u) relu(v)
    step = (np.pi - angle) / (2 * np.pi)  # E 1{u > 0} 1{v > 0}
    nngp = relu  # the readout Dense(1, W_std=1) over a fan-in of 1 unit of ``relu`` scale
    ntk = relu + step * theta
    return nngp, ntk


def test_limit_gram_is_neural_tangents_ntk_minus_its_nngp():
    """The module's mapping: with ``W_std = √d`` on the first layer, ``H∞ = Θ − NNGP``, and Du's time is
    neural-tangents' time over N (its loss is ``‖f − y‖²/(2N)``, so its flow is ``df/dt = −Θ(f − y)/N``)."""
    X, y = minima.data.unit_sphere_regression(6, 9, seed=4)
    nngp, ntk = _neural_tangents_relu_kernels(X.numpy(), first_std=math.sqrt(6))
    H = limit_gram(X).numpy()
    np.testing.assert_allclose(ntk - nngp, H, rtol=0, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(nngp) > 0)  # Θ = H∞ + NNGP differs from H∞ by a positive kernel
    u0 = torch.zeros(9, dtype=torch.float64)
    times = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    n = X.shape[1]
    values, vectors = np.linalg.eigh(H)
    for t, du in zip(times.numpy(), linearized_prediction(H, u0, y, times)):
        # neural-tangents' gradient_descent_mse with kernel H at its time n·t: y + e^{−H (n t)/n}(f0 − y)
        nt = y.numpy() + vectors @ (np.exp(-values * (n * t) / n) * (vectors.T @ (u0 - y).numpy()))
        np.testing.assert_allclose(du.numpy(), nt, rtol=0, atol=1e-13)


def test_limit_gram_is_accurate_for_equal_and_nearly_parallel_inputs():
    """arccos(x_iᵀx_j) would put √(2ε) ≈ 2e-8 into θ_ii; the angle from distances keeps H∞_ii = ½."""
    X, _ = minima.data.unit_sphere_regression(7, 30, seed=8)
    H = limit_gram(X)
    assert float((H.diagonal() - 0.5).abs().max()) < 1e-14
    x = X[:, :1]
    tilted = x + 1e-9 * X[:, 1:2]
    tilted = tilted / tilted.norm()
    pair = limit_gram(torch.cat([x, x, tilted], dim=1))
    assert torch.equal(pair[0], pair[1])  # an input twice: two equal rows, λ0 = 0 exactly in exact arithmetic
    angle = float(torch.linalg.norm(x - tilted))  # ≈ the angle, to O(θ³)
    assert float(pair[0, 2]) == pytest.approx(float(x.T @ tilted) * (math.pi - angle) / (2 * math.pi), abs=1e-15)


def test_proof_width_follows_the_proof_and_its_order():
    y = torch.ones(10, dtype=torch.float64)
    delta = 0.3 / 3
    radius = math.sqrt(2 * math.pi) * delta * 0.2 / (16 * 10 ** 2)
    expected = 16 * 10 * ((10 + 5) / delta) / (0.2 ** 2 * radius ** 2)
    assert proof_width(y, 0.2, 0.3) == pytest.approx(expected, rel=1e-12)
    ratio = proof_width(torch.ones(20, dtype=torch.float64), 0.1, 0.05) / proof_width(y, 0.2, 0.3)
    assert ratio == pytest.approx(2 ** 6 * 2 ** 4 * 6 ** 3, rel=1e-12)  # n⁶ / (λ0⁴ δ³) with ‖y‖² ∝ n
    for bad in (dict(y=torch.ones(0)), dict(lambda0=0.0), dict(delta=1.0)):
        with pytest.raises(ValueError, match="y|lambda0|delta"):
            proof_width(**{**dict(y=y, lambda0=0.2, delta=0.3), **bad})


def test_theory_numbers_and_bad_input():
    assert theory_width(100, 0.5, 0.1) == pytest.approx(100 ** 6 / (0.5 ** 4 * 1e-3))
    assert theory_step_size(100, 0.5) == pytest.approx(5e-5)
    with pytest.raises(ValueError, match="unit-norm"):
        limit_gram(2 * torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="W must have d = 3"):
        empirical_gram(torch.ones(4, 2), torch.eye(3))
    with pytest.raises(ValueError, match="symmetric"):
        min_eigenvalue(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="delta"):
        theory_width(10, 0.1, 1.5)
    with pytest.raises(ValueError, match="two-layer ReLU"):
        minima.train(minima.LeakyReLUNet((3, 4), 0.1), torch.eye(3), torch.zeros(3), epochs=1,
                     callbacks=[GramDynamics(torch.eye(3), torch.zeros(3))])
