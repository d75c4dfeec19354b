"""The objectives of the papers, with each paper's normalisation written out.

Three papers, three conventions for the same squared error ``e = y_hat − y``:

* ``"mean"``: ``(1/N) Σ_n ‖e_n‖²``, Soudry & Carmon (2016, eq. 2) and Soudry & Hoffer (eq. 2.3): the MSE
  of chapters 1–4 (:func:`mse`);
* ``"half_sum"``: ``½ Σ_n ‖e_n‖²``, Kawaguchi (2016) and Du et al. (2019): chapters 5 and 7
  (:func:`half_squared_error`).

Gradients differ by the factor ``N/2`` between them, so a learning rate carries over only with that
factor. The classification error (:func:`mce`) is the fraction of samples on the wrong side of the
midpoint between the two label values.

Shapes: ``outputs`` are ``(R, N)`` (scalar outputs, one row per ensemble member) or ``(R, d_out, N)``;
``y`` has the shape of one member's outputs (shared by all members) or of all of them. Any other shape is
refused: no broadcasting (an ``(N, 1)`` target would silently give an ``(N, N)`` error matrix).
"""
from __future__ import annotations

import torch

from ._checks import check_finite_tensor, check_targets

__all__ = ["NORMALIZATIONS", "squared_loss", "mse", "half_squared_error", "mce", "label_threshold", "LABELLINGS",
           "threshold_of_labels"]

NORMALIZATIONS = ("mean", "half_sum")
"""The loss normalisations: ``"mean"`` is ``(1/N) Σ`` (Soudry), ``"half_sum"`` is ``½ Σ`` (Kawaguchi, Du)."""


def _check_pair(outputs, y) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(outputs, torch.Tensor):
        raise ValueError(f"outputs must be a torch.Tensor, got {type(outputs).__name__}")
    if outputs.ndim not in (2, 3):
        raise ValueError(f"outputs must be (R, N) or (R, d_out, N), got shape {tuple(outputs.shape)}")
    shapes = (tuple(outputs.shape[1:]), tuple(outputs.shape))
    y = check_targets("y", y, shapes)
    return outputs, y.to(device=outputs.device, dtype=outputs.dtype)


def squared_loss(outputs: torch.Tensor, y, normalization: str = "mean") -> torch.Tensor:
    """The squared error of each member, ``(R,)``, normalised as ``normalization`` says (see the module).

    ``"mean"``: ``(1/N) Σ_n ‖y_hat_n − y_n‖²``; ``"half_sum"``: ``½ Σ_n ‖y_hat_n − y_n‖²``. For vector
    outputs ``‖·‖`` sums over the ``d_out`` outputs. Chapters 1–7.
    """
    outputs, y = _check_pair(outputs, y)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    return _squared_loss(outputs, y, normalization)


def _squared_loss(outputs: torch.Tensor, y: torch.Tensor, normalization: str) -> torch.Tensor:
    """:func:`squared_loss` without checks, for training loops that validated once."""
    squares = (outputs - y).pow(2)
    per_sample = squares if outputs.ndim == 2 else squares.sum(dim=1)
    return per_sample.mean(dim=-1) if normalization == "mean" else 0.5 * per_sample.sum(dim=-1)


def mse(outputs: torch.Tensor, y) -> torch.Tensor:
    """Mean squared error ``(1/N) Σ_n (y_hat_n − y_n)²`` of each member: ``outputs (R, N)``, ``y (N,)`` → ``(R,)``.

    Soudry & Hoffer, eq. 2.3. Chapters 1–4.
    """
    return squared_loss(outputs, y, "mean")


def half_squared_error(outputs: torch.Tensor, y) -> torch.Tensor:
    """``½ Σ_n ‖y_hat_n − y_n‖²`` of each member, ``(R,)``: Kawaguchi's and Du et al.'s loss.

    Chapters 5, 7.
    """
    return squared_loss(outputs, y, "half_sum")


def label_threshold(y, *, strict: bool = True) -> float | None:
    """The midpoint between the two label values of ``y`` (0 for ±1 labels, ½ for 0/1 labels).

    With one label value present: 0 if it is ±1, else ½. Real-valued targets (more than two values) are a
    regression, for which the MCE is undefined: ``ValueError`` if ``strict``, else ``None``.

    Chapters 1–3, through :func:`mce`.
    """
    y = check_finite_tensor("y", torch.as_tensor(y).double(), (1, 2, 3))
    low, high = y.min(), y.max()  # two passes and a comparison instead of sorting the targets
    if not bool(((y == low) | (y == high)).all()):
        if not strict:
            return None
        raise ValueError(f"y must hold at most two label values for the MCE, got {torch.unique(y).numel()}")
    if low != high:
        return float((low + high) / 2)
    return 0.0 if float(low) in (-1.0, 1.0) else 0.5


LABELLINGS = {"01": (0.0, 1.0), "pm1": (-1.0, 1.0)}
"""The two labellings of binary data and their label values: ``"01"`` (Soudry & Hoffer) and ``"pm1"``."""


def threshold_of_labels(y, labels: str | None = None) -> float:
    """The MCE threshold of ``y`` under a stated labelling: ½ for ``"01"``, 0 for ``"pm1"``.

    With ``labels=None`` the threshold is the midpoint of the two values ``y`` holds, and a ``y`` with
    a single value is refused (it could be either labelling: ``1111`` has threshold ½ as 0/1 labels and 0
    as ±1 labels). With ``labels`` given, every value of ``y`` must be one of its two. Chapter 4.
    """
    y = check_finite_tensor("y", torch.as_tensor(y).double(), (1, 2, 3))
    values = torch.unique(y)
    if labels is None:
        if values.numel() != 2:
            raise ValueError(f"y holds {values.numel()} label value(s); pass labels='01' or 'pm1' to state "
                             "the labelling (with one class absent the threshold is not determined)")
        return float(values.mean())
    if labels not in LABELLINGS:
        raise ValueError(f"labels must be one of {sorted(LABELLINGS)}, got {labels!r}")
    allowed = torch.tensor(LABELLINGS[labels], dtype=torch.float64)
    if not torch.isin(values, allowed).all():
        raise ValueError(f"y must hold only the values {LABELLINGS[labels]} of labels={labels!r}, "
                         f"got {values.tolist()[:5]}")
    return float(allowed.mean())


def mce(outputs: torch.Tensor, y, threshold: float | None = None) -> torch.Tensor:
    """Mean classification error of each member: ``outputs (R, N)``, ``y (N,)`` with two label values → ``(R,)``.

    A sample counts as correct when ``y_hat`` lies on the same side of the labels' midpoint as ``y``
    (for ``y ∈ {−1, 1}`` that is ``sign(y_hat) = y``; for ``{0, 1}``, the threshold 1/2). A caller that
    evaluates the same labels repeatedly may pass the ``threshold`` once computed. Scalar outputs only.
    Chapters 1–4.
    """
    outputs, y = _check_pair(outputs, y)
    if outputs.ndim != 2:
        raise ValueError(f"the MCE is defined for scalar outputs (R, N), got shape {tuple(outputs.shape)}")
    threshold = label_threshold(y) if threshold is None else threshold
    return _mce(outputs, y, threshold)


def _mce(outputs: torch.Tensor, y: torch.Tensor, threshold: float) -> torch.Tensor:
    """:func:`mce` without checks."""
    return ((outputs > threshold) != (y > threshold)).to(outputs.dtype).mean(dim=-1)
