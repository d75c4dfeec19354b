"""Per-sample gradients and the Hessian of the MSE for one network, in float64.

For a network with all weights stacked into ``θ ∈ R^Ω`` (``W_1`` row-major, then ``W_2``, …, then ``z``),
``G ∈ R^{Ω×N}`` holds the gradients of the outputs, ``G[:, n] = ∂y_hat_n / ∂θ`` (Soudry & Carmon's
gradient matrix). With the error ``e = y_hat − y`` and ``MSE = (1/N) Σ_n e_n²``,

    ∇ MSE = (2/N) G e,       ∇² MSE = (2/N) (G Gᵀ + Σ_n e_n ∇² y_hat_n).

At a differentiable point the activation pattern is locally constant, so these are the derivatives of a
polynomial in ``θ``; at a point with zero error the Hessian is ``(2/N) G Gᵀ`` and positive semi-definite.
"""
from __future__ import annotations

import copy

import torch

from .models import LeakyReLUNet, slopes

__all__ = ["flat_parameters", "gradient_matrix", "largest_singular_value", "mse_gradient", "mse_hessian",
           "stationarity"]


def _single(net: LeakyReLUNet, member: int) -> LeakyReLUNet:
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    if not 0 <= member < net.ensemble:
        raise ValueError(f"member must lie in [0, {net.ensemble}), got {member}")
    single = net.member(member)
    single.weights = [w.detach().double() for w in single.weights]
    single.dtype = torch.float64
    if single.active_units is not None:
        single.active_units = [m.double() for m in single.active_units]
    return single


def flat_parameters(net: LeakyReLUNet, member: int = 0) -> torch.Tensor:
    """``θ``: the weights of ensemble member ``member`` stacked into one float64 vector of length ``Ω``."""
    return torch.cat([w.reshape(-1) for w in _single(net, member).weights])


def _output_function(single: LeakyReLUNet, X: torch.Tensor, noise):
    shapes = [w.shape for w in single.weights]
    sizes = [w.numel() for w in single.weights]
    X = single._check_inputs(X)

    def outputs(theta: torch.Tensor) -> torch.Tensor:
        clone = copy.copy(single)
        clone.weights = [part.reshape(shape) for part, shape in zip(theta.split(sizes), shapes)]
        return clone.forward(X, noise)[0]

    return outputs, sizes


def gradient_matrix(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None):
    """``G: (Ω, N)``, the gradients of the outputs with respect to all weights, and its per-layer blocks.

    ``X: (d0, N)``. Returns ``(G, blocks)`` where ``blocks[l]`` is the ``(Ω_l, N)`` slice of layer ``l``
    (``W_1``, …, ``W_{L-1}``, then ``z``). Computed in float64 by back-propagation for all samples at once:
    with ``h_0 = x``, ``h_l = ε_l ⊙ f(W_l h_{l-1})``, slopes ``a_l`` and ``δ_{L-1} = a_{L-1} ⊙ z``,
    ``δ_l = a_l ⊙ (W_{l+1}ᵀ δ_{l+1})``, column ``n`` of the ``W_l`` block is ``δ_{l,n} ⊗ h_{l-1,n}`` (a
    Khatri–Rao product; for one hidden layer ``(a_n ⊙ z) ⊗ x_n``, Soudry & Carmon, Lemma 1) and the ``z``
    block is ``h_{L-1}``. Memory is ``O(Ω N)``.
    """
    single = _single(net, member)
    X = single._check_inputs(X)
    pre_activations, outputs = single.hidden(X, noise)  # one forward pass serves every layer's slopes
    eps = single._check_noise(noise, X.shape[-1])
    layer_slopes = [slopes(u[0], single.rho, None if e is None else e[0]) for u, e in zip(pre_activations, eps)]
    if single.active_units is not None:
        layer_slopes = [a * m[0].unsqueeze(-1) for a, m in zip(layer_slopes, single.active_units)]
    inputs = [X] + [h[0] for h in outputs[:-1]]
    delta = layer_slopes[-1] * single.weights[-1][0].unsqueeze(-1)
    blocks = [outputs[-1][0]]
    for layer in range(single.depth - 2, -1, -1):
        blocks.insert(0, (delta.unsqueeze(1) * inputs[layer].unsqueeze(0)).reshape(-1, X.shape[-1]))
        if layer > 0:
            delta = layer_slopes[layer - 1] * (single.weights[layer][0].T @ delta)
    return torch.cat(blocks), blocks


def largest_singular_value(matrix: torch.Tensor, iterations: int = 100, seed: int = 0) -> float:
    """``‖M‖₂`` of a ``(m, n)`` matrix by power iteration on ``MᵀM`` (cheap for tall or wide ``M``)."""
    vector = torch.randn(matrix.shape[1], generator=torch.Generator().manual_seed(seed), dtype=matrix.dtype)
    value = 0.0
    for _ in range(iterations):
        image = matrix.T @ (matrix @ vector)
        norm = float(image.norm())
        if norm == 0.0:
            return 0.0
        vector, value = image / norm, norm
    return value ** 0.5


def mse_gradient(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, member: int = 0, noise=None) -> torch.Tensor:
    """``∇θ MSE = (2/N) G e``, shape ``(Ω,)``, float64."""
    single = _single(net, member)
    outputs, _ = _output_function(single, X, noise)
    theta = torch.cat([w.reshape(-1) for w in single.weights]).requires_grad_(True)
    y = torch.as_tensor(y, dtype=torch.float64)
    loss = (outputs(theta) - y).pow(2).mean()
    return torch.autograd.grad(loss, theta)[0]


def mse_hessian(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, member: int = 0, noise=None) -> torch.Tensor:
    """``∇²θ MSE``, shape ``(Ω, Ω)``, float64 (valid at differentiable points, where it is well defined)."""
    single = _single(net, member)
    outputs, _ = _output_function(single, X, noise)
    theta = torch.cat([w.reshape(-1) for w in single.weights])
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.autograd.functional.hessian(lambda t: (outputs(t) - y).pow(2).mean(), theta, vectorize=True)


def stationarity(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, member: int = 0, noise=None) -> float:
    """``‖G e‖₂ / (‖G‖₂ ‖e‖₂)``: how far the error is from the null space of ``G`` (Soudry & Carmon, Lemma 1).

    Zero exactly at a critical point with non-zero error; of order one for a generic error. ``X: (d0, N)``.
    """
    G, _ = gradient_matrix(net, X, member=member, noise=noise)
    single = _single(net, member)
    error = single.forward(X, noise)[0] - torch.as_tensor(y, dtype=torch.float64, device=single.device)
    denominator = largest_singular_value(G) * float(error.norm())
    if denominator == 0.0:
        raise ValueError("stationarity is undefined where the error or G is zero")
    return float((G @ error).norm()) / denominator
