"""Phase diagrams: grid points equal direct timescale calls, the boundary is a verified root, executors agree."""
import math
import os

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.phase import TAU_PHASES, memorization_ratio, phase_diagram

T = 0.01


@pytest.fixture(scope="module")
def diagram():
    # ψ_p = 4: ψ_n* ≈ 43, inside the ψ_n grid; ψ_p = 8: ψ_n* ≈ 90, also inside
    return phase_diagram(psi_p=[4, 8], psi_n=[16, 48, 128], t=T, executor="serial", progress=False)


def _direct(psi_p, psi_n):
    model = rd.RFModel(psi_p=psi_p, psi_n=psi_n, t=T)
    ts = rd.timescales(model)
    return ts, rd.loss_curves(model, [np.inf])


def test_point_equals_direct_timescales(diagram):
    ts, end = _direct(8, 48)
    # same deterministic computation: equal to rounding
    for name, value in [("tau_gen", ts.tau_gen), ("tau_mem", ts.tau_mem), ("test_min", ts.test_min),
                        ("test_inf", ts.test_inf), ("train_inf", end.train[0])]:
        assert getattr(diagram, name)[1, 1] == pytest.approx(value, rel=1e-12), name
    assert diagram.gap_inf[1, 1] == pytest.approx(ts.test_inf - ts.test_min, rel=1e-10)
    assert diagram.window[1, 1] == pytest.approx(ts.tau_mem / ts.tau_gen, rel=1e-12)
    assert diagram.shape == (2, 3) and diagram.axes == ("psi_p", "psi_n")
    assert (diagram.error == "").all()


def test_boundary_is_a_root_of_the_memorization_ratio(diagram):
    """Direct evaluations at ψ_n* and 3% to either side (Brent's xtol 1e-4 in log ψ_n moves r by ~1e-5)."""
    for psi_p, star in zip([4, 8], diagram.boundary):
        assert 16 < star < 128
        ratios = []
        for psi_n in (star / 1.03, star, star * 1.03):
            ts, _ = _direct(psi_p, psi_n)
            ratios.append(float(memorization_ratio(ts.test_min, ts.test_inf)))
        assert abs(ratios[1] - diagram.gap_rtol) < 1e-3
        assert ratios[0] > diagram.gap_rtol > ratios[2]
    # labels agree with the boundary: memorizes below ψ_n*, generalizes above
    psi_n = diagram.coords["psi_n"]
    expected = np.where(psi_n[None, :] < diagram.boundary[:, None], "memorizes", "generalizes")
    assert (diagram.regime == expected).all()


def test_tau_map_and_select(diagram):
    row = diagram.select(psi_p=4)
    assert row.axes == ("psi_n",) and row.fixed["psi_p"] == 4 and row.boundary.shape == (1,)
    taus = [1.0, 0.5 * (row.tau_gen[0] + row.tau_mem[0]), 10 * row.tau_mem[0]]
    codes = row.tau_map(taus)
    assert codes[0].tolist() == [0, 1, 2]                     # ψ_n = 16 memorizes
    assert codes[2].tolist() == [0, 1, 1]                     # ψ_n = 128 > ψ_n*: never memorizing
    assert TAU_PHASES[2] == "memorizing"
    with pytest.raises(ValueError, match="select"):
        diagram.select(t=0.1)


def test_executors_and_store_give_identical_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    kw = dict(psi_p=4, psi_n=[2, 64], t=[0.01, 0.1], boundary=False, progress=False)
    serial = phase_diagram(executor="serial", store=tmp_path, **kw)
    assert serial.axes == ("psi_n", "t") and serial.stats["computed"] == 4
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        via_dask = phase_diagram(executor=client, **kw)
    os.remove(next(tmp_path.glob("*.json")))
    resumed = phase_diagram(executor="local", workers=2, store=tmp_path, **kw)
    assert resumed.stats["computed"] == 1 and resumed.stats["reused"] == 3
    for other in (via_dask, resumed):
        for name in ("tau_gen", "tau_mem", "test_min", "gap_inf", "train_inf", "test_inf"):
            np.testing.assert_array_equal(getattr(other, name), getattr(serial, name), err_msg=name)


def test_failing_point_is_recorded_not_fatal(monkeypatch):
    import rfdiff.phase as phase

    real = phase.LearningDynamics

    def flaky(model):
        if model.psi_n == 2:
            raise rd.SolverError("no physical branch (injected)")
        return real(model)

    monkeypatch.setattr(phase, "LearningDynamics", flaky)   # the serial executor runs in this process
    got = phase_diagram(psi_p=4, psi_n=[2, 16], t=T, executor="serial", boundary=False, progress=False)
    assert got.stats["failed"] == 1
    assert got.error[0] == "SolverError: no physical branch (injected)" and got.regime[0] == "failed"
    assert math.isnan(got.tau_gen[0]) and math.isnan(got.gap_inf[0])
    assert got.error[1] == "" and got.regime[1] == "memorizes" and np.isfinite(got.tau_mem[1])


@pytest.mark.parametrize("kw, word", [
    (dict(psi_p=4, psi_n=2, t=0.1), "one or two"),
    (dict(psi_p=[4, 8], psi_n=[2, 3], t=[0.1, 0.2]), "one or two"),
    (dict(psi_p=[4, -8], psi_n=2, t=0.1), "psi_p"),
    (dict(psi_p=4, psi_n=[3, 2], t=0.1), "psi_n"),
    (dict(psi_p=4, psi_n=[2, 3], t=float("nan")), "t"),
    (dict(psi_p=4, psi_n=[2, 3], t=0.1, gap_rtol=1.5), "gap_rtol"),
    (dict(psi_p=4, psi_n=[2, 3], t=0.1, mem_fraction=2), "mem_fraction"),
    (dict(psi_p=4, psi_n=[2, 3], t=0.1, tolerance=2), "unknown"),
    (dict(psi_p=4, psi_n=[2, 3], t=0.1, executor="spark"), "executor"),
])
def test_bad_input(kw, word):
    with pytest.raises(ValueError, match=word):
        phase_diagram(progress=False, **kw)


@pytest.mark.slow
def test_boundary_against_fine_scan():
    """ψ_n* against the crossing of r(ψ_n) = gap_rtol on a fine 1-D scan (40 points per decade).

    Linear interpolation of r in log ψ_n between scan points spaced by 10^(1/40) is accurate to the
    curvature of r over one spacing: a relative error on ψ_n* well below 1e-3.
    """
    psi_n = np.geomspace(8, 512, 73)
    pd = phase_diagram(psi_p=16, psi_n=psi_n, t=T, executor="local", progress=False)
    ratio = np.array([memorization_ratio(*(lambda ts: (ts.test_min, ts.test_inf))(
        rd.timescales(rd.RFModel(psi_p=16, psi_n=v, t=T)))) for v in psi_n])
    np.testing.assert_allclose(pd.ratio, ratio, rtol=1e-10)
    k = np.flatnonzero(ratio > pd.gap_rtol)[-1]
    x = np.interp(pd.gap_rtol, ratio[[k + 1, k]], np.log(psi_n[[k + 1, k]]))
    assert pd.boundary[0] == pytest.approx(math.exp(x), rel=1e-3)


@pytest.mark.slow
def test_dask_local_cluster_with_processes():
    kw = dict(psi_p=[4, 16], psi_n=[2, 32], t=T, progress=False)
    ref = phase_diagram(executor="serial", **kw)
    got = phase_diagram(executor="dask", workers=2, **kw)
    for name in ("tau_gen", "tau_mem", "gap_inf", "boundary"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
