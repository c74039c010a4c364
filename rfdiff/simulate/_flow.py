"""Closed-form gradient flow of one finite model, shared by every finite-size simulator (docs/theory.md §3).

A simulator (Gaussian-equivalent matrices, true features with exact noise averages or m frozen draws)
only computes four matrices — the train feature covariance ``U`` (p×p), the feature–noise correlation
``V`` (p×d), and their population counterparts ``U_pop``, ``V_pop`` — and hands them to
:class:`ClosedFormFlow`, which does everything else once: eigendecompose U, filter by the flow, contract
with V and U_pop, and evaluate the losses at any training time or for any read-out A.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.linalg

from ..results import LossCurves
from .._threads import blas_threads
from .._validate import taus as check_taus

__all__ = ["ClosedFormFlow", "FlowMethods", "flow_filters"]

#: Block size of LAPACK's tridiagonal reduction (``dsytrd``): the largest products of ``eigh`` are the p × 32 × p
#: panel updates, so it runs one BLAS thread up to p ≈ 5600 (rfdiff._threads); next to other jobs two threads
#: made it 2× slower at p = 800–1600; on an idle machine they are only somewhat faster (tests/conftest.py).
_EIGH_BLOCK = 32


def flow_filters(lam, kappa, taus, weight_decay=0.0):
    """``f_τ(λ) = (1 − e^{−κλτ})/λ`` and ``g_τ(λ) = (1 − e^{−2κλτ})/λ`` for every τ and eigenvalue λ.

    With weight decay ω > 0 the flow sees ``U + ω I``: ``f_τ(λ + ω)`` and ``g_τ(λ + ω)`` are returned.

    Parameters
    ----------
    lam : ndarray, shape (p,)
        Eigenvalues of U.
    kappa : float
        Relaxation rate per unit eigenvalue, ``κ = 2Δ_t d/p`` (docs/theory.md §1).
    taus : array_like
        Training times ≥ 0 (``np.inf`` allowed: ``f_∞ = g_∞ = 1/λ``).
    weight_decay : float
        ω ≥ 0 (docs/theory.md §11).

    Returns
    -------
    tau : ndarray, shape (k,)
    f, g : ndarray, shape (k, p)

    Notes
    -----
    Eigenvalues ``λ ≤ p ε max|λ|`` are null modes of U. Every simulator's U dominates ``V Vᵀ``-directions
    (``U ⪰ b²K`` for the Gaussian equivalent, Cauchy–Schwarz for the true features), so a null mode has
    ``Vᵀq = 0`` and carries no weight: ``f = g = 0`` there (this keeps the linear activation finite at τ = ∞).
    """
    tau = check_taus(taus)
    live = lam > lam.size * np.finfo(np.float64).eps * np.max(np.abs(lam))
    lam = lam + weight_decay
    x = kappa * tau[:, None] * lam[None, live]          # κλτ, inf where τ = inf
    f = np.zeros((tau.size, lam.size))
    g = np.zeros((tau.size, lam.size))
    f[:, live] = -np.expm1(-x) / lam[live]
    g[:, live] = -np.expm1(-2.0 * x) / lam[live]
    return tau, f, g


class ClosedFormFlow:
    """Gradient flow ``dA/dτ = −d² ∇_A L_train`` from ``A = 0`` of one finite model, in closed form.

    Parameters
    ----------
    U, V : ndarray, shapes (p, p) and (p, d)
        Train feature covariance ``(1/n) Σ_ν E_ξ σσᵀ`` and feature–noise correlation ``(1/n) Σ_ν E_ξ σ ξᵀ``
        (or their averages over frozen noise draws).
    U_pop, V_pop : ndarray, shapes (p, p) and (p, d)
        The same expectations over fresh data (``y ~ N(0, Σ_t)``).
    delta_t : float
        Noise variance ``Δ_t = 1 − e^{−2t}``.
    inv_sigma_t : float
        ``Tr Σ_t^{-1}/d`` (enters the score error).
    weight_decay : float
        ω ≥ 0: the penalty ``ω Δ_t ‖A‖²_F/(p d)`` is added to the training objective, so the flow sees
        ``U + ω I`` (docs/theory.md §11); the reported train loss is the data part only.
    noise_trace : float
        ``Tr S/d`` with ``S`` the second moment of the training noise (1 for exact noise averages,
        ``(1/(N d)) Σ ‖ξ‖²`` for N frozen draws): the train loss of ``A = 0``.
    model : RFModel, optional
        Recorded in the curves it returns.
    source : str
        Name of the simulator, recorded in the curves (e.g. ``"gaussian_equivalent"``).
    size : FiniteSize, optional
        The simulation's ``d``, ``p``, ``n``, recorded in the curves.

    Notes
    -----
    docs/theory.md §3. With ``B = A/√p``, the losses are quadratic in A,

    * ``L(A) = L(0) + Δ_t/(p d) Tr(A M Aᵀ) + 2√Δ_t/(d√p) Tr(A N)`` with ``(M, N) = (U, V)`` for the train
      loss (``L(0) = Tr S/d``) and ``(U_pop, V_pop)`` for the test loss (``L(0) = 1``);
    * ``E_score(A) = (L_test(A) − 1)/Δ_t + Tr Σ_t^{-1}/d``, because ``V_pop = √Δ_t E[σ(Wy/√d) yᵀ] Σ_t^{-1}``
      (Stein's lemma on the noise part of ``y``);

    and the flow gives ``A(τ) = −√(p/Δ_t) Vᵀ f_τ(U + ω)`` with ``κ = 2Δ_t d/p``, so with ``U = Q diag(λ) Qᵀ``

    * ``L_train(τ) = Tr S/d − (1/d) Σ_i g_τ(λ_i) (QᵀV VᵀQ)_ii`` without weight decay, and
      ``Tr S/d + (1/d) Σ_i [λ_i f_τ(λ_i + ω)² − 2 f_τ(λ_i + ω)] (QᵀV VᵀQ)_ii`` with it,
    * ``L_test(τ) = 1 + (1/d) Σ_ij f_τ(λ_i) f_τ(λ_j) (QᵀVVᵀQ)_ij (QᵀU_popQ)_ij − (2/d) Σ_i f_τ(λ_i) (QᵀV V_popᵀQ)_ii``.

    The eigendecomposition (``scipy.linalg.eigh``) and the projections are computed on first use and
    cached; afterwards each τ costs O(p²).
    """

    def __init__(self, U, V, U_pop, V_pop, *, delta_t, inv_sigma_t, weight_decay=0.0, noise_trace=1.0, model=None,
                 source="simulation", size=None):
        self.U = np.asarray(U, dtype=np.float64)
        self.V = np.asarray(V, dtype=np.float64)
        self.U_pop = np.asarray(U_pop, dtype=np.float64)
        self.V_pop = np.asarray(V_pop, dtype=np.float64)
        self.p, self.d = self.V.shape
        if self.U.shape != (self.p, self.p) or self.U_pop.shape != self.U.shape or self.V_pop.shape != self.V.shape:
            raise ValueError(f"U, U_pop must be p×p and V, V_pop p×d with p, d = {self.p}, {self.d}; got "
                             f"{self.U.shape}, {self.U_pop.shape}, {self.V.shape}, {self.V_pop.shape}")
        self.delta_t = float(delta_t)
        self.inv_sigma_t = float(inv_sigma_t)
        self.kappa = 2.0 * self.delta_t * self.d / self.p
        self.weight_decay = float(weight_decay)
        self.noise_trace = float(noise_trace)
        self.model = model
        self.source = source
        self.size = size

    @cached_property
    def eigh(self):
        """``(λ, Q)`` with ``U = Q diag(λ) Qᵀ``, λ ascending."""
        with blas_threads(_EIGH_BLOCK * self.p ** 2):
            return scipy.linalg.eigh(self.U)

    @cached_property
    def _projections(self):
        """``(QᵀU_popQ) ∘ (QᵀV VᵀQ)`` and the diagonals ``(QᵀVVᵀQ)_ii``, ``(QᵀV V_popᵀQ)_ii``."""
        Q = self.eigh[1]
        with blas_threads(self.p ** 3):
            Vq = Q.T @ self.V
            H = (Q.T @ self.U_pop @ Q) * (Vq @ Vq.T)
            w_train = np.einsum("ij,ij->i", Vq, Vq)
            w_cross = np.einsum("ij,ij->i", Vq, Q.T @ self.V_pop)
        return H, w_train, w_cross

    def filters(self, taus):
        """``(τ, f_τ, g_τ)`` on the eigenvalues of ``U + ω`` (:func:`flow_filters`)."""
        return flow_filters(self.eigh[0], self.kappa, taus, self.weight_decay)

    def loss_curves(self, taus) -> LossCurves:
        """Train, test and score-error curves at the training times ``taus`` (``np.inf`` allowed)."""
        tau, f, g = self.filters(taus)
        H, w_train, w_cross = self._projections
        with blas_threads(tau.size * self.p ** 2):
            quad = np.einsum("ki,ki->k", f @ H, f)
        if self.weight_decay:
            train = self.noise_trace + ((self.eigh[0] * f - 2.0) * f) @ w_train / self.d
        else:
            train = self.noise_trace - (g @ w_train) / self.d
        test = 1.0 + (quad - 2.0 * (f @ w_cross)) / self.d
        score = (test - 1.0) / self.delta_t + self.inv_sigma_t
        return LossCurves(tau, train, test, score, test - train, source=self.source, model=self.model,
                          size=self.size)

    def population_curves(self, taus, parts, source=None) -> tuple:
        """Loss curves of the same trained read-out A(τ) on other data sets (e.g. each class of a mixture).

        Parameters
        ----------
        taus : array_like
        parts : sequence of dict
            One per data set, with keys ``U_pop``, ``V_pop`` (its population feature covariance and
            feature–noise correlation), ``inv_sigma_t`` and optionally ``U_train``, ``V_train`` (the same on its
            training points, ``noise_trace`` their ``L(A = 0)``, default 1); without them ``train`` is NaN.

        Returns
        -------
        tuple of LossCurves
            ``test = 1 + (1/d) Tr[Vᵀ f_τ U_pop f_τ V] − (2/d) Tr[V_popᵀ f_τ V]``, ``train`` the same with
            ``(U_train, V_train)`` and start ``noise_trace`` (docs/theory.md §3, §12).
        """
        tau, f, _ = self.filters(taus)
        Q = self.eigh[1]
        Vq = Q.T @ self.V
        VV = Vq @ Vq.T
        out = []

        def change(M, N):
            H = (Q.T @ np.asarray(M, dtype=np.float64) @ Q) * VV
            w = np.einsum("ij,ij->i", Vq, Q.T @ np.asarray(N, dtype=np.float64))
            return (np.einsum("ki,ki->k", f @ H, f) - 2.0 * (f @ w)) / self.d

        for part in parts:
            with blas_threads(self.p ** 3):
                test = 1.0 + change(part["U_pop"], part["V_pop"])
                if "U_train" in part:
                    train = part.get("noise_trace", 1.0) + change(part["U_train"], part["V_train"])
                else:
                    train = np.full(tau.shape, np.nan)
            score = (test - 1.0) / self.delta_t + float(part["inv_sigma_t"])
            out.append(LossCurves(tau, train, test, score, test - train, source=source or self.source,
                                  model=self.model, size=self.size))
        return tuple(out)

    def weights(self, tau) -> np.ndarray:
        """Read-out ``A(τ) = −√(p/Δ_t) Vᵀ f_τ(U + ω)`` (d×p) at one training time."""
        _, f, _ = self.filters([float(tau)])
        Q = self.eigh[1]
        return -math.sqrt(self.p / self.delta_t) * ((self.V.T @ Q) * f[0]) @ Q.T

    def losses(self, A):
        """``(L_train, L_test, E_score)`` of any read-out ``A`` (d×p), e.g. one reached by explicit training
        (the train loss is its data part, without the weight-decay penalty)."""
        A = np.asarray(A, dtype=np.float64)
        out = []
        for M, N, start in ((self.U, self.V, self.noise_trace), (self.U_pop, self.V_pop, 1.0)):
            quad = np.einsum("ij,ij->", A @ M, A)         # Tr(A M Aᵀ)
            lin = np.einsum("ij,ji->", A, N)              # Tr(A N)
            out.append(start + self.delta_t / (self.p * self.d) * quad
                       + 2.0 * math.sqrt(self.delta_t) / (self.d * math.sqrt(self.p)) * lin)
        train, test = out
        return train, test, (test - 1.0) / self.delta_t + self.inv_sigma_t


class FlowMethods:
    """What every finite-size simulator offers once it has a :class:`ClosedFormFlow` in ``self.flow``."""

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of U, ascending (``scipy.linalg.eigh``, cached)."""
        return self.flow.eigh[0]

    def weights(self, tau) -> np.ndarray:
        """Trained read-out ``A(τ) = −√(p/Δ_t) Vᵀ f_τ(U + ω)`` (d×p), gradient flow from A(0) = 0
        (docs/theory.md §3, §11)."""
        return self.flow.weights(tau)

    def loss_curves(self, taus) -> LossCurves:
        """Exact gradient-flow train, test and score-error curves of this finite model.

        Parameters
        ----------
        taus : array_like of float
            Training times ≥ 0 (``np.inf`` allowed), convention ``dA/dτ = −d² ∇_A L_train``, A(0) = 0.

        Returns
        -------
        LossCurves
            ``source`` names the simulator.

        Notes
        -----
        docs/theory.md §3, §9–11, evaluated by :class:`ClosedFormFlow`: ``L_train = Tr S/d − (1/d) Tr[Vᵀ g_τ(U)
        V]`` (the data part, with weight decay, of the objective), ``L_test = 1 + (1/d) Tr[Vᵀ f_τ U_pop f_τ V]
        − (2/d) Tr[V_popᵀ f_τ V]`` and ``E_score = (L_test − 1)/Δ_t + Tr Σ_t^{-1}/d`` (because
        ``V_pop = √Δ_t E[σ(Wy/√d) yᵀ] Σ_t^{-1}``), with ``κ = 2Δ_t d/p``. Null modes of U (``λ ≤ p ε max|λ|``)
        carry no weight and are dropped, which keeps the linear activation finite at τ = ∞.
        """
        return self.flow.loss_curves(taus)

    def score_error(self, taus) -> np.ndarray:
        """``E_score(τ) = (1/d) E_y ‖s_{A(τ)}(y) − s*(y)‖²``, y ~ N(0, Σ_t) (see :meth:`loss_curves`)."""
        return self.loss_curves(taus).score_error
