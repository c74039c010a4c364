"""Gaussian-equivalence constants μ0, μ1, a_t, b_t, v_t², s_t² (docs/theory.md §2).

Everything follows from the law of ``σ(h)`` with ``h = α u + β v`` (``u, v ~ N(0, 1)``,
``α² = e^{-2t} τ_Σ``, ``β² = Δ_t``, ``Γ² = α² + β²``) and from the correlation of two noise draws,
``E[σ(h1) σ(h2)]`` with ``h1, h2 ~ N(0, Γ²)`` of correlation ``r = α²/Γ²`` (``E_u φ(u)²`` of §2).
relu, erf and linear use closed forms (``Activation.closed_form``). Other activations use quadrature over
z ~ N(0, 1): the trapezoid rule for smooth σ (exponentially convergent for Gaussian integrals of analytic
functions, and far cheaper than Gauss–Hermite when σ(Γz) is steep), and Gauss–Legendre pieces split at
the declared kinks (``Activation.kinks``) otherwise. Accuracy (tests/test_constants.py against
derivations/ge_reference.json): 1e-10 or better over t ∈ [1e-3, 5], τ_Σ ∈ [0.1, 10] for the built-ins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._validate import choice, positive
from .activations import get_activation
from .results import Result

__all__ = ["GECoefficients", "ge_coefficients", "class_coefficients", "gaussian_integrals"]

_Z_MAX = 12.0         # all rules integrate z ~ N(0, 1) over [−12, 12]: tail mass < 1e-32
_STEP = 0.2           # trapezoid step in z for σ(Γz), divided by max(1, Γ): 1e-16 for tanh, sigmoid
_PIECE = 1.0          # Gauss–Legendre piece width in z (kinked σ), divided by max(1, Γ)
_N_LEGENDRE = 20      # nodes per piece: ~1e-16 for integrands analytic one piece-width off the axis
_R_SERIES = 0.5       # Hermite series for v_t² when r ≤ 1/2 (tail ≤ r^{K+1} T ≤ 4e-19 T)
_K_SERIES = 60        # number of Hermite orders summed in the series regime
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class GECoefficients(Result):
    """Gaussian-equivalence constants of one model (docs/theory.md §2).

    Attributes
    ----------
    mu0 : float
        ``μ0 = E σ(h)``.
    mu1 : float
        ``μ1 = E σ'(h) = E[h σ(h)]/Γ_t²``.
    a : float
        ``a_t = μ1`` (the data-linear part of φ is ``e^{-t} μ1 w·x/√d``).
    b : float
        ``b_t = sqrt(Δ_t) μ1``.
    v2 : float
        ``v_t² = Var_u φ(u) − e^{-2t} τ_Σ μ1²`` (≥ 0).
    s2 : float
        ``s_t² = E σ(h)² − E_u φ(u)² − Δ_t μ1²`` (≥ 0).
    e2t : float
        ``e^{-2t}``.
    delta_t : float
        ``Δ_t = 1 − e^{-2t}``.
    tau_sigma : float
        ``τ_Σ = Tr Σ/d``.
    """

    mu0: float
    mu1: float
    a: float
    b: float
    v2: float
    s2: float
    e2t: float
    delta_t: float
    tau_sigma: float


def ge_coefficients(model) -> GECoefficients:
    """Gaussian-equivalence constants of ``model`` (an :class:`rfdiff.RFModel`).

    Parameters
    ----------
    model : RFModel
        Supplies the activation σ, the diffusion time t and ``τ_Σ = model.data.tau_sigma``.

    Returns
    -------
    GECoefficients

    Raises
    ------
    ValueError
        If the activation is constant on the law of h (``μ1 = v_t² = s_t² = 0``: no features).

    Notes
    -----
    docs/theory.md §2, with ``α² = e^{-2t} τ_Σ``, ``β² = Δ_t``, ``Γ_t² = α² + β²``, ``z ~ N(0, 1)`` and
    ``h1, h2 ~ N(0, Γ_t²)`` of correlation ``r = α²/Γ_t²``, ``C = E[σ(h1)σ(h2)] = E_u φ(u)²``::

        μ0 = E σ(Γ z),   μ1 = E[z σ(Γ z)]/Γ,   a = μ1,   b = β μ1,
        v² = C − μ0² − α² μ1²,   s² = E σ(h)² − C − β² μ1².

    Both v² and s² are small differences at the ends of the t range. With the orthonormal Hermite
    coefficients ``ĉ_k = E[σ(Γz) He_k(z)]/√k!``, Mehler's formula gives ``C = Σ_k ĉ_k² r^k``, so
    ``v² = Σ_{k≥2} ĉ_k² r^k`` and ``s² = T − v²`` with ``T = Σ_{k≥2} ĉ_k² = E[(σ − μ0 − Γμ1 z)²]``.
    The series is used for ``r ≤ 1/2`` (large t; truncation after K orders ≤ ``r^{K+1} T``, Parseval);
    for ``r > 1/2`` (small t) ``C`` comes from a two-dimensional rule and
    ``s² = E[σ(h1)(σ(h1) − ψ(h1))] − β² μ1²`` with ``ψ(h1) = E[σ(h2) | h1]``.
    Results are cached on ``(activation, t, τ_Σ)`` when the activation is hashable.
    """
    if model.data.is_mixture:
        raise ValueError("data: a GaussianMixture has one set of constants per class; use "
                         "rfdiff.constants.class_coefficients(model) (docs/theory.md §12)")
    act, t, tau = model.activation, float(model.t), float(model.data.tau_sigma)
    try:
        hash(act)
    except TypeError:
        return _ge_coefficients(act, t, tau)
    return _ge_coefficients_cached(act, t, tau)


def class_coefficients(model) -> tuple:
    """Per-class Gaussian-equivalence constants of a model on Gaussian-mixture data (docs/theory.md §12).

    Class c enters only through ``Γ_c² = e^{-2t} τ_Σc + Δ_t``: its constants are those of the single-Gaussian
    model with ``τ_Σ = τ_Σc`` (:func:`ge_coefficients`), giving ``μ0_c, μ1_c, b_c = √Δ_t μ1_c, v_c², s_c²``.
    A model on single-Gaussian data returns a 1-tuple with :func:`ge_coefficients(model)`.

    Returns
    -------
    tuple of GECoefficients, one per class
    """
    data = model.data
    if not data.is_mixture:
        return (ge_coefficients(model),)
    act, t = model.activation, float(model.t)
    try:
        hash(act)
        fn = _ge_coefficients_cached
    except TypeError:
        fn = _ge_coefficients
    return tuple(fn(act, t, float(law.tau_sigma)) for law in data.laws)


def _ge_coefficients(act, t, tau) -> GECoefficients:
    e2t, delta_t = math.exp(-2.0 * t), -math.expm1(-2.0 * t)
    alpha2, beta2 = e2t * tau, delta_t
    if act.closed_form is not None:
        mu0, mu1, e_sigma2, v2, s2 = act.closed_form(alpha2, beta2)
    else:
        mu0, mu1, e_sigma2, v2, s2 = _quadrature(act, alpha2, beta2, alpha2 / (alpha2 + beta2) <= _R_SERIES)
    if (alpha2 + beta2) * mu1 * mu1 + v2 + s2 <= 1e-24 * e_sigma2:
        raise ValueError(f"activation {act.name} is constant on the law of h (μ1 = v_t² = s_t² = 0): "
                         "the random features carry no information")
    mu0, mu1 = float(mu0), float(mu1)
    return GECoefficients(mu0=mu0, mu1=mu1, a=mu1, b=math.sqrt(delta_t) * mu1,
                          v2=max(float(v2), 0.0), s2=max(float(s2), 0.0),
                          e2t=e2t, delta_t=delta_t, tau_sigma=tau)


_ge_coefficients_cached = lru_cache(maxsize=_CACHE_SIZE)(_ge_coefficients)


def _trapezoid(scale):
    """Rule for ``E f(z) ≈ Σ w_i f(z_i)``, z ~ N(0, 1), when f varies on the scale ``1/scale`` in z.

    The trapezoid rule on ``[−Z, Z]`` with step ``h = _STEP/max(1, scale)``: for f analytic in the strip
    ``|Im z| < d`` its error is ``O(e^{−2π d/h})`` (Trefethen & Weideman, SIAM Rev. 56 (2014) 385),
    far better than Gauss–Hermite, which needs ~1600 nodes for 1e-13 on tanh(Γz) at Γ² = 10
    (poles at ``d = π/(2Γ)``) where this rule needs ~300.
    """
    h = _STEP / max(1.0, scale)
    n = math.ceil(_Z_MAX / h)
    z = h * np.arange(-n, n + 1)
    return z, h * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=None)
def _gauss_legendre():
    return np.polynomial.legendre.leggauss(_N_LEGENDRE)


def _pieces_rule(breaks, scale):
    """Rules for ``E f(z)``, z ~ N(0, 1), when f is smooth between the points ``breaks``.

    ``breaks`` has shape ``(rows, m)``: one rule per row. ``[−Z, Z]`` is cut into pieces of width
    ``≤ _PIECE/max(1, scale)`` and at the row's breaks (clipped to the interval, so a break outside
    only adds an empty piece); each piece gets ``_N_LEGENDRE`` Gauss–Legendre nodes, and the weights
    carry the normal density. Returns nodes and weights of shape ``(rows, n)``.
    """
    breaks = np.atleast_2d(breaks)
    grid = np.linspace(-_Z_MAX, _Z_MAX, math.ceil(2 * _Z_MAX * max(1.0, scale) / _PIECE) + 1)
    edges = np.sort(np.concatenate([np.broadcast_to(grid, (breaks.shape[0], grid.size)),
                                    np.clip(breaks, -_Z_MAX, _Z_MAX)], axis=1), axis=1)
    x, w = _gauss_legendre()
    half, mid = 0.5 * np.diff(edges, axis=1), 0.5 * (edges[:, 1:] + edges[:, :-1])
    z = (mid[..., None] + half[..., None] * x).reshape(breaks.shape[0], -1)
    wz = (half[..., None] * w).reshape(z.shape) * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return z, wz


def _rule(act, scale, breaks=()):
    """Quadrature rule in z for ``E σ(scale · z + shift)``-type integrals (kink-aware if σ has kinks)."""
    if not act.kinks:
        return _trapezoid(scale)
    z, w = _pieces_rule(np.asarray(breaks, dtype=float), scale)
    return z[0], w[0]


def _graded(center, width):
    """Break points accumulating geometrically at ``center`` down to ``width`` (for a smoothed kink)."""
    steps = width * 2.0 ** np.arange(0, max(1, math.ceil(math.log2(1.0 / width)) + 1))
    return np.concatenate([center - steps, [center], center + steps])


def _evaluate(act, x):
    vals = np.asarray(act.fn(x), dtype=float)
    if vals.shape != x.shape or not np.all(np.isfinite(vals)):
        raise ValueError(f"activation {act.name} returned non-finite or misshaped values at quadrature nodes")
    return vals


def _conditional_mean(act, h, r, spread):
    """``ψ(h) = E[σ(h2) | h1 = h] = E_z σ(r h + ε z)``, ``ε = spread = Γ sqrt(1 − r²)``, at the points h."""
    kinks = np.asarray(act.kinks, dtype=float)
    if kinks.size == 0:
        z, w = _trapezoid(spread)
        return _evaluate(act, r * h[:, None] + spread * z[None, :]) @ w
    z, w = _pieces_rule((kinks[None, :] - r * h[:, None]) / spread, spread)
    return np.sum(w * _evaluate(act, r * h[:, None] + spread * z), axis=1)


def _hermite_coefficients(z, w, s, kmax):
    """``ĉ_k = Σ_i w_i s_i He_k(z_i)/√k!`` for k = 0..kmax (orthonormal Hermite recursion)."""
    coef = np.empty(kmax + 1)
    h_prev, h = np.zeros_like(z), np.ones_like(z)
    for k in range(kmax + 1):
        coef[k] = w @ (s * h)
        h_prev, h = h, (z * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
    return coef


def gaussian_integrals(activation, alpha2, beta2, *, method="auto"):
    """The Gaussian integrals ``(μ0, μ1, E σ², v², s²)`` of docs/theory.md §2 by quadrature, for
    ``α² = e^{-2t} τ_Σ`` and ``β² = Δ_t`` (see :func:`ge_coefficients`, Notes).

    Parameters
    ----------
    activation : str, Activation or callable
    alpha2, beta2 : float
        > 0.
    method : {"auto", "series", "direct"}
        How ``v²`` is obtained: the Hermite series ``Σ_{k≥2} ĉ_k² r^k`` (``r = α²/Γ²``), or the
        two-dimensional rule for ``C = E[σ(h1)σ(h2)]``; ``"auto"`` takes the series for ``r ≤ 1/2``. Both are
        accurate where both apply (tested), which is why the switch is free.
    """
    act = get_activation(activation)
    alpha2, beta2 = positive("alpha2", alpha2), positive("beta2", beta2)
    method = choice("method", method, ("auto", "series", "direct"))
    series = method == "series" or (method == "auto" and alpha2 / (alpha2 + beta2) <= _R_SERIES)
    return _quadrature(act, alpha2, beta2, series)


def _quadrature(act, alpha2, beta2, series):
    """``(μ0, μ1, E σ², v², s²)`` by quadrature, ``v²`` by the Hermite series or the 2-D rule."""
    g2 = alpha2 + beta2
    g, r = math.sqrt(g2), alpha2 / g2
    sin_theta = math.sqrt(beta2 / g2 * (1.0 + r))       # sqrt(1 − r²), with 1 − r = β²/Γ² exactly
    kinks = np.asarray(act.kinks, dtype=float)
    z, w = _rule(act, g, kinks / g)
    s = _evaluate(act, g * z)
    mu0, c1 = w @ s, w @ (z * s)
    e_sigma2 = w @ (s * s)
    resid = s - mu0 - c1 * z
    nonlinear = w @ (resid * resid)                      # T = Σ_{k≥2} ĉ_k²
    mu1 = c1 / g
    if series:
        coef = _hermite_coefficients(z, w, s, _K_SERIES)[2:]
        v2 = float(np.sum(coef * coef * r ** np.arange(2, _K_SERIES + 1)))
        return mu0, mu1, e_sigma2, v2, nonlinear - v2
    if kinks.size:
        # ψ varies on the scale sqrt(1 − r²)/r around z = kink/(r Γ): grade the outer rule there.
        breaks = [kinks / g] + [_graded(k / (r * g), sin_theta / r) for k in kinks]
        z, w = _rule(act, g, np.concatenate(breaks))
        s = _evaluate(act, g * z)
    psi = _conditional_mean(act, g * z, r, g * sin_theta)
    corr = w @ (s * psi)                                 # C = E[σ(h1) σ(h2)]
    v2 = corr - mu0 * mu0 - alpha2 * mu1 * mu1
    s2 = w @ (s * (s - psi)) - beta2 * mu1 * mu1
    return mu0, mu1, e_sigma2, v2, s2
