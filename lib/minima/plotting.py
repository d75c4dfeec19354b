"""Figures shared by several chapters."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .train import WidthSweep

__all__ = ["plot_sweep"]


def plot_sweep(ax: plt.Axes, sweep: WidthSweep, metric: str = "mce", *, label: str | None = None,
               marker: str = "o", **style) -> plt.Axes:
    """Plot ``metric`` (``"mce"`` or ``"mse"``) of a :class:`~minima.train.WidthSweep` against #parameters/N.

    Each point is the mean over repetitions with a bar of ± one standard deviation, as in Soudry & Hoffer's
    Figure 5.1; a dashed line marks #parameters = N. The MSE axis is logarithmic.

    Chapter 1.
    """
    if metric not in ("mce", "mse"):
        raise ValueError(f"metric must be 'mce' or 'mse', got {metric!r}")
    values = sweep.final_mce if metric == "mce" else sweep.final_mse
    mean = values.mean(dim=1).numpy()
    spread = values.std(dim=1).numpy() if values.shape[1] > 1 else 0 * mean
    ratio = sweep.parameter_ratio.numpy()
    if metric == "mse":
        lower = mean - (mean - spread).clip(min=mean * 1e-3)  # keep the log axis finite
        ax.errorbar(ratio, mean, yerr=[lower, spread], marker=marker, capsize=3, label=label, **style)
        ax.set_yscale("log")
        ax.set_ylabel("final training MSE")
    else:
        ax.errorbar(ratio, mean, yerr=spread, marker=marker, capsize=3, label=label, **style)
        ax.set_ylabel("final training MCE")
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("#parameters / N")
    return ax
