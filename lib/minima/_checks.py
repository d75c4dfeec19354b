"""Input validation shared by the public functions: every failure is a ValueError naming the argument."""
from __future__ import annotations

import numbers

import numpy as np
import torch


def as_float64_matrix(name: str, value, *, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite 2-D float64 NumPy array, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric matrix, got {type(value).__name__}") from exc
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows, got shape {array.shape}")
    if cols is not None and array.shape[1] != cols:
        raise ValueError(f"{name} must have {cols} columns, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array


def check_finite_tensor(name: str, tensor: torch.Tensor, ndim: int | tuple[int, ...]) -> torch.Tensor:
    """Check that ``tensor`` is a finite floating tensor with ``ndim`` dimensions (one of, if a tuple)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if tensor.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if not all_finite(tensor):
        raise ValueError(f"{name} contains NaN or inf")
    return tensor


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every entry of a floating tensor is finite: a finite sum proves it in one pass (a NaN or an
    infinite entry makes the sum NaN or infinite); only a sum that overflows looks entry by entry."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value, *, low: float = -np.inf, high: float = np.inf,
               low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left, right = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {value!r}")
    return value


def check_member(member, ensemble: int) -> int:
    """Return ``member`` as an int if it indexes one of ``ensemble`` networks (``0 ≤ member < R``).

    Negative indices are refused: ``member=-1`` silently meaning "the last network" hides mistakes.
    """
    if isinstance(member, bool) or not isinstance(member, numbers.Integral) or not 0 <= member < ensemble:
        raise ValueError(f"member must be an integer in [0, {ensemble}), got {member!r}")
    return int(member)


def check_targets(name: str, y, shapes: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Return ``y`` as a finite tensor whose shape is one of ``shapes``, else raise ``ValueError``.

    Exact shapes, never broadcasting: targets of shape ``(N, 1)`` against outputs ``(N,)`` would broadcast
    to an ``(N, N)`` matrix and give a silently wrong loss, so they are refused, as is ``(N − 1,)``.
    """
    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(np.asarray(y, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric, got {type(y).__name__}") from exc
    if tuple(y.shape) not in shapes:
        wanted = " or ".join(str(shape) for shape in shapes)
        raise ValueError(f"{name} must have shape {wanted}, got {tuple(y.shape)}")
    if not y.is_floating_point():
        y = y.double()
    if not all_finite(y):
        raise ValueError(f"{name} contains NaN or inf")
    return y
