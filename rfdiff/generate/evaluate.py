"""Samples of a family at each of its τ, measured next to the two references (docs/theory.md §13).

:func:`evaluate` draws samples from ``family.at(τ)`` for every τ of the family and from the exact and empirical
scores on the same grid, and measures each set the same way (f_mem with its bootstrap error, distances to the
nearest training point, the covariance report, class proportions for a mixture), with fresh data points as the
held-out baseline. The command line (``rfdiff generate``) and the figures (``rfdiff reproduce --only samples``)
both use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import integer
from ..results import Result, worst_status
from .measures import (
    DEFAULT_THRESHOLD,
    class_proportions,
    covariance_report,
    memorization_fraction,
    nearest_neighbors,
)
from .sampler import sample

__all__ = ["Measured", "Evaluation", "evaluate", "measure"]


@dataclass(frozen=True, kw_only=True)
class Measured:
    """One set of points and its measures.

    Attributes
    ----------
    label : str
        ``"tau=…"``, ``"exact"``, ``"empirical"`` or ``"held-out"``.
    x : ndarray, shape (N, d)
    f_mem : MemorizationFraction
    nn_distance : ndarray, shape (N,)
        Distance of every point to its nearest training point.
    covariance : CovarianceReport
    class_proportions : ndarray or None
        Mixture data: share of the points claimed by each class.
    status, message : str
        Of the sampling (``"ok"`` for data points).
    """

    label: str
    x: np.ndarray = field(repr=False)
    f_mem: object
    nn_distance: np.ndarray = field(repr=False)
    covariance: object = field(repr=False)
    class_proportions: object = None
    status: str = "ok"
    message: str = ""

    def summary(self) -> dict:
        out = {"label": self.label, **self.f_mem.to_dict(),
               "nn_distance_median": float(np.median(self.nn_distance)),
               "nn_distance_quartiles": np.percentile(self.nn_distance, [25, 75]).tolist(),
               "covariance": self.covariance.to_dict(), "status": self.status, "message": self.message}
        if self.class_proportions is not None:
            out["class_proportions"] = self.class_proportions.tolist()
        return out


@dataclass(frozen=True, kw_only=True)
class Evaluation(Result):
    """Measures of a family's samples at each τ and of the references.

    Attributes
    ----------
    taus : ndarray
    at_tau : list of Measured
        One per τ of the family.
    references : dict of str to Measured
        ``"exact"``, ``"empirical"`` (samples of the reference scores) and ``"held-out"`` (fresh data points).
    settings : dict
        n_samples, method, integrator, seed, threshold.
    """

    taus: np.ndarray
    at_tau: list
    references: dict
    settings: dict

    def to_dict(self) -> dict:
        return {"taus": self.taus.tolist(), "settings": self.settings,
                "at_tau": [m.summary() for m in self.at_tau],
                "references": {k: m.summary() for k, m in self.references.items()},
                "diagnostics": {"status": self.status, "message": self.message}}


def measure(label, x, family, *, threshold=DEFAULT_THRESHOLD, seed=0, status="ok", message="") -> Measured:
    """The measures of points ``x`` against ``family``'s training set and data law."""
    x = getattr(x, "x", x)
    f = memorization_fraction(x, family.train_points, threshold=threshold, seed=seed)
    nn = nearest_neighbors(x, family.train_points, 1)[0][:, 0]
    cov = covariance_report(x, family.population_covariance(), family.train_points)
    props = class_proportions(x, family.exact_score()) if family.mixture else None
    return Measured(label=label, x=x, f_mem=f, nn_distance=nn, covariance=cov, class_proportions=props,
                    status=status, message=message)


def evaluate(family, n_samples, *, method="sde", integrator="2m", seed=0, threshold=DEFAULT_THRESHOLD,
             references=True, progress=None) -> Evaluation:
    """Sample the family at each of its τ (and the references) and measure every set (module docstring).

    Parameters
    ----------
    family : ScoreFamily
    n_samples : int
        Samples per τ (and per reference; the held-out set has as many fresh data points).
    method, integrator, seed, progress
        Of :func:`rfdiff.generate.sample`; every set uses the same ``seed`` (hence the same start points and noises).
    threshold : float
        Copy threshold of :func:`rfdiff.generate.memorization_fraction`.
    references : bool
        Also sample the exact and the empirical scores and draw the held-out points.
    """
    n_samples = integer("n_samples", n_samples, 1)
    kw = dict(threshold=threshold, seed=seed)
    at_tau = []
    for tau in family.taus:
        s = sample(family.at(tau), n_samples, method=method, integrator=integrator, seed=seed, progress=progress)
        at_tau.append(measure(f"tau={tau:g}", s, family, status=s.status, message=s.message, **kw))
    refs = {}
    if references:
        for name, sc in (("exact", family.exact_score()), ("empirical", family.empirical_score())):
            s = sample(sc, n_samples, method=method, integrator=integrator, seed=seed, progress=progress)
            refs[name] = measure(name, s, family, status=s.status, message=s.message, **kw)
        refs["held-out"] = measure("held-out", family.holdout(n_samples), family, **kw)
    parts = at_tau + list(refs.values())
    status = worst_status(family.status if family.status == "failed" else "ok", *(m.status for m in parts))
    message = "; ".join(m.message for m in parts if m.message)
    return Evaluation(taus=family.taus.copy(), at_tau=at_tau, references=refs,
                      settings={"n_samples": n_samples, "method": method, "integrator": integrator, "seed": seed,
                                "threshold": threshold}, status=status, message=message)
