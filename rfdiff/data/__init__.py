"""Data laws: the limiting eigenvalue distribution of the data covariance Σ (docs/theory.md §1, §12).

* :mod:`rfdiff.data.laws` — the laws (isotropic, discrete spectra, Marchenko–Pastur, Gaussian mixtures);
* :mod:`rfdiff.data.spec` — a law from its description (a dict, a file, a ``--data`` text);
* :mod:`rfdiff.data.empirical` — a law from a data matrix (centring, one scale, the sample spectrum; §14);
* :mod:`rfdiff.data.datasets` — real datasets bundled with well-kept packages (``digits``, ``patches``).
"""
from .laws import DataLaw, DiscreteSpectrum, GaussianMixture, Isotropic, MarchenkoPastur
from .spec import law_from_spec, law_from_text, parse_data_spec
from .empirical import (DataMatrix, Normalization, PoorEstimateWarning, Split, data_matrix, law_from_data,
                        load_matrix, read_matrix)
from .datasets import DATASETS, load_dataset

__all__ = ["DataLaw", "Isotropic", "DiscreteSpectrum", "MarchenkoPastur", "GaussianMixture", "law_from_spec",
           "law_from_text", "parse_data_spec", "DataMatrix", "Normalization", "PoorEstimateWarning", "Split",
           "data_matrix", "law_from_data", "load_matrix", "read_matrix", "DATASETS", "load_dataset"]
