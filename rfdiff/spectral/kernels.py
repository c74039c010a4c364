"""Compiled kernels of the one-point solver (docs/theory.md §4, §10): complex Newton with the analytic
Jacobian on ``(q, δ_1, …, δ_K)``, continuation in η, the physical-branch test and verification.

Every tolerance, iteration cap and step factor of the solver is a named constant here; the kernels receive
a model's structure as a :class:`KernelParams` named tuple (built by :func:`rfdiff.spectral.onepoint.kernel_inputs`),
and the Marchenko–Pastur closed forms come from :func:`rfdiff._mp.mp_transforms` (the same code as
:meth:`rfdiff.MarchenkoPastur.transforms`). No ``fastmath``: the NaN/inf guards must hold.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from .._mp import mp_transforms

__all__ = ["KernelParams", "averages", "solve_many", "verify", "bisect_edges", "STATUS_EXACT", "STATUS_FALLBACK",
           "STATUS_FAILED"]

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
#: Relative step tolerance at intermediate continuation levels (they only need to start the next one; 1e-7
#: took 5–15% more iterations for the same results to rounding).
NEWTON_STEP_RTOL = 1e-4
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
#: The first step in ``log η`` is the whole distance divided by this (4 or 6 save 10–20% of the iterations
#: but lose points at the corners of the supported range, tests/test_solver_edges.py).
CONT_FIRST_DIVISOR = 8.0
#: A step that converged on the physical branch grows the next one by this factor...
CONT_GROW = 2.0
#: ...one that failed is retried this much shorter.
CONT_SHRINK = 0.25
#: Smallest step in ``log η`` before the point is declared failed.
CONT_MIN_STEP = 1e-8
#: Largest number of continuation steps (accepted or not) before the point is declared failed.
CONT_MAX_STEPS = 400
#: Points of a path (consecutive contour nodes: :func:`solve_many` with ``path=True``) start Newton from the last
#: point's solution when they lie off the real axis, ``Im ω ≥ PATH_OFF_AXIS·|Re ω|`` (there the physical solution is
#: the only one with ``Im q ≥ 0`` and ``Im δ ≥ 0``), and close to it, ``|ω − ω_prev| ≤ PATH_STEP·|ω|``. A start that
#: does not converge onto the physical branch falls back to the continuation in η.
PATH_OFF_AXIS = 0.25
PATH_STEP = 0.5
#: Physical (Herglotz) branch test: ``Im q ≥ −HERGLOTZ_TOL·|q|`` and ``Im δ ≥ −HERGLOTZ_TOL·(1 + |δ|)``.
HERGLOTZ_TOL = 1e-12

STATUS_EXACT, STATUS_FALLBACK, STATUS_FAILED = 0, 1, 2


class KernelParams(NamedTuple):
    """Constants of one model passed to the compiled kernels: its Gaussian-equivalent structure
    (:func:`rfdiff.structure.structure`, docs/theory.md §4 and §10).

    Built once per structure by :func:`rfdiff.spectral.onepoint.kernel_inputs`; numba compiles it as a typed named tuple. Component k has the
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
def averages(alpha, beta, kind, eigs, wts, mp_ratio, mp_scale):
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
            inv = _inv(alpha + beta * e)
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
        u = _inv(1.0 + x[k + 1])
        A += par.comp_alpha[k] * u
        B += par.comp_beta[k] * u
        c0 += par.comp_x0[k] * u
    a1, a2, b1, b2, b3 = averages(1.0 + psi * q * B, psi * q * A, kind, eigs, wts, par.mp_ratio, par.mp_scale)
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
        u = _inv(1.0 + x[j + 1])
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
        best = _mag(J[c, c])
        for r in range(c + 1, n):
            if _mag(J[r, c]) > best:
                best = _mag(J[r, c])
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
def _mag(c):
    """``|c|`` as ``sqrt(Re² + Im²)``: within an ulp of ``abs(c)`` (hypot, which guards against overflow beyond
    1e154, far outside the solver's range) at a fraction of its cost in the Newton loop."""
    return math.sqrt(c.real * c.real + c.imag * c.imag)


@nb.njit(cache=True)
def _inv(c):
    """``1/c`` as ``c̄/|c|²`` (numba's complex division scales against overflow, which the solver's values never
    need); ``c = 0`` gives non-finite parts, caught like any other non-finite iterate."""
    n = c.real * c.real + c.imag * c.imag
    return complex(c.real / n, -c.imag / n)


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
        ok = _mag(F[0]) <= NEWTON_RESIDUAL_TOL
        for k in range(1, n):
            ok = ok and _mag(F[k]) <= NEWTON_RESIDUAL_TOL * (1.0 + _mag(x[k]))
        if ok:
            return True, it
        if at_rounding:
            ok = True
            for k in range(n):
                ok = ok and _mag(F[k]) <= NEWTON_RESIDUAL_TOL * sizes[k]
            if ok:
                return True, it
        if not _linsolve(J, F, step):  # (a NaN pivot gives a NaN iterate, caught below)
            return False, it + 1
        small = True
        for k in range(n):
            x[k] -= step[k]
            if not _finite(x[k]):
                return False, it + 1
            if k > 0 and _mag(step[k]) > rtol * (1.0 + _mag(x[k])):
                small = False
        sq = _mag(step[0])
        aq = _mag(x[0])
        if small and sq <= rtol * aq:
            return True, it + 1
        at_rounding = sq <= NEWTON_ROUNDING_STEP * aq
    return False, maxit


@nb.njit(cache=True)
def _copy(dst, src):
    """``dst[:] = src`` for equal sizes, as a loop: numba's slice assignment checks the shapes and compiles
    its error message (string formatting), which took most of this module's compile time."""
    for k in range(src.size):
        dst[k] = src[k]


@nb.njit(cache=True)
def _on_branch(x, tol):
    """Physical (Herglotz) branch: ``Im q ≥ −tol·|q|`` and ``Im δ_k ≥ −tol·(1 + |δ_k|)`` for every k."""
    if x[0].imag < -tol * _mag(x[0]):
        return False
    for k in range(1, x.size):
        if x[k].imag < -tol * (1.0 + _mag(x[k])):
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
    # int(): a global is typed as a literal, and each literal cap would compile _newton once more
    ok, its = _newton(z, x, par, kind, eigs, wts, int(NEWTON_MAXIT_START), NEWTON_START_RTOL, F, J, sizes,
                      step)
    if not ok:
        return STATUS_FAILED, its
    y_end = max(y, floor)
    cur = math.log(top)
    end = math.log(y_end)
    h = (cur - end) / CONT_FIRST_DIVISOR + 1e-300
    steps = 0
    while cur > end:
        nxt = max(cur - h, end)
        _copy(trial, x)
        # intermediate levels need only a good start for the next one; the last is solved to rounding
        ok, k = _newton(complex(xr, math.exp(nxt)), trial, par, kind, eigs, wts, int(NEWTON_MAXIT_STEP),
                        NEWTON_FINAL_RTOL if nxt == end else NEWTON_STEP_RTOL, F, J, sizes, step)
        steps += 1
        its += k
        if ok and _on_branch(trial, HERGLOTZ_TOL):
            _copy(x, trial)
            cur = nxt
            h *= CONT_GROW
        else:
            h *= CONT_SHRINK
            if h < CONT_MIN_STEP or steps > CONT_MAX_STEPS:
                return STATUS_FAILED, steps + its
    if y >= y_end:
        return STATUS_EXACT, steps + its
    _copy(trial, x)
    ok, k = _newton(complex(xr, y), trial, par, kind, eigs, wts, int(NEWTON_MAXIT_FINAL), NEWTON_FINAL_RTOL,
                    F, J, sizes, step)
    its += k
    if ok and _on_branch(trial, HERGLOTZ_TOL):
        _copy(x, trial)
        return STATUS_EXACT, steps + its
    return STATUS_FALLBACK, steps + its


@nb.njit(cache=True)
def _polish(z, x, par, kind, eigs, wts, F, J, sizes, step):
    """One Newton step on ``x`` in place, whatever its residual; False if it is singular or not finite."""
    _residual(z, x, par, kind, eigs, wts, F, J, sizes)
    if not _linsolve(J, F, step):
        return False
    for k in range(x.size):
        x[k] -= step[k]
        if not _finite(x[k]):
            return False
    return True


@nb.njit(cache=True)
def _workspace(n):
    """The per-point work arrays of :func:`_solve_point` for ``n = 1 + K`` unknowns: ``x, trial, F, step, J, sizes``."""
    return (np.empty(n, np.complex128), np.empty(n, np.complex128), np.empty(n, np.complex128),
            np.empty(n, np.complex128), np.empty((n, n), np.complex128), np.empty(n))


@nb.njit(cache=True)
def _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, i0, i1, path):
    """Solve points ``i0 ≤ i < i1`` into the rows of ``sol`` ((q, δ_1, …, δ_K) per point), ``status``, ``iters``;
    with ``path``, a point may start from the last one's solution (:data:`PATH_OFF_AXIS`)."""
    x, trial, F, step, J, sizes = _workspace(sol.shape[1])
    warm = False                # x holds the last point's solution, verified exact
    for i in range(i0, i1):
        extra = 0
        if (path and warm and ys[i] >= PATH_OFF_AXIS * abs(xs[i])
                and _mag(complex(xs[i] - xs[i - 1], ys[i] - ys[i - 1])) <= PATH_STEP * _mag(complex(xs[i], ys[i]))):
            _copy(trial, x)
            z = complex(xs[i], ys[i])
            ok, extra = _newton(z, trial, par, kind, eigs, wts, int(NEWTON_MAXIT_FINAL), NEWTON_FINAL_RTOL, F, J,
                                sizes, step)
            # one more step: Newton stops at a residual of 1e-14, which an ill-conditioned point (near a bulk edge
            # close to the origin) turns into a 1e-11 error; the continuation arrives at rounding level
            ok = ok and _polish(z, trial, par, kind, eigs, wts, F, J, sizes, step)
            extra += 1
            if ok and _on_branch(trial, HERGLOTZ_TOL):
                _copy(x, trial)
                _copy(sol[i], x)
                status[i], iters[i] = STATUS_EXACT, extra
                continue
        status[i], iters[i] = _solve_point(xs[i], ys[i], tops[i], floors[i], par, kind, eigs, wts, x, trial, F,
                                           J, sizes, step)
        iters[i] += extra
        _copy(sol[i], x)
        warm = status[i] == STATUS_EXACT


@nb.njit(parallel=True, cache=True)
def _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, chunk, path):
    """:func:`_solve_range` over chunks of ``chunk`` points, in parallel threads.

    Kept as a numba ``parallel=True`` kernel although it costs ~2 s more to compile than Python threads over
    ``_solve_range``: numba compiles the solver again inside it with its array arguments marked non-aliasing,
    and that copy runs 25–30% faster per point (measured 4.9 vs 6.5 µs CPU per point, single thread, bit-for-bit
    the same results).
    """
    n = xs.size
    for c in nb.prange((n + chunk - 1) // chunk):
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, c * chunk,
                     min(n, (c + 1) * chunk), path)


@nb.njit(cache=True)
def _verify_point(z, x, par, kind, eigs, wts, F, J, sizes):
    """Residual ``max(|F_0|, max_k |F_k|/(1+|δ_k|))`` of ``x = (q, δ_1, …, δ_K)`` at the offset ``z`` and
    ``⟨1/D⟩`` there."""
    a1 = _residual(z, x, par, kind, eigs, wts, F, J, sizes)
    r = abs(F[0])
    for k in range(1, x.size):
        r = max(r, abs(F[k]) / (1.0 + abs(x[k])))
    return r, a1


@nb.njit(cache=True)
def _verify_range(zs, sol, par, kind, eigs, wts, res, gw, i0, i1):
    """:func:`verify` at the points ``i0 ≤ i < i1`` into ``res`` and ``gw``."""
    m = sol.shape[1]
    F = np.empty(m, np.complex128)
    J = np.empty((m, m), np.complex128)
    sizes = np.empty(m)
    for i in range(i0, i1):
        r, a1 = _verify_point(zs[i], sol[i], par, kind, eigs, wts, F, J, sizes)
        res[i] = r
        gw[i] = par.psi_p * sol[i, 0] * a1


@nb.njit(parallel=True, cache=True)
def _verify_chunks(zs, sol, par, kind, eigs, wts, res, gw, chunk):
    """:func:`_verify_range` over chunks of ``chunk`` points, in parallel threads (the same numbers)."""
    n = zs.size
    for c in nb.prange((n + chunk - 1) // chunk):
        _verify_range(zs, sol, par, kind, eigs, wts, res, gw, c * chunk, min(n, (c + 1) * chunk))


def verify(zs, sol, par, kind, eigs, wts):
    """Residual ``max(|F_0|, max_k |F_k|/(1+|δ_k|))`` and ``g_W = ψ_p q ⟨1/D⟩`` at each point (in parallel threads
    for batches of at least :data:`PARALLEL_MIN` points, as :func:`solve_many`)."""
    n = zs.size
    res = np.empty(n)
    gw = np.empty(n, np.complex128)
    if n >= PARALLEL_MIN:
        _verify_chunks(zs, sol, par, kind, eigs, wts, res, gw, 256)
    else:
        _verify_range(zs, sol, par, kind, eigs, wts, res, gw, 0, n)
    return res, gw


@nb.njit(cache=True)
def bisect_edges(left, right, left_inside, rtol, inside_tol, bound, par, kind, eigs, wts):
    """Bisect real offset brackets ``[left, right]`` whose ends differ in ``Im q > inside_tol·|q|``, in place.

    Each round solves every bracket's geometric midpoint as :func:`rfdiff.spectral.onepoint.solve` does on
    the real axis (the same continuation start ``top``, floor and verification: a residual above
    ``VERIFY_TOL`` fails the point) and keeps the half holding the flip; rounds go on while any bracket is
    wider than ``rtol`` times its right end, all brackets halved together (the sequence of the pure-Python
    loop, point for point). A fallback point's value decides like any other. Returns
    ``(failed, points, n_fallback, max_residual, total_iterations, max_iterations)``; with ``failed``,
    ``left`` holds the midpoints of the round that failed and ``right`` 1.0 where a point failed (else 0.0).
    """
    nb_ = left.size
    x, trial, F, step, J, sizes = _workspace(1 + par.comp_r.size)
    mid = np.empty(nb_)
    bad = np.zeros(nb_, np.bool_)
    points = 0
    n_fallback = 0
    max_res = 0.0
    total_it = 0
    max_it = 0
    while True:
        go = False
        for i in range(nb_):
            if right[i] - left[i] > rtol * right[i]:
                go = True
        if not go:
            return False, points, n_fallback, max_res, total_it, max_it
        any_bad = False
        for i in range(nb_):
            xm = math.sqrt(left[i] * right[i])
            mid[i] = xm
            top = CONT_TOP_FACTOR * (abs(xm) + bound)                # solve's start on the real axis (y = 0)
            floor = ETA_FLOOR * max(abs(xm), 1e-300)
            status, its = _solve_point(xm, 0.0, top, floor, par, kind, eigs, wts, x, trial, F, J, sizes, step)
            zv = complex(xm, floor) if status == STATUS_FALLBACK else complex(xm, 0.0)
            r, a1 = _verify_point(zv, x, par, kind, eigs, wts, F, J, sizes)
            if not r <= VERIFY_TOL:
                bad[i] = True
                any_bad = True
            if status == STATUS_FALLBACK:
                n_fallback += 1
            max_res = max(max_res, r)
            total_it += its
            max_it = max(max_it, its)
            inside = x[0].imag > inside_tol * abs(x[0])
            if inside == left_inside[i]:  # the edge is in [mid, right]
                left[i] = xm
            else:
                right[i] = xm
        points += nb_
        if any_bad:
            for i in range(nb_):
                left[i] = mid[i]
                right[i] = 1.0 if bad[i] else 0.0
            return True, points, n_fallback, max_res, total_it, max_it


#: Batches at least this large are solved in parallel threads (below, thread start-up dominates).
PARALLEL_MIN = 512


def solve_many(xs, ys, tops, floors, par, kind, eigs, wts, path=False):
    """``(sol, status, iterations)`` at the offsets ``xs + i ys``; ``sol[:, 0] = q``, ``sol[:, 1:] = δ``'s. With
    ``path``, consecutive points are neighbours on a contour (:data:`PATH_OFF_AXIS`)."""
    n = xs.size
    sol = np.empty((n, 1 + par.comp_r.size), np.complex128)
    status = np.empty(n, np.int8)
    iters = np.empty(n, np.int32)
    if n >= PARALLEL_MIN:
        _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, 64, bool(path))
    else:
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, sol, status, iters, 0, n, bool(path))
    return sol, status, iters

