"""Finite-size simulators of the random-features score model.

Simulators never import the theory modules (``rfdiff.spectral``, ``rfdiff.dynamics``,
``rfdiff.timing``, ``rfdiff.phase``); tests compare the two. Every simulator returns the same
:class:`rfdiff.LossCurves` as the theory, from one closed-form flow engine (:class:`ClosedFormFlow`).
"""
from ._sampling import (INDICATIVE_D, SIZE_RTOL, FiniteSize, Problem, draw_features, draw_problem, noise_rng,
                        problem_sizes, sample_problem)
from ._flow import ClosedFormFlow
from .gaussian import GaussianEquivalent, gaussian_equivalent
from .features import RandomFeatures, random_features
from .realdata import RealFeatures, real_features
from .training import TrainingRun, TrainResult, default_dtau, frozen_noise, train

__all__ = ["ClosedFormFlow", "GaussianEquivalent", "gaussian_equivalent", "RandomFeatures", "random_features",
           "RealFeatures", "real_features",
           "TrainResult", "TrainingRun", "train", "default_dtau", "frozen_noise", "sample_problem", "draw_problem",
           "draw_features",
           "Problem", "problem_sizes", "noise_rng", "FiniteSize", "SIZE_RTOL", "INDICATIVE_D"]
