"""What generated samples are measured by (docs/theory.md §13): copies, distances, covariance, classes.

* :func:`nearest_neighbors` — the k nearest training points of each point (BLAS distance blocks, the k
  smallest recomputed exactly);
* :func:`memorization_fraction` — the seed paper's copy criterion ``‖x − a¹‖/‖x − a²‖ < threshold``
  (default 1/3, a¹ and a² the nearest and second-nearest training points), with a bootstrap standard error;
* :func:`covariance_report` — the generated covariance and its spectrum next to the population and the
  empirical (training-set) covariance, and the KL divergence between the Gaussian fits;
* :func:`gaussian_kl` — ``KL(N(0, P) ‖ N(0, Q))`` of two covariances;
* :func:`class_proportions` — the share of samples each class of a mixture claims.

Points are rows (shape (N, d)); training sets are given as rows too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import in_range, integer
from ..results import Result

__all__ = ["MemorizationFraction", "CovarianceReport", "nearest_neighbors", "memorization_fraction",
           "covariance_report", "gaussian_kl", "class_proportions", "DEFAULT_THRESHOLD", "DEFAULT_BOOTSTRAP"]

#: The seed paper's copy threshold on ``‖x − a¹‖/‖x − a²‖``.
DEFAULT_THRESHOLD = 1.0 / 3.0
#: Bootstrap resamples of the copy indicators (the seed paper's code uses 1000).
DEFAULT_BOOTSTRAP = 1000
#: A sample has *escaped* when ``‖x‖² > ESCAPE · Tr Σ`` (5 times the typical radius of the data).
ESCAPE = 25.0
_BLOCK_ENTRIES = 2 ** 22


def _rows(name, x, d=None):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or (d is not None and x.shape[1] != d):
        want = "(N, d)" if d is None else f"(N, {d})"
        raise ValueError(f"{name} must be a 2-D array of shape {want} (points as rows), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return np.ascontiguousarray(x)


def nearest_neighbors(points, train, k=2):
    """Distances to, and indices of, the k nearest rows of ``train`` for every row of ``points``.

    Returns
    -------
    distances : ndarray, shape (N, k)
        Ascending Euclidean distances, recomputed exactly as ``‖x − a‖`` for the selected neighbours.
    indices : int ndarray, shape (N, k)

    Notes
    -----
    Candidates come from ``‖x‖² + ‖a‖² − 2 x·a`` in blocks (one GEMM each); the k smallest of each row are
    selected by ``argpartition`` on a margin of k + 2 candidates and re-ranked by their exact distances, so
    rounding in the expanded form cannot swap two neighbours closer than the next candidate.
    """
    points = _rows("points", points)
    train = _rows("train", train, points.shape[1])
    k = integer("k", k, 1, train.shape[0])
    n = train.shape[0]
    kk = min(n, k + 2)
    t2 = np.einsum("ij,ij->i", train, train)
    step = max(1, _BLOCK_ENTRIES // n)
    dist = np.empty((points.shape[0], k))
    idx = np.empty((points.shape[0], k), dtype=np.int64)
    for r0 in range(0, points.shape[0], step):
        x = points[r0:r0 + step]
        sq = t2[None, :] - 2.0 * (x @ train.T)
        cand = np.argpartition(sq, kk - 1, axis=1)[:, :kk] if kk < n else np.broadcast_to(np.arange(n), sq.shape)
        exact = np.linalg.norm(x[:, None, :] - train[cand], axis=2)
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        dist[r0:r0 + step] = np.take_along_axis(exact, order, axis=1)
        idx[r0:r0 + step] = np.take_along_axis(np.asarray(cand), order, axis=1)
    return dist, idx


@dataclass(frozen=True, kw_only=True)
class MemorizationFraction(Result):
    """Fraction of copies among generated samples.

    Attributes
    ----------
    value : float
        ``f_mem``: the fraction of samples with ``‖x − a¹‖/‖x − a²‖ < threshold``.
    stderr : float
        Bootstrap standard error (std of the resampled fractions, ddof = 1).
    interval : (float, float)
        Bootstrap 95% percentile interval.
    binomial_stderr : float
        ``√(f(1 − f)/N)``, for comparison.
    ratios : ndarray, shape (N,)
        ``‖x − a¹‖/‖x − a²‖`` of every sample.
    nearest : int ndarray, shape (N,)
        Index of a¹ in the training set.
    threshold : float
    n_samples, n_bootstrap : int
    """

    value: float
    stderr: float
    interval: tuple
    binomial_stderr: float
    ratios: np.ndarray
    nearest: np.ndarray
    threshold: float
    n_samples: int
    n_bootstrap: int

    @property
    def copied(self) -> np.ndarray:
        """Boolean mask of the copies."""
        return self.ratios < self.threshold

    def to_dict(self) -> dict:
        return {"f_mem": self.value, "stderr": self.stderr, "interval": list(self.interval),
                "binomial_stderr": self.binomial_stderr, "threshold": self.threshold, "n_samples": self.n_samples,
                "n_bootstrap": self.n_bootstrap, "distinct_copied_points": int(np.unique(self.nearest[self.copied]).size),
                "diagnostics": {"status": self.status, "message": self.message}}


def memorization_fraction(samples, train, *, threshold=DEFAULT_THRESHOLD, n_bootstrap=DEFAULT_BOOTSTRAP,
                          seed=0) -> MemorizationFraction:
    """The seed paper's memorization fraction f_mem with a bootstrap error (docs/theory.md §13).

    Parameters
    ----------
    samples : array_like, shape (N, d)
        Generated points (rows), or a :class:`rfdiff.generate.Samples`.
    train : array_like, shape (n, d)
        Training points (rows), n ≥ 2.
    threshold : float
        Copy threshold in (0, 1] on ``‖x − a¹‖/‖x − a²‖`` (default 1/3, [BUBM25]).
    n_bootstrap : int
        Resamples of the N copy indicators (with replacement; the copies in one resample are drawn as
        ``Binomial(N, f_mem)``, the same law); 0 skips the bootstrap (stderr NaN).
    seed : int
        Seed of the resampling.

    Returns
    -------
    MemorizationFraction
    """
    x = getattr(samples, "x", samples)
    threshold = in_range("threshold", threshold, 0.0, 1.0, closed=(False, True))
    n_bootstrap = integer("n_bootstrap", n_bootstrap, 0)
    train = _rows("train", train)
    if train.shape[0] < 2:
        raise ValueError(f"train must hold at least 2 points (the criterion needs a second neighbour), got {train.shape[0]}")
    dist, idx = nearest_neighbors(x, train, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(dist[:, 1] > 0, dist[:, 0] / dist[:, 1], np.where(dist[:, 0] > 0, np.inf, 0.0))
    copied = ratios < threshold
    N = copied.size
    f = float(copied.mean())
    if n_bootstrap:
        # resampling the N indicators with replacement: the number of copies in a resample is Binomial(N, f)
        boot = np.random.default_rng(integer("seed", seed, 0)).binomial(N, f, size=n_bootstrap) / N
        stderr = float(boot.std(ddof=1)) if n_bootstrap > 1 else float("nan")
        interval = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    else:
        stderr, interval = float("nan"), (float("nan"), float("nan"))
    return MemorizationFraction(value=f, stderr=stderr, interval=interval,
                                binomial_stderr=float(np.sqrt(f * (1 - f) / N)), ratios=ratios, nearest=idx[:, 0],
                                threshold=threshold, n_samples=N, n_bootstrap=n_bootstrap)


def gaussian_kl(P, Q) -> float:
    """``KL(N(0, P) ‖ N(0, Q)) = ½ [Tr(Q^{-1} P) − d − log det(Q^{-1} P)]`` (Cholesky; P, Q symmetric positive definite)."""
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    Q = np.atleast_2d(np.asarray(Q, dtype=np.float64))
    if P.ndim == 2 and P.shape[0] == 1 and P.shape[1] > 1:
        P, Q = np.diag(P[0]), np.diag(np.atleast_2d(Q)[0])
    d = P.shape[0]
    Lq = np.linalg.cholesky(Q)
    Lp = np.linalg.cholesky(P)
    M = np.linalg.solve(Lq, Lp)            # Q^{-1} P = Lq^{-T} M M^T Lq^T
    return float(0.5 * (np.einsum("ij,ij->", M, M) - d
                        - 2.0 * (np.log(np.diag(Lp)).sum() - np.log(np.diag(Lq)).sum())))


@dataclass(frozen=True, kw_only=True)
class CovarianceReport(Result):
    """The covariance of generated samples next to the population and the training set.

    Attributes
    ----------
    covariance : ndarray, shape (d, d)
        Sample covariance of the generated points (mean removed, ddof = 1).
    mean : ndarray, shape (d,)
    eigenvalues, population_eigenvalues, empirical_eigenvalues : ndarray
        Ascending spectra of the generated, population and training-set (ddof = 1) covariances.
    trace : float
        ``Tr C/d`` of the generated covariance (population: ``Tr Σ/d``; ``population_trace``, ``empirical_trace``).
    rel_error_population, rel_error_empirical : float
        ``‖C − Σ‖_F/‖Σ‖_F`` and the same against the training-set covariance.
    kl_population : float
        ``KL(N(0, Σ) ‖ N(0, C))/d`` between Gaussian fits (NaN if C is singular).
    escaped : float
        Fraction of samples with ``‖x‖² > ESCAPE · Tr Σ`` (a score that stays bounded far from the data, e.g.
        tanh features, cannot pull such a sample back, and a few of them dominate C).
    trace_kept, kl_population_kept : float
        ``Tr C/d`` and the Gaussian-fit KL of the samples that did not escape.
    n_samples : int
    """

    covariance: np.ndarray
    mean: np.ndarray
    eigenvalues: np.ndarray
    population_eigenvalues: np.ndarray
    empirical_eigenvalues: np.ndarray
    trace: float
    population_trace: float
    empirical_trace: float
    rel_error_population: float
    rel_error_empirical: float
    kl_population: float
    escaped: float
    trace_kept: float
    kl_population_kept: float
    n_samples: int

    def to_dict(self) -> dict:
        return {"trace": self.trace, "population_trace": self.population_trace, "empirical_trace": self.empirical_trace,
                "rel_error_population": self.rel_error_population, "rel_error_empirical": self.rel_error_empirical,
                "kl_population_per_dim": self.kl_population, "escaped": self.escaped, "trace_kept": self.trace_kept,
                "kl_population_kept_per_dim": self.kl_population_kept, "eigenvalues": self.eigenvalues.tolist(),
                "population_eigenvalues": self.population_eigenvalues.tolist(),
                "empirical_eigenvalues": self.empirical_eigenvalues.tolist(), "n_samples": self.n_samples,
                "diagnostics": {"status": self.status, "message": self.message}}


def covariance_report(samples, population, train) -> CovarianceReport:
    """Generated covariance against the population covariance Σ and the training-set covariance.

    Parameters
    ----------
    samples : array_like, shape (N, d), or Samples
    population : array_like, shape (d, d) or (d,)
        Σ (a vector is its diagonal).
    train : array_like, shape (n, d)
    """
    x = _rows("samples", getattr(samples, "x", samples))
    d = x.shape[1]
    if x.shape[0] < 2:
        raise ValueError("samples must hold at least 2 points for a covariance")
    S = np.asarray(population, dtype=np.float64)
    S = np.diag(S) if S.ndim == 1 else S
    if S.shape != (d, d):
        raise ValueError(f"population must be ({d}, {d}) or ({d},), got {S.shape}")
    train = _rows("train", train, d)
    C = np.cov(x, rowvar=False).reshape(d, d)
    E = np.cov(train, rowvar=False).reshape(d, d) if train.shape[0] > 1 else np.full((d, d), np.nan)
    kl = _kl_or_nan(S, C, d)
    kept = np.einsum("ij,ij->i", x, x) <= ESCAPE * np.trace(S)
    Ck = np.cov(x[kept], rowvar=False).reshape(d, d) if kept.sum() > 1 else np.full((d, d), np.nan)
    ev = np.linalg.eigvalsh(C)
    return CovarianceReport(covariance=C, mean=x.mean(axis=0), eigenvalues=ev, population_eigenvalues=np.linalg.eigvalsh(S),
                            empirical_eigenvalues=np.linalg.eigvalsh(E) if np.all(np.isfinite(E)) else np.full(d, np.nan),
                            trace=float(np.trace(C) / d), population_trace=float(np.trace(S) / d),
                            empirical_trace=float(np.trace(E) / d),
                            rel_error_population=float(np.linalg.norm(C - S) / np.linalg.norm(S)),
                            rel_error_empirical=float(np.linalg.norm(C - E) / np.linalg.norm(E)),
                            kl_population=kl, escaped=float(1.0 - kept.mean()), trace_kept=float(np.trace(Ck) / d),
                            kl_population_kept=_kl_or_nan(S, Ck, d), n_samples=x.shape[0])


def _kl_or_nan(S, C, d):
    if not np.all(np.isfinite(C)):
        return float("nan")
    try:
        return gaussian_kl(S, C) / d
    except np.linalg.LinAlgError:
        return float("nan")


def class_proportions(samples, class_score) -> np.ndarray:
    """Share of the samples assigned to each class of a mixture (by the largest posterior weight).

    Parameters
    ----------
    samples : array_like, shape (N, d), or Samples
    class_score : MixtureScore
        The exact score of the mixture (:meth:`rfdiff.generate.ScoreFamily.exact_score`); its components are
        the classes and the posterior is taken at its smallest time ``t_1`` (≈ the data law).

    Returns
    -------
    ndarray, shape (C,)
    """
    x = _rows("samples", getattr(samples, "x", samples), class_score.d)
    w = class_score.posterior(0, x)
    return np.bincount(np.argmax(w, axis=1), minlength=w.shape[1]) / x.shape[0]
