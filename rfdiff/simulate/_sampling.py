"""The one sampling convention shared by every finite-size simulator of rfdiff.

A seed fixes the frozen features W and the training data X, drawn in this order from
``numpy.random.default_rng(seed)``:

    W = rng.standard_normal((p, d))
    X = sqrt(σ)[:, None] * rng.standard_normal((d, n)),       σ = model.data.eigenvalues(d)

with ``p = round(ψ_p d)`` and ``n = round(ψ_n d)`` (at least 1). Gaussian-mixture data
(:class:`rfdiff.GaussianMixture`, docs/theory.md §12): the n columns are in class blocks of exactly
``round(π_c n)`` points (largest remainder), class c's block is ``sqrt(σ_c) ⊙ Z`` with
``σ_c = model.data.class_eigenvalues(d)[c]`` (one draw of Z for all columns, as above), and, when the law has
centroids, one unit direction ``u`` (``rng.standard_normal(d)`` normalised, drawn after Z) gives
``μ_c = means[c]·u``, added to class c's columns. Σ is taken diagonal: the law of W is
rotation invariant, so this loses no generality. Training noise, when a simulator needs it, comes from
:func:`noise_rng`, an independent stream derived from the same seed.
"""
from __future__ import annotations

import numpy as np

__all__ = ["problem_sizes", "sample_problem", "sample_mixture_problem", "noise_rng"]


def problem_sizes(model, d: int) -> tuple[int, int]:
    """Width and sample size ``(p, n) = (round(ψ_p d), round(ψ_n d))``, each at least 1.

    Raises
    ------
    ValueError
        If ``d`` is not an integer ≥ 1.
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be an integer >= 1, got {d!r}")
    return max(1, int(round(model.psi_p * d))), max(1, int(round(model.psi_n * d)))


def sample_problem(model, d: int, seed=0, *, feature_seed=None) -> tuple[np.ndarray, np.ndarray]:
    """Sample the frozen features and the training data of ``model`` at dimension ``d``.

    Parameters
    ----------
    model : RFModel
    d : int
        Data dimension (≥ 1).
    seed : int, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``; a Generator is advanced in place.
    feature_seed : int, SeedSequence or None
        If given, W comes from ``default_rng(feature_seed)``; X is unchanged (module docstring).

    Returns
    -------
    W : ndarray, shape (p, d)
        i.i.d. N(0, 1) features.
    X : ndarray, shape (d, n)
        Training points as columns, ``x_ν ~ N(0, Σ)`` with Σ = diag(model.data.eigenvalues(d)).

    Examples
    --------
    >>> import rfdiff as rd
    >>> W, X = sample_problem(rd.RFModel(psi_p=2, psi_n=0.5, t=0.1), d=10, seed=3)
    >>> W.shape, X.shape
    ((20, 10), (10, 5))
    """
    if hasattr(model.data, "class_eigenvalues"):
        return sample_mixture_problem(model, d, seed, feature_seed=feature_seed)[:2]
    p, n = problem_sizes(model, d)
    sigma = np.asarray(model.data.eigenvalues(d), dtype=np.float64)
    if sigma.shape != (d,):
        raise ValueError(f"model.data.eigenvalues({d}) must return {d} values, got shape {sigma.shape}")
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((p, d))
    X = np.sqrt(sigma)[:, None] * rng.standard_normal((d, n))
    return _features(W, feature_seed), X


def _features(W, feature_seed):
    """``W`` itself, or an independent draw of its shape from ``default_rng(feature_seed)``."""
    if feature_seed is None:
        return W
    return np.random.default_rng(feature_seed).standard_normal(W.shape)


def sample_mixture_problem(model, d: int, seed=0, *, feature_seed=None):
    """W, X, class labels and centroids of a model on Gaussian-mixture data (module docstring).

    Returns
    -------
    W : ndarray, shape (p, d)
    X : ndarray, shape (d, n)
        Class blocks: ``x_ν = μ_c + Σ_c^{1/2} z_ν`` for ν in class c.
    labels : int ndarray, shape (n,)
        Class of each column (non-decreasing).
    centroids : ndarray, shape (d, C)
        ``μ_c`` as columns (zeros without centroids).
    """
    data = model.data
    p, n = problem_sizes(model, d)
    sigma = np.asarray(data.class_eigenvalues(d), dtype=np.float64)
    labels = np.repeat(np.arange(data.n_classes), data.class_counts(n))
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((p, d))
    X = np.sqrt(sigma[labels].T) * rng.standard_normal((d, n))
    centroids = np.zeros((d, data.n_classes))
    if data.means is not None:
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        centroids = u[:, None] * np.asarray(data.means)[None, :]
        X += centroids[:, labels]
    return _features(W, feature_seed), X, labels, centroids


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
