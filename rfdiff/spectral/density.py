"""Density of U's eigenvalue law on a grid, and grids that resolve every bulk (docs/theory.md §4).

:func:`spectrum` evaluates ``ρ_U(λ) = Im q(λ + i0)/π`` and the density of μ_W from the one-point solution
(:mod:`rfdiff.spectral.onepoint`); its atoms come from rank counting and, when bulks narrower than the
rounding of λ may exist, from :func:`rfdiff.spectral.bulks.support`. :func:`spectral_grid` places points
where a :class:`~rfdiff.spectral.bulks.Support` says the bulks are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np

from ..results import Result
from ..structure import structure
from .bulks import Support, rank_atoms, scan_floor, support
from .onepoint import Work, fallback_message, solve_verified

__all__ = ["Spectrum", "spectrum", "spectral_grid"]

#: On the real axis ``Im q ≤ REAL_AXIS_EPS·|q|`` (rounding level) is a zero of the density.
REAL_AXIS_EPS = 8 * np.finfo(float).eps


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


@lru_cache(maxsize=64)
def _spectrum_atoms(model):
    """Atoms of U's law as :func:`spectrum` reports them: the rank-counting atom, plus (via
    :func:`support`, only when the scan floor was raised to the rounding of λ, e.g. at large t) the
    mass of bulks narrower than rounding. Returns ``(atoms, note)``."""
    st = structure(model)
    if not scan_floor(st)[1]:
        return tuple(rank_atoms(st)), ""
    sup = support(model)
    extra = sum(m for _, m in sup.atoms) - sum(m for _, m in rank_atoms(st))
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
    st = structure(model)
    above = lam > st.origin
    density = np.zeros_like(lam)
    density_w = np.zeros_like(lam)
    work = Work()
    sol = solve_verified(st, lam[above] - st.origin, work)
    # imaginary parts at rounding level of |q| are zeros outside the support
    real = sol.q.imag <= REAL_AXIS_EPS * np.abs(sol.q)
    density[above] = np.where(real, 0.0, sol.q.imag) / np.pi
    density_w[above] = np.where(real, 0.0, np.maximum(sol.g_w.imag, 0.0)) / np.pi
    atoms, note = _spectrum_atoms(model)
    notes = [note] if note else []
    if sol.n_fallback:
        notes.append(fallback_message(sol.n_fallback, sol.point_status.size))
    return Spectrum(lam, density, density_w, list(atoms), sol.n_fallback, work.max_residual,
                    work.total_iterations, work.max_iterations, model,
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

