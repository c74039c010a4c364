"""rfdiff: exact generalization and memorization dynamics of random-features diffusion score models.

The data flow is model → Gaussian-equivalence constants → structure → spectrum of U → learning curves →
timescales → phase diagrams; finite-size simulators live in :mod:`rfdiff.simulate`.

Public names are imported lazily (PEP 562): ``import rfdiff`` is cheap and does not load numba or
the solvers; ``rfdiff.spectrum`` etc. import their module on first access. :data:`_PUBLIC` is the one
public list: ``__all__`` and ``dir(rfdiff)`` are read off it.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Every public name → the module (relative to this package) that defines it.
_PUBLIC = {
    # the model and its data
    "RFModel": ".model", "Activation": ".activations", "get_activation": ".activations",
    "DataLaw": ".data", "Isotropic": ".data", "DiscreteSpectrum": ".data", "MarchenkoPastur": ".data",
    "GaussianMixture": ".data", "law_from_spec": ".data",
    # real data (docs/theory.md §14)
    "DataMatrix": ".data", "data_matrix": ".data", "load_matrix": ".data", "law_from_data": ".data",
    "load_dataset": ".data",
    # Gaussian-equivalence constants and structure
    "GECoefficients": ".constants", "ge_coefficients": ".constants", "class_coefficients": ".constants",
    "Structure": ".structure",
    # results
    "Result": ".results", "LossCurves": ".results", "SolverError": ".results", "ConvergenceWarning": ".results",
    # spectrum of U
    "Stieltjes": ".spectral", "stieltjes": ".spectral", "Support": ".spectral", "support": ".spectral",
    "Spectrum": ".spectral", "spectrum": ".spectral", "spectral_grid": ".spectral",
    # learning curves
    "two_point": ".twopoint", "LearningDynamics": ".dynamics", "ClassDynamics": ".dynamics",
    "LossDecomposition": ".dynamics", "loss_curves": ".dynamics",
    "tau_from_steps": ".units", "steps_from_tau": ".units", "tau_from_seed_epoch_lr": ".units",
    "seed_epoch_lr_from_tau": ".units",
    # timescales
    "TimescaleOptions": ".timing", "Timescales": ".timing", "BulkTimescales": ".timing",
    "ScalingExponents": ".timing", "timescales": ".timing", "timescales_from_curve": ".timing",
    "class_timescales": ".timing", "scaling_exponents": ".timing", "memorization_ratio": ".timing",
    "critical_weight_decay": ".timing",
    # phase diagrams and sweeps
    "PhaseDiagram": ".phase", "phase_diagram": ".phase", "Execution": ".sweep",
    # generation with a score family (docs/theory.md §13): samples, their measures, the KL bound
    "ScoreFamily": ".generate", "score_family": ".generate", "default_times": ".generate",
    "Samples": ".generate", "sample": ".generate", "exact_score": ".generate", "empirical_score": ".generate",
    "MemorizationFraction": ".generate", "memorization_fraction": ".generate", "nearest_neighbors": ".generate",
    "CovarianceReport": ".generate", "covariance_report": ".generate", "gaussian_kl": ".generate",
    "class_proportions": ".generate", "LinearLaw": ".generate", "linear_covariance": ".generate",
    "KLBound": ".girsanov", "kl_bound": ".girsanov",
}
#: Subpackages reachable as attributes.
_SUBMODULES = ("simulate", "generate")

__all__ = [*_PUBLIC, *_SUBMODULES]


def __getattr__(name: str):
    """Import the module defining ``name`` on first access and cache the attribute (PEP 562)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
