"""Spectral filters of the closed-form gradient flow, shared by the finite-size simulators."""
from __future__ import annotations

import numpy as np


def flow_filters(lam, kappa, taus):
    """``f_τ(λ) = (1 − e^{−κλτ})/λ`` and ``g_τ(λ) = (1 − e^{−2κλτ})/λ`` for every τ and eigenvalue λ.

    Parameters
    ----------
    lam : ndarray, shape (p,)
        Eigenvalues of U.
    kappa : float
        Relaxation rate per unit eigenvalue, ``κ = 2Δ_t d/p`` (docs/theory.md §1).
    taus : array_like
        Training times ≥ 0 (``np.inf`` allowed: ``f_∞ = g_∞ = 1/λ``).

    Returns
    -------
    tau : ndarray, shape (k,)
    f, g : ndarray, shape (k, p)

    Notes
    -----
    Eigenvalues ``λ ≤ p ε max|λ|`` are null modes of U; since ``U ⪰ b²K`` a null mode has ``Vᵀq = 0``
    and carries no weight, so ``f = g = 0`` there (this keeps the linear activation finite at τ = ∞).
    """
    tau = np.asarray(taus, dtype=np.float64)
    if tau.ndim > 1:
        raise ValueError(f"taus must be a scalar or a 1-D array, got shape {tau.shape}")
    tau = np.atleast_1d(tau)
    if np.any(np.isnan(tau)) or np.any(tau < 0):
        raise ValueError("taus must be >= 0 (inf allowed) and not NaN")
    live = lam > lam.size * np.finfo(np.float64).eps * np.max(np.abs(lam))
    x = kappa * tau[:, None] * lam[None, live]          # κλτ, inf where τ = inf
    f = np.zeros((tau.size, lam.size))
    g = np.zeros((tau.size, lam.size))
    f[:, live] = -np.expm1(-x) / lam[live]
    g[:, live] = -np.expm1(-2.0 * x) / lam[live]
    return tau, f, g
