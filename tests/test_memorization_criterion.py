"""One definition of "memorizes" everywhere, and honest timescales where the minimum is not resolvable.

The references are independent of the timescale code: the exact curve's own values (``LearningDynamics``)
and the definitions written out here.
"""
import math

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.dynamics import LearningDynamics
from rfdiff.timing import TimescaleOptions, memorization_ratio, timescales, timescales_from_curve


@pytest.mark.parametrize("args", [(8, 2, 5.0, "tanh"), (16, 16, 5.0, "tanh"), (2, 8, 4.0, "erf"),
                                  (0.5, 1, 4.5, "erf"), (2, 8, 5.0, "relu")])
def test_unresolvable_minimum_is_reported_not_raised(args):
    """At t = 4–5 the test-loss minimum is ~1e-16 deep, below the curve's quadrature error."""
    model = rd.RFModel(*args[:3], activation=args[3])
    ts = timescales(model)
    assert math.isinf(ts.tau_gen) and math.isinf(ts.tau_mem) and not ts.memorizes
    # either reported as unresolvable, or L_test decreases to its end within rounding
    assert "no resolvable minimum" in ts.message or ts.test_inf <= ts.test_min
    dyn = LearningDynamics(model)
    c = dyn(np.append(np.geomspace(*dyn.tau_window(), 200), np.inf))
    # the curve really is flat to within its error after its minimum
    i = int(np.argmin(c.test))
    assert c.test[-1] - c.test[i] <= ts.curve_error


def test_ill_conditioned_tau_gen_is_flagged():
    """erf at t = 3: the loss rises by ~3e-11 after its minimum, so τ_gen has few significant digits."""
    ts = timescales(rd.RFModel(4, 2, 3.0, activation="erf"))
    assert math.isfinite(ts.tau_gen)
    assert ts.status == "fallback" and "ill-conditioned" in ts.message
    assert ts.test_inf - ts.test_min < 1e4 * ts.curve_error


def test_well_conditioned_model_has_ok_status():
    ts = timescales(rd.RFModel(8, 2, 0.1))
    assert ts.status == "ok" and ts.message == "" and ts.converged
    assert ts.memorizes and math.isfinite(ts.tau_mem)
    assert ts.ratio == pytest.approx((ts.test_inf - ts.test_min) / (1 - ts.test_min))


@pytest.mark.parametrize("options", [dict(), dict(gap_rtol=0.3), dict(mem_tol=1e-3)])
def test_tau_mem_is_finite_exactly_when_the_criterion_holds(options):
    """Across ψ_n the memorization criterion (written out here) decides whether τ_mem is finite."""
    opts = TimescaleOptions(**options)
    for psi_n in (1.0, 4.0, 16.0, 64.0):
        ts = timescales(rd.RFModel(4, psi_n, 0.1), options=opts)
        gap = ts.test_inf - ts.test_min
        expected = gap > opts.mem_tol if opts.mem_tol is not None else gap / (1 - ts.test_min) > opts.gap_rtol
        assert ts.memorizes == expected
        assert math.isfinite(ts.tau_mem) == expected


PSI_N = [1.0, 8.0, 64.0, 512.0]


@pytest.fixture(scope="module")
def diagram():
    """ψ_p = 4, 8 × four ψ_n at t = 0.1, with the boundary (one diagram for the two tests below: the
    boundary's root finding is most of its cost)."""
    return rd.phase_diagram(psi_p=[4, 8], psi_n=PSI_N, t=0.1, executor="serial", progress=False)


def test_phase_diagram_regime_tau_map_and_boundary_agree(diagram):
    psi_n = PSI_N
    pd = diagram.select(psi_p=4)
    memorizes = pd.regime == "memorizes"
    assert memorizes.any() and (~memorizes).any()
    assert np.array_equal(np.isfinite(pd.tau_mem), memorizes)
    assert np.array_equal(memorizes, pd.ratio > pd.gap_rtol)
    phases = pd.tau_map(np.geomspace(1e-2, 1e12, 50))
    assert np.array_equal((phases == 2).any(axis=1), memorizes)
    # the boundary lies between the last memorizing and the first generalizing grid point
    k = np.flatnonzero(memorizes)[-1]
    assert psi_n[k] < pd.boundary[0] < psi_n[k + 1]
    ts = timescales(rd.RFModel(4, float(pd.boundary[0]), 0.1))
    assert memorization_ratio(ts.test_min, ts.test_inf) == pytest.approx(pd.gap_rtol, abs=1e-3)
    assert pd.status == "ok" and pd.converged


def test_curve_timescales_use_the_same_criterion():
    """timescales_from_curve on the exact curve decides memorization as timescales does."""
    for psi_n in (2.0, 512.0):
        model = rd.RFModel(4, psi_n, 0.1)
        dyn = LearningDynamics(model)
        ts = timescales(model, dynamics=dyn)
        found = timescales_from_curve(dyn)                  # no derivative: the minimisation branch
        assert found.tau_gen == pytest.approx(ts.tau_gen, rel=1e-3)
        assert found.memorizes == ts.memorizes and math.isfinite(found.tau_mem) == ts.memorizes
        if ts.memorizes:
            assert found.tau_mem == pytest.approx(ts.tau_mem, rel=1e-3)


def test_options_validated_once_by_name():
    with pytest.raises(ValueError, match="gap_rtol"):
        TimescaleOptions(gap_rtol=1.5)
    with pytest.raises(ValueError, match="unknown timescale option"):
        timescales(rd.RFModel(4, 2, 0.1), mem_fracton=0.2)
    with pytest.raises(ValueError, match="mem_fraction"):
        rd.phase_diagram(psi_p=4, psi_n=[2, 3], t=0.1, mem_fraction=2, executor="serial")


def test_phase_diagram_to_xarray_and_netcdf(tmp_path, diagram):
    xr = pytest.importorskip("xarray")
    pd = diagram
    ds = pd.to_xarray()
    assert ds.tau_gen.dims == ("psi_p", "psi_n")
    np.testing.assert_array_equal(ds.psi_n.values, pd.coords["psi_n"])
    np.testing.assert_array_equal(ds.tau_gen.values, pd.tau_gen)
    np.testing.assert_array_equal(ds.regime.values, pd.regime.astype(str))
    np.testing.assert_array_equal(ds.boundary_psi_n.values, pd.boundary)
    assert ds.attrs["gap_rtol"] == pd.gap_rtol
    path = tmp_path / "pd.nc"
    pd.to_netcdf(path)
    back = xr.open_dataset(path)
    np.testing.assert_allclose(back.tau_mem.values, pd.tau_mem)
    assert list(back.regime.values.astype(str).ravel()) == list(pd.regime.astype(str).ravel())
    back.close()
