"""Generalization and memorization timescales read off the exact test-loss curve (docs/theory.md §3, §7).

Default definitions (:func:`timescales`):

* ``tau_gen`` — the training time minimising ``L_test(τ)``, found as the root of the exact derivative
  ``dL_test/dτ`` (relative accuracy ``rtol``, default 1e-4); ``inf`` if ``L_test`` decreases all the way to
  τ = ∞.
* ``tau_mem`` — the first ``τ ≥ tau_gen`` at which ``L_test(τ) − L_min ≥ mem_fraction·(L_test(∞) − L_min)``
  (default fraction 0.1; same accuracy); ``inf`` when ``L_test(∞) − L_min < mem_tol`` (default 1e-6,
  four orders above the quadrature error of the losses): no memorization.

Spectral timescales, by name (:meth:`Timescales.by_name`): a mode λ of U relaxes as ``e^{−κλτ}``,
``κ = 2Δ_t/ψ_p``, so each bulk ``[lo, hi]`` of U has the timescales ``τ_λ = ψ_p/(2Δ_t λ)`` at its
edges (``bulk{i}_fast`` at ``hi``, ``bulk{i}_slow`` at ``lo``) and at its μ_W-weighted mean eigenvalue
(``bulk{i}_mean``); bulks are numbered from the lowest. ``tau_seed = ψ_p/(Δ_t λ_min)`` is the seed paper's
operational memorization time, with ``λ_min`` the lowest bulk edge (the atom at ``s_t²`` carries no
μ_W weight and is excluded).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .curves import LearningDynamics
from .spectral import SolverError, stieltjes

__all__ = ["BulkTimescales", "Timescales", "ScalingExponents", "timescales", "scaling_exponents",
           "timescales_from_curve"]

DEFINITION = ("tau_gen = argmin_tau L_test(tau); tau_mem = first tau >= tau_gen with "
              "L_test(tau) - L_min >= {frac:g} (L_test(inf) - L_min), inf if L_test(inf) - L_min < {tol:g}; "
              "relative accuracy {rtol:g}; tau in the convention dA/dtau = -d^2 grad L_train")


@dataclass(frozen=True)
class BulkTimescales:
    """Relaxation timescales ``ψ_p/(2Δ_t λ)`` of one bulk ``[lo, hi]`` of U.

    Attributes
    ----------
    lo, hi : float
        Bulk edges.
    mass_w : float
        μ_W mass of the bulk.
    lambda_mean : float
        μ_W-weighted mean eigenvalue ``∫ λ dμ_W / ∫ dμ_W`` over the bulk.
    tau_fast, tau_mean, tau_slow : float
        ``ψ_p/(2Δ_t λ)`` at ``hi``, ``lambda_mean`` and ``lo``.
    """

    lo: float
    hi: float
    mass_w: float
    lambda_mean: float
    tau_fast: float
    tau_mean: float
    tau_slow: float


@dataclass(frozen=True)
class Timescales:
    """Generalization and memorization times of one model.

    Attributes
    ----------
    tau_gen, tau_mem : float
        Default definitions (module docstring; ``definition`` states them); may be ``inf``.
    definition : str
    test_min, test_inf : float
        ``L_test(tau_gen)`` and ``L_test(∞)``.
    bulks : tuple of BulkTimescales
        Spectral timescales of every bulk of U, lowest first.
    tau_seed : float
        ``ψ_p/(Δ_t λ_min)``, λ_min the lowest bulk edge.
    model : RFModel
    """

    tau_gen: float
    tau_mem: float
    definition: str
    test_min: float
    test_inf: float
    bulks: tuple
    tau_seed: float
    model: object = field(repr=False)

    def by_name(self) -> dict:
        """Every timescale by name: ``tau_gen``, ``tau_mem``, ``tau_seed``, ``bulk{i}_{fast,mean,slow}``."""
        out = {"tau_gen": self.tau_gen, "tau_mem": self.tau_mem, "tau_seed": self.tau_seed}
        for i, b in enumerate(self.bulks):
            out.update({f"bulk{i}_fast": b.tau_fast, f"bulk{i}_mean": b.tau_mean, f"bulk{i}_slow": b.tau_slow})
        return out

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "tau_gen": self.tau_gen, "tau_mem": self.tau_mem,
                "definition": self.definition, "test_min": self.test_min, "test_inf": self.test_inf,
                "tau_seed": self.tau_seed, "bulks": [vars(b) for b in self.bulks]}


def _bulks(model, sup, n=200) -> tuple:
    """Per-bulk spectral timescales; μ_W moments by ``λ = lo + (hi − lo)(1 − cos θ)/2``, midpoint in θ.

    The substitution turns the square-root edges of the density ``Im g_W(λ + i0)/π`` into a smooth periodic
    integrand, so the midpoint rule converges fast.
    """
    if not sup.intervals:
        return ()
    theta = (np.arange(n) + 0.5) * np.pi / n
    nodes, weights = [], []
    for lo, hi in sup.intervals:
        nodes.append(lo + 0.5 * (hi - lo) * (1 - np.cos(theta)))
        weights.append(0.5 * (hi - lo) * np.sin(theta) * np.pi / n)
    st = stieltjes(model, np.concatenate(nodes).astype(complex))
    if st.n_failed:
        raise SolverError(f"one-point solver failed at {st.n_failed} points inside the bulks")
    dens = np.maximum(st.g_w.imag, 0.0).reshape(len(nodes), n) / np.pi
    rate = 2 * model.delta_t / model.psi_p
    out = []
    for (lo, hi), lam, w, rho in zip(sup.intervals, nodes, weights, dens):
        mass = float(w @ rho)
        mean = float(w @ (lam * rho)) / mass if mass > 0 else 0.5 * (lo + hi)
        out.append(BulkTimescales(lo, hi, mass, mean, 1 / (rate * hi), 1 / (rate * mean), 1 / (rate * lo)))
    return tuple(out)


def timescales(model, *, mem_fraction=0.1, mem_tol=1e-6, rtol=1e-4, dynamics=None) -> Timescales:
    """Generalization time ``tau_gen`` and memorization time ``tau_mem`` from the exact test-loss curve.

    Parameters
    ----------
    model : RFModel
    mem_fraction : float
        Fraction of the late rise ``L_test(∞) − L_min`` that defines ``tau_mem`` (in (0, 1); default 0.1).
    mem_tol : float
        No memorization (``tau_mem = inf``) when ``L_test(∞) − L_min < mem_tol`` (default 1e-6).
    rtol : float
        Relative accuracy of ``tau_gen`` and ``tau_mem`` (default 1e-4).
    dynamics : LearningDynamics, optional
        A solved :class:`~rfdiff.curves.LearningDynamics` of ``model`` to reuse.

    Returns
    -------
    Timescales

    Notes
    -----
    The test loss is scanned on 25 points per decade from ``0.01/(κ λ_max)`` to ``100/(κ λ_min)``
    (``κ = 2Δ_t/ψ_p``, λ_min and λ_max the extreme bulk edges of U: every mode is still frozen at the
    start and fully relaxed at the end); the minimum is refined by Brent's method on the sign change of
    ``dL_test/dτ`` and ``tau_mem`` by Brent's method on the threshold crossing, both in ``log τ``.
    Definitions: module docstring, docs/theory.md §7.
    """
    mem_fraction, mem_tol, rtol = float(mem_fraction), float(mem_tol), float(rtol)
    if not 0 < mem_fraction < 1:
        raise ValueError(f"mem_fraction must be in (0, 1), got {mem_fraction!r}")
    if not (mem_tol > 0 and math.isfinite(mem_tol)):
        raise ValueError(f"mem_tol must be finite and > 0, got {mem_tol!r}")
    if not 0 < rtol < 0.1:
        raise ValueError(f"rtol must be in (0, 0.1), got {rtol!r}")
    ld = LearningDynamics(model) if dynamics is None else dynamics
    sup = ld.support
    kappa = model.kappa
    lo, hi = sup.intervals[0][0], sup.lambda_max
    grid = np.geomspace(0.01 / (kappa * hi), 100 / (kappa * lo),
                        int(25 * math.log10(1e4 * hi / lo)) + 2)
    test = ld(grid).test
    test_inf = float(ld([np.inf]).test[0])
    i = int(np.argmin(test))

    def log_root(fun, a, b):
        return math.exp(brentq(lambda s: fun(math.exp(s)), math.log(a), math.log(b), xtol=rtol, rtol=1e-12))

    if test_inf <= test[i] or i == grid.size - 1:
        tau_gen, test_min = math.inf, test_inf
    else:
        slope = lambda tau: float(ld.test_derivative([tau])[0])  # noqa: E731
        a, b = grid[max(i - 1, 0)], grid[i + 1]
        if not slope(a) < 0 < slope(b):
            raise SolverError(f"dL_test/dτ does not change sign around the scanned minimum τ ≈ {grid[i]:.4g}")
        tau_gen = log_root(slope, a, b)
        test_min = float(ld([tau_gen]).test[0])
    rise = test_inf - test_min
    if not math.isfinite(tau_gen) or rise < mem_tol:
        tau_mem = math.inf
    else:
        level = test_min + mem_fraction * rise
        excess = lambda tau: float(ld([tau]).test[0]) - level  # noqa: E731
        above = np.flatnonzero((grid > tau_gen) & (test >= level))
        if above.size:
            j = above[0]
            a, b = max(tau_gen, grid[j - 1]), grid[j]
        else:  # the crossing lies beyond the scan: walk out by decades
            a, b = grid[-1], 10 * grid[-1]
            while excess(b) < 0:
                a, b = b, 10 * b
        tau_mem = log_root(excess, a, b)
    return Timescales(tau_gen, tau_mem, DEFINITION.format(frac=mem_fraction, tol=mem_tol, rtol=rtol),
                      test_min, test_inf, _bulks(model, sup), model.psi_p / (model.delta_t * lo), model)


@dataclass(frozen=True)
class ScalingExponents:
    """Local scaling exponents ``d log τ / d log ψ_n`` of one named timescale.

    Attributes
    ----------
    psi_n, tau, exponent : ndarray
        The ψ_n values, the timescale at each, and the local exponent (second-order finite differences in
        ``log ψ_n``, one-sided at the ends; NaN where τ is infinite).
    which : str
        Name of the timescale (:meth:`Timescales.by_name`).
    """

    psi_n: np.ndarray
    tau: np.ndarray
    exponent: np.ndarray
    which: str

    def to_dict(self) -> dict:
        return {"psi_n": self.psi_n, "tau": self.tau, "exponent": self.exponent, "which": self.which}


def scaling_exponents(model, psi_n, which="tau_mem", **options) -> ScalingExponents:
    """Local exponents ``d log τ / d log ψ_n`` of a timescale over a range of ψ_n.

    Parameters
    ----------
    model : RFModel
        Every other parameter (ψ_p, t, activation, data) is taken from here.
    psi_n : array_like
        At least 3 increasing positive values (log-spaced is best).
    which : str
        A key of :meth:`Timescales.by_name` (default ``"tau_mem"``; docs/theory.md §7 expects exponent 1 for
        ``ψ_p ≫ ψ_n ≫ 1``, bending as ψ_n approaches ψ_p).
    **options
        Passed to :func:`timescales`.

    Returns
    -------
    ScalingExponents
    """
    psi = np.asarray(psi_n, dtype=float)
    if psi.ndim != 1 or psi.size < 3 or not np.all(np.isfinite(psi)) or np.any(psi <= 0) \
            or np.any(np.diff(psi) <= 0):
        raise ValueError("psi_n must hold at least 3 increasing positive finite values")
    if not re.fullmatch(r"tau_(gen|mem|seed)|bulk\d+_(fast|mean|slow)", str(which)):
        raise ValueError(f"which must be tau_gen, tau_mem, tau_seed or bulk<i>_fast/mean/slow, got {which!r}")
    taus = []
    for value in psi:
        names = timescales(model.replace(psi_n=value), **options).by_name()
        if which not in names:
            raise ValueError(f"which={which!r}: the model at psi_n={value:g} has only {len(names) // 3 - 1} bulks")
        taus.append(names[which])
    tau = np.array(taus, dtype=float)
    with np.errstate(invalid="ignore"):
        exponent = np.gradient(np.log(tau), np.log(psi))
    exponent[~np.isfinite(exponent)] = np.nan
    return ScalingExponents(psi, tau, exponent, which)


def timescales_from_curve(curves_fn, tau_lo, tau_hi, mem_fraction=0.1, xtol=1e-6):
    """τ_gen and τ_mem of any test-loss curve (e.g. a finite-size simulation), with the definition of
    :func:`timescales`.

    Parameters
    ----------
    curves_fn : callable
        ``curves_fn(taus)`` returns curves with a ``.test`` array (e.g. ``RandomFeatures.loss_curves``).
    tau_lo, tau_hi : float
        Scan range; the test loss is scanned on 25 points per decade.
    mem_fraction : float
        Fraction of the late rise defining τ_mem (default 0.1, as :func:`rfdiff.timescales`).
    xtol : float
        Absolute accuracy of the refinement in ``log τ``.

    Returns
    -------
    (tau_gen, tau_mem) : tuple of float
        ``tau_gen = argmin L_test`` (``inf`` if the minimum is at τ = ∞); ``tau_mem`` the first
        ``τ ≥ tau_gen`` with ``L_test(τ) − L_min ≥ mem_fraction (L_test(∞) − L_min)`` (``inf`` if the loss
        does not reach that level by ``tau_hi``).

    Notes
    -----
    The scanned minimum is refined by a bounded Brent minimisation in ``log τ`` between its grid
    neighbours, the crossing by Brent's root finder in ``log τ``. A finite model's test loss can have
    several local minima; like :func:`rfdiff.timescales`, the global one on the grid is taken.
    """
    def test(tau):
        return float(curves_fn(np.array([tau])).test[0])

    grid = np.geomspace(tau_lo, tau_hi, int(25 * math.log10(tau_hi / tau_lo)) + 2)
    values = curves_fn(grid).test
    test_inf = test(np.inf)
    i = int(np.argmin(values))
    if test_inf <= values[i] or i == grid.size - 1:
        return math.inf, math.inf
    lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[i + 1])
    res = minimize_scalar(lambda s: test(math.exp(s)), bounds=(lo, hi), method="bounded",
                          options={"xatol": xtol})
    tau_gen, test_min = math.exp(res.x), float(res.fun)
    if test_min > values[i]:                       # the bracket's end point was the minimum
        tau_gen, test_min = float(grid[i]), float(values[i])
    level = test_min + mem_fraction * (test_inf - test_min)
    above = np.nonzero((values >= level) & (grid > tau_gen))[0]
    if test_inf - test_min <= 0 or above.size == 0:
        return tau_gen, math.inf
    j = int(above[0])
    a = math.log(max(tau_gen, grid[j - 1]))
    tau_mem = math.exp(brentq(lambda s: test(math.exp(s)) - level, a, math.log(grid[j]), xtol=xtol))
    return tau_gen, tau_mem
