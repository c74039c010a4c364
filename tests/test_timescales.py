"""Generalization and memorization timescales (rfdiff.timing)."""
import math

import numpy as np
import pytest
from scipy.optimize import brentq

import rfdiff as rd
from rfdiff.dynamics import LearningDynamics
from rfdiff.simulate import gaussian_equivalent
from rfdiff.timing import scaling_exponents, timescales


@pytest.fixture(scope="module")
def paper():
    model = rd.RFModel(64, 8, 0.01)
    dyn = LearningDynamics(model)
    return dyn, timescales(model, dynamics=dyn)


def test_tau_gen_is_the_minimum(paper):
    dyn, ts = paper
    assert 0 < ts.tau_gen < ts.tau_mem < math.inf
    around = dyn(ts.tau_gen * np.array([1 - 1e-3, 1.0, 1 + 1e-3, 0.5, 2.0])).test
    assert around[1] == pytest.approx(ts.test_min, abs=1e-14)
    assert np.all(around[[0, 2, 3, 4]] >= around[1])
    # the exact root of dL_test/dτ, to machine precision, is within the promised relative accuracy 1e-4
    root = brentq(lambda t: dyn.test_derivative([t])[0], ts.tau_gen * 0.99, ts.tau_gen * 1.01, xtol=1e-14)
    assert ts.tau_gen == pytest.approx(root, rel=1e-4)
    # the minimum is global on a fine scan
    scan = dyn(np.geomspace(ts.tau_gen / 1e3, ts.tau_gen * 1e5, 400)).test
    assert scan.min() >= ts.test_min - 1e-12


def test_tau_mem_is_the_threshold_crossing(paper):
    dyn, ts = paper
    level = ts.test_min + 0.1 * (ts.test_inf - ts.test_min)
    root = brentq(lambda t: dyn([t]).test[0] - level, ts.tau_mem * 0.99, ts.tau_mem * 1.01, xtol=1e-14)
    assert ts.tau_mem == pytest.approx(root, rel=1e-4)
    before = dyn(np.geomspace(ts.tau_gen, ts.tau_mem * (1 - 1e-3), 200)).test
    assert np.all(before < level)
    assert ts.test_inf == pytest.approx(dyn([np.inf]).test[0])


def test_spectral_timescales(paper):
    dyn, ts = paper
    model = dyn.model
    assert len(ts.bulks) == len(dyn.support.intervals) == 3
    names = ts.by_name()
    for i, b in enumerate(ts.bulks):
        assert b.lo < b.lambda_mean < b.hi
        assert b.tau_fast < b.tau_mean < b.tau_slow
        assert b.tau_mean == pytest.approx(model.psi_p / (2 * model.delta_t * b.lambda_mean))
        assert names[f"bulk{i}_mean"] == b.tau_mean
    assert sum(b.mass_w for b in ts.bulks) == pytest.approx(model.psi_p, rel=1e-6)
    assert ts.tau_seed == pytest.approx(model.psi_p / (model.delta_t * ts.bulks[0].lo))
    # docs/theory.md §7: τ_gen ~ 1/(2Δ_t μ1²) up to O(1) (the generalization bulk sits at ≈ ψ_p μ1² scale)
    mu1 = rd.ge_coefficients(model).mu1
    assert 0.3 < ts.tau_gen * 2 * model.delta_t * mu1 ** 2 < 10
    # the generalization time lies in the generalization bulk's window, memorization beyond it
    top = ts.bulks[-1]
    assert top.tau_fast < ts.tau_gen < top.tau_slow < ts.tau_mem


def test_timescales_match_simulation():
    """τ_gen, τ_mem read off a simulated curve at d = 60 agree within 10% (finite size; grid spacing 1.8%)."""
    model = rd.RFModel(8, 2, 0.1)
    ts = timescales(model)
    taus = np.geomspace(ts.tau_gen / 30, ts.tau_mem * 30, 300)
    sim = gaussian_equivalent(model, d=60, seed=0).loss_curves(np.append(taus, np.inf))
    i = int(np.argmin(sim.test[:-1]))
    assert taus[i] == pytest.approx(ts.tau_gen, rel=0.1)
    level = sim.test[i] + 0.1 * (sim.test[-1] - sim.test[i])
    j = i + int(np.argmax(sim.test[i:-1] >= level))
    assert taus[j] == pytest.approx(ts.tau_mem, rel=0.1)


def test_no_memorization_gives_inf():
    """ψ_n ≫ ψ_p: the late rise of the test loss is below mem_tol (1e-6), so τ_mem = ∞."""
    ts = timescales(rd.RFModel(0.5, 50, 1.0))
    assert math.isinf(ts.tau_mem)
    assert ts.test_inf - ts.test_min < 1e-6
    assert math.isfinite(ts.tau_gen)
    stricter = timescales(rd.RFModel(0.5, 50, 1.0), mem_tol=1e-12)
    assert math.isfinite(stricter.tau_mem)


def test_scaling_exponents_linear_regime():
    """docs/theory.md §7: τ_mem ∝ ψ_n for ψ_p ≫ ψ_n ≫ 1 (local exponent → 1)."""
    fit = scaling_exponents(rd.RFModel(4096, 8, 0.1), [8, 16, 32])
    assert fit.which == "tau_mem"
    assert np.all(np.diff(fit.tau) > 0)
    assert abs(fit.exponent[-1] - 1) < 0.1


@pytest.mark.slow
def test_scaling_exponents_bend():
    """At ψ_p = 64 the memorization time bends away from τ ∝ ψ_n as ψ_n approaches ψ_p."""
    fit = scaling_exponents(rd.RFModel(64, 8, 0.01), np.geomspace(2, 32, 5))
    assert fit.exponent[0] > fit.exponent[-1] + 0.5
    assert fit.exponent[-1] < 0.7


def test_bad_input():
    model = rd.RFModel(4, 2, 0.1)
    with pytest.raises(ValueError, match="mem_fraction"):
        timescales(model, mem_fraction=1.5)
    with pytest.raises(ValueError, match="mem_tol"):
        timescales(model, mem_tol=-1)
    with pytest.raises(ValueError, match="rtol"):
        timescales(model, rtol=0)
    with pytest.raises(ValueError, match="psi_n"):
        scaling_exponents(model, [1, 2])
    with pytest.raises(ValueError, match="which"):
        scaling_exponents(model, [1, 2, 4], which="nope")
