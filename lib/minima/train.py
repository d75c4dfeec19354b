"""Training an ensemble of networks as one tensor program, with the papers' stopping rule.

The objective is the squared error of each member (:mod:`minima.losses`): by default the MSE of Soudry &
Hoffer (eq. 2.3), ``(1/N) Σ_n (y_hat_n − y_n)²``, or ``½ Σ_n ‖y_hat_n − y_n‖²`` (Kawaguchi; Du et al.) with
``normalization="half_sum"``. The classification error MCE is the fraction of samples on the wrong side of
the midpoint between the two label values. Every member is optimised on its own loss: the summed objective
has block-diagonal gradients, so an ensemble run equals R separate runs. A member stops, and its weights
freeze, once its MCE is zero (Soudry & Hoffer, appendix Part III), unless ``stop_at_zero`` is off.
Adam's step is the kernel of ``torch.optim.Adam(fused=True)``, one call over all the trained weights of
all members, without the optimiser object's per-step overhead.

What else to record during training is up to **callbacks**: objects called as ``callback(epoch, net)``
after every epoch, with the network as it stands then (and ``callback.start(net)`` before the first step,
if they have that method). :class:`MinAbsPreactivation` is one; it keeps its records on the device.
Chapters 1, 2, 3, 5, 6 and 7.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ._checks import check_finite_tensor, check_positive_int, check_real, check_targets
from .device import progress_enabled, torch_generator
from .losses import NORMALIZATIONS, _mce, _squared_loss, label_threshold
from .models import LeakyReLUNet, _min_abs_preactivation, forward, slope_noise

__all__ = ["train", "History", "MinAbsPreactivation", "sweep_widths", "WidthSweep"]


def _training_mce(outputs: torch.Tensor, y: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """The MCE during training; NaN for real-valued targets or vector outputs, where it is not defined."""
    if threshold is None:
        return torch.full(outputs.shape[:1], float("nan"), dtype=outputs.dtype, device=outputs.device)
    return _mce(outputs, y, threshold)


@dataclass
class History:
    """What ``train`` returns. ``loss`` and ``mce`` are ``(epochs_run, R)`` on the CPU, one row per epoch.

    ``epochs_to_zero[r]`` is the first epoch at which member r had MCE = 0 (``-1``: never);
    ``final_loss`` and ``final_mce`` (``(R,)``) are measured on the returned weights; ``loss`` is
    normalised as the ``normalization`` passed to :func:`train`.

    Chapters 1–3.
    """
    loss: torch.Tensor
    mce: torch.Tensor
    epochs_to_zero: torch.Tensor
    final_loss: torch.Tensor
    final_mce: torch.Tensor
    learning_rates: list[float] = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        return self.loss.shape[0]


class MinAbsPreactivation:
    """Callback: ``min_{l,i,n} |u_{l,i,n}|`` of every member after every epoch (Soudry & Hoffer, Figure 5.2).

    Pass it to :func:`train` (``callbacks=[tracker]``); ``tracker.values`` is then ``(epochs_run, R)`` on
    the CPU. Zero would mean a kink: a non-differentiable point. The records stay on the training device
    until read. ``X: (d0, N)``, the training inputs. Chapter 2.
    """

    def __init__(self, X: torch.Tensor):
        self.X = check_finite_tensor("X", torch.as_tensor(X), (2, 3))
        self._inputs = None
        self._values: list[torch.Tensor] = []

    def start(self, net: LeakyReLUNet) -> None:
        self._inputs = net.check_inputs(self.X)
        self._values = []

    def __call__(self, epoch: int, net: LeakyReLUNet) -> None:
        if self._inputs is None:
            self.start(net)
        self._values.append(_min_abs_preactivation(net, self._inputs))

    @property
    def values(self) -> torch.Tensor:
        if not self._values:
            raise ValueError("nothing recorded yet: pass the tracker to train(callbacks=[...]) first")
        return torch.stack(self._values).cpu()


def _member_views(active, tensors):
    """``active`` (R,) viewed to broadcast against each tensor's leading ensemble axis."""
    return [active.view(-1, *([1] * (t.ndim - 1))) for t in tensors]


def _adam_step(weights, grads, moments, squares, steps, lr, betas, eps, active=None):
    """One Adam step (Kingma & Ba 2015) as ``torch.optim.Adam(fused=True)`` takes it: one fused kernel
    over all the trained weights, ``moments`` and ``squares``. ``steps``: one 0-d float32 count of steps
    taken (this one included) per weight, on the weights' device. Members where ``active`` (``(R,)``,
    0 or 1) is 0 keep their weights exactly (their moments move on, unused); ``None``: every member steps.
    """
    kept = None if active is None else [w.clone() for w in weights]
    torch._fused_adam_(weights, grads, moments, squares, [], steps, lr=lr, beta1=betas[0], beta2=betas[1],
                       weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
    if kept is not None:
        for weight, old, member in zip(weights, kept, _member_views(active, weights)):
            weight.copy_(torch.where(member > 0, weight, old))


def _gd_step(weights, grads, lr, active):
    updates = torch._foreach_mul(grads, lr)
    torch._foreach_mul_(updates, _member_views(active, weights))
    torch._foreach_sub_(weights, updates)


def _sgd_momentum_step(weights, grads, velocities, lr, momentum, active):
    """``v ← μ v + g``, ``w ← w − lr v`` (as ``torch.optim.SGD`` with ``momentum=μ``), on active members."""
    torch._foreach_mul_(velocities, momentum)
    torch._foreach_add_(velocities, grads)
    updates = torch._foreach_mul(velocities, lr)
    torch._foreach_mul_(updates, _member_views(active, weights))
    torch._foreach_sub_(weights, updates)


def _mini_batch(samples: torch.Tensor | None, batch: torch.Tensor) -> torch.Tensor | None:
    """The columns ``batch`` of a shared ``(d, N)`` tensor, or of an ``(R, d, N)`` one stored as
    ``(R, N, d)`` (gathering rows there is many times faster than gathering strided columns)."""
    if samples is None:
        return None
    if samples.ndim == 2:
        return samples[..., batch]
    return samples.index_select(-2, batch).transpose(-1, -2)


_RECORD_BLOCK = 64  # epochs of records kept on the device between copies to the host


class _Records:
    """The per-epoch loss, MCE and "any member still training" flags of :func:`train`, on the device
    until :meth:`flush` copies a block of them to the host (one synchronisation per block)."""

    def __init__(self):
        self.pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.pending_rates: list[float] = []
        self.loss: list[torch.Tensor] = []
        self.mce: list[torch.Tensor] = []
        self.learning_rates: list[float] = []

    def add(self, loss, mce, any_active, rate) -> None:
        self.pending.append((loss, mce, any_active))
        self.pending_rates.append(rate)

    def flush(self, stop_at_zero: bool) -> bool:
        """Copy the pending block to the host; True when the stopping rule ended training inside it."""
        losses, errors, any_active = (torch.stack(column).cpu() for column in zip(*self.pending))
        kept = len(self.pending)
        stopped = stop_at_zero and not bool(any_active.all())
        if stopped:  # the first epoch after which every member was frozen is the last one kept
            kept = int(torch.nonzero(~any_active)[0]) + 1
        self.loss.append(losses[:kept])
        self.mce.append(errors[:kept])
        self.learning_rates.extend(self.pending_rates[:kept])
        self.pending, self.pending_rates = [], []
        return stopped


def train(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 1000, lr: float = 1e-2,
          optimizer: str = "adam", batch_size: int | None = None, decay_after: int | None = None,
          decay: float = 1.0, stop_at_zero: bool = True, noise: Sequence[torch.Tensor | None] | None = None,
          betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8, seed: int | None = None,
          train_layers: Sequence[int] | None = None, normalization: str = "mean", momentum: float = 0.9,
          callbacks: Sequence[Callable] = (), progress: bool | None = None, desc: str = "training") -> History:
    """Train every member of ``net`` in place on ``(X, y)`` and return the :class:`History`.

    Parameters
    ----------
    net: the ensemble; its weights are updated in place.
    X: ``(d0, N)`` shared by all members, or ``(R, d0, N)``.
    y: targets shaped as one member's outputs (``(N,)``, or ``(d_out, N)`` for vector outputs) or as all
        members' (``(R, N)``, ``(R, d_out, N)``). Two label values: a classification, the MCE is recorded
        and the stopping rule applies; real targets: a regression, the MCE is NaN and all epochs run.
    epochs, lr: the number of passes over the data and the learning rate.
    optimizer: ``"adam"`` (β = (0.9, 0.99), ε = 1e-8, as in Soudry & Hoffer), ``"gd"`` (plain gradient
        descent) or ``"sgd"`` (gradient descent with ``momentum``, as Kawaguchi, Huang & Kaelbling train).
    batch_size: ``None`` for full batch; otherwise each epoch visits a fresh random permutation (``seed``).
    decay_after, decay: the learning rate is ``lr · decay^(epoch − decay_after)`` after epoch ``decay_after``.
    stop_at_zero: freeze each member once its MCE is zero, and stop when all are frozen.
    noise: the fixed dropout-like slope noise of :func:`~minima.models.slope_noise`.
    train_layers: the indices of ``net.weights`` to update (``None``: all; the last index is ``z``); the
        others stay as initialised, as in Soudry & Carmon's Theorem 2.
    normalization: ``"mean"`` (the MSE) or ``"half_sum"`` (``½ Σ``), see :mod:`minima.losses`.
    callbacks: trackers called as ``callback(epoch, net)`` after every epoch (see the module).
    progress, desc: the progress bar (default: on unless ``MINIMA_PROGRESS=0``).

    Inputs are validated once here; the steps themselves run unchecked on the device. Chapters 1–3, 5
    and 6.
    """
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    X = net.check_inputs(X)
    n_samples = X.shape[-1]
    output_shape = net.output_shape(n_samples)
    y = check_targets("y", y, (output_shape[1:], output_shape))
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    threshold = label_threshold(y, strict=False) if net.outputs is None else None
    if threshold is None:
        stop_at_zero = False
    y = y.to(device=net.device, dtype=net.dtype)
    epochs = check_positive_int("epochs", epochs)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    decay = check_real("decay", decay, low=0.0, high=1.0, low_open=True)
    if optimizer not in ("adam", "gd", "sgd"):
        raise ValueError(f"optimizer must be 'adam', 'gd' or 'sgd', got {optimizer!r}")
    momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    if decay_after is not None:
        decay_after = check_positive_int("decay_after", decay_after, minimum=0)
    noise = net.check_noise(noise, n_samples)
    layers = list(range(net.depth)) if train_layers is None else list(train_layers)
    if not layers or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < net.depth for i in layers):
        raise ValueError(f"train_layers must list weight indices in [0, {net.depth}), got {train_layers!r}")
    if isinstance(callbacks, str) or not all(callable(c) for c in callbacks):
        raise ValueError("callbacks must be a sequence of callables callback(epoch, net)")
    generator = torch_generator(seed)
    progress = progress_enabled() if progress is None else progress

    weights = [net.weights[i] for i in layers]
    moments, squares = [torch.zeros_like(w) for w in weights], [torch.zeros_like(w) for w in weights]
    active = torch.ones(net.ensemble, device=net.device, dtype=net.dtype)
    adam_steps = torch.zeros((), dtype=torch.float32, device=net.device)
    steps = [adam_steps] * len(weights)
    full_batch = batch_size is None or batch_size >= n_samples
    masks = net.active_units
    if not full_batch:  # per-member tensors with samples as rows: a mini-batch gathers whole rows
        any_noise = any(t is not None for t in noise)
        per_sample = [t if t is None or t.ndim == 2 else t.transpose(-1, -2).contiguous()
                      for t in (X, *noise)]
    # The per-epoch records stay on the device and come to the host once per block of epochs, so a GPU
    # is not made to wait every epoch. The stopping rule is read at the end of each block; epochs run
    # past the last member's freeze change nothing (frozen weights do not move) and are cut from the
    # records. A callback sees every epoch it is called for, so with callbacks the block is one epoch.
    block = 1 if (callbacks and stop_at_zero) else _RECORD_BLOCK
    records = _Records()

    def outputs_of(inputs, slope_noise_):
        return forward(net.weights, inputs, net.rho, noise=slope_noise_, active_units=masks, validate=False,
                       activation=net.activation)

    def measured():  # the loss and MCE of every member on all the samples, at the weights as they stand
        outputs = outputs_of(X, noise)
        return _squared_loss(outputs, y, normalization), _training_mce(outputs, y, threshold)

    for callback in callbacks:
        if hasattr(callback, "start"):
            callback.start(net)
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
                xb = _mini_batch(per_sample[0], batch)
                nb = [_mini_batch(t, batch) for t in per_sample[1:]] if any_noise else noise
                yb = y.index_select(-1, batch)
            outputs = outputs_of(xb, nb)
            per_member = _squared_loss(outputs, yb, normalization)
            grads = torch.autograd.grad(per_member.sum(), weights)
            if full_batch:  # the forward pass of this step already measures the epoch
                with torch.no_grad():
                    epoch_loss, epoch_error = per_member.detach(), _training_mce(outputs.detach(), yb, threshold)
                    if stop_at_zero:
                        active = active * (epoch_error > 0).to(active.dtype)
            with torch.no_grad():
                if optimizer == "adam":
                    adam_steps.add_(1)
                    _adam_step(weights, grads, moments, squares, steps, rate, betas, eps,
                               active if stop_at_zero else None)
                elif optimizer == "sgd":
                    _sgd_momentum_step(weights, grads, moments, rate, momentum, active)
                else:
                    _gd_step(weights, grads, rate, active)
        with torch.no_grad():
            if not full_batch:
                epoch_loss, epoch_error = measured()
                if stop_at_zero:
                    active = active * (epoch_error > 0).to(active.dtype)
            for callback in callbacks:
                callback(epoch, net)
        records.add(epoch_loss, epoch_error, active.any(), rate)
        if progress and (epoch % 50 == 0 or epoch == epochs - 1):
            bar.set_postfix(loss=f"{float(epoch_loss.mean()):.2e}",
                            zero_mce=f"{int((epoch_error == 0).sum())}/{net.ensemble}")
        if len(records.pending) == block or epoch == epochs - 1:
            if records.flush(stop_at_zero):
                break
    bar.close()
    if full_batch:  # the last measurement came before the last step
        with torch.no_grad():
            epoch_loss, epoch_error = measured()
    # with mini-batches the last epoch's measurement is of the returned weights already
    final_loss, final_mce = epoch_loss.cpu(), epoch_error.cpu()
    mce = torch.cat(records.mce)
    at_zero = mce == 0  # the first epoch whose MCE is zero, -1 for none
    epochs_to_zero = torch.where(at_zero.any(dim=0), at_zero.int().argmax(dim=0), -1)
    return History(torch.cat(records.loss), mce, epochs_to_zero, final_loss, final_mce, records.learning_rates)


@dataclass
class WidthSweep:
    """Result of :func:`sweep_widths`: one row per hidden width, one column per repetition.

    ``parameter_ratio[w]`` is #parameters / N of width ``hidden_widths[w]``; ``final_mce`` and
    ``final_mse`` are ``(W, R)``; ``epochs_to_zero`` is ``(W, R)`` with ``-1`` for never.

    Chapters 1–3.
    """
    hidden_widths: list[int]
    parameter_ratio: torch.Tensor
    final_mce: torch.Tensor
    final_mse: torch.Tensor
    epochs_to_zero: torch.Tensor
    networks: list[LeakyReLUNet] | None = None
    noise: list[list[torch.Tensor]] | None = None


def sweep_widths(X: torch.Tensor, y: torch.Tensor, hidden_widths: Sequence[int], *, repetitions: int,
                 depth: int = 2, rho: float = 0.0, seed: int = 0, device=None, dtype=torch.float32,
                 noise_std: float = 0.0, keep_networks: bool = False, progress: bool | None = None,
                 activation: str = "leaky_relu", **train_options) -> WidthSweep:
    """Train ``repetitions`` networks for each hidden width (all hidden layers that wide) on ``(X, y)``.

    The repetitions of one width train together as one ensemble; ``train_options`` go to :func:`train`.
    ``X: (d0, N)``, ``y: (N,)``. Width ``w`` with ``depth`` weight layers has
    ``d0·w + (depth − 2)·w² + w`` parameters. ``noise_std > 0`` trains with the dropout-like slope noise
    (:func:`slope_noise`); ``keep_networks`` keeps the trained ensembles (and noise) in the result;
    ``activation`` picks the hidden units (:data:`~minima.models.ACTIVATIONS`; ``rho`` only for the leaky ReLU).

    Chapters 1–3 and Chapter 6.
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
                           seed=seed + 1000 * index, device=device, dtype=dtype, activation=activation)
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
