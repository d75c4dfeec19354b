"""Figures that draw an idea: each picture is computed by the library, so what it shows is what the
library's functions return, and a chapter can check the picture's claim on the same numbers.

Imported on first use (``minima.pictures``), like :mod:`minima.plotting`, so ``import minima`` needs no
matplotlib.
"""
from __future__ import annotations

import numpy as np
import torch
import matplotlib.pyplot as plt
from matplotlib.patches import Wedge

from ._checks import as_float64_matrix, check_real
from .linear import critical_point_kind
from .losses import half_squared_error
from .models import forward
from .ntk import unit_movement
from .volume import circle_arcs

__all__ = ["draw_weight_plane", "draw_least_squares", "draw_argument", "deep_linear_section",
           "draw_deep_linear_landscape", "draw_gram_matrices", "draw_unit_movement", "draw_linear_structure"]


def draw_weight_plane(ax: plt.Axes, X, weights=None, *, radius: float = 1.5) -> np.ndarray:
    """One unit's activation regions for ``d0 = 2``: the weight plane cut by the lines ``w·xₙ = 0``.

    ``X: (2, N)``. Each line is perpendicular to a sample; the ``2N`` sectors between them are the regions
    of one unit (Cover's count for ``d0 = 2``). ``weights: (d1, 2)`` draws each unit's weight vector and
    shades the sector it lies in: a region of the layer is the product of these sectors. Returns the index
    of each unit's sector among :func:`minima.volume.circle_arcs`' arcs, ``(d1,)``. Chapter 2.
    """
    X = as_float64_matrix("X", X, rows=2)
    radius = check_real("radius", radius, low=0.0, low_open=True)
    starts, lengths, _ = circle_arcs(X)
    for k, (start, length) in enumerate(zip(starts, lengths)):
        ax.add_patch(Wedge((0, 0), radius, np.degrees(start), np.degrees(start + length),
                           color="0.93" if k % 2 else "0.85", lw=0))
    for n, x in enumerate(X.T):
        normal = np.array([-x[1], x[0]]) / np.linalg.norm(x)
        ax.plot(*np.stack([-radius * normal, radius * normal]).T, color="0.45", lw=1)
        ax.annotate(f"w·x{n + 1} = 0", radius * normal * 1.02, fontsize=9, color="0.3",
                    ha="center", va="center")
    sectors = []
    if weights is not None:
        weights = as_float64_matrix("weights", weights, cols=2)
        for i, w in enumerate(weights):
            angle = np.mod(np.arctan2(w[1], w[0]) - starts[0], 2 * np.pi) + starts[0]
            k = int(np.searchsorted(starts, angle, side="right") - 1)
            sectors.append(k)
            colour = f"C{i}"
            ax.add_patch(Wedge((0, 0), radius, np.degrees(starts[k]),
                               np.degrees(starts[k] + lengths[k]), color=colour, alpha=0.35, lw=0))
            tip = w / np.linalg.norm(w) * 0.8 * radius
            ax.annotate("", tip, (0, 0), arrowprops=dict(arrowstyle="-|>", color=colour, lw=2))
            ax.annotate(f"w{i + 1}", tip * 1.1, color=colour, fontsize=12, ha="center", va="center")
    ax.set(xlim=(-1.25 * radius, 1.25 * radius), ylim=(-1.25 * radius, 1.25 * radius),
           xticks=[], yticks=[], aspect="equal")
    ax.grid(False)
    return np.array(sectors, dtype=int)


def draw_least_squares(ax, rows, y, y_hat) -> float:
    """The geometry of Lemma 1 for ``N = 3`` samples: the plane spanned by the rows of ``A ∘ X``
    ``(2, 3)``, the target ``y`` ``(3,)``, the fit ``ŷ`` in the plane and the error ``e = y − ŷ``.

    ``ax`` is a 3-D axis (``projection="3d"``). At a differentiable local minimum ``ŷ`` is the orthogonal
    projection of ``y`` on the plane, so ``e`` is perpendicular to it. Returns the largest
    ``|cos|`` of the angle between ``e`` and a row, the number the picture claims is zero. Chapter 2.
    """
    rows = as_float64_matrix("rows", rows, rows=2, cols=3)
    y, y_hat = (np.asarray(v, dtype=float).reshape(-1) for v in (y, y_hat))
    if y.shape != (3,) or y_hat.shape != (3,):
        raise ValueError(f"y and y_hat must have 3 entries, got {y.shape} and {y_hat.shape}")
    basis = np.linalg.qr(rows.T)[0]  # (3, 2), orthonormal basis of the plane
    scale = 1.1 * max(np.linalg.norm(y), np.linalg.norm(y_hat))
    s, t = np.meshgrid(np.linspace(-scale, scale, 2), np.linspace(-scale, scale, 2))
    plane = basis[:, :1, None] * s + basis[:, 1:, None] * t
    ax.plot_surface(*plane, alpha=0.18, color="C0")
    error = y - y_hat
    shown = rows / np.linalg.norm(rows, axis=1, keepdims=True) * np.linalg.norm(y)  # lengths to scale
    for vector, start, colour, label in [(shown[0], 0, "C0", "row 1 of A∘X (direction)"),
                                         (shown[1], 0, "C9", "row 2 of A∘X (direction)"),
                                         (y, 0, "k", "y"), (y_hat, 0, "C2", "ŷ"),
                                         (error, y_hat, "C3", "e = y − ŷ")]:
        origin = np.zeros(3) + start
        ax.quiver(*origin, *vector, color=colour, lw=2, arrow_length_ratio=0.08, label=label)
    ax.set(xlabel="sample 1", ylabel="sample 2", zlabel="sample 3", xlim=(-scale, scale),
           ylim=(-scale, scale), zlim=(-scale, scale))
    ax.set_box_aspect((1, 1, 1))  # equal scales, so a right angle looks right
    ax.legend(loc="upper left", fontsize=9)
    cosines = rows @ error / (np.linalg.norm(rows, axis=1) * np.linalg.norm(error))
    return float(np.abs(cosines).max())


def draw_argument(ax: plt.Axes, steps) -> None:
    """A proof as a chain of boxes, top to bottom: ``steps`` is a list of ``(claim, tool, value)`` strings,
    the step's claim, the lemma it uses and the value it takes at the chapter's sizes (``""`` for none).

    Chapter 4 (Theorem 6's argument).
    """
    steps = list(steps)
    if not steps or any(len(step) != 3 for step in steps):
        raise ValueError("steps must be a non-empty list of (claim, tool, value) triples")
    height = 1.0 / len(steps)
    for k, (claim, tool, value) in enumerate(steps):
        middle = 1 - (k + 0.5) * height
        ax.text(0.33, middle, claim, ha="center", va="center", fontsize=11, wrap=True,
                bbox=dict(boxstyle="round,pad=0.5", fc="#eef3fb", ec="C0"))
        ax.text(0.70, middle, tool, ha="left", va="center", fontsize=10, color="C0",
                style="italic")
        if value:
            ax.text(0.70, middle - 0.3 * height, value, ha="left", va="center", fontsize=9.5,
                    color="0.25")
        if k + 1 < len(steps):
            ax.annotate("", (0.33, middle - 0.62 * height), (0.33, middle - 0.38 * height),
                        arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.5))
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")


def deep_linear_section(w1, w2, w3=None) -> np.ndarray:
    """``½(w_H ⋯ w_1 − 1)²`` of a deep linear network with one unit per layer, on one sample ``x = y = 1``,
    evaluated by :func:`minima.models.forward` for arrays of weights of one shape. Chapter 5.
    """
    arrays = [np.asarray(w, dtype=float) for w in (w1, w2, w3) if w is not None]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    flat = [torch.from_numpy(np.broadcast_to(a, shape).reshape(-1, 1).copy()) for a in arrays]
    weights = [w.unsqueeze(-1) for w in flat[:-1]] + [flat[-1]]  # (R, 1, 1) …, then z: (R, 1)
    X = torch.ones(1, 1, dtype=torch.float64)
    outputs = forward(weights, X, 1.0)  # ρ = 1: linear units
    return half_squared_error(outputs, torch.ones(1, dtype=torch.float64)).numpy().reshape(shape)


def draw_deep_linear_landscape(axes, *, extent: float = 1.6) -> dict:
    """Left: contours of ``½(w₂w₁ − 1)²``, with its saddle at 0 and its valley of global minima
    ``w₂w₁ = 1``. Right: the same loss and ``½(w₃w₂w₁ − 1)²`` along the diagonal ``w = (t, t[, t])``.

    Each origin is classified by :func:`minima.linear.critical_point_kind`; returns those verdicts
    ``{"depth 2": CriticalPoint, "depth 3": CriticalPoint}``. Chapter 5.
    """
    extent = check_real("extent", extent, low=0.0, low_open=True)
    grid = np.linspace(-extent, extent, 241)
    w1, w2 = np.meshgrid(grid, grid)
    loss = deep_linear_section(w1, w2)
    levels = np.linspace(0, 2.0, 21)
    contours = axes[0].contourf(w1, w2, np.minimum(loss, 2.0), levels=levels, cmap="viridis_r")
    plt.colorbar(contours, ax=axes[0], label="½(w₂w₁ − 1)²")
    for branch in (grid[grid > 1 / extent], grid[grid < -1 / extent]):
        axes[0].plot(branch, 1 / branch, color="white", lw=2, ls="--",
                     label="global minima, w₂w₁ = 1" if branch[0] > 0 else None)
    axes[0].plot(0, 0, "o", color="C3", ms=9, label="saddle at 0")
    axes[0].set(xlabel="w₁", ylabel="w₂", aspect="equal", title="two layers: ½(w₂w₁ − 1)²")
    axes[0].legend(loc="lower left", fontsize=9)
    one, target = np.ones((1, 1)), np.ones((1, 1))
    verdicts = {"depth 2": critical_point_kind([np.zeros((1, 1))] * 2, one, target),
                "depth 3": critical_point_kind([np.zeros((1, 1))] * 3, one, target)}
    t = np.linspace(-1.1, 1.4, 401)
    for depth, style in [(2, "-"), (3, "--")]:
        section = deep_linear_section(*([t] * depth))
        verdict = verdicts[f"depth {depth}"]
        axes[1].plot(t, section, style, label=f"{depth} layers: Hessian at 0 has "
                     f"λ_min = {verdict.smallest_eigenvalue:+.2f}")
    axes[1].axhline(0.5, color="0.6", lw=0.8)
    axes[1].axvline(0, color="0.6", lw=0.8)
    axes[1].set(xlabel="t  (every weight equal to t)", ylabel="loss", ylim=(-0.05, 1.2),
                title="along the diagonal")
    axes[1].legend(loc="upper right", fontsize=9)
    return verdicts


def draw_gram_matrices(axes, matrices, titles) -> None:
    """Heat maps of Gram matrices ``(N, N)`` side by side on one colour scale, with one colour bar.
    Chapter 7 (``H(0)`` at two widths beside ``H∞``)."""
    matrices = [np.asarray(M, dtype=float) for M in matrices]
    if len(matrices) != len(titles) or len(matrices) != len(axes):
        raise ValueError("axes, matrices and titles must have the same length")
    if any(M.ndim != 2 or M.shape[0] != M.shape[1] for M in matrices):
        raise ValueError("each matrix must be square")
    low = min(M.min() for M in matrices)
    high = max(M.max() for M in matrices)
    for ax, M, title in zip(axes, matrices, titles):
        image = ax.imshow(M, vmin=low, vmax=high, cmap="magma")
        ax.set(title=title, xticks=[], yticks=[])
        ax.grid(False)
    plt.colorbar(image, ax=list(axes), shrink=0.85)


def draw_unit_movement(ax: plt.Axes, W0, W, X, *, title: str = "") -> dict:
    """Each hidden unit as a point: its initial margin ``min_i |w_r(0)ᵀx_i|`` against how far it moved,
    ``‖w_r(k) − w_r(0)‖``, the units whose pattern flipped on some input in red. ``W0, W: (m, d)``,
    ``X: (d, N)`` with unit-norm columns. A unit can flip only above the diagonal (it moved at least its
    margin). Returns :func:`minima.ntk.unit_movement`'s arrays. Chapter 7.
    """
    moved = unit_movement(W0, W, X)
    movement, margin, flipped = (moved[key].numpy() for key in ("movement", "margin", "flipped"))
    ax.loglog(margin[~flipped], movement[~flipped], ".", color="0.55", ms=4, alpha=0.6,
              label=f"no flip ({int((~flipped).sum())} units)")
    ax.loglog(margin[flipped], movement[flipped], "o", color="C3", ms=5,
              label=f"flipped on some input ({int(flipped.sum())})")
    low = min(margin.min(), movement.min())
    high = max(margin.max(), movement.max())
    ax.loglog([low, high], [low, high], "k--", lw=1, label="movement = margin")
    ax.set(xlabel="initial margin  min_i |w_r(0)ᵀx_i|", ylabel="movement  ‖w_r(k) − w_r(0)‖",
           title=title)
    ax.legend(loc="lower right", fontsize=9)
    return moved


def draw_linear_structure(ax: plt.Axes, widths, linear) -> None:
    """A layered network as a graph: ``widths = (d0, d1, …, d_out)``, and for each hidden layer a ``(d_l,)``
    boolean mask of the units that act linearly on the data (``linear``, e.g. from
    :func:`minima.depth.linear_units`), drawn red; the other hidden units white. Edges from inputs to linear
    units and from linear units on are solid, the rest dashed. Chapter 5 (Kawaguchi, Huang & Kaelbling's
    Figure 2, drawn from a trained network).
    """
    widths = [int(w) for w in widths]
    linear = [np.asarray(mask, dtype=bool) for mask in linear]
    if len(widths) < 3 or len(linear) != len(widths) - 2:
        raise ValueError("widths must be (d0, d1, …, d_out) and linear one mask per hidden layer")
    if any(mask.shape != (width,) for mask, width in zip(linear, widths[1:-1])):
        raise ValueError("each mask of linear must have its layer's width")
    kinds = [np.ones(widths[0], bool)] + linear + [np.ones(widths[-1], bool)]
    positions = [[(layer, (k - (width - 1) / 2) / max(width, 1)) for k in range(width)]
                 for layer, width in enumerate(widths)]
    for layer in range(len(widths) - 1):
        for i, (x0, y0) in enumerate(positions[layer]):
            for j, (x1, y1) in enumerate(positions[layer + 1]):
                on_path = kinds[layer][i] and kinds[layer + 1][j]
                ax.plot([x0, x1], [y0, y1], color="C3" if on_path else "0.6",
                        lw=0.9 if on_path else 0.5, ls="-" if on_path else "--", zorder=1)
    for layer, nodes in enumerate(positions):
        for k, (x, y) in enumerate(nodes):
            hidden = 0 < layer < len(widths) - 1
            face = ("C3" if kinds[layer][k] else "white") if hidden else "0.8"
            ax.scatter([x], [y], s=110, color=face, edgecolor="black", zorder=2)
    names = ["inputs"] + [f"hidden layer {l}" for l in range(1, len(widths) - 1)] + ["output"]
    for layer, name in enumerate(names):
        ax.text(layer, 0.62, name, ha="center", fontsize=10)
    ax.set(xlim=(-0.4, len(widths) - 0.6), ylim=(-0.6, 0.7))
    ax.axis("off")
