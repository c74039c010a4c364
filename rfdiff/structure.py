"""The Gaussian-equivalent structure of a model: Wishart components plus a shift (docs/theory.md §10).

Every model rfdiff handles has a train feature covariance of the same shape in the Gaussian-equivalent
description: given the frozen features W,

    U ≃ Σ_k (1/N_k) Y_k Y_kᵀ + S,        the N_k columns of Y_k i.i.d. N(0, C_k),

a sum of independent Wishart components plus a deterministic shift, where every covariance is a *symbol*

    X = W diag(α σ + β) Wᵀ/d + x0 I           (σ ranging over the eigenvalues of Σ),

and the training noise enters V through each component's columns: component k's columns have
cross-covariance ``c_k W/√d`` with their noise vectors, whose variance is ``a_k I`` (``c_k = a_k b``), and the
shift contributes ``c_S W/√d`` deterministically (weight ``a_S``). This module builds that description from a
model; the theory (:mod:`rfdiff.spectral`, :mod:`rfdiff.dynamics`) and the Gaussian-equivalent sampler use
it, so the two cannot drift apart.

* Exact noise averages (m = ∞): one component ``C = (e^{-2t}μ1² σ, v²)`` with ``N = n`` columns, and the
  shift ``H = (b², s²)`` (the noise part of the features, averaged), ``a_S = 1``.
* m frozen draws per point: the features of the m draws of point ν share ``g_ν ~ N(0, C)`` and add fresh
  ``h_νk ~ N(0, H)``; splitting each group into its mean and m − 1 orthogonal deviations gives component 1,
  ``C + H/m`` with n columns and ``a_1 = 1/m``, and component 2, ``((m−1)/m) H`` with n(m − 1) columns and
  ``a_2 = (m−1)/m``; no shift. m = 1 has component 1 only.

``P = U_pop = (μ1² e^{-2t} σ + μ1² Δ_t, v² + s²)`` is the population covariance, the same for every m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .constants import class_coefficients

__all__ = ["Symbol", "Component", "ClassPart", "Structure", "structure", "LINEAR_PART_RTOL"]

#: ``|μ1|`` below this fraction of the feature scale ``sqrt(μ1² + v² + s²)`` is rounding: the activation
#: has no linear part (e.g. σ(x) = x²), and U has no W-part.
LINEAR_PART_RTOL = 1e-12


@dataclass(frozen=True)
class Symbol:
    """The p×p matrix ``W diag(alpha σ + beta) Wᵀ/d + x0 I``."""

    alpha: float
    beta: float
    x0: float

    def __add__(self, other: "Symbol") -> "Symbol":
        return Symbol(self.alpha + other.alpha, self.beta + other.beta, self.x0 + other.x0)

    def scale(self, c: float) -> "Symbol":
        return Symbol(c * self.alpha, c * self.beta, c * self.x0)

    @property
    def has_w_part(self) -> bool:
        return self.alpha != 0.0 or self.beta != 0.0


ZERO = Symbol(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Component:
    """One Wishart component: ``ratio·d`` columns of covariance ``cov``; its noise vectors have variance
    ``noise·I`` (``a_k``) and cross-covariance ``coupling·W/√d`` (``c_k``) with the columns."""

    cov: Symbol
    ratio: float
    noise: float
    coupling: float = 0.0


@dataclass(frozen=True)
class Structure:
    """Components, shift and population covariance of one model (module docstring).

    Attributes
    ----------
    components : tuple of Component
    shift : Symbol
        Deterministic part S of U; its ``x0`` is the lowest possible eigenvalue (the atom's location).
    shift_noise, shift_coupling : float
        ``a_S``, ``c_S``: the deterministic part of V is ``c_S W/√d`` (``a_S = 1, c_S = b`` for exact noise
        averages, 0 for frozen draws).
    population : Symbol
        ``U_pop``.
    population_coupling : float
        ``b_pop``: the population feature–noise correlation is ``V_pop = b_pop W/√d``.
    psi_p : float
    law : DataLaw
        The law of σ in every symbol (``model.data``; the common law Σ_0 of a Gaussian mixture).
    classes : tuple of ClassPart
        Per class of the data (one for single-Gaussian data, docs/theory.md §12): its proportion, constants,
        population symbol ``P_c``, coupling ``b_c`` and noise symbol ``H_c``; ``population`` and
        ``population_coupling`` are the π-weighted sums of theirs.
    inv_sigma_t : float
        ``⟨1/Σ_t⟩ = lim Tr Σ_t^{-1}/d`` of the data (class-weighted for mixtures).
    mixture : bool
        The data is a :class:`rfdiff.GaussianMixture` (per-class results are reported).
    """

    components: tuple
    shift: Symbol
    shift_noise: float
    shift_coupling: float
    population: Symbol
    population_coupling: float
    psi_p: float
    law: object = None
    classes: tuple = ()
    inv_sigma_t: float = math.nan
    mixture: bool = False

    @property
    def origin(self) -> float:
        """``shift.x0``: U − origin·I is positive semi-definite; the atom sits there."""
        return self.shift.x0

    def atom_mass(self) -> float:
        """Mass of U's eigenvalue ``origin`` from rank counting: ``max(0, 1 − rank/p)``.

        A component whose covariance has ``x0 > 0`` has rank at most ``min(N_k, p)``; one with ``x0 = 0``
        lies in the d-dimensional span of W's columns, as does the W-part of the shift.
        """
        full = sum(min(c.ratio, self.psi_p) for c in self.components if c.cov.x0 > 0)
        in_w = sum(c.ratio for c in self.components if c.cov.x0 <= 0 and c.cov.has_w_part)
        in_w += math.inf if self.shift.has_w_part else 0.0
        return max(0.0, 1.0 - (full + min(1.0, in_w)) / self.psi_p)


@dataclass(frozen=True)
class ClassPart:
    """One class of the data (a single Gaussian is one class with π = 1; docs/theory.md §12).

    Attributes
    ----------
    weight : float
        Proportion π_c.
    population : Symbol
        ``P_c``, the population feature covariance of the class.
    coupling : float
        ``b_c``: its population feature–noise correlation is ``b_c W/√d``.
    noise : Symbol
        ``H_c = (b_c², s_c²)``, the noise part of its features, averaged.
    inv_sigma_t : float
        ``⟨1/Σ_t,c⟩`` of the class.
    coefficients : GECoefficients
        The class's Gaussian-equivalence constants.
    """

    weight: float
    population: Symbol
    coupling: float
    noise: Symbol
    inv_sigma_t: float
    coefficients: object


def _class_symbols(c, scale=1.0, shift=0.0):
    """``(C, H, P, b)`` of one Gaussian class with constants ``c`` and covariance ``Σ = scale·Σ_0 + shift·I``
    (σ over Σ_0): ``C = (e^{-2t}μ1² (scale σ + shift), v²)``, ``H = (b², s²)``,
    ``P = (μ1²(e^{-2t}(scale σ + shift) + Δ_t), v² + s²)``."""
    # μ1 is zero (an even activation) when it is at quadrature-rounding level of the feature scale
    mu1 = c.mu1 if abs(c.mu1) > LINEAR_PART_RTOL * math.sqrt(c.mu1 ** 2 + c.v2 + c.s2) else 0.0
    A, b2 = c.e2t * mu1 ** 2 * scale, (c.b ** 2 if mu1 else 0.0)
    A0 = c.e2t * mu1 ** 2 * shift
    C = Symbol(A, A0, c.v2)
    H = Symbol(0.0, b2, c.s2)
    P = Symbol(A, mu1 ** 2 * (c.e2t * shift + c.delta_t), c.v2 + c.s2)
    return C, H, P, math.sqrt(b2)


def _assemble(model, classes, law, parts) -> Structure:
    """Components, shift and population of a model whose classes are ``(π_c, C_c, H_c, P_c, b_c)``.

    Class c (proportion π_c; a single Gaussian is one class with π = 1) has its ``N_c = π_c n`` points enter
    ``U = (1/n) Σ_ν …`` as ``(1/N_c) Y_c Y_cᵀ`` with the columns scaled by ``√π_c`` (and their noise vectors
    too), so every covariance, noise weight and coupling of class c carries a factor π_c:

    * m = ∞: one component ``π_c C_c`` with ``π_c n`` columns (no noise, no coupling); shift
      ``Σ_c π_c H_c``, ``a_S = 1``, ``c_S = Σ_c π_c b_c``;
    * m draws: ``π_c (C_c + H_c/m)`` with ``π_c n`` columns (``a = π_c/m``, ``c = π_c b_c/m``) and
      ``π_c ((m−1)/m) H_c`` with ``π_c n (m − 1)`` columns (``a = π_c (m−1)/m``, ``c = a b_c``); no shift.

    The population is ``Σ_c π_c P_c`` with ``b_pop = Σ_c π_c b_c``. With π = 1 every factor is exactly 1.
    """
    m = model.m
    comps, shift, c_s, pop, b_pop = [], ZERO, 0.0, ZERO, 0.0
    for pi, C, H, P, b in classes:
        pop, b_pop = pop + P.scale(pi), b_pop + pi * b
        if math.isinf(m):
            comps.append(Component(C.scale(pi), pi * model.psi_n, 0.0))
            shift, c_s = shift + H.scale(pi), c_s + pi * b
            continue
        comps.append(Component((C + H.scale(1.0 / m)).scale(pi), pi * model.psi_n, pi / m, pi * b / m))
        if m > 1:
            a2 = pi * (m - 1.0) / m
            comps.append(Component(H.scale(a2), pi * model.psi_n * (m - 1), a2, a2 * b))
    a_s = 1.0 if math.isinf(m) else 0.0
    data = model.data
    e2t, delta_t = math.exp(-2.0 * float(model.t)), float(model.delta_t)
    inv = float(np.real(data.averages(delta_t, e2t)[0]))
    return Structure(tuple(comps), shift, a_s, c_s, pop, b_pop, model.psi_p, law, tuple(parts), inv,
                     bool(data.is_mixture))


def structure(model, coefficients=None) -> Structure:
    """The Gaussian-equivalent structure of ``model`` (module docstring; docs/theory.md §2, §10, §12).

    Every data law is a mixture of classes (a single Gaussian is one class): class c (proportion π_c,
    ``Σ_c = a_c Σ_0 + b_c I``, σ over Σ_0) has the symbols of :func:`_class_symbols` with its own constants,
    assembled by :func:`_assemble`.

    Parameters
    ----------
    model : RFModel
    coefficients : GECoefficients or tuple of them, optional
        The Gaussian-equivalence constants to use (one per class for a Gaussian mixture); default those of
        the model (:func:`rfdiff.constants.class_coefficients`). Given, e.g., to solve with reference
        constants computed elsewhere.
    """
    if coefficients is None:
        coefficients = class_coefficients(model)
    elif not isinstance(coefficients, (tuple, list)):
        coefficients = (coefficients,)
    data = model.data
    e2t, delta_t = math.exp(-2.0 * float(model.t)), float(model.delta_t)
    classes, parts = [], []
    for pi, scale, offset, law, c in zip(data.class_weights, data.scales, data.shifts, data.class_laws,
                                         coefficients):
        C, H, P, b = _class_symbols(c, scale, offset)
        classes.append((pi, C, H, P, b))
        parts.append(ClassPart(pi, P, b, H, float(np.real(law.averages(delta_t, e2t)[0])), c))
    return _assemble(model, classes, data.kernel_law, parts)
