"""A random-features score per diffusion time, trained on one training set to a common τ (docs/theory.md §13).

:func:`score_family` builds, for every time t_k of a grid, the finite model ``model.replace(t=t_k)`` at
dimension d with the existing simulators and reads its trained read-out ``A_k(τ)`` off the simulator's
closed-form gradient flow (:class:`rfdiff.simulate.ClosedFormFlow`: one eigendecomposition per time, then
any number of τ). Every member uses the same seed, hence the same n training points (and, by default, the
same W: ``sample_problem`` draws W and X from the seed alone, whatever t). The times are independent tasks
of :func:`rfdiff.sweep.sweep`, so a large family runs serially, on local processes or on dask.

**Real data** (``rows=(train_rows, test_rows)``, docs/theory.md §14): every member is the flow of
:func:`rfdiff.simulate.real_features` on the given rows instead — the same W convention (first draw of
``default_rng(seed)``, or the per-time ``feature_seed``), the n training rows as the training set and the
held-out rows as the population of its test loss. The rows are normalised data (centred, ``Tr Σ/d = 1``,
:class:`rfdiff.data.Normalization`); the family records the normalisation given to it, so that samples map back
to the data's own units by ``family.normalization.invert(x)``. Such a family has no exact score (the data's law
is not known in closed form) and its score error is the Gaussian proxy of ``real_features`` (a lower bound), so
:meth:`ScoreFamily.exact_score` and :func:`rfdiff.kl_bound` refuse it; its held-out points are held-out rows.

Simulators (``simulator=``):

* ``"features"`` (default) — the true non-linear features, training noise averaged exactly or ``model.m``
  frozen draws, weight decay ``model.weight_decay`` (:func:`rfdiff.simulate.random_features`);
* ``"gaussian"`` — the Gaussian-equivalent matrices (not with real rows) (:func:`rfdiff.simulate.gaussian_equivalent`). Their
  "features" ``G = e^{-t}μ1 W X/√d + v Ω`` are not a function of x, so such a family has no score to sample
  with: it gives the loss side only (score errors, hence the finite-size KL bound), and :meth:`ScoreFamily.at`
  refuses it;
* ``"gd"``, ``"adam"`` — explicit training (:func:`rfdiff.simulate.train`), one run per (t, τ): the
  cross-check of the closed form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._validate import choice, diffusion_times, integer, row_pair
from .._validate import taus as check_taus
from ..model import T_RANGE, RFModel
from ..results import Result, worst_status
from ..settings import DIFFUSION_TIMES, default_times
from .scores import MixtureScore, ScoreSchedule, empirical_score, exact_score

__all__ = ["SIMULATORS", "DEFAULT_TIMES", "FEATURE_STREAM", "HOLDOUT_STREAM", "ScoreFamily", "RFScore",
           "default_times", "score_family"]

SIMULATORS = ("features", "gaussian", "gd", "adam")
#: ``(t_min, t_max, count)`` of the default grid (:data:`rfdiff.settings.DIFFUSION_TIMES`).
DEFAULT_TIMES = DIFFUSION_TIMES
#: Spawn key of the independent W of time k: ``SeedSequence(seed, spawn_key=(FEATURE_STREAM, k))``.
FEATURE_STREAM = 6
#: Spawn key of :meth:`ScoreFamily.holdout`'s fresh data points.
HOLDOUT_STREAM = 7


def _member(task):
    """One time of the family (runs on a sweep worker): read-outs and finite-size losses at every τ."""
    from ..simulate import gaussian_equivalent, problem_sizes, random_features, real_features, train
    model, d, seed, taus = task["model"], task["d"], task["seed"], np.asarray(task["taus"], dtype=float)
    k, rows = task["feature_index"], task["rows"]
    feature_seed = None if k is None else _feature_seed(seed, k)
    simulator, options = task["simulator"], dict(task["options"])
    if simulator in ("features", "gaussian"):
        if rows is not None:
            sim = real_features(model, rows[0], rows[1], seed=seed, feature_seed=feature_seed, **options)
        elif simulator == "features":
            sim = random_features(model, d, seed=seed, feature_seed=feature_seed, **options)
        else:
            sim = gaussian_equivalent(model, d, seed=seed, feature_seed=feature_seed, **options)
        curves = sim.loss_curves(taus)
        out = {"train": curves.train, "test": curves.test, "score_error": curves.score_error}
        if simulator == "features":
            out["readouts"] = np.stack([sim.weights(tau) for tau in taus])
        return out
    readouts, losses = [], []
    for tau in taus:
        if tau == 0:
            res = None
        else:
            if not math.isfinite(tau):
                raise ValueError("simulator='gd'/'adam' needs finite taus (explicit training cannot reach τ = ∞)")
            res = train(model, d, tau, optimizer=simulator, seed=seed, n_log=1, rows=rows, **options)
        if res is None:                       # τ = 0: A = 0 (its score error is not logged: NaN)
            readouts.append(np.zeros((d, problem_sizes(model, d)[0])))
            losses.append((1.0, 1.0, np.nan))
        else:
            readouts.append(res.A)
            losses.append((res.train[-1], res.test[-1], res.score_error[-1]))
    losses = np.array(losses, dtype=float)
    return {"readouts": np.stack(readouts), "train": losses[:, 0], "test": losses[:, 1], "score_error": losses[:, 2]}


def _feature_seed(seed, k):
    """The seed of time k's own W: ``SeedSequence(seed, spawn_key=(FEATURE_STREAM, k))``."""
    return np.random.SeedSequence(seed, spawn_key=(FEATURE_STREAM, k))


def _key(task):
    from ..outputs import digest
    rows = None if task["rows"] is None else digest(task["rows"])
    return {"model": task["model"].to_dict(), "d": task["d"], "seed": task["seed"], "taus": list(task["taus"]),
            "feature_index": task["feature_index"], "simulator": task["simulator"], "options": task["options"],
            "rows": rows, "what": "score_family_member"}


@dataclass(frozen=True, kw_only=True)
class ScoreFamily(Result):
    """Random-features scores on a grid of diffusion times, trained on one training set (module docstring).

    Attributes
    ----------
    model : RFModel
        The model at the first time of the grid (``model.t = times[0]``; member k is ``model.replace(t=times[k])``;
        with real rows its ``data`` is not used).
    d, p, n : int
    seed : int
    times : ndarray, shape (K,)
    taus : ndarray, shape (T,)
    readouts : ndarray, shape (T, K, d, p), or None
        ``A_k(τ_j)``; None for ``simulator="gaussian"`` (no score function, module docstring).
    features : ndarray, shape (1, p, d) or (K, p, d)
        W (shared) or one W per time.
    train_points : ndarray, shape (n, d)
        The training set, as rows.
    labels : int ndarray, shape (n,)
        Class of each training point (all 0 for one Gaussian and for real rows).
    class_weights : ndarray, shape (C,)
    class_variances : ndarray, shape (C, d)
        Eigenvalues of Σ (C = 1) or of each Σ_c; real rows: of the held-out rows' covariance.
    centroids : ndarray, shape (C, d)
    score_error, train_loss, test_loss : ndarray, shape (T, K)
        Each member's finite-size curves at the taus (docs/theory.md §3; NaN where not available).
    simulator : str
    shared_features : bool
    member_errors : list of str
        One per time, empty when that member succeeded.
    stats : dict
        The sweep's counts (computed, reused, failed).
    test_points : ndarray, shape (n_test, d), or None
        Real rows: the held-out rows (the population of the test loss); None for a data law.
    normalization : rfdiff.data.Normalization or None
        Real rows: the map from the data's units to the rows (``normalization.invert`` maps samples back), when
        given to :func:`score_family`.
    """

    model: RFModel
    d: int
    p: int
    n: int
    seed: int
    times: np.ndarray
    taus: np.ndarray
    readouts: object
    features: np.ndarray = field(repr=False)
    train_points: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    class_weights: np.ndarray
    class_variances: np.ndarray = field(repr=False)
    centroids: np.ndarray = field(repr=False)
    score_error: np.ndarray = field(repr=False)
    train_loss: np.ndarray = field(repr=False)
    test_loss: np.ndarray = field(repr=False)
    simulator: str
    shared_features: bool
    member_errors: list = field(default_factory=list, repr=False)
    stats: dict = field(default_factory=dict, repr=False)
    test_points: object = field(default=None, repr=False)
    normalization: object = field(default=None, repr=False)

    def _tau_index(self, tau) -> int:
        tau = float(check_taus(tau)[0])
        hits = np.flatnonzero((self.taus == tau) | (np.isclose(self.taus, tau, rtol=1e-12, atol=0.0)))
        if hits.size == 0:
            raise ValueError(f"tau = {tau!r} is not one of the family's taus {self.taus.tolist()}")
        return int(hits[0])

    def at(self, tau) -> RFScore:
        """The score schedule of the family trained to ``tau`` (one of :attr:`taus`), for the sampler."""
        if self.readouts is None:
            raise ValueError("a family built with simulator='gaussian' has no score function of x (the "
                             "Gaussian-equivalent features are not σ(Wx/√d)): use it for the loss side only, "
                             "and simulator='features' to sample")
        j = self._tau_index(tau)
        if self.member_errors and any(self.member_errors):
            bad = [float(t) for t, e in zip(self.times, self.member_errors) if e]
            raise ValueError(f"the family has failed members at t = {bad}: cannot sample ({self.message})")
        return RFScore(self, j)

    @property
    def mixture(self) -> bool:
        return self.class_weights.size > 1

    @property
    def real_rows(self) -> bool:
        """Trained on given data rows (module docstring), not on draws of a data law."""
        return self.test_points is not None

    def exact_score(self) -> MixtureScore:
        """The exact score of the data law on the same grid ("perfect generalization"); not for real rows."""
        if self.real_rows:
            raise ValueError("a family trained on real rows has no exact score (the data's law is not known in "
                             "closed form): compare with its empirical score and its held-out rows")
        return exact_score(self.times, self.class_variances, means=self.centroids, weights=self.class_weights)

    def empirical_score(self) -> MixtureScore:
        """The empirical optimal score of the training points on the same grid ("perfect memorization")."""
        return empirical_score(self.times, self.train_points)

    def population_covariance(self) -> np.ndarray:
        """Covariance of the data law, ``Σ_c π_c (Σ_c + μ_c μ_cᵀ) − μ̄ μ̄ᵀ`` (Σ for one Gaussian), d×d; real rows:
        the covariance of the held-out rows about their mean (the population of the test loss)."""
        if self.real_rows:
            return np.cov(self.test_points, rowvar=False, bias=True).reshape(self.d, self.d)
        w = self.class_weights / self.class_weights.sum()
        mean = w @ self.centroids
        C = np.diag(w @ self.class_variances) + (self.centroids.T * w) @ self.centroids
        return C - np.outer(mean, mean)

    def holdout(self, n, seed=None) -> np.ndarray:
        """``n`` fresh points of the data law (rows), from ``SeedSequence(seed, spawn_key=(HOLDOUT_STREAM,))``
        (default: the family's seed). A mixture gives ``round(π_c n)`` points of class c (largest remainder).
        Real rows: ``n`` distinct held-out rows drawn from that stream (n at most their number)."""
        seed = self.seed if seed is None else integer("seed", seed, 0)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(HOLDOUT_STREAM,)))
        if self.real_rows:
            n = integer("n", n, 1, self.test_points.shape[0])
            return self.test_points[np.sort(rng.choice(self.test_points.shape[0], n, replace=False))]
        n = integer("n", n, 1)
        labels = np.repeat(np.arange(self.class_weights.size), self.model.data.class_counts(n))
        z = rng.standard_normal((n, self.d))
        return self.centroids[labels] + np.sqrt(self.class_variances[labels]) * z

    def to_dict(self) -> dict:
        out = {"model": self.model.to_dict(), "d": self.d, "p": self.p, "n": self.n, "seed": self.seed,
               "times": self.times.tolist(), "taus": self.taus.tolist(), "simulator": self.simulator,
               "shared_features": self.shared_features, "score_error": self.score_error.tolist(),
               "diagnostics": {"status": self.status, "message": self.message, "stats": self.stats,
                               "member_errors": list(self.member_errors)}}
        if self.real_rows:
            out["real_rows"] = {"n_test": int(self.test_points.shape[0]),
                                "normalization": None if self.normalization is None else self.normalization.to_dict(),
                                "score_error": "Gaussian proxy of the held-out covariance (a lower bound)"}
        return out


class RFScore(ScoreSchedule):
    """The scores ``s_k(x) = A_k σ(W_k x/√d)/√p`` of a family at one τ (built by :meth:`ScoreFamily.at`).

    A batch of N points costs two GEMMs, ``σ(x W_kᵀ/√d)`` (N×p) then ``@ A_kᵀ/√p``, per call.
    """

    def __init__(self, family: ScoreFamily, j: int):
        self.family = family
        self.tau = float(family.taus[j])
        self.times = family.times
        self.d = family.d
        self.width = family.p
        self.name = "random_features"
        self.fn = family.model.activation.fn
        self.linear = family.model.activation.name == "linear"
        scale_w, scale_a = 1.0 / math.sqrt(family.d), 1.0 / math.sqrt(family.p)
        self._w = [np.ascontiguousarray(W.T * scale_w) for W in family.features]
        self._a = [np.ascontiguousarray(A.T * scale_a) for A in family.readouts[j]]

    def _wt(self, k):
        return self._w[0 if len(self._w) == 1 else k]

    def score(self, k, x):
        h = np.ascontiguousarray(x, dtype=np.float64) @ self._wt(k)
        if isinstance(self.fn, np.ufunc):
            self.fn(h, out=h)
        elif not self.linear:
            h = np.asarray(self.fn(h), dtype=np.float64)
        return h @ self._a[k]

    def linear_map(self, k):
        """``B_k = −A_k W_k/√(p d)`` for the linear activation (``s = −B x``), else None."""
        if not self.linear:
            return None
        return -(self._wt(k) @ self._a[k]).T

    def describe(self):
        out = super().describe()
        out.update(tau=self.tau, simulator=self.family.simulator, p=self.family.p, n=self.family.n,
                   seed=self.family.seed, shared_features=self.family.shared_features, real_rows=self.family.real_rows)
        return out


def score_family(model, d, taus, *, times=None, seed=0, simulator="features", shared_features=True,
                 rows=None, normalization=None, execution=None, **options) -> ScoreFamily:
    """Train a random-features score at every diffusion time of a grid, on one training set, to each τ.

    Parameters
    ----------
    model : RFModel
        ψ_p, ψ_n, activation, data law, m and weight decay of every member (``model.t`` is replaced by each
        time of the grid; with ``rows`` the data law is not used).
    d : int
        Dimension; ``p = round(ψ_p d)``, ``n = round(ψ_n d)`` (with ``rows``: their number of columns).
    taus : float or array_like
        Training times ≥ 0 (``np.inf`` allowed except for gd/adam), convention of docs/theory.md §1.
    times : array_like, optional
        Diffusion times t_1 < … < t_K (default :func:`default_times`: 48 log-spaced times in [1e-3, 5]).
    seed : int
        Seed of W and the training set (``rfdiff.simulate.sample_problem``; with ``rows``, of W alone), shared by
        every member.
    simulator : {"features", "gaussian", "gd", "adam"}
        Module docstring ("gaussian" not with ``rows``).
    shared_features : bool
        One W for all times (default), or an independent W per time (``feature_seed`` of
        ``sample_problem``: ``SeedSequence(seed, spawn_key=(FEATURE_STREAM, k))``), the training set unchanged.
    rows : (train_rows, test_rows), optional
        Real data (docs/theory.md §14, module docstring): train every member on the n = round(ψ_n d) rows
        ``train_rows`` (shape (n, d)) with the held-out ``test_rows`` (shape (n_test, d)) as the population, by
        :func:`rfdiff.simulate.real_features` (``"features"``) or :func:`rfdiff.simulate.train` with ``rows``
        (``"gd"``, ``"adam"``). Normalised rows, e.g. ``data.rows[split.train], data.rows[split.test]`` of a
        :class:`rfdiff.data.DataMatrix` and its :meth:`~rfdiff.data.DataMatrix.split`.
    normalization : rfdiff.data.Normalization, optional
        With ``rows``: the normalisation that made them (``data.normalization``), recorded on the family
        (:attr:`ScoreFamily.normalization`) to map samples back to the data's units.
    execution : rfdiff.Execution, optional
        Where the members run (:func:`rfdiff.sweep.sweep`: executor, workers, scheduler, store, progress);
        default ``Execution(executor="serial")``, in this process.
    **options
        Passed to the simulator (e.g. ``order``, ``tol`` of ``random_features``; ``lr``, ``batch``, ``noise``
        of ``train``).

    Returns
    -------
    ScoreFamily
        ``status`` "failed" (members' errors in ``member_errors``) if some time failed, "fallback" if some
        member warned (e.g. a capped Mehler order).

    Notes
    -----
    docs/theory.md §13. The denoising losses of different times share no parameter, so training them all to a
    common τ is gradient flow on their sum with unit weights; each member's ``A_k(τ) = −√(p/Δ_k) Vᵀ f_τ(U + ω)``
    is the flow of §3 at time t_k (with real rows, of §14).

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> data = rd.data_matrix(np.random.default_rng(0).standard_normal((40, 3)) ** 3)
    >>> split = data.split(6, seed=1)
    >>> fam = score_family(rd.RFModel(psi_p=4, psi_n=2, t=0.1), 3, [np.inf], times=[0.1, 1.0], seed=2,
    ...                    rows=(data.rows[split.train], data.rows[split.test]), normalization=data.normalization)
    >>> fam.real_rows, fam.n, fam.test_points.shape, fam.normalization.invert(fam.train_points).shape
    (True, 6, (34, 3), (6, 3))
    """
    from ..simulate import draw_features, draw_problem, problem_sizes
    from ..sweep import Execution, sweep

    if not isinstance(model, RFModel):
        raise ValueError(f"model must be an rfdiff.RFModel, got {model!r}")
    d = integer("d", d, 1)
    tau = check_taus(taus)
    if tau.size == 0:
        raise ValueError("taus must hold at least one training time")
    times = default_times() if times is None else diffusion_times(times)
    if times[0] < T_RANGE[0]:
        raise ValueError(f"times must be >= {T_RANGE[0]:g} (the model's supported range), got {times[0]!r}")
    seed = integer("seed", seed, 0)
    simulator = choice("simulator", simulator, SIMULATORS)
    if simulator in ("gd", "adam") and not shared_features:
        raise ValueError("shared_features=False is available for simulator='features' and 'gaussian' only")
    if simulator in ("gd", "adam") and not np.all(np.isfinite(tau)):
        raise ValueError("taus must be finite for simulator='gd' or 'adam' (explicit training cannot reach τ = ∞)")
    p, n = problem_sizes(model, d)
    if rows is not None:
        if simulator == "gaussian":
            raise ValueError("rows: simulator='gaussian' has no real-row version (the Gaussian-equivalent features "
                             "are built from the data law); use 'features', 'gd' or 'adam'")
        rows = row_pair("rows", rows, n, d)
    if normalization is not None:
        from ..data import Normalization
        if rows is None or not isinstance(normalization, Normalization) or normalization.kept.size != d:
            raise ValueError(f"normalization must be the rfdiff.data.Normalization of the rows (d = {d} kept "
                             f"columns), given with rows; got {normalization!r}")
    if execution is None:
        execution = Execution(executor="serial")
    elif not isinstance(execution, Execution):
        raise ValueError(f"execution must be an rfdiff.Execution (or None: serial), got {execution!r}")

    tasks = [{"model": model.replace(t=float(t)), "d": d, "seed": seed, "taus": tau.tolist(),
              "feature_index": None if shared_features else k, "simulator": simulator, "options": dict(options),
              "rows": rows} for k, t in enumerate(times)]
    results, stats = sweep(_member, tasks, key=_key, execution=execution, desc="score family")

    W, X, labels, centroids = draw_problem(model, d, seed)       # W: the first draw of the seed, as real_features'
    variances = np.asarray(model.data.class_eigenvalues(d), dtype=np.float64)
    weights = np.asarray(model.data.class_weights, dtype=np.float64)
    centroids = np.ascontiguousarray(centroids.T)
    if rows is not None:
        X, labels, weights, centroids = rows[0].T, np.zeros(n, dtype=int), np.ones(1), np.zeros((1, d))
        variances = np.linalg.eigvalsh(np.cov(rows[1], rowvar=False, bias=True).reshape(d, d))[None]
    if shared_features:
        features = W[None]
    else:
        features = np.stack([draw_features(p, d, _feature_seed(seed, k)) for k in range(times.size)])

    K, T = times.size, tau.size
    readouts = None if simulator == "gaussian" else np.full((T, K, d, p), np.nan)
    losses = {name: np.full((T, K), np.nan) for name in ("score_error", "train", "test")}
    errors, warned = [], []
    for k, res in enumerate(results):
        if "error" in res:
            errors.append(res["error"])
            continue
        errors.append("")
        if res.get("warnings"):
            warned.append(f"t = {times[k]:.3g}: {res['warnings'][0]}")
        if readouts is not None:
            readouts[:, k] = np.asarray(res["readouts"], dtype=np.float64)
        for name in losses:
            losses[name][:, k] = np.asarray(res[name], dtype=np.float64)
    failed = [f"t = {times[k]:.3g}: {e}" for k, e in enumerate(errors) if e]
    status = worst_status("failed" if failed else "ok", "fallback" if warned else "ok")
    message = "; ".join((failed or warned)[:3])
    if len(failed or warned) > 3:
        message += f"; … ({len(failed or warned)} members)"
    return ScoreFamily(model=model.replace(t=float(times[0])), d=d, p=p, n=n, seed=seed, times=times, taus=tau,
                       readouts=readouts, features=np.ascontiguousarray(features), train_points=np.ascontiguousarray(X.T),
                       labels=labels, class_weights=weights, class_variances=variances, centroids=centroids,
                       score_error=losses["score_error"], train_loss=losses["train"], test_loss=losses["test"],
                       simulator=simulator, shared_features=bool(shared_features), member_errors=errors, stats=stats,
                       test_points=None if rows is None else rows[1], normalization=normalization, status=status,
                       message=message)
