"""Data covariance laws ρ_Σ: the limiting eigenvalue distribution of Σ (docs/theory.md §1).

Every law provides what the theory needs and what a finite-size simulator needs:

* ``tau_sigma`` — the mean eigenvalue ``τ_Σ = Tr Σ / d``;
* ``averages(alpha, beta)`` — the resolvent-type averages
  ``⟨σ^k / (α + β σ)^j⟩`` used by the fixed-point equations (docs/theory.md §4–5);
* ``eigenvalues(d)`` — d deterministic eigenvalues whose empirical law converges to ρ_Σ;
* ``support`` — a bounded interval containing the support.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._validate import positive

__all__ = ["DataLaw", "Isotropic", "DiscreteSpectrum", "MarchenkoPastur"]


class DataLaw:
    """Base class of data covariance laws. Subclasses are frozen dataclasses."""

    @property
    def tau_sigma(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def support(self) -> tuple[float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def averages(self, alpha, beta):  # pragma: no cover - abstract
        """Return ``(⟨1/D⟩, ⟨σ/D⟩, ⟨1/D²⟩, ⟨σ/D²⟩, ⟨σ²/D²⟩)`` with ``D = α + β σ``."""
        raise NotImplementedError

    def eigenvalues(self, d: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def mean(self, f) -> float:
        """``⟨f(σ)⟩`` for a vectorised real function ``f``."""
        raise NotImplementedError  # pragma: no cover

    def to_dict(self) -> dict:
        raise NotImplementedError  # pragma: no cover


@dataclass(frozen=True)
class DiscreteSpectrum(DataLaw):
    """Σ with finitely many distinct eigenvalues ``eigs`` carrying fractions ``weights`` of the spectrum.

    Parameters
    ----------
    eigs : sequence of float
        Eigenvalues, each ≥ 0 (at least one > 0).
    weights : sequence of float
        Fractions of the d eigenvalues at each value; non-negative, summing to 1 (within 1e-9).
    """

    eigs: tuple = field()
    weights: tuple = field()

    def __post_init__(self):
        try:
            eigs = np.atleast_1d(np.asarray(self.eigs, dtype=float))
            weights = np.atleast_1d(np.asarray(self.weights, dtype=float))
        except (TypeError, ValueError):
            raise ValueError("eigs and weights must be sequences of real numbers") from None
        if eigs.ndim != 1 or eigs.size == 0:
            raise ValueError("eigs must be a non-empty 1-D sequence")
        if weights.shape != eigs.shape:
            raise ValueError(f"weights must have the same length as eigs ({eigs.size}), got {weights.size}")
        if not np.all(np.isfinite(eigs)):
            raise ValueError("eigs must be finite")
        if np.any(eigs < 0):
            raise ValueError(f"eigs must be >= 0 (a covariance), got {eigs.tolist()}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("weights must be finite and >= 0")
        if abs(weights.sum() - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got sum {weights.sum():.12g}")
        if float(np.dot(eigs, weights)) <= 0:
            raise ValueError("eigs must not be all zero (Tr Σ > 0 is required)")
        object.__setattr__(self, "eigs", tuple(float(e) for e in eigs))
        object.__setattr__(self, "weights", tuple(float(w) for w in weights / weights.sum()))

    @property
    def _arrays(self):
        return np.asarray(self.eigs), np.asarray(self.weights)

    @property
    def tau_sigma(self) -> float:
        e, w = self._arrays
        return float(np.dot(e, w))

    @property
    def support(self) -> tuple[float, float]:
        return (min(self.eigs), max(self.eigs))

    def averages(self, alpha, beta):
        e, w = self._arrays
        alpha = np.asarray(alpha)[..., None]
        beta = np.asarray(beta)[..., None]
        inv = 1.0 / (alpha + beta * e)
        inv2 = inv * inv
        return ((w * inv).sum(-1), (w * e * inv).sum(-1), (w * inv2).sum(-1),
                (w * e * inv2).sum(-1), (w * e * e * inv2).sum(-1))

    def mean(self, f) -> float:
        e, w = self._arrays
        return float(np.dot(w, f(e)))

    def eigenvalues(self, d: int) -> np.ndarray:
        """d eigenvalues: ``round(weight·d)`` copies of each value (largest-remainder rounding)."""
        e, w = self._arrays
        raw = w * d
        counts = np.floor(raw).astype(int)
        rest = d - counts.sum()
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
        return np.repeat(e, counts)

    def to_dict(self) -> dict:
        return {"law": "DiscreteSpectrum", "eigs": list(self.eigs), "weights": list(self.weights)}


@dataclass(frozen=True)
class Isotropic(DiscreteSpectrum):
    """Σ = scale · I."""

    scale: float = 1.0
    eigs: tuple = field(init=False, repr=False)
    weights: tuple = field(init=False, repr=False)

    def __post_init__(self):
        scale = positive("scale", self.scale)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "eigs", (scale,))
        object.__setattr__(self, "weights", (1.0,))

    def to_dict(self) -> dict:
        return {"law": "Isotropic", "scale": self.scale}


@dataclass(frozen=True)
class MarchenkoPastur(DataLaw):
    """Continuous Marchenko–Pastur law of ratio γ ∈ (0, 1] and mean ``scale``.

    The eigenvalue law of a sample covariance ``Z Zᵀ/m`` (Z of size d×m, ``γ = d/m``, entries of
    variance ``scale``): density ``sqrt((b−σ)(σ−a)) / (2π γ scale σ)`` on ``[a, b]``,
    ``a, b = scale (1 ∓ sqrt γ)²``. Its Stieltjes transform is closed-form, so the averages are
    exact (no quadrature error near the support).
    """

    ratio: float = 0.5
    scale: float = 1.0

    def __post_init__(self):
        ratio = positive("ratio", self.ratio)
        if ratio > 1:
            raise ValueError(f"ratio must be in (0, 1] (no atom at 0), got {ratio}")
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "scale", positive("scale", self.scale))

    @property
    def tau_sigma(self) -> float:
        return self.scale

    @property
    def support(self) -> tuple[float, float]:
        r = math.sqrt(self.ratio)
        return (self.scale * (1 - r) ** 2, self.scale * (1 + r) ** 2)

    def density(self, sigma):
        a, b = self.support
        sigma = np.asarray(sigma, dtype=float)
        inside = (sigma > a) & (sigma < b)
        out = np.zeros_like(sigma)
        s = sigma[inside]
        out[inside] = np.sqrt((b - s) * (s - a)) / (2 * np.pi * self.ratio * self.scale * s)
        return out

    def transforms(self, zeta):
        """``G(ζ) = ⟨1/(σ−ζ)⟩``, ``G'(ζ)``, ``H(ζ) = ⟨σ/(σ−ζ)⟩``, ``H'(ζ)`` in closed form.

        With ``r(ζ) = sqrt(ζ−a)·sqrt(ζ−b)`` (principal roots: cut on [a, b], ``r ~ ζ``), G and H are the
        roots of ``γsζG² − (s(1−γ) − ζ)G + 1 = 0`` and ``γsH² + (ζ − s(1+γ))H + s = 0`` that vanish at
        infinity, written without cancellation at large |ζ|:
        ``G = 2/(s(1−γ) − ζ − r)``, ``H = −2s/(ζ − s(1+γ) + r)``, ``G' = −(γsG² + G)/r``, ``H' = −H/r``.
        Evaluated by the compiled :func:`rfdiff._mp.mp_transforms`, the same code the spectral solver
        uses (numba is imported on the first call).
        """
        from ._mp import mp_transforms_array

        zeta = np.asarray(zeta, dtype=complex)
        out = mp_transforms_array(np.ascontiguousarray(zeta.ravel()), self.ratio, self.scale)
        if zeta.ndim == 0:
            return tuple(out[k, 0] for k in range(4))
        return tuple(out[k].reshape(zeta.shape) for k in range(4))

    def stieltjes(self, zeta):
        """``G(ζ) = ⟨1/(σ − ζ)⟩`` and ``G'(ζ)`` (closed form, branch with ``G ~ −1/ζ``)."""
        G, dG, _, _ = self.transforms(zeta)
        return G, dG

    def averages(self, alpha, beta):
        alpha = np.asarray(alpha, dtype=complex)
        beta = np.asarray(beta, dtype=complex)
        zeta = -alpha / beta
        G, dG, H, dH = self.transforms(zeta)
        b2 = beta * beta
        return G / beta, H / beta, dG / b2, dH / b2, (H + zeta * dH) / b2

    def mean(self, f) -> float:
        a, b = self.support
        # Chebyshev-type substitution σ = c + h cos θ resolves the square-root edges.
        n = 512
        theta = (np.arange(n) + 0.5) * np.pi / n
        c, h = 0.5 * (a + b), 0.5 * (b - a)
        sig = c + h * np.cos(theta)
        dens_over_sqrt = 1.0 / (2 * np.pi * self.ratio * self.scale * sig)
        # ∫ f ρ dσ = ∫_0^π f(σ) h² sin²θ / (2πγsσ) dθ
        return float(np.sum(f(sig) * dens_over_sqrt * (h * np.sin(theta)) ** 2) * np.pi / n)

    def eigenvalues(self, d: int) -> np.ndarray:
        """d eigenvalues at the mid-quantiles ``F^{-1}((i + 1/2)/d)`` of the law."""
        a, b = self.support
        grid = a + (b - a) * (1 - np.cos(np.linspace(0, np.pi, 4097))) / 2
        dens = self.density(grid)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
        cdf /= cdf[-1]
        return np.interp((np.arange(d) + 0.5) / d, cdf, grid)

    def to_dict(self) -> dict:
        return {"law": "MarchenkoPastur", "ratio": self.ratio, "scale": self.scale}
