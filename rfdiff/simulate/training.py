"""Explicit training of the random-features score model by gradient descent or Adam (docs/theory.md §1, §3).

This is the experiment the seed paper ran: the read-out ``A`` of ``s_A(y) = A σ(W y/√d)/√p`` is trained
from ``A = 0`` on the denoising loss with noise drawn afresh at every step (or with ``m`` frozen noise draws
per training point), and the train/test losses are logged along the way. The same ``seed`` and ``d`` give the
same ``W`` and training data as :func:`rfdiff.simulate.features.random_features`, so a run can be
compared with the closed-form gradient flow of its own finite model.

It never imports the theory modules (``rfdiff.spectral``, ``rfdiff.dynamics``).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import ClassVar
from functools import lru_cache

import numpy as np
import scipy.linalg

from ..outputs import atomic_write, digest
from .._threads import blas_threads
from .._progress import progress_bar, wants_progress
from ..results import LossCurves
from .._validate import choice, count_or_word, integer, noise_draws, options_object, positive, row_pair
from ..model import RFModel
from ._sampling import FiniteSize, draw_features, noise_rng, problem_sizes, sample_problem

__all__ = ["TrainResult", "TrainingRun", "train", "frozen_noise", "default_dtau"]

# Independent random streams, all children of ``SeedSequence(seed)``; the parent stream itself is the one
# ``sample_problem`` uses for W and X, so none of these can collide with it. Fresh training noise comes from
# ``noise_rng(seed)`` (child 1), which also gives the frozen draws when the model's m is finite (as in random_features).
# The training stream (fresh noise and minibatch choice) is checkpointed.
_STREAM_BATCH = 2    # minibatch choice when the noise is frozen (child 1 already made the frozen draws)
_STREAM_LR = 3       # the one noise draw used to estimate the largest Hessian eigenvalue for the default step
_STREAM_EVAL = 4     # Monte-Carlo loss evaluation; spawn key (4, j) for the j-th log point

#: Target of ``κ λ̂_max Δτ`` for the default GD step (stability needs < 2; see :func:`default_dtau`).
STABILITY_TARGET = 0.5
#: The seed code's GD step ``η_seed = 1e-2 d/Δ_t`` on ``B = A/√p`` is ``Δτ = 1e-2 ψ_p/Δ_t`` (docs/theory.md §1).
SEED_STEP = 1e-2
#: Adam hyper-parameters (Kingma & Ba defaults).
ADAM_LR, ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-8
#: Besides at every log point, a checkpoint is written when this many seconds passed since the last one.
CHECKPOINT_SECONDS = 300.0
#: A run has diverged when its train loss (1 at A = 0, up to the frozen draws' noise trace) exceeds this at a
#: log point, or when A stops being finite: stable gradient descent never raises the train loss above its start.
DIVERGED_TRAIN_LOSS = 10.0


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True, kw_only=True)
class TrainResult(LossCurves):
    """Logged losses of one training run: a :class:`~rfdiff.results.LossCurves` (``source`` is the
    optimizer) with the run's settings.

    Attributes
    ----------
    tau, train, test, score_error, gap
        As in :class:`~rfdiff.results.LossCurves`, at the log times ``τ_j = k_j Δτ`` (docs/theory.md §1
        convention; for Adam see :func:`train`); losses from exact noise averages or Monte Carlo
        (``eval_noise``).
    steps : ndarray of int
        Step counts ``k_j`` at the log points.
    A : ndarray
        The read-out weights (d × p) at the end of the run.
    dtau : float
        Time per step ``Δτ``; for GD ``Δτ = η/d²`` with η the step on A.
    lr : float
        The optimizer's step: η for GD (so ``lr = Δτ d²``), α for Adam.
    wall_time : float
        Seconds spent in this call (a resumed run counts only the part after resuming).
    optimizer, m, batch, eval_noise, seed
        The run's settings (``m``: noise draws per point, inf for fresh noise at every step).
    size : FiniteSize
        The run's sizes; ``d``, ``p``, ``n`` are read from it.
    status, message
        ``"failed"`` when the run diverged (:data:`DIVERGED_TRAIN_LOSS`): it stopped there, the last log
        point is where divergence was detected, and ``message`` says when and which step would be stable.
    """

    DIAGNOSTICS: ClassVar[tuple] = LossCurves.DIAGNOSTICS + ("wall_time",)
    HIDDEN: ClassVar[tuple] = ("A",)

    steps: np.ndarray
    A: np.ndarray
    dtau: float
    lr: float
    optimizer: str
    m: object
    batch: object
    eval_noise: object
    seed: int
    wall_time: float

    @property
    def d(self) -> int:
        return self.size.d

    @property
    def p(self) -> int:
        return self.size.p

    @property
    def n(self) -> int:
        return self.size.n



# --------------------------------------------------------------------------------------------------
# argument checks


# --------------------------------------------------------------------------------------------------
# the problem: frozen W, data, features


def frozen_noise(d: int, n: int, m: int, seed: int) -> np.ndarray:
    """The ``m`` frozen noise draws per training point used by :func:`train` when the model's m is finite.

    The draws are those of ``random_features(model, d, seed)`` with the same m: m successive (d × n) blocks from
    ``noise_rng(seed)``, so a frozen-noise run is plain GD on the quadratic loss of that object's U and V.

    Returns
    -------
    ndarray, shape (d, n·m)
        Column ``ν·m + j`` is the j-th draw ``ξ^{ν j}`` for training point ν.
    """
    blocks = noise_rng(seed).standard_normal((m, d, n))
    return np.ascontiguousarray(blocks.transpose(1, 2, 0).reshape(d, n * m))


class _Problem:
    """Frozen quantities of one run: W/√d, X, constants, and the frozen noise and features if any."""

    def __init__(self, model, d, seed, rows=None):
        if rows is None:
            W, X = sample_problem(model, d, seed)
        else:   # real rows (docs/theory.md §14): W by the shared convention, X the given training rows
            W = draw_features(problem_sizes(model, d)[0], d, seed)
            X = rows[0].T
        self.W_scaled = np.ascontiguousarray(W / math.sqrt(d), dtype=np.float64)    # W/√d, p × d
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.p, self.n = W.shape[0], X.shape[1]
        self.d = d
        self.fn = model.activation.fn
        self.delta = model.delta_t
        self.weight_decay = model.weight_decay
        self.decay = math.exp(-model.t)
        # Σ's eigenvalues (for the Monte-Carlo evaluation's fresh test points; one law only, not a mixture)
        self.mixture = rows is None and model.data.is_mixture
        if not self.mixture and rows is None:
            self.sigma = np.asarray(model.data.eigenvalues(d), dtype=np.float64)
            self.sigma_t = self.decay ** 2 * self.sigma + self.delta
        self.m = 0 if math.isinf(model.m) else int(model.m)     # 0: fresh noise at every step
        if self.m:
            self.xi = frozen_noise(d, self.n, self.m, seed)
            self.F = self.features(self.noisy(np.repeat(self.X, self.m, axis=1), self.xi))

    def noisy(self, x, xi):
        """``x_t = e^{-t} x + √Δ_t ξ`` (d × b)."""
        xt = self.decay * x
        xt += math.sqrt(self.delta) * xi
        return xt

    def features(self, y):
        """``F = σ(W y/√d)`` for the columns of y (p × b): one GEMM and one elementwise σ."""
        h = self.W_scaled @ y
        if isinstance(self.fn, np.ufunc):   # e.g. np.tanh: in place, no temporary
            return self.fn(h, out=h)
        return np.ascontiguousarray(self.fn(h), dtype=np.float64)

    def batch(self, rng, batch):
        """Features ``F`` (p × b) and noise ξ (d × b) of one step; draws from ``rng`` in a fixed order."""
        cols = None if batch is None else np.sort(rng.choice(self.n, size=batch, replace=False))
        if self.m:
            if cols is None:
                return self.F, self.xi
            idx = (cols[:, None] * self.m + np.arange(self.m)).ravel()
            return self.F[:, idx], self.xi[:, idx]
        x = self.X if cols is None else self.X[:, cols]
        xi = rng.standard_normal(x.shape)
        return self.features(self.noisy(x, xi)), xi


def default_dtau(model, d: int, seed: int = 0, noise=None, batch=None) -> float:
    """Default GD time step ``Δτ`` of :func:`train` (so ``η = Δτ d²``).

    Notes
    -----
    Plain GD on the quadratic loss multiplies the error of a mode of the per-step feature Gram
    ``Û = F Fᵀ/b`` by ``1 − κ λ Δτ`` (``κ = 2Δ_t/ψ_p``), so it is stable when ``κ λ_max Δτ < 2``. The seed
    code's step ``η_seed = 10⁻² d/Δ_t`` on ``B = A/√p`` corresponds to ``Δτ_seed = η_seed ψ_p/d =
    10⁻² ψ_p/Δ_t`` (docs/theory.md §1), i.e. ``κ λ_max Δτ_seed = 0.02 λ_max``: stable for tanh at ψ_p ≲ 64 but
    not at larger ψ_p or for activations with a mean (``λ_max ≈ μ0² p``). The default is therefore

        Δτ = min(10⁻² ψ_p/Δ_t, 0.5 / (κ λ̂_max)),

    with ``λ̂_max`` the exact largest eigenvalue of ``Û`` for one draw of ``b`` points (``b = batch`` or n)
    with one noise draw each (the frozen draws when the model's m is finite), drawn from a stream of its own.
    ``noise`` is deprecated (the model's m).
    """
    if noise is not None:
        model = model.replace(m=noise_draws("noise", noise))
    problem = _Problem(model, d, integer("seed", seed, 0))
    if batch is not None:
        batch = integer("batch", batch, 1, problem.n)
    return _default_dtau(model, problem, seed, batch)


def _default_dtau(model, problem, seed, batch):
    rng = _stream(seed, _STREAM_LR)
    if problem.m:
        F = problem.F if batch is None else problem.batch(rng, batch)[0]
    else:
        F = problem.batch(rng, batch)[0]
    b = F.shape[1]
    gram = F.T @ F if b < problem.p else F @ F.T
    k = gram.shape[0]
    lam_max = float(scipy.linalg.eigvalsh(gram, subset_by_index=[k - 1, k - 1])[0]) / b
    dtau_seed = SEED_STEP * model.psi_p / model.delta_t
    return min(dtau_seed, STABILITY_TARGET / (model.kappa * (lam_max + model.weight_decay)))


# --------------------------------------------------------------------------------------------------
# loss evaluation


@lru_cache(maxsize=1)
def _exact_flow(model, d, seed):
    """The closed-form flow of ``random_features(model, d, seed)``; the last problem is cached."""
    from .features import random_features  # a simulator, not theory code

    return random_features(model, d, seed=seed).flow


class _ExactLosses:
    """Losses of any read-out A from the matrices of ``random_features`` (:meth:`rfdiff.simulate._flow.
    ClosedFormFlow.losses`, docs/theory.md §3, §9–10): the train loss is the exact noise average for fresh
    noise (m = ∞), the loss on the frozen draws for finite m; the test loss is always the exact population one
    (with real rows: the exact noise average over the held-out rows, :func:`rfdiff.simulate.real_features`)."""

    def __init__(self, model, d, seed, rows=None):
        if rows is None:
            self.flow = _exact_flow(model, d, seed)
        else:
            from .realdata import real_features
            self.flow = real_features(model, rows[0], rows[1], seed=seed).flow

    def __call__(self, A, j):
        return self.flow.losses(A)


class _MonteCarloLosses:
    """Losses estimated with ``draws`` noise draws per training point and ``draws·n`` fresh test points.

    The j-th log point uses the stream ``SeedSequence(seed, spawn_key=(4, j))``, so the estimates do not
    depend on how the run was interrupted and resumed. The score error is estimated directly,
    ``(1/d) mean ||s_A(y) + Σ_t^{-1} y||²`` over the test inputs ``y = e^{-t} x + √Δ_t ξ``.
    """

    def __init__(self, problem, seed, draws):
        self.problem, self.seed, self.draws = problem, seed, draws

    def __call__(self, A, j):
        pr = self.problem
        rng = _stream(self.seed, _STREAM_EVAL, j)
        train = test = score = 0.0
        for _ in range(self.draws):
            xi = rng.standard_normal((pr.d, pr.n))
            s = (A @ pr.features(pr.noisy(pr.X, xi))) / math.sqrt(pr.p)          # s_A(x_t) on the training set
            train += np.sum((math.sqrt(pr.delta) * s + xi) ** 2)
            x = np.sqrt(pr.sigma)[:, None] * rng.standard_normal((pr.d, pr.n))  # fresh x ~ N(0, Σ)
            xi = rng.standard_normal((pr.d, pr.n))
            y = pr.noisy(x, xi)
            s = (A @ pr.features(y)) / math.sqrt(pr.p)
            test += np.sum((math.sqrt(pr.delta) * s + xi) ** 2)
            score += np.sum((s + y / pr.sigma_t[:, None]) ** 2)                # s* (y) = −Σ_t^{-1} y
        count = self.draws * pr.n * pr.d
        return train / count, test / count, score / count


# --------------------------------------------------------------------------------------------------
# the training loop


def _gradient(problem, rng, batch, A):
    """Stochastic gradient ``∇_A L_B = 2√Δ_t R Fᵀ/(b d √p)``, ``R = √Δ_t A F/√p + Ξ``, of one step, plus
    the weight-decay term ``2 ω Δ_t A/(p d)`` (the gradient of ``ω Δ_t ‖A‖²/(p d)``)."""
    F, xi = problem.batch(rng, batch)
    R = A @ F
    R *= math.sqrt(problem.delta / problem.p)
    R += xi
    G = R @ F.T
    G *= 2.0 * math.sqrt(problem.delta) / (problem.d * math.sqrt(problem.p) * F.shape[1])
    if problem.weight_decay:
        G += (2.0 * problem.weight_decay * problem.delta / (problem.p * problem.d)) * A
    return G


@dataclass(frozen=True)
class TrainingRun:
    """How a training run is logged and carried out, apart from what is trained; validated once, here.

    Parameters
    ----------
    n_log : int
        Number of log-spaced log times in ``[Δτ, tau_max]`` (fewer if they round to the same step).
    eval_noise : "exact" or int
        ``"exact"``: losses from the matrices ``U, V, U_pop, V_pop`` of ``random_features`` for the same
        model, d and seed (with finite m, the train loss is the loss on the m frozen draws, the objective
        being minimised). ``N``: Monte-Carlo estimates with N noise draws per training point and
        ``N n`` fresh test points (relative standard error about ``sqrt(2/(N n d))`` on the losses).
    progress : bool or None
        Show a progress bar (``True`` needs ``tqdm``; None: when stderr is a terminal; default False).
    checkpoint : str or path, optional
        A ``.npz`` file holding the full state (A, Adam moments, step, RNG state, logs so far), written
        atomically (:func:`rfdiff.outputs.atomic_write`: temporary file, fsync, ``os.replace``) at every log
        point and every ``CHECKPOINT_SECONDS``. If it exists, the run resumes from it and gives bit-for-bit the
        logs of an uninterrupted run.
    max_steps : int, optional
        Refuse, before the first step, a run that would take more steps than this (default: no cap).
    """

    n_log: int = 60
    eval_noise: object = "exact"
    progress: object = False
    checkpoint: object = None
    max_steps: object = None

    def __post_init__(self):
        object.__setattr__(self, "n_log", integer("n_log", self.n_log, 1))
        object.__setattr__(self, "eval_noise", count_or_word("eval_noise", self.eval_noise, "exact"))
        wants_progress(self.progress)
        if self.max_steps is not None:
            object.__setattr__(self, "max_steps", integer("max_steps", self.max_steps, 1))


def train(model, d, tau_max, optimizer="gd", lr=None, *, seed=0, batch=None, rows=None, run=None, noise=None,
          **kwargs) -> TrainResult:
    r"""Train the read-out ``A`` of the random-features score model and log its losses.

    Parameters
    ----------
    model : RFModel
        Model; ``p = round(ψ_p d)`` features, ``n = round(ψ_n d)`` training points.
    d : int
        Data dimension (≥ 1).
    tau_max : float
        Final training time (docs/theory.md §1 convention).
    optimizer : {"gd", "adam"}
        Plain gradient descent, or Adam on the same stochastic gradients.
    lr : float, optional
        GD: the step η on A, so ``Δτ = η/d²``, and the run takes ``round(tau_max/Δτ)`` steps. Default:
        ``η = d² Δτ`` with Δτ from :func:`default_dtau`, shrunk so that a whole number of steps ends
        exactly at ``tau_max``.
        Adam: the step size α (default 1e-3).
    noise : "fresh", int or None
        Deprecated: the noise is the model's ``m``. ``m = ∞`` (exact noise averages): a new noise ξ for every
        point at every step (the seed paper's training), whose gradient is unbiased for the exact average;
        ``m`` finite: m noise draws per point, frozen for the whole run: the draws of
        ``random_features(model, d, seed)`` (:func:`frozen_noise`). Given, it replaces the model's m (with
        a warning). The model's ``weight_decay`` ω adds ``ω Δ_t ‖A‖²/(p d)`` to the objective; the logged
        train loss is the data part only.
    seed : int
        ``sample_problem(model, d, seed)`` gives W and X (the same as ``random_features``); the training
        noise comes from ``noise_rng(seed)``, the minibatch choice with frozen noise, the default-step
        estimate and the Monte-Carlo evaluation from other child streams of ``SeedSequence(seed)``.
    batch : int, optional
        Minibatch size: each step uses ``batch`` points drawn uniformly without replacement (with all their
        frozen draws when m is finite). Default: all n points.
    rows : (train_rows, test_rows), optional
        Real data (docs/theory.md §14): train on the n = round(ψ_n d) given rows (shape (n, d)) instead of
        Gaussian samples, and evaluate the test loss on the held-out rows (shape (n_test, d)) with fresh noise,
        exactly as :func:`rfdiff.simulate.real_features` (``eval_noise`` must be ``"exact"``; W is drawn as
        there from ``seed``; the score error uses its Gaussian proxy constant).
    run : TrainingRun, optional
        Logging and execution: ``n_log`` (60), ``eval_noise`` (``"exact"``), ``progress`` (False),
        ``checkpoint`` (None), ``max_steps`` (None).
    **kwargs
        The fields of ``run`` one by one (e.g. ``n_log=12, checkpoint="run.npz"``), instead of the object.

    Returns
    -------
    TrainResult
        ``status="failed"`` if the run diverged: it stops as soon as A is no longer finite or, at a log point,
        the train loss exceeds :data:`DIVERGED_TRAIN_LOSS` (ten times its start); ``message`` says when, and
        for GD which step would be stable (the default one). A diverged state is not checkpointed.

    Raises
    ------
    ValueError
        On a bad argument (the message names it, e.g. ``lr`` ≤ 0), a run above ``max_steps``, or a checkpoint
        written by a different run.

    Notes
    -----
    Denoising loss on a batch B of b points (columns ``x^ν`` of X; with frozen noise, b·m columns):

    .. math:: L_B(A) = \frac{1}{b d} \sum_{\nu \in B} \| \sqrt{\Delta_t}\, s_A(x_t^\nu) + \xi^\nu \|^2,
              \quad x_t^\nu = e^{-t} x^\nu + \sqrt{\Delta_t}\, \xi^\nu .

    With ``F = σ(W x_t/√d)`` (p × b) and ``R = √Δ_t A F/√p + Ξ`` (d × b),
    ``∇_A L_B = 2√Δ_t R Fᵀ/(b d √p)``, and one GD step is ``A ← A − Δτ d² ∇_A L_B``, i.e. ``τ = k η/d²``
    (docs/theory.md §1). Three GEMMs per step (``W x_t``, ``A F``, ``R Fᵀ``; ``6 p d b`` flops) and one
    elementwise σ. With fresh noise the gradient is unbiased for the exact noise-averaged loss, so GD follows
    the closed-form flow of docs/theory.md §3 up to discretisation (``(1 − κλΔτ)^k`` for ``e^{−κλkΔτ}``) and the
    SGD fluctuation of A (covariance ∝ Δτ/b); the relative loss error measured in the tests is
    ≈ 0.01–0.05 · Δτ n/b (about 1.5% at the default step for ψ_p = 16, ψ_n = 4, t = 0.05, d = 50, where
    Δτ = 1.7). For comparisons with a closed form at the 1e-3 level take ``lr`` several times below the
    default. With frozen noise and the full batch it is plain GD on the quadratic loss of
    ``random_features(model, d, seed)`` with the same m.

    Adam uses the same stochastic gradients ``g = ∇_A L_B`` with moments
    ``m ← β1 m + (1−β1) g``, ``v ← β2 v + (1−β2) g²`` and ``A ← A − α m̂/(√v̂ + ε)`` (bias-corrected,
    ``β1, β2, ε = 0.9, 0.999, 1e-8``). No theory exists for Adam here. Its clock is the GD one,
    ``τ = k Δτ`` with the default GD step Δτ, so that GD and Adam logs at equal τ have taken equal numbers
    of steps; ``lr`` is α and does not change the clock.
    """
    if not isinstance(model, RFModel):
        raise ValueError(f"model must be an rfdiff.RFModel, got {model!r}")
    d = integer("d", d, 1)
    tau_max = positive("tau_max", tau_max)
    optimizer = choice("optimizer", optimizer, ("gd", "adam"))
    lr = None if lr is None else positive("lr", lr)
    if noise is not None:
        model = model.replace(m=noise_draws("noise", noise))
    seed = integer("seed", seed, 0)
    run = options_object("training run", TrainingRun, run, kwargs)
    n_log, eval_noise, progress, checkpoint, max_steps = (run.n_log, run.eval_noise, run.progress, run.checkpoint,
                                                         run.max_steps)
    if batch is not None:
        batch = integer("batch", batch, 1, problem_sizes(model, d)[1])
    rows = _check_rows(model, d, rows, eval_noise)

    start = time.perf_counter()
    problem = _Problem(model, d, seed, rows)
    # each step's GEMMs are (p×d)·(d×b), (d×p)·(p×b) and (d×b)·(b×p), b the columns of a step
    step_work = problem.p * problem.d * (batch or problem.n) * max(problem.m, 1)
    with blas_threads(step_work):
        dtau, n_steps, lr = _schedule(model, problem, tau_max, optimizer, lr, seed, batch)
    if max_steps is not None and n_steps > max_steps:
        raise ValueError(f"tau_max = {tau_max:.4g} takes {n_steps:.3g} steps of dtau = {dtau:.3g}, above "
                         f"max_steps = {max_steps:,}: lower tau_max or raise max_steps")
    log_steps = np.unique(np.rint(np.geomspace(1, n_steps, n_log)).astype(np.int64))
    if problem.mixture and eval_noise != "exact":
        raise ValueError("eval_noise must be 'exact' on Gaussian-mixture data (the Monte-Carlo evaluation "
                         "samples one Gaussian)")
    losses = (_ExactLosses(model, d, seed, rows) if eval_noise == "exact"
              else _MonteCarloLosses(problem, seed, eval_noise))
    fingerprint = json.dumps({"model": model.to_dict(), "d": d, "tau_max": tau_max, "optimizer": optimizer,
                              "lr": lr, "seed": seed, "n_log": n_log, "batch": batch,
                              "eval_noise": eval_noise, "rows": None if rows is None else digest(rows)}, sort_keys=True)
    state = _State(d, problem.p, optimizer, noise_rng(seed) if not problem.m else _stream(seed, _STREAM_BATCH))
    if checkpoint is not None and os.path.exists(checkpoint):
        state.load(checkpoint, fingerprint)

    last_save = time.perf_counter()
    steps, message = log_steps, ""
    # a diverging run overflows: that is detected right after the step, so numpy's overflow warnings are noise
    with progress_bar(progress, n_steps, unit="step", initial=state.k) as bar, \
            np.errstate(over="ignore", invalid="ignore"), blas_threads(step_work):
        while state.k < n_steps:
            state.step(_gradient(problem, state.rng, batch, state.A), lr)
            bar.update(1)
            j = len(state.logs)
            finite = math.isfinite(state.A.sum())
            logged = j < len(log_steps) and state.k == log_steps[j]
            if logged or not finite:
                state.logs = np.vstack([state.logs, losses(state.A, j)])
                row = state.logs[-1]
                if not (finite and np.all(np.isfinite(row)) and row[0] <= DIVERGED_TRAIN_LOSS):
                    steps = np.append(log_steps[:j], state.k)
                    message = _divergence_message(model, problem, optimizer, lr, dtau, state, seed, batch)
                    break
            if checkpoint is not None and (logged or time.perf_counter() - last_save >= CHECKPOINT_SECONDS):
                state.save(checkpoint, fingerprint)
                last_save = time.perf_counter()

    train_loss, test_loss, score = state.logs.T.copy()
    return TrainResult(steps * dtau, train_loss, test_loss, score, test_loss - train_loss, source=optimizer,
                       model=model, steps=steps, A=state.A, dtau=dtau, lr=lr, optimizer=optimizer,
                       m=model.m, batch=batch, eval_noise=eval_noise, size=FiniteSize(d, problem.p, problem.n),
                       seed=seed,
                       wall_time=time.perf_counter() - start, status="failed" if message else "ok",
                       message=message)


def _divergence_message(model, problem, optimizer, lr, dtau, state, seed, batch):
    """One line: when the run diverged, and the step that would be stable."""
    what = ("A is no longer finite" if not math.isfinite(state.A.sum())
            else f"the train loss is {state.logs[-1, 0]:.3g} (> {DIVERGED_TRAIN_LOSS:g}, its start being 1)")
    text = f"training diverged at step {state.k} (tau = {state.k * dtau:.4g}): {what}; "
    if optimizer == "gd":
        stable = _default_dtau(model, problem, seed, batch) * problem.d ** 2
        return text + f"the step lr = {lr:.3g} is too large (the default, stable step is lr = {stable:.3g})"
    return text + f"lower the Adam step size lr = {lr:.3g}"


def _check_rows(model, d, rows, eval_noise):
    """``(train_rows, test_rows)`` as float arrays of d columns, n = round(ψ_n d) training rows, or None."""
    if rows is None:
        return None
    train_rows, test_rows = row_pair("rows", rows, problem_sizes(model, d)[1], d)
    if eval_noise != "exact":
        raise ValueError("eval_noise must be 'exact' with real rows (the held-out rows are the population)")
    return train_rows, test_rows




def _schedule(model, problem, tau_max, optimizer, lr, seed, batch):
    """Time step Δτ, number of steps and the optimizer's step size (see :func:`train`'s ``lr``)."""
    d = problem.d
    if optimizer == "gd" and lr is not None:
        dtau = lr / d ** 2
        return dtau, max(1, round(tau_max / dtau)), lr
    dtau = _default_dtau(model, problem, seed, batch)
    n_steps = max(1, math.ceil(tau_max / dtau - 1e-9))
    dtau = tau_max / n_steps
    if lr is None:
        lr = dtau * d ** 2 if optimizer == "gd" else ADAM_LR
    return dtau, n_steps, lr


class _State:
    """Everything a checkpoint holds: read-out A, Adam moments, step count, logs and the training stream."""

    def __init__(self, d, p, optimizer, rng):
        self.optimizer = optimizer
        self.rng = rng
        self.A = np.zeros((d, p))
        self.m1 = np.zeros((d, p)) if optimizer == "adam" else None
        self.m2 = np.zeros((d, p)) if optimizer == "adam" else None
        self.k = 0
        self.logs = np.empty((0, 3))

    def step(self, G, lr):
        """One optimizer step with the stochastic gradient ``G`` (overwritten)."""
        if self.optimizer == "gd":
            G *= lr
            self.A -= G
            self.k += 1
            return
        self.m1 *= ADAM_BETA1
        self.m1 += (1 - ADAM_BETA1) * G
        self.m2 *= ADAM_BETA2
        self.m2 += (1 - ADAM_BETA2) * G * G
        m1_hat = self.m1 / (1 - ADAM_BETA1 ** (self.k + 1))
        m2_hat = self.m2 / (1 - ADAM_BETA2 ** (self.k + 1))
        self.A -= lr * m1_hat / (np.sqrt(m2_hat) + ADAM_EPS)
        self.k += 1

    def save(self, path, fingerprint):
        arrays = {"A": self.A, "k": self.k, "logs": self.logs, "fingerprint": fingerprint,
                  "rng_state": json.dumps(self.rng.bit_generator.state)}
        if self.optimizer == "adam":
            arrays.update(m1=self.m1, m2=self.m2)
        atomic_write(path, lambda fh: np.savez(fh, **arrays), mode="wb")

    def load(self, path, fingerprint):
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
        if str(arrays["fingerprint"]) != fingerprint:
            raise ValueError(f"checkpoint {os.fspath(path)!r} was written by a different run "
                             f"(saved {str(arrays['fingerprint'])}, requested {fingerprint})")
        self.A, self.k, self.logs = arrays["A"].copy(), int(arrays["k"]), arrays["logs"].copy()
        self.rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
        if self.optimizer == "adam":
            self.m1, self.m2 = arrays["m1"].copy(), arrays["m2"].copy()
