"""Finite noise draws m and weight decay ω (docs/theory.md §10–11) against independent references:

* the Gaussian-equivalent sampler with m literal frozen draws per point (shared part + per-draw part, not the
  components the theory uses), whose closed-form flow converges to the theory as d grows;
* the Mei–Montanari asymptotics of random-features ridge(less) regression (``derivations/mei_montanari.py``,
  an independent implementation of their theorem), which the m = 1 end point τ → ∞ must equal;
* rank counting (the atom at 0 for ψ_p > mψ_n) and exact limits (m → ∞, ω = 0).
"""
import importlib.util
import math
import pathlib

import numpy as np
import pytest
from helpers import assert_rel_close

import rfdiff as rd
from rfdiff.dynamics import LearningDynamics
from rfdiff.simulate import gaussian_equivalent, random_features, train

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _mei_montanari():
    path = pathlib.Path(__file__).parents[1] / "derivations" / "mei_montanari.py"
    spec = importlib.util.spec_from_file_location("mei_montanari", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("psi_p, psi_n, t, omega, activation", [
    (4, 1, 0.1, 0.0, "tanh"), (0.5, 2, 0.1, 0.0, "tanh"), (2, 1, 1.0, 0.05, "tanh"), (8, 4, 0.1, 0.05, "relu"),
    (1, 4, 1.0, 0.0, "relu"), (4, 2, 1.0, 0.2, "relu")])
def test_m1_end_point_is_mei_montanari(psi_p, psi_n, t, omega, activation):
    """m = 1 is RF ridge regression on x_t with a linear teacher and label noise e^{-2t}/Δ_t: at τ = ∞ the
    exact curve must equal the independent Mei–Montanari formula (both are exact; only rounding differs)."""
    mm = _mei_montanari()
    model = rd.RFModel(psi_p, psi_n, t, activation=activation, m=1, weight_decay=omega)
    got = rd.loss_curves(model, [np.inf])
    assert got.status == "ok"
    assert got.test[0] == pytest.approx(mm.rfdiff_m1_test_loss(psi_p, psi_n, t, omega, activation), rel=1e-9)


def test_one_point_matches_sampled_finite_m_matrices():
    """q and g_W at complex points against U_m built from m literal noise draws (finite size: the
    error falls with d; the m = ∞ formula stays off)."""
    model = rd.RFModel(4, 2, 0.1, m=2)
    z = np.array([1 + 0.2j, 3 + 0.5j])
    theory = rd.stieltjes(model, z)
    exact_avg = rd.stieltjes(model.replace(m=math.inf), z)
    err = {}
    for d in (50, 200):
        e = []
        for seed in range(2):
            ge = gaussian_equivalent(model, d, seed=seed)
            q, g_w = ge.stieltjes(z)
            e.append(max(np.max(np.abs(q - theory.q) / np.abs(theory.q)),
                         np.max(np.abs(g_w - theory.g_w) / np.abs(theory.g_w))))
        err[d] = np.mean(e)
    assert err[200] < err[50] and err[200] < 0.05          # measured 0.083 → 0.031 (g_W's O(1/√d) spread)
    assert np.max(np.abs(exact_avg.g_w - theory.g_w) / np.abs(theory.g_w)) > 2 * err[200]


@pytest.fixture(scope="module")
def finite_m_cases():
    """Theory curves and two Gaussian-equivalent samples per size (d = 20, 80) for three (ψ_p, ψ_n, m, ω)."""
    out = []
    for args in [(4, 2, 1, 0.0), (2, 4, 2, 0.0), (8, 2, 2, 0.2)]:
        model = rd.RFModel(args[0], args[1], 0.1, m=args[2], weight_decay=args[3])
        dyn = LearningDynamics(model)
        taus = np.append(np.geomspace(*dyn.tau_window(), 30), np.inf)
        theory = dyn(taus)
        sims = {d: [gaussian_equivalent(model, d, seed=s).loss_curves(taus) for s in range(2)] for d in (20, 80)}
        out.append((model, theory, sims))
    return out


def test_curves_match_finite_m_samples(finite_m_cases):
    """Whole train and test curves: relative-norm error of the seed mean falls with d (finite size,
    O(1/√(dp)) fluctuations plus O(1/d) bias) and is below 3% at d = 80. Measured (seeds 0, 1): 1.6–4.2% at
    d = 20, 0.5–1.0% at d = 80 (0.2–0.4% at d = 160). Fails when the theory's train-loss change is 3% off,
    its test-loss change 10% off, or its relaxation rate κ 20% off."""
    for model, theory, sims in finite_m_cases:
        assert theory.status == "ok" and np.max(theory.quad_error) < 1e-9
        err = {}
        for d, runs in sims.items():
            err[d] = max(np.linalg.norm(np.mean([getattr(r, k) for r in runs], axis=0) - getattr(theory, k))
                         / np.linalg.norm(getattr(theory, k)) for k in ("train", "test"))
        assert err[80] < err[20] and err[80] < 0.03, (model, err)


def test_atom_at_zero_and_interpolation():
    """ψ_p > mψ_n: U_m has rank nm, so mass 1 − mψ_n/ψ_p sits at 0 and the train loss reaches 0."""
    model = rd.RFModel(8, 2, 0.1, m=2)
    sup = rd.support(model)
    assert sup.atoms == [(0.0, pytest.approx(1 - 2 * 2 / 8))]
    assert sum(sup.masses) + 0.5 == pytest.approx(1, abs=1e-7)
    ge = gaussian_equivalent(model, 40, seed=0)
    lam = ge.eigenvalues()
    assert np.count_nonzero(lam < 1e-10 * lam.max()) == ge.p - ge.n * 2
    end = rd.loss_curves(model, [np.inf])
    assert abs(end.train[0]) < 1e-10 and end.test[0] > 1


def test_large_m_tends_to_exact_noise_average():
    """m → ∞ recovers the exact noise average (the difference shrinks like 1/m)."""
    taus = [1.0, 100.0, np.inf]
    exact = rd.loss_curves(rd.RFModel(4, 2, 0.1), taus)
    diffs = [np.max(np.abs(rd.loss_curves(rd.RFModel(4, 2, 0.1, m=m), taus).test - exact.test))
             for m in (10, 100, 1000)]
    assert diffs[0] > 5 * diffs[1] > 25 * diffs[2]


def test_m_infinity_and_no_weight_decay_reproduce_the_default_model():
    taus = np.geomspace(0.1, 1e5, 20)
    base = rd.loss_curves(rd.RFModel(16, 4, 0.01), taus)
    same = rd.loss_curves(rd.RFModel(16, 4, 0.01, m=math.inf, weight_decay=0.0), taus)
    np.testing.assert_array_equal(base.test, same.test)


def test_more_draws_help_below_interpolation_and_peak_at_p_equal_nm():
    """George–Veiga–Macris: with p < n more draws lower L_test(∞); with p > n, L_test(∞) is not
    monotone in m and peaks at the interpolation point p = nm (here m = 4)."""
    below = [rd.loss_curves(rd.RFModel(2, 4, 0.1, m=m), [np.inf]).test[0] for m in (1, 2, 4, 8)]
    below.append(rd.loss_curves(rd.RFModel(2, 4, 0.1), [np.inf]).test[0])
    assert np.all(np.diff(below) < 0)
    above = {m: rd.loss_curves(rd.RFModel(8, 2, 0.1, m=m), [np.inf]).test[0] for m in (1, 2, 3, 5, 6, 8, 16)}
    assert above[1] < above[2] < above[3] and above[5] > above[6] > above[8] > above[16]


def test_weight_decay_end_point_is_the_ridge_estimator_and_stops_memorization():
    """τ → ∞ with ω > 0 is the ridge estimator of the finite sample (checked on a Gaussian-equivalent
    sample: the flow's τ = ∞ equals the explicit ridge solution); strong enough decay removes memorization."""
    model = rd.RFModel(8, 2, 0.1, weight_decay=0.1)
    ge = gaussian_equivalent(model, 30, seed=1)
    flow = ge.flow
    A_inf = flow.weights(np.inf)
    ridge = -math.sqrt(flow.p / flow.delta_t) * np.linalg.solve(flow.U + 0.1 * np.eye(flow.p), flow.V).T
    assert_rel_close(A_inf, ridge, 1e-10, "flow at τ = ∞ vs the ridge solve")
    gaps = [rd.timescales(rd.RFModel(8, 2, 0.1, weight_decay=w)).memorizes for w in (0.0, 1.0)]
    assert gaps == [True, False]


def test_true_features_with_m_draws_and_gd_with_weight_decay():
    """The true-feature simulator takes m from the model; GD with frozen draws and weight decay follows its
    closed-form flow (discretisation only, the step is small), and logs the train loss on its frozen draws."""
    model = rd.RFModel(4, 2, 0.1, m=2, weight_decay=0.05)
    rf = random_features(model, 16, seed=3)
    assert rf.m == 2
    res = train(model, 16, 40.0, seed=3, n_log=6, lr=0.02 * 16 ** 2)
    flow = rf.loss_curves(res.tau)
    assert_rel_close(res.A, rf.weights(res.tau[-1]), 5e-3, "GD with weight decay vs closed-form flow (A)")
    assert_rel_close(res.train, flow.train, 5e-3, "GD with weight decay vs closed-form flow (train)")
    assert_rel_close(res.test, flow.test, 5e-3, "GD with weight decay vs closed-form flow (test)")


def test_critical_weight_decay_separates_memorizing_from_not():
    model = rd.RFModel(8, 2, 0.1)
    w = rd.critical_weight_decay(model)
    assert 0 < w < 10
    below = rd.timescales(model.replace(weight_decay=0.97 * w))
    above = rd.timescales(model.replace(weight_decay=1.03 * w))
    assert below.memorizes and not above.memorizes
    assert rd.critical_weight_decay(rd.RFModel(0.5, 50, 1.0)) == 0.0        # never memorizes


def test_phase_diagram_over_m_and_weight_decay():
    pd = rd.phase_diagram(psi_p=8, psi_n=[1.1, 4.1], t=0.1, m=[1, 3], boundary=False, executor="serial",
                          progress=False)
    assert pd.axes == ("psi_n", "m") and pd.status == "ok"
    for j, m in enumerate([1, 3]):
        direct = rd.loss_curves(rd.RFModel(8, 4.1, 0.1, m=m), [np.inf]).test[0]
        assert pd.test_inf[1, j] == pytest.approx(direct, rel=1e-12)
    assert pd.select(m=3).coords["psi_n"].tolist() == [1.1, 4.1]
    decay = rd.phase_diagram(psi_p=8, psi_n=2, t=0.1, weight_decay=[0.0, 1.0], executor="serial",
                             progress=False)
    assert decay.regime.tolist() == ["memorizes", "generalizes"]
    assert np.isinf(decay.tau_mem[-1])
    with pytest.raises(ValueError, match="^m "):
        rd.phase_diagram(psi_p=8, psi_n=2, t=0.1, m=[2, 1.5], executor="serial")
    with pytest.raises(ValueError, match="weight_decay"):
        rd.phase_diagram(psi_p=8, psi_n=2, t=0.1, weight_decay=[-1.0, 0.0], executor="serial")


def test_kernel_limit_approaches_the_pure_noise_plateau():
    """ψ_p → ∞ at fixed ψ_n: L_test(∞) → e^{-2t} τ_Σ/Δ_t (Latourelle-Vigeant et al.), the gap shrinking
    like 1/ψ_p, and L_train(∞) → 0; ψ_p up to 1e6 stays accurate."""
    t = 0.01
    plateau = math.exp(-2 * t) / -math.expm1(-2 * t)
    gaps = []
    for psi_p in (1e4, 1e5, 1e6):
        c = rd.loss_curves(rd.RFModel(psi_p, 8, t), [np.inf])
        assert c.status == "ok" and c.quad_error[0] < 1e-8 and 0 < c.train[0] < 1e-2
        gaps.append(plateau - c.test[0])
    assert all(g > 0 for g in gaps)
    assert gaps[0] / gaps[1] == pytest.approx(10, rel=0.1) and gaps[1] / gaps[2] == pytest.approx(10, rel=0.1)
    assert gaps[2] < 5e-3


def test_cli_takes_m_and_weight_decay(tmp_path, capsys):
    import json
    from rfdiff.cli import main
    out = tmp_path / "c.json"
    assert main(["curves", "--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--m", "1", "--weight-decay", "0.05",
                 "--points", "6", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["model"]["m"] == 1 and data["model"]["weight_decay"] == 0.05
    ref = rd.loss_curves(rd.RFModel(4, 2, 0.1, m=1, weight_decay=0.05), np.array(data["tau"], dtype=float))
    np.testing.assert_allclose(np.array(data["test"], dtype=float), ref.test, rtol=1e-12)
    with pytest.raises(SystemExit) as exc:
        main(["curves", "--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--m", "0"])
    assert exc.value.code == 2
    capsys.readouterr()
    assert main(["curves", "--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--weight-decay", "-1"]) == 2
    assert "weight_decay" in capsys.readouterr().err


def test_time_conversions_refuse_negative_counts():
    for bad in (-5, float("nan"), [1.0, -1.0]):
        with pytest.raises(ValueError, match="steps"):
            rd.tau_from_steps(bad, 0.1, 10)
        with pytest.raises(ValueError, match="tau"):
            rd.steps_from_tau(bad, 0.1, 10)
    assert rd.tau_from_steps([0, 100], 0.5, 10).tolist() == [0.0, 0.5]


def test_theory_matches_true_features_with_m_draws():
    """The exact finite-m curves against the true non-linear features with the same m frozen draws: the
    relative error of the test curve falls with d (finite size)."""
    model = rd.RFModel(4, 2.5, 0.1, m=2)
    dyn = LearningDynamics(model)
    taus = np.append(np.geomspace(*dyn.tau_window(), 25), np.inf)
    theory = dyn(taus)
    err = []
    for d in (20, 60):
        sims = [random_features(model, d, seed=s).loss_curves(taus) for s in range(2)]
        err.append(np.linalg.norm(np.mean([s.test for s in sims], axis=0) - theory.test)
                   / np.linalg.norm(theory.test))
    assert err[1] < err[0] and err[1] < 0.05, err
