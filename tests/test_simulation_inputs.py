"""What a finite-size simulation refuses or reports: sizes that would simulate another model, the sizes and
ratios actually simulated, training steps that are not positive or that make the run diverge."""
import warnings

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.simulate import FiniteSize, INDICATIVE_D, gaussian_equivalent, problem_sizes, random_features, train

MODEL = rd.RFModel(psi_p=4, psi_n=2, t=0.1)


@pytest.mark.parametrize("psi_p, d, p", [(0.001, 60, 0), (0.5, 1, 0), (0.07, 10, 1)])
def test_rounding_to_another_model_is_refused(psi_p, d, p):
    """p = round(ψ_p d) used to be clipped to 1: ψ_p = 0.001 at d = 60 simulated p = 1 (ψ_p = 0.017)."""
    model = rd.RFModel(psi_p=psi_p, psi_n=2, t=0.1)
    for make in (problem_sizes, gaussian_equivalent, random_features):
        with pytest.raises(ValueError, match=rf"d = {d} would simulate p = {p} .* another model; any d >= \d+"):
            make(model, d)


def test_simulated_sizes_and_ratios_are_exposed():
    """Rounding within 5% is accepted; the simulators and their curves say what they simulated."""
    model = rd.RFModel(psi_p=4, psi_n=2.03, t=0.1)
    assert problem_sizes(model, 30) == (120, 61)                        # n = round(60.9)
    for sim in (gaussian_equivalent(model, 30), random_features(model, 30)):
        curves = sim.loss_curves([1.0, np.inf])
        assert sim.size == curves.size == FiniteSize(30, 120, 61)
        assert curves.size.psi_p == 4 and curves.size.psi_n == pytest.approx(61 / 30)
        assert curves.size.describe(model) == "d = 30, p = 120, n = 61 (n/d = 2.033); indicative only (d < 40)"
        assert curves.to_dict()["size"] == {"d": 30, "p": 120, "n": 61}
    assert FiniteSize(INDICATIVE_D, 160, 80).describe(MODEL) == f"d = {INDICATIVE_D}, p = 160, n = 80"
    assert rd.loss_curves(MODEL, [1.0]).size is None                      # the theory has no size
    run = train(model, 30, 2.0, n_log=2)
    assert run.size == FiniteSize(30, 120, 61) and (run.d, run.p, run.n) == (30, 120, 61)


@pytest.mark.parametrize("lr", [0, -1.0, float("nan")])
def test_non_positive_step_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be finite and > 0"):
        train(MODEL, 10, 10.0, lr=lr)


def test_divergence_stops_the_run_and_fails_it():
    """lr = 1e9 used to run to the end with losses ≈ 1e12 and status ok."""
    run = train(MODEL, 10, 1e5, lr=1e9)
    assert run.status == "failed" and not run.converged
    assert run.message.startswith("training diverged at step 1 (tau = 1e+07): the train loss is 1.66e+12")
    assert "default, stable step is lr = 22.1" in run.message
    assert list(run.steps) == [1] and run.train[0] > 1e11
    adam = train(MODEL, 10, 100.0, optimizer="adam", lr=10.0)
    assert adam.status == "failed" and "lower the Adam step size lr = 10" in adam.message
    assert train(MODEL, 10, 30.0).status == "ok"


def test_overflow_between_log_points_stops_at_once(tmp_path):
    """With log points far apart, A overflows in between: the run stops at that step (numpy's overflow
    warnings are not shown), its last log point is that step, and no diverged state is checkpointed."""
    ckpt = tmp_path / "run.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = train(MODEL, 10, 1e6, lr=800.0, n_log=2, checkpoint=ckpt)
    assert run.status == "failed" and "A is no longer finite" in run.message
    assert run.steps[0] == 1 and 1 < run.steps[-1] < 1e6 / (800.0 / 100) and run.tau[-1] == run.steps[-1] * run.dtau
    assert np.isnan(run.test[-1])
    with np.load(ckpt) as saved:
        assert int(saved["k"]) == 1                                      # the last good log point


def test_step_cap_is_checked_before_training():
    with pytest.raises(ValueError, match=r"tau_max = 1e\+09 takes 4\.53e\+09 steps .* above max_steps = 100"):
        train(MODEL, 10, 1e9, max_steps=100)
    with pytest.raises(ValueError, match="max_steps"):
        train(MODEL, 10, 1.0, max_steps=0)


def test_training_run_options_are_one_object_or_keywords():
    """train's logging and execution options: a TrainingRun or its fields as keywords, the same run either way;
    both at once, or an unknown field, is refused by name."""
    from rfdiff.simulate import TrainingRun
    a = train(MODEL, 10, 5.0, run=TrainingRun(n_log=3, eval_noise="exact"))
    b = train(MODEL, 10, 5.0, n_log=3)
    np.testing.assert_array_equal(a.test, b.test)
    with pytest.raises(ValueError, match="not both"):
        train(MODEL, 10, 5.0, run=TrainingRun(n_log=3), n_log=4)
    with pytest.raises(ValueError, match="n_logs"):
        train(MODEL, 10, 5.0, n_logs=3)
    with pytest.raises(ValueError, match="n_log"):
        TrainingRun(n_log=0)
