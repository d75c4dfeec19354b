"""Per-sample gradients and the Hessian of the loss for one network, in float64.

For a network with all weights stacked into ``θ ∈ R^Ω`` (``W_1`` row-major, then ``W_2``, …, then ``z``),
``G ∈ R^{Ω×N}`` holds the gradients of the outputs, ``G[:, n] = ∂y_hat_n / ∂θ`` (Soudry & Carmon's
gradient matrix; for ``d_out`` outputs ``G ∈ R^{Ω×d_out N}``, column ``k N + n`` holding ``∂y_hat_{k,n}/∂θ``).
With the error ``e = y_hat − y`` and ``MSE = (1/N) Σ_n e_n²``,

    ∇ MSE = (2/N) G e,       ∇² MSE = (2/N) (G Gᵀ + Σ_n e_n ∇² y_hat_n).

At a differentiable point the activation pattern is locally constant, so these are the derivatives of a
polynomial in ``θ``; at a point with zero error the Hessian is ``(2/N) G Gᵀ`` and positive semi-definite.
``normalization="half_sum"`` differentiates ``½ Σ_n ‖e_n‖²`` instead (:mod:`minima.losses`).
Chapters 2, 3 (and 5, 7).
"""
from __future__ import annotations

import torch

from ._checks import check_member, check_targets
from .losses import NORMALIZATIONS, _squared_loss
from .models import LeakyReLUNet, activation_slope, forward, hidden_layers

__all__ = ["flat_parameters", "gradient_matrix", "layer_factors", "tangent_kernel", "matrix_from_factors",
           "kernel_from_factors", "mse_gradient", "mse_hessian", "loss_gradient",
           "loss_hessian", "single_member", "member_noise"]


def single_member(net: LeakyReLUNet, member: int = 0) -> LeakyReLUNet:
    """Ensemble member ``member`` as a float64 network with ``R = 1`` (a copy; ``net`` is untouched).

    Chapters 2 and 3, through the functions below.
    """
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    return net.member(check_member(member, net.ensemble)).to(torch.float64)


def member_noise(net: LeakyReLUNet, noise, member: int, n_samples: int) -> list[torch.Tensor | None]:
    """The slope noise of one member as float64 ``(1, d_l, N)`` tensors, from the ensemble's ``(R, d_l, N)``
    noise (the member's slice is taken) or from the member's own ``(1, d_l, N)``.

    Chapter 2, through the functions below.
    """
    if noise is None:
        return [None] * (net.depth - 1)
    if len(noise) != net.depth - 1:
        raise ValueError(f"noise must hold one tensor per hidden layer ({net.depth - 1}), got {len(noise)}")
    picked = []
    for layer, eps in enumerate(noise):
        if eps is None:
            picked.append(None)
            continue
        width = net.widths[layer + 1]
        if tuple(eps.shape) == (net.ensemble, width, n_samples):
            eps = eps[member: member + 1]
        elif tuple(eps.shape) != (1, width, n_samples):
            raise ValueError(f"noise[{layer}] must have shape {(net.ensemble, width, n_samples)} or "
                             f"{(1, width, n_samples)}, got {tuple(eps.shape)}")
        picked.append(eps.to(device=net.device, dtype=torch.float64))
    return picked


def _prepare(net, X, member, noise):
    single = single_member(net, member)
    X = single.check_inputs(X)
    eps = member_noise(net, noise, member, X.shape[-1])
    return single, X, eps


def flat_parameters(net: LeakyReLUNet, member: int = 0) -> torch.Tensor:
    """``θ``: the weights of ensemble member ``member`` stacked into one float64 vector of length ``Ω``.

    Chapters 2 and 3.
    """
    return torch.cat([w.detach().reshape(-1) for w in single_member(net, member).weights])


def layer_factors(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None):
    """The two factors of every layer's block of ``G``: ``[(δ_l, h_{l-1})]`` for ``W_1, …, W_{L-1}``, then ``z``.

    ``δ_l: (K, d_l, N)`` is the back-propagated slope of output ``k`` at unit ``i`` of layer ``l`` on sample
    ``n`` (``K = d_out``, or 1 for a scalar output) and ``h_{l-1}: (d_{l-1}, N)`` the layer's input; the last
    entry is ``(None, h_{L-1})`` for ``z``. ``∂y_hat_{k,n}/∂(W_l)_{ij} = δ_l[k, i, n] h_{l-1}[j, n]``. Float64,
    one forward and one backward pass for all samples. Chapters 2, 5 and 7 (through :func:`gradient_matrix`
    and :func:`tangent_kernel`).
    """
    single, X, eps = _prepare(net, X, member, noise)
    weights = [w.detach() for w in single.weights]
    masks = single.active_units
    pre_activations, outputs = hidden_layers(weights, X, single.rho, noise=eps, active_units=masks,
                                             activation=single.activation)
    layer_slopes = [activation_slope(u[0], single.rho, single.activation, None if e is None else e[0])
                    for u, e in zip(pre_activations, eps)]
    if masks is not None:
        layer_slopes = [a * m[0].unsqueeze(-1) for a, m in zip(layer_slopes, masks)]
    z = weights[-1][0] if single.outputs is not None else weights[-1][0].unsqueeze(0)  # (K, d_{L-1})
    inputs = [X] + [h[0] for h in outputs[:-1]]
    delta = layer_slopes[-1].unsqueeze(0) * z.unsqueeze(-1)  # (K, d_{L-1}, N)
    factors = [(None, outputs[-1][0])]
    for layer in range(single.depth - 2, -1, -1):
        factors.insert(0, (delta, inputs[layer]))
        if layer > 0:
            delta = layer_slopes[layer - 1].unsqueeze(0) * torch.einsum("ij,kin->kjn", weights[layer][0], delta)
    return factors


def gradient_matrix(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None):
    """``G: (Ω, N)`` (or ``(Ω, d_out N)``), the gradients of the outputs with respect to all weights.

    ``X: (d0, N)``. Returns ``(G, blocks)`` where ``blocks[l]`` is the ``(Ω_l, ·)`` slice of layer ``l``
    (``W_1``, …, ``W_{L-1}``, then ``z``). Computed in float64 by back-propagation for all samples at once:
    with ``h_0 = x``, ``h_l = ε_l ⊙ f(W_l h_{l-1})``, slopes ``a_l`` and ``δ_{L-1} = a_{L-1} ⊙ z_k`` for
    output ``k``, ``δ_l = a_l ⊙ (W_{l+1}ᵀ δ_{l+1})``, column ``n`` of the ``W_l`` block is ``δ_{l,n} ⊗ h_{l-1,n}``
    (a Khatri–Rao product; for one hidden layer ``(a_n ⊙ z) ⊗ x_n``, Soudry & Carmon, Lemma 1) and the
    ``z`` block is ``h_{L-1}`` (``I_{d_out} ⊗ h_{L-1}`` for vector outputs). Column ``k N + n`` belongs to
    output ``k`` on sample ``n``. Memory is ``O(Ω N d_out)``. Chapters 2, 3 and 5.
    """
    return matrix_from_factors(layer_factors(net, X, member=member, noise=noise), net.outputs is not None)


def tangent_kernel(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None) -> torch.Tensor:
    """The empirical neural tangent kernel ``K = Gᵀ G``, ``(d_out N, d_out N)``, without forming ``G``.

    Each layer contributes a Khatri–Rao Gram matrix, ``(Δ_lᵀ Δ_l) ⊙ (1 ⊗ H_{l-1}ᵀ H_{l-1})`` with
    ``Δ_l = δ_l`` flattened to ``(d_l, K N)``, and ``z`` contributes ``I_K ⊗ H_{L-1}ᵀ H_{L-1}``: ``O((KN)² Σ d_l)``
    flops instead of ``O((KN)² Ω)``. Rows and columns are ordered as the columns of :func:`gradient_matrix`.
    Chapters 5 and 7.
    """
    return kernel_from_factors(layer_factors(net, X, member=member, noise=noise))


def matrix_from_factors(factors, vector_output: bool):
    """``(G, blocks)`` from :func:`layer_factors` (see :func:`gradient_matrix`). Chapters 2, 3 and 5."""
    hidden = factors[-1][1]
    n_outputs = factors[0][0].shape[0]
    n_samples = hidden.shape[-1]
    blocks = []
    for delta, inputs in factors[:-1]:
        block = torch.einsum("kin,jn->ijkn", delta, inputs)
        blocks.append(block.reshape(-1, n_outputs * n_samples))
    blocks.append(torch.kron(torch.eye(n_outputs, dtype=torch.float64, device=hidden.device), hidden)
                  if vector_output else hidden)
    return torch.cat(blocks), blocks


def kernel_from_factors(factors) -> torch.Tensor:
    """``Gᵀ G`` from :func:`layer_factors`, by Khatri–Rao Grams (see :func:`tangent_kernel`). Chapter 5."""
    hidden = factors[-1][1]
    n_outputs = factors[0][0].shape[0]
    ones = torch.ones(n_outputs, n_outputs, dtype=torch.float64, device=hidden.device)
    kernel = torch.kron(torch.eye(n_outputs, dtype=torch.float64, device=hidden.device), hidden.T @ hidden)
    for delta, inputs in factors[:-1]:
        flat = delta.permute(1, 0, 2).reshape(delta.shape[1], -1)  # (d_l, K N), column k N + n
        kernel += (flat.T @ flat) * torch.kron(ones, inputs.T @ inputs)
    return kernel


def _loss_of_parameters(net, X, y, member, noise, normalization):
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    single, X, eps = _prepare(net, X, member, noise)
    y = check_targets("y", y, (single.output_shape(X.shape[-1])[1:],)).to(torch.float64)
    shapes = [w.shape for w in single.weights]
    sizes = [w.numel() for w in single.weights]
    masks = single.active_units

    def loss(theta: torch.Tensor) -> torch.Tensor:
        weights = [part.reshape(shape) for part, shape in zip(theta.split(sizes), shapes)]
        outputs = forward(weights, X, single.rho, noise=eps, active_units=masks, validate=False,
                          activation=single.activation)
        return _squared_loss(outputs, y, normalization)[0]

    theta = torch.cat([w.detach().reshape(-1) for w in single.weights])
    return loss, theta


def loss_gradient(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None,
                  normalization: str = "mean") -> torch.Tensor:
    """``∇θ`` of the squared loss (``"mean"``: ``(2/N) G e``; ``"half_sum"``: ``G e``), ``(Ω,)``, float64.

    ``y``: ``(N,)`` (or ``(d_out, N)`` for vector outputs), exactly.

    Chapters 2 and 3 (and 5).
    """
    loss, theta = _loss_of_parameters(net, X, y, member, noise, normalization)
    theta.requires_grad_(True)
    return torch.autograd.grad(loss(theta), theta)[0]


def loss_hessian(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None,
                 normalization: str = "mean") -> torch.Tensor:
    """``∇²θ`` of the squared loss, ``(Ω, Ω)``, float64 (valid at differentiable points, where it is defined).

    Chapters 2 and 3 (and 5).
    """
    loss, theta = _loss_of_parameters(net, X, y, member, noise, normalization)
    return torch.autograd.functional.hessian(loss, theta, vectorize=True)


def mse_gradient(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None) -> torch.Tensor:
    """``∇θ MSE = (2/N) G e``, shape ``(Ω,)``, float64.

    Chapters 2, 3.
    """
    return loss_gradient(net, X, y, member=member, noise=noise)


def mse_hessian(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None) -> torch.Tensor:
    """``∇²θ MSE = (2/N)(G Gᵀ + Σ_n e_n ∇²y_hat_n)``, shape ``(Ω, Ω)``, float64.

    Chapters 2, 3.
    """
    return loss_hessian(net, X, y, member=member, noise=noise)
