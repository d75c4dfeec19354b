"""Kawaguchi, Huang & Kaelbling (2019): the loss at differentiable local minima, J(θ), and depth and width.

For a bias-free network with weights ``θ`` and outputs ``Ŷ: (d_y, m)`` (columns are samples, as everywhere
in this library), let ``J_θ`` be the Jacobian of ``vec Ŷ`` with respect to all weights: the transpose of
:func:`minima.derivatives.gradient_matrix` (their Lemma 1: ``J_θ = [D, D^{(H+1)}]``). Their Theorem 1 says
every differentiable local minimum satisfies ``L(θ) = J(θ)`` with

    J(θ) = ½ ‖(I − P[J_θ]) vec Y‖²,        L(θ) = ½ ‖Ŷ − Y‖_F²,

``P[M]`` the orthogonal projector onto the column space of ``M``. ``J(θ)`` is the loss of the best linear
model in the network's tangent features; it falls as the columns of ``J_θ`` multiply with depth and width.
Three routes to the same number (:func:`j_value`):

* ``"svd"``: the singular value decomposition of ``J_θ`` with the paper's cut-off (App. C, from Numerical
  Recipes): singular values above ``½ σ_max ε (r + c + 1)`` for an ``r × c`` matrix count (:func:`khk_cutoff`);
* ``"sum"``: Theorem 1's sum, each term evaluated as the growth of the projection when its block joins
  the earlier ones (one SVD of each growing prefix of ``J_θ``, the same cut-off): the terms telescope to
  the ``"svd"`` form by construction, so this checks the bookkeeping of the blocks, not the projection;
* ``"recursion"``: Theorem 1's form literally, ``½‖Y‖² − Σ_l Σ_k ½‖P[N_k^{(l)} D_k^{(l)}] vec Y‖²``, a block
  Gram–Schmidt over the units (each block ``D_k^{(l)}`` holds the columns of unit ``k``'s incoming weights,
  ``N_k^{(l)}`` removes the span of the blocks before it), with one cut-off for all blocks, that of
  ``J_θ``: an independent route, reliable while no block is nearly dependent on the earlier ones;
  ``"recursion-per-block"`` cuts each block at its own cut-off instead, which counts round-off as new
  directions, and is there to show that it does;
* ``"kernel"`` (the default): kernel regression with the empirical tangent kernel ``K = J_θ J_θᵀ``
  (:func:`minima.derivatives.tangent_kernel`, formed without ``J_θ``), ``½‖(I − K K⁺) vec Y‖²``. Its rank is
  decided by pivoted Cholesky on the smaller of ``K`` and ``J_θᵀ J_θ``, with :mod:`minima.rank`'s rule
  (``σ > σ_max √(max(r, c) ε)``), which agrees with the cut-off above whenever no singular value of ``J_θ``
  lies between the two thresholds; at full row rank ``J(θ) = 0`` and ``J_θ`` is never formed.

The last form is the bridge to chapter 7: ``J(θ)`` is the training residual of the neural-tangent-kernel
regression at ``θ``. Since the network is positively homogeneous of degree ``H + 1`` in ``θ``,
``vec Ŷ = J_θ θ / (H + 1)`` lies in the column space, so ``J(θ) ≤ L(θ)`` everywhere. Chapter 5.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from ._checks import check_targets
from .derivatives import gradient_matrix, kernel_from_factors, layer_factors, matrix_from_factors, single_member
from .models import LeakyReLUNet, check_weights
from .rank import certify_positive_definite, gram_tolerance, largest_eigenvalue

__all__ = ["network_from_weights", "parameter_jacobian", "khk_cutoff", "j_value", "METHODS",
           "basis_regression_loss", "pattern_loss", "linear_units"]

METHODS = ("kernel", "svd", "sum", "recursion", "recursion-per-block")
_EPS = float(np.finfo(np.float64).eps)


def network_from_weights(weights, rho: float) -> LeakyReLUNet:
    """One float64 network from Kawaguchi's weights ``[W_1: (d1, d0), …, W_{H+1}: (d_y, d_H)]``, or a net.

    A :class:`~minima.models.LeakyReLUNet` passes through (its member 0). Chapter 5.
    """
    if isinstance(weights, LeakyReLUNet):
        return single_member(weights, 0)
    weights = [torch.as_tensor(w) for w in weights]
    if any(not w.is_floating_point() for w in weights):
        weights = [w.double() for w in weights]
    _, _, ensemble = check_weights(weights)
    if ensemble:
        raise ValueError("weights must be one network's, without the ensemble axis: W_1 of shape (d1, d0)")
    return LeakyReLUNet.from_weights([w.double() for w in weights], rho)


def _targets(net: LeakyReLUNet, X: torch.Tensor, Y) -> torch.Tensor:
    """``vec Y`` ordered as the rows of ``J_θ`` (output ``k`` on sample ``n`` at ``k m + n``)."""
    n_samples = X.shape[-1]
    shapes = ((n_samples,), (1, n_samples)) if net.outputs is None else ((net.outputs, n_samples),)
    return check_targets("Y", Y, shapes).double().reshape(-1).to(net.device)


def parameter_jacobian(weights, X, *, rho: float = 0.0) -> torch.Tensor:
    """``J_θ: (d_y m, d_θ)``, the Jacobian of ``vec Ŷ`` with respect to all weights, float64 (Lemma 1).

    ``X: (d0, m)``. Row ``k m + n`` belongs to output ``k`` on sample ``n``; columns follow ``W_1`` (row-major),
    …, ``W_{H+1}``. Chapter 5.
    """
    net = network_from_weights(weights, rho)
    G, _ = gradient_matrix(net, torch.as_tensor(X).double())
    return G.T.detach()


def khk_cutoff(matrix: torch.Tensor) -> float:
    """The singular-value cut-off of Kawaguchi, Huang & Kaelbling (App. C): ``½ σ_max ε (r + c + 1)``.

    For an ``r × c`` matrix; singular values at or below it count as zero. Chapter 5.
    """
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        return 0.0
    largest = float(torch.linalg.matrix_norm(matrix.detach(), ord=2))
    return 0.5 * largest * _EPS * (matrix.shape[0] + matrix.shape[1] + 1)


def _range_basis(matrix: torch.Tensor, cutoff: float) -> torch.Tensor:
    """An orthonormal basis of the column space of ``matrix``: left singular vectors with ``σ > cutoff``."""
    if matrix.shape[1] == 0:
        return matrix.new_zeros(matrix.shape[0], 0)
    U, singular, _ = torch.linalg.svd(matrix, full_matrices=False)
    return U[:, singular > cutoff]


def _j_svd(J: torch.Tensor, y: torch.Tensor) -> float:
    basis = _range_basis(J, khk_cutoff(J))
    residual = y - basis @ (basis.T @ y)
    return 0.5 * float(residual @ residual)


def _j_sum(J: torch.Tensor, y: torch.Tensor, blocks: list[int]) -> float:
    """Theorem 1: ``½‖y‖² − Σ_b ½‖P[N_b D_b] y‖²``, block by block in the order of the units.

    ``N_b D_b`` is the part of block ``b`` orthogonal to the blocks before it, so its projector is
    ``P[J_{≤b}] − P[J_{<b}]`` (``J_{≤b}``: the columns of blocks ``1 … b``), and each term is the increase of
    ``½‖P[J_{≤b}] y‖²`` when block ``b`` is added. Computing each cumulative projection by its own SVD (the
    paper's cut-off) gives the same terms as re-orthogonalising block by block, without that method's
    instability: a basis built from nearly dependent blocks carries errors of order ``ε/σ``, which later
    blocks would count as new directions.
    """
    explained = 0.0
    end = 0
    for size in blocks:
        end += size
        cumulative = J[:, :end]
        basis = _range_basis(cumulative, khk_cutoff(cumulative))
        now = 0.5 * float((basis.T @ y).pow(2).sum())
        explained = max(explained, now)  # projections onto growing spans: the terms are non-negative
    return 0.5 * float(y @ y) - explained


def _j_recursion(J: torch.Tensor, y: torch.Tensor, blocks: list[int], *, per_block_cutoff: bool = False) -> float:
    """Theorem 1 literally: ``½‖y‖² − Σ_b ½‖P[N_b D_b] y‖²``, a block Gram–Schmidt in the order of the units.

    ``N_b D_b`` is block ``b`` with its components along the basis ``Q`` of the blocks before it removed
    (twice, so that the removal is exact to round-off); its column space, the left singular vectors above
    the cut-off, gives the term ``½‖U_bᵀ y‖²`` and joins ``Q``. The cut-off is one number for the whole
    recursion, :func:`khk_cutoff` of ``J_θ``. With ``per_block_cutoff`` each residual block is cut at its
    own ``khk_cutoff``, relative to its own largest singular value: a block that earlier blocks already
    span leaves a residual of pure round-off, whose directions that rule counts as new, so ``J`` comes
    out too low (what the paper's appendix warns of; chapter 5 shows it). Even with one cut-off the
    recursion is reliable only while no block is nearly dependent on the blocks before it: such a block
    adds a basis accurate to about ``ε‖J‖/σ_b`` only (``σ_b`` its residual's singular value), and a later
    block, though inside the span, may then leave a residual above the cut-off.
    """
    cutoff = khk_cutoff(J)
    basis = J.new_zeros(J.shape[0], 0)
    explained = 0.0
    end = 0
    for size in blocks:
        block = J[:, end:end + size]
        end += size
        for _ in range(2):
            block = block - basis @ (basis.T @ block)
        new = _range_basis(block, khk_cutoff(block) if per_block_cutoff else cutoff)
        explained += 0.5 * float((new.T @ y).pow(2).sum())
        basis = torch.cat([basis, new], dim=1)
    return 0.5 * float(y @ y) - explained


_REFINEMENT_STEPS = 4  # most refinement steps of the normal-equation residual before Householder QR
_REFINED = 1e-8  # a step that moves the fit by less than this times ‖y‖ ends the refinement


def _refined_normal_residual(rows: torch.Tensor, factor: torch.Tensor, y: torch.Tensor):
    """``y − A c`` for the least-squares ``c`` of ``A = rowsᵀ: (n, r)``, or ``None`` if not converged.

    ``factor``: lower ``L: (r, r)`` with ``L Lᵀ = AᵀA`` (from ``dpstrf``). Iterative refinement of the
    normal equations (Björck, *Numerical Methods for Least Squares Problems*, SIAM 1996): start
    from ``c = 0``, ``r = y``; each step solves ``L Lᵀ d = Aᵀ r``, then ``c += d`` and ``r = y − A c``. The
    residual is always recomputed from ``y``, so the error of ``c`` contracts by about ``κ(A)² ε`` a step,
    and ``½‖r‖²`` has an error of second order in it (``r`` is stationary at the solution). The rank
    cut-off keeps every pivot of ``L`` above the threshold, which usually bounds ``κ(A)² ε`` by about
    ``1 / max(Ω, n)``; the refinement ends when a step moves the fit ``A c`` by at most ``_REFINED·‖y‖``,
    and ``None`` after ``_REFINEMENT_STEPS`` steps without that (the caller then uses Householder QR).
    Costs two matrix–vector products a step, against ``2 n r²`` flops for orthonormalising ``A``.
    """
    coefficients = torch.zeros(rows.shape[0], dtype=rows.dtype, device=rows.device)
    residual = y
    scale = float(torch.linalg.vector_norm(y))
    for _ in range(_REFINEMENT_STEPS):
        step = torch.cholesky_solve((rows @ residual).unsqueeze(1), factor).squeeze(1)
        coefficients = coefficients + step
        updated = y - coefficients @ rows
        moved = float(torch.linalg.vector_norm(updated - residual))  # ‖A d‖, without a third product
        residual = updated
        if moved <= _REFINED * scale:
            return residual
    return None


def _j_kernel(net: LeakyReLUNet, X: torch.Tensor, y: torch.Tensor, n_parameters: int) -> float:
    """``½‖(I − K K⁺) y‖²`` for the tangent kernel ``K = J Jᵀ``, its rank decided by Cholesky factorisations.

    With at least as many parameters as rows, an unpivoted Cholesky of ``K`` shifted by the threshold first
    certifies full row rank (:func:`minima.rank.certify_positive_definite`: the same decision). Otherwise,
    or when it fails, LAPACK ``dpstrf`` runs on the smaller of ``K`` and ``C = Jᵀ J`` (the same non-zero
    eigenvalues, so the same threshold; at full row rank ``J(θ) = 0`` and ``J`` is never formed) and finds the rank ``r`` and
    ``r`` rows (of ``K``) or columns (of ``C``) of ``J`` that span its row or column space. The column
    space of ``J`` is then that of ``J Q_S`` (``Q_S`` an orthonormal basis of the rows ``S``) or of
    ``J[:, S]``: matrices with the condition of ``J``, not of ``K``, so the projection keeps ``J``'s
    accuracy. For ``J[:, S]`` the least-squares residual comes from the normal equations with ``dpstrf``'s
    own factor ``L`` (``L Lᵀ = J_Sᵀ J_S``), refined (:func:`_refined_normal_residual`); Householder QR of
    ``J_S`` when the refinement does not converge.
    """
    factors = layer_factors(net, X)  # one forward and backward pass serves the kernel and, if needed, J
    n = y.shape[0]
    wide = n_parameters >= n
    if wide:
        gram = kernel_from_factors(factors)  # (n, n)
        G = None
    else:
        G, _ = matrix_from_factors(factors, net.outputs is not None)  # (Ω, n): column i is row i of J
        gram = G @ G.T  # (Ω, Ω) = Jᵀ J
    largest = largest_eigenvalue(gram)
    if largest <= 0.0:
        return 0.5 * float(y @ y)
    tolerance = gram_tolerance(largest, n_parameters, n)  # absolute, on the pivots (eigenvalue scale)
    if wide and certify_positive_definite(gram, tolerance):
        return 0.0  # λ_min(K) > tolerance: every pivot passes too, full row rank (minima.rank)
    factor, pivots, rank, info = scipy.linalg.lapack.dpstrf(gram.cpu().numpy(), tol=tolerance, lower=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    if wide and rank == n:
        return 0.0
    if G is None:
        G, _ = matrix_from_factors(factors, net.outputs is not None)
    chosen = torch.as_tensor(pivots[:rank] - 1, device=G.device)
    if wide:
        row_space, _ = torch.linalg.qr(G[:, chosen])  # (Ω, r)
        basis, _ = torch.linalg.qr(G.T @ row_space)  # (n, r): the column space of J
    else:  # the normal equations of the chosen columns J_S, from dpstrf's factor L of J_Sᵀ J_S
        leading = torch.from_numpy(np.tril(factor[:rank, :rank])).to(G.device)
        residual = _refined_normal_residual(G[chosen], leading, y)
        if residual is not None:
            return 0.5 * float(residual @ residual)
        basis, _ = torch.linalg.qr(G[chosen].T)  # refinement did not converge: Householder QR
    residual = y - basis @ (basis.T @ y)
    return 0.5 * float(residual @ residual)


def j_value(weights, X, Y, *, rho: float = 0.0, method: str = "kernel") -> float:
    """Kawaguchi, Huang & Kaelbling's ``J(θ) = ½‖(I − P[J_θ]) vec Y‖²`` (Theorem 1), float64.

    ``weights``: ``[W_1: (d1, d0), …, W_{H+1}: (d_y, d_H)]`` (a ``(d_H,)`` last layer for a scalar output),
    or a :class:`~minima.models.LeakyReLUNet` (member 0); ``X: (d0, m)``; ``Y: (d_y, m)`` (or ``(m,)`` for a
    scalar output); ``rho``: the leaky slope (0: ReLU, 1: linear). ``method``: ``"kernel"`` (default, no
    Jacobian formed), ``"svd"``, ``"sum"`` (Theorem 1's sum by growing projections), ``"recursion"``
    (its block Gram–Schmidt, literally) or ``"recursion-per-block"`` (the same with a cut-off per block,
    over-counting); see the module. Chapter 5.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    net = network_from_weights(weights, rho)
    X = net.check_inputs(torch.as_tensor(X).double() if not isinstance(X, torch.Tensor) else X.double())
    y = _targets(net, X, Y)
    n_parameters = sum(w[0].numel() for w in net.weights)
    if method == "kernel":
        return _j_kernel(net, X, y, n_parameters)
    G, blocks = gradient_matrix(net, X)
    J = G.T
    if method == "svd":
        return _j_svd(J, y)
    unit_blocks = [w.shape[2] for w in net.weights[:-1] for _ in range(w.shape[1])]  # one per unit: d_{l-1}
    unit_blocks.append(blocks[-1].shape[0])  # the last layer, D^{(H+1)} = I ⊗ Φ^{(H)}
    if method == "sum":
        return _j_sum(J, y, unit_blocks)
    return _j_recursion(J, y, unit_blocks, per_block_cutoff=method == "recursion-per-block")


def basis_regression_loss(features, Y) -> float:
    """``½ ‖P_N[Φ] Y‖_F² = min_R ½‖Y − R Φ‖_F²``: the global minimum of a least-squares fit of ``Y: (d_y, N)``
    (or ``(N,)``) on fixed features ``Φ: (p, N)`` (columns are samples). Kawaguchi, Huang & Kaelbling's
    "basis function regression" (their Theorem 2's first term; with ``Φ = X`` it is linear regression).
    Float64, by least squares on ``Φᵀ``. Chapter 5.
    """
    features = torch.as_tensor(features).double()
    if features.ndim != 2:
        raise ValueError(f"features must be a (p, N) matrix, got shape {tuple(features.shape)}")
    Y = torch.as_tensor(Y).double()
    Y = Y.unsqueeze(0) if Y.ndim == 1 else Y
    if Y.ndim != 2 or Y.shape[1] != features.shape[1]:
        raise ValueError(f"Y must be (d_y, N) or (N,) with N = {features.shape[1]}, got {tuple(Y.shape)}")
    if not (torch.isfinite(features).all() and torch.isfinite(Y).all()):
        raise ValueError("features and Y must be finite")
    solution = torch.linalg.lstsq(features.T, Y.T, driver="gelsd").solution
    return 0.5 * float(((Y.T - features.T @ solution) ** 2).sum())


def pattern_loss(A, X, y) -> float:
    """The loss at every differentiable local minimum of one hidden layer with the activation pattern
    ``A: (d1, N)`` (Kawaguchi, Huang & Kaelbling, Lemma 5): ``½‖y‖² − ½‖P[D̃] y‖²`` with
    ``D̃ = [Λ^{1,1}X, …, Λ^{1,d}X]``, which is ``(A ∘ X)ᵀ``, chapter 2's design matrix. ``X: (d0, N)``,
    ``y: (N,)``. Chapter 5 (their Proposition 2).
    """
    from .rank import khatri_rao

    return basis_regression_loss(torch.as_tensor(khatri_rao(A, X)), y)


def linear_units(net: LeakyReLUNet, X, *, member: int = 0) -> list[torch.Tensor]:
    """Which hidden units act linearly on the data: for each hidden layer a ``(d_l,)`` boolean mask of the
    units whose output equals their pre-activation on every sample (slope 1: the pre-activation is
    positive on every sample; for ``ρ = 1`` every unit). Kawaguchi, Huang & Kaelbling's
    Definition 1, condition (ii), at ``θ``. Chapter 5.
    """
    single = single_member(net, member)
    if single.activation != "leaky_relu":
        raise ValueError("linear units are defined for the piecewise-linear activations (leaky ReLU)")
    pre_activations, _ = single.hidden(X)
    return [(u[0] > 0).all(dim=1) | (single.rho == 1.0) for u in pre_activations]
