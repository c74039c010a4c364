"""Finite-size simulators of the random-features score model.

Simulators never import the theory modules (``rfdiff.spectrum``, ``rfdiff.curves``); tests compare the two.
"""
from .gaussian_equivalent import GaussianEquivalent, SimCurves, gaussian_equivalent

__all__ = ["GaussianEquivalent", "SimCurves", "gaussian_equivalent"]
