import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import minima
from minima.linear import (critical_point_kind, global_minimum, least_squares_fit, newton_refine,
                           rank_restricted_descent)


def _data(d0, dy, m, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(d0, m, generator=generator, dtype=torch.float64),
            torch.randn(dy, m, generator=generator, dtype=torch.float64))


@given(d0=st.integers(1, 5), dy=st.integers(1, 4), m=st.integers(1, 12), rank=st.integers(1, 5),
       seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_global_minimum_is_eckart_young_of_the_least_squares_fit(d0, dy, m, rank, seed):
    X, Y = _data(d0, dy, m, seed)
    value = global_minimum(X, Y, [rank])
    fit = least_squares_fit(X, Y)
    # brute force: the best rank-r matrix R minimising ½‖RX − Y‖² via the normal equations and truncation
    R = np.linalg.lstsq(X.numpy().T, Y.numpy().T, rcond=None)[0].T
    assert np.allclose(R @ X.numpy(), fit, atol=1e-10)
    singular = np.linalg.svd(fit, compute_uv=False)
    assert value == pytest.approx(0.5 * np.sum((Y.numpy() - fit) ** 2) + 0.5 * np.sum(singular[rank:] ** 2), abs=1e-10)
    top = 0.5 * float((Y ** 2).sum()) - 0.5 * float(np.sum(singular[:min(rank, d0, dy)] ** 2))
    assert value == pytest.approx(top, abs=1e-9)  # the ½‖Y‖² − ½Σλ_i form


def test_global_minimum_for_rank_deficient_X_and_the_narrowest_layer():
    X, Y = _data(3, 4, 30)
    X = torch.cat([X, X[:1] + X[1:2]])  # 4 rows of rank 3: XXᵀ is singular
    assert global_minimum(X, Y, [5, 5]) == pytest.approx(global_minimum(X[:3], Y, [5, 5]), abs=1e-10)
    assert global_minimum(X, Y, [5, 1, 5]) > global_minimum(X, Y, [5, 2, 5]) > global_minimum(X, Y, [5, 3, 5])
    with pytest.raises(ValueError, match="widths"):
        global_minimum(X, Y, [0])
    with pytest.raises(ValueError, match="Y"):
        global_minimum(X, Y[:, :5], [2])


def test_gradient_descent_from_many_starts_reaches_the_global_minimum():
    X, Y = _data(6, 5, 40)
    best = global_minimum(X, Y, [4, 2, 3])  # bottleneck 2 narrower than input and output
    net = minima.LeakyReLUNet((6, 4, 2, 3), 1.0, outputs=5, ensemble=4, seed=0, dtype=torch.float64)
    minima.train(net, X, Y, epochs=3000, lr=1e-2, normalization="half_sum")
    history = minima.train(net, X, Y, epochs=5000, lr=2e-3, optimizer="gd", normalization="half_sum")
    assert torch.allclose(history.final_loss, torch.full((4,), best, dtype=torch.float64), rtol=1e-12, atol=0)
    assert critical_point_kind([w.detach()[0] for w in net.weights], X, Y).verdict == "global minimum"
    assert rank_restricted_descent(X, Y, 2, steps=2000)[-1] == pytest.approx(best, rel=1e-12)


def test_the_origin_is_a_saddle_of_each_kind():
    X, Y = _data(3, 2, 20)
    shallow = [torch.zeros(4, 3, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)]
    deep = [torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64),
            torch.zeros(2, 4, dtype=torch.float64)]
    one = critical_point_kind(shallow, X, Y)
    assert one.gradient_norm == 0 and one.negative_eigenvalues > 0 and one.verdict == "saddle with a negative direction"
    two = critical_point_kind(deep, X, Y)  # Kawaguchi's Corollary 2.4: the Hessian is zero
    assert two.smallest_eigenvalue == two.largest_eigenvalue == 0
    assert two.verdict == "no negative direction, above the global minimum"
    moving = critical_point_kind([w + 0.1 for w in shallow], X, Y)
    assert moving.verdict == "not critical"
    with pytest.raises(ValueError, match="weights"):
        critical_point_kind([torch.zeros(1, 4, 3), torch.zeros(1, 2, 4)], X, Y)


def test_the_tolerances_are_the_documented_ones():
    """Loss: ``L − L* ≤ loss_tolerance · max(1, ½‖Y‖²)``; gradient: ``≤ gradient_tolerance · max(1, ‖Y Xᵀ‖)``."""
    X, Y = _data(3, 2, 20)
    Y = Y / (2 * float(Y.norm()))  # ½‖Y‖² < 1: the loss scale is 1
    deep = [torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64),
            torch.zeros(2, 4, dtype=torch.float64)]
    excess = critical_point_kind(deep, X, Y).loss - global_minimum(X, Y, [4, 4])
    assert critical_point_kind(deep, X, Y, loss_tolerance=excess / 0.75).verdict == "global minimum"
    assert critical_point_kind(deep, X, Y, loss_tolerance=excess / 1.25).verdict != "global minimum"
    X, Y = _data(3, 2, 20)
    moved = [torch.full((4, 3), 0.1, dtype=torch.float64), torch.full((2, 4), 0.1, dtype=torch.float64)]
    norm = critical_point_kind(moved, X, Y).gradient_norm
    scale = max(1.0, float(np.linalg.norm(Y.numpy() @ X.numpy().T)))
    assert critical_point_kind(moved, X, Y, gradient_tolerance=1.01 * norm / scale).verdict != "not critical"
    assert critical_point_kind(moved, X, Y, gradient_tolerance=0.99 * norm / scale).verdict == "not critical"


def test_newton_refine_shrinks_the_gradient_where_the_loss_is_flat():
    """Within 1e-9 of the minimum the loss cannot tell a step's progress from round-off; the gradient can."""
    X, Y = _data(4, 3, 40)
    fit = Y.numpy() @ np.linalg.pinv(X.numpy())  # R = Y X⁺, then its best rank-2 part as W2 W1
    U, singular, Vt = np.linalg.svd(fit @ X.numpy(), full_matrices=False)
    best = U[:, :2] * singular[:2] @ Vt[:2] @ np.linalg.pinv(X.numpy())
    U, singular, Vt = np.linalg.svd(best)
    W1 = torch.from_numpy(np.sqrt(singular[:2])[:, None] * Vt[:2])
    W2 = torch.from_numpy(U[:, :2] * np.sqrt(singular[:2]))
    generator = torch.Generator().manual_seed(3)
    start = [w + 1e-9 * torch.randn(w.shape, generator=generator, dtype=torch.float64) for w in (W1, W2)]
    before = critical_point_kind(start, X, Y)
    after = critical_point_kind(newton_refine(start, X, Y), X, Y)
    assert abs(before.loss - before.global_minimum) < 1e-12 * before.loss  # flat to round-off already
    assert before.gradient_norm > 1e-9 and after.gradient_norm < 1e-12 and after.verdict == "global minimum"


def test_sgd_with_momentum_equals_torch_optim_sgd():
    X, y = minima.data.teacher_regression(4, 30, seed=0, depth=2, width=5)
    net = minima.LeakyReLUNet((4, 6), 0.0, seed=2, dtype=torch.float64)
    reference = [w.detach().clone().requires_grad_(True) for w in net.weights]
    minima.train(net, X, y, epochs=25, lr=0.01, optimizer="sgd", momentum=0.9, normalization="half_sum")
    optimizer = torch.optim.SGD(reference, lr=0.01, momentum=0.9)
    for _ in range(25):
        optimizer.zero_grad()
        minima.half_squared_error(minima.forward(reference, X, 0.0), y).sum().backward()
        optimizer.step()
    for ours, theirs in zip(net.weights, reference):
        assert torch.allclose(ours.detach(), theirs.detach(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="momentum"):
        minima.train(net, X, y, optimizer="sgd", momentum=1.0)


def test_newton_refine_reaches_round_off_where_gradient_descent_is_slow():
    from minima.linear import newton_refine

    X, Y = _data(6, 5, 40, seed=3)
    best = global_minimum(X, Y, [4, 4, 6])
    net = minima.LeakyReLUNet((6, 4, 4, 6), 1.0, outputs=5, ensemble=2, seed=2, dtype=torch.float64)
    minima.train(net, X, Y, epochs=1500, lr=1e-2, normalization="half_sum")
    curvature = max(critical_point_kind([w.detach()[r] for w in net.weights], X, Y).largest_eigenvalue
                    for r in range(2))
    history = minima.train(net, X, Y, epochs=300, lr=1 / curvature, optimizer="gd", normalization="half_sum")
    assert (history.final_loss - best).min() > 1e-12 * best  # gradient descent is short of the last digits
    for r in range(2):
        refined = newton_refine([w.detach()[r] for w in net.weights], X, Y)
        loss = float(minima.half_squared_error(minima.forward(refined, X, 1.0)[None], Y)[0])
        assert loss == pytest.approx(best, rel=1e-13)
