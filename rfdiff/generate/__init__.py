"""Generation with a score family: samples, their memorization, and the exact references (docs/theory.md §13).

* :func:`score_family` — a random-features score per diffusion time, from the simulators' closed-form flow;
* :func:`sample` — reverse SDE / probability-flow ODE with an exponential-integrator step;
* :func:`exact_score`, :func:`empirical_score` — the "perfect generalization" and "perfect memorization"
  baselines;
* :func:`memorization_fraction`, :func:`nearest_neighbors`, :func:`covariance_report`, :func:`gaussian_kl`,
  :func:`class_proportions` — measures of the samples;
* :func:`evaluate` — samples at each τ of a family and the references, measured alike;
* :func:`linear_covariance` — the exact generated covariance of a linear score (Lyapunov oracle).

The theory-side bound on KL(data ‖ generated) along training is :func:`rfdiff.kl_bound` (module `rfdiff.girsanov`).
"""
from .evaluate import Evaluation, Measured, evaluate
from .family import DEFAULT_TIMES, RFScore, ScoreFamily, default_times, score_family
from .linear import LinearLaw, linear_covariance
from .measures import (
    CovarianceReport,
    MemorizationFraction,
    class_proportions,
    covariance_report,
    gaussian_kl,
    memorization_fraction,
    nearest_neighbors,
)
from .sampler import Samples, sample
from .scores import MixtureScore, ScoreSchedule, empirical_score, exact_score

__all__ = ["Evaluation", "Measured", "evaluate", "DEFAULT_TIMES", "RFScore", "ScoreFamily", "default_times", "score_family", "LinearLaw",
           "linear_covariance", "CovarianceReport", "MemorizationFraction", "class_proportions", "covariance_report",
           "gaussian_kl", "memorization_fraction", "nearest_neighbors", "Samples", "sample", "MixtureScore",
           "ScoreSchedule", "empirical_score", "exact_score"]
