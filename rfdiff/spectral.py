"""Spectrum of the feature covariance U: the one-point fixed point of docs/theory.md §4.

For ``z ∈ C \\ R`` the limit ``q(z) = lim (1/p) Tr (U − z)^{-1}`` solves, together with ``δ(z)``,

.. math::

    m(σ) = b^2 + \\frac{e^{-2t} μ_1^2 σ}{1 + δ}, \\qquad
    c = s^2 − z + \\frac{v^2}{1 + δ},

    q = \\Big( c + \\Big\\langle \\frac{m}{1 + ψ_p q m} \\Big\\rangle \\Big)^{-1}, \\qquad
    δ = \\frac{ψ_p}{ψ_n} q \\Big( e^{-2t} μ_1^2 \\Big\\langle \\frac{σ}{1 + ψ_p q m} \\Big\\rangle + v^2 \\Big),

with ``⟨·⟩`` the average over the data-covariance law ρ_Σ. The solver is a complex Newton method on
``(q, δ)`` with the analytic Jacobian, compiled with numba, run point by point along a path
``z = λ + iη`` with η decreasing geometrically from far above the spectrum (where ``q ≈ −1/z``) to the
target; each continuation step must converge and stay on the physical (Herglotz) branch
``Im q ≥ 0, Im δ ≥ 0`` or it is retried with a smaller step. Points on the real axis are reached by a
last Newton solve at ``η = 0``; where that solve cannot be verified (within ~1e-11 relative of a bulk
edge) the value at ``η = 10^{-11}·|λ − s_t²|`` is returned and the point is counted as a fallback.

Every tolerance, iteration cap and step factor is a named constant in the next section; the compiled
kernels receive the model's constants as a :class:`KernelParams` named tuple, and the Marchenko–Pastur
closed forms come from :func:`rfdiff._mp.mp_transforms` (the same code as
:meth:`rfdiff.MarchenkoPastur.transforms`). Results say how they were obtained: :class:`Stieltjes`
has a status and an iteration count per point, :class:`Spectrum` and :class:`Support` a status and
message (:class:`rfdiff.results.Result`) and their diagnostics. A bulk narrower than the rounding
of λ (e.g. the memorization bulk at large t, of width ~v_t²) is reported by :func:`support` as an atom.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar, NamedTuple

import numba as nb
import numpy as np

from ._mp import mp_transforms
from .results import Result, SolverError
from .structure import structure
from .data import DiscreteSpectrum, MarchenkoPastur

__all__ = ["Stieltjes", "Spectrum", "Support", "SolverError", "stieltjes", "spectrum", "support",
           "spectral_bound", "atom_mass"]

# --------------------------------------------------------------------------------------------------
# Solver constants (every tolerance, cap and step factor of the solver, in one place)
# --------------------------------------------------------------------------------------------------

#: Relative height of the lowest continuation level, ``η_floor = ETA_FLOOR · |λ − s_t²|``: real points
#: whose final solve at ``η = 0`` cannot be verified return the value at ``λ + iη_floor`` (fallback).
ETA_FLOOR = 1e-11
#: Largest residual ``max(|qS − 1|, |F_δ|/(1+|δ|))`` a returned solution may have (else it is marked failed).
VERIFY_TOL = 1e-9

#: Newton converges when the residual is at rounding level, ``|F1| ≤ NEWTON_RESIDUAL_TOL`` and
#: ``|F2| ≤ NEWTON_RESIDUAL_TOL·(1 + |δ|)``, or, once the iterates stagnate, ``|F1| ≤ NEWTON_RESIDUAL_TOL·R1``
#: and ``|F2| ≤ NEWTON_RESIDUAL_TOL·R2`` with ``R1, R2`` the sizes of the terms that make up
#: ``F1 = qS − 1`` and ``F2`` (they set the rounding level when ``|q|`` is large, e.g. inside a narrow
#: bulk); or when the last step was below the relative step tolerance.
NEWTON_RESIDUAL_TOL = 1e-14
#: The term sizes ``R1, R2`` are evaluated only once a Newton step was below this relative size (the
#: iterates stagnate at rounding level); before that the plain test applies.
NEWTON_ROUNDING_STEP = 1e-10
#: Relative step tolerance of the first solve far above the spectrum (error after it is O(1e-16)).
NEWTON_START_RTOL = 1e-8
#: Relative step tolerance at intermediate continuation levels (they only need to start the next one).
NEWTON_STEP_RTOL = 1e-7
#: Relative step tolerance of the last continuation level and of the final solve on the real axis.
NEWTON_FINAL_RTOL = 1e-14
#: Newton iteration caps: the start far above the spectrum, each continuation level, the final solve
#: at ``η = 0``.
NEWTON_MAXIT_START = 50
NEWTON_MAXIT_STEP = 8
NEWTON_MAXIT_FINAL = 40

#: The continuation starts at ``η_top = CONT_TOP_FACTOR·(|x| + bound) + CONT_TOP_FACTOR·|y|`` (x, y the
#: real and imaginary parts of the offset ``z − s²``, ``bound = spectral_bound − s²``), where
#: ``q ≈ −1/z`` is an accurate start.
CONT_TOP_FACTOR = 10.0
#: The first step in ``log η`` is the whole distance divided by this.
CONT_FIRST_DIVISOR = 8.0
#: A step that converged on the physical branch grows the next one by this factor...
CONT_GROW = 2.0
#: ...one that failed is retried this much shorter.
CONT_SHRINK = 0.25
#: Smallest step in ``log η`` before the point is declared failed.
CONT_MIN_STEP = 1e-8
#: Largest number of continuation steps (accepted or not) before the point is declared failed.
CONT_MAX_STEPS = 400
#: Physical (Herglotz) branch test: ``Im q ≥ −HERGLOTZ_TOL·|q|`` and ``Im δ ≥ −HERGLOTZ_TOL·(1 + |δ|)``.
HERGLOTZ_TOL = 1e-12

#: A real point is inside a bulk when ``Im q(λ + i0) > INSIDE_TOL·|q|``.
INSIDE_TOL = 1e-8
#: Default density of the support scan, grid points per decade of the offset ``λ − s²``.
SCAN_POINTS_PER_DECADE = 150
#: The scan starts at ``x_lo = min(SCAN_FLOOR_REL·x_bound, SCAN_FLOOR_SCALE·v_t², SCAN_FLOOR_SCALE·b_t²)``
#: above s² (the memorization cluster sits at offsets of order v_t², the low edge of the bulk of
#: ``b_t² K`` at offsets of order b_t², which vanishes as t → 0), raised to the rounding floor of λ.
SCAN_FLOOR_REL = 1e-13
SCAN_FLOOR_SCALE = 1e-8
#: Each refinement of the support scan multiplies its density by this.
SCAN_REFINE_FACTOR = 4
#: Contour masses start with this many trapezoid nodes and double them up to ``CONTOUR_MAX_NODES``.
CONTOUR_MIN_NODES = 64
CONTOUR_MAX_NODES = 1 << 15
#: On the real axis ``Im q ≤ REAL_AXIS_EPS·|q|`` (rounding level) is a zero of the density.
REAL_AXIS_EPS = 8 * np.finfo(float).eps
#: A bulk is reported as an atom when its width is at most this many units in the last place of λ
#: (it cannot be resolved on any λ grid; its mass is kept, at its centre).
ATOM_WIDTH_ULPS = 4.0

STATUS_EXACT, STATUS_FALLBACK, STATUS_FAILED = 0, 1, 2


class KernelParams(NamedTuple):
    """Constants of one model passed to the compiled kernels: its Gaussian-equivalent structure
    (:func:`rfdiff.structure.structure`, docs/theory.md §4 and §10).

    Built once per model by :func:`_setup`; numba compiles it as a typed named tuple. Component k has the
    covariance symbol ``W diag(comp_alpha[k] σ + comp_beta[k]) Wᵀ/d + comp_x0[k] I`` and
    ``comp_r[k] = ψ_p/ψ_k = p/N_k``; the shift's W-part is ``W diag(shift_alpha σ + shift_beta) Wᵀ/d`` (its
    identity part is the origin of the offsets ω = z − origin).
    """

    #: ``ψ_p = p/d``.
    psi_p: float
    #: ``τ_Σ = ⟨σ⟩``.
    tau_sigma: float
    #: Marchenko–Pastur ρ_Σ: its ratio γ and scale (mean); 0 for a discrete law.
    mp_ratio: float
    mp_scale: float
    shift_alpha: float
    shift_beta: float
    comp_alpha: np.ndarray
    comp_beta: np.ndarray
    comp_x0: np.ndarray
    comp_r: np.ndarray


# --------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------

@nb.njit(cache=True)
def _averages(alpha, beta, kind, eigs, wts, mp_ratio, mp_scale):
    """``⟨1/D⟩, ⟨σ/D⟩, ⟨1/D²⟩, ⟨σ/D²⟩, ⟨σ²/D²⟩`` for ``D = α + βσ`` (kind 0: atoms; 1: MP law).

    For the MP law, with ``ζ = −α/β``: ``⟨1/D⟩ = G/β``, ``⟨σ/D⟩ = H/β``, ``⟨1/D²⟩ = G'/β²``,
    ``⟨σ/D²⟩ = H'/β²``, ``⟨σ²/D²⟩ = (H + ζH')/β²`` (:func:`rfdiff._mp.mp_transforms`).
    """
    if kind == 0 or beta == 0:
        a1 = 0j
        a2 = 0j
        b1 = 0j
        b2 = 0j
        b3 = 0j
        if kind != 0:  # Marchenko–Pastur moments ⟨σ⟩ = s, ⟨σ²⟩ = s²(1 + γ)
            inv = 1.0 / alpha
            s = mp_scale
            return inv, s * inv, inv * inv, s * inv * inv, s * s * (1 + mp_ratio) * inv * inv
        for k in range(eigs.size):
            e = eigs[k]
            w = wts[k]
            inv = 1.0 / (alpha + beta * e)
            inv2 = inv * inv
            a1 += w * inv
            a2 += w * e * inv
            b1 += w * inv2
            b2 += w * e * inv2
            b3 += w * e * e * inv2
        return a1, a2, b1, b2, b3
    zeta = -alpha / beta
    G, dG, H, dH = mp_transforms(zeta, mp_ratio, mp_scale)
    bb = beta * beta
    return G / beta, H / beta, dG / bb, dH / bb, (H + zeta * dH) / bb


@nb.njit(cache=True)
def _residual(z, x, par, kind, eigs, wts, F, J, sizes):
    """Residuals and Jacobian of the one-point system at the offset ``z = ω``, for ``x = (q, δ_1, …, δ_K)``.

    With ``u_k = 1/(1 + δ_k)``, ``m(σ) = A σ + B`` (``A = shift_alpha + Σ_k α_k u_k``,
    ``B = shift_beta + Σ_k β_k u_k``), ``c0 = Σ_k x0_k u_k`` and ``D = 1 + ψ_p q m(σ)``:

    * ``F_0 = q S − 1``, ``S = c0 − ω + A⟨σ/D⟩ + B⟨1/D⟩``;
    * ``F_k = δ_k − r_k q (α_k ⟨σ/D⟩ + β_k ⟨1/D⟩ + x0_k)``, ``r_k = p/N_k``.

    Fills ``F`` (K+1), the analytic Jacobian ``J`` ((K+1)²) and ``sizes`` (the magnitudes of the terms of
    each residual, whose rounding level is eps·size); returns ``⟨1/D⟩`` (``g_W = ψ_p q ⟨1/D⟩``).
    """
    K = par.comp_alpha.size
    psi = par.psi_p
    q = x[0]
    A = par.shift_alpha + 0j
    B = par.shift_beta + 0j
    c0 = 0j
    for k in range(K):
        u = 1.0 / (1.0 + x[k + 1])
        A += par.comp_alpha[k] * u
        B += par.comp_beta[k] * u
        c0 += par.comp_x0[k] * u
    a1, a2, b1, b2, b3 = _averages(1.0 + psi * q * B, psi * q * A, kind, eigs, wts, par.mp_ratio, par.mp_scale)
    S = c0 - z + A * a2 + B * a1
    F[0] = q * S - 1.0
    sizes[0] = _abs1(q) * (_abs1(z) + _abs1(c0) + _abs1(A * a2) + _abs1(B * a1))
    dq_a1 = -psi * (B * b1 + A * b2)
    dq_a2 = -psi * (B * b2 + A * b3)
    J[0, 0] = S + q * (A * dq_a2 + B * dq_a1)
    for k in range(K):
        lin = par.comp_alpha[k] * a2 + par.comp_beta[k] * a1 + par.comp_x0[k]
        F[k + 1] = x[k + 1] - par.comp_r[k] * q * lin
        sizes[k + 1] = _abs1(x[k + 1]) + par.comp_r[k] * _abs1(q) * (
            _abs1(par.comp_alpha[k] * a2) + _abs1(par.comp_beta[k] * a1) + par.comp_x0[k])
        J[k + 1, 0] = -par.comp_r[k] * (lin + q * (par.comp_alpha[k] * dq_a2 + par.comp_beta[k] * dq_a1))
    for j in range(K):
        u = 1.0 / (1.0 + x[j + 1])
        u2 = u * u
        dA = -par.comp_alpha[j] * u2
        dB = -par.comp_beta[j] * u2
        dl_a1 = -psi * q * (dB * b1 + dA * b2)
        dl_a2 = -psi * q * (dB * b2 + dA * b3)
        J[0, j + 1] = q * (-par.comp_x0[j] * u2 + dA * a2 + dB * a1 + A * dl_a2 + B * dl_a1)
        for k in range(K):
            J[k + 1, j + 1] = (1.0 if k == j else 0.0) - par.comp_r[k] * q * (
                par.comp_alpha[k] * dl_a2 + par.comp_beta[k] * dl_a1)
    return a1


@nb.njit(cache=True)
def _linsolve(J, F, out):
    """Solve ``J out = F`` in place by Gaussian elimination with partial pivoting (J, F overwritten);
    returns False when J is singular in floating point."""
    n = F.size
    for c in range(n):
        piv = c
        best = abs(J[c, c])
        for r in range(c + 1, n):
            if abs(J[r, c]) > best:
                best = abs(J[r, c])
                piv = r
        if best == 0.0:
            return False
        if piv != c:
            for k in range(n):
                J[c, k], J[piv, k] = J[piv, k], J[c, k]
            F[c], F[piv] = F[piv], F[c]
        for r in range(c + 1, n):
            f = J[r, c] / J[c, c]
            for k in range(c, n):
                J[r, k] -= f * J[c, k]
            F[r] -= f * F[c]
    for c in range(n - 1, -1, -1):
        acc = F[c]
        for k in range(c + 1, n):
            acc -= J[c, k] * out[k]
        out[c] = acc / J[c, c]
    return True


@nb.njit(cache=True)
def _abs1(c):
    """``|Re c| + |Im c|`` (within a factor √2 of ``|c|``)."""
    return abs(c.real) + abs(c.imag)


@nb.njit(cache=True)
def _finite(c):
    return np.isfinite(c.real) and np.isfinite(c.imag)


@nb.njit(cache=True)
def _newton(z, x, par, kind, eigs, wts, maxit, rtol, F, J, sizes, step):
    """Newton iterations on ``F(x) = 0`` in place, ``x = (q, δ_1, …, δ_K)``; returns (converged, iterations).

    Newton's step is ``x ← x − J^{-1} F`` with the analytic Jacobian of :func:`_residual`. Converged means
    the residual is at rounding level (``|F_0| ≤ NEWTON_RESIDUAL_TOL``, ``|F_k| ≤ NEWTON_RESIDUAL_TOL·(1 + |δ_k|)``,
    or ``≤ NEWTON_RESIDUAL_TOL`` times the size of each residual's terms once the steps are at rounding
    level of q) or the last step was below ``rtol`` relative (the error after it is then O(rtol²)); near a
    bulk edge the Jacobian is nearly singular and only the first holds. A Jacobian that is singular in
    floating point (e.g. an iterate far from the solution next to the atom's pole) or a non-finite iterate
    ends the iteration unconverged, so that the continuation retries a shorter step.
    """
    n = x.size
    at_rounding = False  # the last step was at the rounding level of q
    for it in range(maxit):
        _residual(z, x, par, kind, eigs, wts, F, J, sizes)
        ok = abs(F[0]) <= NEWTON_RESIDUAL_TOL
        for k in range(1, n):
            ok = ok and abs(F[k]) <= NEWTON_RESIDUAL_TOL * (1.0 + abs(x[k]))
        if ok:
            return True, it
        if at_rounding:
            ok = True
            for k in range(n):
                ok = ok and abs(F[k]) <= NEWTON_RESIDUAL_TOL * sizes[k]
            if ok:
                return True, it
        if not _linsolve(J, F, step):  # (a NaN pivot gives a NaN iterate, caught below)
            return False, it + 1
        small = True
        for k in range(n):
            x[k] -= step[k]
            if not _finite(x[k]):
                return False, it + 1
            if k > 0 and abs(step[k]) > rtol * (1.0 + abs(x[k])):
                small = False
        sq = abs(step[0])
        aq = abs(x[0])
        if small and sq <= rtol * aq:
            return True, it + 1
        at_rounding = sq <= NEWTON_ROUNDING_STEP * aq
    return False, maxit


@nb.njit(cache=True)
def _on_branch(x, tol):
    """Physical (Herglotz) branch: ``Im q ≥ −tol·|q|`` and ``Im δ_k ≥ −tol·(1 + |δ_k|)`` for every k."""
    if x[0].imag < -tol * abs(x[0]):
        return False
    for k in range(1, x.size):
        if x[k].imag < -tol * (1.0 + abs(x[k])):
            return False
    return True


@nb.njit(cache=True)
def _solve_point(xr, y, top, floor, par, kind, eigs, wts, x, trial, F, J, sizes, step):
    """Continuation in η from ``xr + i·top`` down to ``xr + i·y`` (y ≥ 0); the solution is left in ``x``.

    Returns ``(status, iterations)`` with ``iterations`` the number of continuation steps plus the number of
    Newton iterations, over all solves of this point.
    """
    z = complex(xr, top)
    q = -1.0 / z
    x[0] = q
    for k in range(par.comp_r.size):
        x[k + 1] = par.comp_r[k] * q * (par.comp_alpha[k] * par.tau_sigma + par.comp_beta[k] + par.comp_x0[k])
    ok, its = _newton(z, x, par, kind, eigs, wts, NEWTON_MAXIT_START, NEWTON_START_RTOL, F, J, sizes, step)
    if not ok:
        return STATUS_FAILED, its
    y_end = max(y, floor)
    cur = math.log(top)
    end = math.log(y_end)
    h = (cur - end) / CONT_FIRST_DIVISOR + 1e-300
    steps = 0
    while cur > end:
        nxt = max(cur - h, end)
        trial[:] = x
        # intermediate levels need only a good start for the next one; the last is solved to rounding
        ok, k = _newton(complex(xr, math.exp(nxt)), trial, par, kind, eigs, wts, NEWTON_MAXIT_STEP,
                        NEWTON_FINAL_RTOL if nxt == end else NEWTON_STEP_RTOL, F, J, sizes, step)
        steps += 1
        its += k
        if ok and _on_branch(trial, HERGLOTZ_TOL):
            x[:] = trial
            cur = nxt
            h *= CONT_GROW
        else:
            h *= CONT_SHRINK
            if h < CONT_MIN_STEP or steps > CONT_MAX_STEPS:
                return STATUS_FAILED, steps + its
    if y >= y_end:
        return STATUS_EXACT, steps + its
    trial[:] = x
    ok, k = _newton(complex(xr, y), trial, par, kind, eigs, wts, NEWTON_MAXIT_FINAL, NEWTON_FINAL_RTOL,
                    F, J, sizes, step)
    its += k
    if ok and _on_branch(trial, HERGLOTZ_TOL):
        x[:] = trial
        return STATUS_EXACT, steps + its
    return STATUS_FALLBACK, steps + its


@nb.njit(cache=True)
def _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, i0, i1):
    """Solve points ``i0 ≤ i < i1`` into the rows of ``sol`` ((q, δ_1, …, δ_K) per point), ``status``, ``iters``."""
    n = sol.shape[1]
    x = np.empty(n, np.complex128)
    trial = np.empty(n, np.complex128)
    F = np.empty(n, np.complex128)
    step = np.empty(n, np.complex128)
    J = np.empty((n, n), np.complex128)
    sizes = np.empty(n)
    for i in range(i0, i1):
        status[i], iters[i] = _solve_point(xs[i], ys[i], tops[i], floors[i], par, kind, eigs, wts, x, trial, F,
                                           J, sizes, step)
        sol[i, :] = x


@nb.njit(parallel=True, cache=True)
def _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, chunk):
    """:func:`_solve_range` over chunks of ``chunk`` points, in parallel threads."""
    n = xs.size
    for c in nb.prange((n + chunk - 1) // chunk):
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, c * chunk,
                     min(n, (c + 1) * chunk))


@nb.njit(cache=True)
def _verify(zs, sol, par, kind, eigs, wts):
    """Residual ``max(|F_0|, max_k |F_k|/(1+|δ_k|))`` and ``g_W = ψ_p q ⟨1/D⟩`` at each point."""
    n, m = sol.shape
    res = np.empty(n)
    gw = np.empty(n, np.complex128)
    F = np.empty(m, np.complex128)
    J = np.empty((m, m), np.complex128)
    sizes = np.empty(m)
    for i in range(n):
        a1 = _residual(zs[i], sol[i], par, kind, eigs, wts, F, J, sizes)
        r = abs(F[0])
        for k in range(1, m):
            r = max(r, abs(F[k]) / (1.0 + abs(sol[i, k])))
        res[i] = r
        gw[i] = par.psi_p * sol[i, 0] * a1
    return res, gw


#: Batches at least this large are solved in parallel threads (below, thread start-up dominates).
PARALLEL_MIN = 512


def _solve_many(xs, ys, tops, floors, par, kind, eigs, wts):
    """``(sol, status, iterations)`` at the offsets ``xs + i ys``; ``sol[:, 0] = q``, ``sol[:, 1:] = δ``'s."""
    n = xs.size
    sol = np.empty((n, 1 + par.comp_r.size), np.complex128)
    status = np.empty(n, np.int8)
    iters = np.empty(n, np.int32)
    if n >= PARALLEL_MIN:
        _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, 64)
    else:
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, 0, n)
    return sol, status, iters


# --------------------------------------------------------------------------------------------------
# Python layer
# --------------------------------------------------------------------------------------------------

def _law_arrays(law):
    if isinstance(law, MarchenkoPastur):
        return 1, np.zeros(1), np.zeros(1), law.ratio, law.scale
    if isinstance(law, DiscreteSpectrum):
        return (0, np.ascontiguousarray(law.eigs, dtype=np.float64),
                np.ascontiguousarray(law.weights, dtype=np.float64), 0.0, 0.0)
    raise ValueError(f"data law {type(law).__name__} is not supported by the spectral solver")


@lru_cache(maxsize=64)
def _setup(model):
    """Structure and the compiled-kernel parameters (:class:`KernelParams`) of ``model`` (cached: models
    are immutable)."""
    st = structure(model)
    kind, eigs, wts, mp_r, mp_s = _law_arrays(st.law)
    comps = st.components
    par = KernelParams(psi_p=float(model.psi_p), tau_sigma=float(st.law.tau_sigma), mp_ratio=float(mp_r),
                       mp_scale=float(mp_s), shift_alpha=float(st.shift.alpha), shift_beta=float(st.shift.beta),
                       comp_alpha=np.array([c.cov.alpha for c in comps], dtype=np.float64),
                       comp_beta=np.array([c.cov.beta for c in comps], dtype=np.float64),
                       comp_x0=np.array([c.cov.x0 for c in comps], dtype=np.float64),
                       comp_r=np.array([model.psi_p / c.ratio for c in comps], dtype=np.float64))
    return st, par, kind, eigs, wts


def spectral_bound(model) -> float:
    """Upper bound on the largest eigenvalue of U in the limit (operator-norm triangle inequality).

    For a component with N_k columns of covariance ``W diag(ασ + β) Wᵀ/d + x0 I`` (columns
    ``W diag(√(ασ+β)) z/√d + √x0 ω``) and the shift ``W diag(α_S σ + β_S) Wᵀ/d + x0_S I``,

    .. math:: λ_{max} ≤ x0_S + (α_S σ_{max} + β_S)(1+\\sqrt{ψ_p})^2 + Σ_k \\big(\\sqrt{α_k σ_{max} + β_k}
              (1+\\sqrt{ψ_p})(1+ψ_k^{-1/2}) + \\sqrt{x0_k}(1+\\sqrt{ψ_p/ψ_k})\\big)^2

    by the Bai–Yin limits ``‖W/√d‖ → 1+√ψ_p``, ``‖Z/√N‖ → 1+√(d/N)``, ``‖Ω/√N‖ → 1+√(p/N)`` (for exact
    noise averages: ``s² + b²(1+√ψ_p)² + (e^{-t}|μ1|√σ_max (1+√ψ_p)(1+ψ_n^{-1/2}) + v(1+√(ψ_p/ψ_n)))²``).
    """
    st = structure(model)
    sp = math.sqrt(model.psi_p)
    smax = st.law.support[1]
    total = st.shift.x0 + (st.shift.alpha * smax + st.shift.beta) * (1 + sp) ** 2
    for c in st.components:
        g = math.sqrt(c.cov.alpha * smax + c.cov.beta) * (1 + sp) * (1 + 1 / math.sqrt(c.ratio)) \
            + math.sqrt(c.cov.x0) * (1 + sp / math.sqrt(c.ratio))
        total += g * g
    return total


def atom_mass(model) -> float:
    """Mass of U's lowest possible eigenvalue (``s_t²`` for exact noise averages, 0 with m frozen draws)
    from rank counting (:meth:`rfdiff.structure.Structure.atom_mass`)."""
    return structure(model).atom_mass()


@dataclass(frozen=True)
class Stieltjes(Result):
    """Solution of the one-point fixed point at complex points (docs/theory.md §4).

    Attributes
    ----------
    z : complex ndarray
    q : complex ndarray
        ``lim (1/p) Tr (U − z)^{-1}``.
    deltas : complex ndarray, shape ``z.shape + (K,)``
        ``δ_k = (1/N_k) Tr[C_k R̄]``, one per Wishart component of the model's structure
        (:mod:`rfdiff.structure`; K = 1 for exact noise averages, where it is the δ of docs/theory.md §4).
    g_w : complex ndarray
        ``lim (1/d) Tr[K (U − z)^{-1}]``, the Stieltjes transform of μ_W (mass ψ_p).
    point_status : int8 ndarray
        Per point, 0: verified at ``z``; 1: fallback, the verified value at ``z + iη_floor`` (real z within
        ~1e-11 of a bulk edge); 2: failed.
    residual : float ndarray
        ``max(|qS − 1|, max_k |F_k|/(1+|δ_k|))`` of the returned solution.
    iterations : int ndarray
        Work per point: continuation steps (accepted or retried) plus Newton iterations of all solves.
    status, message : str
        The worst point's status (``"failed"`` if any point failed, ``"fallback"`` if any used the edge
        fallback) and the counts (:class:`rfdiff.results.Result`).
    """

    DIAGNOSTICS: ClassVar[tuple] = ("point_status", "residual", "iterations")

    z: np.ndarray
    q: np.ndarray
    deltas: np.ndarray
    g_w: np.ndarray
    point_status: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        """δ of the first component (the δ of docs/theory.md §4 for exact noise averages)."""
        return self.deltas[..., 0]

    @property
    def converged(self) -> np.ndarray:
        """Per point: not failed."""
        return self.point_status != STATUS_FAILED

    @property
    def n_fallback(self) -> int:
        return int(np.count_nonzero(self.point_status == STATUS_FALLBACK))

    @property
    def n_failed(self) -> int:
        return int(np.count_nonzero(self.point_status == STATUS_FAILED))


def stieltjes(model, z) -> Stieltjes:
    """Solve the one-point fixed point at complex points ``z`` on the physical branch.

    Parameters
    ----------
    model : RFModel
    z : array_like of complex
        Any points; real points inside a bulk get the limit from above (``z + i0``), points below the
        axis use ``q(z̄) = conj q(z)``.

    Returns
    -------
    Stieltjes
        ``q, δ, g_W`` with per-point status and residual. Failed points are reported, not raised.

    Notes
    -----
    Equations in docs/theory.md §4; ``g_W = ψ_p q ⟨1/(1 + ψ_p q m)⟩``.
    """
    z = np.asarray(z, dtype=np.complex128)
    if not np.all(np.isfinite(z)):
        raise ValueError("z must be finite")
    return _solve_offsets(model, z - structure(model).origin)


def _solve_offsets(model, omega) -> Stieltjes:
    """:func:`stieltjes` at ``z = origin + ω``, with the offset ω given exactly.

    The origin is U's lowest possible eigenvalue (s_t² for exact noise averages). Working with ω keeps
    full relative precision for bulks that sit within rounding distance of it (at large t, v_t² can be
    ~1e-15).
    """
    omega = np.asarray(omega, dtype=np.complex128)
    shape = omega.shape
    w = np.ascontiguousarray(omega.ravel())
    st, par, kind, eigs, wts = _setup(model)
    bound = spectral_bound(model) - st.origin
    x = np.ascontiguousarray(w.real)
    y = np.ascontiguousarray(np.abs(w.imag))
    top = CONT_TOP_FACTOR * (np.abs(x) + bound) + CONT_TOP_FACTOR * y
    floor = ETA_FLOOR * np.maximum(np.abs(x), 1e-300)
    sol, status, iters = _solve_many(x, y, top, floor, par, kind, eigs, wts)
    below = w.imag < 0
    sol[below] = np.conj(sol[below])
    ws = np.where(status == STATUS_FALLBACK, x + 1j * floor, x + 1j * y)
    ws = np.where(below, np.conj(ws), ws)
    res, gw = _verify(np.ascontiguousarray(ws), sol, par, kind, eigs, wts)
    status = np.where(res <= VERIFY_TOL, status, STATUS_FAILED).astype(np.int8)
    K = sol.shape[1] - 1
    failed, fallback = int(np.count_nonzero(status == STATUS_FAILED)), int(np.count_nonzero(status == STATUS_FALLBACK))
    notes = ([f"{failed} of {status.size} points failed"] if failed else []) + \
        ([f"{fallback} of {status.size} points used the edge fallback"] if fallback else [])
    return Stieltjes((st.origin + w).reshape(shape), sol[:, 0].reshape(shape), sol[:, 1:].reshape(shape + (K,)),
                     gw.reshape(shape), status.reshape(shape), res.reshape(shape), iters.reshape(shape),
                     status="failed" if failed else ("fallback" if fallback else "ok"), message="; ".join(notes))


@dataclass
class _Work:
    """Diagnostics accumulated over the solver calls that make up one result."""

    points: int = 0
    n_fallback: int = 0
    max_residual: float = 0.0
    total_iterations: int = 0
    max_iterations: int = 0

    def add(self, st: Stieltjes) -> Stieltjes:
        self.points += int(st.point_status.size)
        self.n_fallback += st.n_fallback
        self.max_residual = max(self.max_residual, float(st.residual.max(initial=0.0)))
        self.total_iterations += int(st.iterations.sum())
        self.max_iterations = max(self.max_iterations, int(st.iterations.max(initial=0)))
        return st


def _fallback_message(n_fallback: int, points: int) -> str:
    return (f"{n_fallback} of {points} real points lie within ~{ETA_FLOOR:g} (relative) of a bulk edge and "
            f"took the verified value at λ + iη_floor, η_floor = {ETA_FLOOR:g}·|λ − s_t²|")


@dataclass(frozen=True)
class Spectrum(Result):
    """Eigenvalue law of U on a grid (docs/theory.md §4).

    Attributes
    ----------
    lambdas : ndarray
    density : ndarray
        Continuous part ``ρ_U(λ) = Im q(λ + i0)/π`` (integrates with the atoms to 1).
    density_w : ndarray
        Density of μ_W, ``Im g_W(λ + i0)/π`` (total mass ψ_p, no atom).
    atoms : list of (location, mass)
        The atom at ``s_t²`` from rank counting, plus the mass of bulks narrower than the rounding of
        λ (as in :func:`support`; looked up only when the memorization scale v_t² is below rounding).
    n_fallback : int
        Points within ~1e-11 of a bulk edge that used the value at ``λ + iη_floor``.
    max_residual : float
        Largest verified residual ``max(|qS − 1|, |F_δ|/(1+|δ|))`` over the grid.
    total_iterations, max_iterations : int
        Continuation steps plus Newton iterations, summed over and maximal over the grid points.
    model : RFModel
    status, message : str
        ``"ok"``, or ``"fallback"`` when some point used the edge fallback or a bulk narrower than
        rounding is reported as part of the atoms (:class:`rfdiff.results.Result`).
    """

    DIAGNOSTICS: ClassVar[tuple] = ("n_fallback", "max_residual", "total_iterations", "max_iterations")

    lambdas: np.ndarray
    density: np.ndarray
    density_w: np.ndarray
    atoms: list
    n_fallback: int
    max_residual: float
    total_iterations: int
    max_iterations: int
    model: object = field(repr=False)



def _atoms(model):
    """The rank-counting atom at the origin (s_t², or 0 with frozen draws; :func:`atom_mass`), as a list
    of (location, mass)."""
    st = structure(model)
    mass = st.atom_mass()
    return [(st.origin, mass)] if mass > 0 else []


def _scan_floor(model):
    """First offset of the support scan and whether it was raised to the rounding floor of λ (then a
    bulk within rounding of the origin may exist, and only a contour around it can measure it).

    The scales are the structure's positive coefficients (for exact noise averages v_t², the scale of the
    memorization cluster, and b_t², that of the low edge of the bulk of ``b_t² K``)."""
    st = structure(model)
    x_hi = 1.05 * spectral_bound(model) - st.origin
    scales = [c.cov.x0 for c in st.components] + [c.cov.beta for c in st.components] + [st.shift.beta]
    x_lo = min([SCAN_FLOOR_REL * x_hi] + [SCAN_FLOOR_SCALE * k for k in scales if k > 0])
    x_round = _rounding_floor(st.origin)
    return max(x_lo, x_round), x_round > x_lo


@lru_cache(maxsize=64)
def _spectrum_atoms(model):
    """Atoms of U's law as :func:`spectrum` reports them: the rank-counting atom, plus (via
    :func:`support`, only when the scan floor was raised to the rounding of λ, e.g. at large t) the
    mass of bulks narrower than rounding. Returns ``(atoms, note)``."""
    if not _scan_floor(model)[1]:
        return tuple(_atoms(model)), ""
    sup = support(model)
    extra = sum(m for _, m in sup.atoms) - sum(m for _, m in _atoms(model))
    note = (f"mass {extra:.6g} of bulks narrower than the rounding of λ is in the atoms (see support())"
            if extra > 0 else "")
    return tuple(sup.atoms), note


def spectrum(model, lambdas) -> Spectrum:
    """Density of U's eigenvalue law (and of μ_W) at real points ``lambdas``.

    .. math:: ρ_U(λ) = \\frac{1}{π} \\operatorname{Im} q(λ + i0), \\qquad
              ρ_W(λ) = \\frac{1}{π} \\operatorname{Im} g_W(λ + i0)

    with ``q, g_W`` from the fixed point of docs/theory.md §4 (:func:`stieltjes`).

    Raises
    ------
    ValueError
        If ``lambdas`` is not a finite real array.
    SolverError
        If any point cannot be verified on the physical branch.
    """
    lam = np.asarray(lambdas, dtype=float)
    if lam.ndim != 1 or not np.all(np.isfinite(lam)):
        raise ValueError("lambdas must be a finite 1-D array")
    # U = s²I + (positive semi-definite), so nothing continuous lies at or below s² (where q has the
    # atom's pole): those points are zero by construction and are not solved.
    s2 = structure(model).origin
    above = lam > s2
    density = np.zeros_like(lam)
    density_w = np.zeros_like(lam)
    st = stieltjes(model, lam[above].astype(np.complex128))
    if st.n_failed:
        bad = lam[above][st.point_status == STATUS_FAILED]
        raise SolverError(f"{st.n_failed} spectral points could not be verified, e.g. λ = {bad[:3]}")
    # imaginary parts at rounding level of |q| are zeros outside the support
    real = st.q.imag <= REAL_AXIS_EPS * np.abs(st.q)
    density[above] = np.where(real, 0.0, st.q.imag) / np.pi
    density_w[above] = np.where(real, 0.0, np.maximum(st.g_w.imag, 0.0)) / np.pi
    work = _Work()
    work.add(st)
    atoms, note = _spectrum_atoms(model)
    notes = [note] if note else []
    if st.n_fallback:
        notes.append(_fallback_message(st.n_fallback, st.point_status.size))
    return Spectrum(lam, density, density_w, list(atoms), st.n_fallback, work.max_residual,
                    work.total_iterations, work.max_iterations, model,
                    status="fallback" if notes else "ok", message="; ".join(notes))


@dataclass(frozen=True)
class Support(Result):
    """Support of U's eigenvalue law, found from the solution itself.

    Attributes
    ----------
    intervals : list of (lo, hi)
        Every bulk, ascending. Edges are located by bisection on ``Im q(λ + i0) > 0`` to a relative
        accuracy of ``edge_rtol``.
    masses : list of float
        Mass of U's law carried by each bulk.
    masses_w : list of float
        Mass of μ_W carried by each bulk (they add up to ψ_p, up to what the atoms carry).
    atoms : list of (location, mass)
        The atom at ``s_t²`` (rank counting), plus the mass of any bulk narrower than the rounding of
        λ (e.g. the memorization bulk at large t, of width ~v_t²), placed at its centre (merged with an
        atom at the same floating-point location).
    total_mass : float
        ``Σ masses + Σ atom masses``; 1 up to quadrature error (checked, ``mass_tol``).
    offsets : list of (lo, hi)
        The intervals as offsets ``λ − s_t²``, exact even when a bulk is within rounding of s².
    lambda_max : float
        Upper edge of the highest bulk.
    grid_points : int
        Size of the scanning grid that found the bulks.
    refinements : int
        How many times the scanning grid was refined (×4) before the masses added up.
    n_fallback : int
        Real points (scan, bisection, gap search) that used the edge fallback value at ``λ + iη_floor``.
    max_residual : float
        Largest verified residual over every point solved.
    total_iterations, max_iterations : int
        Continuation steps plus Newton iterations, summed over and maximal over every point solved.
    status, message : str
        ``"ok"``; or ``"fallback"`` when a bulk narrower than rounding was reported as an atom or some
        real point used the edge fallback (the message says which) (:class:`rfdiff.results.Result`).
    """

    DIAGNOSTICS: ClassVar[tuple] = ("grid_points", "refinements", "n_fallback", "max_residual",
                                     "total_iterations", "max_iterations")

    intervals: list
    masses: list
    masses_w: list
    atoms: list
    total_mass: float
    offsets: list
    lambda_max: float
    grid_points: int
    model: object = field(repr=False)
    refinements: int = 0
    n_fallback: int = 0
    max_residual: float = 0.0
    total_iterations: int = 0
    max_iterations: int = 0



def _inside(st) -> np.ndarray:
    """``Im q(λ + i0) > INSIDE_TOL·|q|`` at each point of ``st``."""
    return st.q.imag > INSIDE_TOL * np.abs(st.q)


def _solve_verified(model, omega, work=None) -> Stieltjes:
    st = _solve_offsets(model, np.asarray(omega, dtype=np.complex128))
    if st.n_failed:
        bad = st.z[st.point_status == STATUS_FAILED]
        raise SolverError(f"{st.n_failed} spectral points could not be verified, e.g. z = {bad[:3]}")
    return work.add(st) if work is not None else st


def _bisect_edges(model, left, right, left_inside, rtol, work=None):
    """Bisect offset brackets ``[left, right]`` whose ends differ in ``Im q > 0`` (geometric midpoints)."""
    left = np.array(left, dtype=float)
    right = np.array(right, dtype=float)
    left_inside = np.asarray(left_inside)
    while np.any(right - left > rtol * right):
        mid = np.sqrt(left * right)
        inside = _inside(_solve_verified(model, mid, work))
        go_right = inside == left_inside  # the edge is in [mid, right]
        left = np.where(go_right, mid, left)
        right = np.where(go_right, right, mid)
    return np.sqrt(left * right)


def _contour_masses(model, lo, hi, tol, atom_inside=0.0, work=None, moment=False):
    """Masses of U's law and of μ_W enclosed by a contour crossing the real axis at offsets ``lo < hi``.

    ``mass = −(1/2πi) ∮ q(z) dz`` on the ellipse ``w(θ) = c + a cos θ + i b sin θ`` in ``w = log(z − s²)``
    around ``[log lo, log hi]`` (trapezoid rule, geometric convergence; node count doubled until the
    N and 2N results agree to ``tol``). With ``lo = 0`` a circle in z around ``[−hi, hi]`` is used and
    ``atom_inside`` (the atom at s²) is subtracted. With ``moment=True`` the first moment about s²,
    ``−(1/2πi) ∮ (z − s²) q(z) dz`` (to which the atom at s² contributes nothing), is returned too.
    """
    n = CONTOUR_MIN_NODES
    prev = None
    while True:
        theta = 2 * np.pi * np.arange(n) / n
        if lo > 0:
            c, a = 0.5 * (math.log(hi) + math.log(lo)), 0.5 * (math.log(hi) - math.log(lo))
            b = min(a, 2.0)
            w = c + a * np.cos(theta) + 1j * b * np.sin(theta)
            omega = np.exp(w)
            d_omega = omega * (-a * np.sin(theta) + 1j * b * np.cos(theta)) * (2 * np.pi / n)
        else:
            omega = hi * np.exp(1j * theta)
            d_omega = 1j * omega * (2 * np.pi / n)
        st = _solve_verified(model, omega, work)
        cur = (float((-(st.q @ d_omega) / (2j * np.pi)).real) - atom_inside,
               float((-(st.g_w @ d_omega) / (2j * np.pi)).real))
        if prev is not None and abs(cur[0] - prev[0]) <= tol and abs(cur[1] - prev[1]) <= tol * model.psi_p:
            if moment:
                return cur + (float((-((omega * st.q) @ d_omega) / (2j * np.pi)).real),)
            return cur
        if n >= CONTOUR_MAX_NODES:
            raise SolverError(f"contour mass around offsets [{lo:.6g}, {hi:.6g}] from s² did not converge")
        prev = cur
        n *= 2


def _hidden_gaps(model, x, st, dip=0.2, iters=40, work=None):
    """Gaps narrower than the grid spacing: points where the density vanishes between grid points.

    Every interior local minimum of ``Im q`` on the grid that is below ``dip`` times the larger of its
    run's maxima is searched (golden section in log λ over the two neighbouring cells); the minimisers
    where ``Im q(λ + i0)`` is zero are returned.
    """
    d = np.where(_inside(st), st.q.imag, 0.0)
    k = np.arange(1, d.size - 1)
    k = k[(d[k] > 0) & (d[k] < d[k - 1]) & (d[k] <= d[k + 1])]
    if k.size == 0:
        return k.astype(float)
    peak = np.maximum.accumulate(d)  # the largest density to the left...
    right = np.maximum.accumulate(d[::-1])[::-1]  # ...and to the right
    k = k[d[k] < dip * np.minimum(peak[k], right[k])]
    a, b = np.log(x[k - 1]), np.log(x[k + 1])
    g = (math.sqrt(5) - 1) / 2
    for _ in range(iters):
        c1, c2 = b - g * (b - a), a + g * (b - a)
        f = _solve_verified(model, np.exp(np.concatenate([c1, c2])), work)
        f1, f2 = np.split(np.where(_inside(f), f.q.imag, 0.0), 2)
        left = f1 <= f2
        b = np.where(left, c2, b)
        a = np.where(left, a, c1)
    xm = np.exp(0.5 * (a + b))
    return xm[~_inside(_solve_verified(model, xm, work))]


def _rounding_floor(s2: float) -> float:
    """Offsets from s² below which λ = s² + x cannot be told from s² (``ATOM_WIDTH_ULPS`` ulps of s²)."""
    return ATOM_WIDTH_ULPS * math.ulp(s2) if s2 > 0 else 0.0


def _narrow(s2: float, lo: float, hi: float) -> bool:
    """A bulk at offsets ``[lo, hi]`` no wider than ``ATOM_WIDTH_ULPS`` ulps of its λ."""
    return hi - lo <= ATOM_WIDTH_ULPS * math.ulp(s2 + hi)


def _add_atom(atoms, loc, mass):
    """``atoms`` with ``mass`` added at ``loc`` (merged into an atom at the same location)."""
    for i, (l0, m0) in enumerate(atoms):
        if l0 == loc:
            atoms[i] = (l0, m0 + mass)
            return atoms
    atoms.append((loc, mass))
    atoms.sort()
    return atoms


def support(model, *, points_per_decade=SCAN_POINTS_PER_DECADE, edge_rtol=1e-12, mass_tol=1e-7,
            max_refine=3) -> Support:
    """Every bulk of U's spectrum, with its mass, and the atom at ``s_t²``.

    Works with offsets ``x = λ − s²`` (U ≥ s² I). A grid of ``x`` log-spaced from
    ``x_lo = max(min(SCAN_FLOOR_REL·x_bound, SCAN_FLOOR_SCALE·v_t², SCAN_FLOOR_SCALE·b_t²), x_round)`` to
    ``x_bound = 1.05·spectral_bound − s²`` is scanned for ``Im q(λ + i0) > 0``
    (``x_round = ATOM_WIDTH_ULPS`` ulps of s²: below it λ cannot be told from s²); the edges of each run
    are refined by bisection to ``edge_rtol``; each bulk's mass
    ``m = −(1/2πi)∮ q(z) dz`` is integrated with a self-checked quadrature. Mass within ``x_round`` of s²
    beyond the rank-counting atom (a bulk narrower than rounding, such as the memorization bulk of width
    ~v_t² at large t) is measured on a circle around s² and reported as an atom, as is any bulk no wider
    than ``ATOM_WIDTH_ULPS`` ulps of λ (location: its centre). If the bulk masses and the atoms do not
    add up to 1 within ``mass_tol`` (a bulk narrower than the grid spacing was missed), the grid is
    refined (×``SCAN_REFINE_FACTOR``), up to ``max_refine`` times, after which :class:`SolverError` is
    raised.

    Parameters
    ----------
    model : RFModel
    points_per_decade : float
        Scan density (≥ 10).
    edge_rtol : float
        Relative accuracy of the bisected edges.
    mass_tol : float
        Tolerance on ``Σ masses + Σ atoms = 1``.
    max_refine : int
        Largest number of grid refinements.

    Notes
    -----
    docs/theory.md §4 and §7: several bulks (a low cluster just above s², a memorization bulk, a
    generalization bulk) may span many decades; no asymptotic formula is used here. Two bulks separated
    by a gap narrower than the grid spacing are reported as one.
    """
    if not points_per_decade >= 10:
        raise ValueError("points_per_decade must be >= 10")
    origin = structure(model).origin
    x_hi = 1.05 * spectral_bound(model) - origin
    x_lo, truncated = _scan_floor(model)
    rank_atoms = _atoms(model)
    atom_total = sum(m for _, m in rank_atoms)
    density = float(points_per_decade)
    work = _Work()
    for refinements in range(max_refine + 1):
        n = int(math.ceil(density * math.log10(x_hi / x_lo))) + 1
        x = np.geomspace(x_lo, x_hi, n)
        st = _solve_verified(model, x, work)
        gaps = _hidden_gaps(model, x, st, work=work)
        if gaps.size:
            x = np.sort(np.concatenate([x, gaps]))
            st = _solve_verified(model, x, work)
        inside = _inside(st)
        if inside[-1]:
            raise SolverError("spectrum extends beyond spectral_bound(); please report")
        flips = np.flatnonzero(inside[1:] != inside[:-1])
        ends = _bisect_edges(model, x[flips], x[flips + 1], inside[flips], edge_rtol, work)
        if inside[0]:  # a bulk reaching below the first grid point: it starts at s² itself
            ends = np.concatenate([[0.0], ends])
        offsets = [(float(a), float(b)) for a, b in zip(ends[0::2], ends[1::2])]
        # contours cross the axis at the geometric midpoints of the gaps
        cuts = []
        if offsets:
            cuts = [0.5 * ends[0] if ends[0] > 0 else 0.0]
            cuts += [math.sqrt(a * b) for a, b in zip(ends[1:-1:2], ends[2::2])] + [2.0 * ends[-1]]
        masses, masses_w = zip(*[_contour_masses(model, lo, hi, 0.1 * mass_tol, atom_total if lo == 0 else 0.0,
                                                 work)
                                 for lo, hi in zip(cuts[:-1], cuts[1:])]) if offsets else ((), ())
        low = (0.0, 0.0, 0.0)
        if truncated and not inside[0]:
            # what lies within rounding of s² beyond the rank-counting atom: a circle around s² crossing
            # the axis where the scan saw no bulk
            radius = math.sqrt(x[0] * ends[0]) if offsets else x[0]
            low = _contour_masses(model, 0.0, radius, 0.1 * mass_tol, atom_total, work, moment=True)
        total = sum(masses) + atom_total + low[0]
        if abs(total - 1.0) <= mass_tol:
            break
        density *= SCAN_REFINE_FACTOR
    else:
        raise SolverError(f"bulk masses and atoms add up to {total:.9f}, not 1, after refining the grid "
                          f"to {n} points (a bulk may be unresolved)")
    atoms = list(rank_atoms)
    notes = []
    if low[0] > mass_tol:
        centre = min(max(low[2] / low[0], 0.0), float(x[0]))  # its mean offset (quadrature-limited)
        atoms = _add_atom(atoms, float(origin + centre), low[0])
        notes.append(f"mass {low[0]:.6g} (μ_W mass {low[1]:.3g}) within {x[0]:.3g} of s_t² (narrower than "
                     f"the rounding of λ) is reported as an atom")
    keep, dropped = [], []
    for k, (lo, hi) in enumerate(offsets):
        if abs(masses[k]) <= mass_tol and abs(masses_w[k]) <= mass_tol * model.psi_p:
            # a run of Im q > INSIDE_TOL·|q| carrying no mass that the quadrature can verify: rounding
            # noise in Im q where |q| is huge (e.g. just below a bulk's lower edge near s²), not a bulk
            dropped.append(k)
        elif _narrow(origin, lo, hi):
            atoms = _add_atom(atoms, float(origin + 0.5 * (lo + hi)), masses[k])
            notes.append(f"bulk of mass {masses[k]:.6g} (μ_W mass {masses_w[k]:.3g}) at offsets "
                         f"[{lo:.3g}, {hi:.3g}] from s_t² is narrower than the rounding of λ and is reported "
                         f"as an atom")
        else:
            keep.append(k)
    if dropped:
        notes.append(f"{len(dropped)} run(s) of Im q > 0 at offsets {offsets[dropped[0]][0]:.3g}…"
                     f"{offsets[dropped[-1]][1]:.3g} from s_t² with |mass| ≤ mass_tol = {mass_tol:g} "
                     f"(total {sum(masses[k] for k in dropped):.2g}) were dropped as rounding noise")
    offsets = [offsets[k] for k in keep]
    masses = [masses[k] for k in keep]
    masses_w = [masses_w[k] for k in keep]
    if work.n_fallback:
        notes.append(_fallback_message(work.n_fallback, work.points))
    intervals = [(origin + lo, origin + hi) for lo, hi in offsets]
    return Support(intervals, masses, masses_w, atoms, total, offsets,
                   intervals[-1][1] if intervals else max([origin] + [loc for loc, _ in atoms]), n, model,
                   refinements=refinements, n_fallback=work.n_fallback, max_residual=work.max_residual,
                   total_iterations=work.total_iterations, max_iterations=work.max_iterations,
                   status="fallback" if notes else "ok", message="; ".join(notes))


def spectral_grid(sup: Support, points: int = 2000) -> np.ndarray:
    """A λ grid that resolves every bulk of ``sup``: Chebyshev-spaced nodes in each bulk (dense at the
    edges, where the density has square-root behaviour), shared in proportion to the bulks' log-widths
    with at least 64 per bulk."""
    if int(points) < 64 * max(1, len(sup.intervals)):
        raise ValueError(f"points must be at least 64 per bulk ({64 * max(1, len(sup.intervals))})")
    if not sup.intervals:
        return np.array([sup.lambda_max])
    s2 = sup.intervals[0][0] - sup.offsets[0][0]
    widths = np.array([math.log((hi + 1e-300) / max(lo, 1e-300 + 1e-3 * hi)) + 0.1 for lo, hi in sup.offsets])
    share = np.maximum(64, np.floor(points * widths / widths.sum())).astype(int)
    parts = []
    for (lo, hi), k in zip(sup.offsets, share):
        theta = np.linspace(0, np.pi, k)
        parts.append(s2 + lo + 0.5 * (hi - lo) * (1 - np.cos(theta)))
    return np.unique(np.concatenate(parts))
