"""The interpolation threshold p = n·m (m frozen noise draws): with weight decay nothing diverges and the
curves are exact there; without it the line is singular, and phase diagrams mark it instead of failing."""
import math

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.simulate import gaussian_equivalent

THRESHOLD = rd.RFModel(4, 2, 0.1, m=2, weight_decay=0.05)          # ψ_p = m ψ_n


def test_weight_decay_at_the_threshold_matches_samples():
    """Whole curves at p = n·m with ω > 0 against m-draw Gaussian-equivalent samples: the seed-mean error
    falls with d (finite size) and is below 2% at d = 80 (measured 2.0% at d = 40, 0.40% at d = 80)."""
    dyn = rd.LearningDynamics(THRESHOLD)
    assert dyn.support.intervals[0][0] == 0.0                  # a bulk reaches λ = 0: the threshold
    taus = np.append(np.geomspace(*dyn.tau_window(), 20), np.inf)
    theory = dyn(taus)
    assert theory.status == "ok" and np.max(theory.quad_error) < 1e-9
    err = {}
    for d in (40, 80):
        runs = [gaussian_equivalent(THRESHOLD, d, seed=s).loss_curves(taus) for s in range(2)]
        err[d] = max(np.linalg.norm(np.mean([getattr(r, k) for r in runs], axis=0) - getattr(theory, k))
                     / np.linalg.norm(getattr(theory, k)) for k in ("train", "test"))
    assert err[80] < err[40] and err[80] < 0.02, err


def test_weight_decay_makes_the_threshold_regular():
    """0.1% on either side of p = n·m the end point is within 1e-3 of the value at the threshold, and the
    timescales are finite (measured difference 4e-4)."""
    at = rd.loss_curves(THRESHOLD, [np.inf]).test[0]
    for factor in (1.001, 1 / 1.001):
        near = rd.loss_curves(THRESHOLD.replace(psi_n=2 * factor), [np.inf]).test[0]
        assert abs(near - at) < 1e-3 * at
    ts = rd.timescales(THRESHOLD)
    assert math.isfinite(ts.tau_gen) and ts.status == "ok"


def test_without_weight_decay_the_threshold_is_singular():
    with pytest.raises(rd.SolverError, match="interpolation threshold") as info:
        rd.loss_curves(THRESHOLD.replace(weight_decay=0.0), [1.0])
    assert type(info.value).__name__ == "ThresholdError"


def test_phase_diagram_marks_the_singular_line():
    """An m axis crossing p = n·m at ω = 0: the point is marked "threshold" (NaN numbers), not counted as a
    failure; with ω > 0 the same grid is computed everywhere."""
    kw = dict(psi_p=8, psi_n=[1.5, 2.0], t=0.1, m=[2, 4], boundary=False, executor="serial", progress=False)
    pd = rd.phase_diagram(**kw)
    assert pd.regime.tolist() == [["memorizes", "memorizes"], ["memorizes", "threshold"]]
    assert pd.status != "failed" and "interpolation threshold" in pd.message and np.isnan(pd.tau_gen[1, 1])
    assert pd.tau_map([1.0])[1, 1, 0] == -1
    regular = rd.phase_diagram(weight_decay=0.01, **kw)
    assert "threshold" not in regular.regime and regular.status == "ok" and np.all(np.isfinite(regular.tau_gen))
