"""Theorem 8 of Soudry & Hoffer: an explicit bias-free leaky-ReLU network with zero training error.

The construction (their appendix 9, a bias-free variant of Baum 1988) fits the samples with label 1 in
groups of at most ``d0 − 1``. For a group ``S_i`` it takes

* ``w_i``, the normal of a hyperplane through the origin that holds the group: ``w_iᵀ X_{S_i} = 0`` (eq. 9.2);
* ``ŵ_i`` with ``ŵ_iᵀ [X_{S_i}, w_i] = [1, …, 1, 0]`` (eq. 9.4), both scaled so ``‖w_i‖ = ‖ŵ_i‖`` (eq. 9.5);
* the four rows ``w_i ± ε1 ŵ_i``, ``w_i ± ε2 ŵ_i`` with output weights ``[1, −1, −1, 1] / ((ε1 − ε2)(1 − ρ))``.

On a group sample the four pre-activations are ``±ε1, ±ε2`` and the unit outputs add up to 1; on any
other sample they share the sign of ``w_iᵀx`` once ``ε1 < min |w_iᵀx| / max |ŵ_iᵀx|``, and then add up to 0.
This is the trapezoid :func:`trapezoid` (eq. 9.1) evaluated along ``ŵ_i`` on the hyperplane. The network's
outputs are those of the library's model, :func:`minima.models.forward` of ``[W, z]``.

The same bump needs only **three** units: rows ``w_i + s_j ŵ_i`` with offsets ``s = (ε1, ε2, −ε1)`` and
output weights ``z ∝ (s3 − s2, s1 − s3, s2 − s1)``, the null vector of ``[[1, 1, 1], s]``. Away from the
hyperplane the outputs cancel because ``Σ z_j = 0`` and ``Σ z_j s_j = 0``; on it they give
``−z_3 s_3 (1 − ρ) ≠ 0``. ``units_per_group=3`` selects this variant; it is exact and differentiable too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_float64_matrix, check_positive_int, check_real, check_targets
from .models import forward, leaky_relu

__all__ = ["trapezoid", "zero_error_network", "interpolating_network", "neurons_needed", "paper_neuron_count",
           "Construction", "angular_margin"]

_REFUSE_ERROR = 1e-3  # a float64 construction that misses a target by more than this (relative) is refused
_SOLVE_SLACK = 1e-9  # a group's system ŵᵀ[X_S, w] = [|t|, 0] counts as solved within this (relative) residual
_ON_HYPERPLANE = 1e-12  # |wᵀx| below this (relative to ‖w‖ max‖x‖) puts a sample on a group's hyperplane


def _check_rho(rho) -> float:
    rho = check_real("rho", rho)
    if rho == 1.0:
        raise ValueError("rho must differ from 1: with rho = 1 every unit is linear and no bump can be built")
    return rho


def _check_units_per_group(units_per_group) -> int:
    if units_per_group not in (3, 4) or isinstance(units_per_group, bool):
        raise ValueError(f"units_per_group must be 3 or 4, got {units_per_group!r}")
    return int(units_per_group)


def trapezoid(u, eps1: float, eps2: float, rho: float):
    """The trapezoid of Soudry & Hoffer eq. (9.1) as a scaled sum of four leaky ReLUs.

    ``τ(u) = [f(u + ε1) − f(u + ε2) − f(u − ε2) + f(u − ε1)] / ((ε1 − ε2)(1 − ρ))``, which is 1 for
    ``|u| ≤ ε2``, ``(ε1 − |u|)/(ε1 − ε2)`` for ``ε2 < |u| ≤ ε1`` and 0 beyond. ``u``: any shape (tensor or
    array); requires ``ε1 > ε2 > 0`` and ``ρ ≠ 1``.

    Chapter 3.
    """
    eps1 = check_real("eps1", eps1, low=0.0, low_open=True)
    eps2 = check_real("eps2", eps2, low=0.0, low_open=True)
    if not eps2 < eps1:
        raise ValueError(f"eps2 must be smaller than eps1, got eps1={eps1}, eps2={eps2}")
    rho = _check_rho(rho)
    is_tensor = isinstance(u, torch.Tensor)
    t = u if is_tensor else torch.as_tensor(np.asarray(u, dtype=np.float64))
    total = (leaky_relu(t + eps1, rho) - leaky_relu(t + eps2, rho)
             - leaky_relu(t - eps2, rho) + leaky_relu(t - eps1, rho))
    value = total / ((eps1 - eps2) * (1 - rho))
    return value if is_tensor else value.numpy()


def paper_neuron_count(n_samples: int, d0: int) -> int:
    """The count Theorem 8 states, ``d1* = 4 ⌈N / (2 d0 − 2)⌉``, which assumes ``|S⁺| ≤ N/2``.

    Chapter 3.
    """
    n_samples, d0 = check_positive_int("n_samples", n_samples), check_positive_int("d0", d0, minimum=2)
    return 4 * math.ceil(n_samples / (2 * d0 - 2))


def neurons_needed(n_positive: int, d0: int, units_per_group: int = 4, n_negative: int = 0) -> int:
    """Hidden units the construction uses: ``units · (⌈n_positive/(d0−1)⌉ + ⌈n_negative/(d0−1)⌉)``.

    For labels in {0, 1}, ``n_positive = |S⁺|`` and ``n_negative = 0``; for real targets, the numbers of
    positive and negative targets (zeros cost nothing).

    Chapter 3.
    """
    d0 = check_positive_int("d0", d0, minimum=2)
    units_per_group = _check_units_per_group(units_per_group)
    n_positive = check_positive_int("n_positive", n_positive, minimum=0)
    n_negative = check_positive_int("n_negative", n_negative, minimum=0)
    return units_per_group * (math.ceil(n_positive / (d0 - 1)) + math.ceil(n_negative / (d0 - 1)))


@dataclass
class Construction:
    """The network and its diagnostics. ``W: (d1, d0)``, ``z: (d1,)`` float64 tensors.

    ``groups`` lists the sample indices each hyperplane holds; ``eps1`` and ``eps2`` are per group;
    ``max_error`` is ``max_n |f(W x_n)ᵀz − y_n|``; ``min_abs_preactivation`` is ``min_{i,n} |w_iᵀx_n|``.
    ``roundoff_bound`` is the first-order float64 error bound of evaluating ``f(W X)ᵀz``,
    ``max_n (d0 + d1 + 2) · u · Σ_i |z_i| ‖w_i‖ ‖x_n‖`` with ``u = 2⁻⁵³``: the construction is exact in exact
    arithmetic, so ``max_error ≤ roundoff_bound`` is what "exact to round-off" means.

    Chapter 3.
    """
    W: torch.Tensor
    z: torch.Tensor
    groups: list[np.ndarray]
    eps1: np.ndarray
    eps2: np.ndarray
    max_error: float
    min_abs_preactivation: float
    roundoff_bound: float


def _offsets_and_weights(eps1: float, eps2: float, rho: float, units_per_group: int):
    if units_per_group == 4:
        offsets = np.array([eps1, eps2, -eps2, -eps1])
        weights = np.array([1.0, -1.0, -1.0, 1.0])
    else:
        offsets = np.array([eps1, eps2, -eps1])
        weights = np.array([offsets[2] - offsets[1], offsets[0] - offsets[2], offsets[1] - offsets[0]])
    f = np.where(offsets > 0, offsets, rho * offsets)
    return offsets, weights / float(weights @ f)  # output exactly 1 where ŵᵀx = 1 and wᵀx = 0


def interpolating_network(X, targets, rho: float, *, units_per_group: int = 4, beta: float = 0.5,
                          gamma: float = 0.5, seed: int = 0) -> Construction:
    """A bias-free one-hidden-layer network with ``f(W X)ᵀz = targets`` exactly, by Theorem 8's bumps.

    ``X: (d0, N)``, ``targets: (N,)`` real. Samples with positive targets are split into groups of at most
    ``d0 − 1`` (in index order), and so are those with negative targets; each group gets one bump of
    ``units_per_group`` (4 as in the paper, or 3) units with ``ŵ_iᵀx_n = |t_n|`` on the group and the sign
    of the group in ``z``. Zero targets cost nothing. ``ε1 = β min_{n∉S_i}|w_iᵀx_n| / max_{n∉S_i}|ŵ_iᵀx_n|``
    and ``ε2 = γ ε1`` with ``β, γ ∈ (0, 1)``. Raises ``ValueError`` when ``X`` is not in general position
    enough for the construction, or when the float64 result would miss a target by more than ``1e-3`` (relative
    to ``max |t|``) or have a zero pre-activation.

    Chapters 2 and 3.
    """
    X = as_float64_matrix("X", X)
    d0, n_samples = X.shape
    if d0 < 2:
        raise ValueError(f"X must have d0 >= 2 rows (a hyperplane through the origin must hold a sample), got {d0}")
    t = check_targets("targets", targets, ((n_samples,),)).detach().cpu().double().numpy()
    rho = _check_rho(rho)
    units_per_group = _check_units_per_group(units_per_group)
    beta = check_real("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, low_open=True, high_open=True)
    norms = np.linalg.norm(X, axis=0)
    zero_columns = np.flatnonzero((norms == 0) & (t != 0))
    if zero_columns.size:
        raise ValueError(f"X has a zero column at sample {zero_columns[0]} with a non-zero target: a bias-free "
                         "network outputs 0 there")

    generator = np.random.default_rng(seed)
    size = d0 - 1
    groups = []
    for sign in (1.0, -1.0):
        members = np.flatnonzero(np.sign(t) == sign)
        groups += [(sign, members[i: i + size]) for i in range(0, members.size, size)]

    rows, out_weights, eps1s, eps2s = [], [], [], []
    scale = norms.max() if n_samples else 1.0
    for sign, group in groups:
        X_group = X[:, group]
        U, singular, _ = np.linalg.svd(X_group, full_matrices=True)
        rank = int(np.sum(singular > singular.max() * max(X_group.shape) * np.finfo(float).eps))
        null_basis = U[:, rank:]  # orthonormal basis of the vectors orthogonal to every group sample
        w = null_basis @ generator.standard_normal(null_basis.shape[1])
        w /= np.linalg.norm(w)
        system = np.column_stack([X_group, w])
        rhs = np.append(np.abs(t[group]), 0.0)
        w_hat = np.linalg.lstsq(system.T, rhs, rcond=None)[0]
        if np.max(np.abs(system.T @ w_hat - rhs)) > _SOLVE_SLACK * max(1.0, np.abs(rhs).max()):
            raise ValueError(f"X is not in general position: the samples {group.tolist()} cannot be given "
                             "their targets by one hyperplane bump (are two of them equal with different targets?)")
        w *= np.linalg.norm(w_hat)  # eq. (9.5)
        others = np.ones(n_samples, dtype=bool)
        others[group] = False
        u_others, v_others = w @ X[:, others], w_hat @ X[:, others]
        if others.any():
            smallest = np.abs(u_others).min()
            if smallest <= _ON_HYPERPLANE * np.linalg.norm(w) * scale:
                culprit = np.flatnonzero(others)[np.argmin(np.abs(u_others))]
                raise ValueError(f"X is not in general position: sample {culprit} lies on the hyperplane through "
                                 f"samples {group.tolist()} (the same point with two labels, or in their span)")
            largest = np.abs(v_others).max()
            eps1 = beta * smallest / largest if largest > 0 else beta
        else:
            eps1 = beta
        eps2 = gamma * eps1
        offsets, weights = _offsets_and_weights(eps1, eps2, rho, units_per_group)
        rows += [w + s * w_hat for s in offsets]
        out_weights.append(sign * weights)
        eps1s.append(eps1)
        eps2s.append(eps2)

    W = np.array(rows).reshape(-1, d0)
    z = np.concatenate(out_weights) if out_weights else np.zeros(0)
    pre = W @ X
    output = forward([torch.from_numpy(W), torch.from_numpy(z)], torch.from_numpy(X), rho).numpy()
    max_error = float(np.abs(output - t).max()) if n_samples else 0.0
    min_abs = float(np.abs(pre).min()) if pre.size else math.inf
    unit_roundoff = np.finfo(np.float64).eps / 2
    roundoff = (d0 + W.shape[0] + 2) * unit_roundoff * float(np.abs(z) @ np.linalg.norm(W, axis=1)) * float(scale)
    if max_error > _REFUSE_ERROR * max(1.0, float(np.abs(t).max(initial=0.0))) or min_abs == 0.0:
        raise ValueError(f"X is too close to degenerate for an exact construction in float64: the network misses "
                         f"a target by {max_error:.2e} (smallest |pre-activation| {min_abs:.2e})")
    return Construction(torch.from_numpy(W), torch.from_numpy(z), [g for _, g in groups], np.array(eps1s),
                        np.array(eps2s), max_error, min_abs, roundoff)


def zero_error_network(X, y, rho: float, *, units_per_group: int = 4, beta: float = 0.5, gamma: float = 0.5,
                       seed: int = 0, return_details: bool = False):
    """Theorem 8 (Soudry & Hoffer, appendix 9): ``(W, z)`` with ``f(W X)ᵀ z = y`` and no zero pre-activation.

    ``X: (d0, N)``, ``y: (N,)`` with entries in {0, 1}. Returns ``W: (d1, d0)`` and ``z: (d1,)`` as float64
    tensors with ``d1 = units_per_group · ⌈|S⁺| / (d0 − 1)⌉`` (4 as in the paper; 3 for the cheaper
    variant described in the module docstring). The network is exact to round-off and differentiable
    at every sample. ``return_details=True`` returns the :class:`Construction` instead.

    Chapter 3.
    """
    X = as_float64_matrix("X", X)
    y_array = check_targets("y", y, ((X.shape[1],),)).detach().cpu().double().numpy()
    if not np.all(np.isin(y_array, (0.0, 1.0))):
        raise ValueError("y must hold labels in {0, 1}; for other targets use interpolating_network")
    construction = interpolating_network(X, y_array, rho, units_per_group=units_per_group, beta=beta,
                                         gamma=gamma, seed=seed)
    return construction if return_details else (construction.W, construction.z)


def angular_margin(W, X) -> float:
    """``sin α = min_{i,n} |w_iᵀ x_n| / (‖w_i‖ ‖x_n‖)``: the data's angular margin from the hyperplanes of ``W``
    (Soudry & Hoffer, Definition 20). ``W: (d1, d0)``, ``X: (d0, N)``; 0 when a sample lies on a hyperplane.

    Chapters 3 and 4 (Lemma 21 bounds the volume of the region around ``W`` through it).
    """
    W = as_float64_matrix("W", W)
    X = as_float64_matrix("X", X, rows=W.shape[1])
    norms = np.outer(np.linalg.norm(W, axis=1), np.linalg.norm(X, axis=0))
    if np.any(norms == 0):
        raise ValueError("W and X must have no zero rows (W) or columns (X): the angle is undefined")
    return float((np.abs(W @ X) / norms).min())
