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
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numba as nb
import numpy as np

from .constants import ge_coefficients
from .data import DiscreteSpectrum, MarchenkoPastur

__all__ = ["Stieltjes", "Spectrum", "Support", "SolverError", "stieltjes", "spectrum", "support",
           "spectral_bound", "atom_mass"]

#: Relative height of the lowest continuation level, ``η_floor = ETA_FLOOR · |λ − s_t²|``.
ETA_FLOOR = 1e-11
#: Largest residual ``max(|qS − 1|, |F_δ|/(1+|δ|))`` a returned solution may have (else it is marked failed).
VERIFY_TOL = 1e-9

STATUS_EXACT, STATUS_FALLBACK, STATUS_FAILED = 0, 1, 2


class SolverError(RuntimeError):
    """The fixed-point solver could not verify a physical-branch solution."""


# --------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------

@nb.njit(cache=True)
def _averages(alpha, beta, kind, eigs, wts, mp_ratio, mp_scale):
    """``⟨1/D⟩, ⟨σ/D⟩, ⟨1/D²⟩, ⟨σ/D²⟩, ⟨σ²/D²⟩`` for ``D = α + βσ`` (kind 0: atoms; 1: MP law)."""
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
    g = mp_ratio
    s = mp_scale
    r = math.sqrt(g)
    lo = s * (1 - r) ** 2
    hi = s * (1 + r) ** 2
    zeta = -alpha / beta
    root = np.sqrt(zeta - lo) * np.sqrt(zeta - hi)
    # Same closed forms as MarchenkoPastur.transforms (cancellation-free at large |ζ|).
    G = 2.0 / (s * (1 - g) - zeta - root)
    H = -2.0 * s / (zeta - s * (1 + g) + root)
    dG = -(g * s * G * G + G) / root
    dH = -H / root
    bb = beta * beta
    return G / beta, H / beta, dG / bb, dH / bb, (H + zeta * dH) / bb


@nb.njit(cache=True)
def _residual(z, q, dl, par, kind, eigs, wts):
    """Residuals ``F1 = q S − 1``, ``F2 = δ − (ψ_p/ψ_n) q (E⟨σ/D⟩ + v²)`` and their Jacobian."""
    psi, ratio, b2, E, v2, mp_r, mp_s = par[0], par[1], par[2], par[3], par[4], par[6], par[7]
    opd = 1.0 + dl
    kap = E / opd
    A1, A2, B1, B2, B3 = _averages(1.0 + psi * q * b2, psi * q * kap, kind, eigs, wts, mp_r, mp_s)
    S = -z + v2 / opd + b2 * A1 + kap * A2  # z is the offset ω = z − s²
    F1 = q * S - 1.0
    F2 = dl - ratio * q * (E * A2 + v2)
    dA1q = -psi * (b2 * B1 + kap * B2)
    dA2q = -psi * (b2 * B2 + kap * B3)
    f = psi * q * kap / opd
    J11 = S + q * (b2 * dA1q + kap * dA2q)
    J12 = q * (-v2 / (opd * opd) + b2 * f * B2 + kap * f * B3 - kap / opd * A2)
    J21 = -ratio * (E * A2 + v2) - ratio * q * E * dA2q
    J22 = 1.0 - ratio * q * E * f * B3
    return F1, F2, J11, J12, J21, J22, A1


@nb.njit(cache=True)
def _newton(z, q, dl, par, kind, eigs, wts, maxit, rtol):
    """Newton iterations; returns (q, δ, converged).

    Converged means the residual is at rounding level (``≤ 1e-14``) or the last step was below
    ``rtol`` relative (the error after it is then O(rtol²)); near a bulk edge the Jacobian is nearly
    singular and only the first holds.
    """
    for _ in range(maxit):
        F1, F2, J11, J12, J21, J22, _a = _residual(z, q, dl, par, kind, eigs, wts)
        if abs(F1) <= 1e-14 and abs(F2) <= 1e-14 * (1.0 + abs(dl)):
            return q, dl, True
        det = J11 * J22 - J12 * J21
        dq = (F1 * J22 - F2 * J12) / det
        dd = (J11 * F2 - J21 * F1) / det
        q = q - dq
        dl = dl - dd
        if not (np.isfinite(q.real) and np.isfinite(q.imag) and np.isfinite(dl.real) and np.isfinite(dl.imag)):
            return q, dl, False
        if abs(dq) <= rtol * abs(q) and abs(dd) <= rtol * (1.0 + abs(dl)):
            return q, dl, True
    return q, dl, False


@nb.njit(cache=True)
def _on_branch(q, dl, tol):
    return q.imag >= -tol * abs(q) and dl.imag >= -tol * (1.0 + abs(dl))


@nb.njit(cache=True)
def _solve_point(x, y, top, floor, par, kind, eigs, wts):
    """Continuation in η from ``x + i·top`` down to ``x + i·y`` (y ≥ 0); returns (q, δ, status, steps)."""
    ratio, E, v2, tau = par[1], par[3], par[4], par[8]
    z = complex(x, top)
    q = -1.0 / z
    dl = ratio * q * (E * tau + v2)
    q, dl, ok = _newton(z, q, dl, par, kind, eigs, wts, 50, 1e-8)
    if not ok:
        return q, dl, STATUS_FAILED, 0
    y_end = max(y, floor)
    cur = math.log(top)
    end = math.log(y_end)
    h = (cur - end) / 8.0 + 1e-300
    steps = 0
    while cur > end:
        nxt = max(cur - h, end)
        # intermediate levels need only a good start for the next one; the last is solved to rounding
        q1, d1, ok = _newton(complex(x, math.exp(nxt)), q, dl, par, kind, eigs, wts, 8,
                             1e-14 if nxt == end else 1e-7)
        steps += 1
        if ok and _on_branch(q1, d1, 1e-12):
            q, dl, cur = q1, d1, nxt
            h *= 2.0
        else:
            h *= 0.25
            if h < 1e-8 or steps > 400:
                return q, dl, STATUS_FAILED, steps
    if y >= y_end:
        return q, dl, STATUS_EXACT, steps
    q1, d1, ok = _newton(complex(x, y), q, dl, par, kind, eigs, wts, 40, 1e-14)
    if ok and _on_branch(q1, d1, 1e-12):
        return q1, d1, STATUS_EXACT, steps
    return q, dl, STATUS_FALLBACK, steps


@nb.njit(cache=True)
def _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, q, dl, status, i0, i1):
    """Solve points ``i0 ≤ i < i1`` into the output arrays ``q, dl, status``."""
    for i in range(i0, i1):
        q[i], dl[i], status[i], _ = _solve_point(xs[i], ys[i], tops[i], floors[i], par, kind, eigs, wts)


@nb.njit(parallel=True, cache=True)
def _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, q, dl, status, chunk):
    """:func:`_solve_range` over chunks of ``chunk`` points, in parallel threads."""
    n = xs.size
    for c in nb.prange((n + chunk - 1) // chunk):
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, q, dl, status, c * chunk, min(n, (c + 1) * chunk))


@nb.njit(cache=True)
def _verify(zs, q, dl, par, kind, eigs, wts):
    """Residual ``max(|F1|, |F2|/(1+|δ|))`` and ``g_W = ψ_p q ⟨1/D⟩`` at each point."""
    n = zs.size
    res = np.empty(n)
    gw = np.empty(n, np.complex128)
    for i in range(n):
        F1, F2, _1, _2, _3, _4, A1 = _residual(zs[i], q[i], dl[i], par, kind, eigs, wts)
        res[i] = max(abs(F1), abs(F2) / (1.0 + abs(dl[i])))
        gw[i] = par[0] * q[i] * A1
    return res, gw


#: Batches at least this large are solved in parallel threads (below, thread start-up dominates).
PARALLEL_MIN = 512


def _solve_many(xs, ys, tops, floors, par, kind, eigs, wts):
    n = xs.size
    q = np.empty(n, np.complex128)
    dl = np.empty(n, np.complex128)
    status = np.empty(n, np.int8)
    if n >= PARALLEL_MIN:
        _solve_chunks(xs, ys, tops, floors, par, kind, eigs, wts, q, dl, status, 64)
    else:
        _solve_range(xs, ys, tops, floors, par, kind, eigs, wts, q, dl, status, 0, n)
    return q, dl, status


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
    """Constants and the compiled-kernel parameter vector of ``model`` (cached: models are immutable)."""
    c = ge_coefficients(model)
    kind, eigs, wts, mp_r, mp_s = _law_arrays(model.data)
    par = np.array([model.psi_p, model.psi_p / model.psi_n, c.b ** 2, c.e2t * c.mu1 ** 2, c.v2, c.s2,
                    mp_r, mp_s, model.data.tau_sigma], dtype=np.float64)
    return c, par, kind, eigs, wts


def spectral_bound(model) -> float:
    """Upper bound on the largest eigenvalue of U in the limit (operator-norm triangle inequality).

    .. math:: λ_{max} ≤ s^2 + b^2 (1+\\sqrt{ψ_p})^2 + \\big(e^{-t}|μ_1|(1+\\sqrt{ψ_p})\\sqrt{σ_{max}}
              (1+ψ_n^{-1/2}) + v (1 + \\sqrt{ψ_p/ψ_n})\\big)^2

    from ``U = GGᵀ/n + b²K + s²I`` and the Bai–Yin limits of ``‖K‖``, ``‖X‖²/n``, ``‖Ω‖²/n``.
    """
    c = ge_coefficients(model)
    sp, sn = math.sqrt(model.psi_p), math.sqrt(model.psi_n)
    smax = model.data.support[1]
    g = math.exp(-model.t) * abs(c.mu1) * (1 + sp) * math.sqrt(smax) * (1 + 1 / sn) \
        + math.sqrt(c.v2) * (1 + sp / sn)
    return c.s2 + c.b ** 2 * (1 + sp) ** 2 + g * g


def atom_mass(model) -> float:
    """Mass of U's eigenvalue ``s_t²`` from rank counting: ``max(0, 1 − rank/p)``.

    ``U − s²I = GGᵀ/n + b²K`` has rank at most ``n·[v² > 0] + d·[μ_1 ≠ 0]`` (its range lies in the
    span of Ω's columns and of W's columns).
    """
    c = ge_coefficients(model)
    # μ1 is zero (an even activation) when it is at quadrature-rounding level of the feature scale
    linear_part = abs(c.mu1) > 1e-12 * math.sqrt(c.mu1 ** 2 + c.v2 + c.s2)
    rank = (model.psi_n if c.v2 > 0 else 0.0) + (1.0 if linear_part else 0.0)
    return max(0.0, 1.0 - rank / model.psi_p)


@dataclass(frozen=True)
class Stieltjes:
    """Solution of the one-point fixed point at complex points (docs/theory.md §4).

    Attributes
    ----------
    z : complex ndarray
    q : complex ndarray
        ``lim (1/p) Tr (U − z)^{-1}``.
    delta : complex ndarray
    g_w : complex ndarray
        ``lim (1/d) Tr[K (U − z)^{-1}]``, the Stieltjes transform of μ_W (mass ψ_p).
    status : int8 ndarray
        0: verified at ``z``; 1: fallback, the verified value at ``z + iη_floor`` (real z within
        ~1e-11 of a bulk edge); 2: failed.
    residual : float ndarray
        ``max(|qS − 1|, |F_δ|/(1+|δ|))`` of the returned solution.
    """

    z: np.ndarray
    q: np.ndarray
    delta: np.ndarray
    g_w: np.ndarray
    status: np.ndarray
    residual: np.ndarray

    @property
    def converged(self) -> np.ndarray:
        return self.status != STATUS_FAILED

    @property
    def n_fallback(self) -> int:
        return int(np.count_nonzero(self.status == STATUS_FALLBACK))

    @property
    def n_failed(self) -> int:
        return int(np.count_nonzero(self.status == STATUS_FAILED))


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
    return _solve_offsets(model, z - ge_coefficients(model).s2)


def _solve_offsets(model, omega) -> Stieltjes:
    """:func:`stieltjes` at ``z = s² + ω``, with the offset ω given exactly.

    Working with ω keeps full relative precision for bulks that sit within rounding distance of s²
    (at large t, v_t² can be ~1e-15).
    """
    omega = np.asarray(omega, dtype=np.complex128)
    shape = omega.shape
    w = np.ascontiguousarray(omega.ravel())
    c, par, kind, eigs, wts = _setup(model)
    bound = spectral_bound(model) - c.s2
    x = np.ascontiguousarray(w.real)
    y = np.ascontiguousarray(np.abs(w.imag))
    top = 10.0 * (np.abs(x) + bound) + 10.0 * y
    floor = ETA_FLOOR * np.maximum(np.abs(x), 1e-300)
    q, dl, status = _solve_many(x, y, top, floor, par, kind, eigs, wts)
    below = w.imag < 0
    q[below] = np.conj(q[below])
    dl[below] = np.conj(dl[below])
    ws = np.where(status == STATUS_FALLBACK, x + 1j * floor, x + 1j * y)
    ws = np.where(below, np.conj(ws), ws)
    res, gw = _verify(np.ascontiguousarray(ws), q, dl, par, kind, eigs, wts)
    status = np.where(res <= VERIFY_TOL, status, STATUS_FAILED).astype(np.int8)
    return Stieltjes((c.s2 + w).reshape(shape), q.reshape(shape), dl.reshape(shape), gw.reshape(shape),
                     status.reshape(shape), res.reshape(shape))


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalue law of U on a grid (docs/theory.md §4).

    Attributes
    ----------
    lambdas : ndarray
    density : ndarray
        Continuous part ``ρ_U(λ) = Im q(λ + i0)/π`` (integrates with the atoms to 1).
    density_w : ndarray
        Density of μ_W, ``Im g_W(λ + i0)/π`` (total mass ψ_p, no atom).
    atoms : list of (location, mass)
    n_fallback : int
        Points within ~1e-11 of a bulk edge that used the value at ``λ + iη_floor``.
    max_residual : float
    model : RFModel
    """

    lambdas: np.ndarray
    density: np.ndarray
    density_w: np.ndarray
    atoms: list
    n_fallback: int
    max_residual: float
    model: object = field(repr=False)

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "lambdas": self.lambdas, "density": self.density,
                "density_w": self.density_w, "atoms": [list(a) for a in self.atoms],
                "diagnostics": {"n_fallback": self.n_fallback, "max_residual": self.max_residual}}


def _atoms(model):
    mass = atom_mass(model)
    return [(ge_coefficients(model).s2, mass)] if mass > 0 else []


def spectrum(model, lambdas) -> Spectrum:
    """Density of U's eigenvalue law (and of μ_W) at real points ``lambdas``.

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
    s2 = ge_coefficients(model).s2
    above = lam > s2
    density = np.zeros_like(lam)
    density_w = np.zeros_like(lam)
    st = stieltjes(model, lam[above].astype(np.complex128))
    if st.n_failed:
        bad = lam[above][st.status == STATUS_FAILED]
        raise SolverError(f"{st.n_failed} spectral points could not be verified, e.g. λ = {bad[:3]}")
    # imaginary parts at rounding level of |q| are zeros outside the support
    real = st.q.imag <= 8 * np.finfo(float).eps * np.abs(st.q)
    density[above] = np.where(real, 0.0, st.q.imag) / np.pi
    density_w[above] = np.where(real, 0.0, np.maximum(st.g_w.imag, 0.0)) / np.pi
    return Spectrum(lam, density, density_w, _atoms(model), st.n_fallback,
                    float(st.residual.max(initial=0.0)), model)


@dataclass(frozen=True)
class Support:
    """Support of U's eigenvalue law, found from the solution itself.

    Attributes
    ----------
    intervals : list of (lo, hi)
        Every bulk, ascending. Edges are located by bisection on ``Im q(λ + i0) > 0`` to a relative
        accuracy of ``edge_rtol``.
    masses : list of float
        Mass of U's law carried by each bulk.
    masses_w : list of float
        Mass of μ_W carried by each bulk (they add up to ψ_p).
    atoms : list of (location, mass)
        The atom at ``s_t²`` (rank counting, checked against ``lim η Im q(s² + iη)``).
    total_mass : float
        ``Σ masses + Σ atom masses``; 1 up to quadrature error (checked, ``mass_tol``).
    offsets : list of (lo, hi)
        The intervals as offsets ``λ − s_t²``, exact even when a bulk is within rounding of s².
    lambda_max : float
        Upper edge of the highest bulk.
    grid_points : int
        Size of the scanning grid that found the bulks (doubled until the masses add up).
    """

    intervals: list
    masses: list
    masses_w: list
    atoms: list
    total_mass: float
    offsets: list
    lambda_max: float
    grid_points: int
    model: object = field(repr=False)

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "intervals": [list(i) for i in self.intervals],
                "masses": self.masses, "masses_w": self.masses_w, "atoms": [list(a) for a in self.atoms],
                "total_mass": self.total_mass, "lambda_max": self.lambda_max}


def _inside(st) -> np.ndarray:
    return st.q.imag > 1e-8 * np.abs(st.q)


def _solve_verified(model, omega) -> Stieltjes:
    st = _solve_offsets(model, np.asarray(omega, dtype=np.complex128))
    if st.n_failed:
        bad = st.z[st.status == STATUS_FAILED]
        raise SolverError(f"{st.n_failed} spectral points could not be verified, e.g. z = {bad[:3]}")
    return st


def _bisect_edges(model, left, right, left_inside, rtol):
    """Bisect offset brackets ``[left, right]`` whose ends differ in ``Im q > 0`` (geometric midpoints)."""
    left = np.array(left, dtype=float)
    right = np.array(right, dtype=float)
    left_inside = np.asarray(left_inside)
    while np.any(right - left > rtol * right):
        mid = np.sqrt(left * right)
        inside = _inside(_solve_verified(model, mid))
        go_right = inside == left_inside  # the edge is in [mid, right]
        left = np.where(go_right, mid, left)
        right = np.where(go_right, right, mid)
    return np.sqrt(left * right)


def _contour_masses(model, lo, hi, tol, atom_inside=0.0):
    """Masses of U's law and of μ_W enclosed by a contour crossing the real axis at offsets ``lo < hi``.

    ``mass = −(1/2πi) ∮ q(z) dz`` on the ellipse ``w(θ) = c + a cos θ + i b sin θ`` in ``w = log(z − s²)``
    around ``[log lo, log hi]`` (trapezoid rule, geometric convergence; node count doubled until the
    N and 2N results agree to ``tol``). With ``lo = 0`` a circle in z around ``[−hi, hi]`` is used and
    ``atom_inside`` (the atom at s²) is subtracted.
    """
    n = 64
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
        st = _solve_verified(model, omega)
        cur = (float((-(st.q @ d_omega) / (2j * np.pi)).real) - atom_inside,
               float((-(st.g_w @ d_omega) / (2j * np.pi)).real))
        if prev is not None and abs(cur[0] - prev[0]) <= tol and abs(cur[1] - prev[1]) <= tol * model.psi_p:
            return cur
        if n >= 1 << 15:
            raise SolverError(f"contour mass around offsets [{lo:.6g}, {hi:.6g}] from s² did not converge")
        prev = cur
        n *= 2


def _hidden_gaps(model, x, st, dip=0.2, iters=40):
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
        f = _solve_verified(model, np.exp(np.concatenate([c1, c2])))
        f1, f2 = np.split(np.where(_inside(f), f.q.imag, 0.0), 2)
        left = f1 <= f2
        b = np.where(left, c2, b)
        a = np.where(left, a, c1)
    xm = np.exp(0.5 * (a + b))
    return xm[~_inside(_solve_verified(model, xm))]


def support(model, *, points_per_decade=150, edge_rtol=1e-12, mass_tol=1e-7, max_refine=3) -> Support:
    """Every bulk of U's spectrum, with its mass, and the atom at ``s_t²``.

    Works with offsets ``x = λ − s²`` (U ≥ s² I). A grid of ``x`` log-spaced from
    ``min(1e-13·x_bound, 1e-8·v_t²)`` to ``x_bound = spectral_bound − s²`` is scanned for
    ``Im q(λ + i0) > 0``; the edges of each run are refined by bisection to ``edge_rtol``; each bulk's
    mass is integrated with a self-checked quadrature. If the bulk masses and the atom do not add up
    to 1 within ``mass_tol`` (a bulk narrower than the grid spacing was missed), the grid is refined
    (×4), up to ``max_refine`` times, after which :class:`SolverError` is raised.

    Notes
    -----
    docs/theory.md §4 and §7: several bulks (a low cluster just above s², a memorization bulk, a
    generalization bulk) may span many decades; no asymptotic formula is used here. Two bulks separated
    by a gap narrower than the grid spacing are reported as one.
    """
    if not points_per_decade >= 10:
        raise ValueError("points_per_decade must be >= 10")
    c = ge_coefficients(model)
    x_hi = 1.05 * spectral_bound(model) - c.s2
    x_lo = 1e-13 * x_hi if c.v2 <= 0 else min(1e-13 * x_hi, 1e-8 * c.v2)
    atoms = _atoms(model)
    atom_total = sum(m for _, m in atoms)
    density = float(points_per_decade)
    for _attempt in range(max_refine + 1):
        n = int(math.ceil(density * math.log10(x_hi / x_lo))) + 1
        x = np.geomspace(x_lo, x_hi, n)
        st = _solve_verified(model, x)
        gaps = _hidden_gaps(model, x, st)
        if gaps.size:
            x = np.sort(np.concatenate([x, gaps]))
            st = _solve_verified(model, x)
        inside = _inside(st)
        if inside[-1]:
            raise SolverError("spectrum extends beyond spectral_bound(); please report")
        flips = np.flatnonzero(inside[1:] != inside[:-1])
        ends = _bisect_edges(model, x[flips], x[flips + 1], inside[flips], edge_rtol)
        if inside[0]:  # a bulk reaching below the first grid point: it starts at s² itself
            ends = np.concatenate([[0.0], ends])
        offsets = [(float(a), float(b)) for a, b in zip(ends[0::2], ends[1::2])]
        # contours cross the axis at the geometric midpoints of the gaps
        cuts = [0.5 * ends[0] if ends[0] > 0 else 0.0]
        cuts += [math.sqrt(a * b) for a, b in zip(ends[1:-1:2], ends[2::2])] + [2.0 * ends[-1]] if offsets else []
        masses, masses_w = zip(*[_contour_masses(model, lo, hi, 0.1 * mass_tol, atom_total if lo == 0 else 0.0)
                                 for lo, hi in zip(cuts[:-1], cuts[1:])]) if offsets else ((), ())
        total = sum(masses) + atom_total
        if abs(total - 1.0) <= mass_tol:
            break
        density *= 4
    else:
        raise SolverError(f"bulk masses and atoms add up to {total:.9f}, not 1, after refining the grid "
                          f"to {n} points (a bulk may be unresolved)")
    intervals = [(c.s2 + lo, c.s2 + hi) for lo, hi in offsets]
    return Support(intervals, list(masses), list(masses_w), atoms, total, offsets,
                   intervals[-1][1] if intervals else c.s2, n, model)


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
