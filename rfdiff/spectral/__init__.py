"""Spectrum of the feature covariance U: the one-point deterministic equivalent (docs/theory.md §4, §10).

* :mod:`rfdiff.spectral.kernels` — the compiled solver (Newton, continuation, branch test) and its constants;
* :mod:`rfdiff.spectral.onepoint` — the fixed point on a built :class:`~rfdiff.structure.Structure`
  (:func:`stieltjes` for a model, :func:`solve` for a structure at exact offsets, the :class:`Stieltjes`
  result);
* :mod:`rfdiff.spectral.bulks` — the support: bulks, edges, masses, atoms (:func:`support`);
* :mod:`rfdiff.spectral.density` — the density on a grid (:func:`spectrum`, :func:`spectral_grid`).

Results say how they were obtained: :class:`Stieltjes` has a status and an iteration count per point,
:class:`Spectrum` and :class:`Support` a status, a message and their diagnostics
(:class:`rfdiff.results.Result`).
"""
from ..results import SolverError
from .kernels import STATUS_EXACT, STATUS_FAILED, STATUS_FALLBACK
from .bulks import Support, support
from .density import Spectrum, spectral_grid, spectrum
from .onepoint import Stieltjes, atom_mass, solve, spectral_bound, stieltjes

__all__ = ["Stieltjes", "Spectrum", "Support", "SolverError", "stieltjes", "spectrum", "support", "spectral_grid",
           "spectral_bound", "atom_mass", "solve", "STATUS_EXACT", "STATUS_FALLBACK", "STATUS_FAILED"]
