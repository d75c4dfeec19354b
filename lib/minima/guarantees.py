"""Where each result of the book's papers places its guarantee, on one axis: #parameters / N.

For one hidden layer of ``d1`` units on ``N`` samples in ``d0`` dimensions the book's networks have
``(d0 + 1)·d1`` parameters (:func:`parameter_ratio`). Each theorem asks for a width, computed here from
the theorem's own formula at the given ``N``, ``d0`` (and, for the dynamics, ``λ0`` and ``δ``), so that
the widths can be set beside the measured transition of chapter 1. Chapters 1 and 8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._checks import check_positive_int, check_real
from .construction import neurons_needed, paper_neuron_count
from .ntk import theory_width

__all__ = ["Threshold", "parameter_ratio", "thresholds", "STEP_5_GAMMA"]

STEP_5_GAMMA = 0.23
"""Soudry & Hoffer's ``γ_ε = 0.23·max(d0/N, ε)^{3/4}`` at its largest (``max = 1``): the smallest factor
``(2/γ)⁴`` by which step 5 of Theorem 10's proof needs more than ``N log⁴N`` (chapter 4)."""


@dataclass(frozen=True)
class Threshold:
    """One result's demand: ``hidden_units`` (a real number where the formula gives one) of one hidden
    layer at the given ``N`` and ``d0``, and the same as ``ratio = #parameters / N``. ``short`` is the
    label of a mark on a figure, ``chapter`` the book's chapter that treats the result. Chapters 1 and 8."""
    key: str
    short: str
    chapter: int
    result: str
    assumes: str
    guarantees: str
    hidden_units: float
    ratio: float


def parameter_ratio(d1: float, n: int, d0: int) -> float:
    """``#parameters / N = (d0 + 1)·d1 / N`` of one hidden layer (first-layer and output weights, no bias).
    Chapters 1 and 8."""
    check_real("d1", d1, low=0.0)
    n, d0 = check_positive_int("n", n), check_positive_int("d0", d0)
    return (d0 + 1) * d1 / n


def thresholds(n: int, d0: int, *, lambda0: float, delta: float = 0.1) -> list[Threshold]:
    """The width each result asks for at ``N = n`` samples in ``d0 ≥ 2`` dimensions, in the order of the
    book, each from its formula:

    * Kawaguchi, Huang & Kaelbling 2019: ``J(θ) = 0`` needs ``#parameters ≥ N``, ``d1 = N/(d0 + 1)``;
    * Soudry & Carmon 2016, Theorem 1: ``d0·d1 ≥ N``, ``d1 = ⌈N/d0⌉``;
    * Soudry & Hoffer 2018, Theorem 8: ``d1* = 4⌈N/(2d0 − 2)⌉`` (the paper's count), and
      ``4⌈N/(d0 − 1)⌉`` for every labelling (chapter 3's correction);
    * Nguyen & Hein 2017 (Yu & Chen 1995 for one hidden layer): one layer of ``d1 = N`` analytic units;
    * Soudry & Hoffer, Theorems 6 and 10: Assumption 4, ``d0·d1 ≳ N log⁴N``; and what step 5 of
      Theorem 10's proof needs, ``(2/γ)⁴`` times that with ``γ = 0.23`` (chapter 4);
    * Du et al. 2019, Theorem 4.1: ``m = n⁶/(λ0⁴ δ³)`` (constants set to one), with ``λ0`` the smallest
      eigenvalue of ``H∞`` on the data (:func:`minima.ntk.min_eigenvalue`).

    Returns :class:`Threshold` records. Chapters 1 and 8.
    """
    n = check_positive_int("n", n)
    d0 = check_positive_int("d0", d0, minimum=2)
    lambda0 = check_real("lambda0", lambda0, low=0.0, low_open=True)
    delta = check_real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    polylog = n * math.log(n) ** 4 / d0
    rows = [
        ("khk", 5, "#parameters = N", "Kawaguchi, Huang & Kaelbling 2019, Theorem 1",
         "any depth; a differentiable local minimum", "zero loss possible (J(θ) = 0) only from here on",
         n / (d0 + 1)),
        ("soudry-carmon", 2, "d0·d1 = N", "Soudry & Carmon 2016, Theorem 1",
         "one hidden layer; dropout-like noise on the slopes", "every differentiable local minimum has "
         "zero error", math.ceil(n / d0)),
        ("theorem-8", 3, "Theorem 8's d1*", "Soudry & Hoffer 2018, Theorem 8",
         "inputs in general position; at most N/2 labels 1", "a zero-error network exists",
         paper_neuron_count(n, d0)),
        ("theorem-8-honest", 3, "every labelling", "Soudry & Hoffer 2018, Theorem 8 (chapter 3's count)",
         "inputs in general position", "a zero-error network exists for every labelling",
         neurons_needed(n, d0)),
        ("nguyen-hein", 6, "d1 = N", "Nguyen & Hein 2017, Corollary 3.9 (Yu & Chen 1995)",
         "analytic units (sigmoid), distinct inputs; a non-degenerate local minimum",
         "it has zero loss", n),
        ("assumption-4", 4, "N log⁴N", "Soudry & Hoffer 2018, Theorems 6 and 10 (Assumption 4)",
         "Gaussian data and weights; N → ∞", "bad regions exponentially rare, rarer than good ones",
         polylog),
        ("step-5", 4, "step 5", "Soudry & Hoffer 2018, Theorem 10, step 5 (chapter 4's correction)",
         "as Theorem 10", "the ratio bound's last step closes", (2 / STEP_5_GAMMA) ** 4 * polylog),
        ("du", 7, "Du et al.", "Du et al. 2019, Theorem 4.1",
         f"ReLU, inputs on the sphere, λ0 > 0; probability 1 − δ, δ = {delta:g}",
         "gradient descent converges linearly to zero loss", theory_width(n, lambda0, delta)),
    ]
    return [Threshold(key, short, chapter, result, assumes, guarantees, float(units),
                      parameter_ratio(units, n, d0))
            for key, chapter, short, result, assumes, guarantees, units in rows]
