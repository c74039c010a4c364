"""An upper bound on KL(data ‖ generated) per dimension along training, without sampling (docs/theory.md §13).

For the reverse SDE of ``dx = −x dt + √2 dB`` driven by a learned score ŝ_t instead of the true score s_t
(the drifts differ by ``2(ŝ − s)``, the diffusion is √2), Girsanov's theorem and the data-processing
inequality give, per dimension,

    KL(P_{t_1} ‖ Q_{t_1})/d ≤ KL(P_{t_K} ‖ N(0, I))/d + ∫_{t_1}^{t_K} E_score(t, τ) dt,

with ``E_score(t, τ) = (1/d) E_{P_t} ‖ŝ_t − s_t‖²`` the score error of the model trained to τ at time t
(:func:`rfdiff.loss_curves`). The constant in front of the integral is 1 (``½ |Δdrift|²/g² = ½·4/2``; it is
sharp, `derivations/generation.py`). :func:`kl_bound` evaluates the exact limiting score errors of a model on
a grid of diffusion times, or takes a finite family's own (:attr:`rfdiff.generate.ScoreFamily.score_error`),
and integrates them (trapezoid rule in log t); :func:`kl_bound_from_errors` does the same for any table.
This module is theory (it solves for the limiting curves); it reads a family by its attributes only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validate import diffusion_times
from ._validate import taus as check_taus
from .results import Result, worst_status
from .settings import default_times

__all__ = ["KLBound", "kl_bound", "kl_bound_from_errors", "start_kl"]


@dataclass(frozen=True, kw_only=True)
class KLBound(Result):
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
    sig = np.asarray(data.class_eigenvalues(d), dtype=np.float64)
    return float(np.asarray(data.class_weights, dtype=np.float64) @ f(sig).mean(axis=1))


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


def _family_bound(family) -> KLBound:
    """The bound from a finite family's own (exact population) score errors (docs/theory.md §13)."""
    t = float(family.times[-1])
    start = start_kl(family.model.data, t, d=family.d)
    w = np.asarray(family.class_weights, dtype=np.float64)
    w = w / w.sum()
    start += math.exp(-2.0 * t) * float(w @ np.sum(np.asarray(family.centroids) ** 2, axis=1)) / (2 * family.d)
    err = np.asarray(family.score_error, dtype=np.float64)
    bad = bool(np.any(np.isnan(err)))
    return kl_bound_from_errors(family.times, family.taus, err, start, source=f"{family.simulator}, d = {family.d}",
                                status="failed" if bad else "ok", message="some score errors are NaN" if bad else "")


def kl_bound(model, taus=None, times=None, **options) -> KLBound:
    """Upper bound on ``KL(data ‖ generated)/d`` along training, from exact score-error curves.

    Parameters
    ----------
    model : RFModel or ScoreFamily
        A model: the limiting (d → ∞) score errors of ``loss_curves(model.replace(t=t_k), taus)`` at every time
        of the grid (``model.t`` is replaced). A :class:`rfdiff.generate.ScoreFamily`: its own finite-size score
        errors at its times and taus (``taus``, ``times`` must then be omitted); the start term is taken over
        the sampled eigenvalues, plus the centroids' ``e^{-2t}‖μ_c‖²/(2d)`` for a mixture.
    taus : float or array_like
        Training times ≥ 0 (``np.inf`` allowed), for a model.
    times : array_like, optional
        Diffusion times t_1 < … < t_K (default :func:`rfdiff.settings.default_times`: 48 log-spaced times in
        [1e-3, 5]), for a model.
    **options
        ``tol``, ``max_nodes`` of :func:`rfdiff.loss_curves`.

    Returns
    -------
    KLBound
        ``status`` the worst of the K curves'; NaN where a curve failed.

    Notes
    -----
    docs/theory.md §13 (module docstring). The bound concerns the law at t_1 (before the final denoising
    step). A family's bound integrates its score errors on its own grid, so it is the bound of the
    continuous-time family up to that quadrature (measured 0.1% at 48 times, 2.5% at 32 times in [0.01, 4] for
    a linear family at τ = ∞, where the bound is attained).

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> b = rd.kl_bound(rd.RFModel(psi_p=8, psi_n=2, t=0.1), [0.0, 1e3], times=np.geomspace(0.01, 4, 8))
    >>> bool(b.bound[0] > b.bound[1] > 0)
    True
    """
    from .dynamics import loss_curves
    from .model import RFModel

    if hasattr(model, "score_error") and hasattr(model, "train_points"):
        if taus is not None or times is not None or options:
            raise ValueError("kl_bound(family) takes no taus, times or options: the family has its own")
        return _family_bound(model)
    if not isinstance(model, RFModel):
        raise ValueError(f"model must be an rfdiff.RFModel or a ScoreFamily, got {model!r}")
    if taus is None:
        raise ValueError("taus are required with a model")
    tau = check_taus(taus)
    times = default_times() if times is None else diffusion_times(times)
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
