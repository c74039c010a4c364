"""Exact learning curves (rfdiff.dynamics) against Gaussian-equivalent simulations, closed forms and identities.

Finite-size band: at d ≈ 100 the relative-norm distance between a single simulated curve and the limit
was measured at ≤ 0.6/d for train/test and ≤ 1.3/d for the score error over all cases below (docs/theory.md §8);
the tolerances are 2/d and 4/d (tests/helpers.py).
"""
import numpy as np
import pytest

import rfdiff as rd
from rfdiff import (LearningDynamics, loss_curves, seed_epoch_lr_from_tau, steps_from_tau, tau_from_seed_epoch_lr,
                    tau_from_steps, two_point)
from rfdiff.data import DataLaw
from rfdiff.simulate import gaussian_equivalent

from helpers import (FINITE_SIZE_LOSS_PER_D as LOSS_TOL, FINITE_SIZE_SCORE_PER_D as SCORE_TOL, MP_SMALL_RATIO,
                     assert_rel_close)


def tau_grid(dyn, points=40):
    """From before the fastest mode moves to after the slowest has relaxed, plus 0 and ∞."""
    inner = np.geomspace(*dyn.tau_window(), points)
    return np.concatenate([[0.0], inner, [np.inf]])


CASES = {
    "identity": (rd.RFModel(4, 2, 0.1), 100),
    "psi_p<psi_n": (rd.RFModel(2, 6, 0.1), 100),
    "psi_p<1": (rd.RFModel(0.5, 2, 0.1), 200),
    "small_t": (rd.RFModel(8, 1, 0.01), 50),
    "large_t": (rd.RFModel(4, 2, 1.0), 60),
    "relu": (rd.RFModel(4, 2, 0.1, activation="relu"), 100),
    "two_atoms": (rd.RFModel(4, 2, 0.1, data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5])), 100),
    "tau_sigma_2": (rd.RFModel(4, 2, 0.1, data=rd.DiscreteSpectrum([1.0, 3.0], [0.5, 0.5])), 100),
    "marchenko_pastur": (rd.RFModel(4, 2, 0.1, data=rd.MarchenkoPastur(0.5)), 100),
}

SLOW_CASES = {
    "paper_model": (rd.RFModel(64, 8, 0.01), 40),
    "psi_p>>psi_n": (rd.RFModel(32, 1, 0.01), 50),
    "four_atoms": (rd.RFModel(8, 2, 0.1, data=rd.DiscreteSpectrum([0.25, 0.5, 1.0, 2.0], [0.25] * 4)), 150),
    "relu_small_t": (rd.RFModel(16, 4, 0.01, activation="relu"), 60),
    "mp_psi_p<psi_n": (rd.RFModel(2, 8, 0.05, data=rd.MarchenkoPastur(0.3, 2.0)), 150),
}


def assert_matches_simulation(model, d):
    dyn = LearningDynamics(model)
    taus = tau_grid(dyn)
    exact = dyn(taus)
    sim = gaussian_equivalent(model, d=d, seed=0).loss_curves(taus)
    assert exact.quad_error.max() < 1e-8
    assert_rel_close(exact.train, sim.train, LOSS_TOL / d, f"train, limit vs simulation at d = {d}")
    assert_rel_close(exact.test, sim.test, LOSS_TOL / d, f"test, limit vs simulation at d = {d}")
    assert_rel_close(exact.score_error, sim.score_error, SCORE_TOL / d, f"score error, limit vs simulation at d = {d}")
    assert_rel_close(exact.gap + 1, sim.gap + 1, 2 * LOSS_TOL / d, f"1 + gap, limit vs simulation at d = {d}")


@pytest.mark.parametrize("name", CASES)
def test_curves_match_simulation(name):
    assert_matches_simulation(*CASES[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_CASES)
def test_curves_match_simulation_slow(name):
    assert_matches_simulation(*SLOW_CASES[name])


@pytest.fixture(scope="module")
def two_atom_dynamics():
    return LearningDynamics(CASES["two_atoms"][0])


def test_identities(two_atom_dynamics):
    """L(0) = 1 and L_test = Δ_t E_score + 1 − Δ_t⟨1/Σ_t⟩ (docs/theory.md §1)."""
    dyn = two_atom_dynamics
    model = dyn.model
    c = dyn(tau_grid(dyn))
    assert c.train[0] == 1.0 and c.test[0] == 1.0
    inv = np.mean([1 / (np.exp(-2 * model.t) * s + model.delta_t) for s in (0.5, 1.5)])
    assert np.allclose(c.test, model.delta_t * c.score_error + 1 - model.delta_t * inv, rtol=0, atol=1e-12)
    assert np.array_equal(c.gap, c.test - c.train)
    assert c.score_error[0] == pytest.approx(inv, rel=1e-12)


def test_quadrature_converged(two_atom_dynamics):
    """The N-vs-N/2 estimate bounds the distance to a much finer contour."""
    dyn = two_atom_dynamics
    taus = tau_grid(dyn)
    c = dyn(taus)
    fine = LearningDynamics(dyn.model, tol=1e-14)(taus)
    assert c.quad_error.max() < 1e-9
    assert np.max(np.abs(c.test - fine.test)) <= max(c.quad_error.max(), 1e-12)
    assert np.max(np.abs(c.train - fine.train)) <= max(c.quad_error.max(), 1e-12)
    assert c.n_fallback == 0


def test_infinite_time_is_the_limit(two_atom_dynamics):
    dyn = two_atom_dynamics
    late = 1e6 / (dyn.model.kappa * dyn.support.intervals[0][0])
    c = dyn([late, np.inf])
    assert c.test[0] == pytest.approx(c.test[1], rel=1e-10)
    assert c.train[0] == pytest.approx(c.train[1], rel=1e-10)


def test_train_is_one_point_functional(two_atom_dynamics):
    """L_train(∞) = 1 − b² ∫ dμ_W/λ, the real-axis integral of the density of μ_W (independent route)."""
    from rfdiff.spectral import spectrum
    dyn = two_atom_dynamics
    total = 0.0
    for lo, hi in dyn.support.intervals:
        theta = (np.arange(800) + 0.5) * np.pi / 800
        lam = lo + 0.5 * (hi - lo) * (1 - np.cos(theta))
        w = 0.5 * (hi - lo) * np.sin(theta) * np.pi / 800
        total += w @ (spectrum(dyn.model, lam).density_w / lam)
    expected = 1 - rd.ge_coefficients(dyn.model).b ** 2 * total
    assert dyn([np.inf]).train[0] == pytest.approx(expected, rel=1e-8)


def test_decomposition_adds_up_and_matches_simulation():
    model, d = rd.RFModel(8, 2, 0.1), 60
    dyn = LearningDynamics(model)
    taus = tau_grid(dyn, 20)
    dec = dyn.decompose(taus)
    c = dyn(taus)
    assert len(dec.intervals) >= 2
    assert np.allclose(dec.train.sum(0), c.train - 1, atol=1e-12)
    assert np.allclose(dec.test.sum(0), c.test - 1, atol=1e-12)
    assert np.allclose(dec.score_error.sum(0), c.score_error - dyn.inv_sigma_t, atol=1e-10)
    assert dec.mass_w.sum() == pytest.approx(model.psi_p, rel=1e-10)
    # the same split of a finite sample: eigenvalues of U assigned to the group whose bulks are nearest
    ge = gaussian_equivalent(model, d=d, seed=1)
    lam, Q = np.linalg.eigh(ge.U)
    Kq = Q.T @ ge.K @ Q
    H = Kq * (Q.T @ ge.U_pop @ Q)
    centers = [np.sqrt(g[0][0] * g[-1][1]) for g in dec.intervals]
    group = np.argmin(np.abs(np.log(np.maximum(lam, 1e-300))[:, None] - np.log(centers)[None, :]), axis=1)
    kappa, b2 = ge.kappa, ge.coefficients.b ** 2
    for tau_index in (5, 12, len(taus) - 1):
        tau = taus[tau_index]
        f = 1 / lam if np.isinf(tau) else -np.expm1(-kappa * tau * lam) / lam
        share = b2 * (f * (H @ f) - 2 * f * np.diag(Kq)) / d
        sim = np.array([share[group == g].sum() for g in range(len(centers))])
        assert np.allclose(sim, dec.test[:, tau_index], atol=LOSS_TOL / d * max(1, abs(c.test[tau_index])))


@pytest.fixture(scope="module")
def finite_sample():
    model = rd.RFModel(2, 1, 0.1, data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5]))
    return model, gaussian_equivalent(model, d=300, seed=3)


def test_two_point_matches_simulation(finite_sample):
    """T(z1, z2) against the empirical (1/d) Tr[K R(z1) U_pop R(z2)] at d = 300.

    Band 4%: the seed-to-seed spread of the empirical T at d = 300 was measured at 1–2% for these points
    (spectrum [0.014, 4.1]); the mean over seeds approaches the limit like 1/d (1.2% at d = 300, 0.5% at
    d = 600 for a point at Im z = 0.3).
    """
    model, ge = finite_sample
    z1 = np.array([0.5 + 1.0j, 2.0 - 1.5j, -0.5 + 0.5j, 6.0 + 0.0j, 3.0 + 2.0j])
    z2 = np.array([1.0 + 1.0j, 2.0 + 1.5j, 3.0 - 1.0j, 0.1 - 1.0j, 3.0 + 2.0j])
    exact = two_point(model, z1, z2)
    sim = ge.two_point(z1, z2)
    assert np.all(np.abs(exact - sim) < 0.04 * np.abs(sim))


def test_two_point_symmetry_and_large_z(finite_sample):
    model, _ = finite_sample
    z1 = np.array([0.3 + 0.2j, 1.5 - 0.7j])
    z2 = np.array([2.0 + 1.0j, 0.8 + 0.1j])
    assert np.allclose(two_point(model, z1, z2), two_point(model, z2, z1), rtol=1e-12)
    c = rd.ge_coefficients(model)
    # z1 z2 T → (ψ_p² + ψ_p)⟨x_P⟩ + ψ_p (v² + s²) = (1/d) Tr[K U_pop]  (derivations/two_point.py)
    xP = c.mu1 ** 2 * (c.e2t * model.data.tau_sigma + c.delta_t)
    moment = (model.psi_p ** 2 + model.psi_p) * xP + model.psi_p * (c.v2 + c.s2)
    z = np.array([1e7 + 1e6j])
    assert (z * z * two_point(model, z, z))[0] == pytest.approx(moment, rel=1e-5)


@pytest.mark.parametrize("model", [rd.RFModel(64, 8, 0.01), rd.RFModel(4, 2.5, 0.1, m=2),
                                   rd.RFModel(4, 2.5, 0.1, data=rd.GaussianMixture([0.5, 0.5], [rd.Isotropic(0.5),
                                                                                               rd.Isotropic(2.0)]))],
                         ids=["three_ellipses", "m=2", "mixture"])
def test_contour_traces_equal_every_pair_computed_directly(model):
    """LearningDynamics computes each pair of contour nodes once up to the symmetry and conjugation of T_VV, and
    reuses the last round's pairs (nested nodes): its T_VV on all nodes equals pair_traces at every pair (an
    index slip in either layout moves entries by far more than rounding); so do the per-class basis traces."""
    from rfdiff.structure import Symbol
    from rfdiff.twopoint import NodeSolution, pair_traces
    dyn = LearningDynamics(model)
    st = dyn.structure
    q, deltas = dyn._nodes.q, np.stack([1.0 / u - 1.0 for u in dyn._nodes.u], axis=-1)
    rows = NodeSolution(st, q[:, None], deltas[:, None, :], dyn.g_w[:, None])      # every pair, broadcast
    cols = NodeSolution(st, q[None, :], deltas[None, :, :], dyn.g_w[None, :])
    direct = pair_traces(st, rows, cols)[0][1]
    scale = np.abs(direct).max()
    assert np.abs(dyn.TVV - direct).max() <= 1e-12 * scale
    if st.mixture:
        basis = (Symbol(1.0, 0.0, 0.0), Symbol(0.0, 1.0, 0.0), Symbol(0.0, 0.0, 1.0))
        for c, part in zip(dyn.classes, st.classes):
            P = part.population
            tvv = sum(x * t for x, (_, t) in zip((P.alpha, P.beta, P.x0), pair_traces(st, rows, cols, basis)))
            got = c._test[0].cols.T                  # rows: the kept (upper) nodes; columns: all nodes
            assert np.abs(got - tvv[dyn._upper]).max() <= 1e-12 * np.abs(tvv).max()


class _Delegate(DataLaw):
    """A non-discrete law (forces the partial-fraction path) with the averages of a discrete one."""

    def __init__(self, law):
        self.law = law

    def averages(self, alpha, beta):
        return self.law.averages(alpha, beta)


def test_pair_moments_partial_fractions_match_direct_sums():
    """The two-point kernel's pair moments ⟨σ^k/(D1 D2)⟩: the partial fractions of the law's Stieltjes transform
    (Marchenko–Pastur and every non-discrete law), confluent pairs included, against direct sums over atoms."""
    from rfdiff.twopoint import _moments, law_sides
    law = rd.DiscreteSpectrum([0.5, 1.0, 3.0], [0.2, 0.5, 0.3])
    eigs, wts = np.array(law.eigs, float), np.array(law.weights, float)
    rng = np.random.default_rng(0)
    al1, be1, al2, be2 = (rng.normal(size=6) + 1j * rng.normal(size=6) for _ in range(4))
    al2[0], be2[0] = al1[0], be1[0]                          # confluent pair
    al2[1], be2[1] = al1[1] * (1 + 1e-7), be1[1]             # nearly confluent
    s1, s2 = law_sides(_Delegate(law), al1, be1), law_sides(_Delegate(law), al2, be2)
    for i in range(6):
        args = (al1[i], be1[i], al2[i], be2[i], s1[0][i], s1[1][i], s1[2][i], s2[0][i], s2[1][i], s2[2][i])
        direct = _moments(*args, True, eigs, wts)
        fractions = _moments(*args, False, eigs, wts)
        assert np.allclose(direct, fractions, rtol=1e-8, atol=0)


def test_isotropic_equals_marchenko_pastur_limit():
    """A Marchenko–Pastur Σ of tiny ratio is nearly Σ = I: the two code paths agree to O(ratio)."""
    taus = [1.0, 10.0, 100.0, np.inf]
    iso = loss_curves(rd.RFModel(4, 2, 0.1), taus)
    mp = loss_curves(rd.RFModel(4, 2, 0.1, data=rd.MarchenkoPastur(1e-4)), taus)
    assert_rel_close(mp.test, iso.test, MP_SMALL_RATIO, "test, MP(1e-4) vs isotropic")
    assert_rel_close(mp.train, iso.train, MP_SMALL_RATIO, "train, MP(1e-4) vs isotropic")


def test_time_conversions():
    assert tau_from_steps(1000, 0.5, 10) == pytest.approx(5.0)
    assert steps_from_tau(tau_from_steps(123.0, 0.1, 7), 0.1, 7) == pytest.approx(123.0)
    # seed code: logged epoch·lr = τ d/ψ_p
    assert tau_from_seed_epoch_lr(seed_epoch_lr_from_tau(42.0, 100, 64), 100, 64) == pytest.approx(42.0)
    assert seed_epoch_lr_from_tau(64.0, 100, 64) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="lr"):
        tau_from_steps(10, -1.0, 10)
    with pytest.raises(ValueError, match="psi_p"):
        tau_from_seed_epoch_lr(1.0, 10, 0)


def test_bad_input(two_atom_dynamics):
    dyn = two_atom_dynamics
    for bad in ([-1.0], [np.nan], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="taus"):
            dyn(bad)
    with pytest.raises(ValueError, match="tol"):
        LearningDynamics(dyn.model, tol=0)
    with pytest.raises(ValueError, match="max_nodes"):
        LearningDynamics(dyn.model, max_nodes=4)


def test_to_dict_has_curves_and_diagnostics(two_atom_dynamics):
    out = two_atom_dynamics([0.0, 1.0, np.inf]).to_dict()
    assert {"model", "tau", "train", "test", "score_error", "gap", "diagnostics"} <= set(out)
    assert {"quad_error", "nodes", "n_fallback"} <= set(out["diagnostics"])


def test_unconverged_contour_warns_and_reports():
    with pytest.warns(RuntimeWarning, match="not converged"):
        dyn = LearningDynamics(CASES["two_atoms"][0], tol=1e-15, max_nodes=16)
    assert dyn([np.inf]).quad_error[0] > 1e-12


@pytest.mark.parametrize("activation", ["linear", "sigmoid"])
def test_other_activations_match_simulation(activation):
    """linear: s² = v² = 0, U has an atom at 0 (outside the log contour, no μ_W weight); sigmoid: μ0 ≠ 0."""
    assert_matches_simulation(rd.RFModel(4, 2, 0.1, activation=activation), 100)


def test_atom_is_not_a_pole():
    """The atom of U at s_t² carries no μ_W weight: q has a pole there, g_W and T do not (so the contour
    may leave it outside)."""
    from rfdiff.spectral import stieltjes
    model = rd.RFModel(64, 8, 0.01)
    s2 = rd.ge_coefficients(model).s2
    z = s2 * (1 + 1j * np.array([1e-5, 1e-9]))
    st = stieltjes(model, z)
    assert abs(st.q[1]) > 1e3 * abs(st.q[0])
    assert st.g_w[1] == pytest.approx(st.g_w[0], rel=1e-3)    # changes by O(ε), not O(1/ε)
    T = two_point(model, z, np.full(2, 1 + 1j))
    assert T[1] == pytest.approx(T[0], rel=1e-3)
