"""The one-point fixed point on a built :class:`~rfdiff.structure.Structure` (docs/theory.md §4, §10).

For ``z ∈ C \\ R`` the limit ``q(z) = lim (1/p) Tr (U − z)^{-1}`` solves, with one ``δ_k`` per Wishart
component of the structure (K = 1 for exact noise averages, where the equations read)

.. math::

    m(σ) = b^2 + \\frac{e^{-2t} μ_1^2 σ}{1 + δ}, \\qquad
    c = s^2 − z + \\frac{v^2}{1 + δ},

    q = \\Big( c + \\Big\\langle \\frac{m}{1 + ψ_p q m} \\Big\\rangle \\Big)^{-1}, \\qquad
    δ = \\frac{ψ_p}{ψ_n} q \\Big( e^{-2t} μ_1^2 \\Big\\langle \\frac{σ}{1 + ψ_p q m} \\Big\\rangle + v^2 \\Big),

with ``⟨·⟩`` the average over the data-covariance law ρ_Σ. :func:`solve` runs the compiled complex Newton
method (:mod:`rfdiff.spectral.kernels`) point by point along a path ``z = λ + iη`` with η decreasing
geometrically from far above the spectrum (where ``q ≈ −1/z``) to the target; each continuation step must
converge and stay on the physical (Herglotz) branch ``Im q ≥ 0, Im δ ≥ 0`` or it is retried with a smaller
step. Points on the real axis are reached by a last Newton solve at ``η = 0``; where that solve cannot be
verified (within ~1e-11 relative of a bulk edge) the value at ``η = 10^{-11}·|λ − s_t²|`` is returned and
the point is counted as a fallback. Every point carries a status and an iteration count.

Offsets: the solver works with ``ω = z − origin`` (the structure's lowest possible eigenvalue, s_t² for
exact noise averages), given exactly, so bulks within rounding distance of the origin (at large t, v_t²
can be ~1e-15) keep full relative precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..data import DiscreteSpectrum, MarchenkoPastur
from ..results import Result, SolverError
from ..structure import structure
from .kernels import (CONT_TOP_FACTOR, ETA_FLOOR, STATUS_FAILED, STATUS_FALLBACK, VERIFY_TOL, KernelParams,
                       solve_many, verify)

__all__ = ["Stieltjes", "stieltjes", "solve", "solve_verified", "kernel_inputs", "law_arrays", "spectral_bound", "atom_mass",
           "Work"]


def law_arrays(law):
    """``(kind, eigenvalues, weights, MP ratio, MP scale)`` of a data law as the kernels take it (kind 0: atoms;
    1: Marchenko–Pastur)."""
    if isinstance(law, MarchenkoPastur):
        return 1, np.zeros(1), np.zeros(1), law.ratio, law.scale
    if isinstance(law, DiscreteSpectrum):
        return (0, np.ascontiguousarray(law.eigs, dtype=np.float64),
                np.ascontiguousarray(law.weights, dtype=np.float64), 0.0, 0.0)
    raise ValueError(f"data law {type(law).__name__} is not supported by the spectral solver")


def kernel_inputs(st):
    """The compiled kernels' inputs for a :class:`~rfdiff.structure.Structure`: ``(KernelParams, law kind,
    eigenvalues, weights)``, built once per structure object (structures are immutable; kept in the object's
    ``__dict__``, as :func:`functools.cached_property` does, since hashing a structure on every solver call
    cost more than a small solve)."""
    cached = st.__dict__.get("_kernel_inputs")
    if cached is None:
        cached = st.__dict__["_kernel_inputs"] = _kernel_inputs(st)
    return cached


def _kernel_inputs(st):
    """:func:`kernel_inputs`, built: also the offset of the spectral bound, ``spectral_bound − origin``."""
    kind, eigs, wts, mp_r, mp_s = law_arrays(st.law)
    comps = st.components
    par = KernelParams(psi_p=float(st.psi_p), tau_sigma=float(st.law.tau_sigma), mp_ratio=float(mp_r),
                       mp_scale=float(mp_s), shift_alpha=float(st.shift.alpha), shift_beta=float(st.shift.beta),
                       comp_alpha=np.array([c.cov.alpha for c in comps], dtype=np.float64),
                       comp_beta=np.array([c.cov.beta for c in comps], dtype=np.float64),
                       comp_x0=np.array([c.cov.x0 for c in comps], dtype=np.float64),
                       comp_r=np.array([st.psi_p / c.ratio for c in comps], dtype=np.float64))
    for a in (eigs, wts, par.comp_alpha, par.comp_beta, par.comp_x0, par.comp_r):
        a.flags.writeable = False
    st.__dict__["_bound_offset"] = spectral_bound(st) - st.origin
    return par, kind, eigs, wts


def spectral_bound(st) -> float:
    """Upper bound on the largest eigenvalue of U in the limit (operator-norm triangle inequality), from a
    :class:`~rfdiff.structure.Structure` (or a model, whose structure is built).

    For a component with N_k columns of covariance ``W diag(ασ + β) Wᵀ/d + x0 I`` (columns
    ``W diag(√(ασ+β)) z/√d + √x0 ω``) and the shift ``W diag(α_S σ + β_S) Wᵀ/d + x0_S I``,

    .. math:: λ_{max} ≤ x0_S + (α_S σ_{max} + β_S)(1+\\sqrt{ψ_p})^2 + Σ_k \\big(\\sqrt{α_k σ_{max} + β_k}
              (1+\\sqrt{ψ_p})(1+ψ_k^{-1/2}) + \\sqrt{x0_k}(1+\\sqrt{ψ_p/ψ_k})\\big)^2

    by the Bai–Yin limits ``‖W/√d‖ → 1+√ψ_p``, ``‖Z/√N‖ → 1+√(d/N)``, ``‖Ω/√N‖ → 1+√(p/N)`` (for exact
    noise averages: ``s² + b²(1+√ψ_p)² + (e^{-t}|μ1|√σ_max (1+√ψ_p)(1+ψ_n^{-1/2}) + v(1+√(ψ_p/ψ_n)))²``).
    """
    st = _structure_of(st)
    sp = math.sqrt(st.psi_p)
    smax = st.law.support[1]
    total = st.shift.x0 + (st.shift.alpha * smax + st.shift.beta) * (1 + sp) ** 2
    for c in st.components:
        g = math.sqrt(c.cov.alpha * smax + c.cov.beta) * (1 + sp) * (1 + 1 / math.sqrt(c.ratio)) \
            + math.sqrt(c.cov.x0) * (1 + sp / math.sqrt(c.ratio))
        total += g * g
    return total


def atom_mass(st) -> float:
    """Mass of U's lowest possible eigenvalue (``s_t²`` for exact noise averages, 0 with m frozen draws)
    from rank counting (:meth:`rfdiff.structure.Structure.atom_mass`), for a structure or a model."""
    return _structure_of(st).atom_mass()


def _structure_of(obj):
    """``obj`` if it is a built structure, else the structure of the model ``obj``."""
    return obj if hasattr(obj, "components") else structure(obj)


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
    st = structure(model)
    return solve(st, z - st.origin)


def solve(st, omega, path=False) -> Stieltjes:
    """The one-point fixed point of the structure ``st`` at ``z = st.origin + ω``, the offset ω given exactly
    (module docstring). Failed points are reported per point, not raised. ``path``: consecutive points are
    neighbours on a contour, and one off the real axis may start Newton from the last one's solution
    (:data:`rfdiff.spectral.kernels.PATH_OFF_AXIS`; the same solution to rounding, in a few iterations)."""
    omega = np.asarray(omega, dtype=np.complex128)
    shape = omega.shape
    w = np.ascontiguousarray(omega.reshape(-1))
    par, kind, eigs, wts = kernel_inputs(st)
    x = w.real.copy()
    y = np.abs(w.imag)
    ax = np.abs(x)
    top = CONT_TOP_FACTOR * (ax + st.__dict__["_bound_offset"]) + CONT_TOP_FACTOR * y
    floor = ETA_FLOOR * np.maximum(ax, 1e-300)
    sol, status, iters = solve_many(x, y, top, floor, par, kind, eigs, wts, path)
    below = w.imag < 0
    any_below = below.any()
    if any_below:
        sol[below] = np.conj(sol[below])
    fallback = status == STATUS_FALLBACK
    n_fallback = int(np.count_nonzero(fallback))
    ws = w                                # the point each solution belongs to: z, or z + iη_floor (fallback)
    if n_fallback:
        ws = np.where(fallback, x + 1j * floor, x + 1j * y)
        if any_below:
            ws = np.where(below, np.conj(ws), ws)
    res, gw = verify(ws, sol, par, kind, eigs, wts)
    bad = ~(res <= VERIFY_TOL)                # (a NaN residual fails too)
    failed = int(np.count_nonzero(bad | (status == STATUS_FAILED)))
    if failed:
        status[bad] = STATUS_FAILED
        n_fallback = int(np.count_nonzero(status == STATUS_FALLBACK))
    notes = ([f"{failed} of {status.size} points failed"] if failed else []) + \
        ([f"{n_fallback} of {status.size} points used the edge fallback"] if n_fallback else [])
    K = sol.shape[1] - 1
    return Stieltjes((st.origin + w).reshape(shape), sol[:, 0].reshape(shape), sol[:, 1:].reshape(shape + (K,)),
                     gw.reshape(shape), status.reshape(shape), res.reshape(shape), iters.reshape(shape),
                     status="failed" if failed else ("fallback" if n_fallback else "ok"), message="; ".join(notes))


@dataclass
class Work:
    """Diagnostics accumulated over the solver calls that make up one result."""

    points: int = 0
    n_fallback: int = 0
    max_residual: float = 0.0
    total_iterations: int = 0
    max_iterations: int = 0

    def add(self, st: Stieltjes) -> Stieltjes:
        """Count the points of a solution; returns it."""
        self.count(st.point_status.size, st.n_fallback, st.residual.max(initial=0.0), st.iterations.sum(),
                   st.iterations.max(initial=0))
        return st

    def count(self, points, n_fallback, max_residual, total_iterations, max_iterations) -> None:
        """Count points solved elsewhere (e.g. by :func:`rfdiff.spectral.kernels.bisect_edges`)."""
        self.points += int(points)
        self.n_fallback += int(n_fallback)
        self.max_residual = max(self.max_residual, float(max_residual))
        self.total_iterations += int(total_iterations)
        self.max_iterations = max(self.max_iterations, int(max_iterations))


def solve_verified(st, omega, work=None, path=False) -> Stieltjes:
    """:func:`solve`, raising :class:`~rfdiff.results.SolverError` if any point failed; its diagnostics are
    added to ``work`` (a :class:`Work`) when given."""
    sol = solve(st, omega, path)
    if sol.n_failed:
        bad = sol.z[sol.point_status == STATUS_FAILED]
        raise SolverError(f"{sol.n_failed} spectral points could not be verified, e.g. z = {bad[:3]}")
    return work.add(sol) if work is not None else sol


def fallback_message(n_fallback: int, points: int) -> str:
    """The message of results with ``n_fallback`` real points on the edge fallback among ``points`` points solved
    (real or complex)."""
    return (f"real points within ~{ETA_FLOOR:g} (relative) of a bulk edge took the verified value at λ + iη_floor, "
            f"η_floor = {ETA_FLOOR:g}·|λ − s_t²|: {n_fallback} of the {points} points solved")

