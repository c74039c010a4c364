"""Checks of the explicit GD/Adam trainer against independent closed forms.

The references are the exact matrices of ``random_features`` (same model, d and seed, hence the same W
and X) and gradient descent written out in the eigenbasis of U: nothing here uses the theory modules.

Error budget of fresh-noise GD against the gradient flow. The stochastic gradient is unbiased, so the mean
of A follows GD on the exact quadratic loss; what remains is (i) discretisation, ``(1 − κλΔτ)^k`` instead
of ``e^{−κλkΔτ}``, and (ii) the SGD fluctuation of A, whose covariance is ∝ Δτ/b. Both make the loss
error ∝ Δτ·(n/b). At the model below (d = 20, ψ_p = 4, ψ_n = 2, t = 0.1, κ λ_max ≈ 0.31) the largest
relative error over the logged times was 0.03–0.05 · Δτ n/b for the train and test losses on seeds 1–3
(Δτ = 0.05 and 0.2, b = n and n/4); the tests allow 0.15 · Δτ n/b.
"""
import json
import math

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.simulate import sample_problem
from rfdiff.simulate.features import random_features
from rfdiff.simulate.training import default_dtau, frozen_noise, train

import rfdiff.simulate.training as train_module

from helpers import ROUNDING_EIGH, assert_rel_close, max_rel_error, rel_error

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # quadrature notes of random_features

MODEL = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
D, SEED = 20, 1
N = 40                                    # round(ψ_n d)
SGD_CONSTANT = 0.15                       # allowed relative error / (Δτ n/b), see the module docstring


@pytest.fixture(scope="module")
def rf():
    return random_features(MODEL, D, seed=SEED)


def _loss(rf, A, population=False):
    """``L(0) + Δ_t/(p d) Tr(A U Aᵀ) + 2√Δ_t/(d√p) Tr(A V)`` (docs/theory.md §3), written independently;
    ``L(0) = Tr S/d`` of the training noise (1 for exact averages, the frozen draws' for noise=m)."""
    U, V = (rf.U_pop, rf.V_pop) if population else (rf.U, rf.V)
    p, d, delta = rf.p, rf.d, rf.delta_t
    start = 1.0 if population else rf.noise_trace
    return start + delta / (p * d) * np.trace(A @ U @ A.T) + 2 * math.sqrt(delta) / (d * math.sqrt(p)) \
        * np.trace(A @ V)


# ------------------------------------------------------------------------------------------ fresh noise


@pytest.mark.parametrize("dtau, batch", [(0.05, None), (0.2, 10)])
def test_fresh_noise_gd_follows_closed_form_flow(rf, dtau, batch):
    res = train(MODEL, D, 500.0, lr=dtau * D ** 2, batch=batch, seed=SEED, n_log=12)
    assert res.dtau == pytest.approx(dtau) and res.steps[-1] == round(500 / dtau)
    flow = rf.loss_curves(res.tau)
    tol = SGD_CONSTANT * dtau * N / (batch or N)
    assert max_rel_error(res.train, flow.train) < tol
    assert max_rel_error(res.test, flow.test) < tol
    # the score error is tied to the test loss (docs/theory.md §1), so its error is the test error / Δ_t
    assert np.max(np.abs(res.score_error - flow.score_error)) < tol * np.max(flow.test) / MODEL.delta_t
    # the run reaches the memorization regime: the test loss turns up while the train loss keeps falling
    assert res.test[-1] > np.min(res.test) + 0.1 and res.train[-1] < res.train[-2]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_fresh_noise_error_scales_with_step(seed):
    """Quartering Δτ divides the deviation from the flow by about 4 (measured 3.2–4.3 on seeds 1–3)."""
    rf = random_features(MODEL, D, seed=seed)
    errs = []
    for dtau in (0.2, 0.05):
        res = train(MODEL, D, 500.0, lr=dtau * D ** 2, seed=seed, n_log=12)
        flow = rf.loss_curves(res.tau)
        errs.append(max(max_rel_error(res.train, flow.train), max_rel_error(res.test, flow.test)))
        assert errs[-1] < SGD_CONSTANT * dtau
    assert errs[1] < errs[0] / 2


@pytest.mark.slow
def test_fresh_noise_gd_larger_model():
    model = rd.RFModel(psi_p=8, psi_n=2, t=0.05)
    d, dtau = 40, 0.4                      # κ λ_max Δτ = 0.076; measured error 7.1e-3 (train), 7.3e-3 (test)
    flow_rf = random_features(model, d, seed=0)
    res = train(model, d, 2000.0, lr=dtau * d ** 2, seed=0, n_log=15)
    flow = flow_rf.loss_curves(res.tau)
    assert max_rel_error(res.train, flow.train) < SGD_CONSTANT * dtau
    assert max_rel_error(res.test, flow.test) < SGD_CONSTANT * dtau


# ------------------------------------------------------------------------------------------ frozen noise


def test_frozen_noise_is_gd_on_the_finite_m_quadratic(rf):
    """Full-batch GD with m frozen draws is deterministic GD on the quadratic loss of U_m, V_m.

    In the eigenbasis of U_m, ``A_k = −sqrt(p/Δ_t) V_mᵀ Q diag((1 − (1 − κΔτλ)^k)/λ) Qᵀ`` exactly; the
    gradient flow ``e^{−κλτ}`` differs from it by discretisation only.
    """
    m = 3
    rfm = random_features(MODEL.replace(m=m), D, seed=SEED)
    # the trainer's frozen draws are random_features' draws: U_m rebuilt from them must agree
    W, X = sample_problem(MODEL, D, SEED)
    xi = frozen_noise(D, N, m, SEED)
    F = np.tanh(W @ (math.exp(-MODEL.t) * np.repeat(X, m, axis=1) + math.sqrt(MODEL.delta_t) * xi) / math.sqrt(D))
    np.testing.assert_allclose(F @ F.T / (N * m), rfm.U, rtol=0, atol=1e-13)
    np.testing.assert_allclose(F @ xi.T / (N * m), rfm.V, rtol=0, atol=1e-13)

    res = train(MODEL.replace(m=m), D, 500.0, seed=SEED, n_log=12)
    lam, Q = np.linalg.eigh(rfm.U)
    step = rfm.kappa * res.dtau * lam
    assert step.max() < 0.5                                  # the default step is stable

    def weights(k):
        g = -np.expm1(k * np.log1p(-step)) / lam
        return -math.sqrt(rfm.p / rfm.delta_t) * ((rfm.V.T @ Q) * g) @ Q.T

    A_k = weights(res.steps[-1])
    assert_rel_close(res.A, A_k, ROUNDING_EIGH, "A after k GD steps vs its eigenbasis closed form")
    for k, tr, te in zip(res.steps, res.train, res.test):
        A = weights(k)
        assert abs(tr - _loss(rfm, A)) < 1e-12                 # the loss on the m frozen draws (the objective)
        assert abs(te - _loss(rf, A, population=True)) < 1e-12
    # gradient flow at the same τ: off by discretisation, first order in κλΔτ (and far above roundoff);
    # GD's closed form A_k stands for res.A (equal to 1e-11, asserted above)
    flow_err = rel_error(rfm.weights(res.tau[-1]), A_k)
    assert 1e-8 < flow_err < step.max()


def test_frozen_noise_minibatch_runs_and_is_not_full_batch():
    full = train(MODEL.replace(m=2), D, 50.0, seed=SEED, n_log=5)
    mini = train(MODEL.replace(m=2), D, 50.0, seed=SEED, n_log=5, batch=8)
    assert np.all(np.isfinite(mini.train)) and mini.train[-1] < 1
    assert not np.array_equal(full.A, mini.A)


# ------------------------------------------------------------------------------------------ evaluation


def test_monte_carlo_evaluation_agrees_with_exact_averages():
    """Same seed → same trajectory; N draws give relative errors ~ sqrt(2/(N n d)) = 3.5e-3 (N = 200)."""
    exact = train(MODEL, D, 200.0, seed=SEED, n_log=6)
    mc = train(MODEL, D, 200.0, seed=SEED, n_log=6, eval_noise=200)
    np.testing.assert_array_equal(exact.A, mc.A)
    bound = 5 * math.sqrt(2 / (200 * N * D))
    assert max_rel_error(mc.train, exact.train) < bound
    assert max_rel_error(mc.test, exact.test) < bound
    assert max_rel_error(mc.score_error, exact.score_error) < 3 * bound   # heavier-tailed summand


def test_score_error_tie():
    res = train(MODEL, D, 100.0, seed=SEED, n_log=5)
    # Σ = I: L_test = Δ_t E_score + e^{-2t}
    np.testing.assert_allclose(res.test, MODEL.delta_t * res.score_error + math.exp(-2 * MODEL.t), rtol=1e-13)


def test_default_step_is_stable_and_follows_the_seed_scaling(rf):
    dtau = default_dtau(MODEL, D, seed=SEED)
    lam_max = rf.eigenvalues().max()
    assert MODEL.kappa * lam_max * dtau < 0.5
    assert dtau <= 1e-2 * MODEL.psi_p / MODEL.delta_t + 1e-15
    # ReLU's mean gives λ_max ≈ μ0² p ≈ 205 here, so κ λ_max Δτ_seed ≈ 4 (unstable): the cap must act
    wide = rd.RFModel(psi_p=64, psi_n=2, t=0.1, activation="relu")
    assert default_dtau(wide, D, seed=SEED) < 1e-2 * wide.psi_p / wide.delta_t / 4


# ------------------------------------------------------------------------------------------ Adam


def test_adam_reduces_the_train_loss():
    res = train(MODEL, D, 200.0, optimizer="adam", seed=SEED, n_log=8)
    assert np.all(np.isfinite(res.train)) and np.all(np.isfinite(res.test))
    assert res.train[-1] < res.train[0] < 1
    assert res.lr == train_module.ADAM_LR
    gd = train(MODEL, D, 200.0, seed=SEED, n_log=8)
    np.testing.assert_allclose(res.tau, gd.tau)         # same clock as default GD


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_run_and_different_seed_differs():
    a = train(MODEL, D, 30.0, seed=SEED, n_log=5, eval_noise=3)
    b = train(MODEL, D, 30.0, seed=SEED, n_log=5, eval_noise=3)
    c = train(MODEL, D, 30.0, seed=SEED + 1, n_log=5, eval_noise=3)
    for name in ("tau", "train", "test", "score_error", "A"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.A, c.A)
    json.dumps(a.to_dict())


@pytest.mark.parametrize("m, kwargs", [(math.inf, dict()), (2, dict(optimizer="adam", batch=12))])
def test_checkpoint_resume_is_bit_for_bit(tmp_path, monkeypatch, m, kwargs):
    args = dict(model=MODEL.replace(m=m), d=D, tau_max=60.0, seed=SEED, n_log=10, **kwargs)
    reference = train(**args)
    n_steps = int(reference.steps[-1])

    path = tmp_path / "run.npz"
    monkeypatch.setattr(train_module, "CHECKPOINT_SECONDS", 0.0)   # save after every step
    calls = {"n": 0}
    gradient = train_module._gradient

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == n_steps // 2 + 3:                           # between two log points
            raise KeyboardInterrupt
        return gradient(*a)

    monkeypatch.setattr(train_module, "_gradient", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(**args, checkpoint=path)
    monkeypatch.setattr(train_module, "_gradient", gradient)
    with np.load(path) as z:
        assert int(z["k"]) == n_steps // 2 + 2
    resumed = train(**args, checkpoint=path)
    for name in ("tau", "steps", "train", "test", "score_error", "A"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))
    again = train(**args, checkpoint=path)                          # finished run: nothing left to do
    np.testing.assert_array_equal(again.A, reference.A)
    with pytest.raises(ValueError, match="checkpoint"):
        train(**{**args, "seed": SEED + 1}, checkpoint=path)
    assert not list(tmp_path.glob("*.tmp*"))                         # atomic writes left no temporaries


# ------------------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize("name, value", [
    ("model", "tanh"), ("d", 0), ("d", 2.5), ("tau_max", -1.0), ("tau_max", float("nan")),
    ("optimizer", "sgd"), ("lr", 0.0), ("noise", "frozen"), ("noise", 0), ("seed", -1), ("n_log", 0),
    ("batch", 0), ("batch", N + 1), ("eval_noise", "mc"), ("eval_noise", True),
])
@pytest.mark.filterwarnings("ignore:noise= is deprecated:DeprecationWarning")
def test_bad_arguments_raise_value_error_naming_them(name, value):
    args = dict(model=MODEL, d=D, tau_max=10.0)
    args[name] = value
    with pytest.raises(ValueError, match=name):
        train(**args)
