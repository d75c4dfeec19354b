"""Gradient descent on a wide two-layer ReLU network, seen through its Gram matrix (Du, Zhai, Póczos & Singh 2019).

**The model** (Du et al., eq. 1): ``f(W, a, x) = (1/√m) Σ_r a_r σ(w_rᵀx)``, σ the ReLU, ``w_r(0) ~ N(0, I_d)``,
``a_r ~ unif{−1, +1}`` fixed; only ``W: (m, d)`` is trained. In the library's model this is a
:class:`~minima.models.LeakyReLUNet` with ``ρ = 0``, widths ``(d, m)`` and output layer ``z = a/√m``, trained
with ``train_layers=[0]`` (:func:`two_layer_network`).

**Conventions, written out because the sources differ:**

* The loss is unnormalised, ``L(W) = ½ Σ_i (u_i − y_i)²`` (Du's eq. 2): ``normalization="half_sum"`` in
  :func:`minima.train`, not the MSE of chapters 1–4.
* Gradient descent ``W(k+1) = W(k) − η ∂L/∂W`` is read in Du's time ``t = kη``: ``du/dt = −H(t)(u − y)``.
  neural-tangents' ``predict.gradient_descent_mse`` assumes the loss ``‖f − y‖²/(2n)``, so its time is
  ``n ×`` Du's time.
* ``H(W)_ij = (1/m) x_iᵀx_j Σ_r 1{w_rᵀx_i ≥ 0, w_rᵀx_j ≥ 0}`` (eq. 6), the Gram matrix of the Jacobian of
  ``u`` with respect to ``W`` alone (:func:`empirical_gram`); its expectation over ``w ~ N(0, I)`` is ``H∞``
  (Assumption 3.1, :func:`limit_gram`), ``λ0 = λ_min(H∞)``. For neural-tangents' bias-free
  ``Dense(m, W_std=√d) → Relu → Dense(1, W_std=1)`` the analytic kernels satisfy ``H∞ = Θ − NNGP``: its NTK
  ``Θ`` also counts the trained output layer, whose contribution is the NNGP kernel.
* Du's indicator is ``1{· ≥ 0}``; the library's slope at a kink is ``ρ = 0`` (``1{· > 0}``). The two differ
  only where some ``w_rᵀx_i = 0`` exactly, which has probability zero.

Chapter 7 explains all of it.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_finite_tensor, check_positive_int, check_real, check_targets
from .device import torch_generator
from .models import LeakyReLUNet, _output_layer, leaky_relu

__all__ = ["limit_gram", "limit_gram_standard_error", "empirical_gram", "min_eigenvalue", "two_layer_network",
           "GramDynamics", "linearized_prediction", "theory_width", "proof_width", "theory_step_size",
           "unit_movement"]

UNIT_NORM_TOLERANCE = 1e-6
"""How far from 1 a column norm may be where a closed form needs unit-norm inputs."""


def _as_tensor(name: str, value, ndim) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool:
        value = value.double()  # integer inputs (a count of steps, a 0/1 matrix) as float64
    return check_finite_tensor(name, value, ndim)


def _unit_columns(X) -> torch.Tensor:
    X = _as_tensor("X", X, 2).double()
    norms = X.norm(dim=0)
    worst = float((norms - 1).abs().max()) if X.shape[1] else 0.0
    if worst > UNIT_NORM_TOLERANCE:
        raise ValueError(f"X must have unit-norm columns (to {UNIT_NORM_TOLERANCE:g}) for the closed form; "
                         f"the worst column norm is off by {worst:.2e}")
    return X


def _angles(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_iᵀx_j`` and the angle ``θ_ij = 2 atan2(‖x_i − x_j‖, ‖x_i + x_j‖)`` of unit columns, ``(N, N)`` each.

    The angle from distances, not ``arccos x_iᵀx_j``: near ``±1`` the arc cosine turns a rounding error ``ε``
    of the inner product into ``√(2ε)`` (``2·10⁻⁸`` for ``θ_ii``), while the distances keep the angle of
    equal or nearly parallel inputs accurate (exactly 0 for an input with itself).
    """
    inner = (X.T @ X).clamp(-1.0, 1.0)
    columns = X.T.contiguous()
    apart = torch.cdist(columns, columns, compute_mode="donot_use_mm_for_euclid_dist")
    together = torch.cdist(columns, -columns, compute_mode="donot_use_mm_for_euclid_dist")
    return inner, 2 * torch.atan2(apart, together)


def limit_gram(X) -> torch.Tensor:
    """``H∞ = E_{w~N(0,I)}[x_iᵀx_j 1{wᵀx_i ≥ 0, wᵀx_j ≥ 0}]`` in closed form, ``(N, N)`` float64.

    ``X: (d, N)`` with unit-norm columns. ``P(wᵀx_i ≥ 0, wᵀx_j ≥ 0) = (π − θ_ij)/(2π)`` for the angle ``θ_ij``
    between the two inputs, so ``H∞_ij = x_iᵀx_j (π − arccos x_iᵀx_j) / (2π)`` (Du et al., Assumption 3.1),
    the angle computed from the inputs' distances (accurate for nearly parallel inputs). Chapter 7.
    """
    inner, theta = _angles(_unit_columns(X))
    return inner * (math.pi - theta) / (2 * math.pi)


def limit_gram_standard_error(X, m: int) -> torch.Tensor:
    """The standard error of each entry of ``H(W)`` for ``m`` independent rows ``w_r ~ N(0, I)``, ``(N, N)``.

    ``H(W)_ij`` is the mean of ``m`` draws of ``x_iᵀx_j · Bernoulli(p_ij)``, ``p_ij = (π − θ_ij)/(2π)``, so its
    standard error is ``|x_iᵀx_j| √(p_ij (1 − p_ij) / m)``. ``X: (d, N)`` with unit-norm columns. Chapter 7.
    """
    m = check_positive_int("m", m)
    inner, theta = _angles(_unit_columns(X))
    p = (math.pi - theta) / (2 * math.pi)
    return inner.abs() * torch.sqrt(p * (1 - p) / m)


def empirical_gram(W, X, *, block: int = 8192) -> torch.Tensor:
    """``H(W) = (XᵀX) ⊙ (SᵀS) / m`` with the pattern ``S = 1{W X ≥ 0}``: Du et al.'s eq. 6, ``(N, N)``.

    ``W: (m, d)`` or an ensemble ``(R, m, d)`` (then ``(R, N, N)``); ``X: (d, N)``, not necessarily unit
    norm. Formed from the 0/1 pattern matrix, ``m/block`` row blocks at a time, so ``m = 10⁶`` fits in
    memory; never from per-parameter Jacobians, which hold ``m·d`` numbers per sample. Runs on ``W``'s
    device in ``W``'s dtype. Chapter 7.
    """
    W = _as_tensor("W", W, (2, 3))
    X = _as_tensor("X", X, 2).to(device=W.device, dtype=W.dtype)
    block = check_positive_int("block", block)
    if W.shape[-1] != X.shape[0]:
        raise ValueError(f"W must have d = {X.shape[0]} columns, like X's rows, got shape {tuple(W.shape)}")
    return _empirical_gram(W, X, block)


def _empirical_gram(W: torch.Tensor, X: torch.Tensor, block: int = 8192) -> torch.Tensor:
    """:func:`empirical_gram` without checks (``W`` with or without the ensemble axis)."""
    single = W.ndim == 2
    W = W.unsqueeze(0) if single else W
    m = W.shape[1]
    counts = torch.zeros(W.shape[0], X.shape[1], X.shape[1], dtype=W.dtype, device=W.device)
    for start in range(0, m, block):
        pattern = (torch.matmul(W[:, start:start + block], X) >= 0).to(W.dtype)  # (R, b, N)
        counts += pattern.transpose(1, 2) @ pattern
    gram = _gram_from_counts(X, counts, m)
    return gram[0] if single else gram


def _gram_from_counts(X: torch.Tensor, counts: torch.Tensor, m: int) -> torch.Tensor:
    """``(XᵀX) ⊙ (SᵀS) / m`` from the co-activation counts ``SᵀS: (…, N, N)`` of ``m`` units."""
    return (X.T @ X) * counts / m


def min_eigenvalue(H) -> torch.Tensor | float:
    """``λ_min`` of a symmetric ``(N, N)`` matrix (a float), or of each of ``(R, N, N)`` (an ``(R,)`` tensor).

    ``min_eigenvalue(limit_gram(X))`` is Du et al.'s ``λ0``. Chapter 7.
    """
    H = _as_tensor("H", H, (2, 3))
    if H.shape[-1] != H.shape[-2]:
        raise ValueError(f"H must be square, got shape {tuple(H.shape)}")
    scale = float(H.abs().max()) if H.numel() else 0.0
    if not torch.allclose(H, H.transpose(-1, -2), rtol=0, atol=1e-12 * max(scale, 1.0)):
        raise ValueError("H must be symmetric")
    values = torch.linalg.eigvalsh(H)[..., 0]
    return float(values) if H.ndim == 2 else values


def two_layer_network(d: int, m: int, *, ensemble: int = 1, seed: int | None = None, device="cpu",
                      dtype: torch.dtype = torch.float64) -> LeakyReLUNet:
    """Du et al.'s network as the library's model: ``W: (R, m, d)`` with ``w_r ~ N(0, I_d)``, ``z = a/√m``.

    ``a_r ~ unif{−1, +1}``. Train it with ``minima.train(net, X, y, optimizer="gd",
    normalization="half_sum", train_layers=[0], stop_at_zero=False)``: the output layer stays fixed. Drawn
    in float64 on the CPU, then moved, so the weights do not depend on the device. Chapter 7.
    """
    d, m = check_positive_int("d", d), check_positive_int("m", m)
    ensemble = check_positive_int("ensemble", ensemble)
    generator = torch_generator(seed)
    W = torch.randn(ensemble, m, d, generator=generator, dtype=torch.float64)
    a = 2.0 * torch.randint(0, 2, (ensemble, m), generator=generator).double() - 1.0
    weights = [W.to(device=device, dtype=dtype), (a / math.sqrt(m)).to(device=device, dtype=dtype)]
    return LeakyReLUNet.from_weights(weights, 0.0)


_RECORD_ELEMENTS = 2 ** 25  # GramDynamics works on (R, units, N) blocks of at most this many numbers


def _blocks(size: int, block: int) -> list[slice]:
    """``range(size)`` cut into consecutive slices of at most ``block``."""
    return [slice(start, min(start + block, size)) for start in range(0, size, block)]


class GramDynamics:
    """Callback for :func:`minima.train`: what Du et al.'s proof watches, every ``every`` epochs.

    For each member of a :func:`two_layer_network` ensemble, after the recorded epochs:

    * ``outputs``: ``u(k)``, ``(T, R, N)``; ``residual_norm``: ``‖u(k) − y‖₂``;
    * ``weight_movement``: ``max_r ‖w_r(k) − w_r(0)‖₂`` (Lemma 3.3's ``R′``);
    * ``flip_fraction``: ``Σ_{i,r} 1{sign w_r(k)ᵀx_i ≠ sign w_r(0)ᵀx_i} / (m N)`` (their Figure 1b);
    * ``gram_change``: ``‖H(k) − H(0)‖₂`` and ``gram_min_eigenvalue``: ``λ_min(H(k))`` (Lemma 3.2);
    * ``max_neuron_gradient``: ``max_r ‖∂L/∂w_r‖₂``, which Golikov bounds by ``√(N/m) ‖u − y‖₂``.

    All records stay on the training device until :attr:`values` is read (no host synchronisation per
    step). ``X: (d, N)``, ``y: (N,)``; ``every``: record after every ``every``-th step (steps ``every``,
    ``2·every``, …), besides the initial state, recorded by ``start``. Chapter 7.
    """

    FIELDS = ("outputs", "residual_norm", "weight_movement", "flip_fraction", "gram_change", "gram_min_eigenvalue",
              "max_neuron_gradient")

    def __init__(self, X, y, *, every: int = 1):
        self.X = _as_tensor("X", X, 2)
        self.y = check_targets("y", y, ((self.X.shape[1],),))
        self.every = check_positive_int("every", every)
        self._records: dict[str, list[torch.Tensor]] = {}
        self._epochs: list[int] = []

    def start(self, net: LeakyReLUNet) -> None:
        if net.depth != 2 or net.outputs is not None or net.rho != 0.0 or net.activation != "leaky_relu":
            raise ValueError("GramDynamics needs a two-layer ReLU network with scalar output (two_layer_network)")
        self._X = net.check_inputs(self.X)
        self._y = self.y.to(device=net.device, dtype=net.dtype)
        self._W0 = net.weights[0].detach().clone()
        self._pattern0 = torch.matmul(self._W0, self._X) >= 0
        self._H0 = _empirical_gram(self._W0, self._X)
        self._records = {name: [] for name in self.FIELDS}
        self._epochs = []
        self._record(-1, net)

    def __call__(self, epoch: int, net: LeakyReLUNet) -> None:
        if not self._epochs:
            self.start(net)
        if (epoch + 1) % self.every == 0:
            self._record(epoch, net)

    @torch.no_grad()
    def _record(self, epoch: int, net: LeakyReLUNet) -> None:
        W, z = net.weights[0].detach(), net.weights[1].detach()  # (R, m, d), (R, m)
        members, m, N = W.shape[0], W.shape[1], self._X.shape[1]
        block = max(1, _RECORD_ELEMENTS // (members * N))  # units a block: (R, block, N) ≤ 2²⁵ numbers
        pattern = torch.empty(members, m, N, dtype=torch.bool, device=W.device)
        counts = torch.zeros(members, N, N, dtype=W.dtype, device=W.device)
        outputs = torch.zeros(members, N, dtype=W.dtype, device=W.device)
        flips = torch.zeros(members, dtype=W.dtype, device=W.device)
        for units in _blocks(m, block):  # one product a block serves outputs, pattern and H
            pre = torch.matmul(W[:, units], self._X)  # (R, b, N)
            pattern[:, units] = pre >= 0
            indicator = pattern[:, units].to(W.dtype)
            outputs += _output_layer(z[:, units], leaky_relu(pre, 0.0))
            counts += indicator.transpose(1, 2) @ indicator
            flips += (pattern[:, units] != self._pattern0[:, units]).to(W.dtype).sum(dim=(1, 2))
        residual = outputs - self._y  # u(k) − y, (R, N)
        H = _gram_from_counts(self._X, counts, m)
        rows = max(1, _RECORD_ELEMENTS // (members * W.shape[2]))
        movement = torch.cat([(W[:, units] - self._W0[:, units]).norm(dim=-1) for units in _blocks(m, rows)],
                             dim=1)  # ‖w_r(k) − w_r(0)‖, (R, m)
        gradient_norm = torch.cat([
            (z[:, units].unsqueeze(-1) * torch.matmul(pattern[:, units].to(W.dtype) * residual.unsqueeze(1),
                                                      self._X.T)).norm(dim=-1)
            for units in _blocks(m, block)], dim=1)  # ‖∂L/∂w_r‖, (R, m)
        values = {
            "outputs": outputs,
            "residual_norm": residual.norm(dim=-1),
            "weight_movement": movement.max(dim=-1).values,
            "flip_fraction": flips / (m * N),
            "gram_change": torch.linalg.eigvalsh(H - self._H0).abs().max(dim=-1).values,
            "gram_min_eigenvalue": torch.linalg.eigvalsh(H)[..., 0],
            "max_neuron_gradient": gradient_norm.max(dim=-1).values,
        }
        for name, value in values.items():
            self._records[name].append(value)
        self._epochs.append(epoch + 1)

    @property
    def initial_gram(self) -> torch.Tensor:
        """``H(0)`` of each member, ``(R, N, N)`` on the CPU (Lemma 3.1 compares it with ``H∞``)."""
        if not self._epochs:
            raise ValueError("nothing recorded yet: pass the tracker to train(callbacks=[...]) first")
        return self._H0.cpu()

    @property
    def initial_weights(self) -> torch.Tensor:
        """``W(0)`` of each member, ``(R, m, d)`` on the CPU (:func:`unit_movement` sets ``W(k)`` against it)."""
        if not self._epochs:
            raise ValueError("nothing recorded yet: pass the tracker to train(callbacks=[...]) first")
        return self._W0.cpu()

    @property
    def steps(self) -> torch.Tensor:
        """The number ``k`` of gradient steps taken at each record, ``(T,)``: 0 for the initial state."""
        return torch.tensor(self._epochs)

    @property
    def values(self) -> dict[str, torch.Tensor]:
        """Each recorded quantity as a ``(T, R)`` CPU tensor (``outputs``: ``(T, R, N)``), ``T`` records."""
        if not self._epochs:
            raise ValueError("nothing recorded yet: pass the tracker to train(callbacks=[...]) first")
        return {name: torch.stack(records).cpu() for name, records in self._records.items()}


def unit_movement(W0, W, X) -> dict[str, torch.Tensor]:
    """How far each hidden unit moved and whether its activation pattern flipped (Lemma 3.3's picture).

    ``W0, W: (m, d)``, the first layer before and after training; ``X: (d, N)``. Returns ``movement``
    ``‖w_r − w_r(0)‖₂``, ``margin`` ``min_i |w_r(0)ᵀx_i| / ‖x_i‖`` (the distance from ``w_r(0)`` to the nearest
    hyperplane ``wᵀx_i = 0``) and ``flipped`` (the sign of ``w_rᵀx_i`` changed for some ``i``), each ``(m,)``. A
    unit flips only if ``movement ≥ margin``. Chapter 7.
    """
    W0 = _as_tensor("W0", W0, 2).double().cpu()
    W = _as_tensor("W", W, 2).double().cpu()
    X = _as_tensor("X", X, 2).double().cpu()
    if W.shape != W0.shape or W0.shape[1] != X.shape[0]:
        raise ValueError(f"W0 and W must both be (m, {X.shape[0]}) for X of shape {tuple(X.shape)}, got "
                         f"{tuple(W0.shape)} and {tuple(W.shape)}")
    before, after = W0 @ X, W @ X
    margin = (before.abs() / X.norm(dim=0)).min(dim=1).values
    flipped = ((before >= 0) != (after >= 0)).any(dim=1)
    return {"movement": (W - W0).norm(dim=1), "margin": margin, "flipped": flipped}


def linearized_prediction(H, u0, y, t, *, learning_rate: float | None = None) -> torch.Tensor:
    """The outputs of the linearised dynamics with a fixed kernel ``H``: ``(T, N)`` for times ``t: (T,)``.

    Gradient flow ``du/dt = −H(u − y)`` (Du et al.'s eq. 7 with ``H(t) = H``) gives
    ``u(t) = y + V e^{−Λt} Vᵀ (u0 − y)`` with ``H = V Λ Vᵀ``. With ``learning_rate = η`` it is instead gradient
    descent on the linear model, ``u(k) = y + (I − ηH)^k (u0 − y)`` at integer steps ``k = t`` (the flow is its
    ``η → 0`` limit at ``t = kη``). ``H: (N, N)`` symmetric, ``u0, y: (N,)``. Chapter 7.
    """
    H = _as_tensor("H", H, 2).double()
    if H.shape[0] != H.shape[1] or not torch.allclose(H, H.T, rtol=0, atol=1e-12 * max(float(H.abs().max()), 1.0)):
        raise ValueError(f"H must be a symmetric (N, N) matrix, got shape {tuple(H.shape)}")
    u0 = check_targets("u0", u0, ((H.shape[0],),)).double().to(H.device)
    y = check_targets("y", y, ((H.shape[0],),)).double().to(H.device)
    times = _as_tensor("t", t, (0, 1)).double().reshape(-1).to(H.device)
    if bool((times < 0).any()):
        raise ValueError("t must be non-negative")
    eigenvalues, vectors = torch.linalg.eigh(H)
    coefficients = vectors.T @ (u0 - y)  # (N,)
    if learning_rate is None:
        decay = torch.exp(-times[:, None] * eigenvalues[None, :])
    else:
        learning_rate = check_real("learning_rate", learning_rate, low=0.0, low_open=True)
        if not torch.equal(times, times.round()):
            raise ValueError("t must hold whole numbers of steps when a learning_rate is given")
        decay = (1 - learning_rate * eigenvalues[None, :]) ** times[:, None]
    return y + (decay * coefficients) @ vectors.T


def theory_width(n_samples: int, lambda0: float, delta: float) -> float:
    """The width Theorems 3.2 and 4.1 ask for, ``n⁶ / (λ0⁴ δ³)``, with the unknown constant set to 1. Chapter 7."""
    n_samples = check_positive_int("n_samples", n_samples)
    lambda0 = check_real("lambda0", lambda0, low=0.0, low_open=True)
    delta = check_real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    return n_samples ** 6 / (lambda0 ** 4 * delta ** 3)


def proof_width(y, lambda0: float, delta: float) -> float:
    """The width at which the proof of Theorem 4.1 closes, with the proof's own constants. Chapter 7.

    ``y: (N,)`` the labels; the result holds with probability ``≥ 1 − δ``, a union bound over three events
    of probability ``≥ 1 − δ/3`` each (``δ′ = δ/3`` below). Lemma 3.1: ``λ_min(H(0)) ≥ ¾λ0``. Lemma 3.2:
    ``‖H − H(0)‖₂ < λ0/4`` for every ``W`` with ``‖w_r − w_r(0)‖ ≤ R = √(2π) δ′ λ0 / (16 N²)``
    (anti-concentration ``P(|w_r(0)ᵀx_i| < R) ≤ 2R/√(2π)``, Markov's inequality on
    ``Σ_ij |H_ij − H_ij(0)|``, then ``‖·‖₂ ≤ ‖·‖_F``). Markov on ``E‖y − u(0)‖² = ‖y‖² + N/2``
    (``E u_i(0)² = ½`` for unit inputs): ``‖y − u(0)‖² ≤ (‖y‖² + N/2)/δ′``. Corollary 4.1: the weights
    move at most ``R′ = 4√N ‖y − u(0)‖ / (√m λ0)``, so ``R′ < R`` for
    ``m > 16 N (‖y‖² + N/2) / (δ′ λ0² R²)``, which is returned: ``∝ N⁶ / (λ0⁴ δ³)`` for ``‖y‖² ∝ N``.
    Lemma 3.1's own width condition (Hoeffding, ``∝ N² log(N/δ)/λ0²``) is far smaller.
    """
    y = _as_tensor("y", y, 1)
    if y.numel() == 0:
        raise ValueError("y must hold at least one label")
    lambda0 = check_real("lambda0", lambda0, low=0.0, low_open=True)
    delta = check_real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True) / 3
    n_samples = y.numel()
    radius = math.sqrt(2 * math.pi) * delta * lambda0 / (16 * n_samples ** 2)
    initial_error = (float(y.double().pow(2).sum()) + n_samples / 2) / delta
    return 16 * n_samples * initial_error / (lambda0 ** 2 * radius ** 2)


def theory_step_size(n_samples: int, lambda0: float) -> float:
    """The step size Theorem 4.1 allows, ``η = λ0 / n²``, with the unknown constant set to 1. Chapter 7."""
    n_samples = check_positive_int("n_samples", n_samples)
    lambda0 = check_real("lambda0", lambda0, low=0.0, low_open=True)
    return lambda0 / n_samples ** 2
