"""Exact train, test and score-error curves along gradient flow (docs/theory.md §3, §5, §6).

The curves are contour integrals of the one-point transform ``g_W`` (train loss, the linear part of the
test loss) and of the two-point quantity ``T(z1, z2) = lim (1/d) Tr[K R(z1) U_pop R(z2)]`` (the
quadratic part of the test loss). :class:`LearningDynamics` solves the fixed point once on a set of
contour nodes and then evaluates any number of training times τ by a few matrix products;
:func:`loss_curves` is the one-shot wrapper.

The contour is a union of ellipses in ``w = log z``, one per group of nearby bulks of U (bulks from
:func:`rfdiff.spectral.support`), each sampled by the trapezoid rule, which converges geometrically.
The number of nodes of each ellipse is doubled until the rule with half the nodes agrees to ``tol``;
every evaluation reports that N-versus-N/2 difference.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np

from .results import ConvergenceWarning, LossCurves, Result
from .constants import class_coefficients, ge_coefficients
from .data import DiscreteSpectrum
from .settings import tau_window
from .structure import Symbol, _class_symbols, structure
from ._validate import integer, positive, taus as check_taus
from .spectral import STATUS_FALLBACK, SolverError, stieltjes, support

__all__ = ["LearningDynamics", "LossCurves", "LossDecomposition", "loss_curves", "two_point",
           "tau_from_steps", "steps_from_tau", "tau_from_seed_epoch_lr", "seed_epoch_lr_from_tau"]


#: Target absolute accuracy of the losses: every ellipse's node count is doubled until the rule with half
#: the nodes agrees to this on probe functionals (:class:`LearningDynamics`).
CONTOUR_TOL = 1e-10
#: Nodes of an ellipse in the first round, and the cap after which the contour is reported unconverged.
CONTOUR_START_NODES, CONTOUR_MAX_NODES = 16, 2048
#: Probe times of an ellipse, in units of its own relaxation time ``1/(κ e^c)`` (plus τ = ∞).
CONTOUR_PROBES = (0.1, 1.0, 10.0)
#: Largest ellipse parameter μ (the rule converges like e^{−μn}; beyond ~6 the ellipse is needlessly fat).
ELLIPSE_MU_MAX = 6.0


# --------------------------------------------------------------------------------------------------
# Time conventions (docs/theory.md §1)
# --------------------------------------------------------------------------------------------------

def tau_from_steps(steps, lr, d):
    """Training time reached by plain gradient descent on A: ``τ = k η / d²``.

    Parameters
    ----------
    steps : array_like
        Number of full-batch steps k on ``L_train`` (docs/theory.md §1 parametrisation ``s_A = A σ/√p``).
    lr : float
        Step size η (> 0).
    d : float
        Data dimension (> 0).

    Notes
    -----
    docs/theory.md §1: the flow is ``dA/dτ = −d² ∇_A L_train``, so one step of size η advances ``τ`` by η/d².
    """
    return _times("steps", steps) * positive("lr", lr) / positive("d", d) ** 2


def _times(name, value):
    """An array of counts or times ≥ 0 (inf allowed, NaN not): ValueError naming ``name`` otherwise."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers >= 0, got {value!r}") from None
    if np.any(np.isnan(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (and not NaN), got {value!r}")
    return arr


def steps_from_tau(tau, lr, d):
    """Inverse of :func:`tau_from_steps`: ``k = τ d² / η``."""
    return _times("tau", tau) * positive("d", d) ** 2 / positive("lr", lr)


def tau_from_seed_epoch_lr(epoch_lr, d, psi_p):
    """Training time of the seed paper's code from its logged ``epoch·lr``: ``τ = epoch·lr · ψ_p / d``.

    Notes
    -----
    The seed code drops the ``1/√p`` of the model and trains ``B = A/√p`` by full-batch gradient descent;
    k steps of size η then reach ``τ = k η ψ_p / d`` (docs/theory.md §1), i.e. its logged ``epoch·lr`` equals
    ``τ d/ψ_p``.
    """
    return _times("epoch_lr", epoch_lr) * positive("psi_p", psi_p) / positive("d", d)


def seed_epoch_lr_from_tau(tau, d, psi_p):
    """Inverse of :func:`tau_from_seed_epoch_lr`: ``epoch·lr = τ d / ψ_p``."""
    return _times("tau", tau) * positive("d", d) / positive("psi_p", psi_p)


# --------------------------------------------------------------------------------------------------
# Two-point deterministic equivalent (docs/theory.md §5)
# --------------------------------------------------------------------------------------------------

#: Below this relative distance ``|ζ1 − ζ2|/|ζ1|`` the divided difference of the data law's Stieltjes
#: transform is replaced by the mean of its derivatives (error O(10⁻¹⁰), cancellation-free).
_CONFLUENT = 1e-5


def _pair_moments(law, al1, be1, al2, be2):
    """``⟨σ^k / (D1 D2)⟩`` for k = 0, 1, 2 with ``D_i = α_i + β_i σ`` (arrays broadcast together).

    Discrete laws are summed directly. Any other law goes through partial fractions of its Stieltjes
    transform ``G(ζ) = ⟨1/(σ − ζ)⟩`` at ``ζ_i = −α_i/β_i``, read off ``law.averages``:
    ``⟨σ^k/((σ−ζ1)(σ−ζ2))⟩ = [k=2] + (ζ1^k G(ζ1) − ζ2^k G(ζ2))/(ζ1 − ζ2)``, and
    ``[k=2] + d(ζ^k G)/dζ`` (averaged over the two points) when ``ζ1 ≈ ζ2``.
    """
    if isinstance(law, DiscreteSpectrum):
        out = [0.0, 0.0, 0.0]
        for e, w in zip(law.eigs, law.weights):
            r = w / ((al1 + be1 * e) * (al2 + be2 * e))
            out[0] = out[0] + r
            out[1] = out[1] + e * r
            out[2] = out[2] + e * e * r
        return out
    side = []
    for al, be in ((al1, be1), (al2, be2)):
        inv, _, inv2, _, _ = law.averages(al, be)
        side.append((-al / be, be * inv, be * be * inv2))   # ζ, G(ζ), G'(ζ)
    (z1, G1, dG1), (z2, G2, dG2) = side
    diff = z1 - z2
    near = np.abs(diff) <= _CONFLUENT * np.abs(z1)
    safe = np.where(near, 1.0, diff)
    scale = be1 * be2
    out = []
    for k in range(3):
        divided = (z1 ** k * G1 - z2 ** k * G2) / safe
        deriv = 0.5 * (k * z1 ** max(k - 1, 0) * G1 + z1 ** k * dG1
                       + k * z2 ** max(k - 1, 0) * G2 + z2 ** k * dG2)
        out.append((np.where(near, deriv, divided) + (k == 2)) / scale)
    return out


class _Point:
    """One-point solution at a set of nodes, in the quantities the two-point rule needs.

    ``u_k = 1/(1 + δ_k)`` per component, the linear symbol ``m(σ) = A σ + B`` of the equivalent
    ``R̄ = (W m(Σ) Wᵀ/d + c − z)^{-1}``, ``e = ψ_p q``, ``g_W``, and the noise weights of V
    ``κ = Σ_k a_k u_k + a_S`` and ``κ_b = Σ_k c_k u_k + c_S`` (docs/theory.md §10).
    """

    def __init__(self, struct, q, deltas, g_w):
        self.q, self.g_w = q, g_w
        self.u = [1.0 / (1.0 + deltas[..., k]) for k in range(len(struct.components))]
        self.A = struct.shift.alpha + sum(c.cov.alpha * u for c, u in zip(struct.components, self.u))
        self.B = struct.shift.beta + sum(c.cov.beta * u for c, u in zip(struct.components, self.u))
        self.e = struct.psi_p * q
        self.kappa = struct.shift_noise + sum(c.noise * u for c, u in zip(struct.components, self.u))
        self.kappa_b = struct.shift_coupling + sum(c.coupling * u for c, u in zip(struct.components, self.u))

    def at(self, index):
        """The same quantities at a subset (or broadcast view) of the nodes."""
        out = object.__new__(_Point)
        for name in ("q", "g_w", "A", "B", "e", "kappa", "kappa_b"):
            value = getattr(self, name)
            setattr(out, name, value[index] if np.ndim(value) else value)
        out.u = [u[index] for u in self.u]
        return out


def _pair_traces(struct, law, s1, s2):
    """``T(z1, z2) = (1/d) Tr[K R1 P R2]`` and ``T_VV(z1, z2) = (1/d) Tr[Vᵀ R1 P R2 V]`` (docs/theory.md §5, §10).

    W level (§5): for symbols ``X = W (a_x σ + b_x) Wᵀ/d + x0 I``, with ``w_i = 1/(1 + e_i m_i(σ))``,
    ``Π = q1 q2/(1 − ψ_p q1 q2 ⟨m1 m2 w1 w2⟩)``,
    ``⟨X, Y⟩ = e1 e2 ⟨x y w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0) = lim (1/d) Tr[X R̄1 Y R̄2]``.
    G level (one φ per Wishart component): ``(I − D M) φ = D t`` with ``M_kl = ⟨C_k, C_l⟩/ψ_k``,
    ``t_k = ⟨C_k, P⟩/ψ_k``, ``D = diag(u_k(z1) u_k(z2))``, ``ψ_k = N_k/d``; then
    ``T = ⟨K, P⟩ + Σ_k φ_k ⟨K, C_k⟩`` and, with the noise weights of :class:`_Point`,
    ``T_VV = κ_b(z1) κ_b(z2) T + Σ_k φ_k (a_k − c_k (κ_b(z1) g_W(z1) + κ_b(z2) g_W(z2)))``.
    """
    return _pair_traces_many(struct, law, s1, s2, (struct.population,))[0]


def _pair_traces_many(struct, law, s1, s2, symbols):
    """``[(T, T_VV)]`` of :func:`_pair_traces` for each matrix symbol in ``symbols`` in place of ``U_pop``
    (both are linear in the symbol; the symbol-independent parts are computed once)."""
    e12 = s1.e * s2.e
    P0, P1, P2 = _pair_moments(law, 1 + s1.e * s1.B, s1.e * s1.A, 1 + s2.e * s2.B, s2.e * s2.A)
    m1m2 = s1.B * s2.B * P0 + (s1.A * s2.B + s2.A * s1.B) * P1 + s1.A * s2.A * P2
    psi_pi = struct.psi_p * s1.q * s2.q / (1 - struct.psi_p * s1.q * s2.q * m1m2)
    parts = {}

    def part(X):
        """``(⟨x σ w1 w2⟩, ⟨x w1 w2⟩, ⟨x w1 w2⟩ + x0)`` of a symbol, computed once per symbol."""
        if X not in parts:
            upper = _combine(X.alpha, P2, X.beta, P1)
            lower = _combine(X.alpha, P1, X.beta, P0)
            parts[X] = (upper, lower, lower + X.x0)
        return parts[X]

    def bracket(X, Y):
        """``⟨X, Y⟩ = e1 e2 ⟨x y w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0)``."""
        (uy, ly, Ly), (_, _, Lx) = part(Y), part(X)
        return e12 * _combine(X.alpha, uy, X.beta, ly) + psi_pi * Lx * Ly

    K = _K_SYMBOL
    comps = struct.components
    D = [u1 * u2 for u1, u2 in zip(s1.u, s2.u)]
    M = [[None] * len(comps) for _ in comps]
    for k, ck in enumerate(comps):
        for j in range(k, len(comps)):
            both = bracket(ck.cov, comps[j].cov)                  # symmetric in the two symbols
            M[k][j] = D[k] * both / ck.ratio
            M[j][k] = D[j] * both / comps[j].ratio
    KC = [bracket(c.cov, K) for c in comps]
    noisy = any(c.noise for c in comps)
    if noisy:
        both = s1.kappa_b * s1.g_w + s2.kappa_b * s2.g_w
    out = []
    for P in symbols:
        t = [D[k] * bracket(c.cov, P) / c.ratio for k, c in enumerate(comps)]
        phi = _solve_small(M, t)
        T = bracket(K, P) + sum(f * kc for f, kc in zip(phi, KC))
        TVV = s1.kappa_b * s2.kappa_b * T
        if noisy:
            TVV = TVV + sum(f * (c.noise - c.coupling * both) for f, c in zip(phi, comps))
        out.append((T, TVV))
    return out


def _combine(a, X, b, Y):
    """``a X + b Y`` for scalar a, b, skipping zero coefficients (the symbols are sparse)."""
    if a == 0:
        return b * Y if b != 1 else Y
    if b == 0:
        return a * X
    return a * X + b * Y


def _solve_small(M, t):
    """Solve ``φ = t + M φ`` (K ≤ 2 in closed form, else batched) for arrays of pairs."""
    if len(t) == 1:
        return [t[0] / (1 - M[0][0])]
    if len(t) == 2:
        a, b, c, d = 1 - M[0][0], -M[0][1], -M[1][0], 1 - M[1][1]
        det = a * d - b * c
        return [(d * t[0] - b * t[1]) / det, (a * t[1] - c * t[0]) / det]
    k = len(t)
    shape = np.broadcast(*t).shape
    mat = np.eye(k) - np.stack([np.stack([np.broadcast_to(M[i][j], shape) for j in range(k)], -1)
                                for i in range(k)], -2)
    sol = np.linalg.solve(mat, np.stack([np.broadcast_to(x, shape) for x in t], -1)[..., None])[..., 0]
    return [sol[..., i] for i in range(k)]


def _pair_change(fh, cross, TVV):
    """``(1/2πi)² ∮∮ f f TVV + (2/2πi) ∮ f cross`` from the weighted filters ``fh = f_τ(z_j) h_j`` (the change
    of a test-type loss from its τ = 0 value)."""
    return (np.einsum("ij,ij->i", fh @ TVV, fh) + 2 * (fh @ cross)).real


#: The symbol of ``K = W Wᵀ/d``.
_K_SYMBOL = Symbol(0.0, 1.0, 0.0)


def _deltas(st):
    """Per-component δ's of a Stieltjes solution, shape ``z.shape + (K,)``."""
    deltas = getattr(st, "deltas", None)
    return st.delta[..., None] if deltas is None else deltas


def _solve(model, z):
    st = stieltjes(model, z)
    if st.n_failed:
        raise SolverError(f"the one-point solver failed at {st.n_failed} contour points, "
                          f"e.g. z = {np.asarray(z).ravel()[~st.converged.ravel()][:3]}")
    return st


def two_point(model, z1, z2):
    """Two-point deterministic equivalent ``T(z1, z2) = lim (1/d) Tr[K R(z1) U_pop R(z2)]``.

    Parameters
    ----------
    model : RFModel
    z1, z2 : array_like of complex
        Points off the spectrum of U (broadcast together).

    Returns
    -------
    complex ndarray

    Notes
    -----
    docs/theory.md §5. With ``q_i, δ_i`` from §4, ``e_i = ψ_p q_i``, ``m_i(σ) = b² + e^{-2t}μ1²σ/(1+δ_i)``,
    ``w_i = 1/(1 + e_i m_i)`` and ``Π = q1 q2/(1 − ψ_p q1 q2 ⟨m1 m2 w1 w2⟩)``, a p×p matrix
    ``W x(Σ) Wᵀ/d + x0 I`` has the bracket
    ``⟨X, Y⟩ = ⟨x y e1 e2 w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0)`` and

    .. math:: T = ⟨K, P⟩ + \\frac{β_P}{1 − β_C} ⟨K, C⟩, \\qquad β_X = \\frac{⟨C, X⟩}{ψ_n (1+δ_1)(1+δ_2)},

    ``K = (1, 0)``, ``C = (e^{-2t}μ1²σ, v²)``, ``P = U_pop = (μ1²(e^{-2t}σ + Δ_t), v² + s²)``.
    Symmetric in ``z1 ↔ z2``; ``T ≈ [(ψ_p² + ψ_p)⟨x_P⟩ + ψ_p(v² + s²)]/(z1 z2)`` at large |z|
    (``derivations/two_point.py``).
    """
    z1, z2 = np.broadcast_arrays(np.asarray(z1, dtype=complex), np.asarray(z2, dtype=complex))
    struct = structure(model)
    s1, s2 = (_Point(struct, st.q, _deltas(st), st.g_w) for st in (_solve(model, z1), _solve(model, z2)))
    return _pair_traces(struct, struct.law, s1, s2)[0]


# --------------------------------------------------------------------------------------------------
# Contours (docs/theory.md §6)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ellipse:
    """Ellipse ``w(θ) = c + L cosh μ cos θ + i L sinh μ sin θ`` in ``w = log z`` around one group of bulks."""

    intervals: tuple
    c: float
    L: float
    mu: float

    def nodes(self, n):
        """``z_j`` and weights ``h_j`` with ``(1/2πi)∮ F dz ≈ Σ F(z_j) h_j`` (trapezoid, θ_j = 2πj/n)."""
        theta = 2 * np.pi * np.arange(n) / n
        ch, sh = self.L * math.cosh(self.mu), self.L * math.sinh(self.mu)
        z = np.exp(self.c + ch * np.cos(theta) + 1j * sh * np.sin(theta))
        dw = -ch * np.sin(theta) + 1j * sh * np.cos(theta)
        return z, z * dw / (1j * n)


def _ellipses(sup):
    """One ellipse per group of bulks; atoms > 0 are kept outside unless merged into a group.

    Items (bulks, and atoms as zero-length items) are taken in ``log λ``; neighbours closer than the
    larger half-length of the two are grouped (a thin gap would make the separating ellipses converge
    slowly); groups made of atoms only are dropped (atoms carry no μ_W weight and no
    pole of ``g_W`` or ``T``, docs/theory.md §3). Each ellipse has foci at its group's ends and the parameter
    ``μ`` half-way to the nearest obstacle: the next item on the real axis, or ``|Im w| = π/2`` (beyond
    which ``e^{−κτz}`` grows), so the trapezoid rule converges like ``e^{−μ n}`` uniformly in τ.
    """
    items = [(math.log(lo), math.log(hi), ((lo, hi),)) for lo, hi in sup.intervals if lo > 0]
    if len(items) != len(sup.intervals):
        raise SolverError("a bulk of U reaches λ = 0, which the log-space contour cannot enclose: with m "
                          "frozen draws this is the interpolation threshold p = n·m (psi_p = m·psi_n), where "
                          "the ridgeless end point diverges; move psi_p or psi_n off it (e.g. by 0.1%)")
    items += [(math.log(loc), math.log(loc), ()) for loc, _ in sup.atoms if loc > 0]
    items.sort()
    groups = [list(items[0])]
    for lo, hi, iv in items[1:]:
        g = groups[-1]
        if lo - g[1] < max(g[1] - g[0], hi - lo) / 2:
            g[1], g[2] = max(g[1], hi), g[2] + iv
        else:
            groups.append([lo, hi, iv])
    out = []
    for i, (lo, hi, iv) in enumerate(groups):
        if not iv:
            continue
        L = max(0.5 * (hi - lo), 1e-9)
        gap = min(lo - groups[i - 1][1] if i > 0 else np.inf,
                  groups[i + 1][0] - hi if i + 1 < len(groups) else np.inf)
        mu_lim = min(math.acosh(1 + gap / L) if np.isfinite(gap) else np.inf,
                     math.asinh(0.5 * math.pi / L), ELLIPSE_MU_MAX)
        out.append(_Ellipse(iv, 0.5 * (lo + hi), L, 0.5 * mu_lim))
    return out


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LossDecomposition(Result):
    """Loss changes carried by each group of bulks of U.

    Attributes
    ----------
    tau : ndarray, shape (m,)
    intervals : list of list of (lo, hi)
        The bulks of each group (bulks closer than their widths in log λ share a group).
    mass_w : ndarray, shape (g,)
        μ_W mass of each group (they add up to ψ_p).
    train, test, score_error : ndarray, shape (g, m)
        Change of ``L_train``, ``L_test`` and ``E_score`` from their τ = 0 values carried by each group.
        Summed over groups they give ``L − 1`` and ``E_score − ⟨1/Σ_t⟩``.

    Notes
    -----
    With ``P_g`` the spectral projector of U on group g, the train change is
    ``(1/d) Tr[Vᵀ ψ_τ(U) P_g V]``; the test change is ``(1/d) Tr[Vᵀ f_τ(U) P_g U_pop f_τ(U) V] −
    2 (1/d) Tr[V_popᵀ f_τ(U) P_g V]`` (filters of :class:`LearningDynamics`; ``V = V_pop = b W/√d`` for exact
    noise averages): each cross term between two groups is shared between them, so the changes add up
    exactly. The score-error change is the test change divided by Δ_t.
    """

    tau: np.ndarray
    intervals: list
    mass_w: np.ndarray
    train: np.ndarray
    test: np.ndarray
    score_error: np.ndarray



# --------------------------------------------------------------------------------------------------
# Learning dynamics
# --------------------------------------------------------------------------------------------------

class LearningDynamics:
    """Closed-form gradient-flow dynamics of the limiting model: one spectral solve, then any τ.

    Parameters
    ----------
    model : RFModel
    tol : float
        Target absolute accuracy of the losses; each ellipse's node count is doubled (from 16, up to
        ``max_nodes``) until the rule with half the nodes agrees with it to ``tol`` on probe functionals
        (train and test contributions at τ = ∞ and at three τ around the group's own timescale).
    max_nodes : int
        Cap on the nodes of one ellipse; reaching it without convergence issues a :class:`~rfdiff.results.ConvergenceWarning` and
        the curves' ``status`` becomes ``"fallback"``.

    Attributes
    ----------
    model, coefficients, support, structure
    ellipses : list
        The contour, one ellipse per group of bulks.
    z, h : complex ndarray
        Contour nodes and trapezoid weights, ``(1/2πi)∮ F dz ≈ Σ F(z_j) h_j``.
    g_w, T : complex ndarray
        ``g_W(z_j)`` and ``T(z_j, z_k) = (1/d) Tr[K R(z_j) U_pop R(z_k)]`` (docs/theory.md §4–5).
    lin, cross, TVV : complex ndarray
        ``(1/d) Tr[Vᵀ R V] − const``, ``(1/d) Tr[V_popᵀ R V]`` at the nodes and
        ``(1/d) Tr[Vᵀ R(z_j) U_pop R(z_k) V]`` (docs/theory.md §10; for exact noise averages
        ``V = b W/√d``: ``lin = cross = b² g_W`` and ``TVV = b² T``).
    inv_sigma_t : float
        ``⟨1/Σ_t⟩ = lim Tr Σ_t^{-1}/d``.

    Notes
    -----
    docs/theory.md §3, §6 and §10–11, with ``κ = 2Δ_t/ψ_p``, weight decay ω, ``f_τ(z) = (1 − e^{−κτ(z+ω)})/(z+ω)``
    and the train filter ``ψ_τ(z) = z f_τ(z)² − 2 f_τ(z)`` (``= −(1 − e^{−2κτz})/z`` when ω = 0):

    * ``L_train(τ) = 1 + (1/d) Tr[Vᵀ ψ_τ(U) V] = 1 − (1/2πi)∮ ψ_τ(z) lin(z) dz`` (the constant part of
      ``(1/d) Tr[Vᵀ R V]`` integrates to zero against the entire ψ_τ);
    * ``L_test(τ) = 1 + (1/2πi)² ∮∮ f_τ(z1) f_τ(z2) TVV(z1, z2) dz1 dz2 + (2/2πi) ∮ f_τ(z) cross(z) dz``;
    * ``E_score(τ) = (L_test(τ) − 1)/Δ_t + ⟨1/Σ_t⟩`` (docs/theory.md §1).
    """

    def __init__(self, model, *, tol=CONTOUR_TOL, max_nodes=CONTOUR_MAX_NODES):
        tol = positive("tol", tol)
        max_nodes = integer("max_nodes", max_nodes, CONTOUR_START_NODES)
        self.model = model
        self.unconverged = []
        self.structure = structure(model)
        mixture = bool(self.structure.classes)
        #: single-Gaussian constants (None for mixtures: see ``class_coefficients``)
        self.coefficients = None if mixture else ge_coefficients(model)
        self.class_coefficients = class_coefficients(model)
        self._delta_t = -math.expm1(-2.0 * float(model.t))
        self.support = support(model, edge_rtol=1e-8)
        self.ellipses = _ellipses(self.support)
        self.inv_sigma_t = float(np.real(model.data.averages(self._delta_t, math.exp(-2.0 * float(model.t)))[0]))
        self._kappa = model.kappa
        self._decay = float(getattr(model, "weight_decay", 0.0))
        parts = self._adapt(tol, max_nodes)
        self.z = np.concatenate([p[0] for p in parts])
        self.h = np.concatenate([p[1] for p in parts])
        point = _Point(self.structure, *(np.concatenate([p[2][k] for p in parts]) for k in range(3)))
        self.g_w = point.g_w
        self.n_fallback = sum(p[3] for p in parts)
        messages = []
        if self.n_fallback:
            messages.append(f"{self.n_fallback} contour points used the solver's edge fallback")
        if self.unconverged:
            messages.append("; ".join(self.unconverged))
        self.status = "fallback" if messages else "ok"
        self.message = "; ".join(messages)
        self.lin, self.cross, self.T, self.TVV = self._assemble(parts)
        self._point = point
        self._class_traces = None
        self.group = np.concatenate([np.full(p[0].size, i) for i, p in enumerate(parts)])
        # nodes of the half rule: every other node of each ellipse
        starts = np.cumsum([0] + [p[0].size for p in parts[:-1]])
        self._coarse = np.concatenate([s + np.arange(0, p[0].size, 2) for s, p in zip(starts, parts)])

    def tau_window(self) -> tuple[float, float]:
        """Default τ range of this model (:func:`rfdiff.settings.tau_window` on U's extreme bulk edges)."""
        return tau_window(self._kappa, self.support.intervals[0][0], self.support.lambda_max)

    def _assemble(self, parts):
        """``lin, cross, T, TVV`` on all nodes: each ellipse's own block is the one its refinement computed;
        only the pairs between different ellipses are new."""
        lin = np.concatenate([p[4][0] for p in parts])
        cross = np.concatenate([p[4][1] for p in parts])
        if len(parts) == 1:
            return lin, cross, parts[0][4][2], parts[0][4][3]
        points = [_Point(self.structure, *p[2]) for p in parts]
        rows_T, rows_TVV = [], []
        for i, pi in enumerate(points):
            row_T, row_TVV = [], []
            for j, pj in enumerate(points):
                if i == j:
                    T, TVV = parts[i][4][2], parts[i][4][3]
                else:
                    T, TVV = _pair_traces(self.structure, self.structure.law, pi.at((slice(None), None)),
                                          pj.at((None, slice(None))))
                row_T.append(T)
                row_TVV.append(TVV)
            rows_T.append(row_T)
            rows_TVV.append(row_TVV)
        return lin, cross, np.block(rows_T), np.block(rows_TVV)

    def _node_traces(self, point):
        """``lin``, ``cross`` at the nodes of ``point`` (the n trapezoid nodes of one ellipse) and ``T``, ``TVV``
        between them (class docstring).

        The ellipse is symmetric about the real axis, node ``n − j`` being the conjugate of node j, and the
        traces are real-analytic (``T(z̄1, z̄2) = conj T(z1, z2)``): only the rows of the nodes with
        ``Im z ≥ 0`` are computed, the others are their conjugates.
        """
        st = self.structure
        lin = (st.shift_noise - point.kappa) + point.kappa_b ** 2 * point.g_w
        cross = st.population_coupling * point.kappa_b * point.g_w
        n = lin.size
        upper = np.arange(n // 2 + 1)                         # θ ∈ [0, π]: Im z ≥ 0
        mirror = (-np.arange(n)) % n                          # node of the conjugate point
        T_up, TVV_up = _pair_traces(st, st.law, point.at((upper, None)), point.at((None, slice(None))))
        rows = np.where(np.arange(n) <= n // 2, np.arange(n), mirror)         # a row's computed twin
        flip = np.arange(n) > n // 2
        T = np.where(flip[:, None], np.conj(T_up[rows][:, mirror]), T_up[rows])
        TVV = np.where(flip[:, None], np.conj(TVV_up[rows][:, mirror]), TVV_up[rows])
        return lin, cross, T, TVV

    def _adapt(self, tol, max_nodes):
        """Double the nodes of every ellipse until its probe contributions agree with the half rule.

        All ellipses still refining share one solver call per round. Returns, per ellipse,
        ``(z, h, (q, δ's, g_W), n_fallback, (lin, cross, T, TVV))``.
        """
        done = [None] * len(self.ellipses)
        n = CONTOUR_START_NODES
        while True:
            todo = [i for i, d in enumerate(done) if d is None]
            if not todo:
                return done
            nodes = [self.ellipses[i].nodes(n) for i in todo]
            st = _solve(self.model, np.concatenate([z for z, _ in nodes]))
            deltas = _deltas(st)
            start = 0
            for i, (z, h) in zip(todo, nodes):
                sl = slice(start, start + n)
                start += n
                sol = (st.q[sl], deltas[sl], st.g_w[sl])
                traces = self._node_traces(_Point(self.structure, *sol))
                lin, cross, _, TVV = traces
                probe = np.append(CONTOUR_PROBES, np.inf) / (self._kappa * math.exp(self.ellipses[i].c))
                fine = self._evaluate(probe, z, h, lin, cross, TVV)
                coarse = self._evaluate(probe, z[::2], 2 * h[::2], lin[::2], cross[::2], TVV[::2, ::2])
                err = max(np.max(np.abs(a - b)) for a, b in zip(fine[:2], coarse[:2]))
                if err <= tol or 2 * n > max_nodes:
                    if err > tol:
                        note = (f"contour around {self.ellipses[i].intervals} not converged with {n} nodes "
                                f"(N vs N/2 difference {err:.2e} > tol {tol:.1e})")
                        self.unconverged.append(note)
                        warnings.warn(note, ConvergenceWarning, stacklevel=3)
                    done[i] = (z, h, sol, int(np.count_nonzero(st.point_status[sl] == STATUS_FALLBACK)), traces)
            n *= 2

    def _weights(self, tau, z):
        """``f_τ(z)`` and the train filter ``ψ_τ(z)`` for all (τ, z) (class docstring); at τ = ∞
        ``f = 1/(z+ω)``, ``ψ = z/(z+ω)² − 2/(z+ω)`` (Re z > 0 on the contour)."""
        zw = z + self._decay
        x = self._kappa * np.where(np.isinf(tau), 0.0, tau)[:, None] * zw[None, :]
        inf = np.isinf(tau)[:, None]
        f = np.where(inf, 1.0 / zw, -np.expm1(-x) / zw)
        if self._decay:
            return f, (z * f - 2.0) * f
        return f, -np.where(inf, 1.0 / z, -np.expm1(-2 * x) / z)

    def _evaluate(self, tau, z, h, lin, cross, TVV, by_node=False):
        """``(train − 1, test − 1)`` and the score-error change, or their per-node shares."""
        f, psi = self._weights(tau, z)
        fh = f * h
        train = -(psi * h * lin)
        test = fh * (fh @ TVV) + 2 * fh * cross          # TVV symmetric
        parts = (train, test, test / self._delta_t)
        if by_node:
            return parts
        return tuple(p.sum(axis=1).real for p in parts)

    def __call__(self, taus) -> LossCurves:
        """Train, test and score-error curves at the training times ``taus`` (``np.inf`` allowed)."""
        tau = check_taus(taus)
        dtrain, dtest, dscore = self._evaluate(tau, self.z, self.h, self.lin, self.cross, self.TVV)
        k = self._coarse
        ctrain, ctest, _ = self._evaluate(tau, self.z[k], 2 * self.h[k], self.lin[k], self.cross[k],
                                          self.TVV[np.ix_(k, k)])
        quad_error = np.maximum(np.abs(dtrain - ctrain), np.abs(dtest - ctest))
        train, test = 1.0 + dtrain, 1.0 + dtest
        return LossCurves(tau, train, test, dscore + self.inv_sigma_t, test - train, quad_error=quad_error,
                          nodes=int(self.z.size), n_fallback=int(self.n_fallback), source="theory",
                          model=self.model, status=self.status, message=self.message)

    def _per_class_traces(self):
        """Per class c of a mixture: ``cross_c``, ``TVV_c`` (population ``P_c``, ``V_pop,c = b_c W/√d``) and,
        for m = ∞, the train pair ``TVV`` of ``U_c = (1/N_c) Y_c Y_cᵀ + H_c`` (docs/theory.md §12)."""
        if self._class_traces is None:
            st, pt = self.structure, self._point
            comps = st.components
            exact = math.isinf(getattr(self.model, "m", math.inf))
            # TVV is linear in the symbol: three basis symbols (σ-part, W-part, identity) give every class's
            basis = _pair_traces_many(st, st.law, pt.at((slice(None), None)), pt.at((None, slice(None))),
                                      (Symbol(1.0, 0.0, 0.0), Symbol(0.0, 1.0, 0.0), Symbol(0.0, 0.0, 1.0)))

            def tvv(X):
                return X.alpha * basis[0][1] + X.beta * basis[1][1] + X.x0 * basis[2][1]

            out = []
            for i, part in enumerate(st.classes):
                cross = part.coupling * pt.kappa_b * pt.g_w
                train_vv = None
                if exact:
                    # U_c = (1/N_c) Y_c Y_cᵀ + H_c; component i holds the columns scaled by √π_c
                    D = pt.u[i][:, None] * pt.u[i][None, :]
                    shift_c = _class_symbols(self.class_coefficients[i])[1]      # H_c = (b_c², s_c²)
                    train_vv = D * tvv(comps[i].cov) / part.weight + tvv(shift_c)
                out.append((cross, tvv(part.population), train_vv))
            self._class_traces = out
        return self._class_traces

    def per_class(self, taus) -> tuple:
        """Train, test and score-error curves of each class of a Gaussian-mixture model (docs/theory.md §12).

        Parameters
        ----------
        taus : array_like of float
            Training times (``np.inf`` allowed).

        Returns
        -------
        tuple of LossCurves
            One per class c: ``test`` is the loss on fresh points of class c,
            ``L_test,c = 1 + (1/d) Tr[Vᵀ f_τ U_pop,c f_τ V] − (2/d) Tr[V_pop,cᵀ f_τ V]`` with
            ``U_pop,c = P_c`` and ``V_pop,c = b_c W/√d``; ``score_error = (L_test,c − 1)/Δ_t + ⟨1/Σ_t,c⟩`` is the
            error against class c's score ``−Σ_t,c^{-1} y``; ``train`` is the loss on the training points of
            class c, ``U`` replaced by ``U_c = (1/N_c) Y_c Y_cᵀ + H_c`` (whose two-point trace is
            ``u_c(z1) u_c(z2) T[C_c] + T[H_c]``, ``u_c = 1/(1 + δ_c)``) and V by ``b_c W/√d``; NaN with finite m
            (not derived). ``Σ_c π_c`` of the class curves gives the overall curves.

        Raises
        ------
        ValueError
            If the model's data is not a :class:`rfdiff.GaussianMixture`.
        """
        if not self.structure.classes:
            raise ValueError("model.data is not a GaussianMixture: per-class curves need mixture data")
        tau = check_taus(taus)
        k = self._coarse
        fh = self._weights(tau, self.z)[0] * self.h
        fhc = fh[:, k] * 2
        out = []
        for i, (cross, TVV, train_vv) in enumerate(self._per_class_traces()):
            law = self.model.data.laws[i]
            inv = float(np.real(law.averages(self._delta_t, math.exp(-2.0 * float(self.model.t)))[0]))
            test = _pair_change(fh, cross, TVV)
            ctest = _pair_change(fhc, cross[k], TVV[np.ix_(k, k)])
            err = np.abs(test - ctest)
            message = self.message
            if train_vv is None:
                train = np.full(tau.shape, np.nan)
                message = "; ".join(x for x in (message, "per-class train loss not derived for finite m") if x)
            else:
                train = _pair_change(fh, cross, train_vv)
                ctrain = _pair_change(fhc, cross[k], train_vv[np.ix_(k, k)])
                err = np.maximum(err, np.abs(train - ctrain))
                train = 1.0 + train
            test = 1.0 + test
            out.append(LossCurves(tau, train, test, (test - 1.0) / self._delta_t + inv, test - train,
                                  quad_error=err, nodes=int(self.z.size), n_fallback=int(self.n_fallback),
                                  source="theory", model=self.model, status=self.status, message=message))
        return tuple(out)

    def decompose_classes(self, taus) -> tuple:
        """Per-class loss changes carried by each group of bulks of U (Gaussian mixtures; docs/theory.md §6, §12).

        Returns
        -------
        tuple of LossDecomposition
            One per class: the changes of its train loss (NaN with finite m), test loss and score error, by
            group; summed over groups they give the class curves of :meth:`per_class` minus their τ = 0 values.
        """
        if not self.structure.classes:
            raise ValueError("model.data is not a GaussianMixture: per-class curves need mixture data")
        tau = check_taus(taus)
        f, _ = self._weights(tau, self.z)
        fh = f * self.h
        groups = range(len(self.ellipses))
        mass = np.array([(-(self.h * self.g_w)[self.group == i]).sum().real for i in groups])

        def split(nodes):
            return np.array([nodes[:, self.group == i].sum(axis=1).real for i in groups])

        out = []
        for cross, TVV, train_vv in self._per_class_traces():
            test = split(fh * (fh @ TVV) + 2 * fh * cross)
            train = (np.full_like(test, np.nan) if train_vv is None
                     else split(fh * (fh @ train_vv) + 2 * fh * cross))
            out.append(LossDecomposition(tau, [list(e.intervals) for e in self.ellipses], mass, train, test,
                                         test / self._delta_t))
        return tuple(out)

    def class_timescales(self, options=None, **kwargs) -> tuple:
        """``(tau_gen, tau_mem)`` of each class's test loss (:meth:`per_class`), with the definitions of
        :func:`rfdiff.timing.timescales_from_curve` over :meth:`tau_window` (docs/theory.md §7, §12).

        Returns
        -------
        tuple of (float, float)
        """
        from .timing import timescales_from_curve  # timing builds on this module

        lo, hi = self.tau_window()
        return tuple(timescales_from_curve(lambda taus, i=i: self.per_class(taus)[i], lo, hi, options=options,
                                           **kwargs) for i in range(len(self.structure.classes)))

    def test_derivative(self, taus) -> np.ndarray:
        """``dL_test/dτ`` at ``taus`` (exact derivative of the contour formula; 0 at τ = ∞).

        Notes
        -----
        ``dL_test/dτ = 2 (Q[f_τ, ∂_τ f_τ] + (1/2πi)∮ ∂_τ f_τ cross dz)`` with ``∂_τ f_τ(z) = κ e^{−κτ(z+ω)}``
        and the symmetric bilinear form ``Q[φ, χ] = (1/2πi)² ∮∮ φ(z1) χ(z2) TVV(z1, z2) dz1 dz2``.
        """
        tau = check_taus(taus)
        f, _ = self._weights(tau, self.z)
        finite = np.where(np.isinf(tau), 0.0, tau)[:, None]
        df = np.where(np.isinf(tau)[:, None], 0.0,
                      self._kappa * np.exp(-self._kappa * finite * (self.z + self._decay)))
        fh, dfh = f * self.h, df * self.h
        slope = np.einsum("ij,ij->i", dfh @ self.TVV, fh) + (dfh * self.cross).sum(axis=1)
        return 2 * slope.real

    def decompose(self, taus) -> LossDecomposition:
        """Loss changes carried by each group of bulks of U as functions of τ (see :class:`LossDecomposition`)."""
        tau = check_taus(taus)
        parts = self._evaluate(tau, self.z, self.h, self.lin, self.cross, self.TVV, by_node=True)
        groups = range(len(self.ellipses))
        split = [np.array([p[:, self.group == i].sum(axis=1).real for i in groups]) for p in parts]
        mass = np.array([(-(self.h * self.g_w)[self.group == i]).sum().real for i in groups])
        return LossDecomposition(tau, [list(e.intervals) for e in self.ellipses], mass, *split)


def loss_curves(model, taus, **options) -> LossCurves:
    """Exact train, test and score-error curves of the limiting model along gradient flow.

    Parameters
    ----------
    model : RFModel
    taus : array_like of float
        Training times ≥ 0 in docs/theory.md §1's convention (``dA/dτ = −d² ∇_A L_train``); ``np.inf`` gives
        the end of training. Convert GD steps with :func:`tau_from_steps` or
        :func:`tau_from_seed_epoch_lr`.
    **options
        ``tol``, ``max_nodes`` of :class:`LearningDynamics`.

    Returns
    -------
    LossCurves

    Notes
    -----
    ``LearningDynamics(model, **options)(taus)``; keep the :class:`LearningDynamics` object to evaluate
    more times without solving again. Equations: docs/theory.md §3, §5, §6.

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> from rfdiff.curves import loss_curves
    >>> c = loss_curves(rd.RFModel(psi_p=64, psi_n=8, t=0.01), [0.0, np.inf])
    >>> float(c.train[0]), float(c.test[0])
    (1.0, 1.0)
    """
    dyn = LearningDynamics(model, **options)
    curves = dyn(taus)
    if dyn.structure.classes:   # Gaussian mixture: attach the per-class curves (docs/theory.md §12)
        curves = dataclasses.replace(curves, classes=dyn.per_class(taus))
    return curves
