"""Activation regions: inside one, a one-hidden-layer network is a linear regression (Soudry & Carmon, Lemma 1).

The activation pattern of a network on ``X: (d0, N)`` is the sign of every pre-activation,
``1{W X > 0}``; the set of weights with one pattern is a differentiable region ``D_A``, a polyhedral cone.
Inside it the slopes ``A = a(W X)`` (``ε · 1`` or ``ε · ρ``) are fixed, and the outputs of a network
with one hidden layer are

    y_hat = (A ∘ X)ᵀ vec(Vᵀ),    V = diag(z) W,

linear in ``V`` (``vec`` stacks columns, so ``vec(Vᵀ)`` is ``V``'s rows one after the other,
``V.reshape(-1)``), with the design matrix ``A ∘ X: (d1·d0, N)`` (the Khatri–Rao product of
:mod:`minima.rank`). Two halves of one lemma follow. :func:`solve_in_region` solves that regression and
moves the network to the least-squares point of its region (a differentiable local minimum, if it stays
inside); :func:`planted_local_minimum` chooses targets whose regression solution is the current point, with
an error in the null space of ``A ∘ X`` (a sub-optimal minimum, possible only when the rank is below ``N``).
:func:`stationarity` measures how far an error is from that null space. :func:`region_minimum` decides,
without training, whether a region ``D_A`` holds a differentiable local minimum at all (Soudry & Hoffer,
Lemma 2), and with which error.

Chapter 2 uses the first half; chapter 4 uses :func:`region_minimum` for its census of the landscape (and
:mod:`minima.volume` for the regions' angular volumes); chapter 7 counts flips of the pattern in training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from ._checks import as_float64_matrix, check_member, check_positive_int, check_real, check_targets
from .derivatives import gradient_matrix, member_noise, single_member
from .losses import mce, threshold_of_labels
from .models import LeakyReLUNet, forward, leaky_relu_slope
from .rank import khatri_rao, khatri_rao_rank, largest_singular_value

__all__ = ["activation_pattern", "activation_slopes", "design_matrix", "solve_in_region", "RegionSolution",
           "planted_local_minimum", "PlantedMinimum", "stationarity", "region_minimum", "RegionMinimum",
           "check_pattern"]


def _check_net(net) -> LeakyReLUNet:
    if not isinstance(net, LeakyReLUNet):
        raise ValueError(f"net must be a minima.LeakyReLUNet, got {type(net).__name__}")
    if net.activation != "leaky_relu":
        raise ValueError(f"activation regions are those of the leaky ReLU; net has activation={net.activation!r}")
    return net


def _check_layer(net: LeakyReLUNet, layer) -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < net.depth - 1:
        raise ValueError(f"layer must be a hidden-layer index in [0, {net.depth - 1}), got {layer!r}")
    return layer


@torch.no_grad()
def activation_pattern(net: LeakyReLUNet, X: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """The pattern ``1{u > 0}`` of hidden layer ``layer`` on every sample, a bool ``(R, d_l, N)`` tensor.

    Two weight settings lie in the same region ``D_A`` exactly when their patterns agree. Chapters 2, 4, 7.
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    pre_activations, _ = net.hidden(X)
    return pre_activations[layer] > 0


@torch.no_grad()
def activation_slopes(net: LeakyReLUNet, X: torch.Tensor, noise=None, layer: int = 0) -> torch.Tensor:
    """The slopes ``A = a(W X)`` of hidden layer ``layer``: ``ε·1`` where ``u > 0``, else ``ε·ρ``. ``(R, d_l, N)``.

    This is the matrix ``A`` of Soudry & Carmon's Lemma: for one hidden layer the output is
    ``y_hat_n = zᵀ (a_n ⊙ W x_n)``. Chapter 2.
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    pre_activations, _ = net.hidden(X, noise)
    u = pre_activations[layer]
    return leaky_relu_slope(u, net.rho, net.check_noise(noise, u.shape[-1])[layer])


def _one_hidden_layer(net: LeakyReLUNet, what: str) -> None:
    if net.depth != 2 or net.outputs is not None:
        raise ValueError(f"{what} needs one hidden layer and a scalar output, got depth {net.depth}"
                         + ("" if net.outputs is None else f" with {net.outputs} outputs"))


def design_matrix(net: LeakyReLUNet, X: torch.Tensor, *, member: int = 0, noise=None) -> torch.Tensor:
    """``A ∘ X: (d1·d0, N)``, float64: the design matrix of member ``member``'s region (Lemma 1).

    ``y_hat = (A ∘ X)ᵀ vec((diag(z) W)ᵀ)`` for every weight setting in the region. One hidden layer only.
    Chapter 2.
    """
    net = _check_net(net)
    _one_hidden_layer(net, "design_matrix")
    single = single_member(net, member)
    X = single.check_inputs(X)
    eps = member_noise(net, noise, member, X.shape[-1])[0]
    W = single.weights[0][0].detach()
    return _design(W, X, single.rho, None if eps is None else eps[0])


def _design(W: torch.Tensor, X: torch.Tensor, rho: float, eps: torch.Tensor | None) -> torch.Tensor:
    """``A ∘ X`` for float64 ``W: (d1, d0)``, ``X: (d0, N)``, formed on the CPU, returned on ``W``'s device."""
    slopes = leaky_relu_slope(W @ X, rho, eps)
    return khatri_rao(slopes.cpu(), X.cpu()).to(W.device)


@dataclass
class RegionSolution:
    """Result of :func:`solve_in_region`: ``converged`` says whether an exact critical point was reached
    inside the starting activation region; ``rounds`` counts least-squares solves, ``steps`` the step
    fraction taken in each. Chapter 2."""
    converged: bool
    rounds: int
    steps: list[float]


@torch.no_grad()
def solve_in_region(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None,
                    max_rounds: int = 50) -> RegionSolution:
    """Move a one-hidden-layer member, in place, to the exact minimum of the MSE within its activation region.

    Inside a region where the slopes ``A`` are fixed, ``y_hat = (A ∘ X)ᵀ vec(Vᵀ)`` with ``V = diag(z) W``: a
    linear least-squares problem (Soudry & Carmon, Lemma 1). Each round solves it for the correction of
    smallest norm, then moves ``W`` (keeping ``z``) towards that solution by the largest step in
    ``{1, 1/2, 1/4, …}`` that keeps every pre-activation's sign. A full step ends at a point where
    ``(A ∘ X) e = 0`` to round-off: a differentiable local minimum. Works in float64; needs ``z_i ≠ 0``.
    ``X: (d0, N)``, ``y: (N,)``. Chapter 2.
    """
    net = _check_net(net)
    _one_hidden_layer(net, "solve_in_region")
    member = check_member(member, net.ensemble)
    max_rounds = check_positive_int("max_rounds", max_rounds)
    W_param, z_param = net.weights
    W, z = W_param[member].double(), z_param[member].double()
    if torch.any(z == 0):
        raise ValueError("net has output weights z_i = 0, for which W_i cannot be solved for")
    net.check_inputs(X)  # validates; the solve itself runs in float64 whatever the network's dtype
    X = torch.as_tensor(X).double().to(W.device)
    y = check_targets("y", y, ((X.shape[-1],),)).double().to(W.device)
    eps = member_noise(net, noise, member, X.shape[-1])[0]
    eps = None if eps is None else eps[0]
    steps = []
    for _ in range(max_rounds):
        u = W @ X
        M = _design(W, X, net.rho, eps)
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
    return RegionSolution(steps[-1] == 1.0, len(steps), steps)


@dataclass
class PlantedMinimum:
    """A differentiable local minimum with non-zero error, built by :func:`planted_local_minimum`.

    ``W: (d1, d0)``, ``z: (d1,)``, targets ``y: (N,)`` and the error ``e = f(WX)ᵀz − y`` ``(N,)``, which lies in
    the null space of ``A ∘ X``; ``null_dimension`` is ``N − rank(A ∘ X)``.

    Chapter 2.
    """
    W: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    error: torch.Tensor
    null_dimension: int


def planted_local_minimum(X, d1: int, rho: float, *, error_norm: float = 1.0, seed: int = 0) -> PlantedMinimum:
    """Targets ``y`` for which random weights ``(W, z)`` sit at a sub-optimal differentiable local minimum.

    Inside the activation region of ``W`` the outputs are ``y_hat = (A ∘ X)ᵀ vec((diag(z) W)ᵀ)``, linear in
    ``v = vec((diag(z) W)ᵀ)`` (Soudry & Carmon, Lemma 1). Choosing ``y = y_hat − e`` with ``e ≠ 0`` in the null
    space of ``A ∘ X`` makes ``v`` the least-squares minimiser over the whole region, so ``(W, z)`` is a local
    minimum of the MSE with error ``e``, and no pre-activation is zero. This is possible exactly when
    ``A ∘ X`` has a null space, i.e. rank below ``N``: when ``d0·d1 ≥ N`` and the rank is full, it raises
    ``ValueError``, which is Theorem 1 in miniature. ``‖e‖₂ = error_norm``; ``X: (d0, N)``. Chapter 2.
    """
    X = torch.from_numpy(as_float64_matrix("X", X))
    d1 = check_positive_int("d1", d1)
    rho = check_real("rho", rho)
    error_norm = check_real("error_norm", error_norm, low=0.0, low_open=True)
    generator = np.random.default_rng(seed)
    d0, n_samples = X.shape
    W = torch.from_numpy(generator.standard_normal((d1, d0)) / np.sqrt(d0))
    z = torch.from_numpy(generator.choice([-1.0, 1.0], size=d1) * (0.5 + generator.random(d1)))
    if (W @ X).abs().min() == 0.0:
        raise ValueError("a pre-activation is exactly zero; choose another seed")
    M = _design(W, X, rho, None).numpy()
    rank = khatri_rao_rank(leaky_relu_slope(W @ X, rho).numpy(), X.numpy())  # the rank rule of minima.rank
    null_basis = np.linalg.svd(M, full_matrices=True)[2][rank:].T  # (N, N − rank): e with (A ∘ X) e = 0
    if null_basis.shape[1] == 0:
        raise ValueError(f"A ∘ X has full rank N = {n_samples}: every differentiable local minimum in this region "
                         "has zero error, so none with error can be planted")
    error = null_basis @ generator.standard_normal(null_basis.shape[1])
    error *= error_norm / np.linalg.norm(error)
    outputs = forward([W, z], X, rho)
    error = torch.from_numpy(error)
    return PlantedMinimum(W, z, outputs - error, error, null_basis.shape[1])


def stationarity(net: LeakyReLUNet, X: torch.Tensor, y, *, member: int = 0, noise=None) -> float:
    """``‖G e‖₂ / (‖G‖₂ ‖e‖₂)``: how far the error is from the null space of ``G`` (Soudry & Carmon, Lemma 1).

    Zero exactly at a critical point with non-zero error; of order one for a generic error. ``X: (d0, N)``,
    ``y: (N,)``. Runs on the network's device. Chapter 2.
    """
    G, _ = gradient_matrix(net, X, member=member, noise=noise)
    single = single_member(net, member)
    X = single.check_inputs(X)
    y = check_targets("y", y, ((X.shape[-1],),)).to(device=single.device, dtype=torch.float64)
    eps = member_noise(net, noise, member, X.shape[-1])
    outputs = forward([w.detach() for w in single.weights], X, single.rho, noise=eps, validate=False)[0]
    error = outputs - y
    denominator = largest_singular_value(G) * float(error.norm())
    if denominator == 0.0:
        raise ValueError("stationarity is undefined where the error or G is zero")
    return float((G @ error).norm()) / denominator


def check_pattern(pattern, n_samples: int) -> np.ndarray:
    """``pattern`` as a bool ``(d1, N)`` array (``True`` where ``w_iᵀ x_n > 0``), or ``ValueError``.

    Accepts booleans or 0/1 numbers, NumPy or torch. Chapter 4.
    """
    if isinstance(pattern, torch.Tensor):
        pattern = pattern.detach().cpu().numpy()
    array = np.asarray(pattern)
    if array.ndim != 2 or array.shape[1] != n_samples or array.shape[0] == 0:
        raise ValueError(f"pattern must have shape (d1, {n_samples}) with d1 ≥ 1, got {array.shape}")
    if array.dtype != bool:
        if not np.isin(array, (0, 1)).all():
            raise ValueError("pattern must hold booleans or 0/1 (1 where w_iᵀx_n > 0)")
        array = array.astype(bool)
    return array


@dataclass
class RegionMinimum:
    """Result of :func:`region_minimum` for one region ``D_A(X)``.

    ``exists``: the region holds a differentiable local minimum (DLM). ``empty``: the region itself is empty
    (some unit's cone ``{w : sign(wᵀX) = pattern_i}`` is). ``error``: ``e = y − ŷ`` ``(N,)``, the
    least-squares residual of the region's linear model, which every DLM in the region shares (Lemma 2);
    ``mse = ‖e‖²/N`` and ``mce`` (classification error of ``ŷ = y − e``) are those of the DLM when
    ``exists``. ``rank`` is ``rank(A∘X)``. Where a DLM exists, ``W: (d1, d0)`` and ``z: (d1,)`` are one such
    minimum, with ``W`` strictly inside the region (``z_i = 0`` for units the fit does not use).

    Chapter 4.
    """
    exists: bool
    empty: bool
    error: torch.Tensor
    mse: float
    mce: float
    rank: int
    W: torch.Tensor | None = None
    z: torch.Tensor | None = None


# A sign choice is accepted when the linear programme finds every margin s_n x_nᵀ v_i / ‖x_n‖ of the used
# units at least _MARGIN times the scale of the least-squares solution: HiGHS' own primal feasibility
# tolerance is 1e-7, so a margin this size is a real one and not a rounding artefact.
_MARGIN = 1e-6


def _largest_margin(blocks, sign_choice, scale):
    """Solve ``max t`` over ``c`` with ``σ_i (b_i + M_i c) ≥ t`` (σ_i = ±1) and ``v0_i + N_i c = 0`` (σ_i = 0).

    ``blocks[i] = (b_i (N,), M_i (N, k), v0_i (d0,), N_i (d0, k))``. Returns ``(t, c)`` (``t`` capped at
    ``scale``), or ``(-inf, None)`` when the programme is infeasible.
    """
    k = blocks[0][1].shape[1]
    upper_rows, upper_rhs, equal_rows, equal_rhs = [], [], [], []
    for (b, M, v0, null), sigma in zip(blocks, sign_choice):
        if sigma == 0:
            equal_rows.append(np.hstack([null, np.zeros((null.shape[0], 1))]))
            equal_rhs.append(-v0)
        else:  # −σ M c + t ≤ σ b
            upper_rows.append(np.hstack([-sigma * M, np.ones((M.shape[0], 1))]))
            upper_rhs.append(sigma * b)
    cost = np.zeros(k + 1)
    cost[-1] = -1.0
    result = scipy.optimize.linprog(
        cost, A_ub=np.vstack(upper_rows) if upper_rows else None, b_ub=np.hstack(upper_rhs) if upper_rows else None,
        A_eq=np.vstack(equal_rows) if equal_rows else None, b_eq=np.hstack(equal_rhs) if equal_rows else None,
        bounds=[(None, None)] * k + [(-scale, scale)], method="highs")
    if result.status != 0:
        return -np.inf, None
    return float(result.x[-1]), result.x[:-1]


def _interior_point(unit_rows: np.ndarray) -> np.ndarray | None:
    """A point ``w`` with ``unit_rows @ w > 0`` (rows ``s_n x_nᵀ/‖x_n‖``), or ``None`` if the cone is empty."""
    d0 = unit_rows.shape[1]
    cost = np.zeros(d0 + 1)
    cost[-1] = -1.0
    result = scipy.optimize.linprog(cost, A_ub=np.hstack([-unit_rows, np.ones((unit_rows.shape[0], 1))]),
                                    b_ub=np.zeros(unit_rows.shape[0]), bounds=[(-1, 1)] * d0 + [(None, 1)],
                                    method="highs")
    if result.status != 0 or result.x[-1] <= _MARGIN:
        return None
    return result.x[:-1]


def _region_minimum(X: np.ndarray, y: np.ndarray, pattern: np.ndarray, rho: float, threshold: float | None,
                    known_nonempty: bool = False) -> RegionMinimum:
    """:func:`region_minimum` on checked float64 NumPy inputs; ``known_nonempty`` skips the emptiness test."""
    d0, n_samples = X.shape
    d1 = pattern.shape[0]
    signs = np.where(pattern, 1.0, -1.0)
    unit_rows = signs[:, :, None] * (X / np.linalg.norm(X, axis=0)).T[None]  # (d1, N, d0): s_in x_nᵀ/‖x_n‖
    interior = [None] * d1
    if not known_nonempty:
        for i in range(d1):
            interior[i] = _interior_point(unit_rows[i])
            if interior[i] is None:
                return RegionMinimum(False, True, torch.full((n_samples,), float("nan"), dtype=torch.float64),
                                     float("nan"), float("nan"), 0)
    slopes = np.where(pattern, 1.0, rho)
    design = khatri_rao(slopes, X)  # (d1·d0, N)
    rank = khatri_rao_rank(slopes, X)
    U, singular, Vt = np.linalg.svd(design.T, full_matrices=True)
    coefficients = U[:, :rank].T @ y
    solution = Vt[:rank].T @ (coefficients / singular[:rank])  # the least-squares v of smallest norm
    error = y - U[:, :rank] @ coefficients
    null = Vt[rank:].T  # (d1·d0, k): v0 + null c are all the least-squares solutions
    error_t = torch.from_numpy(error)
    mse = float(error @ error) / n_samples
    misclassified = float(mce(torch.from_numpy(y - error)[None], torch.from_numpy(y), threshold)[0])
    scale = max(float(np.abs(solution).max()), 1.0)
    blocks = []
    for i in range(d1):
        rows = slice(i * d0, (i + 1) * d0)
        blocks.append((unit_rows[i] @ solution[rows], unit_rows[i] @ null[rows], solution[rows], null[rows]))

    tolerance = _MARGIN * scale

    def direct(choice):  # does the smallest-norm solution v0 itself realise ``choice``?
        for (b, _, v0, _), sigma in zip(blocks, choice):
            if (sigma == 0 and np.abs(v0).max() > tolerance) or (sigma != 0 and (sigma * b).min() < tolerance):
                return False
        return True

    def accept(choice):
        if null.shape[1] == 0:  # one least-squares solution: read its signs off
            return direct(choice), np.zeros(0)
        margin, c = _largest_margin(blocks[:len(choice)], choice, scale)
        return margin >= tolerance, c

    # Units whose block does not move within the least-squares solutions have their choice fixed.
    options = []
    for b, M, v0, null_i in blocks:
        if np.abs(null_i).max(initial=0.0) <= _MARGIN:
            fixed = [s for s in (1, -1) if (s * b).min() >= tolerance] or ([0] if np.abs(v0).max() <= tolerance else [])
            options.append(fixed)
        else:
            hint = 1 if b.sum() >= 0 else -1
            options.append([hint, -hint, 0])
    found = None
    if all(options):
        first = tuple(o[0] for o in options)  # the smallest-norm solution's own signs, then one programme
        if direct(first):
            found = (first, np.zeros(null.shape[1]))
        elif null.shape[1]:
            ok, c = accept(first)
            if ok:
                found = (first, c)
    # Otherwise a depth-first search over σ_i ∈ {+1, −1, 0}: the sign of unit i's contribution z_i w_i (in
    # the unit's cone, in its negative, or zero), pruned as soon as the units chosen so far admit no
    # least-squares solution.
    stack = [()] if found is None and all(options) else []
    while stack:
        choice = stack.pop()
        if len(choice) == d1:
            ok, c = accept(choice)
            if ok:
                found = (choice, c)
                break
            continue
        if choice and len(options[len(choice) - 1]) > 1:
            ok, _ = accept(choice)
            if not ok:
                continue
        for sigma in reversed(options[len(choice)]):  # pushed in reverse: the first option is tried first
            stack.append(choice + (sigma,))
    if found is None:
        return RegionMinimum(False, False, error_t, mse, misclassified, rank)
    choice, c = found
    v = (solution + (null @ c if null.shape[1] else 0.0)).reshape(d1, d0)
    W = np.empty((d1, d0))
    z = np.array(choice, dtype=np.float64)
    for i, sigma in enumerate(choice):
        if sigma != 0:
            W[i] = sigma * v[i]
        else:
            point = interior[i] if interior[i] is not None else _interior_point(unit_rows[i])
            W[i] = point
    return RegionMinimum(True, False, error_t, mse, misclassified, rank, torch.from_numpy(W), torch.from_numpy(z))


def region_minimum(X, y, pattern, rho: float, *, labels: str | None = None) -> RegionMinimum:
    """Whether the differentiable region ``D_A(X)`` of ``pattern`` holds a DLM of the MSE, and with which error.

    ``X: (d0, N)``, ``y: (N,)`` (two label values for the MCE), ``pattern: (d1, N)`` bool (the signs of
    ``W X``; the slopes are ``A = 1`` where ``True``, ``ρ`` elsewhere). One hidden layer, scalar output.

    Inside the region the outputs are ``(A∘X)ᵀ v`` with ``v = vec((diag(z) W)ᵀ)``, so a point of the region
    is a DLM exactly when its ``v`` solves the least-squares problem ``min ‖y − (A∘X)ᵀ v‖``: it is then a
    minimum over the open region, and conversely every DLM has that residual ``e`` with ``(A∘X) e = 0``
    (Soudry & Hoffer, Lemma 2). A least-squares solution ``v = v0 + (null space) c`` is realisable when every
    block ``v_i = z_i w_i`` lies in unit ``i``'s open cone (``z_i > 0``), in its negative (``z_i < 0``) or is
    zero (``z_i = 0``, ``w_i`` anywhere in the cone). **Decision rule**: a depth-first search over these three
    choices per unit, each partial choice tested by a linear programme in ``c`` that maximises the smallest
    margin ``s_n x_nᵀ v_i/‖x_n‖`` (``scipy``'s HiGHS); a choice is accepted when that margin is at least
    ``10⁻⁶ · max(1, ‖v0‖_∞)`` and the zero blocks vanish to the same tolerance. With one least-squares
    solution (``rank(A∘X) = d0·d1``) no programme is needed. The search visits at most ``3^{d1}`` choices;
    it is exact up to that tolerance. ``labels`` (``"01"`` or ``"pm1"``) states the labelling for the MCE;
    without it ``y`` must hold both label values (:func:`minima.losses.threshold_of_labels`). Chapter 4.
    """
    X = as_float64_matrix("X", X)
    y = check_targets("y", y, ((X.shape[1],),)).double().cpu().numpy()
    pattern = check_pattern(pattern, X.shape[1])
    rho = check_real("rho", rho)
    if np.any(np.linalg.norm(X, axis=0) == 0):
        raise ValueError("X has a zero column: its pre-activations are zero for every W, in no region")
    return _region_minimum(X, y, pattern, rho, threshold_of_labels(torch.from_numpy(y), labels))
