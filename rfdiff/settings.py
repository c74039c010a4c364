"""Named default settings shared by the theory, the simulators' consumers, the CLI and the figures.

The default window of training times. A mode λ of U relaxes as ``e^{−κλτ}`` (``κ = 2Δ_t/ψ_p``,
docs/theory.md §1), so every mode is still frozen at ``τ = TAU_WINDOW[0]/(κ λ_max)`` and fully relaxed at
``τ = TAU_WINDOW[1]/(κ λ_min)``, with λ_min, λ_max the extreme edges of U's spectrum that carry weight
(the atom at s_t² carries none). Curves, timescale scans, simulations and figures all use this window.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["TAU_WINDOW", "SCAN_POINTS_PER_DECADE", "DIFFUSION_TIMES", "tau_window", "tau_grid", "default_times"]

#: ``(a, b)``: the default τ range is ``[a/(κ λ_max), b/(κ λ_min)]`` (e^{−0.01} ≈ 0.99 and e^{−100} ≈ 0).
TAU_WINDOW = (0.01, 100.0)
#: Points per decade of τ when a loss curve is scanned for its minimum and its memorization crossing.
SCAN_POINTS_PER_DECADE = 25
#: ``(t_min, t_max, count)`` of the default diffusion-time grid of a score family (docs/theory.md §13): log-spaced;
#: t_max = 5 leaves ``e^{-10} ≈ 5e-5`` between the law at t_K and the sampler's start N(0, I).
DIFFUSION_TIMES = (1e-3, 5.0, 48)


def tau_window(kappa: float, lambda_min: float, lambda_max: float) -> tuple[float, float]:
    """Default τ range ``(TAU_WINDOW[0]/(κ λ_max), TAU_WINDOW[1]/(κ λ_min))``.

    Parameters
    ----------
    kappa : float
        Relaxation rate per unit eigenvalue (``model.kappa`` for the theory; ``2Δ_t d/p`` at finite size).
    lambda_min, lambda_max : float
        Smallest and largest eigenvalue of U that carry weight (> 0).
    """
    if not (kappa > 0 and 0 < lambda_min <= lambda_max and math.isfinite(lambda_max)):
        raise ValueError(f"need kappa > 0 and 0 < lambda_min <= lambda_max < inf, got {kappa!r}, "
                         f"{lambda_min!r}, {lambda_max!r}")
    return TAU_WINDOW[0] / (kappa * lambda_max), TAU_WINDOW[1] / (kappa * lambda_min)


def tau_grid(lo: float, hi: float, points: int | None = None, *, with_inf: bool = False) -> np.ndarray:
    """Log-spaced τ grid on ``[lo, hi]``: ``points`` points, or :data:`SCAN_POINTS_PER_DECADE` per decade
    (at least 2) when ``points`` is None; ``with_inf`` appends τ = ∞."""
    if points is None:
        points = int(SCAN_POINTS_PER_DECADE * math.log10(hi / lo)) + 2
    grid = np.geomspace(lo, hi, points)
    return np.append(grid, np.inf) if with_inf else grid


def default_times(count=DIFFUSION_TIMES[2], t_min=DIFFUSION_TIMES[0], t_max=DIFFUSION_TIMES[1]) -> np.ndarray:
    """``count`` log-spaced diffusion times from ``t_min`` to ``t_max`` (defaults :data:`DIFFUSION_TIMES`)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    if not (0 < t_min < t_max < math.inf) and not (count == 1 and 0 < t_min == t_max < math.inf):
        raise ValueError(f"need 0 < t_min < t_max < inf, got t_min={t_min!r}, t_max={t_max!r}")
    return np.geomspace(t_min, t_max, count)
