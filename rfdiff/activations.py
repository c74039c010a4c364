"""Activation functions: a registry of built-ins plus any vectorised callable.

Each :class:`Activation` carries the function, the location of its kinks (where quadrature must split
the Gaussian integral) and, for relu, erf and linear, the closed-form Gaussian integrals that define the
Gaussian-equivalence constants of docs/theory.md §2 (derived and checked in ``derivations/ge_constants.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    """A scalar activation σ applied elementwise.

    Attributes
    ----------
    name : str
        Registry name, or ``"custom:<repr>"`` for a user callable.
    fn : callable
        Vectorised ``σ(x)`` on float arrays.
    kinks : tuple of float
        Points where σ is not smooth (quadrature splits there).
    closed_form : callable or None
        ``closed_form(alpha2, beta2) -> (mu0, mu1, e_sigma2, v2, s2)``: the Gaussian integrals of
        docs/theory.md §2 in closed form, with ``alpha2 = e^{-2t} τ_Σ`` and ``beta2 = Δ_t``
        (``None``: use quadrature).
    """

    name: str
    fn: object
    kinks: tuple = ()
    closed_form: object = None

    def __call__(self, x):
        return self.fn(x)


def _relu(x):
    return np.maximum(x, 0.0)


def _linear(x):
    return np.asarray(x, dtype=float) * 1.0


def _sigmoid(x):
    return special.expit(x)


def _series(x, coef, ratio):
    """``Σ_{k≥0} c_k`` with ``c_0 = coef(x)`` and ``c_{k+1} = c_k · ratio(k, x)``, summed to double precision."""
    term = total = coef(x)
    k = 0
    while abs(term) > 1e-17 * abs(total):
        term *= ratio(k, x)
        total += term
        k += 1
    return total


def _arcsin_minus_id(x):
    """``arcsin(x) − x`` for ``0 ≤ x ≤ 1`` without cancellation at small x.

    Series ``Σ_{k≥1} (2k)!/(4^k (k!)² (2k+1)) x^{2k+1}`` below 1/2 (terms shrink by ≤ x² = 1/4).
    """
    if x >= 0.5:
        return math.asin(x) - x
    # c_k = (2k)!/(4^k (k!)^2 (2k+1)) x^{2k+1}, k ≥ 1;  c_{k+1}/c_k = (2k+1)^2 x^2 / ((2k+2)(2k+3))
    return _series(x, lambda y: y ** 3 / 6.0,
                   lambda k, y: (2 * k + 3) ** 2 * y * y / ((2 * k + 4) * (2 * k + 5)))


def _int_arcsin(r):
    """``g(r) = ∫_0^r arcsin(s) ds = r arcsin r + sqrt(1 − r²) − 1`` for ``0 ≤ r ≤ 1``, cancellation-free.

    Series ``Σ_{k≥0} (2k)!/(4^k (k!)² (2k+1)(2k+2)) r^{2k+2}`` below 1/2.
    """
    if r >= 0.5:
        return r * math.asin(r) + math.sqrt((1 - r) * (1 + r)) - 1.0
    # c_k = (2k)!/(4^k (k!)^2 (2k+1)(2k+2)) r^{2k+2};  c_{k+1}/c_k = (2k+1)^2 r^2 / ((2k+3)(2k+4))
    return _series(r, lambda y: y * y / 2.0,
                   lambda k, y: (2 * k + 1) ** 2 * y * y / ((2 * k + 3) * (2 * k + 4)))


def _linear_closed_form(alpha2, beta2):
    """σ(x) = x: ``μ0 = 0``, ``μ1 = 1``, ``E σ(h)² = Γ²``; φ(u) = αu is linear, so ``v² = s² = 0``."""
    return 0.0, 1.0, alpha2 + beta2, 0.0, 0.0


def _relu_closed_form(alpha2, beta2):
    """σ(x) = max(x, 0), from the arc-cosine kernel.

    With ``Γ² = α² + β²``, ``r = α²/Γ²`` and ``θ = arccos r`` (h1, h2 of variance Γ² and correlation r):
    ``E[σ(h1)σ(h2)] = Γ²/(2π) (sin θ + (π − θ) r)``, so ``μ0 = Γ/√(2π)``, ``μ1 = 1/2``, ``E σ² = Γ²/2``,
    ``v² = Γ²/(2π) g(r)`` and ``s² = Γ²/(2π) (g(1) − g(r))`` with ``g(r) = ∫_0^r arcsin``;
    ``g(1) − g(r) = (π/2)(1 − r) + r θ − sin θ`` and ``1 − r = β²/Γ²`` keep small t accurate.
    """
    g2 = alpha2 + beta2
    r = alpha2 / g2
    one_minus_r = beta2 / g2
    theta = math.atan2(math.sqrt(one_minus_r * (1 + r)), r)
    v2 = g2 / (2 * math.pi) * _int_arcsin(r)
    s2 = g2 / (2 * math.pi) * (0.5 * math.pi * one_minus_r + r * theta - math.sin(theta))
    return math.sqrt(g2 / (2 * math.pi)), 0.5, 0.5 * g2, v2, max(s2, 0.0)


def _erf_closed_form(alpha2, beta2):
    """σ = erf, from ``E[erf(h1) erf(h2)] = (2/π) arcsin(2 c12 / sqrt((1 + 2 c11)(1 + 2 c22)))``.

    With ``x = 2α²/(1 + 2Γ²)`` and ``y = 2Γ²/(1 + 2Γ²)``: ``μ0 = 0``,
    ``μ1 = 2/sqrt(π(1 + 2Γ²))``, ``E σ² = (2/π) arcsin y``, ``v² = (2/π)(arcsin x − x)`` and
    ``s² = (2/π)(arcsin y − arcsin x − (y − x))``; ``arcsin y − arcsin x`` is evaluated as
    ``atan2((y² − x²)/(y sqrt(1−x²) + x sqrt(1−y²)), sqrt(1−x²) sqrt(1−y²) + x y)`` with
    ``y − x = 2β²/(1 + 2Γ²)``, so no small difference is formed.
    """
    g2 = alpha2 + beta2
    den = 1.0 + 2.0 * g2
    x, y, y_minus_x = 2 * alpha2 / den, 2 * g2 / den, 2 * beta2 / den
    cx = math.sqrt((1 + 2 * beta2) / den * (1 + x))   # sqrt(1 − x²), 1 − x = (1 + 2β²)/(1 + 2Γ²)
    cy = math.sqrt((1 + y) / den)                      # sqrt(1 − y²), 1 − y = 1/(1 + 2Γ²)
    sin_diff = y_minus_x * (y + x) / (y * cx + x * cy)
    diff = math.atan2(sin_diff, cx * cy + x * y)
    mu1 = 2.0 / math.sqrt(math.pi * den)
    v2 = 2 / math.pi * _arcsin_minus_id(x)
    s2 = 2 / math.pi * (diff - y_minus_x)
    return 0.0, mu1, 2 / math.pi * math.asin(y), v2, max(s2, 0.0)


ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh),
    "relu": Activation("relu", _relu, kinks=(0.0,), closed_form=_relu_closed_form),
    "erf": Activation("erf", special.erf, closed_form=_erf_closed_form),
    "linear": Activation("linear", _linear, closed_form=_linear_closed_form),
    "sigmoid": Activation("sigmoid", _sigmoid),
}


def get_activation(spec) -> Activation:
    """Resolve ``spec`` (a registry name, an :class:`Activation` or a vectorised callable).

    Raises
    ------
    ValueError
        If ``spec`` is an unknown name, not callable, or returns non-finite values on a probe grid.
    """
    if isinstance(spec, Activation):
        act = spec
    elif isinstance(spec, str):
        try:
            return ACTIVATIONS[spec.lower()]
        except KeyError:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {spec!r}") from None
    elif callable(spec):
        act = Activation(f"custom:{getattr(spec, '__name__', repr(spec))}", spec)
    else:
        raise ValueError(f"activation must be a name or a callable, got {spec!r}")
    probe = np.linspace(-12.0, 12.0, 97)
    try:
        vals = np.asarray(act.fn(probe), dtype=float)
    except Exception as exc:  # noqa: BLE001 - report any failure of user code
        raise ValueError(f"activation {act.name} failed on a float array: {exc}") from None
    if vals.shape != probe.shape:
        raise ValueError(f"activation {act.name} must be vectorised (elementwise on arrays)")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"activation {act.name} returned non-finite values on [-12, 12]")
    return act
