"""The one sampling convention shared by every finite-size simulator of rfdiff.

A seed fixes the frozen features W and the training data X, drawn in this order from
``numpy.random.default_rng(seed)``:

    W = rng.standard_normal((p, d))
    X = sqrt(σ_c)[:, None] ⊙ rng.standard_normal((d, n))       (column ν of class c)

with ``p = round(ψ_p d)`` and ``n = round(ψ_n d)``, each within :data:`SIZE_RTOL` of ``ψ d`` (else the
simulation would be of another model, and ``d`` is refused). Every data law is a mixture of classes
(a single Gaussian is one class, :class:`rfdiff.DataLaw`; docs/theory.md §12): the n columns are in class
blocks of exactly ``round(π_c n)`` points (largest remainder), ``σ_c = model.data.class_eigenvalues(d)[c]``,
and, when the law has centroids, one unit direction ``u`` (``rng.standard_normal(d)`` normalised, drawn after
Z) gives ``μ_c = means[c]·u``, added to class c's columns. Σ is taken diagonal: the law of W is
rotation invariant, so this loses no generality. Training noise, when a simulator needs it, comes from
:func:`noise_rng`, an independent stream derived from the same seed.

``feature_seed`` (optional) draws W from ``default_rng(feature_seed)`` instead, after the parent stream has
drawn (and discarded) its own W, so X, the class labels and the centroid direction are exactly those of
``seed`` alone: the same training points with other features (a score family with one W per diffusion time,
docs/theory.md §13).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["INDICATIVE_D", "SIZE_RTOL", "FiniteSize", "Problem", "problem_sizes", "draw_problem", "draw_features",
           "sample_problem", "noise_rng"]

#: Largest relative difference between a simulated size and its target, ``|round(ψ d) − ψ d| ≤ SIZE_RTOL ψ d``
#: for p and n. Beyond it the simulation is of another model (ψ_p = 0.001 at d = 60 would simulate p = 1, that
#: is ψ_p = 0.017), and :func:`problem_sizes` refuses ``d``. Any ``ψ d ≥ 10`` passes.
SIZE_RTOL = 0.05
#: Simulations at ``d`` below this are labelled *indicative* in figures and command-line output
#: (:attr:`FiniteSize.indicative`): finite-size corrections are O(1/d) with model-dependent constants, e.g.
#: the end of training of the true features at ψ_p = 64, ψ_n = 8, t = 0.01 is L_test(∞) = 20.4 at d = 18 and
#: 23.3 at d = 46 against 25.5 for d → ∞.
INDICATIVE_D = 40


@dataclass(frozen=True)
class FiniteSize:
    """The sizes of one finite-size simulation: dimension ``d``, width ``p`` and sample size ``n``.

    Attributes
    ----------
    d, p, n : int
    psi_p, psi_n : float
        The ratios the simulation realises, ``p/d`` and ``n/d`` (within :data:`SIZE_RTOL` of the model's).
    indicative : bool
        ``d < INDICATIVE_D``: too small for its deviations from the theory to be read as more than a trend.
    """

    d: int
    p: int
    n: int

    @property
    def psi_p(self) -> float:
        return self.p / self.d

    @property
    def psi_n(self) -> float:
        return self.n / self.d

    @property
    def indicative(self) -> bool:
        return self.d < INDICATIVE_D

    def describe(self, model=None) -> str:
        """``"d = 40, p = 320, n = 80"``, followed by the realised ``p/d``, ``n/d`` where they differ from
        ``model``'s ψ_p, ψ_n (rounding), and by ``"indicative only"`` when :attr:`indicative`."""
        text = f"d = {self.d}, p = {self.p}, n = {self.n}"
        if model is not None:
            ratios = [f"{name} = {value:.4g}" for name, value, target in
                      (("p/d", self.psi_p, model.psi_p), ("n/d", self.psi_n, model.psi_n))
                      if not math.isclose(value, target, rel_tol=1e-9)]
            text += f" ({', '.join(ratios)})" if ratios else ""
        return text + (f"; indicative only (d < {INDICATIVE_D})" if self.indicative else "")


def problem_sizes(model, d: int) -> tuple[int, int]:
    """Width and sample size ``(p, n) = (round(ψ_p d), round(ψ_n d))``.

    Raises
    ------
    ValueError
        If ``d`` is not an integer ≥ 1, or if p or n is further than :data:`SIZE_RTOL` (relative) from
        ``ψ_p d`` or ``ψ_n d`` (the message names a dimension that works).
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    sizes = []
    for name, psi in (("p", model.psi_p), ("n", model.psi_n)):
        target = psi * int(d)
        size = int(round(target))
        if abs(size - target) > SIZE_RTOL * target:
            need = max(math.ceil(0.5 / (SIZE_RTOL * v)) for v in (model.psi_p, model.psi_n))
            raise ValueError(f"d = {d} would simulate {name} = {size} for psi_{name}·d = {target:.4g} "
                             f"({name}/d = {size / d:.4g} instead of psi_{name} = {psi:.4g}, more than "
                             f"{SIZE_RTOL:.0%} off): the simulation would be of another model; any d >= {need} works")
        sizes.append(size)
    return sizes[0], sizes[1]


class Problem(NamedTuple):
    """The frozen features and the training data of one finite model (module docstring)."""

    #: ``(p, d)`` i.i.d. N(0, 1) features.
    W: np.ndarray
    #: ``(d, n)`` training points as columns, in class blocks.
    X: np.ndarray
    #: ``(n,)`` class of each column (non-decreasing; all 0 for single-Gaussian data).
    labels: np.ndarray
    #: ``(d, C)`` centroids μ_c as columns (zeros without centroids).
    centroids: np.ndarray


def draw_problem(model, d: int, seed=0, *, feature_seed=None) -> Problem:
    """W, X, class labels and centroids of ``model`` at dimension ``d`` (module docstring).

    Every data law is a mixture of classes (a single Gaussian is one class of all n points), so one draw
    serves both: ``x_ν = μ_c + Σ_c^{1/2} z_ν`` for ν in class c.

    Parameters
    ----------
    model : RFModel
    d : int
        Data dimension (≥ 1).
    seed : int, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``; a Generator is advanced in place.
    feature_seed : int, SeedSequence or None
        If given, W comes from ``default_rng(feature_seed)``; X, labels and centroids are unchanged (module
        docstring).
    """
    data = model.data
    p, n = problem_sizes(model, d)
    sigma = np.asarray(data.class_eigenvalues(d), dtype=np.float64)
    if sigma.shape != (data.n_classes, d):
        raise ValueError(f"model.data must give {d} eigenvalues per class at d = {d}, got shape {sigma.shape}")
    labels = np.repeat(np.arange(data.n_classes), data.class_counts(n))
    rng = np.random.default_rng(seed)
    W = draw_features(p, d, rng)
    X = np.sqrt(sigma[labels].T) * rng.standard_normal((d, n))
    centroids = np.zeros((d, data.n_classes))
    if data.class_means is not None:
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        centroids = u[:, None] * np.asarray(data.class_means)[None, :]
        X += centroids[:, labels]
    if feature_seed is not None:
        W = draw_features(p, d, feature_seed)
    return Problem(W, X, labels, centroids)


def draw_features(p: int, d: int, seed) -> np.ndarray:
    """The frozen features ``W`` (p×d, i.i.d. N(0, 1)): the first draw of ``default_rng(seed)``, the convention of
    every simulator (module docstring; a Generator is advanced in place)."""
    return np.random.default_rng(seed).standard_normal((p, d))


def sample_problem(model, d: int, seed=0, *, feature_seed=None) -> tuple[np.ndarray, np.ndarray]:
    """The frozen features ``W`` (p×d) and the training data ``X`` (d×n, columns) of ``model`` at dimension
    ``d``: the first two fields of :func:`draw_problem`.

    Examples
    --------
    >>> import rfdiff as rd
    >>> W, X = sample_problem(rd.RFModel(psi_p=2, psi_n=0.5, t=0.1), d=10, seed=3)
    >>> W.shape, X.shape
    ((20, 10), (10, 5))
    """
    problem = draw_problem(model, d, seed, feature_seed=feature_seed)
    return problem.W, problem.X


def noise_rng(seed=0) -> np.random.Generator:
    """Generator of the training noise ξ belonging to ``seed``.

    For an integer (or None) seed this is an independent child stream,
    ``default_rng(SeedSequence(seed, spawn_key=(1,)))``, so the noise does not depend on how W and X
    were drawn; a Generator is returned as is (it continues after :func:`sample_problem` used it).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
