"""Activation regions: inside one, a one-hidden-layer network is a linear regression (Soudry & Carmon, Lemma 1).

The activation pattern of a network on ``X: (d0, N)`` is the sign of every pre-activation,
``1{W X > 0}``; the set of weights with one pattern is a differentiable region ``D_A``, a polyhedral cone.
Inside it the slopes ``A = a(W X)`` (``ε · 1`` or ``ε · ρ``) are fixed, and the outputs of a network
with one hidden layer are

    y_hat = (A ∘ X)ᵀ vec(Vᵀ),    V = diag(z) W,

linear in ``V`` (``vec`` stacks columns, so ``vec(Vᵀ)`` is ``V``'s rows one after the other,
``V.reshape(-1)``), with the design matrix ``A ∘ X: (d1·d0, N)`` (the Khatri–Rao product of
:mod:`minima.rank`). Two halves of one lemma follow. :func:`solve_in_region` solves that regression and
moves the network to the least-squares point of its region (a differentiable local minimum, if it stays
inside); :func:`planted_local_minimum` chooses targets whose regression solution is the current point, with
an error in the null space of ``A ∘ X`` (a sub-optimal minimum, possible only when the rank is below ``N``).
:func:`stationarity` measures how far an error is from that null space.

Chapter 2 uses all of this; chapter 4 adds the angular volume of a region ``D_A`` and chapter 6 the
flips of the pattern during training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_float64_matrix, check_member, check_positive_int, check_real, check_targets
from .derivatives import gradient_matrix, member_noise, single_member
from .models import LeakyReLUNet, forward, leaky_relu_slope
from .rank import khatri_rao, khatri_rao_rank, largest_singular_value

__all__ = ["activation_pattern", "activation_slopes", "design_matrix", "solve_in_region", "RegionSolution",
           "planted_local_minimum", "PlantedMinimum", "stationarity"]


def _check_net(net) -> LeakyReLUNet:
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    return net


def _check_layer(net: LeakyReLUNet, layer) -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < net.depth - 1:
        raise ValueError(f"layer must be a hidden-layer index in [0, {net.depth - 1}), got {layer!r}")
    return layer


@torch.no_grad()
def activation_pattern(net: LeakyReLUNet, X: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """The pattern ``1{u > 0}`` of hidden layer ``layer`` on every sample, a bool ``(R, d_l, N)`` tensor.

    Two weight settings lie in the same region ``D_A`` exactly when their patterns agree. Chapters 2, 4, 6.
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    pre_activations, _ = net.hidden(X)
    return pre_activations[layer] > 0


@torch.no_grad()
def activation_slopes(net: LeakyReLUNet, X: torch.Tensor, noise=None, layer: int = 0) -> torch.Tensor:
    """The slopes ``A = a(W X)`` of hidden layer ``layer``: ``ε·1`` where ``u > 0``, else ``ε·ρ``. ``(R, d_l, N)``.

    This is the matrix ``A`` of Soudry & Carmon's Lemma: for one hidden layer the output is
    ``y_hat_n = zᵀ (a_n ⊙ W x_n)``. Chapter 2.
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    pre_activations, _ = net.hidden(X, noise)
    u = pre_activations[layer]
    return leaky_relu_slope(u, net.rho, net.check_noise(noise, u.shape[-1])[layer])


def _one_hidden_layer(net: LeakyReLUNet, what: str) -> None:
    if net.depth != 2 or net.outputs is not None:
        raise ValueError(f"{what} needs one hidden layer and a scalar output, got depth {net.depth}"
                         + ("" if net.outputs is None else f" with {net.outputs} outputs"))


def design_matrix(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None) -> torch.Tensor:
    """``A ∘ X: (d1·d0, N)``, float64: the design matrix of member ``member``'s region (Lemma 1).

    ``y_hat = (A ∘ X)ᵀ vec((diag(z) W)ᵀ)`` for every weight setting in the region. One hidden layer only.
    Chapter 2.
    """
    net = _check_net(net)
    _one_hidden_layer(net, "design_matrix")
    single = single_member(net, member)
    X = single.check_inputs(X)
    eps = member_noise(net, noise, member, X.shape[-1])[0]
    W = single.weights[0][0].detach()
    return _design(W, X, single.rho, None if eps is None else eps[0])


def _design(W: torch.Tensor, X: torch.Tensor, rho: float, eps: torch.Tensor | None) -> torch.Tensor:
    """``A ∘ X`` for float64 ``W: (d1, d0)``, ``X: (d0, N)``, formed on the CPU, returned on ``W``'s device."""
    slopes = leaky_relu_slope(W @ X, rho, eps)
    return khatri_rao(slopes.cpu(), X.cpu()).to(W.device)


@dataclass
class RegionSolution:
    """Result of :func:`solve_in_region`: ``converged`` says whether an exact critical point was reached
    inside the starting activation region; ``rounds`` counts least-squares solves, ``steps`` the step
    fraction taken in each. Chapter 2."""
    converged: bool
    rounds: int
    steps: list[float]


@torch.no_grad()
def solve_in_region(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None,
                    max_rounds: int = 50) -> RegionSolution:
    """Move a one-hidden-layer member, in place, to the exact minimum of the MSE within its activation region.

    Inside a region where the slopes ``A`` are fixed, ``y_hat = (A ∘ X)ᵀ vec(Vᵀ)`` with ``V = diag(z) W``: a
    linear least-squares problem (Soudry & Carmon, Lemma 1). Each round solves it for the correction of
    smallest norm, then moves ``W`` (keeping ``z``) towards that solution by the largest step in
    ``{1, 1/2, 1/4, …}`` that keeps every pre-activation's sign. A full step ends at a point where
    ``(A ∘ X) e = 0`` to round-off: a differentiable local minimum. Works in float64; needs ``z_i ≠ 0``.
    ``X: (d0, N)``, ``y: (N,)``. Chapter 2.
    """
    net = _check_net(net)
    _one_hidden_layer(net, "solve_in_region")
    member = check_member(member, net.ensemble)
    max_rounds = check_positive_int("max_rounds", max_rounds)
    W_param, z_param = net.weights
    W, z = W_param[member].double(), z_param[member].double()
    if torch.any(z == 0):
        raise ValueError("net has output weights z_i = 0, for which W_i cannot be solved for")
    net.check_inputs(X)  # validates; the solve itself runs in float64 whatever the network's dtype
    X = torch.as_tensor(X).double().to(W.device)
    y = check_targets("y", y, ((X.shape[-1],),)).double().to(W.device)
    eps = member_noise(net, noise, member, X.shape[-1])[0]
    eps = None if eps is None else eps[0]
    steps = []
    for _ in range(max_rounds):
        u = W @ X
        M = _design(W, X, net.rho, eps)
        V = z[:, None] * W
        residual = y - M.T @ V.reshape(-1)
        correction = torch.linalg.lstsq(M.T, residual.unsqueeze(1), driver="gelsd" if M.device.type == "cpu" else None)
        target = (V.reshape(-1) + correction.solution[:, 0]).reshape(W.shape) / z[:, None]
        step = 1.0
        for _ in range(40):
            candidate_u = (W + step * (target - W)) @ X
            if torch.equal(candidate_u > 0, u > 0) and bool((candidate_u != 0).all()):
                break
            step /= 2
        else:
            step = 0.0
        W = W + step * (target - W)
        steps.append(step)
        if step == 1.0 or step == 0.0:
            break
    W_param[member] = W.to(W_param.dtype)
    return RegionSolution(steps[-1] == 1.0, len(steps), steps)


@dataclass
class PlantedMinimum:
    """A differentiable local minimum with non-zero error, built by :func:`planted_local_minimum`.

    ``W: (d1, d0)``, ``z: (d1,)``, targets ``y: (N,)`` and the error ``e = f(WX)ᵀz − y`` ``(N,)``, which lies in
    the null space of ``A ∘ X``; ``null_dimension`` is ``N − rank(A ∘ X)``.

    Chapter 2.
    """
    W: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    error: torch.Tensor
    null_dimension: int


def planted_local_minimum(X, d1: int, rho: float, *, error_norm: float = 1.0, seed: int = 0) -> PlantedMinimum:
    """Targets ``y`` for which random weights ``(W, z)`` sit at a sub-optimal differentiable local minimum.

    Inside the activation region of ``W`` the outputs are ``y_hat = (A ∘ X)ᵀ vec((diag(z) W)ᵀ)``, linear in
    ``v = vec((diag(z) W)ᵀ)`` (Soudry & Carmon, Lemma 1). Choosing ``y = y_hat − e`` with ``e ≠ 0`` in the null
    space of ``A ∘ X`` makes ``v`` the least-squares minimiser over the whole region, so ``(W, z)`` is a local
    minimum of the MSE with error ``e``, and no pre-activation is zero. This is possible exactly when
    ``A ∘ X`` has a null space, i.e. rank below ``N``: when ``d0·d1 ≥ N`` and the rank is full, it raises
    ``ValueError``, which is Theorem 1 in miniature. ``‖e‖₂ = error_norm``; ``X: (d0, N)``. Chapter 2.
    """
    X = torch.from_numpy(as_float64_matrix("X", X))
    d1 = check_positive_int("d1", d1)
    rho = check_real("rho", rho)
    error_norm = check_real("error_norm", error_norm, low=0.0, low_open=True)
    generator = np.random.default_rng(seed)
    d0, n_samples = X.shape
    W = torch.from_numpy(generator.standard_normal((d1, d0)) / np.sqrt(d0))
    z = torch.from_numpy(generator.choice([-1.0, 1.0], size=d1) * (0.5 + generator.random(d1)))
    if (W @ X).abs().min() == 0.0:
        raise ValueError("a pre-activation is exactly zero; choose another seed")
    M = _design(W, X, rho, None).numpy()
    rank = khatri_rao_rank(leaky_relu_slope(W @ X, rho).numpy(), X.numpy())  # the rank rule of minima.rank
    null_basis = np.linalg.svd(M, full_matrices=True)[2][rank:].T  # (N, N − rank): e with (A ∘ X) e = 0
    if null_basis.shape[1] == 0:
        raise ValueError(f"A ∘ X has full rank N = {n_samples}: every differentiable local minimum in this region "
                         "has zero error, so none with error can be planted")
    error = null_basis @ generator.standard_normal(null_basis.shape[1])
    error *= error_norm / np.linalg.norm(error)
    outputs = forward([W, z], X, rho)
    error = torch.from_numpy(error)
    return PlantedMinimum(W, z, outputs - error, error, null_basis.shape[1])


def stationarity(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None) -> float:
    """``‖G e‖₂ / (‖G‖₂ ‖e‖₂)``: how far the error is from the null space of ``G`` (Soudry & Carmon, Lemma 1).

    Zero exactly at a critical point with non-zero error; of order one for a generic error. ``X: (d0, N)``,
    ``y: (N,)``. Runs on the network's device. Chapter 2.
    """
    G, _ = gradient_matrix(net, X, member=member, noise=noise)
    single = single_member(net, member)
    X = single.check_inputs(X)
    y = check_targets("y", y, ((X.shape[-1],),)).to(device=single.device, dtype=torch.float64)
    eps = member_noise(net, noise, member, X.shape[-1])
    outputs = forward([w.detach() for w in single.weights], X, single.rho, noise=eps, validate=False)[0]
    error = outputs - y
    denominator = largest_singular_value(G) * float(error.norm())
    if denominator == 0.0:
        raise ValueError("stationarity is undefined where the error or G is zero")
    return float((G @ error).norm()) / denominator
