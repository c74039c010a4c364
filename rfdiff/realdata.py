"""Theory against real data: the limiting theory, the Gaussian surrogate and the true model on real rows
(docs/theory.md §14).

For one model and one dataset (:class:`rfdiff.data.DataMatrix`), :func:`compare` computes

* **theory** — the d → ∞ curves of the dataset's law (its normalised sample spectrum);
* **surrogate** — the true random-features model at the dataset's d on *Gaussian* rows with the same
  covariance (:func:`rfdiff.simulate.random_features` with that law; Σ diagonal, which loses nothing
  because W is rotation invariant), one run per seed;
* **real** — the true model trained on n actual rows and tested on held-out rows
  (:func:`rfdiff.simulate.real_features`), one run per random split;

and their τ_gen, τ_mem, ``L_test(τ_gen)`` (the minimum) and ``L_test(∞)``. The gap theory → real splits into
a *finite-size* part (surrogate − theory: the same Gaussian data, finite d) and a *non-Gaussian* part
(real − surrogate: the same d, W and covariance, real rows). Run k uses the seed ``seed + k`` for W (the
same W for the surrogate and the real run) and for the split.

:func:`tau_mem_scaling` does the same for τ_gen and τ_mem over a range of n and ψ_p and fits the slope of
log τ_mem against log n.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ._validate import integer
from .model import RFModel
from .results import Result, worst_status
from .timing import fit_power_law, timescales, timescales_from_curve

__all__ = ["Comparison", "compare", "TauScaling", "tau_mem_scaling", "QUANTITIES", "SOURCES", "DEFAULT_N_TEST"]

#: Quantities compared, in table order.
QUANTITIES = ("test_gen", "test_inf", "tau_gen", "tau_mem")
#: Sources compared.
SOURCES = ("theory", "surrogate", "real")
#: Held-out rows per split when not given: all the rows not trained on, at most this many.
DEFAULT_N_TEST = 2000


def _sim_window(sim):
    """τ range resolving every live mode of a simulation's U: ``[0.01/(κλ_max), 100/(κλ_min⁺)]``."""
    lam = sim.eigenvalues()
    live = lam[lam > lam.size * np.finfo(np.float64).eps * lam.max()]
    return 0.01 / (sim.kappa * live.max()), 100.0 / (sim.kappa * live.min())


def _sim_summary(sim):
    """``{test_gen, test_inf, tau_gen, tau_mem}`` of one finite model (τ's by :func:`timescales_from_curve`)."""
    lo, hi = _sim_window(sim)
    ts = timescales_from_curve(sim.loss_curves, lo, hi)
    tau_gen, tau_mem = ts.tau_gen, ts.tau_mem
    curves = sim.loss_curves([tau_gen if math.isfinite(tau_gen) else np.inf, np.inf])
    return {"test_gen": float(curves.test[0]), "test_inf": float(curves.test[1]), "tau_gen": float(tau_gen),
            "tau_mem": float(tau_mem)}


def _simulation(task):
    """One finite model of :func:`compare` or :func:`tau_mem_scaling` (module-level, so that it can run on worker
    processes): ``{"summary": _sim_summary(sim)}`` plus its curves at ``task["taus"]`` when given; or the
    theory's timescales of ``task["theory"]``."""
    from .simulate import random_features, real_features
    if "theory" in task:
        return timescales(task["theory"])
    model, seed = task["model"], task["seed"]
    if task["rows"] is None:                                  # the Gaussian surrogate
        sim = random_features(model, task["d"], seed=seed)
    else:
        sim = real_features(model, *task["rows"], seed=seed)
    out = {"summary": _sim_summary(sim)}
    if task["taus"] is not None:
        out["curves"] = sim.loss_curves(task["taus"])
    return out


def _simulations(tasks, execution):
    """:func:`_simulation` over ``tasks`` by :func:`rfdiff.sweep.parallel_map` (in this process by default)."""
    from .sweep import Execution, parallel_map
    if execution is not None and not isinstance(execution, Execution):
        raise ValueError(f"execution must be an rfdiff.Execution (or None: serial), got {execution!r}")
    return parallel_map(_simulation, [(task,) for task in tasks], execution or Execution(executor="serial"))


@dataclass(frozen=True)
class Comparison(Result):
    """Theory, Gaussian surrogate and real rows for one model and dataset (:func:`compare`).

    Attributes
    ----------
    model : RFModel
        With the dataset's law as ``data``.
    dataset : dict
        :meth:`rfdiff.data.DataMatrix.describe` (name, N, d, normalisation, constant columns).
    values : dict
        ``values[source][quantity]``: a float for the theory, an array (one per seed/split) otherwise.
    seeds : list of int
    splits : list of dict
        :meth:`rfdiff.data.Split.to_dict` of each real run.
    taus : ndarray
        Training times of the stored curves.
    curves : dict
        ``curves[source]``: LossCurves (theory) or a list of LossCurves (one per seed/split) at ``taus``.
    score_constant : str
        What the real runs' score error uses for the Fisher-information constant.
    status, message
        :class:`rfdiff.results.Result`: those of the theory's timescales.
    """

    HIDDEN: ClassVar[tuple] = ("curves",)

    model: RFModel
    dataset: dict
    values: dict
    seeds: list
    splits: list
    taus: np.ndarray = field(repr=False)
    curves: dict = field(repr=False)
    score_constant: str = ""

    def mean(self, source, quantity) -> float:
        """Mean over seeds/splits (the theory's value for ``"theory"``); inf if any run is inf."""
        v = np.asarray(self.values[source][quantity], dtype=float)
        return float(v.mean())

    def std(self, source, quantity) -> float:
        v = np.asarray(self.values[source][quantity], dtype=float)
        return float(v.std(ddof=1)) if v.size > 1 and np.all(np.isfinite(v)) else 0.0

    def relative_errors(self) -> dict:
        """Per quantity, relative to the real-data mean R: ``theory`` = (T − R)/R, ``surrogate`` = (S − R)/R, and
        the split of the theory's gap ``finite_size`` = (S − T)/R, ``non_gaussian`` = (R − S)/R (so theory =
        −(finite_size + non_gaussian)). NaN where a value is infinite."""
        out = {}
        for q in QUANTITIES:
            T, S, R = (self.mean(s, q) for s in SOURCES)
            if not all(math.isfinite(x) for x in (T, S, R)):
                out[q] = dict.fromkeys(("theory", "surrogate", "finite_size", "non_gaussian"), math.nan)
                continue
            out[q] = {"theory": (T - R) / R, "surrogate": (S - R) / R, "finite_size": (S - T) / R,
                      "non_gaussian": (R - S) / R}
        return out

    def to_dict(self) -> dict:
        """:meth:`rfdiff.results.Result.to_dict` (curves left out) plus ``relative_errors``."""
        out = super().to_dict()
        out["relative_errors"] = self.relative_errors()
        return out


def _check(model, data):
    from .data import DataMatrix
    if not isinstance(model, RFModel):
        raise ValueError(f"model must be an rfdiff.RFModel, got {model!r}")
    if not isinstance(data, DataMatrix):
        raise ValueError(f"data must be an rfdiff.data.DataMatrix (rfdiff.load_dataset, rfdiff.load_matrix, "
                         f"rfdiff.data_matrix), got {type(data).__name__}")


def compare(model, data, *, splits=5, seed=0, n_test=None, taus=None, bins=None, execution=None) -> Comparison:
    """Theory vs Gaussian surrogate vs real rows for ``model`` on ``data`` (module docstring).

    Parameters
    ----------
    model : RFModel
        ψ_p, ψ_n, t, activation, m (the training noise of both simulations), weight decay; ``model.data`` is
        replaced by the dataset's law, and
        n = round(ψ_n d) training rows are used (d = ``data.d``).
    data : DataMatrix
    splits : int
        Random splits (and surrogate seeds) ``seed, seed + 1, …``.
    seed : int
    n_test : int, optional
        Held-out rows per split (default: all rows not trained on, at most :data:`DEFAULT_N_TEST`).
    taus : array_like, optional
        Training times of the stored curves (default: 120 log-spaced points over the theory's window, and ∞).
    bins : int, optional
        Bin the law's spectrum (:meth:`DataMatrix.law`); default exact eigenvalues.
    execution : rfdiff.Execution, optional
        Where the simulations run (:func:`rfdiff.sweep.sweep`; its store is not used); default serial, in this
        process. The results do not depend on it beyond rounding (single-threaded workers sum in another
        order: relative differences ~1e-10).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        Bad model or data, or too few rows for n + n_test (naming them).
    """
    from .dynamics import LearningDynamics
    from .settings import tau_grid
    from .simulate import problem_sizes
    from .simulate.realdata import SCORE_CONSTANT

    _check(model, data)
    splits = integer("splits", splits, 1)
    seed = integer("seed", seed, 0)
    model = model.replace(data=data.law(bins))
    n = problem_sizes(model, data.d)[1]
    if n_test is None:
        n_test = min(data.n_rows - n, DEFAULT_N_TEST)
        if n_test < 2:
            raise ValueError(f"{data.name} has {data.n_rows} rows: too few for n = {n} training rows and held-out rows")
    dyn = LearningDynamics(model)
    ts = timescales(model, dynamics=dyn)
    if taus is None:
        taus = tau_grid(*dyn.tau_window(), 120, with_inf=True)
    taus = np.asarray(taus, dtype=float)
    values = {"theory": {"test_gen": ts.test_min, "test_inf": ts.test_inf, "tau_gen": ts.tau_gen,
                         "tau_mem": ts.tau_mem},
              "surrogate": {q: [] for q in QUANTITIES}, "real": {q: [] for q in QUANTITIES}}
    curves = {"theory": dyn(taus), "surrogate": [], "real": []}
    seeds = list(range(seed, seed + splits))
    split_info, tasks = [], []
    for s in seeds:
        split = data.split(n, n_test, seed=s)
        tasks += [{"model": model, "d": data.d, "seed": s, "rows": None, "taus": taus},
                  {"model": model, "d": data.d, "seed": s, "taus": taus,
                   "rows": (data.rows[split.train], data.rows[split.test])}]
        split_info.append(split.to_dict())
    for k, res in enumerate(_simulations(tasks, execution)):
        source = ("surrogate", "real")[k % 2]
        for q, v in res["summary"].items():
            values[source][q].append(v)
        curves[source].append(res["curves"])
    for source in ("surrogate", "real"):
        values[source] = {q: np.asarray(v) for q, v in values[source].items()}
    return Comparison(model=model, dataset=data.describe(), values=values, seeds=seeds, splits=split_info,
                      taus=taus, curves=curves, score_constant=SCORE_CONSTANT, status=ts.status, message=ts.message)


@dataclass(frozen=True)
class TauScaling(Result):
    """τ_gen and τ_mem against the number of training rows n, theory and real rows (:func:`tau_mem_scaling`).

    Attributes
    ----------
    n : ndarray of int
    psi_p : ndarray
    t : float
    theory : ndarray, shape (len(psi_p), len(n), 2)
        (τ_gen, τ_mem) of the theory with the dataset's law at ψ_n = n/d.
    real : ndarray, shape (len(psi_p), len(n), splits, 2)
        (τ_gen, τ_mem) of the true model on real rows, one per split.
    surrogate : ndarray or None
        The same for the Gaussian surrogate (the true model on Gaussian rows of the same covariance, seed k for
        split k), or None.
    slopes : dict
        ``{"theory": [...], "real": [...], "surrogate": [...]}``: per ψ_p, the least-squares slope of log τ_mem
        against log n over the n where τ_mem is finite (simulations: on the mean of log τ_mem over splits, n
        with any infinite τ_mem left out; NaN with < 2 points).
    fitted : dict
        Per source and ψ_p, the n used by the fit.
    dataset : dict
    seeds : list of int
    activation : str
    status, message
        The worst status of the theory's timescales.
    """

    n: np.ndarray
    psi_p: np.ndarray
    t: float
    theory: np.ndarray
    real: np.ndarray
    surrogate: object
    slopes: dict
    fitted: dict
    dataset: dict
    seeds: list
    activation: str = "tanh"


def _slope(n, tau):
    """Slope of log τ against log n over the finite τ (NaN with fewer than 2), and the n it used."""
    ok = np.isfinite(tau)
    if ok.sum() < 2:
        return math.nan, []
    return fit_power_law(n[ok], tau[ok])[0], [int(v) for v in n[ok]]


def tau_mem_scaling(data, n, psi_p, *, t=0.1, activation="tanh", splits=3, seed=0, n_test=None,
                    surrogate=True, execution=None) -> TauScaling:
    """τ_gen and τ_mem from the theory and from the true model on real rows, over n and ψ_p.

    Parameters
    ----------
    data : DataMatrix
    n : sequence of int
        Training rows (ψ_n = n/d).
    psi_p : sequence of float
    t : float
    activation : str
    splits, seed, n_test
        As in :func:`compare`.
    surrogate : bool
        Also run the Gaussian surrogate (default True).
    execution : rfdiff.Execution, optional
        As in :func:`compare`.

    Returns
    -------
    TauScaling
    """
    from .data import DataMatrix

    if not isinstance(data, DataMatrix):
        raise ValueError(f"data must be an rfdiff.data.DataMatrix, got {type(data).__name__}")
    ns = np.asarray([integer("n", int(v) if float(v).is_integer() else v, 1) for v in np.atleast_1d(n)])
    psis = np.asarray(np.atleast_1d(psi_p), dtype=float)
    splits = integer("splits", splits, 1)
    seed = integer("seed", seed, 0)
    law = data.law()
    theory = np.full((psis.size, ns.size, 2), np.nan)
    real = np.full((psis.size, ns.size, splits, 2), np.nan)
    sur = np.full_like(real, np.nan) if surrogate else None
    seeds = list(range(seed, seed + splits))
    statuses, messages, tasks, slots, models = [], [], [], [], []
    for i, pp in enumerate(psis):
        for j, nn in enumerate(ns):
            model = RFModel(psi_p=pp, psi_n=nn / data.d, t=t, activation=activation, data=law)
            models.append(model)
            held = min(data.n_rows - nn, DEFAULT_N_TEST) if n_test is None else n_test
            for k, s in enumerate(seeds):
                split = data.split(int(nn), held, seed=s)
                tasks.append({"model": model, "d": data.d, "seed": s, "taus": None,
                              "rows": (data.rows[split.train], data.rows[split.test])})
                slots.append((real, (i, j, k)))
                if surrogate:
                    tasks.append({"model": model, "d": data.d, "seed": s, "rows": None, "taus": None})
                    slots.append((sur, (i, j, k)))
    found = _simulations(tasks + [{"theory": model} for model in models], execution)    # one batch of tasks
    for (target, index), res in zip(slots, found):
        target[index] = res["summary"]["tau_gen"], res["summary"]["tau_mem"]
    found = iter(found[len(tasks):])
    for i, pp in enumerate(psis):
        for j, nn in enumerate(ns):
            ts = next(found)
            theory[i, j] = ts.tau_gen, ts.tau_mem
            statuses.append(ts.status)
            if ts.message:
                messages.append(f"psi_p={pp:g}, n={nn}: {ts.message}")
    sources = ("theory", "real") + (("surrogate",) if surrogate else ())
    slopes, fitted = {k: [] for k in sources}, {k: [] for k in sources}
    for i in range(psis.size):
        series = [("theory", theory[i, :, 1]), ("real", np.exp(np.mean(np.log(real[i, :, :, 1]), axis=1)))]
        if surrogate:
            series.append(("surrogate", np.exp(np.mean(np.log(sur[i, :, :, 1]), axis=1))))
        for source, tau in series:
            s, used = _slope(ns.astype(float), tau)
            slopes[source].append(s)
            fitted[source].append(used)
    return TauScaling(n=ns, psi_p=psis, t=float(t), theory=theory, real=real, surrogate=sur, slopes=slopes,
                      fitted=fitted,
                      dataset=data.describe(), seeds=seeds, activation=str(getattr(activation, "name", activation)),
                      status=worst_status(*statuses), message="; ".join(messages))
