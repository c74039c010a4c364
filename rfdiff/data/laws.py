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

from .._validate import positive

__all__ = ["DataLaw", "Isotropic", "DiscreteSpectrum", "MarchenkoPastur", "GaussianMixture"]


class DataLaw:
    """Base class of data covariance laws. Subclasses are frozen dataclasses.

    Every law is a mixture of classes: a single Gaussian is one class (proportion 1, centroid 0, covariance
    the law itself, ``Σ_c = 1·Σ_0 + 0·I`` with ``Σ_0`` the law), so the theory and the simulators treat every
    law through the same class description (``n_classes``, ``class_weights``, ``class_laws``,
    ``class_means``, ``kernel_law``, ``scales``, ``shifts``, ``class_eigenvalues``, ``class_counts``);
    :class:`GaussianMixture` overrides it. ``is_mixture`` says whether per-class results are asked for.
    """

    is_mixture = False

    @property
    def n_classes(self) -> int:
        return 1

    @property
    def class_weights(self) -> tuple:
        """Class proportions π_c."""
        return (1.0,)

    @property
    def class_laws(self) -> tuple:
        """The covariance law of each class."""
        return (self,)

    @property
    def class_means(self):
        """Signed centroid coordinates along one random direction (None: all centroids at 0)."""
        return None

    @property
    def kernel_law(self) -> "DataLaw":
        """The common law Σ_0 over whose eigenvalues σ every class covariance is affine."""
        return self

    @property
    def scales(self) -> tuple:
        """``a_c`` with ``Σ_c = a_c Σ_0 + b_c I``."""
        return (1.0,)

    @property
    def shifts(self) -> tuple:
        """``b_c`` with ``Σ_c = a_c Σ_0 + b_c I``."""
        return (0.0,)

    def class_eigenvalues(self, d: int) -> np.ndarray:
        """Shape (n_classes, d): each class's d eigenvalues on the common eigenbasis."""
        return np.asarray(self.eigenvalues(d), dtype=float)[None, :]

    def class_counts(self, n: int) -> np.ndarray:
        """Points per class in a sample of n."""
        return np.array([n])

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
        from .._mp import mp_transforms_array

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


#: Two class covariance laws are "proportional to a common law" when, after dividing each by its mean
#: eigenvalue, their atoms and weights agree to this relative tolerance (discrete laws) or their
#: Marchenko–Pastur ratios agree to it.
PROPORTIONAL_RTOL = 1e-12


def _normalised_atoms(law):
    """``(eigs/τ, weights)`` of a discrete law, sorted, zero-weight atoms dropped."""
    e, w = np.asarray(law.eigs, dtype=float), np.asarray(law.weights, dtype=float)
    keep = w > 0
    e, w = e[keep] / law.tau_sigma, w[keep]
    order = np.lexsort((w, e))
    return e[order], w[order]


def _quantile_pairing(laws):
    """Joint atoms of discrete class laws paired by quantile on a common eigenbasis: the i-th smallest
    eigenvalue of every class sits on the same eigenvector. Returns ``(values (C, J), weights (J,))`` over the
    common refinement of the classes' cumulative weights."""
    sorted_laws = []
    for law in laws:
        e, w = np.asarray(law.eigs, dtype=float), np.asarray(law.weights, dtype=float)
        keep = w > 0
        order = np.argsort(e[keep], kind="stable")
        sorted_laws.append((e[keep][order], np.cumsum(w[keep][order])))
    cuts = np.unique(np.concatenate([[0.0]] + [np.minimum(c, 1.0) for _, c in sorted_laws]))
    cuts[-1] = 1.0
    weights = np.diff(cuts)
    keep = weights > 1e-14
    mid = 0.5 * (cuts[1:] + cuts[:-1])[keep]
    values = np.array([e[np.minimum(np.searchsorted(c, mid), e.size - 1)] for e, c in sorted_laws])
    return values, weights[keep] / weights[keep].sum()


def _common_law(laws):
    """The common law Σ_0 (mean 1) and per-class ``(a_c, b_c)`` with ``Σ_c = a_c Σ_0 + b_c I`` on Σ_0's
    eigenbasis (docs/theory.md §12).

    Classes proportional to one law give ``b_c = 0``, ``a_c = τ_c``. Discrete laws of different shapes are
    paired by quantile (:func:`_quantile_pairing`) and supported when every class's paired eigenvalues are an
    affine function of one reference class's (always so for two joint atoms). Raises ValueError (naming
    ``laws``) otherwise."""
    first = laws[0]
    if all(isinstance(law, MarchenkoPastur) for law in laws):
        ratios = [law.ratio for law in laws]
        if max(ratios) - min(ratios) > PROPORTIONAL_RTOL * max(ratios):
            raise ValueError("laws: Marchenko–Pastur class laws must share one ratio (covariances proportional "
                             f"to a common law), got ratios {ratios}")
        return MarchenkoPastur(ratio=first.ratio, scale=1.0), tuple(law.scale for law in laws), (0.0,) * len(laws)
    if not all(isinstance(law, DiscreteSpectrum) for law in laws):
        raise ValueError("laws: the class laws must be all discrete (Isotropic/DiscreteSpectrum) or all "
                         f"MarchenkoPastur with one ratio, got {[type(law).__name__ for law in laws]}")
    e0, w0 = _normalised_atoms(first)
    proportional = True
    for law in laws[1:]:
        e, w = _normalised_atoms(law)
        if e.shape != e0.shape or np.any(np.abs(e - e0) > PROPORTIONAL_RTOL * np.maximum(1.0, e0)) \
                or np.any(np.abs(w - w0) > PROPORTIONAL_RTOL):
            proportional = False
    if proportional:
        return DiscreteSpectrum(eigs=tuple(e0), weights=tuple(w0)), tuple(law.tau_sigma for law in laws), \
            (0.0,) * len(laws)
    values, weights = _quantile_pairing(laws)
    spread = values.max(axis=1) - values.min(axis=1)
    ref = int(np.argmax(spread > PROPORTIONAL_RTOL * values.max(axis=1)))
    base = values[ref] / float(np.dot(values[ref], weights))
    lo, hi = int(np.argmin(base)), int(np.argmax(base))
    scales, shifts = [], []
    for v in values:
        a = (v[hi] - v[lo]) / (base[hi] - base[lo])
        b = v[lo] - a * base[lo]
        if np.max(np.abs(a * base + b - v)) > 1e-12 * max(1.0, float(np.max(np.abs(v)))):
            raise ValueError(
                "laws: classes of different spectral shapes are supported only when, paired by quantile on a "
                "common eigenbasis (the i-th smallest eigenvalue of every class on the same eigenvector), each "
                "class's eigenvalues are an affine function a·σ_0 + b of one reference class's (always true for "
                f"two joint atoms); got {[law.to_dict() for law in laws]}")
        scales.append(float(a))
        shifts.append(float(b))
    return DiscreteSpectrum(eigs=tuple(base), weights=tuple(weights)), tuple(scales), tuple(shifts)


@dataclass(frozen=True)
class GaussianMixture(DataLaw):
    """Gaussian-mixture data: class c (proportion ``π_c``) is ``N(μ_c, Σ_c)`` (docs/theory.md §12).

    Parameters
    ----------
    weights : sequence of float
        Class proportions π_c, each > 0, summing to 1 (within 1e-9). A finite sample of n points has
        exactly ``round(π_c n)`` points of class c (largest-remainder rounding).
    laws : sequence of DataLaw
        One covariance law per class, on a common eigenbasis: either proportional to one common law
        ``Σ_c = τ_c Σ_0`` (``Isotropic(scale_c)``, ``scale_c·`` the same ``DiscreteSpectrum``, or
        ``MarchenkoPastur`` with one ratio), or discrete laws of different shapes paired by quantile (the i-th
        smallest eigenvalue of every class on the same eigenvector) whose paired eigenvalues are affine in one
        another, ``Σ_c = a_c Σ_0 + b_c I`` (always so when the pairing has two joint atoms, e.g. an
        ``Isotropic`` class with a two-atom class). Anything else is rejected (ValueError naming ``laws``).
    means : None or sequence of float
        Signed centroid coordinates along one random unit direction u that the simulators draw
        (``μ_c = means[c]·u``, so ``‖μ_c‖ = |means[c]|`` = O(1), unit-free). They enter only through low-rank
        terms: the limiting theory does not depend on them, the finite-size simulators include them.
    mean_scaling : {"unit", "sqrt_d"}
        ``"unit"`` (default): ``‖μ_c‖ = means[c]``. ``"sqrt_d"`` (``‖μ_c‖² = O(d)``) is rejected: such
        centroids change the feature covariance at leading order and the theory does not cover them.

    Notes
    -----
    ``tau_sigma = Σ_c π_c τ_c``; ``averages`` and ``mean`` are the class-weighted means
    ``Σ_c π_c ⟨·⟩_c``. ``kernel_law`` (``Σ_0``, mean 1) and ``scales`` (τ_c) describe the classes for the
    spectral kernel; ``class_eigenvalues(d)`` gives each class's d eigenvalues on the common eigenbasis.
    """

    is_mixture = True

    weights: tuple
    laws: tuple
    means: object = None
    mean_scaling: str = "unit"

    def __post_init__(self):
        try:
            weights = np.atleast_1d(np.asarray(self.weights, dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"weights must be a sequence of real numbers, got {self.weights!r}") from None
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError("weights must be a non-empty 1-D sequence")
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError(f"weights must be finite and > 0, got {weights.tolist()}")
        if abs(weights.sum() - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got sum {weights.sum():.12g}")
        laws = self.laws
        if isinstance(laws, DataLaw) or not hasattr(laws, "__len__"):
            raise ValueError(f"laws must be a sequence of data laws, one per class, got {laws!r}")
        laws = tuple(laws)
        if len(laws) != weights.size:
            raise ValueError(f"laws must have one law per class ({weights.size}), got {len(laws)}")
        for law in laws:
            if not isinstance(law, DataLaw) or isinstance(law, GaussianMixture):
                raise ValueError(f"laws must be single-Gaussian rfdiff data laws, got {law!r}")
        if self.mean_scaling not in ("unit", "sqrt_d"):
            raise ValueError(f"mean_scaling must be 'unit' or 'sqrt_d', got {self.mean_scaling!r}")
        if self.mean_scaling == "sqrt_d":
            raise ValueError("mean_scaling='sqrt_d' (centroids with ‖μ_c‖² = O(d)) is not supported: such "
                             "centroids move the feature covariance at leading order; use O(1) norms "
                             "(mean_scaling='unit')")
        means = self.means
        if means is not None:
            try:
                means = np.atleast_1d(np.asarray(means, dtype=float))
            except (TypeError, ValueError):
                raise ValueError(f"means must be None or a sequence of centroid norms, got {self.means!r}") from None
            if means.shape != weights.shape or not np.all(np.isfinite(means)):
                raise ValueError(f"means must be {weights.size} finite numbers (one per class), got {self.means!r}")
            means = tuple(float(x) for x in means)
        base, scales, shifts = _common_law(laws)
        object.__setattr__(self, "weights", tuple(float(w) for w in weights / weights.sum()))
        object.__setattr__(self, "laws", laws)
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_scales", tuple(float(s) for s in scales))
        object.__setattr__(self, "_shifts", tuple(float(s) for s in shifts))

    n_classes = property(lambda self: len(self.weights))
    class_weights = property(lambda self: tuple(self.weights))
    class_laws = property(lambda self: tuple(self.laws))
    class_means = property(lambda self: self.means)
    #: The common law Σ_0 (mean 1) over whose eigenvalues σ every class symbol is linear.
    kernel_law = property(lambda self: self._base)
    #: ``a_c`` with ``Σ_c = a_c Σ_0 + b_c I`` (``a_c = τ_c`` for classes proportional to Σ_0).
    scales = property(lambda self: self._scales)
    #: ``b_c`` with ``Σ_c = a_c Σ_0 + b_c I`` (0 for classes proportional to Σ_0).
    shifts = property(lambda self: self._shifts)

    @property
    def tau_sigma(self) -> float:
        return float(np.dot(self.weights, [law.tau_sigma for law in self.laws]))

    @property
    def support(self) -> tuple[float, float]:
        return (min(law.support[0] for law in self.laws), max(law.support[1] for law in self.laws))

    def averages(self, alpha, beta):
        """Class-weighted averages ``Σ_c π_c ⟨σ^k/(α+βσ)^j⟩_c`` (e.g. ``⟨1/Σ_t⟩`` of the mixture)."""
        parts = [law.averages(alpha, beta) for law in self.laws]
        return tuple(sum(w * p[k] for w, p in zip(self.weights, parts)) for k in range(5))

    def mean(self, f) -> float:
        return float(sum(w * law.mean(f) for w, law in zip(self.weights, self.laws)))

    def eigenvalues(self, d: int) -> np.ndarray:
        raise ValueError("a GaussianMixture has one covariance per class: use class_eigenvalues(d) "
                         "(this simulator or caller does not support mixture data)")

    def class_eigenvalues(self, d: int) -> np.ndarray:
        """Shape (C, d): class c's eigenvalues ``a_c Σ_0.eigenvalues(d) + b_c`` on the common eigenbasis (the
        pairing of the theory: for classes of different shapes, the i-th smallest eigenvalues together)."""
        base = np.asarray(self._base.eigenvalues(d), dtype=float)
        return np.asarray(self._scales)[:, None] * base[None, :] + np.asarray(self._shifts)[:, None]

    def class_counts(self, n: int) -> np.ndarray:
        """Points per class in a sample of n: ``round(π_c n)`` by largest-remainder rounding (sum n)."""
        raw = np.asarray(self.weights) * n
        counts = np.floor(raw).astype(int)
        counts[np.argsort(-(raw - counts), kind="stable")[:n - counts.sum()]] += 1
        return counts

    def to_dict(self) -> dict:
        out = {"law": "mixture", "weights": list(self.weights), "laws": [law.to_dict() for law in self.laws]}
        if self.means is not None:
            out["means"] = list(self.means)
        return out

