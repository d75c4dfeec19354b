"""Checks for the book's computational exercises, for readers and for course assignments.

Each computational exercise of a chapter asks for a value (a rank, a neuron count, a volume, a kernel
entry) in a named variable; :func:`check` compares a reader's value with the one the library computes
at run time, never with a typed-in number, and answers with a :class:`Verdict`: ``correct``, or ``not
yet`` with a hint that says what to reconsider without giving the value away. Tolerances on floats
accept any correct method (a closed form, automatic differentiation, Monte Carlo within a few standard
errors, where the exercise allows it); the hints name the usual slips (a forgotten output layer, the
paper's count where the honest count differs, a factor of two).

The exercises themselves, with their reference solutions, are in the chapters (``{exercise}`` and
``{solution}`` blocks); ``python3 dev.py assignments`` turns them into student and instructor notebooks
(otter-grader's format) whose check cells call :func:`check`. Chapters 1–8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["Verdict", "Exercise", "EXERCISES", "check", "exercise_data"]

NOT_GIVEN = "replace the ... with your answer and run this cell again"


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`: ``correct`` (truthy) or not, and what to tell the reader.

    Chapters 1–8.
    """
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Exercise:
    """One computational exercise: the chapter's ``label``, the variable ``answer`` the reader sets, the
    stub line a student notebook shows, the grader ``judge(value) -> Verdict``, and plausible wrong
    answers (Python expressions, evaluated with ``minima`` imported) that the judge must reject.

    Chapters 1–8.
    """
    label: str
    chapter: str
    answer: str
    judge: Callable[[Any], Verdict]
    wrong_answers: tuple[str, ...]

    @property
    def stub(self) -> str:
        return f"{self.answer} = ...  # your answer"


def _correct(detail: str = "") -> Verdict:
    return Verdict(True, "correct" + (f": {detail}" if detail else ""))


def _not_yet(hint: str) -> Verdict:
    return Verdict(False, f"not yet: {hint}")


def _as_number(value, kind=float):
    """``value`` as a finite Python number of ``kind``, or ``None`` when it is not one (a tensor or an
    array of one element counts as a number; an ``int`` must be whole)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (torch.Tensor, np.ndarray)):
        size = value.size if isinstance(value, np.ndarray) else value.numel()
        if size != 1:
            return None
        value = value.item()
    if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(float(value)):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


def _as_tuple(value, length: int):
    if isinstance(value, (tuple, list)) and len(value) == length:
        return tuple(value)
    return None


def exercise_data(label: str):
    """The data an exercise fixes (so that the reader and the check see the same numbers).

    ``"deep-linear-ex-bottleneck"``: ``(X: (6, 40), Y: (5, 40))`` float64 from seed 0;
    ``"deep-linear-ex-hessian"``: ``(X: (4, 30), Y: (2, 30))``; ``"ntk-ex-lambda0"``: ``X: (5, 8)`` with unit
    columns; ``"ex-one-layer-tight"``: ``X: (3, 10)``; ``"answer-ex-rank-width"``: ``X: (8, 40)``;
    ``"wide-ex-full-width"``: ``X: (3, 12)``. Chapters 2, 5, 6, 7 and 8.
    """
    generator = torch.Generator().manual_seed(0)
    if label == "deep-linear-ex-bottleneck":
        return (torch.randn(6, 40, generator=generator, dtype=torch.float64),
                torch.randn(5, 40, generator=generator, dtype=torch.float64))
    if label == "deep-linear-ex-hessian":
        return (torch.randn(4, 30, generator=generator, dtype=torch.float64),
                torch.randn(2, 30, generator=generator, dtype=torch.float64))
    if label == "ntk-ex-lambda0":
        X = torch.randn(5, 8, generator=generator, dtype=torch.float64)
        return X / X.norm(dim=0)
    if label == "ex-one-layer-tight":
        from .data import gaussian_binary

        return gaussian_binary(3, 10, seed=0)[0].double()
    if label == "answer-ex-rank-width":
        from .data import gaussian_binary

        return gaussian_binary(8, 40, seed=0)[0].double()
    if label == "wide-ex-full-width":
        from .data import gaussian_binary

        return gaussian_binary(3, 12, seed=0)[0].double()
    raise ValueError(f"label must name an exercise with fixed data, got {label!r}")


# ------------------------------------------------------------------------------------ chapter 1

def _judge_bias(value) -> Verdict:
    from .models import LeakyReLUNet

    pair = _as_tuple(value, 2)
    if pair is None:
        return _not_yet("give a pair (d0_new, n_parameters)")
    d0_new, count = _as_number(pair[0], int), _as_number(pair[1], int)
    expected = (17, int(LeakyReLUNet((17, 8)).n_parameters()[0]))
    if d0_new != expected[0]:
        return _not_yet("what does appending one constant coordinate do to the input dimension?")
    if count == d0_new * 8:
        return _not_yet("the output weights z are parameters too")
    if count == 16 * 8 + 8:
        return _not_yet("the biases are now weights of the new input coordinate: count them")
    if count != expected[1]:
        return _not_yet("count the entries of W (d1 × d0_new) and of z")
    return _correct("the biases became the weights of the constant input")


def _judge_width(value) -> Verdict:
    from .models import LeakyReLUNet

    width = _as_number(value, int)
    if width is None or width < 1:
        return _not_yet("give a positive whole number of hidden units")

    def count(d1):
        return int(LeakyReLUNet((10, d1)).n_parameters()[0])

    if count(width) < 256:
        return _not_yet("at that width the network still has fewer parameters than samples "
                        "(W and z together)")
    if width > 1 and count(width - 1) >= 256:
        return _not_yet("a smaller width already has as many parameters as samples; "
                        "did you forget z?")
    return _correct(f"{count(width)} parameters for 256 samples")


# ------------------------------------------------------------------------------------ chapter 2

def _judge_rank_fails(value) -> Verdict:
    from .rank import khatri_rao_rank

    pair = _as_tuple(value, 2)
    if pair is None:
        return _not_yet("give a pair (A, X): slopes (d1, N) and inputs (d0, N)")
    try:
        A = torch.as_tensor(np.asarray(pair[0], dtype=np.float64))
        X = torch.as_tensor(np.asarray(pair[1], dtype=np.float64))
    except (TypeError, ValueError):
        return _not_yet("A and X must be numeric matrices")
    if A.ndim != 2 or X.ndim != 2 or A.shape[1] != X.shape[1]:
        return _not_yet("A must be (d1, N) and X (d0, N), with the same N")
    (d1, n), d0 = A.shape, X.shape[0]
    if d0 * d1 < n:
        return _not_yet("the exercise asks for d0·d1 ≥ N, where full rank would be possible")
    if bool((A.abs().sum(dim=0) == 0).any()):
        return _not_yet("a zero column of A is the easy case; find one with no zero column")
    if int(torch.linalg.matrix_rank(X)) < min(d0, n):
        return _not_yet("X should be generic: of full rank, not built to fail")
    if khatri_rao_rank(A, X) >= n:
        return _not_yet("this A∘X has full rank N")
    nudged = X + 1e-3 * torch.randn(X.shape, generator=torch.Generator().manual_seed(1),
                                    dtype=X.dtype)
    if khatri_rao_rank(A, nudged) >= n:
        return _not_yet("the rank recovers when X is moved slightly: the failure comes from "
                        "a special X, not from A")
    return _correct("the slopes alone make A∘X lose rank")


def _judge_tight(value) -> Verdict:
    from .regions import planted_local_minimum

    dimension = _as_number(value, int)
    if dimension is None:
        return _not_yet("give the dimension of the null space as a whole number")
    X = exercise_data("ex-one-layer-tight")
    expected = planted_local_minimum(X, 3, 0.1, seed=0).null_dimension
    if dimension == X.shape[1] - X.shape[0] * 3 + 1:
        return _not_yet("the null space of a (d0·d1) × N matrix has dimension N − rank")
    if dimension != expected:
        return _not_yet("compute N − rank(A∘X) at the planted minimum")
    return _correct("one direction of error survives, so one weight fewer loses the guarantee")


# ------------------------------------------------------------------------------------ chapter 3

def _judge_units(value) -> Verdict:
    from .construction import neurons_needed, paper_neuron_count

    units = _as_number(value, int)
    if units is None:
        return _not_yet("give a whole number of hidden units")
    if units == paper_neuron_count(100, 5):
        return _not_yet("that is the paper's d1*, which assumes N/2 ones; count the groups "
                        "of this labelling")
    if units == neurons_needed(30, 5, 3):
        return _not_yet("that is the three-unit variant; the default uses four units a group")
    if units == neurons_needed(100, 5, 4):
        return _not_yet("only the samples labelled 1 need a group")
    if units != neurons_needed(30, 5, 4):
        return _not_yet("each group holds at most d0 − 1 samples labelled 1, and costs four units")
    return _correct("fewer than the paper's count, because fewer than half the labels are 1")


def _judge_cover(value) -> Verdict:
    from .volume import cover_count

    count = _as_number(value, int)
    if count is None:
        return _not_yet("give a whole number of labelings")
    if count == 2 ** 10:
        return _not_yet("not every labeling is separable by a hyperplane through the origin")
    if count in (cover_count(10, 2), cover_count(10, 4)):
        return _not_yet("check the dimension in Cover's sum: it runs over k < d0")
    if count != cover_count(10, 3):
        return _not_yet("Cover's count is 2 Σ_{k<d0} C(N − 1, k)")
    return _correct()


# ------------------------------------------------------------------------------------ chapter 4

def _judge_region_counts(value) -> Verdict:
    from .volume import cover_count

    if not isinstance(value, (list, tuple)) or len(value) != 5:
        return _not_yet("give a list of five counts, for N = 5, 6, 7, 8, 9")
    counts = [_as_number(v, int) for v in value]
    if counts == [2 * n for n in range(5, 10)]:
        return _not_yet("2N is the count on the circle (d0 = 2); the exercise is on the sphere")
    if counts == [2 ** n for n in range(5, 10)]:
        return _not_yet("not every sign pattern is a region")
    if counts != [cover_count(n, 3) for n in range(5, 10)]:
        return _not_yet("count the regions of volume.regions for each N")
    return _correct("N² − N + 2 regions, Cover's count for d0 = 3")


def _judge_sixty(value) -> Verdict:
    from .volume import unit_region_volume

    volume = _as_number(value)
    if volume is None:
        return _not_yet("give the volume as a number between 0 and 1")
    angle = math.pi / 3
    X = np.array([[1.0, math.cos(angle)], [0.0, math.sin(angle)]])
    expected = unit_region_volume(X, [1, 1]).value
    if abs(volume - 0.25) < 5e-3:
        return _not_yet("the two half-planes are not independent: the samples are 60° apart")
    if abs(volume - 1 / 6) < 5e-3:
        return _not_yet("the region is the arc of directions within 90° of both samples")
    if abs(volume - expected) > 5e-3:  # accepts Monte Carlo with 10^5 draws (standard error 1.5e-3)
        return _not_yet("the volume is the region's arc length over 2π")
    return _correct()


# ------------------------------------------------------------------------------------ chapter 5

def _judge_bottleneck(value) -> Verdict:
    from .linear import global_minimum

    pair = _as_tuple(value, 2)
    if pair is None:
        return _not_yet("give a pair (rank_bound, min_loss)")
    rank_bound, loss = _as_number(pair[0], int), _as_number(pair[1])
    if rank_bound != min(6, 4, 2, 3, 5):
        return _not_yet("the product's rank is at most the narrowest layer, input and output "
                        "included")
    if loss is None:
        return _not_yet("min_loss must be a number")
    X, Y = exercise_data("deep-linear-ex-bottleneck")
    expected = global_minimum(X, Y, [4, 2, 3])
    wider = global_minimum(X, Y, [4, 5, 3])
    if math.isclose(loss, wider, rel_tol=1e-6):
        return _not_yet("that is the minimum for widths [4, 5, 3]; the bottleneck is narrower")
    if math.isclose(loss, 2 * expected, rel_tol=1e-6):
        return _not_yet("the loss is ½‖ŴX − Y‖², with the ½")
    if math.isclose(loss, expected / X.shape[1], rel_tol=1e-6) or \
            math.isclose(loss, 2 * expected / X.shape[1], rel_tol=1e-6):
        return _not_yet("the loss is a sum over samples, not a mean")
    if not math.isclose(loss, expected, rel_tol=1e-6):
        return _not_yet("use global_minimum, or Eckart–Young on the least-squares fit")
    return _correct()


def _judge_hessian(value) -> Verdict:
    eigenvalue = _as_number(value)
    if eigenvalue is None:
        return _not_yet("give the smallest eigenvalue as a number")
    X, Y = exercise_data("deep-linear-ex-hessian")
    largest = float(torch.linalg.matrix_norm(Y @ X.T, ord=2))
    expected = -largest  # the off-diagonal block −YXᵀ has eigenvalues ±σ_i
    if eigenvalue >= 0:
        return _not_yet("at W = 0 with one hidden layer the Hessian is indefinite")
    if math.isclose(eigenvalue, expected / X.shape[1], rel_tol=1e-6):
        return _not_yet("the loss is a sum over samples, not a mean")
    if not math.isclose(eigenvalue, expected, rel_tol=1e-6):
        return _not_yet("the only non-zero blocks at W = 0 are −YXᵀ and its transpose")
    return _correct("−σ_max(YXᵀ): a strict saddle for H = 1")


# ------------------------------------------------------------------------------------ chapter 6

def _tanh_pair_rank() -> int:
    from .models import LeakyReLUNet
    from .rank import matrix_rank

    v = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64)
    layer = LeakyReLUNet((3, 5), activation="tanh", seed=0, dtype=torch.float64)
    return matrix_rank(layer.features(torch.cat([v, -v], dim=1))[0])


def _judge_tanh_pair(value) -> Verdict:
    rank = _as_number(value, int)
    if rank is None:
        return _not_yet("give the rank as a whole number")
    if rank == 2:
        return _not_yet("two distinct inputs, but what does tanh do to −v?")
    if rank != _tanh_pair_rank():
        return _not_yet("compare the two columns of F: how are tanh(u) and tanh(−u) related?")
    return _correct("tanh is odd: the columns of v and −v are negatives of each other")


def _full_width() -> int:
    from .models import LeakyReLUNet
    from .rank import matrix_rank

    X = exercise_data("wide-ex-full-width")
    for d1 in range(1, 4 * X.shape[1]):
        layer = LeakyReLUNet((3, d1), activation="sigmoid", seed=0, dtype=torch.float64)
        if matrix_rank(layer.features(X)[0]) == X.shape[1]:
            return d1
    raise ValueError("no width up to 4N gives full rank")


def _judge_full_width(value) -> Verdict:
    width = _as_number(value, int)
    if width is None:
        return _not_yet("give the width as a whole number")
    expected = _full_width()
    if width == 4:
        return _not_yet("that is the width of d0·d1 ≥ N (chapter 2); here the rows of F must span N")
    if width != expected:
        return _not_yet("a d1 × N matrix has rank at most d1")
    return _correct("one unit per sample, as Lemma 4.4 says")


# ------------------------------------------------------------------------------------ chapter 7

def _judge_closed_form(value) -> Verdict:
    from .ntk import limit_gram

    pair = _as_tuple(value, 2)
    if pair is None:
        return _not_yet("give a pair (right_angle, sixty_degrees)")
    right, sixty = _as_number(pair[0]), _as_number(pair[1])
    if right is None or sixty is None:
        return _not_yet("both entries must be numbers")
    angle = math.pi / 3
    expected_right = float(limit_gram(torch.tensor([[1.0, 0.0], [0.0, 1.0]],
                                                   dtype=torch.float64))[0, 1])
    expected_sixty = float(limit_gram(torch.tensor([[1.0, math.cos(angle)],
                                                    [0.0, math.sin(angle)]],
                                                   dtype=torch.float64))[0, 1])
    if math.isclose(sixty, 2 * expected_sixty, rel_tol=1e-9):
        return _not_yet("the closed form divides by 2π, not π")
    if not (abs(right - expected_right) < 1e-9 and abs(sixty - expected_sixty) < 1e-9):
        return _not_yet("H∞_ij = x_iᵀx_j (π − arccos x_iᵀx_j) / (2π), with the angle in radians")
    return _correct()


def _judge_lambda0(value) -> Verdict:
    from .ntk import limit_gram, min_eigenvalue

    eigenvalue = _as_number(value)
    if eigenvalue is None:
        return _not_yet("give λ0 as a number")
    X = exercise_data("ntk-ex-lambda0")
    gram = limit_gram(X)
    expected = float(min_eigenvalue(gram))
    if math.isclose(eigenvalue, float(torch.linalg.eigvalsh(gram)[-1]), rel_tol=1e-6):
        return _not_yet("λ0 is the smallest eigenvalue, not the largest")
    if math.isclose(eigenvalue, float(torch.linalg.eigvalsh(X.T @ X)[0]), rel_tol=1e-6, abs_tol=1e-12):
        return _not_yet("that is the plain Gram matrix XᵀX; λ0 belongs to H∞")
    if not math.isclose(eigenvalue, expected, rel_tol=1e-6):
        return _not_yet("compute H∞ from the closed form and take its smallest eigenvalue")
    return _correct()


# ------------------------------------------------------------------------------------ chapter 8

_MOVES = ("left", "right", "stays")


def _mark_move(key: str) -> str:
    from .guarantees import thresholds

    def position(n):
        return next(mark.ratio for mark in thresholds(n, 32, lambda0=0.1) if mark.key == key)

    change = position(1024) / position(512)
    return "stays" if abs(change - 1) <= 0.05 else "right" if change > 1 else "left"


def _judge_double_n(value) -> Verdict:
    pair = _as_tuple(value, 2)
    if pair is None or any(move not in _MOVES for move in pair):
        return _not_yet('give a pair of "left", "right" or "stays"')
    expected = (_mark_move("soudry-carmon"), _mark_move("assumption-4"))
    if pair[0] != expected[0]:
        return _not_yet("Soudry & Carmon's width grows like N/d0: what does that do to "
                        "#parameters/N?")
    if pair[1] != expected[1]:
        return _not_yet("Assumption 4's width grows faster than N: by which factor?")
    return _correct("the polylogarithmic demand drifts right as N grows; the linear one stays")


def _full_rank_width() -> int:
    from .derivatives import tangent_kernel
    from .models import LeakyReLUNet
    from .rank import count_clearly_positive

    X = exercise_data("answer-ex-rank-width")
    for d1 in range(1, 41):
        kernel = tangent_kernel(LeakyReLUNet((8, d1), 0.1, seed=0), X)
        if count_clearly_positive(torch.linalg.eigvalsh(kernel), n_samples=40) == 40:
            return d1
    raise AssertionError("no width up to 40 gives rank 40")


def _judge_rank_width(value) -> Verdict:
    width = _as_number(value, int)
    if width is None or width < 1:
        return _not_yet("give a positive whole number of hidden units")
    expected = _full_rank_width()
    if width < expected:
        return _not_yet("at that width G has fewer rows than N, or rank below N")
    if width > expected:
        return _not_yet("a smaller width already gives rank N")
    return _correct(f"(d0 + 1)·d1 = {9 * width} ≥ 40 rows, of rank 40")


EXERCISES: dict[str, Exercise] = {exercise.label: exercise for exercise in [
    Exercise("ex-mystery-bias", "01_optimization_mystery", "bias_free", _judge_bias,
             ("(16, 136)", "(17, 136)", "(17, 17 * 8)")),
    Exercise("ex-mystery-width", "01_optimization_mystery", "smallest_width", _judge_width,
             ("26", "23", "256 // 10")),
    Exercise("ex-one-layer-rank-fails", "02_one_hidden_layer", "rank_example", _judge_rank_fails,
             ("(torch.ones(2, 6), torch.randn(2, 6))",
              "(torch.rand(4, 8) + 0.1, torch.randn(2, 8))",
              "(torch.cat([torch.zeros(4, 1), torch.ones(4, 7)], dim=1), torch.randn(2, 8))")),
    Exercise("ex-one-layer-tight", "02_one_hidden_layer", "null_dimension", _judge_tight,
             ("0", "2", "10")),
    Exercise("ex-construction-units", "03_zero_error_construction", "units_used", _judge_units,
             ("52", "24", "100")),
    Exercise("ex-construction-cover", "03_zero_error_construction", "separable_labelings",
             _judge_cover, ("1024", "20", "260")),
    Exercise("volume-ex-cover", "04_angular_volume", "region_counts", _judge_region_counts,
             ("[10, 12, 14, 16, 18]", "[2 ** n for n in range(5, 10)]", "[n * n for n in range(5, 10)]")),
    Exercise("volume-ex-sixty", "04_angular_volume", "volume_sixty", _judge_sixty,
             ("0.25", "1 / 6", "2 / 3")),
    Exercise("deep-linear-ex-bottleneck", "05_deep_linear_depth_width", "bottleneck",
             _judge_bottleneck,
             ("(3, 1.0)", "(2, minima.linear.global_minimum(*minima.exercises.exercise_data("
              "'deep-linear-ex-bottleneck'), [4, 5, 3]))",
              "(2, 2 * minima.linear.global_minimum(*minima.exercises.exercise_data("
              "'deep-linear-ex-bottleneck'), [4, 2, 3]))")),
    Exercise("deep-linear-ex-hessian", "05_deep_linear_depth_width", "smallest_eigenvalue",
             _judge_hessian, ("0.0", "float(torch.linalg.matrix_norm(torch.ones(2, 2), ord=2))",
                              "-1.0")),
    Exercise("ntk-ex-closed-form", "07_ntk_dynamics", "gram_entries", _judge_closed_form,
             ("(0.0, 1 / 3)", "(0.25, 1 / 6 + 0.01)", "(0.5, 0.5)")),
    Exercise("ntk-ex-lambda0", "07_ntk_dynamics", "lambda0", _judge_lambda0,
             ("float(torch.linalg.eigvalsh(minima.ntk.limit_gram(minima.exercises.exercise_data("
              "'ntk-ex-lambda0')))[-1])", "0.0", "1.0")),
    Exercise("wide-ex-tanh-pair", "06_wide_layers", "tanh_pair_rank", _judge_tanh_pair, ("2", "5", "0")),
    Exercise("wide-ex-full-width", "06_wide_layers", "smallest_full_width", _judge_full_width,
             ("4", "11", "13")),
    Exercise("answer-ex-double-n", "08_the_answer", "mark_moves", _judge_double_n,
             ('("stays", "stays")', '("right", "right")', '("left", "right")')),
    Exercise("answer-ex-rank-width", "08_the_answer", "smallest_full_rank_width",
             _judge_rank_width, ("4", "40", "8")),
]}


def check(label: str, answer) -> Verdict:
    """Check ``answer`` to the exercise ``label``; an unchanged stub (``...``) is "not yet", never an error.

    The verdict shows as ``correct`` or ``not yet: <hint>`` when it is a cell's last value. Chapters 1–8.
    """
    if label not in EXERCISES:
        raise ValueError(f"label must name a computational exercise, one of {sorted(EXERCISES)}; "
                         f"got {label!r}")
    if answer is ... or answer is None:
        return _not_yet(NOT_GIVEN)
    try:
        return EXERCISES[label].judge(answer)
    except Exception as error:  # a malformed answer is a hint, not a crash
        return _not_yet(f"the answer could not be checked ({type(error).__name__}: {error})")
