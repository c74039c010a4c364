"""Reverse-time sampler of the forward process ``dx = −x dt + √2 dB`` (docs/theory.md §13).

Samples start from N(0, I) at the largest time t_K of a score schedule, move down the schedule's grid one
step per interval with an exponential-integrator step, and end with Tweedie's denoising step at t_1.
Samples are computed in batches (rows), each score call being two BLAS products for a random-features
score. Randomness: samples come in fixed blocks of :data:`BLOCK` rows, block j drawing its start and its
step noises from its own stream ``SeedSequence(seed, spawn_key=(STREAM, j))`` in a fixed order, so a sample
does not depend on the batch size or on how many samples are drawn after it (``STREAM`` keeps these streams
apart from the simulators' children of the same seed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._progress import progress_bar
from .._threads import blas_threads
from .._validate import choice, integer, memory
from ..results import Result
from .scores import ScoreSchedule, delta

__all__ = ["BLOCK", "METHODS", "INTEGRATORS", "Samples", "log_snr", "sample", "step_coefficients"]

#: Rows per random stream (fixed: results do not depend on the batch size).
BLOCK = 64
#: First spawn-key entry of the sampler's streams (the simulators use 1–6 under the same seed).
STREAM = 100
#: ``"sde"``: reverse SDE; ``"ode"``: probability-flow ODE.
METHODS = ("sde", "ode")
#: Step rules: ``"2m"`` (default) the second-order multistep exponential integrator on the denoiser,
#: ``"denoiser"`` its first-order version (denoiser held fixed over a step), ``"score"`` the score held fixed.
INTEGRATORS = ("2m", "denoiser", "score")
#: Default bound on the work arrays of one batch (bytes).
BATCH_BYTES = 64 * 2 ** 20


@dataclass(frozen=True, kw_only=True)
class Samples(Result):
    """Generated samples and how they were drawn.

    Attributes
    ----------
    x : ndarray, shape (N, d)
        The samples (rows), after the final denoising step when ``denoised``.
    method, integrator : str
    seed : int
    times : ndarray
        The schedule's grid (steps go from ``times[-1]`` down to ``times[0]``).
    denoised : bool
    schedule : dict
        ``schedule.describe()`` of the score used.
    status, message
        :class:`~rfdiff.results.Result`: ``"failed"`` if a sample is not finite.
    """

    x: np.ndarray
    method: str
    integrator: str
    seed: int
    times: np.ndarray
    denoised: bool
    schedule: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {"n_samples": int(self.x.shape[0]), "d": int(self.x.shape[1]), "method": self.method,
                "integrator": self.integrator, "seed": self.seed, "times": self.times.tolist(),
                "denoised": self.denoised, "schedule": self.schedule,
                "diagnostics": {"status": self.status, "message": self.message}}


def log_snr(t):
    """``λ_t = log(e^{-t}/√Δ_t)``, the log signal-to-noise ratio of the forward process (decreasing in t)."""
    t = np.asarray(t, dtype=np.float64)
    return -t - 0.5 * np.log(-np.expm1(-2.0 * t))


def step_coefficients(t_from: float, t_to: float, method: str, integrator: str):
    """``(a, b, c)`` of one step from ``t_from`` down to ``t_to``.

    ``integrator="score"``: ``x ← a x + b s_{t_from}(x) + c z``; otherwise ``x ← a x + b x̂_0 + c z`` with
    ``x̂_0 = e^{t}(x + Δ_t s_t(x))`` Tweedie's denoiser at ``t_from`` (the ``"2m"`` rule replaces x̂_0 by its
    extrapolation, :func:`sample`).

    Notes
    -----
    docs/theory.md §13, with ``h = t_from − t_to``, ``α = e^{-t}``, ``σ = √Δ_t`` and ``η = λ_to − λ_from > 0``
    (:func:`log_snr`):

    * ``"score"`` (score held fixed, the linear part integrated exactly): SDE
      ``(e^h, 2(e^h − 1), √(e^{2h} − 1))``, ODE ``(e^h, e^h − 1, 0)``;
    * ``"denoiser"``/``"2m"`` (x̂_0 held fixed; exact for a one-point law): SDE ``(σ_to/σ_from · e^{-η},
      α_to (1 − e^{-2η}), σ_to √(1 − e^{-2η}))`` — the posterior ``q(x_to | x_from, x_0 = x̂_0)`` —, ODE
      ``(σ_to/σ_from, α_to (1 − e^{-η}), 0)``.
    """
    if integrator == "score":
        h = t_from - t_to
        eh = math.exp(h)
        if method == "sde":
            return eh, 2.0 * math.expm1(h), math.sqrt(math.expm1(2.0 * h))
        return eh, math.expm1(h), 0.0
    eta = float(log_snr(t_to) - log_snr(t_from))
    s_from, s_to, a_to = math.sqrt(float(delta(t_from))), math.sqrt(float(delta(t_to))), math.exp(-t_to)
    if method == "sde":
        return s_to / s_from * math.exp(-eta), -a_to * math.expm1(-2.0 * eta), s_to * math.sqrt(-math.expm1(-2.0 * eta))
    return s_to / s_from, -a_to * math.expm1(-eta), 0.0


def _block_streams(seed, first, last):
    return [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM, j))) for j in range(first, last)]


def _draw(streams, sizes, d):
    return np.concatenate([g.standard_normal((m, d)) for g, m in zip(streams, sizes)])


def sample(scores: ScoreSchedule, n_samples: int, *, method="sde", integrator="2m", seed=0,
           denoise=True, batch_size=None, progress=None) -> Samples:
    """Draw samples by running the reverse process with a score schedule.

    Parameters
    ----------
    scores : ScoreSchedule
        E.g. ``family.at(tau)`` (:class:`rfdiff.generate.ScoreFamily`), :func:`exact_score`,
        :func:`empirical_score`.
    n_samples : int
        Number of samples N ≥ 1.
    method : {"sde", "ode"}
        Reverse SDE ``dx = [x + 2 s_t(x)] dr + √2 dB̄`` or probability-flow ODE ``dx = [x + s_t(x)] dr``
        (r the reversed time).
    integrator : {"2m", "denoiser", "score"}
        The exponential-integrator step (:func:`step_coefficients`). ``"2m"`` (default) is second order: from
        the second step on, the denoiser output ``D_i`` is replaced by ``D_i + (D_i − D_{i−1})/(2 r_i)`` with
        ``r_i = η_{i−1}/η_i`` the ratio of successive log-SNR steps (the multistep rule of DPM-Solver++(2M),
        Lu et al. 2022, for the ODE and its SDE variant), at no extra score evaluation.
    seed : int
        Seed of the start points and the step noises (module docstring).
    denoise : bool
        Finish with Tweedie's step ``x̂_0 = e^{t_1}(x + Δ_{t_1} s_{t_1}(x))`` (default True).
    batch_size : int, optional
        Rows computed at once (rounded up to a multiple of :data:`BLOCK`); default: as many as fit in
        64 MB of work arrays. Does not change the result.
    progress : bool, optional
        tqdm bar over the steps (default: when stderr is a terminal and tqdm is installed; ``True`` without tqdm
        raises ``ValueError``).

    Returns
    -------
    Samples

    Notes
    -----
    docs/theory.md §13. The start ``N(0, I)`` differs from the law at t_K by ``~e^{-2 t_K}``.

    Raises
    ------
    ValueError
        Naming the argument (``n_samples`` also when the samples would not fit in memory).
    """
    if not isinstance(scores, ScoreSchedule):
        raise ValueError(f"scores must be a score schedule (e.g. family.at(tau), exact_score(...)), got {scores!r}")
    n_samples = integer("n_samples", n_samples, 1)
    method = choice("method", method, METHODS)
    integrator = choice("integrator", integrator, INTEGRATORS)
    seed = integer("seed", seed, 0)
    d = int(scores.d)
    width = int(getattr(scores, "width", d))
    memory("n_samples", 8.0 * n_samples * d * 2, f"{n_samples} samples in dimension {d}")
    if batch_size is None:
        batch_size = max(BLOCK, BATCH_BYTES // (8 * (width + 3 * d)))
    batch_size = integer("batch_size", batch_size, 1)
    per_batch = max(1, math.ceil(batch_size / BLOCK))
    times = scores.times
    K = times.size
    coeffs = [step_coefficients(float(times[k]), float(times[k - 1]), method, integrator) for k in range(K - 1, 0, -1)]
    lam = log_snr(times)[::-1]                          # λ along the steps, increasing
    eta = np.diff(lam)                                   # η_i of step i
    ratios = np.concatenate([[np.nan], eta[:-1] / eta[1:]])     # r_i = η_{i-1}/η_i (2m rule)
    n_blocks = math.ceil(n_samples / BLOCK)
    sizes = [BLOCK] * n_blocks        # a partial last block is drawn whole and cut: same numbers for any N
    out = np.empty((n_blocks * BLOCK, d))
    rows = min(n_blocks, per_batch) * BLOCK
    with progress_bar(progress, math.ceil(n_blocks / per_batch) * K, f"sampling ({method})", unit="step") as bar, \
            blas_threads(rows * d * width):       # a score call: (rows×d)·(d×width) and back
        for b0 in range(0, n_blocks, per_batch):
            b1 = min(n_blocks, b0 + per_batch)
            streams = _block_streams(seed, b0, b1)
            x = _draw(streams, sizes[b0:b1], d)
            previous = None
            for i, (step, (a, b, c)) in enumerate(zip(range(K - 1, 0, -1), coeffs)):
                if integrator == "score":
                    u = scores.score(step, x)
                else:
                    u = scores.denoiser(step, x)
                    if integrator == "2m":
                        current = u
                        if previous is not None:      # linear extrapolation of x̂_0 in λ (docs/theory.md §13)
                            u = current + (current - previous) * (0.5 / ratios[i])
                        previous = current
                x *= a
                x += b * u
                if c:
                    x += c * _draw(streams, sizes[b0:b1], d)
                bar.update(1)
            if denoise:
                x = scores.denoiser(0, x)
            bar.update(1)
            out[b0 * BLOCK: b0 * BLOCK + x.shape[0]] = x
    out = out[:n_samples]
    bad = int(np.count_nonzero(~np.all(np.isfinite(out), axis=1)))
    status, message = ("failed", f"{bad} of {n_samples} samples are not finite") if bad else ("ok", "")
    return Samples(x=out, method=method, integrator=integrator, seed=seed, times=times.copy(), denoised=bool(denoise),
                   schedule=scores.describe(), status=status, message=message)
