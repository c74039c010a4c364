"""How solver results say how they were obtained (status, message, iterations, diagnostics), the
compiled-kernel boundary (named parameters, one Marchenko–Pastur transform) and the lazy package."""
import subprocess
import sys

import numpy as np
import pytest

import rfdiff as rd
import rfdiff.spectral as S
from rfdiff.spectral import kernels
from rfdiff.spectral.kernels import KernelParams
from rfdiff.spectral.onepoint import kernel_inputs
from rfdiff.structure import structure
from rfdiff.results import Result

MODEL = rd.RFModel(16, 4, 0.05)


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_rfdiff_does_not_import_numba():
    proc = _run("import rfdiff, sys; assert 'numba' not in sys.modules, 'numba imported'")
    assert proc.returncode == 0, proc.stderr


def test_data_laws_and_model_do_not_import_numba():
    proc = _run("import sys, rfdiff.data, rfdiff.model; m = rfdiff.RFModel(4, 2, 0.1); "
                "assert 'numba' not in sys.modules")
    assert proc.returncode == 0, proc.stderr


def test_lazy_package_namespace():
    assert set(rd.__all__) <= set(dir(rd))
    assert rd.__version__
    for name in rd.__all__:
        assert getattr(rd, name) is not None
    assert rd.spectrum is S.spectrum and rd.simulate.__name__ == "rfdiff.simulate"
    with pytest.raises(AttributeError, match="no_such_name"):
        rd.no_such_name  # noqa: B018


# ----------------------------------------------------------------------------------- kernel boundary

def test_kernel_parameters_have_the_names_of_the_maths():
    """Exact noise averages: one component C = (e^{-2t}μ1² σ, v²) with p/N = ψ_p/ψ_n, shift H = (b², s²)."""
    st = structure(MODEL)
    par, kind, _eigs, _wts = kernel_inputs(st)
    c = rd.ge_coefficients(MODEL)
    assert isinstance(par, KernelParams) and kind == 0
    assert par.psi_p == 16 and list(par.comp_r) == [4.0] and par.tau_sigma == 1.0
    assert par.shift_beta == pytest.approx(c.b ** 2, rel=1e-15) and par.shift_alpha == 0.0
    assert par.comp_alpha[0] == pytest.approx(c.e2t * c.mu1 ** 2, rel=1e-15) and par.comp_beta[0] == 0.0
    assert par.comp_x0[0] == c.v2 and st.origin == c.s2


def test_one_marchenko_pastur_transform():
    """The data law and the solver evaluate the same compiled closed form."""
    law = rd.MarchenkoPastur(0.3, 2.0)
    rng = np.random.default_rng(0)
    zeta = rng.normal(size=(3, 4)) * 3 + 1j * rng.normal(size=(3, 4))
    got = law.transforms(zeta)
    assert all(g.shape == zeta.shape for g in got)
    for idx in np.ndindex(zeta.shape):
        ref = kernels.mp_transforms(complex(zeta[idx]), 0.3, 2.0)      # the solver's closed form
        assert [g[idx] for g in got] == list(ref)
    G, dG = law.stieltjes(0.8 + 0.3j)  # scalars stay scalars
    assert np.ndim(G) == 0 and np.ndim(dG) == 0


# ----------------------------------------------------------------------------------------- results

def test_stieltjes_counts_iterations():
    c = rd.ge_coefficients(MODEL)
    z = c.s2 + np.array([[1.0 + 1.0j, 3.0 + 1e-9j], [3.0, 1e3 + 1e3j]])
    st = rd.stieltjes(MODEL, z)
    assert st.iterations.shape == z.shape and st.iterations.dtype.kind == "i"
    assert np.all(st.iterations >= 1)
    # closer to the axis: more continuation steps than far away
    assert st.iterations[0, 1] > st.iterations[1, 1] and st.iterations[1, 0] > st.iterations[1, 1]
    assert st.converged.shape == z.shape and st.n_failed == 0


def test_spectrum_and_support_are_outcomes():
    sup = rd.support(MODEL)
    sp = rd.spectrum(MODEL, S.spectral_grid(sup, 400))
    for res in (sup, sp):
        assert isinstance(res, Result) and res.converged
        assert res.status in ("ok", "fallback")
        assert (res.status == "ok") == (res.message == "")
        assert res.max_residual <= kernels.VERIFY_TOL
        assert res.max_iterations >= 1 and res.total_iterations >= res.max_iterations
        assert res.n_fallback >= 0
    assert sp.status == ("fallback" if sp.n_fallback else "ok")
    if sp.n_fallback:
        assert "edge" in sp.message
    assert sup.grid_points > 0 and sup.refinements == 0
    d = sup.to_dict()
    assert {"status", "message", "offsets", "diagnostics"} <= set(d)
    assert {"grid_points", "refinements", "n_fallback", "max_residual", "total_iterations",
            "max_iterations"} <= set(d["diagnostics"])
    d = sp.to_dict()
    assert {"status", "message"} <= set(d)
    assert {"n_fallback", "max_residual", "total_iterations", "max_iterations"} <= set(d["diagnostics"])


def test_spectrum_status_ok_away_from_edges():
    sup = rd.support(MODEL)
    lo, hi = sup.intervals[-1]
    sp = rd.spectrum(MODEL, np.linspace(lo, hi, 50)[1:-1])
    assert sp.status == "ok" and sp.message == "" and sp.n_fallback == 0


@pytest.mark.parametrize("model", [
    rd.RFModel(64, 8, 0.01), rd.RFModel(4, 2.5, 0.1, m=2), rd.RFModel(1, 4, 2.0, m=1, weight_decay=0.1),
    rd.RFModel(4, 2, 0.1, data=rd.MarchenkoPastur(0.5)),
    rd.RFModel(4, 2.5, 0.1, m=2, data=rd.GaussianMixture([0.3, 0.7], [rd.Isotropic(0.5), rd.Isotropic(2.0)]))],
    ids=["paper", "m=2", "m=1 decay", "MP", "mixture m=2"])
def test_contour_path_starts_land_on_the_physical_solution(model):
    """Contour nodes solved as a path (each off-axis node starts Newton from its neighbour's solution) give the
    continuation's solution at every node, to rounding: a start that converged to another root would differ by
    O(1). Nodes of every ellipse of the model's contour, and of a mass contour, at two node counts."""
    from rfdiff.contour import ellipses
    from rfdiff.spectral.onepoint import solve
    st = structure(model)
    sup = S.support(model)
    paths = [e.nodes(n)[0] for e in ellipses(sup, model.weight_decay) for n in (64, 256)]
    lo, hi = sup.offsets[0]
    theta = 2 * np.pi * np.arange(128) / 128
    paths.append(st.origin + np.exp(0.5 * np.log(lo * hi) + 0.5 * np.log(hi / lo) * np.cos(theta)
                                    + 0.5j * np.sin(theta)))
    for z in paths:
        warm, cold = solve(st, z - st.origin, path=True), solve(st, z - st.origin)
        assert warm.n_failed == 0 and cold.n_failed == 0
        assert warm.iterations.sum() < cold.iterations.sum()       # the path starts were taken
        for a, b in ((warm.q, cold.q), (warm.deltas, cold.deltas), (warm.g_w, cold.g_w)):
            assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) < 1e-11
