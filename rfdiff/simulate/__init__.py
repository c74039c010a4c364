"""Finite-size simulators of the random-features score model.

Simulators never import the theory modules (``rfdiff.spectral``, ``rfdiff.curves``); tests compare the two.
"""
from ._sampling import noise_rng, problem_sizes, sample_problem
from .gaussian import GaussianEquivalent, SimCurves, gaussian_equivalent
from .features import RandomFeatures, random_features
from .training import TrainResult, default_dtau, frozen_noise, train

__all__ = ["GaussianEquivalent", "SimCurves", "gaussian_equivalent", "RandomFeatures", "random_features",
           "TrainResult", "train", "default_dtau", "frozen_noise", "sample_problem", "problem_sizes",
           "noise_rng"]
