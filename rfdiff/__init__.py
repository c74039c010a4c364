"""rfdiff: exact generalization and memorization dynamics of random-features diffusion score models.

The data flow is model → Gaussian-equivalence constants → spectrum of U → learning curves →
timescales → phase diagrams; finite-size simulators live in :mod:`rfdiff.simulate`.

Public names are imported lazily (PEP 562): ``import rfdiff`` is cheap and does not load numba or
the solvers; ``rfdiff.spectrum`` etc. import their module on first access.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name → module (relative to this package) that defines it.
_LAZY = {
    "Activation": ".activations", "get_activation": ".activations",
    "GECoefficients": ".constants", "ge_coefficients": ".constants",
    "DataLaw": ".data", "DiscreteSpectrum": ".data", "Isotropic": ".data", "MarchenkoPastur": ".data",
    "GaussianMixture": ".data", "DataMatrix": ".data", "data_matrix": ".data", "load_matrix": ".data",
    "law_from_data": ".data", "load_dataset": ".data",
    "RFModel": ".model",
    "SolverError": ".results", "Spectrum": ".spectral", "Stieltjes": ".spectral", "Support": ".spectral",
    "spectral_grid": ".spectral", "spectrum": ".spectral", "stieltjes": ".spectral", "support": ".spectral",
    "LearningDynamics": ".curves", "LossCurves": ".curves", "LossDecomposition": ".curves",
    "loss_curves": ".curves", "seed_epoch_lr_from_tau": ".curves", "steps_from_tau": ".curves",
    "tau_from_seed_epoch_lr": ".curves", "tau_from_steps": ".curves", "two_point": ".curves",
    "BulkTimescales": ".timing", "ScalingExponents": ".timing", "Timescales": ".timing",
    "scaling_exponents": ".timing", "timescales": ".timing", "timescales_from_curve": ".timing",
    "TimescaleOptions": ".timing", "critical_weight_decay": ".timing", "memorization_ratio": ".timing",
    "PhaseDiagram": ".phase", "phase_diagram": ".phase",
}
#: Subpackages reachable as attributes.
_SUBMODULES = ("simulate",)

__all__ = ["Activation", "get_activation", "GECoefficients", "ge_coefficients", "DataLaw",
           "DiscreteSpectrum", "Isotropic", "MarchenkoPastur", "DataMatrix", "data_matrix", "load_matrix",
           "law_from_data", "load_dataset", "RFModel", "SolverError", "Spectrum",
           "Stieltjes", "Support", "spectral_grid", "spectrum", "stieltjes", "support", "LearningDynamics",
           "LossCurves", "LossDecomposition", "loss_curves", "two_point", "tau_from_steps", "steps_from_tau",
           "tau_from_seed_epoch_lr", "seed_epoch_lr_from_tau", "Timescales", "BulkTimescales",
           "ScalingExponents", "timescales", "scaling_exponents", "timescales_from_curve", "TimescaleOptions",
           "critical_weight_decay", "memorization_ratio", "PhaseDiagram", "phase_diagram", "simulate"]


def __getattr__(name: str):
    """Import the module defining ``name`` on first access and cache the attribute (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
