"""Leaky-ReLU networks without bias, in the papers' notation, with a leading ensemble dimension.

A network with L weight layers maps an input ``x ∈ R^{d0}`` to

    y_hat = z f(W_{L-1} f( … f(W_1 x))),     f(u) = u if u > 0 else ρ·u,

(Soudry & Carmon 2016, eq. 1; Soudry & Hoffer, eq. 2.1), with ``W_l: (d_l, d_{l-1})``. The output layer
``z`` is a vector ``(d_{L-1},)`` for the papers' scalar output (chapters 1–4), or a matrix
``(d_out, d_{L-1})`` for vector outputs (Kawaguchi's ``W_{H+1}``, chapter 5); ``ρ = 1`` is a deep linear
network. The inputs are columns: ``X: (d0, N)``. Every weight carries a leading ensemble dimension ``R``,
so R independent networks (repetitions, or a sweep of widths padded to the widest with a mask) train as
one tensor program: ``W_l: (R, d_l, d_{l-1})``, ``z: (R, d_{L-1})`` or ``(R, d_out, d_{L-1})``, outputs
``(R, N)`` or ``(R, d_out, N)``.

The optional dropout-like noise of Soudry & Carmon (Section 2) multiplies each unit's slope by a fixed
realisation ``ε`` (:func:`slope_noise`): the hidden output is ``ε ⊙ f(u)``, so the slope is
``a = ε · (1 if u > 0 else ρ)`` and the network stays piecewise linear.

**Smooth activations.** One argument, ``activation``, replaces the leaky ReLU by a smooth, analytic
``σ``: ``"sigmoid"``, ``"tanh"`` or ``"softplus"`` (``log(1 + eᵘ)``), the units of the wide-layer results
(Yu & Chen 1995; Nguyen & Hein 2017). ``"leaky_relu"`` is the default and the only one that uses ``ρ``;
everything else (ensembles, noise, masks, training, derivatives) is the same for every activation.

The core is the pure function :func:`forward` (``f(weights, X)``, usable with ``torch.func``);
:class:`LeakyReLUNet` is a container that validates its weights once and calls it.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ._checks import check_finite_tensor, check_positive_int, check_real
from .device import torch_generator

__all__ = ["ACTIVATIONS", "leaky_relu", "leaky_relu_slope", "activate", "activation_slope", "check_activation",
           "forward", "hidden_layers", "check_weights", "slope_noise", "LeakyReLUNet"]

ACTIVATIONS = ("leaky_relu", "sigmoid", "tanh", "softplus")
"""The activations a network may use: the book's leaky ReLU (the default) and three analytic ones."""


def leaky_relu(u: torch.Tensor, rho: float) -> torch.Tensor:
    """``f(u) = u`` for ``u > 0`` and ``ρ·u`` otherwise, elementwise (Soudry & Hoffer, eq. 2.1).

    The same numbers as ``torch.where(u > 0, u, ρ·u)``, and the same one-sided derivative ``ρ`` at
    ``u = 0``, from PyTorch's vectorised kernel (``torch.where`` with a scalar branch is several times
    slower on the CPU). Chapters 1–7.
    """
    return torch.nn.functional.leaky_relu(u, rho)


def leaky_relu_slope(u: torch.Tensor, rho: float, eps: torch.Tensor | None = None) -> torch.Tensor:
    """The slopes ``a = ε · (1 if u > 0 else ρ)`` of ``f`` at the pre-activations ``u`` (any shape), in ``u``'s dtype.

    At ``u = 0`` the value ``ρ`` is one of the two one-sided slopes (the kink). Chapters 2 and 4.
    """
    a = torch.where(u > 0, torch.ones_like(u), torch.full_like(u, rho))
    return a if eps is None else a * eps


def check_activation(activation, rho: float = 0.0) -> str:
    """``activation`` if it names one of :data:`ACTIVATIONS`; ``ρ`` must be 0 for the smooth ones (it has no
    meaning there), else ``ValueError``. Chapter 6."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if activation != "leaky_relu" and rho != 0.0:
        raise ValueError(f"rho is the leaky ReLU's negative slope; with activation={activation!r} it must be 0, "
                         f"got {rho!r}")
    return activation


def activate(u: torch.Tensor, rho: float, activation: str = "leaky_relu") -> torch.Tensor:
    """``σ(u)`` elementwise: the leaky ReLU ``f`` with slope ``ρ`` (the default), or ``"sigmoid"``
    ``1/(1 + e^{−u})``, ``"tanh"``, ``"softplus"`` ``log(1 + eᵘ)``. Unchecked (see :func:`check_activation`).
    Chapters 1–8 (the leaky ReLU; chapter 6 all four)."""
    if activation == "leaky_relu":
        return torch.relu(u) if rho == 0.0 else leaky_relu(u, rho)  # the same numbers, a faster kernel
    if activation == "sigmoid":
        return torch.sigmoid(u)
    if activation == "tanh":
        return torch.tanh(u)
    return torch.nn.functional.softplus(u)


def activation_slope(u: torch.Tensor, rho: float, activation: str = "leaky_relu",
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """``ε · σ′(u)``: the slopes at the pre-activations ``u`` (any shape). For the leaky ReLU this is
    :func:`leaky_relu_slope`; ``σ′ = σ(1 − σ)`` for the sigmoid, ``1 − tanh²`` for tanh, the sigmoid for
    softplus. Chapter 6, and the derivatives of every chapter."""
    if activation == "leaky_relu":
        return leaky_relu_slope(u, rho, eps)
    if activation == "sigmoid":
        s = torch.sigmoid(u)
        a = s * (1 - s)
    elif activation == "tanh":
        a = 1 - torch.tanh(u) ** 2
    else:
        a = torch.sigmoid(u)
    return a if eps is None else a * eps


def check_weights(weights: Sequence[torch.Tensor]) -> tuple[tuple[int, ...], int | None, int]:
    """Check that ``weights`` chain into a network and return ``(widths, d_out, R)``.

    ``weights = [W_1, …, W_{L-1}, z]`` with the ensemble axis (``W_l: (R, d_l, d_{l-1})``) or without it
    (``W_l: (d_l, d_{l-1})``, then ``R = 0`` is returned). ``z`` is ``(R, d_{L-1})`` for a scalar output
    (``d_out = None``) or ``(R, d_out, d_{L-1})`` for a vector output. All must be finite floating tensors.

    Chapters 1–7, through :func:`forward`.
    """
    if isinstance(weights, torch.Tensor) or len(weights) < 2:
        raise ValueError(f"weights must be a list [W_1, …, z] of at least two tensors, got {type(weights).__name__}")
    weights = list(weights)
    batched = isinstance(weights[0], torch.Tensor) and weights[0].ndim == 3
    matrix_ndim = 3 if batched else 2
    for i, w in enumerate(weights[:-1]):
        check_finite_tensor(f"weights[{i}]", w, matrix_ndim)
    z = weights[-1]
    check_finite_tensor("weights[-1] (z)", z, (matrix_ndim - 1, matrix_ndim))
    lead = weights[0].shape[:1] if batched else ()
    widths = [weights[0].shape[-1]] + [w.shape[-2] for w in weights[:-1]]
    for i, w in enumerate(weights[:-1]):
        expected = (*lead, widths[i + 1], widths[i])
        if tuple(w.shape) != expected or w.dtype != weights[0].dtype or w.device != weights[0].device:
            raise ValueError(f"weights[{i}] has shape {tuple(w.shape)} ({w.dtype}, {w.device}), which does not "
                             f"follow the layer before it: expected {expected} ({weights[0].dtype}, {weights[0].device})")
    d_out = None if z.ndim == matrix_ndim - 1 else z.shape[-2]
    expected = (*lead, widths[-1]) if d_out is None else (*lead, d_out, widths[-1])
    if tuple(z.shape) != expected or z.dtype != weights[0].dtype or z.device != weights[0].device:
        raise ValueError(f"z (weights[-1]) must have shape (R, d_{{L-1}}) or (R, d_out, d_{{L-1}}) matching "
                         f"the last hidden layer, expected {expected} ({weights[0].dtype}), got {tuple(z.shape)} ({z.dtype})")
    return tuple(widths), d_out, (int(weights[0].shape[0]) if batched else 0)


def hidden_layers(weights: Sequence[torch.Tensor], X: torch.Tensor, rho: float, *,
                  noise: Sequence[torch.Tensor | None] | None = None,
                  active_units: Sequence[torch.Tensor] | None = None, activation: str = "leaky_relu",
                  keep_pre_activations: bool = True):
    """Pre-activations ``U_l = W_l H_{l-1}`` and outputs ``H_l = m_l ⊙ ε_l ⊙ σ(U_l)`` of every hidden layer
    (``σ`` the ``activation``, see :func:`activate`); ``H_l`` is the feature matrix ``F_l`` of layer ``l``.

    A pure function with no checks (the caller validates, e.g. :class:`LeakyReLUNet`): ``weights`` with
    the ensemble axis, ``X: (d0, N)`` or ``(R, d0, N)``, ``noise``: optional ``(R, d_l, N)`` slope factors
    per hidden layer, ``active_units``: optional ``(R, d_l)`` 0/1 masks. Returns two lists of ``(R, d_l, N)``;
    with ``keep_pre_activations=False`` the first is empty, and a ReLU layer outside autograd activates
    its pre-activations in place (the same numbers, one ``(R, d_l, N)`` allocation fewer).

    Chapters 2 and 3, through the gradient matrix.
    """
    layer_input = X
    pre_activations, outputs = [], []
    for layer, W in enumerate(weights[:-1]):
        u = torch.matmul(W, layer_input)
        if not keep_pre_activations and not u.requires_grad and activation == "leaky_relu" and rho == 0.0:
            h = u.relu_()
        else:
            h = activate(u, rho, activation)
        if noise is not None and noise[layer] is not None:
            h = h * noise[layer]
        if active_units is not None:
            h = h * active_units[layer].unsqueeze(-1)
        if keep_pre_activations:
            pre_activations.append(u)
        outputs.append(h)
        layer_input = h
    return pre_activations, outputs


def _output_layer(z: torch.Tensor, hidden_output: torch.Tensor) -> torch.Tensor:
    if z.ndim == 2:  # scalar output: (R, 1, d) @ (R, d, N) → (R, N), the kernel matmul would call
        return torch.bmm(z.unsqueeze(-2), hidden_output).squeeze(-2)
    return torch.matmul(z, hidden_output)  # vector output: (R, k, d) @ (R, d, N) → (R, k, N)


def forward(weights: Sequence[torch.Tensor], X: torch.Tensor, rho: float, *,
            noise: Sequence[torch.Tensor | None] | None = None,
            active_units: Sequence[torch.Tensor] | None = None, validate: bool = True,
            activation: str = "leaky_relu") -> torch.Tensor:
    """The network's outputs ``y_hat = z H_{L-1}``: a pure function of the weights (``torch.func``-ready).

    ``weights = [W_1, …, z]`` with the ensemble axis gives ``(R, N)`` (scalar ``z``) or ``(R, d_out, N)``;
    without it (one network, ``W_1: (d1, d0)``) ``(N,)`` or ``(d_out, N)``. ``X: (d0, N)``. With
    ``validate=True`` the shapes, dtypes and finiteness of weights and ``X`` are checked first (each check of
    values synchronises with a GPU); ``validate=False`` skips every check, for inner loops and for
    transforms such as ``torch.func.jacrev``. ``activation``: the hidden units' ``σ`` (:data:`ACTIVATIONS`;
    the leaky ReLU with slope ``rho`` by default). Chapters 1–8.
    """
    if validate:
        widths, _, ensemble = check_weights(weights)
        check_activation(activation, check_real("rho", rho))
        X = check_finite_tensor("X", X, 2)
        if X.shape[0] != widths[0] or X.dtype != weights[0].dtype:
            raise ValueError(f"X must be ({widths[0]}, N) of dtype {weights[0].dtype}, got {tuple(X.shape)} {X.dtype}")
    single = weights[0].ndim == 2
    if single:
        weights = [w.unsqueeze(0) for w in weights]
        noise = None if noise is None else [None if e is None else e.unsqueeze(0) for e in noise]
        active_units = None if active_units is None else [m.unsqueeze(0) for m in active_units]
    _, outputs = hidden_layers(weights, X, rho, noise=noise, active_units=active_units, activation=activation,
                               keep_pre_activations=False)
    result = _output_layer(weights[-1], outputs[-1])
    return result[0] if single else result


class LeakyReLUNet:
    """An ensemble of ``R`` bias-free networks with widths ``(d0, d1, …, d_{L-1})``: leaky-ReLU units by
    default, or the smooth units of ``activation``.

    Parameters
    ----------
    widths: ``(d0, d1, …, d_{L-1})``, at least ``(d0, d1)``: one hidden layer is ``widths=(d0, d1)``.
    rho: the slope ``ρ`` of ``f`` for negative inputs (``ρ = 0`` is ReLU, ``ρ = 1`` is linear).
    outputs: ``None`` for the papers' scalar output (``z: (R, d_{L-1})``, outputs ``(R, N)``), or the
        number ``d_out ≥ 1`` of outputs (``z: (R, d_out, d_{L-1})``, outputs ``(R, d_out, N)``).
    ensemble: the number ``R`` of independent networks.
    active_units: optional list, one ``(R, d_l)`` 0/1 tensor per hidden layer, that switches units off
        (to sweep widths inside one ensemble); switched-off units output zero and receive zero gradient.
    seed, device, dtype: initialisation. Weights are uniform with mean zero and variance ``2 / fan_in``
        (He et al. 2015, as in Soudry & Hoffer's appendix, Part III); ``z`` the same with fan-in ``d_{L-1}``.
    weights: optional given weights ``[W_1, …, z]`` with the ensemble axis, used instead of an
        initialisation (their shapes must match; device and dtype are theirs). See :meth:`from_weights`.
    activation: the hidden units' ``σ``, one of :data:`ACTIVATIONS`: the leaky ReLU (default, with ``rho``)
        or the analytic ``"sigmoid"``, ``"tanh"``, ``"softplus"`` (then ``rho`` must be 0).

    Attributes ``weights`` (the list ``[W_1, …, W_{L-1}, z]``) are leaf tensors that require gradients.
    The outputs are :func:`forward` of them. Chapters 1–7.
    """

    def __init__(self, widths: Sequence[int], rho: float = 0.0, *, outputs: int | None = None, ensemble: int = 1,
                 active_units: Sequence[torch.Tensor] | None = None, seed: int | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 weights: Sequence[torch.Tensor] | None = None, activation: str = "leaky_relu"):
        if isinstance(widths, (int, str)) or len(widths) < 2:
            raise ValueError(f"widths must be a sequence (d0, d1, …) of at least two sizes, got {widths!r}")
        self.widths = tuple(check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths))
        self.rho = check_real("rho", rho)
        self.activation = check_activation(activation, self.rho)
        self.outputs = None if outputs is None else check_positive_int("outputs", outputs)
        self.ensemble = check_positive_int("ensemble", ensemble)
        shapes = [(self.ensemble, out, inp) for inp, out in zip(self.widths[:-1], self.widths[1:])]
        shapes.append((self.ensemble, self.widths[-1]) if self.outputs is None
                      else (self.ensemble, self.outputs, self.widths[-1]))
        if weights is None:
            self.device, self.dtype = torch.device(device), dtype
            generator = torch_generator(seed)
            self.weights = []
            for shape in shapes:
                bound = (6.0 / shape[-1]) ** 0.5  # uniform on [-b, b] has variance b²/3 = 2/fan_in
                weight = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound
                self.weights.append(weight.to(device=self.device, dtype=dtype).requires_grad_(True))
        else:
            check_weights(weights)
            got = [tuple(w.shape) for w in weights]
            if got != shapes:
                raise ValueError(f"weights must have the shapes {shapes}, got {got}")
            self.device, self.dtype = weights[0].device, weights[0].dtype
            self.weights = [w.detach().clone().requires_grad_(True) for w in weights]
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
    def from_weights(cls, weights: Sequence[torch.Tensor], rho: float = 0.0, *,
                     active_units: Sequence[torch.Tensor] | None = None,
                     activation: str = "leaky_relu") -> "LeakyReLUNet":
        """Wrap given weights ``[W_1 (R, d1, d0), …, z]`` (or one network's, without the ``R`` axis) as a network.

        ``z`` of shape ``(R, d_{L-1})`` (or ``(d_{L-1},)``) gives a scalar output, ``(R, d_out, d_{L-1})``
        (or ``(d_out, d_{L-1})``) a vector output. The weights are copied.
        """
        weights = [torch.as_tensor(w) for w in weights] if not isinstance(weights, torch.Tensor) else weights
        widths, d_out, ensemble = check_weights(weights)
        if ensemble == 0:  # a single network: add the ensemble axis
            weights = [w.unsqueeze(0) for w in weights]
            ensemble = 1
        return cls(widths, rho, outputs=d_out, ensemble=ensemble, weights=weights, active_units=active_units,
                   activation=activation)

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "LeakyReLUNet":
        """A copy of the ensemble with its weights (and masks) in ``dtype`` on ``device``."""
        weights = [w.detach().to(dtype=dtype or self.dtype, device=device or self.device) for w in self.weights]
        masks = None if self.active_units is None else [m.to(dtype=weights[0].dtype, device=weights[0].device)
                                                         for m in self.active_units]
        return LeakyReLUNet.from_weights(weights, self.rho, active_units=masks, activation=self.activation)

    @property
    def depth(self) -> int:
        """The number ``L`` of weight layers (``L = 2`` for one hidden layer)."""
        return len(self.weights)

    def n_parameters(self) -> torch.Tensor:
        """Number of (active) parameters of each member, ``(R,)``: ``Σ d_l d_{l-1} + d_out · d_{L-1}``."""
        d_out = 1 if self.outputs is None else self.outputs
        if self.active_units is None:
            count = sum(w[0].numel() for w in self.weights)
            return torch.full((self.ensemble,), count, dtype=torch.long)
        active = [torch.full((self.ensemble,), self.widths[0], device=self.device)]
        active += [m.sum(dim=1) for m in self.active_units]
        count = sum(active[i] * active[i + 1] for i in range(len(active) - 1)) + d_out * active[-1]
        return count.round().long().cpu()

    def check_inputs(self, X: torch.Tensor) -> torch.Tensor:
        """``X`` as a finite ``(d0, N)`` (or ``(R, d0, N)``) tensor in the network's dtype and device."""
        check_finite_tensor("X", X, (2, 3))
        if X.shape[-2] != self.widths[0]:
            raise ValueError(f"X must have d0 = {self.widths[0]} rows, got shape {tuple(X.shape)}")
        if X.ndim == 3 and X.shape[0] != self.ensemble:
            raise ValueError(f"a 3-D X must have the ensemble size {self.ensemble} first, got shape {tuple(X.shape)}")
        return X.to(device=self.device, dtype=self.dtype)

    def check_noise(self, noise, n_samples: int) -> list[torch.Tensor | None]:
        """``noise`` as one ``(R, d_l, N)`` tensor (or ``None``) per hidden layer, in the network's dtype."""
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

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        """The shape of the outputs on ``N`` samples: ``(R, N)`` or ``(R, d_out, N)``."""
        return (self.ensemble, n_samples) if self.outputs is None else (self.ensemble, self.outputs, n_samples)

    def hidden(self, X: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None):
        """Pre-activations ``U_l`` and outputs ``H_l`` of each hidden layer, two lists of ``(R, d_l, N)``.

        ``X: (d0, N)`` (shared by all members) or ``(R, d0, N)``; ``noise``: optional list of ``(R, d_l, N)``
        slope factors ``ε``. See :func:`hidden_layers`.
        """
        X = self.check_inputs(X)
        return hidden_layers(self.weights, X, self.rho, noise=self.check_noise(noise, X.shape[-1]),
                             active_units=self.active_units, activation=self.activation)

    def features(self, X: torch.Tensor, layer: int = 1) -> torch.Tensor:
        """The feature matrix ``F_layer = σ(W_layer ⋯ σ(W_1 X))`` of hidden layer ``layer`` (1-based), per
        member ``(R, d_layer, N)``, detached: the design matrix of a least-squares fit of the layers above
        it (Nguyen & Hein 2017, Lemma 4.4, is about its rank). Chapter 6."""
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer < self.depth:
            raise ValueError(f"layer must be a hidden layer in [1, {self.depth - 1}], got {layer!r}")
        return self.hidden(X)[1][layer - 1].detach()

    def forward(self, X: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """The outputs of every member on every sample, ``(R, N)`` or ``(R, d_out, N)``: :func:`forward`."""
        X = self.check_inputs(X)
        return forward(self.weights, X, self.rho, noise=self.check_noise(noise, X.shape[-1]),
                       active_units=self.active_units, validate=False, activation=self.activation)

    __call__ = forward

    @torch.no_grad()
    def min_abs_preactivation(self, X: torch.Tensor) -> torch.Tensor:
        """``min_{l,i,n} |u_{l,i,n}|`` over active units, per member ``(R,)``: zero means a kink (non-differentiable)."""
        return _min_abs_preactivation(self, self.check_inputs(X))

    def member(self, index: int) -> "LeakyReLUNet":
        """A copy of ensemble member ``index`` as a network with ``R = 1``."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.ensemble:
            raise ValueError(f"index must be an integer in [0, {self.ensemble}), got {index!r}")
        masks = None if self.active_units is None else [m[index: index + 1] for m in self.active_units]
        return LeakyReLUNet.from_weights([w.detach()[index: index + 1] for w in self.weights], self.rho,
                                         active_units=masks, activation=self.activation)


def _min_abs_preactivation(net: LeakyReLUNet, X: torch.Tensor) -> torch.Tensor:
    """:meth:`LeakyReLUNet.min_abs_preactivation` for an already checked ``X``; stays on the device."""
    pre_activations, _ = hidden_layers(net.weights, X, net.rho, active_units=net.active_units,
                                       activation=net.activation)
    smallest = []
    for layer, u in enumerate(pre_activations):
        magnitude = u.abs()
        if net.active_units is not None:
            magnitude = torch.where(net.active_units[layer].unsqueeze(-1) > 0, magnitude, torch.inf)
        smallest.append(magnitude.flatten(1).min(dim=1).values)
    return torch.stack(smallest).min(dim=0).values


def slope_noise(net: LeakyReLUNet, n_samples: int, std: float, seed: int | None = None) -> list[torch.Tensor]:
    """A fixed realisation of Soudry & Carmon's dropout-like noise: ``ε = 1 + std·ξ``, ``ξ ~ N(0, 1)``.

    One ``(R, d_l, N)`` tensor per hidden layer, for ``net.forward(X, noise)`` and ``train(…, noise=…)``.
    Drawn in float64 on the CPU, so it does not depend on the device. Chapter 2.
    """
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    n_samples = check_positive_int("n_samples", n_samples)
    std = check_real("std", std, low=0.0)
    generator = torch_generator(seed)
    return [(1 + std * torch.randn((net.ensemble, width, n_samples), generator=generator, dtype=torch.float64))
            .to(device=net.device, dtype=net.dtype) for width in net.widths[1:]]
