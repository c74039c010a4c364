"""Data laws: the limiting eigenvalue distribution of the data covariance Σ (docs/theory.md §1, §12).

* :mod:`rfdiff.data.laws` — the laws (isotropic, discrete spectra, Marchenko–Pastur, Gaussian mixtures);
* :mod:`rfdiff.data.spec` — a law from its description (a dict, a file, a ``--data`` text).
"""
from .laws import DataLaw, DiscreteSpectrum, GaussianMixture, Isotropic, MarchenkoPastur
from .spec import law_from_spec, law_from_text, parse_data_spec

__all__ = ["DataLaw", "Isotropic", "DiscreteSpectrum", "MarchenkoPastur", "GaussianMixture", "law_from_spec",
           "law_from_text", "parse_data_spec"]
