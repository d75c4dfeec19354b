"""Training an ensemble of networks as one tensor program, with the papers' stopping rule.

The objective is the mean squared error (Soudry & Hoffer, eq. 2.3) of each member,

    MSE = (1/N) Σ_n (y_hat_n − y_n)²,

and the classification error MCE is the fraction of samples on the wrong side of the midpoint between
the two label values (the sign, for labels ±1). Every member is optimised on its own loss: the summed
objective has block-diagonal gradients, so an ensemble run equals R separate runs. A member stops, and
its weights freeze, once its MCE is zero (Soudry & Hoffer, appendix Part III), unless ``stop_at_zero``
is off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ._checks import check_finite_tensor, check_positive_int, check_real
from .device import torch_generator
from .models import LeakyReLUNet, slopes
from .rank import khatri_rao

__all__ = ["mse", "mce", "train", "History", "progress_enabled", "sweep_widths", "WidthSweep", "slope_noise",
           "settle_in_region", "Settled"]


def progress_enabled() -> bool:
    """Whether progress bars are on: yes unless the environment sets ``MINIMA_PROGRESS=0``.

    The book build and the tests set it to 0, so that no widget lands in the rendered pages.
    """
    return os.environ.get("MINIMA_PROGRESS", "1") != "0"


def _label_threshold(y: torch.Tensor, *, strict: bool = True) -> float | None:
    values = torch.unique(y)
    if values.numel() > 2:
        if not strict:
            return None  # real-valued targets: a regression, for which the MCE is not defined
        raise ValueError(f"y must hold at most two label values for the MCE, got {values.numel()}")
    return float(values.float().mean()) if values.numel() == 2 else (0.0 if float(values[0]) in (-1.0, 1.0) else 0.5)


def mse(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``(1/N) Σ_n (y_hat_n − y_n)²`` of each member: ``outputs (R, N)``, ``y (N,)`` → ``(R,)``."""
    return (outputs - y).pow(2).mean(dim=-1)


def mce(outputs: torch.Tensor, y: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """Mean classification error of each member: ``outputs (R, N)``, ``y (N,)`` with two label values → ``(R,)``.

    A sample counts as correct when ``y_hat`` lies on the same side of the labels' midpoint as ``y``
    (for ``y ∈ {−1, 1}`` that is ``sign(y_hat) = y``; for ``{0, 1}``, the threshold 1/2). A caller that
    evaluates the same labels repeatedly may pass the ``threshold`` once computed.
    """
    threshold = _label_threshold(y) if threshold is None else threshold
    return ((outputs > threshold) != (y > threshold)).to(outputs.dtype).mean(dim=-1)


def _training_mce(outputs: torch.Tensor, y: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """The MCE during training; NaN for real-valued targets, where it is not defined."""
    if threshold is None:
        return torch.full(outputs.shape[:-1], float("nan"), dtype=outputs.dtype, device=outputs.device)
    return mce(outputs, y, threshold)


@dataclass
class History:
    """What ``train`` returns. ``loss`` and ``mce`` are ``(epochs_run, R)`` on the CPU, one row per epoch.

    ``epochs_to_zero[r]`` is the first epoch at which member r had MCE = 0 (``-1``: never);
    ``final_loss`` and ``final_mce`` (``(R,)``) are measured on the returned weights;
    ``min_preactivation`` (``(epochs_run, R)``, when tracked) is ``min_{l,i,n} |u_{l,i,n}|`` after each epoch.
    """
    loss: torch.Tensor
    mce: torch.Tensor
    epochs_to_zero: torch.Tensor
    final_loss: torch.Tensor
    final_mce: torch.Tensor
    learning_rates: list[float] = field(default_factory=list)
    min_preactivation: torch.Tensor | None = None

    @property
    def epochs_run(self) -> int:
        return self.loss.shape[0]


def _adam_step(weights, grads, state, lr, betas, eps, active, step):
    beta1, beta2 = betas
    for index, (w, g) in enumerate(zip(weights, grads)):
        m, v = state[index]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        m_hat = m / (1 - beta1 ** step)
        v_hat = v / (1 - beta2 ** step)
        update = m_hat / (v_hat.sqrt() + eps)
        w.sub_(lr * update * active.view(-1, *([1] * (w.ndim - 1))))


def _gd_step(weights, grads, lr, active):
    for w, g in zip(weights, grads):
        w.sub_(lr * g * active.view(-1, *([1] * (w.ndim - 1))))


def train(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 1000, lr: float = 1e-2,
          optimizer: str = "adam", batch_size: int | None = None, decay_after: int | None = None,
          decay: float = 1.0, stop_at_zero: bool = True, noise: Sequence[torch.Tensor | None] | None = None,
          betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8, seed: int | None = None,
          train_layers: Sequence[int] | None = None, track_min_preactivation: bool = False,
          progress: bool | None = None, desc: str = "training") -> History:
    """Train every member of ``net`` in place on ``(X, y)`` and return the :class:`History`.

    ``X: (d0, N)`` shared by all members, or ``(R, d0, N)``; ``y: (N,)`` or ``(R, N)`` with two label values
    (classification: the MCE is recorded) or real targets (regression: the MCE is NaN, all epochs run). ``optimizer`` is
    ``"adam"`` (β = (0.9, 0.99), ε = 1e-8, as in Soudry & Hoffer) or ``"gd"`` (plain gradient descent).
    ``batch_size=None`` is full batch; otherwise each epoch visits a fresh random permutation (``seed``) in
    mini-batches. The learning rate is ``lr · decay^(epoch − decay_after)`` after epoch ``decay_after``.
    ``noise`` is the fixed dropout-like slope noise of :class:`~minima.models.LeakyReLUNet`.
    ``train_layers`` lists the indices of ``net.weights`` to update (``None``: all; the last index is ``z``);
    the others stay as initialised, as in Soudry & Carmon's Theorem 2. ``track_min_preactivation`` records
    the smallest ``|pre-activation|`` after every epoch (Soudry & Hoffer, Figure 5.2).
    """
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    X = net._check_inputs(X)
    y = torch.as_tensor(y)
    check_finite_tensor("y", y.double(), (1, 2))
    n_samples = X.shape[-1]
    if y.shape[-1] != n_samples or (y.ndim == 2 and y.shape[0] != net.ensemble):
        raise ValueError(f"y must have shape ({n_samples},) or ({net.ensemble}, {n_samples}), got {tuple(y.shape)}")
    threshold = _label_threshold(y, strict=False)
    if threshold is None:
        stop_at_zero = False
    y = y.to(device=net.device, dtype=net.dtype)
    epochs = check_positive_int("epochs", epochs)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    decay = check_real("decay", decay, low=0.0, high=1.0, low_open=True)
    if optimizer not in ("adam", "gd"):
        raise ValueError(f"optimizer must be 'adam' or 'gd', got {optimizer!r}")
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    if decay_after is not None:
        decay_after = check_positive_int("decay_after", decay_after, minimum=0)
    noise = net._check_noise(noise, n_samples)
    layers = list(range(net.depth)) if train_layers is None else list(train_layers)
    if not layers or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < net.depth for i in layers):
        raise ValueError(f"train_layers must list weight indices in [0, {net.depth}), got {train_layers!r}")
    generator = torch_generator(seed)
    progress = progress_enabled() if progress is None else progress

    weights = [net.weights[i] for i in layers]
    state = [(torch.zeros_like(w), torch.zeros_like(w)) for w in weights]
    smallest_preactivation = []
    active = torch.ones(net.ensemble, device=net.device, dtype=net.dtype)
    epochs_to_zero = torch.full((net.ensemble,), -1, dtype=torch.long)
    losses, errors, learning_rates = [], [], []
    full_batch = batch_size is None or batch_size >= n_samples
    step = 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        rate = lr * (decay ** max(0, epoch - decay_after) if decay_after is not None else 1.0)
        if full_batch:
            batches = [None]
        else:
            order = torch.randperm(n_samples, generator=generator).to(net.device)
            batches = list(order.split(batch_size))
        for batch in batches:
            if batch is None:
                xb, yb, nb = X, y, noise
            else:
                xb, yb = X[..., batch], y[..., batch]
                nb = [None if e is None else e[..., batch] for e in noise]
            outputs = net.forward(xb, nb)
            per_member = mse(outputs, yb)
            grads = torch.autograd.grad(per_member.sum(), weights)
            if full_batch:  # the forward pass of this step already measures the epoch
                with torch.no_grad():
                    epoch_loss, epoch_error = per_member.detach(), _training_mce(outputs.detach(), yb, threshold)
                    if stop_at_zero:
                        active = active * (epoch_error > 0).to(active.dtype)
            step += 1
            with torch.no_grad():
                if optimizer == "adam":
                    _adam_step(weights, grads, state, rate, betas, eps, active, step)
                else:
                    _gd_step(weights, grads, rate, active)
        if not full_batch:
            with torch.no_grad():
                outputs = net.forward(X, noise)
                epoch_loss, epoch_error = mse(outputs, y), _training_mce(outputs, y, threshold)
                if stop_at_zero:
                    active = active * (epoch_error > 0).to(active.dtype)
        epoch_error_cpu = epoch_error.cpu()
        newly = (epoch_error_cpu == 0) & (epochs_to_zero < 0)
        epochs_to_zero[newly] = epoch
        if track_min_preactivation:
            smallest_preactivation.append(net.min_abs_preactivation(X).cpu())
        losses.append(epoch_loss.cpu())
        errors.append(epoch_error_cpu)
        learning_rates.append(rate)
        if progress and (epoch % 50 == 0 or epoch == epochs - 1):
            bar.set_postfix(mse=f"{float(epoch_loss.mean()):.2e}", zero_mce=f"{int((epoch_error_cpu == 0).sum())}/{net.ensemble}")
        if stop_at_zero and not bool(active.any()):
            break
    bar.close()
    with torch.no_grad():
        outputs = net.forward(X, noise)
        final_loss, final_mce = mse(outputs, y).cpu(), _training_mce(outputs, y, threshold).cpu()
    return History(torch.stack(losses), torch.stack(errors), epochs_to_zero, final_loss, final_mce, learning_rates,
                   torch.stack(smallest_preactivation) if track_min_preactivation else None)


@dataclass
class WidthSweep:
    """Result of :func:`sweep_widths`: one row per hidden width, one column per repetition.

    ``parameter_ratio[w]`` is #parameters / N of width ``hidden_widths[w]``; ``final_mce`` and
    ``final_mse`` are ``(W, R)``; ``epochs_to_zero`` is ``(W, R)`` with ``-1`` for never.
    """
    hidden_widths: list[int]
    parameter_ratio: torch.Tensor
    final_mce: torch.Tensor
    final_mse: torch.Tensor
    epochs_to_zero: torch.Tensor
    networks: list[LeakyReLUNet] | None = None
    noise: list[list[torch.Tensor]] | None = None


def slope_noise(net: LeakyReLUNet, n_samples: int, std: float, seed: int | None = None) -> list[torch.Tensor]:
    """A fixed realisation of Soudry & Carmon's dropout-like noise: ``ε = 1 + std·ξ``, ``ξ ~ N(0, 1)``.

    One ``(R, d_l, N)`` tensor per hidden layer, for ``net.forward(X, noise)`` and ``train(…, noise=…)``.
    """
    std = check_real("std", std, low=0.0)
    generator = torch_generator(seed)
    return [(1 + std * torch.randn((net.ensemble, width, n_samples), generator=generator, dtype=torch.float64))
            .to(device=net.device, dtype=net.dtype) for width in net.widths[1:]]


def sweep_widths(X: torch.Tensor, y: torch.Tensor, hidden_widths: Sequence[int], *, repetitions: int,
                 depth: int = 2, rho: float = 0.0, seed: int = 0, device=None, dtype=torch.float32,
                 noise_std: float = 0.0, keep_networks: bool = False, progress: bool | None = None,
                 **train_options) -> WidthSweep:
    """Train ``repetitions`` networks for each hidden width (all hidden layers that wide) on ``(X, y)``.

    The repetitions of one width train together as one ensemble; ``train_options`` go to :func:`train`.
    ``X: (d0, N)``, ``y: (N,)``. Width ``w`` with ``depth`` weight layers has
    ``d0·w + (depth − 2)·w² + w`` parameters. ``noise_std > 0`` trains with the dropout-like slope noise
    (:func:`slope_noise`); ``keep_networks`` keeps the trained ensembles (and noise) in the result.
    """
    repetitions = check_positive_int("repetitions", repetitions)
    depth = check_positive_int("depth", depth, minimum=2)
    if len(hidden_widths) == 0:
        raise ValueError("hidden_widths must name at least one width")
    device = torch.device("cpu") if device is None else torch.device(device)
    X = torch.as_tensor(X)
    check_finite_tensor("X", X, 2)
    progress = progress_enabled() if progress is None else progress
    ratios, errors, losses, zeros, networks, noises = [], [], [], [], [], []
    for index, width in enumerate(tqdm(list(hidden_widths), desc="widths", disable=not progress)):
        width = check_positive_int(f"hidden_widths[{index}]", width)
        net = LeakyReLUNet((X.shape[0],) + (width,) * (depth - 1), rho, ensemble=repetitions,
                           seed=seed + 1000 * index, device=device, dtype=dtype)
        noise = slope_noise(net, X.shape[1], noise_std, seed=seed + 1000 * index + 1) if noise_std > 0 else None
        history = train(net, X, y, seed=seed + 1000 * index, noise=noise, progress=False, **train_options)
        if keep_networks:
            networks.append(net)
            noises.append(noise)
        ratios.append(float(net.n_parameters()[0]) / X.shape[1])
        errors.append(history.final_mce)
        losses.append(history.final_loss)
        zeros.append(history.epochs_to_zero)
    return WidthSweep(list(hidden_widths), torch.tensor(ratios), torch.stack(errors), torch.stack(losses),
                      torch.stack(zeros), networks if keep_networks else None, noises if keep_networks else None)


@dataclass
class Settled:
    """Result of :func:`settle_in_region`: ``converged`` says whether an exact critical point was reached
    inside the starting activation region; ``rounds`` counts least-squares solves, ``steps`` the step
    fraction taken in each."""
    converged: bool
    rounds: int
    steps: list[float]


@torch.no_grad()
def settle_in_region(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, member: int = 0, noise=None,
                     max_rounds: int = 50) -> Settled:
    """Move a one-hidden-layer member, in place, to the exact minimum of the MSE within its activation region.

    Inside a region where the slopes ``A`` are fixed, ``y_hat = (A ∘ X)ᵀ vec(V)`` with ``V = diag(z) W``: a
    linear least-squares problem (Soudry & Carmon, Lemma 1). Each round solves it for the correction of
    smallest norm, then moves ``W`` (keeping ``z``) towards that solution by the largest step in
    ``{1, 1/2, 1/4, …}`` that keeps every pre-activation's sign. A full step ends at a point where
    ``(A ∘ X) e = 0`` to round-off: a differentiable local minimum. Works in float64; needs ``z_i ≠ 0``.
    """
    if net.depth != 2:
        raise ValueError(f"settle_in_region needs one hidden layer (depth 2), got depth {net.depth}")
    max_rounds = check_positive_int("max_rounds", max_rounds)
    W_param, z_param = net.weights
    W, z = W_param[member].double(), z_param[member].double()
    if torch.any(z == 0):
        raise ValueError("net has output weights z_i = 0, for which W_i cannot be solved for")
    X = torch.as_tensor(X).double().to(W.device)
    y = torch.as_tensor(y).double().to(W.device)
    eps = None if noise is None else noise[0][member].double()
    steps = []
    for _ in range(max_rounds):
        u = W @ X
        M = khatri_rao(slopes(u, net.rho, eps).cpu(), X.cpu()).to(W.device)
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
    return Settled(steps[-1] == 1.0, len(steps), steps)
