"""Generalization and memorization timescales read off a test-loss curve (docs/theory.md §3, §7).

One algorithm (:func:`timescales_from_curve`) serves the exact curve of the theory (:func:`timescales`, which
adds the spectral timescales of U's bulks), each class of a Gaussian mixture (:func:`class_timescales`) and
any finite-size simulation: scan the test loss on :data:`rfdiff.settings.SCAN_POINTS_PER_DECADE` points per
decade and at τ = ∞, refine the minimum by Brent's method on the sign change of the exact derivative (or by
bounded minimisation of the loss when there is no derivative), and the memorization crossing by Brent's
method, both in ``log τ``. Every caller gets a :class:`Timescales`.

Definitions (one set of options, :class:`TimescaleOptions`):

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
``κ = 2Δ_t/ψ_p`` (as ``e^{−κ(λ+ω)τ}`` with weight decay ω: read λ + ω for λ below), so each bulk
``[lo, hi]`` of U has the timescales ``τ_λ = ψ_p/(2Δ_t λ)`` at its edges (``bulk{i}_fast`` at ``hi``,
``bulk{i}_slow`` at ``lo``) and at its μ_W-weighted mean eigenvalue (``bulk{i}_mean``); bulks are numbered
from the lowest. ``tau_seed = ψ_p/(Δ_t λ_min)`` is the seed paper's
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

from ._validate import in_range, options_object, positive
from .dynamics import LearningDynamics
from .results import Result, SolverError
from .settings import tau_grid
from .spectral import stieltjes

__all__ = ["TimescaleOptions", "BulkTimescales", "Timescales", "ScalingExponents", "timescales",
           "timescales_from_curve", "class_timescales", "scaling_exponents", "fit_power_law", "memorization_ratio",
           "critical_weight_decay"]

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
        return options_object("timescale", cls, options, kwargs)

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
    rate, omega = 2 * model.delta_t / model.psi_p, model.weight_decay
    out = []
    for (lo, hi), lam, w, rho in zip(sup.intervals, nodes, weights, dens):
        mass = float(w @ rho)
        mean = float(w @ (lam * rho)) / mass if mass > 0 else 0.5 * (lo + hi)
        out.append(BulkTimescales(lo, hi, mass, mean, *(1 / (rate * (x + omega)) for x in (hi, mean, lo))))
    return tuple(out)


def _locate(curve, grid, derivative, opts):
    """The one timescale algorithm (module docstring): τ_gen, τ_mem and what they rest on, from a curve.

    ``curve(taus)`` returns :class:`~rfdiff.results.LossCurves` (its ``quad_error``, when there is one, is the
    curve's error); a ``curve.test_loss(taus)``, when there is one, gives its ``test`` alone and is used at single
    τ's; ``derivative(taus)``, when given, is ``dL_test/dτ``. The test loss is scanned on ``grid``
    and at τ = ∞; the minimum is refined by Brent's method on the sign change of the derivative (by bounded
    minimisation of ``L_test`` when there is no derivative — flagged as a fallback when there is one but its
    sign change is not resolvable), ``tau_mem`` by Brent's method on the threshold crossing, both in ``log τ``
    to the relative accuracy ``opts.rtol``. Returns a dict of :class:`Timescales` fields.
    """
    scan = curve(np.append(grid, np.inf))
    test, test_inf = np.asarray(scan.test[:-1], dtype=float), float(scan.test[-1])
    quad = getattr(scan, "quad_error", None)
    error = (ERROR_SAFETY * float(np.max(quad)) if quad is not None else 0.0) + 64 * np.finfo(float).eps
    i = int(np.argmin(test))
    status, notes = scan.status, [scan.message] if scan.message else []

    fast = getattr(curve, "test_loss", None)        # the same L_test without the other curves (the theory's)

    def value(tau):
        return float(fast([tau])[0]) if fast is not None else float(curve(np.array([tau])).test[0])

    def log_root(fun, a, b):
        return math.exp(brentq(lambda s: fun(math.exp(s)), math.log(a), math.log(b), xtol=opts.rtol, rtol=1e-12))

    rise = test_inf - float(test[i])
    if rise <= error or i == grid.size - 1:
        tau_gen, test_min = math.inf, min(test_inf, float(test[i]))
        if 0 < rise <= error and i < grid.size - 1:
            notes.append(f"no resolvable minimum: L_test(inf) - L_min = {rise:.2g} is within the curve's error "
                         f"{error:.2g}")
    else:
        a, b = grid[max(i - 1, 0)], grid[i + 1]
        slope = None if derivative is None else (lambda tau: float(derivative([tau])[0]))  # noqa: E731
        if slope is not None and slope(a) < 0 < slope(b):
            tau_gen = log_root(slope, a, b)
            test_min = value(tau_gen)
        else:
            res = minimize_scalar(lambda s: value(math.exp(s)), bounds=(math.log(a), math.log(b)), method="bounded",
                                  options={"xatol": opts.rtol})
            tau_gen, test_min = math.exp(res.x), float(res.fun)
            if test_min > test[i]:                    # the bracket's grid point was the minimum
                tau_gen, test_min = float(grid[i]), float(test[i])
            if slope is not None:
                status = "fallback"
                notes.append("dL_test/dtau has no resolvable sign change at the minimum; tau_gen by minimising "
                             "L_test")
        if test_inf - test_min < ILL_CONDITIONED * error:
            status = "fallback"
            notes.append(f"tau_gen ill-conditioned: the loss rises by only {test_inf - test_min:.2g} after it "
                         f"(curve error {error:.2g})")
    memorizes = bool(math.isfinite(tau_gen) and opts.margin(test_min, test_inf) > 0)
    tau_mem = math.inf
    if memorizes:
        level = test_min + opts.mem_fraction * (test_inf - test_min)
        above = np.flatnonzero((grid > tau_gen) & (test >= level))
        if above.size:
            j = above[0]
            a, b = max(tau_gen, grid[j - 1]), grid[j]
        else:  # the crossing lies beyond the scan: walk out by decades
            a, b = grid[-1], 10 * grid[-1]
            while value(b) < level:
                a, b = b, 10 * b
        tau_mem = log_root(lambda tau: value(tau) - level, a, b)
    return dict(tau_gen=tau_gen, tau_mem=tau_mem, definition=opts.definition(), test_min=test_min,
                test_inf=test_inf, memorizes=memorizes, ratio=float(memorization_ratio(test_min, test_inf)),
                curve_error=error, options=opts, status=status, message="; ".join(notes))


def timescales_from_curve(curve, tau_lo=None, tau_hi=None, *, derivative=None, options=None, model=None,
                          **kwargs) -> Timescales:
    """τ_gen and τ_mem of any test-loss curve — the theory's, one class's, a finite-size simulation's — by the
    one algorithm and definitions of :func:`timescales`.

    Parameters
    ----------
    curve : callable
        ``curve(taus)`` returns :class:`~rfdiff.results.LossCurves` (e.g. a :class:`LearningDynamics`, one
        of its ``classes``, or a simulator's ``loss_curves``); its ``quad_error``, if any, is the curve's
        error.
    tau_lo, tau_hi : float, optional
        Scan range (:data:`rfdiff.settings.SCAN_POINTS_PER_DECADE` points per decade); default
        ``curve.tau_window()``.
    derivative : callable, optional
        ``derivative(taus)`` = ``dL_test/dτ`` (e.g. ``LearningDynamics.test_derivative``); without it the
        minimum is refined by bounded minimisation of ``L_test``.
    options : TimescaleOptions, optional
        Or its fields as keywords (``mem_fraction``, ``gap_rtol``, ``mem_tol``, ``rtol``).
    model : RFModel, optional
        Recorded in the result (default the curve's own ``model``).

    Returns
    -------
    Timescales
        Without spectral bulk timescales (``bulks`` empty, ``tau_seed`` NaN).

    Notes
    -----
    A finite model's test loss can have several local minima; like :func:`timescales`, the global one on
    the grid is taken.
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)
    if tau_lo is None or tau_hi is None:
        if not hasattr(curve, "tau_window"):
            raise ValueError("give tau_lo and tau_hi (the curve has no tau_window())")
        tau_lo, tau_hi = curve.tau_window()
    tau_lo, tau_hi = positive("tau_lo", tau_lo), positive("tau_hi", tau_hi)
    if not tau_lo < tau_hi:
        raise ValueError(f"tau_lo must be < tau_hi, got {tau_lo!r}, {tau_hi!r}")
    found = _locate(curve, tau_grid(tau_lo, tau_hi), derivative, opts)
    if model is None:
        model = getattr(curve, "model", None)
    return Timescales(bulks=(), tau_seed=math.nan, model=model, **found)


def timescales(model, *, dynamics=None, options=None, **kwargs) -> Timescales:
    """Generalization time ``tau_gen`` and memorization time ``tau_mem`` from the exact test-loss curve.

    Parameters
    ----------
    model : RFModel
    dynamics : LearningDynamics, optional
        A solved :class:`~rfdiff.dynamics.LearningDynamics` of ``model`` to reuse.
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
    The exact curve and its exact derivative go through the one algorithm of :func:`timescales_from_curve`
    over the default window (:func:`rfdiff.settings.tau_window`: every mode frozen at the start, relaxed at
    the end); the spectral timescales of every bulk are added. Definitions: module docstring,
    docs/theory.md §7.
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)
    ld = LearningDynamics(model) if dynamics is None else dynamics
    found = _locate(ld, tau_grid(*ld.tau_window()), ld.test_derivative, opts)
    sup = ld.support
    lam_min = sup.intervals[0][0] + model.weight_decay
    return Timescales(bulks=_bulks(model, sup), tau_seed=model.psi_p / (model.delta_t * lam_min),
                      model=model, **found)


def class_timescales(dynamics, *, options=None, **kwargs) -> tuple:
    """The :class:`Timescales` of each class of a Gaussian mixture (docs/theory.md §7, §12): the one algorithm
    on each class's exact test loss and its exact derivative, over the model's default window.

    Parameters
    ----------
    dynamics : LearningDynamics or RFModel
        A solved dynamics (or a model on :class:`rfdiff.GaussianMixture` data, solved here).
    options, **kwargs
        As in :func:`timescales`.

    Returns
    -------
    tuple of Timescales, one per class
    """
    opts = TimescaleOptions.from_kwargs(options, **kwargs)
    dyn = dynamics if isinstance(dynamics, LearningDynamics) else LearningDynamics(dynamics)
    return tuple(timescales_from_curve(c, derivative=c.test_derivative, options=opts, model=dyn.model)
                 for c in dyn.classes)


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


def fit_power_law(x, y):
    """Least-squares fit of ``log y`` against ``log x``: ``(exponent, prefactor)`` of ``y ≈ prefactor · x^exponent``
    (e.g. τ_mem against n; :func:`scaling_exponents` gives the local exponents instead)."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(math.exp(intercept))


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
