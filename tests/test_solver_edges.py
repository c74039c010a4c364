"""Edges of the one-point solver (docs/theory.md §4), each reproduced first and checked against
something independent: closed-form limits, mass conservation, Gaussian-equivalent samples."""
import math

import numpy as np
import pytest

import rfdiff as rd
import rfdiff.spectral as S
from rfdiff.structure import structure
from rfdiff.model import MIN_BULK_MASS, PSI_N_RANGE, PSI_P_RANGE, T_RANGE
from rfdiff.simulate import gaussian_equivalent


def _k_bulk(model):
    """Large-t limit: v_t², e^{-2t} → 0 leave ``U = b_t² K + s_t² I``; the d non-zero eigenvalues of
    ``K = WWᵀ/d`` fill ``[(√ψ_p − 1)², (√ψ_p + 1)²]`` (Marchenko–Pastur, ratio 1/ψ_p, scale ψ_p)."""
    c = rd.ge_coefficients(model)
    r = math.sqrt(model.psi_p)
    return c.s2 + c.b ** 2 * (r - 1) ** 2, c.s2 + c.b ** 2 * (r + 1) ** 2


# ------------------------------------------------------------------------------------------ large t

@pytest.mark.parametrize("t", [40, 50, 60, 80, 100, 200])
def test_large_t_support(t):
    """Was: ZeroDivisionError inside the compiled solver for t = 50…100 (a Newton iterate next to the
    atom's pole made the 2×2 Jacobian exactly singular). Now: one bulk, the closed-form K bulk, mass
    d/p = 1/ψ_p; the memorization bulk (width ~v_t² < 1e-100) is part of the atom at s_t²."""
    model = rd.RFModel(psi_p=64, psi_n=8, t=t)
    c = rd.ge_coefficients(model)
    sup = rd.support(model)
    assert sup.converged
    assert len(sup.intervals) == 1
    lo, hi = _k_bulk(model)
    assert sup.intervals[0] == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert sup.masses[0] == pytest.approx(1 / 64, abs=1e-9)
    assert sum(sup.masses_w) == pytest.approx(64, rel=1e-9)
    assert sup.atoms == [(c.s2, pytest.approx(1 - 1 / 64, abs=1e-9))]
    assert sup.total_mass == pytest.approx(1, abs=1e-7)
    if c.v2 > 0:  # the rank-counting atom is 1 − 9/64; the rest of the atom is the narrow bulk
        assert sup.status == "fallback" and "atom" in sup.message


def test_large_t_points_next_to_the_atom_do_not_raise():
    """The points that raised (offsets ~1e-137 from s² at t = 50) are solved and verified."""
    model = rd.RFModel(64, 8, 50)
    c = rd.ge_coefficients(model)
    omega = np.geomspace(1e-8 * c.v2, 1e-100, 50)
    st = S.solve(structure(model), omega.astype(complex))
    assert st.n_failed == 0
    assert np.all(np.isfinite(st.q)) and np.all(st.iterations > 0)


# ------------------------------------------------------------------------- bulk narrower than rounding

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_bulk_narrower_than_rounding_is_an_atom(activation):
    """At t = 20 the memorization bulk (mass ψ_n/ψ_p = 1/4) has width ~v_t² ~ 1e-36…1e-54: it was a
    zero-width interval whose density integrates to nothing. It is now part of the atom at s_t²,
    and the atom's multiplicity matches a Gaussian-equivalent sample exactly."""
    model = rd.RFModel(8, 2, 20, activation=activation)
    c = rd.ge_coefficients(model)
    sup = rd.support(model)
    assert all(hi > lo for lo, hi in sup.intervals)
    assert len(sup.intervals) == 1
    assert sup.atoms == [(c.s2, pytest.approx(1 - 1 / 8, abs=1e-9))]  # (1 − 3/8) rank + 1/4 narrow bulk
    assert sup.total_mass == pytest.approx(1, abs=1e-7)
    assert sup.status == "fallback" and "atom" in sup.message
    lo, hi = _k_bulk(model)
    assert sup.intervals[0] == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    sim = gaussian_equivalent(model, 60, seed=0, include_mean=False)
    ev = sim.eigenvalues()
    on_atom = np.abs(ev - c.s2) <= 1e-9 * max(1.0, c.s2)
    assert on_atom.sum() == round(sup.atoms[0][1] * sim.p)
    rest = ev[~on_atom]
    assert rest.min() == pytest.approx(lo, rel=0.1) and rest.max() == pytest.approx(hi, rel=0.1)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_loss_curves_with_a_narrow_bulk(activation):
    """Downstream contour code keeps the atom outside its contours: the curves start at 1 and are
    finite."""
    model = rd.RFModel(8, 2, 20, activation=activation)
    lc = rd.loss_curves(model, [0, 1, np.inf])
    assert lc.train[0] == pytest.approx(1) and lc.test[0] == pytest.approx(1)
    assert np.all(np.isfinite(lc.train)) and np.all(np.isfinite(lc.test))


# ------------------------------------------------------------------------------------ supported range

@pytest.mark.parametrize("kw, name", [
    (dict(psi_p=1e9, psi_n=8, t=0.1), "psi_p"),
    (dict(psi_p=1e-9, psi_n=8, t=0.1), "psi_p"),
    (dict(psi_p=64, psi_n=1e9, t=0.1), "psi_n"),
    (dict(psi_p=64, psi_n=1e-7, t=0.1), "psi_n"),
    (dict(psi_p=1e6, psi_n=0.5, t=0.1), "psi_n"),  # memorization bulk mass 5e-7 < MIN_BULK_MASS
    (dict(psi_p=64, psi_n=8, t=1e-13), "t"),
])
def test_out_of_range_is_refused(kw, name):
    with pytest.raises(ValueError, match=rf"^{name} must be >= ") as exc:
        rd.RFModel(**kw)
    assert "got" in str(exc.value)


def test_range_constants():
    assert PSI_P_RANGE[1] >= 1e6  # the kernel limit is planned at large ψ_p
    assert PSI_P_RANGE[0] <= 1e-4 and PSI_N_RANGE[1] >= 1e6 and T_RANGE[0] <= 1e-12 and math.isinf(T_RANGE[1])
    assert MIN_BULK_MASS >= 10 * 1e-7  # ten times support()'s default mass_tol


@pytest.mark.parametrize("kw", [
    dict(psi_p=1e6, psi_n=8, t=0.1), dict(psi_p=1e6, psi_n=1, t=1e-12), dict(psi_p=1e6, psi_n=1e8, t=1.0),
    dict(psi_p=1e-6, psi_n=1e-6, t=0.01), dict(psi_p=1e-6, psi_n=1e8, t=100.0), dict(psi_p=1e-4, psi_n=8, t=0.1),
    dict(psi_p=64, psi_n=1e6, t=0.1), dict(psi_p=64, psi_n=1e8, t=0.1), dict(psi_p=1e4, psi_n=0.01, t=0.1),
    dict(psi_p=64, psi_n=8, t=1e-12), dict(psi_p=1e4, psi_n=10, t=1e-12),
    pytest.param(dict(psi_p=1e6, psi_n=1e6, t=1e-12), marks=pytest.mark.slow),
])
def test_extremes_of_the_range_are_verified(kw):
    """Corners of the supported range (several failed before: IndexError, SolverError, masses
    not adding up): masses add up to 1, μ_W's to ψ_p, and every bulk is non-degenerate. The corner
    ψ_p = ψ_n = 1e6, t = 1e-12 alone takes as long as the other eleven (its bulks span 1e-13…1e6): slow."""
    model = rd.RFModel(**kw)
    sup = rd.support(model)
    assert sup.converged
    assert sup.total_mass == pytest.approx(1, abs=1e-7)
    assert sum(sup.masses_w) == pytest.approx(model.psi_p, rel=1e-5)
    assert all(hi > lo for lo, hi in sup.intervals) and all(m > 0 for m in sup.masses)
    sp = rd.spectrum(model, S.spectral_grid(sup, 64 * max(1, len(sup.intervals))))
    assert np.all(np.isfinite(sp.density)) and np.all(sp.density >= 0)


def test_small_psi_p_concentrates_at_the_diagonal():
    """ψ_p → 0 (p ≪ d, n): U concentrates at its diagonal ``s² + b² K_ii + C_ii`` with ``K_ii = 1``,
    ``C_ii = e^{-2t} μ1² τ_Σ + v²``; the width is O(√ψ_p)."""
    model = rd.RFModel(1e-6, 8, 0.1)
    c = rd.ge_coefficients(model)
    centre = c.s2 + c.b ** 2 + c.e2t * c.mu1 ** 2 * c.tau_sigma + c.v2
    sup = rd.support(model)
    (lo, hi), = sup.intervals
    assert lo < centre < hi
    assert hi - lo < 10 * math.sqrt(model.psi_p) * centre
    assert sup.masses[0] == pytest.approx(1, abs=1e-7)


def test_small_t_finds_the_k_bulk():
    """t = 1e-12: the bulk of b_t² K (b_t² ∝ t) sits ~1e-13 above s_t²; it was below the scan floor
    (masses added up to 1 − 1/64). Its mass is d/p and its edges scale like b_t²."""
    sups = [rd.support(rd.RFModel(64, 8, t)) for t in (1e-11, 1e-12)]
    for sup in sups:
        assert sup.total_mass == pytest.approx(1, abs=1e-7)
        assert sup.offsets[0][0] > 0 and sup.masses[0] == pytest.approx(1 / 64, abs=1e-9)
    ratio = [sup.offsets[0][1] for sup in sups]
    assert ratio[0] / ratio[1] == pytest.approx(10, rel=1e-3)


@pytest.mark.parametrize("kw, d", [(dict(psi_p=8, psi_n=2, t=50), 50),
                                   (dict(psi_p=8, psi_n=2, t=20, activation="relu"), 50),
                                   (dict(psi_p=16, psi_n=2, t=1e-12), 100)])
def test_new_regimes_match_gaussian_equivalent_samples(kw, d):
    """Large and small t against one finite-size sample (seed 0): ``(1/p) Tr R(z)`` and ``(1/d) Tr K R(z)`` in
    the middle of every bulk (z = λ(1 + i/2)) and next to the atom. The finite-size error is O(1/d) for g_W,
    far less for q; it is a bias, the same for every seed. Measured (seeds 0–3): large t at d = 50 (p = 400)
    g_W 0.8–1.8%, q ≤ 0.3%; t = 1e-12 at d = 100 (p = 1600) g_W 1.9–2.8%, q ≤ 0.1% (at d = 50 it is
    7–12%, hence d = 100): tolerance 5%. The large-t cases fail when the solver's W-part (b_t² K) is 3% off,
    the t = 1e-12 case when the identity part of its component is 10% off."""
    model = rd.RFModel(**kw)
    c = rd.ge_coefficients(model)
    sup = rd.support(model)
    z = np.array([0.5 * (lo + hi) * (1 + 0.5j) for lo, hi in sup.intervals] + [c.s2 + 0.05j])
    st = rd.stieltjes(model, z)
    assert np.all(st.point_status == 0) and st.status == "ok"
    q, g_w = gaussian_equivalent(model, d, seed=0, include_mean=False).stieltjes(z)
    np.testing.assert_allclose(q, st.q, rtol=0.05)
    np.testing.assert_allclose(g_w, st.g_w, rtol=0.05)


def test_spectrum_atoms_include_the_narrow_bulk():
    """spectrum() reports the same atoms as support(): at t = 20 the density on a grid resolving the
    one remaining bulk integrates to 1/8 and the atom carries the other 7/8."""
    model = rd.RFModel(8, 2, 20)
    c = rd.ge_coefficients(model)
    sup = rd.support(model)
    (lo, hi), = sup.intervals
    theta = (np.arange(4000) + 0.5) * np.pi / 4000
    sp = rd.spectrum(model, lo + 0.5 * (hi - lo) * (1 - np.cos(theta)))
    integral = np.sum(sp.density * 0.5 * (hi - lo) * np.sin(theta)) * np.pi / 4000
    assert sp.atoms == sup.atoms == [(c.s2, pytest.approx(7 / 8, abs=1e-9))]
    assert integral + sp.atoms[0][1] == pytest.approx(1, abs=1e-4)
    assert sp.status == "fallback" and "atom" in sp.message
