"""Deep linear networks: the global minimum in closed form, and what kind of critical point a point is.

A deep linear network is the library's model with ``ρ = 1`` and vector outputs: ``Ŷ = W_{H+1} ⋯ W_1 X`` with
``W_l: (d_l, d_{l-1})``, ``X: (d0, m)``, ``Y: (d_y, m)`` and the loss ``L = ½‖Ŷ − Y‖_F²`` (Kawaguchi 2016;
Lu & Kawaguchi 2017), ``normalization="half_sum"`` in :func:`minima.train`. The product of the weights has
rank at most ``r = min(d0, d1, …, d_H, d_y)``, so the best the network can do is the best rank-``r``
approximation of the least-squares fit ``Y P_X`` (``P_X`` the projector onto the row space of ``X``):

    min L = ½‖Y (I − P_X)‖_F² + ½ Σ_{i>r} σ_i(Y P_X)²  =  ½‖Y‖_F² − ½ Σ_{i≤r} λ_i(Y P_X Yᵀ)

(Eckart–Young; :func:`global_minimum`). Lu & Kawaguchi's Theorem 2.3: if ``X`` and ``Y`` have full row rank,
every local minimum attains it. Chapter 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_float64_matrix, check_positive_int, check_real
from .derivatives import loss_gradient, loss_hessian
from .losses import half_squared_error
from .models import LeakyReLUNet, check_weights
from .rank import eigenvalue_tolerance

__all__ = ["global_minimum", "least_squares_fit", "CriticalPoint", "critical_point_kind",
           "newton_refine", "rank_restricted_descent"]

_EPS = float(np.finfo(np.float64).eps)


def _pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X = as_float64_matrix("X", X)
    Y = as_float64_matrix("Y", Y, cols=X.shape[1])
    return X, Y


def least_squares_fit(X, Y) -> np.ndarray:
    """``Y P_X: (d_y, m)``, the best linear fit ``R X`` over all matrices ``R`` (any ``X``, of full rank or not).

    ``P_X`` projects onto the row space of ``X``, from its SVD with ``numpy.linalg.matrix_rank``'s cut-off.
    Chapter 5.
    """
    X, Y = _pair(X, Y)
    _, singular, Vt = np.linalg.svd(X, full_matrices=False)
    if singular.size == 0 or singular[0] == 0:
        return np.zeros_like(Y)
    rows = Vt[singular > singular[0] * max(X.shape) * _EPS]  # (rank, m): orthonormal basis of the row space
    return (Y @ rows.T) @ rows


def global_minimum(X, Y, widths) -> float:
    """``min_W ½‖W_{H+1} ⋯ W_1 X − Y‖_F²`` for hidden widths ``widths = [d1, …, d_H]`` (see the module).

    ``X: (d0, m)``, ``Y: (d_y, m)``; ``widths`` may be empty (``H = 0``: plain least squares). Computed as
    ``½‖Y − Y P_X‖² + ½ Σ_{i>r} σ_i(Y P_X)²``, which avoids the cancellation of the ``½‖Y‖² − …`` form.
    Chapter 5.
    """
    X, Y = _pair(X, Y)
    widths = [check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths)]
    rank = min([X.shape[0], Y.shape[0], *widths])
    fit = least_squares_fit(X, Y)
    singular = np.linalg.svd(fit, compute_uv=False)
    return 0.5 * float(np.sum((Y - fit) ** 2)) + 0.5 * float(np.sum(singular[rank:] ** 2))


@dataclass
class CriticalPoint:
    """What :func:`critical_point_kind` found at one point of a deep linear network's loss.

    ``loss`` and ``global_minimum`` are ``½‖·‖_F²`` values; ``gradient_norm`` is ``‖∇L‖₂``; the Hessian's
    ``smallest_eigenvalue``, ``largest_eigenvalue`` and ``negative_eigenvalues`` (how many lie below
    round-off, :func:`minima.rank.eigenvalue_tolerance`); ``verdict`` is one of ``"not critical"``,
    ``"global minimum"``, ``"saddle with a negative direction"`` and ``"no negative direction, above the
    global minimum"`` (a degenerate saddle, or a sub-optimal local minimum, which Lu & Kawaguchi rule out
    when ``X`` and ``Y`` have full row rank). Chapter 5.
    """
    loss: float
    global_minimum: float
    gradient_norm: float
    smallest_eigenvalue: float
    largest_eigenvalue: float
    negative_eigenvalues: int
    verdict: str


def _linear_network(weights) -> LeakyReLUNet:
    weights = [torch.as_tensor(np.asarray(w, dtype=np.float64)) if not isinstance(w, torch.Tensor)
               else w.detach().double() for w in weights]
    _, d_out, ensemble = check_weights(weights)
    if ensemble or d_out is None:
        raise ValueError("weights must be one network's [W_1: (d1, d0), …, W_{H+1}: (d_y, d_H)], "
                         "each a matrix without the ensemble axis")
    return LeakyReLUNet.from_weights(weights, 1.0)


def critical_point_kind(weights, X, Y, *, gradient_tolerance: float = 1e-8,
                        loss_tolerance: float = 1e-9) -> CriticalPoint:
    """Classify the point ``weights = [W_1, …, W_{H+1}]`` of a deep linear network's loss on ``(X, Y)``.

    The gradient and Hessian of ``L = ½‖Ŷ − Y‖_F²`` come from :mod:`minima.derivatives` (float64). The point
    is critical when ``‖∇L‖ ≤ gradient_tolerance · max(1, ‖Y Xᵀ‖_F)``, the scale of a gradient (``Y Xᵀ`` is
    the gradient of ``L`` in the product ``R = W_{H+1} ⋯ W_1`` at ``R = 0``); a global minimum when moreover
    ``L − L* ≤ loss_tolerance · max(1, ½‖Y‖_F²)``, the scale of a loss; otherwise the Hessian decides
    (negative eigenvalues beyond round-off, by :mod:`minima.rank`'s rule). Kawaguchi's Corollary 2.4: at
    ``W = 0`` with ``H ≥ 2`` the gradient and the Hessian are zero, and when ``X Yᵀ ≠ 0`` that point is a
    saddle with no negative direction. Chapter 5.
    """
    net = _linear_network(weights)
    X, Y = _pair(X, Y)
    if X.shape[0] != net.widths[0] or Y.shape[0] != net.outputs:
        raise ValueError(f"X must be ({net.widths[0]}, m) and Y ({net.outputs}, m) for these weights, "
                         f"got {X.shape} and {Y.shape}")
    gradient_tolerance = check_real("gradient_tolerance", gradient_tolerance, low=0.0)
    loss_tolerance = check_real("loss_tolerance", loss_tolerance, low=0.0)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    loss = float(half_squared_error(net(Xt).detach(), Yt)[0])
    best = global_minimum(X, Y, net.widths[1:])
    gradient = loss_gradient(net, Xt, Yt, normalization="half_sum")
    hessian = loss_hessian(net, Xt, Yt, normalization="half_sum")
    eigenvalues = torch.linalg.eigvalsh(hessian)
    tolerance = eigenvalue_tolerance(eigenvalues, X.shape[1]) if float(eigenvalues.abs().max()) > 0 else 0.0
    negative = int((eigenvalues < -tolerance).sum())
    gradient_scale = max(1.0, float(np.linalg.norm(Y @ X.T)))
    loss_scale = max(1.0, 0.5 * float(np.sum(Y ** 2)))
    if float(gradient.norm()) > gradient_tolerance * gradient_scale:
        verdict = "not critical"
    elif loss - best <= loss_tolerance * loss_scale:
        verdict = "global minimum"
    elif negative:
        verdict = "saddle with a negative direction"
    else:
        verdict = "no negative direction, above the global minimum"
    return CriticalPoint(loss, best, float(gradient.norm()), float(eigenvalues[0]), float(eigenvalues[-1]),
                         negative, verdict)


def rank_restricted_descent(X, Y, rank: int, *, steps: int = 2000, lr: float | None = None,
                            seed: int = 0) -> np.ndarray:
    """Projected gradient descent on Lu & Kawaguchi's shallow problem ``min ½‖R X − Y‖_F², rank(R) ≤ rank``.

    From a random ``R: (d_y, d0)``, each step is a gradient step followed by the projection onto matrices of
    rank at most ``rank`` (the truncated SVD). ``lr`` defaults to ``1 / λ_max(X Xᵀ)``. Returns the loss after
    every step, ``(steps,)``. Their Theorem 2.2: with ``X`` of full row rank, every local minimum is global,
    so every start should end at :func:`global_minimum` with the same ``rank``. Chapter 5.
    """
    X, Y = _pair(X, Y)
    rank = check_positive_int("rank", rank)
    steps = check_positive_int("steps", steps)
    curvature = float(np.linalg.eigvalsh(X @ X.T)[-1])
    lr = 1.0 / curvature if lr is None else check_real("lr", lr, low=0.0, low_open=True)
    R = np.random.default_rng(seed).standard_normal((Y.shape[0], X.shape[0])) / np.sqrt(X.shape[0])
    losses = np.empty(steps)
    for step in range(steps):
        R = R - lr * (R @ X - Y) @ X.T
        U, singular, Vt = np.linalg.svd(R, full_matrices=False)
        R = (U[:, :rank] * singular[:rank]) @ Vt[:rank]
        losses[step] = 0.5 * float(np.sum((R @ X - Y) ** 2))
    return losses


def newton_refine(weights, X, Y, *, steps: int = 10) -> list[torch.Tensor]:
    """Newton steps on ``L = ½‖Ŷ − Y‖_F²`` from near a minimum, with the pseudo-inverse of the Hessian.

    The minima of a deep linear network are not isolated (``W_{l+1} W_l = (W_{l+1} C)(C⁻¹ W_l)``), so the
    Hessian is singular there; each step ``−H⁺ ∇L`` uses only its eigenvalues above ``10⁻¹⁰ max|λ|``
    (positive ones: a step along negative curvature would aim at a saddle). A step is taken only if it
    lowers the loss or, where the loss is flat to its round-off (``64 ε L``), lowers ``‖∇L‖``; it is halved
    up to 30 times, and the loop ends when no step helps. Near a minimum the loss resolves the distance
    to the minimum only to about ``√(ε L / λ)``, so the gradient criterion carries the last steps. This
    converges quadratically, to round-off, where gradient descent is only linear. Returns the new
    weights ``[W_1, …, W_{H+1}]`` (float64). Chapter 5.
    """
    net = _linear_network(weights)
    X, Y = _pair(X, Y)
    steps = check_positive_int("steps", steps)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    current = [w.detach()[0] for w in net.weights]
    shapes, sizes = [w.shape for w in current], [w.numel() for w in current]

    def loss_of(candidate):
        return float(half_squared_error(LeakyReLUNet.from_weights(candidate, 1.0)(Xt).detach(), Yt)[0])

    def gradient_of(candidate):
        return loss_gradient(LeakyReLUNet.from_weights(candidate, 1.0), Xt, Yt, normalization="half_sum")

    loss = loss_of(current)
    for _ in range(steps):
        point = LeakyReLUNet.from_weights(current, 1.0)
        gradient = loss_gradient(point, Xt, Yt, normalization="half_sum")
        eigenvalues, vectors = torch.linalg.eigh(loss_hessian(point, Xt, Yt, normalization="half_sum"))
        keep = eigenvalues > 1e-10 * float(eigenvalues.abs().max())
        direction = vectors[:, keep] @ ((vectors[:, keep].T @ gradient) / eigenvalues[keep])
        theta = torch.cat([w.reshape(-1) for w in current])
        flat = 64 * np.finfo(np.float64).eps * max(loss, np.finfo(np.float64).tiny)  # round-off of L
        for _ in range(30):
            candidate = [p.reshape(q) for p, q in zip((theta - direction).split(sizes), shapes)]
            candidate_loss = loss_of(candidate)
            if candidate_loss < loss:
                break
            if candidate_loss <= loss + flat and float(gradient_of(candidate).norm()) < float(gradient.norm()):
                break  # the loss is flat to round-off here: the step must shrink the gradient instead
            direction = direction / 2
        else:
            break
        current, loss = candidate, candidate_loss
    return current
