"""rfdiff: exact generalization and memorization dynamics of random-features diffusion score models.

The data flow is model → Gaussian-equivalence constants → spectrum of U → learning curves →
timescales → phase diagrams; finite-size simulators live in :mod:`rfdiff.simulate`.
"""
from .activations import Activation, get_activation
from .constants import GECoefficients, ge_coefficients
from .data import DataLaw, DiscreteSpectrum, Isotropic, MarchenkoPastur
from .model import RFModel
from .spectral import SolverError, Spectrum, Stieltjes, Support, spectral_grid, spectrum, stieltjes, support
from .curves import (LearningDynamics, LossCurves, LossDecomposition, loss_curves, seed_epoch_lr_from_tau,
                     steps_from_tau, tau_from_seed_epoch_lr, tau_from_steps, two_point)
from .timing import (BulkTimescales, ScalingExponents, Timescales, scaling_exponents, timescales,
                         timescales_from_curve)
from .phase import PhaseDiagram, phase_diagram
from . import simulate

__version__ = "0.1.0"

__all__ = ["Activation", "get_activation", "GECoefficients", "ge_coefficients", "DataLaw",
           "DiscreteSpectrum", "Isotropic", "MarchenkoPastur", "RFModel", "SolverError", "Spectrum",
           "Stieltjes", "Support", "spectral_grid", "spectrum", "stieltjes", "support", "LearningDynamics",
           "LossCurves", "LossDecomposition", "loss_curves", "two_point", "tau_from_steps", "steps_from_tau",
           "tau_from_seed_epoch_lr", "seed_epoch_lr_from_tau", "Timescales", "BulkTimescales",
           "ScalingExponents", "timescales", "scaling_exponents", "timescales_from_curve", "PhaseDiagram",
           "phase_diagram", "simulate"]
