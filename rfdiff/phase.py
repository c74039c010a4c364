"""Phase diagrams: generalization and memorization times over grids of (ψ_p, ψ_n, t) (docs/theory.md §7).

:func:`phase_diagram` solves the exact learning dynamics (:class:`rfdiff.curves.LearningDynamics`) at every
point of a one- or two-axis grid, reads off the timescales (:func:`rfdiff.timing.timescales`) and the
losses at τ = ∞, labels the regime, and, when ψ_n is an axis, root-finds the boundary ψ_n* beyond which
memorization at infinite training time disappears. Points run through :func:`rfdiff.sweep.sweep` (local
processes by default, or dask), optionally with a resumable store.

Memorization at infinite time is measured relative to what training gains: with ``L_min = L_test(τ_gen)``
and ``L_test(0) = 1``,

    r(ψ_n) = (L_test(∞) − L_min) / (1 − L_min),

the fraction of the generalization gain lost by training to convergence. A point *memorizes* when
``r > gap_rtol`` (default 0.1) and *generalizes* otherwise. ``L_test(∞) − L_min`` decays like ``1/ψ_n`` for
``ψ_n ≫ ψ_p`` without reaching 0, so the boundary is a tolerance, and ``gap_rtol`` states it; ψ_n* is the
root of ``r(ψ_n) − gap_rtol`` (Brent's method in log ψ_n, relative accuracy 1e-4), bracketed by the grid
(the largest ψ_n at which the grid memorizes and the next one), or by doubling/halving ψ_n beyond the grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from .curves import LearningDynamics
from .model import RFModel
from .sweep import sweep
from .timing import timescales

__all__ = ["AXES", "REGIMES", "TAU_PHASES", "PhaseDiagram", "phase_diagram", "memorization_ratio"]

AXES = ("psi_p", "psi_n", "t")
#: Regime labels of a grid point.
REGIMES = ("memorizes", "generalizes", "failed")
#: Codes of :meth:`PhaseDiagram.tau_map`: index → phase of training at time τ (−1: failed point).
TAU_PHASES = ("not yet generalizing", "generalizing", "memorizing")

_FIELDS = ("tau_gen", "tau_mem", "test_min", "test_inf", "train_inf")
_MAX_WALK = 20          # doublings/halvings of ψ_n beyond the grid when bracketing ψ_n*
_BOUNDARY_XTOL = 1e-4   # absolute accuracy of log ψ_n*


def memorization_ratio(test_min, test_inf):
    """``r = (L_test(∞) − L_min)/(1 − L_min)``: the fraction of the generalization gain lost at τ = ∞."""
    test_min = np.asarray(test_min, dtype=float)
    return (np.asarray(test_inf, dtype=float) - test_min) / (1.0 - test_min)


def _point(task):
    """Timescales and τ = ∞ losses of one model (runs on a worker)."""
    model, options = task
    dyn = LearningDynamics(model)
    ts = timescales(model, dynamics=dyn, **options)
    end = dyn([np.inf])
    return {"tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem, "test_min": ts.test_min,
            "test_inf": float(end.test[0]), "train_inf": float(end.train[0])}


def _boundary(task):
    """ψ_n* of one row: the root of ``r(ψ_n) − gap_rtol`` (module docstring; runs on a worker)."""
    model, options, gap_rtol, psi_n, ratio = task
    evaluations = 0

    def excess(log_psi_n):
        nonlocal evaluations
        evaluations += 1
        ts = timescales(model.replace(psi_n=math.exp(log_psi_n)), **options)
        return float(memorization_ratio(ts.test_min, ts.test_inf)) - gap_rtol

    ok = np.isfinite(ratio)
    x, h = np.log(np.asarray(psi_n, dtype=float)[ok]), np.asarray(ratio, dtype=float)[ok] - gap_rtol
    if x.size == 0:
        raise ValueError("no grid point of this row succeeded")
    above = np.flatnonzero(h > 0)
    if above.size and above[-1] + 1 < x.size:
        a, b = x[above[-1]], x[above[-1] + 1]
    elif above.size:  # the whole row memorizes: walk up
        a, b = x[-1], x[-1] + math.log(2)
        for _ in range(_MAX_WALK):
            if excess(b) <= 0:
                break
            a, b = b, b + math.log(2)
        else:
            raise ValueError(f"memorization persists up to psi_n = {math.exp(a):.4g}")
    else:  # the whole row generalizes: walk down
        a, b = x[0] - math.log(2), x[0]
        for _ in range(_MAX_WALK):
            if excess(a) > 0:
                break
            a, b = a - math.log(2), a
        else:
            raise ValueError(f"no memorization down to psi_n = {math.exp(b):.4g}")
    root = brentq(excess, a, b, xtol=_BOUNDARY_XTOL)
    return {"psi_n": math.exp(root), "evaluations": evaluations}


def _check_options(options):
    """Reject bad :func:`~rfdiff.timing.timescales` options up front (else every point would fail)."""
    unknown = set(options) - {"mem_fraction", "mem_tol", "rtol"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; expected mem_fraction, mem_tol, rtol")
    checks = {"mem_fraction": lambda v: 0 < v < 1, "mem_tol": lambda v: 0 < v < math.inf,
              "rtol": lambda v: 0 < v < 0.1}
    for name, value in options.items():
        if not checks[name](float(value)):
            raise ValueError(f"{name} out of range: {value!r} (see rfdiff.timing)")


def _axis(name, value):
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a positive number or a non-empty 1-D sequence")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if arr.ndim == 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return arr


@dataclass(frozen=True)
class PhaseDiagram:
    """Timescales and infinite-time losses on a grid of model parameters.

    Every array has the grid's shape: ``(len(coords[axes[0]]), len(coords[axes[1]]))`` for two axes
    (indexed ``[axis0][axis1]``, axes in the order ψ_p, ψ_n, t), ``(len,)`` for one.

    Attributes
    ----------
    axes : tuple of str
        The swept parameters, a subset of ``("psi_p", "psi_n", "t")`` in that order.
    coords : dict
        Axis name → 1-D array of values.
    fixed : dict
        Name → value of the parameters held fixed (including ``activation`` and ``data`` descriptions).
    tau_gen, tau_mem : ndarray
        :func:`rfdiff.timing.timescales` definitions (``inf`` where there is no minimum / no rise).
    window : ndarray
        ``tau_mem / tau_gen``, the length of the generalization window.
    test_min : ndarray
        ``L_min = L_test(tau_gen)``.
    gap_inf : ndarray
        ``L_test(∞) − L_min``, the overfitting left after infinite training.
    ratio : ndarray
        ``gap_inf / (1 − L_min)`` (:func:`memorization_ratio`).
    train_inf, test_inf : ndarray
        Losses at τ = ∞.
    regime : ndarray of str
        ``"memorizes"`` (``ratio > gap_rtol``), ``"generalizes"`` or ``"failed"``.
    error : ndarray of str
        Error of each point (``""`` where it succeeded); failed points hold NaN.
    boundary : ndarray or None
        ψ_n* (where ``ratio`` falls to ``gap_rtol``) for each value of the other axis (shape ``(1,)`` for a
        one-axis ψ_n diagram); NaN where it was not found; ``None`` when ψ_n is not an axis.
    boundary_error : ndarray of str or None
    gap_rtol : float
    stats : dict
        Points computed, reused from the store, failed.
    """

    axes: tuple
    coords: dict
    fixed: dict
    tau_gen: np.ndarray
    tau_mem: np.ndarray
    window: np.ndarray
    test_min: np.ndarray
    gap_inf: np.ndarray
    ratio: np.ndarray
    train_inf: np.ndarray
    test_inf: np.ndarray
    regime: np.ndarray
    error: np.ndarray
    boundary: object
    boundary_error: object
    gap_rtol: float
    stats: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple:
        return self.tau_gen.shape

    def tau_map(self, taus) -> np.ndarray:
        """Phase of training at each time τ: index into :data:`TAU_PHASES`, −1 at failed points.

        Parameters
        ----------
        taus : array_like
            Training times (docs/theory.md §1 convention).

        Returns
        -------
        ndarray of int, shape ``self.shape + (len(taus),)``
            0 for ``τ < tau_gen``, 1 for ``tau_gen ≤ τ < tau_mem``, 2 for ``τ ≥ tau_mem`` at points that
            memorize (``regime == "memorizes"``); a point that generalizes never reaches 2 (its late rise,
            at most ``gap_rtol`` of the generalization gain, is not counted as memorization).
        """
        tau = np.asarray(taus, dtype=float)
        if tau.ndim != 1 or np.any(np.isnan(tau)) or np.any(tau < 0):
            raise ValueError("taus must be a 1-D array of times >= 0")
        gen = self.tau_gen[..., None]
        mem = np.where(self.regime == "memorizes", self.tau_mem, np.inf)[..., None]
        out = (tau >= gen).astype(int) + (tau >= mem).astype(int)
        return np.where(np.isnan(gen), -1, out)

    def select(self, **value) -> "PhaseDiagram":
        """The one-axis diagram at one value of an axis of a two-axis diagram, e.g. ``select(psi_p=64)``."""
        if len(self.axes) != 2 or len(value) != 1 or next(iter(value)) not in self.axes:
            raise ValueError(f"select takes one of the axes {self.axes} of a two-axis diagram, got {value}")
        (name, v), = value.items()
        k = self.axes.index(name)
        i = int(np.argmin(np.abs(np.log(self.coords[name] / float(v)))))
        if not np.isclose(self.coords[name][i], float(v), rtol=1e-9):
            raise ValueError(f"{name}={v!r} is not on the axis {self.coords[name].tolist()}")
        take = (lambda a: a[i]) if k == 0 else (lambda a: a[:, i])  # noqa: E731
        other = self.axes[1 - k]
        boundary, boundary_error = self.boundary, self.boundary_error
        if boundary is not None:
            boundary, boundary_error = boundary[i:i + 1], boundary_error[i:i + 1]
        arrays = {f: take(getattr(self, f)) for f in ("tau_gen", "tau_mem", "window", "test_min", "gap_inf",
                                                       "ratio", "train_inf", "test_inf", "regime", "error")}
        if other != "psi_n":
            boundary = boundary_error = None
        return PhaseDiagram((other,), {other: self.coords[other]}, {**self.fixed, name: float(self.coords[name][i])},
                            boundary=boundary, boundary_error=boundary_error, gap_rtol=self.gap_rtol,
                            stats=self.stats, **arrays)

    def to_dict(self) -> dict:
        """Plain dict for JSON: axes, coordinates, fixed parameters and every array as nested lists."""
        out = {"axes": list(self.axes), **{k: v for k, v in self.coords.items()}, "fixed": self.fixed,
               "gap_rtol": self.gap_rtol, "stats": self.stats}
        for f in ("tau_gen", "tau_mem", "window", "test_min", "gap_inf", "ratio", "train_inf", "test_inf",
                  "regime", "error"):
            out[f] = getattr(self, f).tolist()
        if self.boundary is not None:
            out["boundary_psi_n"] = self.boundary.tolist()
            out["boundary_error"] = self.boundary_error.tolist()
        return out


def phase_diagram(psi_p, psi_n, t, activation="tanh", data=None, *, gap_rtol=0.1, boundary=True,
                  executor=None, scheduler=None, workers=None, store=None, progress=None,
                  **options) -> PhaseDiagram:
    """Generalization/memorization phase diagram over one or two of ψ_p, ψ_n, t.

    Parameters
    ----------
    psi_p, psi_n, t : float or 1-D array_like
        Model parameters; one or two of them are increasing arrays (the axes), the rest scalars.
    activation : str or callable
        As in :class:`rfdiff.RFModel` (a callable must be picklable for process or dask executors).
    data : DataLaw, optional
        Data covariance law (default ``Isotropic()``).
    gap_rtol : float
        Memorization at infinite time counts as absent when ``(L_test(∞) − L_min)/(1 − L_min) ≤ gap_rtol``
        (in (0, 1); default 0.1: training to convergence loses at most 10% of the generalization gain).
    boundary : bool
        Root-find the boundary ψ_n* when ψ_n is an axis (default True).
    executor, scheduler, workers, store, progress
        Passed to :func:`rfdiff.sweep.sweep` (default: local processes, no store, a progress bar when
        stderr is a terminal).
    **options
        ``mem_fraction``, ``mem_tol``, ``rtol`` of :func:`rfdiff.timing.timescales`.

    Returns
    -------
    PhaseDiagram

    Notes
    -----
    Definitions in the module docstring; timescales as in :func:`rfdiff.timing.timescales`
    (docs/theory.md §7). Each point is computed by the same deterministic function whatever the executor.
    The default executor spawns worker processes, so a script calling this must guard its entry point
    with ``if __name__ == "__main__":`` (or use ``executor="serial"``).

    Examples
    --------
    >>> import rfdiff as rd
    >>> pd = rd.phase_diagram(psi_p=[16, 64], psi_n=[2, 8, 32], t=0.01, executor="serial")  # doctest: +SKIP
    >>> pd.tau_mem.shape, pd.boundary.shape  # doctest: +SKIP
    ((2, 3), (2,))
    """
    values = {"psi_p": _axis("psi_p", psi_p), "psi_n": _axis("psi_n", psi_n), "t": _axis("t", t)}
    axes = tuple(a for a in AXES if values[a].ndim == 1)
    if not 1 <= len(axes) <= 2:
        raise ValueError(f"give one or two of psi_p, psi_n, t as arrays (the axes), got {len(axes)}")
    gap_rtol = float(gap_rtol)
    if not 0 < gap_rtol < 1:
        raise ValueError(f"gap_rtol must be in (0, 1), got {gap_rtol!r}")
    _check_options(options)
    kw = {} if data is None else {"data": data}
    base = RFModel(psi_p=float(values["psi_p"].flat[0]), psi_n=float(values["psi_n"].flat[0]),
                   t=float(values["t"].flat[0]), activation=activation, **kw)
    shape = tuple(values[a].size for a in axes)
    grid = np.stack(np.meshgrid(*[values[a] for a in axes], indexing="ij"), axis=-1).reshape(-1, len(axes))
    models = [base.replace(**dict(zip(axes, map(float, row)))) for row in grid]

    def key(task):
        model, opts = task
        return {"kind": "point", "model": model.to_dict(), "options": opts}

    run = dict(executor=executor, scheduler=scheduler, workers=workers, store=store, progress=progress)
    results, stats = sweep(_point, [(m, options) for m in models], key=key, desc="phase diagram", **run)
    arrays = {f: np.array([r.get(f, np.nan) for r in results], dtype=float).reshape(shape) for f in _FIELDS}
    error = np.array([r.get("error", "") for r in results], dtype=object).reshape(shape)
    gap_inf = arrays["test_inf"] - arrays["test_min"]
    ratio = memorization_ratio(arrays["test_min"], arrays["test_inf"])
    regime = np.where(error != "", "failed", np.where(ratio > gap_rtol, "memorizes", "generalizes"))
    with np.errstate(invalid="ignore"):
        window = arrays["tau_mem"] / arrays["tau_gen"]

    bnd = bnd_error = None
    if "psi_n" in axes and boundary:
        k = axes.index("psi_n")
        rows = [ratio] if len(axes) == 1 else list(np.moveaxis(ratio, k, -1))
        other = [None] if len(axes) == 1 else values[axes[1 - k]]
        tasks = []
        for v, row in zip(other, rows):
            model = base if v is None else base.replace(**{axes[1 - k]: float(v)})
            tasks.append((model, options, gap_rtol, values["psi_n"], row))

        def bkey(task):
            model, opts, rtol, psi, row = task
            return {"kind": "boundary", "model": {**model.to_dict(), "psi_n": None}, "options": opts,
                    "gap_rtol": rtol, "psi_n": psi, "ratio": row}

        out, bstats = sweep(_boundary, tasks, key=bkey, desc="boundary", **run)
        bnd = np.array([r.get("psi_n", np.nan) for r in out], dtype=float)
        bnd_error = np.array([r.get("error", "") for r in out], dtype=object)
        stats = {**stats, "boundary": bstats}
    fixed = {a: float(values[a]) for a in AXES if a not in axes}
    fixed.update(activation=base.activation.name, data=base.data.to_dict())
    return PhaseDiagram(axes, {a: values[a] for a in axes}, fixed, window=window, gap_inf=gap_inf, ratio=ratio,
                        regime=regime, error=error, boundary=bnd, boundary_error=bnd_error, gap_rtol=gap_rtol,
                        stats=stats, **arrays)
