"""Phase diagrams: generalization and memorization times over grids of (ψ_p, ψ_n, t) (docs/theory.md §7).

:func:`phase_diagram` solves the exact learning dynamics (:class:`rfdiff.dynamics.LearningDynamics`) at every
point of a one- or two-axis grid, reads off the timescales (:func:`rfdiff.timing.timescales`) and the
losses at τ = ∞, labels the regime, and, when ψ_n is an axis, root-finds the boundary ψ_n* beyond which
memorization at infinite training time disappears. Points run through :func:`rfdiff.sweep.sweep` (local
processes by default, or dask), optionally with a resumable store.

A point *memorizes* by the one criterion of :mod:`rfdiff.timing` (the same that makes ``tau_mem`` finite):
with ``L_min = L_test(τ_gen)`` and ``L_test(0) = 1``,

    r(ψ_n) = (L_test(∞) − L_min) / (1 − L_min) > gap_rtol       (default 0.1),

the fraction of the generalization gain lost by training to convergence (or, with ``mem_tol``, the absolute
gap). ``L_test(∞) − L_min`` decays like ``1/ψ_n`` for ``ψ_n ≫ ψ_p`` without reaching 0, so the boundary is a
tolerance, and ``gap_rtol`` states it; ψ_n* is the root of the memorization margin ``r(ψ_n) − gap_rtol``
(Brent's method in log ψ_n, :data:`BOUNDARY_XTOL`), bracketed by the grid (the largest ψ_n at which the grid
memorizes and the next one), or by doubling/halving ψ_n beyond the grid (at most :data:`MAX_WALK` times, and
not beyond the supported range of ψ_n).

A row may have no boundary: at large t nothing memorizes at any ψ_n (the late rise vanishes with the
signal), or memorization may persist as far as the walk goes. That is a result, not a failure: ψ_n* is NaN,
``boundary_error`` is empty and ``boundary_note`` says *no boundary in range* and which range was searched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from .results import Result, ThresholdError
from ._validate import decay_axis, draws, draws_axis, increasing_axis
from .dynamics import LearningDynamics
from .model import MIN_BULK_MASS, PSI_N_RANGE, RFModel
from .sweep import Execution, sweep
from .timing import TimescaleOptions, memorization_ratio, timescales_from_curve

__all__ = ["AXES", "REGIMES", "TAU_PHASES", "PhaseDiagram", "phase_diagram", "memorization_ratio",
           "bracket_sign_change"]

AXES = ("psi_p", "psi_n", "t", "m", "weight_decay")
#: Regime labels of a grid point.
REGIMES = ("memorizes", "generalizes", "threshold", "failed")
#: Codes of :meth:`PhaseDiagram.tau_map`: index → phase of training at time τ (−1: failed point).
TAU_PHASES = ("not yet generalizing", "generalizing", "memorizing")

_FIELDS = ("tau_gen", "tau_mem", "test_min", "test_inf", "train_inf")
#: Per-point arrays of a :class:`PhaseDiagram` (the text ones in :data:`_TEXT`).
_ARRAYS = ("tau_gen", "tau_mem", "window", "test_min", "gap_inf", "ratio", "train_inf", "test_inf", "regime",
           "error", "point_status")
_TEXT = ("regime", "error", "point_status")
#: Doublings/halvings of ψ_n beyond the grid when bracketing ψ_n*.
MAX_WALK = 20
#: Absolute accuracy of log ψ_n* (Brent).
BOUNDARY_XTOL = 1e-4
#: A boundary search that lands exactly on the singular line p = n·m (no weight decay) evaluates the margin
#: this far off it in log ψ_n (0.1%: the end point diverges on the line and is large on either side of it, so
#: the margin there is far above 0 and the root lies elsewhere; much closer, the support search cannot tell
#: the gap at λ = 0 from the threshold itself).
THRESHOLD_STEP = 1e-3


def _timescales(dyn, opts):
    """τ_gen and τ_mem of a solved model as :func:`rfdiff.timing.timescales` finds them (the same algorithm on the
    exact curve and its derivative), without the per-bulk spectral timescales, which a diagram does not use."""
    return timescales_from_curve(dyn, derivative=dyn.test_derivative, options=opts)


def _point(task):
    """Timescales and τ = ∞ losses of one model (runs on a worker)."""
    model, options = task
    try:
        dyn = LearningDynamics(model)
    except ThresholdError as exc:      # the singular line p = n·m without weight decay: marked, not failed
        return {"threshold": True, "message": str(exc)}
    ts = _timescales(dyn, TimescaleOptions(**options))
    end = dyn([np.inf])
    return {"tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem, "test_min": ts.test_min,
            "test_inf": float(end.test[0]), "train_inf": float(end.train[0]), "memorizes": ts.memorizes,
            "status": ts.status, "message": ts.message}


def _boundary(task):
    """ψ_n* of one row: the root of the memorization margin in ψ_n (module docstring; runs on a worker). Grid
    points on the singular line p = n·m (``on_threshold``) have no margin: it is evaluated just off the line."""
    model, options, psi_n, margin, on_threshold = task
    opts = TimescaleOptions(**options)
    evaluations = 0

    def excess(log_psi_n):
        nonlocal evaluations
        evaluations += 1
        try:
            dyn = LearningDynamics(model.replace(psi_n=math.exp(log_psi_n)))
        except ThresholdError:   # exactly on p = n·m (e.g. a doubling step landed there): step just off it
            dyn = LearningDynamics(model.replace(psi_n=math.exp(log_psi_n + THRESHOLD_STEP)))
        ts = _timescales(dyn, opts)
        return float(opts.margin(ts.test_min, ts.test_inf))

    h = np.array(margin, dtype=float)
    for i in np.flatnonzero(on_threshold):
        h[i] = excess(math.log(psi_n[i]))
    ok = np.isfinite(h)
    x, h = np.log(np.asarray(psi_n, dtype=float)[ok]), h[ok]
    if x.size == 0:
        raise ValueError("no grid point of this row succeeded")
    above = np.flatnonzero(h > 0)
    if above.size and above[-1] + 1 < x.size:
        a, b = x[above[-1]], x[above[-1] + 1]
    elif above.size:  # the whole row memorizes: walk up
        a, b = bracket_sign_change(excess, x[-1], math.log(PSI_N_RANGE[1]), up=True)
        if b is None:
            return {"psi_n": math.nan, "evaluations": evaluations,
                    "note": f"no boundary in range: memorization persists up to psi_n = {math.exp(a):.4g}"}
    else:  # the whole row generalizes: walk down
        b, a = bracket_sign_change(excess, x[0], math.log(max(PSI_N_RANGE[0], MIN_BULK_MASS * model.psi_p)), up=False)
        if a is None:
            return {"psi_n": math.nan, "evaluations": evaluations,
                    "note": f"no boundary in range: nothing memorizes for psi_n from {math.exp(b):.4g} to the grid"}
    root = brentq(excess, a, b, xtol=BOUNDARY_XTOL)
    return {"psi_n": math.exp(root), "evaluations": evaluations}


def bracket_sign_change(excess, start, limit, up):
    """Double (``up``) or halve ψ_n from ``start`` (a log ψ_n) until the memorization margin changes sign, at
    most :data:`MAX_WALK` times and not beyond ``limit``: ``(last, first)`` log ψ_n on either side of the sign
    change, or ``(last, None)`` when it does not change (no boundary in range)."""
    step = math.log(2) if up else -math.log(2)
    last = start
    for _ in range(MAX_WALK):
        if last == limit:
            break
        nxt = min(last + step, limit) if up else max(last + step, limit)
        if (excess(nxt) <= 0) == up:
            return last, nxt
        last = nxt
    return last, None


@dataclass(frozen=True)
class PhaseDiagram(Result):
    """Timescales and infinite-time losses on a grid of model parameters.

    Every array has the grid's shape: ``(len(coords[axes[0]]), len(coords[axes[1]]))`` for two axes
    (indexed ``[axis0][axis1]``, axes in the order ψ_p, ψ_n, t), ``(len,)`` for one.

    Attributes
    ----------
    axes : tuple of str
        The swept parameters, a subset of :data:`AXES` = ``("psi_p", "psi_n", "t", "m", "weight_decay")`` in
        that order.
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
        ``"memorizes"`` (the criterion of :mod:`rfdiff.timing`: ``ratio > gap_rtol``, the same that makes
        ``tau_mem`` finite), ``"generalizes"``, ``"threshold"`` (the model sits on the interpolation threshold
        p = n·m with m frozen draws and no weight decay, where the ridgeless end point diverges: a known
        singular line, marked and not counted as a failure; its numbers are NaN) or ``"failed"``.
    error : ndarray of str
        Error of each point (``""`` where it succeeded); failed points hold NaN.
    point_status : ndarray of str
        ``status`` of each point's :class:`~rfdiff.timing.Timescales` (``"failed"`` where it raised).
    boundary : ndarray or None
        ψ_n* (where ``ratio`` falls to ``gap_rtol``) for each value of the other axis (shape ``(1,)`` for a
        one-axis ψ_n diagram); NaN where it failed or where there is none in range; ``None`` when ψ_n is not
        an axis.
    boundary_error : ndarray of str or None
        Why a row's search failed (``""`` where it did not): these rows count as failures.
    boundary_note : ndarray of str or None
        ``"no boundary in range: ..."`` for a row without a boundary — nothing memorizes anywhere down to the
        smallest supported ψ_n, or memorization persists as far as the search goes (module docstring) — and
        ``""`` elsewhere. Not a failure.
    gap_rtol : float
    options : TimescaleOptions
        The timescale options every point used (``options.gap_rtol == gap_rtol``).
    stats : dict
        Points computed, reused from the store, failed.
    status, message
        ``"failed"`` when any point or boundary row failed (the message counts them), ``"fallback"`` when
        some point's timescales were flagged (:class:`rfdiff.results.Result`).
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
    point_status: np.ndarray
    boundary: object
    boundary_error: object
    boundary_note: object
    gap_rtol: float
    options: TimescaleOptions
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
        axis = np.asarray(self.coords[name], dtype=float)
        v = float(v)
        with np.errstate(invalid="ignore"):
            i = int(np.argmin(np.where(axis == v, -1.0, np.abs(axis - v))))
        if not (axis[i] == v or np.isclose(axis[i], v, rtol=1e-9)):
            raise ValueError(f"{name}={v!r} is not on the axis {self.coords[name].tolist()}")
        take = (lambda a: a[i]) if k == 0 else (lambda a: a[:, i])  # noqa: E731
        other = self.axes[1 - k]
        rows = {"boundary": self.boundary, "boundary_error": self.boundary_error, "boundary_note": self.boundary_note}
        rows = {k: (None if v is None or other != "psi_n" else v[i:i + 1]) for k, v in rows.items()}
        arrays = {f: take(getattr(self, f)) for f in _ARRAYS}
        return PhaseDiagram((other,), {other: self.coords[other]}, {**self.fixed, name: float(self.coords[name][i])},
                            **rows, gap_rtol=self.gap_rtol,
                            options=self.options, stats=self.stats, status=self.status, message=self.message,
                            **arrays)

    def to_dict(self) -> dict:
        """Plain dict for JSON: axes, coordinates, fixed parameters and every array as nested lists."""
        out = {"axes": list(self.axes), **{k: v for k, v in self.coords.items()}, "fixed": self.fixed,
               "gap_rtol": self.gap_rtol, "options": self.options.to_dict(), "stats": self.stats,
               "status": self.status, "message": self.message}
        for f in _ARRAYS:
            out[f] = getattr(self, f).tolist()
        if self.boundary is not None:
            out["boundary_psi_n"] = self.boundary.tolist()
            out["boundary_error"] = self.boundary_error.tolist()
            out["boundary_note"] = self.boundary_note.tolist()
        return out

    def to_xarray(self):
        """The diagram as an ``xarray.Dataset`` (needs ``pip install 'rfdiff[xarray]'``).

        Coordinates are the axes (``psi_p``, ``psi_n``, ``t``); every per-point array is a data variable
        over them; ``boundary_psi_n`` is a variable over the other axis when ψ_n is an axis; the fixed
        parameters, options and status go into ``attrs`` (as JSON text where they are not numbers).
        """
        try:
            import xarray as xr
        except ImportError:
            raise ValueError("to_xarray needs xarray: pip install 'rfdiff[xarray]'") from None
        from .outputs import dumps
        data = {f: (self.axes, np.asarray(getattr(self, f), dtype=str if f in _TEXT else float)) for f in _ARRAYS}
        if self.boundary is not None:
            other = tuple(a for a in self.axes if a != "psi_n")
            data["boundary_psi_n"] = (other, np.asarray(self.boundary, dtype=float))
            data["boundary_error"] = (other, np.asarray(self.boundary_error, dtype=str))
            data["boundary_note"] = (other, np.asarray(self.boundary_note, dtype=str))
        attrs = {"gap_rtol": self.gap_rtol, "status": self.status, "message": self.message,
                 "fixed": dumps(self.fixed), "options": dumps(self.options.to_dict()), "stats": dumps(self.stats)}
        return xr.Dataset(data, coords={a: np.asarray(self.coords[a], dtype=float) for a in self.axes},
                          attrs=attrs)

    def to_netcdf(self, path) -> None:
        """Write :meth:`to_xarray` to a netCDF file (scipy's netCDF3 writer, or netCDF4 when installed)."""
        self.to_xarray().to_netcdf(path)


def phase_diagram(psi_p, psi_n, t, activation="tanh", data=None, *, m=math.inf, weight_decay=0.0, boundary=True,
                  options=None, execution=None, **kwargs) -> PhaseDiagram:
    """Generalization/memorization phase diagram over one or two of ψ_p, ψ_n, t, m, weight_decay.

    Parameters
    ----------
    psi_p, psi_n, t : float or 1-D array_like
        Model parameters; one or two of ψ_p, ψ_n, t, m, weight_decay are increasing arrays (the axes), the
        rest scalars.
    activation : str or callable
        As in :class:`rfdiff.RFModel` (a callable must be picklable for process or dask executors).
    data : DataLaw, optional
        Data covariance law (default ``Isotropic()``).
    m : int, inf or 1-D array_like
        Noise draws per training point (:class:`rfdiff.RFModel`; default inf); as an axis, increasing integers
        (inf allowed last).
    weight_decay : float or 1-D array_like
        ω ≥ 0 (default 0); as an axis, increasing values ≥ 0.
    boundary : bool
        Root-find the boundary ψ_n* when ψ_n is an axis (default True).
    options : TimescaleOptions, optional
        The memorization criterion and timescale definitions (:class:`rfdiff.TimescaleOptions`: ``gap_rtol``
        (default 0.1: training to convergence loses at most 10% of the generalization gain), ``mem_fraction``,
        ``mem_tol``, ``rtol``).
    execution : rfdiff.sweep.Execution, optional
        Executor, workers, dask scheduler, resumable store and progress bar (default: local processes, no
        store, a progress bar when stderr is a terminal).
    **kwargs
        The fields of ``options`` or of ``execution`` one by one (e.g. ``gap_rtol=0.2``,
        ``executor="serial"``), instead of the objects.

    Returns
    -------
    PhaseDiagram

    Notes
    -----
    Definitions in the module docstring; timescales as in :func:`rfdiff.timing.timescales`
    (docs/theory.md §7). Each point is computed by the same deterministic function whatever the executor.
    The default executor spawns worker processes, so a script calling this must guard its entry point
    with ``if __name__ == "__main__":`` (or use ``executor="serial"``); without the guard the call stops
    with a ``RuntimeError`` that says so.

    Examples
    --------
    >>> import rfdiff as rd
    >>> pd = rd.phase_diagram(psi_p=[16, 64], psi_n=[2, 8, 32], t=0.01, executor="serial")  # doctest: +SKIP
    >>> pd.tau_mem.shape, pd.boundary.shape  # doctest: +SKIP
    ((2, 3), (2,))
    """
    run_names = {"executor", "workers", "scheduler", "store", "progress"}
    run = Execution.from_kwargs(execution, **{k: v for k, v in kwargs.items() if k in run_names})
    opts = TimescaleOptions.from_kwargs(options, **{k: v for k, v in kwargs.items() if k not in run_names})
    values = {name: increasing_axis(name, value) for name, value in (("psi_p", psi_p), ("psi_n", psi_n), ("t", t))}
    values["m"] = draws_axis("m", m)
    values["weight_decay"] = decay_axis("weight_decay", weight_decay)
    axes = tuple(a for a in AXES if values[a].ndim == 1)
    if not 1 <= len(axes) <= 2:
        raise ValueError(f"give one or two of {', '.join(AXES)} as arrays (the axes), got {len(axes)}")
    plain = opts.to_dict()
    kw = {} if data is None else {"data": data}
    base = RFModel(psi_p=float(values["psi_p"].flat[0]), psi_n=float(values["psi_n"].flat[0]),
                   t=float(values["t"].flat[0]), activation=activation, m=draws("m", float(values["m"].flat[0])),
                   weight_decay=float(values["weight_decay"].flat[0]), **kw)
    shape = tuple(values[a].size for a in axes)
    grid = np.stack(np.meshgrid(*[values[a] for a in axes], indexing="ij"), axis=-1).reshape(-1, len(axes))
    models = [base.replace(**{a: (draws("m", float(v)) if a == "m" else float(v)) for a, v in zip(axes, row)})
              for row in grid]

    def key(task):
        model, task_options = task
        return {"kind": "point", "model": model.to_dict(), "options": task_options}

    results, stats = sweep(_point, [(m, plain) for m in models], key=key, execution=run, desc="phase diagram")
    arrays = {f: np.array([r.get(f, np.nan) for r in results], dtype=float).reshape(shape) for f in _FIELDS}
    error = np.array([r.get("error", "") for r in results], dtype=object).reshape(shape)
    point_status = np.array(["failed" if r.get("error") else r.get("status", "ok") for r in results],
                            dtype=object).reshape(shape)
    threshold = np.array([bool(r.get("threshold")) for r in results]).reshape(shape)
    memorizes = np.array([bool(r.get("memorizes", False)) for r in results]).reshape(shape)
    gap_inf = arrays["test_inf"] - arrays["test_min"]
    ratio = memorization_ratio(arrays["test_min"], arrays["test_inf"])
    regime = np.where(error != "", "failed", np.where(threshold, "threshold",
                                                      np.where(memorizes, "memorizes", "generalizes")))
    with np.errstate(invalid="ignore"):
        window = arrays["tau_mem"] / arrays["tau_gen"]

    bnd = bnd_error = bnd_note = None
    if "psi_n" in axes and boundary:
        bnd, bnd_error, bnd_note, stats["boundary"] = _boundaries(base, axes, values, opts, plain, arrays, threshold,
                                                                  run)
    fixed = {a: (draws("m", float(values[a])) if a == "m" else float(values[a])) for a in AXES if a not in axes}
    fixed.update(activation=base.activation.name, data=base.data.to_dict())
    status, message = _summary(point_status, bnd_error, bnd_note, int(threshold.sum()))
    return PhaseDiagram(axes, {a: values[a] for a in axes}, fixed, window=window, gap_inf=gap_inf, ratio=ratio,
                        regime=regime, error=error, point_status=point_status, boundary=bnd, boundary_error=bnd_error,
                        boundary_note=bnd_note,
                        gap_rtol=opts.gap_rtol, options=opts, stats=stats, status=status, message=message, **arrays)


def _boundaries(base, axes, values, opts, plain, arrays, threshold, run):
    """ψ_n* for every value of the other axis: ``(boundary, boundary_error, boundary_note, stats)``."""
    margin = opts.margin(arrays["test_min"], arrays["test_inf"])
    k = axes.index("psi_n")
    rows = [margin] if len(axes) == 1 else list(np.moveaxis(margin, k, -1))
    singular = [threshold] if len(axes) == 1 else list(np.moveaxis(threshold, k, -1))
    other = [None] if len(axes) == 1 else values[axes[1 - k]]
    tasks = []
    for v, row, on in zip(other, rows, singular):
        model = base if v is None else base.replace(**{axes[1 - k]: v})
        tasks.append((model, plain, values["psi_n"], row, on))

    def bkey(task):
        model, task_options, psi, row, on = task
        return {"kind": "boundary", "model": {**model.to_dict(), "psi_n": None}, "options": task_options,
                "psi_n": psi, "margin": row, "threshold": on}

    out, stats = sweep(_boundary, tasks, key=bkey, execution=run, desc="boundary")
    bnd = np.array([r.get("psi_n", np.nan) for r in out], dtype=float)
    bnd_error = np.array([r.get("error", "") for r in out], dtype=object)
    bnd_note = np.array([r.get("note", "") for r in out], dtype=object)
    return bnd, bnd_error, bnd_note, stats


def _summary(point_status, boundary_error, boundary_note, threshold=0):
    """Overall status and one-line message of a diagram from its points and boundary rows (``threshold``
    points on the singular line p = n·m and rows without a boundary in range are named, not counted as
    failures)."""
    failed = int(np.count_nonzero(point_status == "failed"))
    flagged = int(np.count_nonzero(point_status == "fallback"))
    failed_rows = 0 if boundary_error is None else int(np.count_nonzero(boundary_error != ""))
    absent = 0 if boundary_note is None else int(np.count_nonzero(boundary_note != ""))
    notes = []
    if failed:
        notes.append(f"{failed} of {point_status.size} points failed")
    if failed_rows:
        notes.append(f"the boundary failed for {failed_rows} of {boundary_error.size} rows")
    if absent:
        notes.append(f"no boundary in range for {absent} of {boundary_note.size} rows (see boundary_note)")
    if flagged:
        notes.append(f"{flagged} points have flagged timescales (see point_status)")
    if threshold:
        notes.append(f"{threshold} points lie on the interpolation threshold p = n·m without weight decay "
                     f"(singular: marked, not computed)")
    status = "failed" if failed or failed_rows else ("fallback" if flagged else "ok")
    return status, "; ".join(notes)
