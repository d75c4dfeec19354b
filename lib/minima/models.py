"""Leaky-ReLU networks without bias, in the papers' notation, with a leading ensemble dimension.

A network with L weight layers maps an input ``x ∈ R^{d0}`` to the scalar

    y_hat = z ᵀ f(W_{L-1} f( … f(W_1 x))),     f(u) = u if u > 0 else ρ·u,

(Soudry & Carmon 2016, eq. 1; Soudry & Hoffer, eq. 2.1), with ``W_l: (d_l, d_{l-1})`` and
``z: (d_{L-1},)``. The inputs are columns: ``X: (d0, N)``. Every weight carries a leading ensemble
dimension ``R``, so R independent networks (repetitions, or a sweep of widths padded to the widest with
a mask) train as one tensor program: ``W_l: (R, d_l, d_{l-1})``, ``z: (R, d_{L-1})``, output ``(R, N)``.

The optional dropout-like noise of Soudry & Carmon (Section 2) multiplies each unit's slope by a fixed
realisation ``ε``: the hidden output is ``ε ⊙ f(u)``, so ``a = ε · (1 if u > 0 else ρ)`` and the network
stays piecewise linear.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_finite_tensor, check_positive_int, check_real
from .device import torch_generator

__all__ = ["leaky_relu", "slopes", "LeakyReLUNet"]


def leaky_relu(u: torch.Tensor, rho: float) -> torch.Tensor:
    """``f(u) = u`` for ``u > 0`` and ``ρ·u`` otherwise, elementwise (Soudry & Hoffer, eq. 2.1)."""
    return torch.where(u > 0, u, rho * u)


def slopes(u: torch.Tensor, rho: float, eps: torch.Tensor | None = None) -> torch.Tensor:
    """The slopes ``a = ε · (1 if u > 0 else ρ)`` of ``f`` at the pre-activations ``u`` (any shape), in ``u``'s dtype."""
    a = torch.where(u > 0, torch.ones_like(u), torch.full_like(u, rho))
    return a if eps is None else a * eps


class LeakyReLUNet:
    """An ensemble of ``R`` bias-free leaky-ReLU networks with widths ``(d0, d1, …, d_{L-1})`` and scalar output.

    Parameters
    ----------
    widths: ``(d0, d1, …, d_{L-1})``, at least ``(d0, d1)``: one hidden layer is ``widths=(d0, d1)``.
    rho: the slope ``ρ`` of ``f`` for negative inputs (``ρ = 0`` is ReLU, ``ρ = 1`` is linear).
    ensemble: the number ``R`` of independent networks.
    active_units: optional list, one ``(R, d_l)`` 0/1 tensor per hidden layer, that switches units off
        (to sweep widths inside one ensemble); switched-off units output zero and receive zero gradient.
    seed, device, dtype: initialisation. Weights are uniform with mean zero and variance ``2 / fan_in``
        (He et al. 2015, as in Soudry & Hoffer's appendix, Part III); ``z`` the same with fan-in ``d_{L-1}``.

    Attributes ``weights`` (the list ``[W_1, …, W_{L-1}, z]``) are leaf tensors that require gradients.
    """

    def __init__(self, widths: Sequence[int], rho: float = 0.0, *, ensemble: int = 1,
                 active_units: Sequence[torch.Tensor] | None = None, seed: int | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        if isinstance(widths, (int, str)) or len(widths) < 2:
            raise ValueError(f"widths must be a sequence (d0, d1, …) of at least two sizes, got {widths!r}")
        self.widths = tuple(check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths))
        self.rho = check_real("rho", rho)
        self.ensemble = check_positive_int("ensemble", ensemble)
        self.device, self.dtype = torch.device(device), dtype
        generator = torch_generator(seed)
        shapes = [(self.ensemble, out, inp) for inp, out in zip(self.widths[:-1], self.widths[1:])]
        shapes.append((self.ensemble, self.widths[-1]))
        self.weights = []
        for shape in shapes:
            bound = (6.0 / shape[-1]) ** 0.5  # uniform on [-b, b] has variance b²/3 = 2/fan_in
            weight = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound
            self.weights.append(weight.to(device=self.device, dtype=dtype).requires_grad_(True))
        self.active_units = self._check_masks(active_units)
        if self.active_units is not None:
            with torch.no_grad():
                for layer, mask in enumerate(self.active_units):
                    self.weights[layer].mul_(mask.unsqueeze(-1))
                    following = self.weights[layer + 1]
                    following.mul_(mask if following.ndim == 2 else mask.unsqueeze(1))

    def _check_masks(self, active_units):
        if active_units is None:
            return None
        hidden = self.widths[1:]
        if len(active_units) != len(hidden):
            raise ValueError(f"active_units must hold one mask per hidden layer ({len(hidden)}), got {len(active_units)}")
        masks = []
        for layer, (mask, width) in enumerate(zip(active_units, hidden)):
            mask = torch.as_tensor(mask, device=self.device, dtype=self.dtype)
            if mask.shape != (self.ensemble, width):
                raise ValueError(f"active_units[{layer}] must have shape {(self.ensemble, width)}, got {tuple(mask.shape)}")
            if not torch.all((mask == 0) | (mask == 1)):
                raise ValueError(f"active_units[{layer}] must hold only 0 and 1")
            masks.append(mask)
        return masks

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_weights(cls, weights: Sequence[torch.Tensor], rho: float = 0.0) -> "LeakyReLUNet":
        """Wrap given weights ``[W_1 (R, d1, d0), …, z (R, d_{L-1})]`` (or without the ``R`` axis) as a network."""
        weights = [torch.as_tensor(w) for w in weights]
        if len(weights) < 2:
            raise ValueError(f"weights must hold at least [W_1, z], got {len(weights)} tensors")
        if weights[-1].ndim == 1:  # a single network: add the ensemble axis
            weights = [w.unsqueeze(0) for w in weights]
        for i, w in enumerate(weights[:-1]):
            check_finite_tensor(f"weights[{i}]", w, 3)
        check_finite_tensor("weights[-1] (z)", weights[-1], 2)
        widths = [weights[0].shape[2]] + [w.shape[1] for w in weights[:-1]]
        for i, w in enumerate(weights[1:-1], start=1):
            if w.shape[2] != weights[i - 1].shape[1] or w.shape[0] != weights[0].shape[0]:
                raise ValueError(f"weights[{i}] has shape {tuple(w.shape)}, which does not follow {tuple(weights[i-1].shape)}")
        if weights[-1].shape != (weights[0].shape[0], widths[-1]):
            raise ValueError(f"z must have shape {(weights[0].shape[0], widths[-1])}, got {tuple(weights[-1].shape)}")
        net = cls.__new__(cls)
        net.widths, net.rho, net.ensemble = tuple(widths), check_real("rho", rho), weights[0].shape[0]
        net.device, net.dtype = weights[0].device, weights[0].dtype
        net.weights = [w.detach().clone().requires_grad_(True) for w in weights]
        net.active_units = None
        return net

    @property
    def depth(self) -> int:
        """The number ``L`` of weight layers (``L = 2`` for one hidden layer)."""
        return len(self.weights)

    def n_parameters(self) -> torch.Tensor:
        """Number of (active) parameters of each ensemble member, shape ``(R,)``: ``Σ d_l d_{l-1} + d_{L-1}``."""
        if self.active_units is None:
            count = sum(w[0].numel() for w in self.weights)
            return torch.full((self.ensemble,), count, dtype=torch.long)
        active = [torch.full((self.ensemble,), self.widths[0], device=self.device)]
        active += [m.sum(dim=1) for m in self.active_units]
        count = sum(active[i] * active[i + 1] for i in range(len(active) - 1)) + active[-1]
        return count.round().long().cpu()

    def _check_inputs(self, X: torch.Tensor) -> torch.Tensor:
        check_finite_tensor("X", X, (2, 3))
        if X.shape[-2] != self.widths[0]:
            raise ValueError(f"X must have d0 = {self.widths[0]} rows, got shape {tuple(X.shape)}")
        if X.ndim == 3 and X.shape[0] != self.ensemble:
            raise ValueError(f"a 3-D X must have the ensemble size {self.ensemble} first, got shape {tuple(X.shape)}")
        return X.to(device=self.device, dtype=self.dtype)

    def _check_noise(self, noise, n_samples: int):
        if noise is None:
            return [None] * (self.depth - 1)
        if len(noise) != self.depth - 1:
            raise ValueError(f"noise must hold one (R, d_l, N) tensor per hidden layer ({self.depth - 1}), got {len(noise)}")
        checked = []
        for layer, eps in enumerate(noise):
            shape = (self.ensemble, self.widths[layer + 1], n_samples)
            if eps is not None and tuple(eps.shape) != shape:
                raise ValueError(f"noise[{layer}] must have shape {shape}, got {tuple(eps.shape)}")
            checked.append(None if eps is None else eps.to(device=self.device, dtype=self.dtype))
        return checked

    def hidden(self, X: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None):
        """Pre-activations ``U_l = W_l H_{l-1}`` and outputs ``H_l = ε_l ⊙ f(U_l)`` of each hidden layer.

        ``X: (d0, N)`` (shared by all members) or ``(R, d0, N)``; ``noise``: optional list of ``(R, d_l, N)``
        slope factors ``ε``. Returns two lists of ``(R, d_l, N)`` tensors.
        """
        X = self._check_inputs(X)
        noise = self._check_noise(noise, X.shape[-1])
        layer_input = X
        pre_activations, outputs = [], []
        for layer, W in enumerate(self.weights[:-1]):
            u = torch.matmul(W, layer_input)
            h = leaky_relu(u, self.rho)
            if noise[layer] is not None:
                h = h * noise[layer]
            if self.active_units is not None:
                h = h * self.active_units[layer].unsqueeze(-1)
            pre_activations.append(u)
            outputs.append(h)
            layer_input = h
        return pre_activations, outputs

    def forward(self, X: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """The outputs ``y_hat = zᵀ H_{L-1}`` of every member on every sample, shape ``(R, N)``."""
        _, outputs = self.hidden(X, noise)
        return torch.einsum("rd,rdn->rn", self.weights[-1], outputs[-1])

    __call__ = forward

    @torch.no_grad()
    def activation_pattern(self, X: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None,
                           layer: int = 0) -> torch.Tensor:
        """The slopes ``A = a(W X)`` of hidden layer ``layer``: ``ε·1`` where ``u > 0``, else ``ε·ρ``. ``(R, d_l, N)``.

        This is the matrix ``A`` of Soudry & Carmon's Lemma: the network output is
        ``y_hat_n = zᵀ (a_n ⊙ W x_n)`` for one hidden layer.
        """
        pre_activations, _ = self.hidden(X, noise)
        u = pre_activations[layer]
        return slopes(u, self.rho, self._check_noise(noise, u.shape[-1])[layer])

    @torch.no_grad()
    def min_abs_preactivation(self, X: torch.Tensor) -> torch.Tensor:
        """``min_{l,i,n} |u_{l,i,n}|`` over active units, per member ``(R,)``: zero means a kink (non-differentiable)."""
        pre_activations, _ = self.hidden(X)
        smallest = []
        for layer, u in enumerate(pre_activations):
            magnitude = u.abs()
            if self.active_units is not None:
                magnitude = torch.where(self.active_units[layer].unsqueeze(-1) > 0, magnitude, torch.inf)
            smallest.append(magnitude.flatten(1).min(dim=1).values)
        return torch.stack(smallest).min(dim=0).values

    def member(self, index: int) -> "LeakyReLUNet":
        """A copy of ensemble member ``index`` as a network with ``R = 1``."""
        if not 0 <= index < self.ensemble:
            raise ValueError(f"index must lie in [0, {self.ensemble}), got {index}")
        net = LeakyReLUNet.from_weights([w[index: index + 1] for w in self.weights], self.rho)
        if self.active_units is not None:
            net.active_units = [m[index: index + 1] for m in self.active_units]
        return net
