"""Score schedules: a score per diffusion time on a grid, the one thing the sampler needs (docs/theory.md §13).

A *score schedule* has ascending diffusion ``times`` t_1 < … < t_K, a dimension ``d`` and a method
``score(k, x)`` returning ``s_{t_k}(x)`` for a batch ``x`` of shape (N, d) (rows are points). The sampler
(:func:`rfdiff.generate.sample`) only calls that method. This module holds the base class and the two
reference schedules every experiment is compared with:

* the **exact score of the data law** — for Gaussian data ``s_t(x) = −Σ_t^{-1} x``; for a Gaussian mixture the
  score of ``Σ_c π_c N(e^{-t} μ_c, Σ_t,c)`` — "perfect generalization";
* the **empirical optimal score** — the score of the n training points convolved with the noise,
  ``s_t(x) = −(x − e^{-t} Σ_ν w_ν(x) x_ν)/Δ_t`` with ``w ∝ exp(−‖x − e^{-t} x_ν‖²/(2Δ_t))`` — "perfect
  memorization".

Both are the score of a mixture of Gaussians with diagonal covariances (the empirical one has n components
of zero variance), so one class, :class:`MixtureScore`, computes them, with the posterior weights in
log-sum-exp form and two BLAS products per call.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import diffusion_times, integer

__all__ = ["ScoreSchedule", "MixtureScore", "exact_score", "empirical_score", "delta"]


def delta(t):
    """``Δ_t = 1 − e^{−2t}`` (by ``expm1``, accurate at small t)."""
    return -np.expm1(-2.0 * np.asarray(t, dtype=np.float64))


class ScoreSchedule:
    """A score per diffusion time on a grid (base class; module docstring).

    Subclasses set ``times`` (ascending, shape (K,)) and ``d`` and implement :meth:`score`.
    :meth:`linear_map` returns B with ``s_{t_k}(x) = −B x`` when the score is linear in x (None otherwise),
    which the Lyapunov oracle (:func:`rfdiff.generate.linear_covariance`) uses.
    """

    times: np.ndarray
    d: int
    name: str = "score"

    def score(self, k: int, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def denoiser(self, k: int, x: np.ndarray) -> np.ndarray:
        """Tweedie's denoiser ``x̂_0 = e^{t}(x + Δ_t s_t(x))`` at ``t = times[k]`` (docs/theory.md §13)."""
        t = float(self.times[k])
        out = self.score(k, x)
        out *= float(delta(t))
        out += x
        out *= math.exp(t)
        return out

    def linear_map(self, k: int):
        """B with ``s_{t_k}(x) = −B x`` if the score is linear, else None."""
        return

    def describe(self) -> dict:
        """Plain description (for provenance)."""
        return {"score": self.name, "d": int(self.d), "times": self.times.tolist()}


class MixtureScore(ScoreSchedule):
    """Exact score of a Gaussian mixture with diagonal covariances, noised by the forward process.

    Parameters
    ----------
    times : array_like
        Diffusion times t_1 < … < t_K.
    weights : array_like, shape (C,)
        Proportions π_c (normalised here).
    means : array_like, shape (C, d)
        Component means μ_c.
    variances : array_like, shape (C, d)
        Diagonal covariances σ_c ≥ 0 (0 gives the empirical score of the points ``means``).
    name : str
        Label (``"exact"``, ``"empirical"``).

    Notes
    -----
    docs/theory.md §13. At time t, component c is ``N(e^{-t} μ_c, diag(v_c))`` with ``v_c = e^{-2t} σ_c + Δ_t``,
    and with posterior weights ``w_c(x) ∝ π_c N(x; e^{-t} μ_c, v_c)``

        s_t(x) = Σ_c w_c(x) (e^{-t} μ_c − x)/v_c = −x ⊙ (Σ_c w_c / v_c) + e^{-t} Σ_c w_c μ_c/v_c.

    The log-weights ``−½ Σ_j (x_j − e^{-t}μ_cj)²/v_cj − ½ Σ_j log v_cj + log π_c`` are two GEMMs
    (``x² @ (1/v)ᵀ`` and ``x @ (μ/v)ᵀ``), normalised by log-sum-exp.
    """

    def __init__(self, times, weights, means, variances, name="mixture"):
        self.times = diffusion_times(times)
        w = np.asarray(weights, dtype=np.float64).ravel()
        self.means = np.ascontiguousarray(np.atleast_2d(np.asarray(means, dtype=np.float64)))
        self.variances = np.ascontiguousarray(np.broadcast_to(np.asarray(variances, dtype=np.float64),
                                                              self.means.shape))
        if w.size != self.means.shape[0] or np.any(w <= 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be {self.means.shape[0]} positive numbers, got {weights!r}")
        if np.any(self.variances < 0) or not np.all(np.isfinite(self.variances)) \
                or not np.all(np.isfinite(self.means)):
            raise ValueError("means must be finite and variances finite and >= 0")
        self.log_weights = np.log(w / w.sum())
        self.d = self.means.shape[1]
        self.name = name
        self._cache = {}

    def _terms(self, k):
        """Per time: ``1/v`` (C, d), ``e^{-t} μ/v`` (C, d) and the constant part of each log-weight (C,)."""
        if k not in self._cache:
            t = float(self.times[k])
            v = math.exp(-2.0 * t) * self.variances + float(delta(t))
            inv = 1.0 / v
            m = math.exp(-t) * self.means
            mv = m * inv
            const = self.log_weights - 0.5 * np.einsum("cj,cj->c", m, mv) - 0.5 * np.log(v).sum(axis=1)
            self._cache[k] = (np.ascontiguousarray(inv), np.ascontiguousarray(mv), const)
        return self._cache[k]

    def posterior(self, k, x):
        """Posterior weights ``w_c(x)`` of the components at ``times[k]``, shape (N, C)."""
        inv, mv, const = self._terms(k)
        logw = x @ mv.T
        logw -= 0.5 * ((x * x) @ inv.T)
        logw += const
        logw -= logw.max(axis=1, keepdims=True)
        np.exp(logw, out=logw)
        logw /= logw.sum(axis=1, keepdims=True)
        return logw

    def score(self, k, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        inv, mv, _ = self._terms(k)
        w = self.posterior(k, x)
        out = w @ mv
        out -= x * (w @ inv)
        return out

    def linear_map(self, k):
        """``diag(1/v)`` for a single centred component (Gaussian data: ``s_t = −Σ_t^{-1} x``), else None."""
        if self.means.shape[0] != 1 or np.any(self.means != 0):
            return None
        return np.diag(self._terms(k)[0][0])

    def describe(self):
        out = super().describe()
        out.update(components=int(self.means.shape[0]))
        return out


def exact_score(times, variances, *, means=None, weights=None) -> MixtureScore:
    """The exact score of Gaussian (or Gaussian-mixture) data with diagonal covariance(s).

    Parameters
    ----------
    times : array_like
        Diffusion times t_1 < … < t_K.
    variances : array_like, shape (d,) or (C, d)
        Eigenvalues of Σ (one Gaussian) or of each class's Σ_c, in the basis where they are diagonal.
    means : array_like, shape (C, d), optional
        Class centroids (default 0).
    weights : array_like, shape (C,), optional
        Class proportions (default equal).

    Returns
    -------
    MixtureScore
        For one centred Gaussian, ``s_t(x) = −Σ_t^{-1} x`` with ``Σ_t = e^{-2t} Σ + Δ_t I`` (docs/theory.md §1).
    """
    var = np.atleast_2d(np.asarray(variances, dtype=np.float64))
    means = np.zeros_like(var) if means is None else means
    weights = np.ones(var.shape[0]) if weights is None else weights
    return MixtureScore(times, weights, means, var, name="exact")


def empirical_score(times, points) -> MixtureScore:
    """The empirical optimal score of training points ``points`` (shape (n, d), rows) convolved with the noise.

    ``s_t(x) = −(x − e^{-t} Σ_ν w_ν x_ν)/Δ_t``, ``w_ν ∝ exp(−‖x − e^{-t} x_ν‖²/(2Δ_t))`` (docs/theory.md §13):
    the minimiser of the denoising loss over all functions on the n points; it regenerates them.
    """
    pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
    integer("number of points", pts.shape[0], 1)
    return MixtureScore(times, np.ones(pts.shape[0]), pts, np.zeros_like(pts), name="empirical")
