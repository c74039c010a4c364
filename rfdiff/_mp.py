"""Compiled Marchenko–Pastur transforms, shared by the data law and the spectral solver.

One copy of the closed forms (docs/theory.md §4 needs the averages ``⟨σ^k/(α + βσ)^j⟩`` of ρ_Σ; for
the Marchenko–Pastur law they follow from G and H below). :class:`rfdiff.data.MarchenkoPastur`
calls :func:`mp_transforms_array`, the solver's kernels call :func:`mp_transforms` directly.

This module imports numba; :mod:`rfdiff.data` imports it lazily (only when a transform is evaluated).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["mp_transforms", "mp_transforms_array"]


@nb.njit(cache=True)
def mp_transforms(zeta, ratio, scale):
    """``G(ζ), G'(ζ), H(ζ), H'(ζ)`` of the Marchenko–Pastur law of ratio γ and mean ``scale`` s.

    .. math::

        G(ζ) = \\Big\\langle \\frac{1}{σ − ζ} \\Big\\rangle = \\frac{2}{s(1−γ) − ζ − r(ζ)}, \\qquad
        H(ζ) = \\Big\\langle \\frac{σ}{σ − ζ} \\Big\\rangle = \\frac{−2s}{ζ − s(1+γ) + r(ζ)},

        G'(ζ) = −\\frac{γ s G^2 + G}{r(ζ)}, \\qquad H'(ζ) = −\\frac{H}{r(ζ)},

    with ``r(ζ) = sqrt(ζ − a)·sqrt(ζ − b)`` (principal roots, cut on the support ``[a, b]``,
    ``a, b = s(1 ∓ √γ)²``, ``r ~ ζ`` at infinity). G and H are the roots of
    ``γsζG² − (s(1−γ) − ζ)G + 1 = 0`` and ``γsH² + (ζ − s(1+γ))H + s = 0`` that vanish at infinity,
    written without cancellation at large ``|ζ|``.

    Parameters
    ----------
    zeta : complex
    ratio, scale : float
        γ ∈ (0, 1] and s > 0.

    Returns
    -------
    G, dG, H, dH : complex
    """
    r = math.sqrt(ratio)
    lo = scale * (1.0 - r) ** 2
    hi = scale * (1.0 + r) ** 2
    root = np.sqrt(zeta - lo) * np.sqrt(zeta - hi)
    G = 2.0 / (scale * (1.0 - ratio) - zeta - root)
    H = -2.0 * scale / (zeta - scale * (1.0 + ratio) + root)
    return G, -(ratio * scale * G * G + G) / root, H, -H / root


@nb.njit(cache=True)
def mp_transforms_array(zeta, ratio, scale):
    """:func:`mp_transforms` at every point of a 1-D complex array; returns a ``(4, n)`` array
    whose rows are ``G, G', H, H'``."""
    n = zeta.size
    out = np.empty((4, n), np.complex128)
    for i in range(n):
        G, dG, H, dH = mp_transforms(zeta[i], ratio, scale)
        out[0, i] = G
        out[1, i] = dG
        out[2, i] = H
        out[3, i] = dH
    return out
