"""Figures shared by several chapters."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt

from .train import WidthSweep

__all__ = ["plot_sweep", "plot_thresholds", "use_book_style", "BOOK_STYLE"]

# Legible at the width of a page (figures of 6.5–12 inches shown about 7 inches wide): labels and
# ticks no smaller than the text's footnotes, lines and markers that survive the scaling.
BOOK_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 10,
    "legend.framealpha": 0.85,
    "lines.linewidth": 1.8,
    "lines.markersize": 6,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def use_book_style() -> None:
    """Set the book's figure style (:data:`BOOK_STYLE`) for the rest of the session.

    Legends set later with an explicit ``fontsize`` keep it. Chapters 1–7.
    """
    plt.rcParams.update(BOOK_STYLE)


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


def plot_thresholds(ax: plt.Axes, marks, *, edge: float = 1e4, labels: dict[str, str] | None = None,
                    top: float | None = None) -> plt.Axes:
    """Mark each result's width (:class:`~minima.guarantees.Threshold` records, ``marks``) on an axis of
    #parameters/N: a dotted line with its label at ``ratio ≤ edge``, and an arrow at the right edge,
    labelled with its decade, for those beyond. ``labels`` maps a mark's ``key`` to its label (default:
    its ``short`` and its chapter, ``"N log⁴N (ch. 4)"``); ``top`` is the height of the first label (default: 85 % of the y-range). The x-axis
    becomes logarithmic and ends at ``edge``. Chapters 1 and 8.
    """
    if not edge > 0:
        raise ValueError(f"edge must be positive, got {edge!r}")
    ax.set_xscale("log")
    low = min(ax.get_xlim()[0], min(mark.ratio for mark in marks) / 2)
    ax.set_xlim(low, edge)
    bottom, height = ax.get_ylim()
    top = bottom + 0.85 * (height - bottom) if top is None else top
    step = (top - bottom) / (len(marks) + 1)
    for k, mark in enumerate(marks):
        colour, level = f"C{k + 1}", top - step * k
        label = (labels or {}).get(mark.key, f"{mark.short} (ch. {mark.chapter})")
        if mark.ratio <= edge:
            ax.axvline(mark.ratio, color=colour, ls=":", lw=1.6)
            ax.annotate(label, (mark.ratio, level), xytext=(4, 0), textcoords="offset points",
                        color=colour, fontsize=10)
        else:
            ax.annotate(f"{label} at $10^{{{math.log10(mark.ratio):.0f}}}$", (edge, level),
                        xytext=(edge / 60, level), color=colour, fontsize=10, va="center", ha="right",
                        arrowprops=dict(arrowstyle="->", color=colour))
    return ax
