"""The integration contour of the loss curves: one ellipse in ``log z`` around each group of bulks of U
(docs/theory.md §6).

The curves are contour integrals of analytic functions of z whose only singularities on the contour's
side are U's bulks; the trapezoid rule on an ellipse in ``w = log z`` converges geometrically, like
``e^{−μ n}`` with μ the ellipse's parameter, uniformly in the training time τ (:func:`ellipses`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .results import ThresholdError

__all__ = ["Ellipse", "ellipses", "ELLIPSE_MU_MAX"]

#: Largest ellipse parameter μ (the rule converges like e^{−μn}; beyond ~6 the ellipse is needlessly fat).
ELLIPSE_MU_MAX = 6.0


@dataclass(frozen=True)
class Ellipse:
    """Ellipse ``w(θ) = c + L cosh μ cos θ + i L sinh μ sin θ`` in ``w = log(z + shift)`` around one group of
    bulks."""

    intervals: tuple
    c: float
    L: float
    mu: float
    shift: float = 0.0

    def nodes(self, n):
        """``z_j`` and weights ``h_j`` with ``(1/2πi)∮ F dz ≈ Σ F(z_j) h_j`` (trapezoid, θ_j = 2πj/n)."""
        theta = 2 * np.pi * np.arange(n) / n
        ch, sh = self.L * math.cosh(self.mu), self.L * math.sinh(self.mu)
        u = np.exp(self.c + ch * np.cos(theta) + 1j * sh * np.sin(theta))          # u = z + shift
        dw = -ch * np.sin(theta) + 1j * sh * np.cos(theta)
        return u - self.shift, u * dw / (1j * n)


def ellipses(sup, shift=0.0):
    """One ellipse per group of bulks; atoms > 0 are kept outside unless merged into a group.

    The variable is ``w = log(z + shift)``, with ``shift = ω`` the weight decay: the flow's filters are
    functions of ``z + ω`` (``f_τ(z) = (1 − e^{−κτ(z+ω)})/(z + ω)``), whose only singularity, at ``z = −ω``, is
    sent to ``w = −∞``. Without weight decay a bulk reaching λ = 0 (the interpolation threshold ``p = n·m``
    with m frozen draws) cannot be enclosed — the ridgeless end point diverges there — and
    :class:`~rfdiff.results.ThresholdError` is raised; with ω > 0 the whole spectrum lies at ``z + ω ≥ ω > 0``.

    Items (bulks, and atoms as zero-length items) are taken in ``log(λ + shift)``; neighbours closer than the
    larger half-length of the two are grouped (a thin gap would make the separating ellipses converge
    slowly); groups made of atoms only are dropped (atoms carry no μ_W weight and no
    pole of ``g_W`` or ``T``, docs/theory.md §3). Each ellipse has foci at its group's ends and the parameter
    ``μ`` half-way to the nearest obstacle: the next item on the real axis, or ``|Im w| = π/2`` (beyond
    which ``e^{−κτ(z+ω)}`` grows), so the trapezoid rule converges like ``e^{−μ n}`` uniformly in τ.
    """
    shift = float(shift)
    items = [(math.log(lo + shift), math.log(hi + shift), ((lo, hi),)) for lo, hi in sup.intervals
             if lo + shift > 0]
    if len(items) != len(sup.intervals):
        raise ThresholdError("a bulk of U reaches λ = 0: with m frozen draws and no weight decay this is the "
                             "interpolation threshold p = n·m (psi_p = m·psi_n), where the ridgeless end point "
                             "diverges; give a weight decay > 0, or move psi_p or psi_n off it (e.g. by 0.1%)")
    items += [(math.log(loc + shift), math.log(loc + shift), ()) for loc, _ in sup.atoms if loc + shift > 0]
    items.sort()
    groups = [list(items[0])]
    for lo, hi, iv in items[1:]:
        g = groups[-1]
        if lo - g[1] < max(g[1] - g[0], hi - lo) / 2:
            g[1], g[2] = max(g[1], hi), g[2] + iv
        else:
            groups.append([lo, hi, iv])
    out = []
    for i, (lo, hi, iv) in enumerate(groups):
        if not iv:
            continue
        L = max(0.5 * (hi - lo), 1e-9)
        gap = min(lo - groups[i - 1][1] if i > 0 else np.inf,
                  groups[i + 1][0] - hi if i + 1 < len(groups) else np.inf)
        mu_lim = min(math.acosh(1 + gap / L) if np.isfinite(gap) else np.inf,
                     math.asinh(0.5 * math.pi / L), ELLIPSE_MU_MAX)
        out.append(Ellipse(iv, 0.5 * (lo + hi), L, 0.5 * mu_lim, shift))
    return out
