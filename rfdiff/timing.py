"""Generalization and memorization timescales read off the exact test-loss curve (docs/theory.md §3, §7).

Definitions (:func:`timescales`; one set of options, :class:`TimescaleOptions`):

* ``tau_gen`` — the training time minimising ``L_test(τ)``, found as the root of the exact derivative
  ``dL_test/dτ`` (relative accuracy ``rtol``, default 1e-4); ``inf`` if ``L_test`` decreases all the way to
  τ = ∞, or if the minimum is not resolvable: the late rise ``L_test(∞) − L_min`` is not larger than the
  error of the computed curve (then ``message`` says so, with both numbers).
* **memorizes** — the one criterion used everywhere (``tau_mem``, the phase diagram's regime, its τ-map and
  its boundary ψ_n*): training to convergence loses more than ``gap_rtol`` (default 0.1) of the
  generalization gain,

      r = (L_test(∞) − L_min) / (1 − L_min) > gap_rtol;

  with the option ``mem_tol`` set, the absolute criterion ``L_test(∞) − L_min > mem_tol`` is used instead.
* ``tau_mem`` — for a model that memorizes, the first ``τ ≥ tau_gen`` at which
  ``L_test(τ) − L_min ≥ mem_fraction·(L_test(∞) − L_min)`` (default fraction 0.1; same accuracy);
  ``inf`` for a model that does not memorize.

A ``tau_gen`` whose minimum is barely deeper than the curve's error (the loss rises by less than
:data:`ILL_CONDITIONED` times that error after it) is returned with ``status="fallback"`` and a message:
its digits are not all significant.

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
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .results import Result
from ._validate import in_range, positive
from .curves import LearningDynamics
from .settings import tau_grid
from .spectral import SolverError, stieltjes

__all__ = ["TimescaleOptions", "BulkTimescales", "Timescales", "ScalingExponents", "timescales",
           "scaling_exponents", "timescales_from_curve", "memorization_ratio", "critical_weight_decay"]

#: A minimum whose late rise is below this many times the curve's error gives a flagged ("fallback") τ_gen.
ILL_CONDITIONED = 1e4
#: Safety factor on the curve's error estimate (the contour's N vs N/2 difference) when deciding whether a
#: minimum is resolvable.
ERROR_SAFETY = 10.0


def memorization_ratio(test_min, test_inf):
    """``r = (L_test(∞) − L_min)/(1 − L_min)``: the fraction of the generalization gain lost at τ = ∞."""
    test_min = np.asarray(test_min, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(test_inf, dtype=float) - test_min) / (1.0 - test_min)


@dataclass(frozen=True)
class TimescaleOptions:
    """The options of every timescale computation, validated once (module docstring for the definitions).

    Parameters
    ----------
    mem_fraction : float
        Fraction of the late rise ``L_test(∞) − L_min`` that defines ``tau_mem`` (in (0, 1); default 0.1).
    gap_rtol : float
        A model memorizes when ``(L_test(∞) − L_min)/(1 − L_min) > gap_rtol`` (in (0, 1); default 0.1).
    mem_tol : float or None
        If given, the absolute criterion ``L_test(∞) − L_min > mem_tol`` replaces the relative one.
    rtol : float
        Relative accuracy of ``tau_gen`` and ``tau_mem`` (in (0, 0.1); default 1e-4).
    """

    mem_fraction: float = 0.1
    gap_rtol: float = 0.1
    mem_tol: object = None
    rtol: float = 1e-4

    def __post_init__(self):
        object.__setattr__(self, "mem_fraction", in_range("mem_fraction", self.mem_fraction, 0, 1))
        object.__setattr__(self, "gap_rtol", in_range("gap_rtol", self.gap_rtol, 0, 1))
        if self.mem_tol is not None:
            object.__setattr__(self, "mem_tol", positive("mem_tol", self.mem_tol))
        object.__setattr__(self, "rtol", in_range("rtol", self.rtol, 0, 0.1))

    @classmethod
    def from_kwargs(cls, options=None, **kwargs) -> "TimescaleOptions":
        """``options`` if given (then no keywords allowed), else ``TimescaleOptions(**kwargs)`` with unknown
        keywords rejected by name."""
        if options is not None:
            if kwargs:
                raise ValueError(f"give either options or keywords, not both ({sorted(kwargs)})")
            if not isinstance(options, cls):
                raise ValueError(f"options must be a TimescaleOptions, got {options!r}")
            return options
        unknown = set(kwargs) - {"mem_fraction", "gap_rtol", "mem_tol", "rtol"}
        if unknown:
            raise ValueError(f"unknown timescale option(s) {sorted(unknown)}; expected mem_fraction, gap_rtol, "
                             f"mem_tol, rtol")
        return cls(**kwargs)

    def margin(self, test_min, test_inf):
        """Signed memorization margin: ``r − gap_rtol`` (or ``L_test(∞) − L_min − mem_tol``); > 0 memorizes."""
        if self.mem_tol is not None:
            return np.asarray(test_inf, dtype=float) - np.asarray(test_min, dtype=float) - self.mem_tol
        return memorization_ratio(test_min, test_inf) - self.gap_rtol

    def definition(self) -> str:
        crit = (f"L_test(inf) - L_min > {self.mem_tol:g}" if self.mem_tol is not None else
                f"(L_test(inf) - L_min)/(1 - L_min) > {self.gap_rtol:g}")
        return (f"tau_gen = argmin_tau L_test(tau); memorizes iff {crit}; tau_mem = first tau >= tau_gen with "
                f"L_test(tau) - L_min >= {self.mem_fraction:g} (L_test(inf) - L_min) if it memorizes, else inf; "
                f"relative accuracy {self.rtol:g}; tau in the convention dA/dtau = -d^2 grad L_train")

    def to_dict(self) -> dict:
        return asdict(self)


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
class Timescales(Result):
    """Generalization and memorization times of one model.

    Attributes
    ----------
    tau_gen, tau_mem : float
        Module docstring (``definition`` states them); may be ``inf``.
    definition : str
    test_min, test_inf : float
        ``L_min = L_test(tau_gen)`` (the grid minimum when ``tau_gen`` is not resolvable) and ``L_test(∞)``.
    memorizes : bool
        The one memorization criterion (module docstring); ``tau_mem`` is finite exactly when it holds.
    ratio : float
        ``(L_test(∞) − L_min)/(1 − L_min)``, the fraction of the generalization gain lost at τ = ∞.
    curve_error : float
        Error estimate of the test-loss values used (contour quadrature, with a safety factor); a minimum
        shallower than this is not resolvable.
    bulks : tuple of BulkTimescales
        Spectral timescales of every bulk of U, lowest first.
    tau_seed : float
        ``ψ_p/(Δ_t λ_min)``, λ_min the lowest bulk edge.
    options : TimescaleOptions
    model : RFModel
    status, message
        ``"fallback"`` with a message when tau_gen is ill-conditioned or the minimum had to be refined by
        minimisation instead of the derivative's root (:class:`rfdiff.results.Result`).
    """

    DIAGNOSTICS: ClassVar[tuple] = ("curve_error",)

    tau_gen: float
    tau_mem: float
    definition: str
    test_min: float
    test_inf: float
    memorizes: bool
    ratio: float
    curve_error: float
    bulks: tuple
    tau_seed: float
    options: TimescaleOptions = field(repr=False)
    model: object = field(repr=False)

    def by_name(self) -> dict:
        """Every timescale by name: ``tau_gen``, ``tau_mem``, ``tau_seed``, ``bulk{i}_{fast,mean,slow}``."""
        out = {"tau_gen": self.tau_gen, "tau_mem": self.tau_mem, "tau_seed": self.tau_seed}
        for i, b in enumerate(self.bulks):
            out.update({f"bulk{i}_fast": b.tau_fast, f"bulk{i}_mean": b.tau_mean, f"bulk{i}_slow": b.tau_slow})
        return out



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


def timescales(model, *, dynamics=None, options=None, **kwargs) -> Timescales:
    """Generalization time ``tau_gen`` and memorization time ``tau_mem`` from the exact test-loss curve.

    Parameters
    ----------
    model : RFModel
    dynamics : LearningDynamics, optional
        A solved :class:`~rfdiff.curves.LearningDynamics` of ``model`` to reuse.
    options : TimescaleOptions, optional
        All options at once; or give them as keywords:
    **kwargs
        ``mem_fraction`` (0.1), ``gap_rtol`` (0.1), ``mem_tol`` (None: relative criterion), ``rtol`` (1e-4);
        see :class:`TimescaleOptions`.

    Returns
    -------
    Timescales

    Notes
    -----
    The test loss is scanned on :data:`rfdiff.settings.SCAN_POINTS_PER_DECADE` points per decade over the
    default window (:func:`rfdiff.settings.tau_window`: every mode frozen at the start, relaxed at the end);
    the minimum is refined by Brent's method on the sign change of ``dL_test/dτ`` (by bounded minimisation
    of ``L_test``, flagged, if the sign change is not there) and ``tau_mem`` by Brent's method on the
    threshold crossing, both in ``log τ``. Definitions: module docstring, docs/theory.md §7.
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)
    ld = LearningDynamics(model) if dynamics is None else dynamics
    grid = tau_grid(*ld.tau_window())
    scan = ld(np.append(grid, np.inf))
    test, test_inf = scan.test[:-1], float(scan.test[-1])
    error = ERROR_SAFETY * float(np.max(scan.quad_error)) + 64 * np.finfo(float).eps
    i = int(np.argmin(test))
    status, notes = scan.status, [scan.message] if scan.message else []

    def log_root(fun, a, b):
        return math.exp(brentq(lambda s: fun(math.exp(s)), math.log(a), math.log(b), xtol=opts.rtol,
                               rtol=1e-12))

    rise = test_inf - float(test[i])
    if rise <= error or i == grid.size - 1:
        tau_gen, test_min = math.inf, min(test_inf, float(test[i]))
        if 0 < rise <= error and i < grid.size - 1:
            notes.append(f"no resolvable minimum: L_test(inf) - L_min = {rise:.2g} is within the curve's error "
                         f"{error:.2g}")
    else:
        a, b = grid[max(i - 1, 0)], grid[i + 1]
        slope = lambda tau: float(ld.test_derivative([tau])[0])  # noqa: E731
        if slope(a) < 0 < slope(b):
            tau_gen = log_root(slope, a, b)
            test_min = float(ld([tau_gen]).test[0])
        else:
            res = minimize_scalar(lambda s: float(ld([math.exp(s)]).test[0]), bounds=(math.log(a), math.log(b)),
                                  method="bounded", options={"xatol": opts.rtol})
            tau_gen, test_min = math.exp(res.x), float(res.fun)
            status = "fallback"
            notes.append("dL_test/dtau has no resolvable sign change at the minimum; tau_gen by minimising L_test")
        if test_inf - test_min < ILL_CONDITIONED * error:
            status = "fallback"
            notes.append(f"tau_gen ill-conditioned: the loss rises by only {test_inf - test_min:.2g} after it "
                         f"(curve error {error:.2g})")
    memorizes = bool(math.isfinite(tau_gen) and opts.margin(test_min, test_inf) > 0)
    tau_mem = _crossing(ld, grid, test, tau_gen, test_min, test_inf, opts, log_root) if memorizes else math.inf
    sup = ld.support
    return Timescales(tau_gen, tau_mem, opts.definition(), test_min, test_inf, memorizes,
                      float(memorization_ratio(test_min, test_inf)), error, _bulks(model, sup),
                      model.psi_p / (model.delta_t * sup.intervals[0][0]), options=opts, model=model,
                      status=status, message="; ".join(notes))


def _crossing(ld, grid, test, tau_gen, test_min, test_inf, opts, log_root):
    """First τ ≥ tau_gen with ``L_test(τ) = L_min + mem_fraction (L_test(∞) − L_min)``."""
    level = test_min + opts.mem_fraction * (test_inf - test_min)
    excess = lambda tau: float(ld([tau]).test[0]) - level  # noqa: E731
    above = np.flatnonzero((grid > tau_gen) & (test >= level))
    if above.size:
        j = above[0]
        a, b = max(tau_gen, grid[j - 1]), grid[j]
    else:  # the crossing lies beyond the scan: walk out by decades
        a, b = grid[-1], 10 * grid[-1]
        while excess(b) < 0:
            a, b = b, 10 * b
    return log_root(excess, a, b)


@dataclass(frozen=True)
class ScalingExponents(Result):
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


def timescales_from_curve(curves_fn, tau_lo, tau_hi, *, xtol=1e-6, options=None, **kwargs):
    """τ_gen and τ_mem of any test-loss curve (e.g. a finite-size simulation), with the definitions of
    :func:`timescales`.

    Parameters
    ----------
    curves_fn : callable
        ``curves_fn(taus)`` returns curves with a ``.test`` array (e.g. ``RandomFeatures.loss_curves``).
    tau_lo, tau_hi : float
        Scan range; the test loss is scanned on :data:`rfdiff.settings.SCAN_POINTS_PER_DECADE` points per decade.
    xtol : float
        Absolute accuracy of the refinement in ``log τ``.
    options : TimescaleOptions, optional
        Or its fields as keywords (``mem_fraction``, ``gap_rtol``, ``mem_tol``), as in :func:`timescales`.

    Returns
    -------
    (tau_gen, tau_mem) : tuple of float
        ``tau_gen = argmin L_test`` (``inf`` if the minimum is at τ = ∞); ``tau_mem`` the first
        ``τ ≥ tau_gen`` with ``L_test(τ) − L_min ≥ mem_fraction (L_test(∞) − L_min)`` when the curve
        memorizes by the criterion of :class:`TimescaleOptions` (``inf`` otherwise, or if the loss does not
        reach that level by ``tau_hi``).

    Notes
    -----
    The scanned minimum is refined by a bounded Brent minimisation in ``log τ`` between its grid
    neighbours, the crossing by Brent's root finder in ``log τ``. A finite model's test loss can have
    several local minima; like :func:`rfdiff.timescales`, the global one on the grid is taken.
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)

    def test(tau):
        return float(curves_fn(np.array([tau])).test[0])

    grid = tau_grid(tau_lo, tau_hi)
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
    level = test_min + opts.mem_fraction * (test_inf - test_min)
    above = np.nonzero((values >= level) & (grid > tau_gen))[0]
    if not opts.margin(test_min, test_inf) > 0 or above.size == 0:
        return tau_gen, math.inf
    j = int(above[0])
    a = math.log(max(tau_gen, grid[j - 1]))
    tau_mem = math.exp(brentq(lambda s: test(math.exp(s)) - level, a, math.log(grid[j]), xtol=xtol))
    return tau_gen, tau_mem


#: Search range of :func:`critical_weight_decay` (ω in the units of :class:`rfdiff.RFModel`).
DECAY_SEARCH = (1e-10, 1e8)


def critical_weight_decay(model, *, xtol=1e-4, options=None, **kwargs) -> float:
    """The weight decay ω* above which the model no longer memorizes (docs/theory.md §11).

    The memorization margin of :class:`TimescaleOptions` (``r − gap_rtol`` by default) is evaluated on
    ``model.replace(weight_decay=ω)``; ω* is its root in ``log ω`` (Brent, absolute accuracy ``xtol``),
    bracketed by decades within :data:`DECAY_SEARCH`. Returns 0 when the model does not memorize even
    without weight decay.

    Raises
    ------
    SolverError
        If the margin does not change sign within :data:`DECAY_SEARCH`.
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)

    def margin(log_w):
        """Memorization margin at ω = e^{log_w} (−1 when the test loss has no resolvable minimum)."""
        ts = timescales(model.replace(weight_decay=math.exp(log_w)), options=opts)
        return float(opts.margin(ts.test_min, ts.test_inf)) if math.isfinite(ts.tau_gen) else -1.0

    if not timescales(model.replace(weight_decay=0.0), options=opts).memorizes:
        return 0.0
    lo, hi = (math.log(v) for v in DECAY_SEARCH)
    a = lo
    if margin(a) <= 0:
        raise SolverError(f"the model still memorizes only below weight_decay = {DECAY_SEARCH[0]:g}")
    b = a + math.log(10.0)
    while margin(b) > 0:
        a, b = b, b + math.log(10.0)
        if b > hi:
            raise SolverError(f"the model memorizes up to weight_decay = {DECAY_SEARCH[1]:g}")
    return math.exp(brentq(margin, a, b, xtol=xtol))
