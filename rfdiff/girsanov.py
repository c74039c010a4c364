"""An upper bound on KL(data ‖ generated) per dimension along training, without sampling (docs/theory.md §13).

For the reverse SDE of ``dx = −x dt + √2 dB`` driven by a learned score ŝ_t instead of the true score s_t
(the drifts differ by ``2(ŝ − s)``, the diffusion is √2), Girsanov's theorem and the data-processing
inequality give, per dimension,

    KL(P_{t_1} ‖ Q_{t_1})/d ≤ KL(P_{t_K} ‖ N(0, I))/d + ∫_{t_1}^{t_K} E_score(t, τ) dt,

with ``E_score(t, τ) = (1/d) E_{P_t} ‖ŝ_t − s_t‖²`` the score error of the model trained to τ at time t
(:func:`rfdiff.loss_curves`). The constant in front of the integral is 1 (``½ |Δdrift|²/g² = ½·4/2``; it is
sharp, `derivations/generation.py`). :func:`kl_bound` evaluates the exact limiting score errors on a grid of
diffusion times and integrates them (trapezoid rule in log t); :func:`kl_bound_from_errors` does the same
for any table of score errors (e.g. a finite family's, :attr:`rfdiff.generate.ScoreFamily.score_error`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._results import Outcome, worst_status
from ._validate import taus as check_taus

__all__ = ["KLBound", "kl_bound", "kl_bound_from_errors", "start_kl"]


@dataclass(frozen=True, kw_only=True)
class KLBound(Outcome):
    """The bound of the module docstring as a curve over training time.

    Attributes
    ----------
    tau : ndarray, shape (T,)
    bound : ndarray, shape (T,)
        ``start + integral``: upper bound on ``KL(P_{t_1} ‖ generated at t_1)/d``.
    integral : ndarray, shape (T,)
        ``∫_{t_1}^{t_K} E_score(t, τ) dt`` (trapezoid in log t on the grid).
    start : float
        ``KL(P_{t_K} ‖ N(0, I))/d``, the price of starting the sampler at N(0, I).
    times : ndarray, shape (K,)
    score_error : ndarray, shape (T, K)
        ``E_score(t_k, τ_j)``.
    source : str
        ``"theory"`` or where the score errors came from.
    """

    tau: np.ndarray
    bound: np.ndarray
    integral: np.ndarray
    start: float
    times: np.ndarray
    score_error: np.ndarray
    source: str = "theory"

    def to_dict(self) -> dict:
        return {"tau": self.tau.tolist(), "bound": self.bound.tolist(), "integral": self.integral.tolist(),
                "start": self.start, "times": self.times.tolist(), "source": self.source,
                "diagnostics": {"status": self.status, "message": self.message}}


def start_kl(data, t: float, d=None) -> float:
    """``KL(P_t ‖ N(0, I))/d`` of the noised data law at time t.

    One centred Gaussian: ``½ ⟨λ − 1 − log λ⟩`` with ``λ = e^{-2t} σ + Δ_t`` the eigenvalues of Σ_t. A mixture:
    the class average of the same (an upper bound, by joint convexity of KL; centroids of O(1) norm add
    ``e^{-2t}‖μ_c‖²/(2d) → 0``). With ``d`` given, the average runs over ``data.eigenvalues(d)`` (or
    ``class_eigenvalues``) instead of the limiting law.
    """
    e2 = math.exp(-2.0 * t)
    dt = -math.expm1(-2.0 * t)

    def f(sigma):
        lam = e2 * np.asarray(sigma, dtype=np.float64) + dt
        x = lam - 1.0
        return 0.5 * (x - np.log1p(x))

    if d is None:
        return float(data.mean(f))
    if hasattr(data, "class_eigenvalues"):
        sig = np.asarray(data.class_eigenvalues(d), dtype=np.float64)
        return float(np.asarray(data.weights) @ f(sig).mean(axis=1))
    return float(np.mean(f(data.eigenvalues(d))))


def _integrate(times, values):
    """``∫ f dt`` over the grid by the trapezoid rule in ``u = log t`` (``f dt = f t du``), row-wise."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 1:
        return np.zeros(values.shape[0])
    return np.trapezoid(values * times[None, :], np.log(times), axis=1)


def kl_bound_from_errors(times, taus, score_error, start, *, source="simulation", status="ok",
                         message="") -> KLBound:
    """The bound from a table of score errors ``score_error[j, k] = E_score(t_k, τ_j)`` and the start term."""
    times = np.asarray(times, dtype=np.float64)
    tau = check_taus(taus)
    err = np.asarray(score_error, dtype=np.float64).reshape(tau.size, times.size)
    integral = _integrate(times, err)
    return KLBound(tau=tau, bound=start + integral, integral=integral, start=float(start), times=times,
                   score_error=err, source=source, status=status, message=message)


def kl_bound(model, taus, times=None, **options) -> KLBound:
    """Upper bound on ``KL(data ‖ generated)/d`` along training, from the exact score-error curves.

    Parameters
    ----------
    model : RFModel
        ψ_p, ψ_n, activation, data law, m, weight decay (``model.t`` is replaced by each time of the grid).
    taus : float or array_like
        Training times ≥ 0 (``np.inf`` allowed).
    times : array_like, optional
        Diffusion times t_1 < … < t_K of the score family (default
        :func:`rfdiff.generate.default_times`: 48 log-spaced times in [1e-3, 5]).
    **options
        ``tol``, ``max_nodes`` of :func:`rfdiff.loss_curves`.

    Returns
    -------
    KLBound
        ``status`` the worst of the K curves'; NaN where a curve failed.

    Notes
    -----
    docs/theory.md §13 (module docstring). The bound concerns the law at t_1 (before the final denoising
    step), in the high-dimensional limit at fixed ψ_p, ψ_n.

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> b = rd.kl_bound(rd.RFModel(psi_p=8, psi_n=2, t=0.1), [0.0, 1e3], times=np.geomspace(0.01, 4, 8))
    >>> bool(b.bound[0] > b.bound[1] > 0)
    True
    """
    from .curves import loss_curves
    from .generate.family import default_times
    from .generate.scores import check_times
    from .model import RFModel

    if not isinstance(model, RFModel):
        raise ValueError(f"model must be an rfdiff.RFModel, got {model!r}")
    tau = check_taus(taus)
    times = default_times() if times is None else check_times(times)
    errors = np.empty((tau.size, times.size))
    statuses, messages = [], []
    for k, t in enumerate(times):
        curves = loss_curves(model.replace(t=float(t)), tau, **options)
        errors[:, k] = curves.score_error
        statuses.append(curves.status)
        if curves.status != "ok" and curves.message:
            messages.append(f"t = {t:.3g}: {curves.message}")
    start = start_kl(model.data, float(times[-1]))
    return kl_bound_from_errors(times, tau, errors, start, source="theory", status=worst_status(*statuses),
                                message="; ".join(messages[:3]))
