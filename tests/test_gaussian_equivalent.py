"""Checks of the finite-size Gaussian-equivalent simulator against independent facts.

Nothing here uses the theory modules: each check compares the simulator with an exact expectation, an
exact rank count, a dense computation done another way, or a numerically integrated gradient flow.
"""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import rfdiff as rd
from rfdiff import LossCurves
from rfdiff.simulate import GaussianEquivalent, gaussian_equivalent

TANH = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
RELU_2ATOMS = rd.RFModel(psi_p=3, psi_n=1.5, t=0.5, activation="relu",
                         data=rd.DiscreteSpectrum([0.5, 3.0], [0.5, 0.5]))
LINEAR = rd.RFModel(psi_p=3, psi_n=1.5, t=0.2, activation="linear",
                    data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5]))
SQUARE = rd.RFModel(psi_p=3, psi_n=1.5, t=0.2, activation=lambda x: x * x)   # even: μ1 = 0


def _mean_trace(ge):
    """Exact ``E (1/p) Tr U`` from the definitions of docs/theory.md §2.

    ``E‖W X‖_F² = p n Tr Σ`` (W, Z independent N(0,1)), ``E‖Ω‖_F² = p n``, ``E‖W‖_F² = p d`` and the
    cross term ``W X Ωᵀ`` has mean zero, so
    ``E (1/p) Tr U = e^{-2t} μ1² Tr Σ/d + v² + b² + s² (+ μ0²)``.
    """
    c = ge.coefficients
    mean2 = c.mu0 ** 2 if ge.include_mean else 0.0
    return c.e2t * c.mu1 ** 2 * np.mean(ge.sigma) + c.v2 + c.b ** 2 + c.s2 + mean2


def _trace_std(ge):
    """Leading-order standard deviation of ``(1/p) Tr U`` (Gaussian fourth moments, independent blocks).

    Data term ``e^{-2t}μ1² Tr(WᵀW XXᵀ)/(pnd)``: relative variance ``⟨σ²⟩(2/(pd) + 2/(nd) + 1/(pn))``;
    ``v²‖Ω‖²/(pn)``: ``2v⁴/(pn)``; ``b²‖W‖²/(pd)``: ``2b⁴/(pd)``; cross term: ``4 e^{-2t}μ1² v² τ_Σ/(pn)``.
    Over 300 seeds at d = 30 the empirical spread is 10–15 % above this estimate (neglected
    correlations between the terms), which the tolerances below absorb.
    """
    c = ge.coefficients
    p, n, d = ge.p, ge.n, ge.d
    a2 = c.e2t * c.mu1 ** 2
    var = (a2 ** 2 * np.mean(ge.sigma ** 2) * (2 / (p * d) + 2 / (n * d) + 1 / (p * n))
           + 2 * c.v2 ** 2 / (p * n) + 2 * c.b ** 4 / (p * d) + 4 * a2 * c.v2 * np.mean(ge.sigma) / (p * n))
    return math.sqrt(var)


def _count_at(lam, value, tol=1e-9):
    return int(np.sum(np.abs(lam - value) < tol))


# ------------------------------------------------------------------------------------------ sampling

def test_sizes_shapes_and_symmetry():
    ge = gaussian_equivalent(RELU_2ATOMS, 41, seed=3)
    assert isinstance(ge, GaussianEquivalent)
    assert (ge.d, ge.p, ge.n) == (41, round(3 * 41), round(1.5 * 41))
    assert ge.W.shape == (ge.p, ge.d) and ge.X.shape == (ge.d, ge.n) and ge.Omega.shape == (ge.p, ge.n)
    assert ge.U.shape == ge.U_pop.shape == ge.K.shape == (ge.p, ge.p)
    assert ge.V.shape == (ge.p, ge.d)
    assert ge.U.dtype == ge.V.dtype == ge.U_pop.dtype == np.float64
    np.testing.assert_allclose(ge.U, ge.U.T, rtol=0, atol=1e-13)
    np.testing.assert_allclose(ge.U_pop, ge.U_pop.T, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(np.sort(ge.sigma), np.sort(RELU_2ATOMS.data.eigenvalues(41)))
    assert ge.kappa == pytest.approx(2 * RELU_2ATOMS.delta_t * ge.d / ge.p, rel=1e-15)
    lam = ge.eigenvalues()
    assert np.all(np.diff(lam) >= 0) and lam[0] > 0


def test_seed_determinism():
    a = gaussian_equivalent(TANH, 30, seed=7)
    b = gaussian_equivalent(TANH, 30, seed=7)
    c = gaussian_equivalent(TANH, 30, seed=np.random.default_rng(7))
    other = gaussian_equivalent(TANH, 30, seed=8)
    for name in ("W", "X", "Omega", "U", "U_pop"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(a, name), getattr(c, name))
    np.testing.assert_array_equal(a.eigenvalues(), b.eigenvalues())
    taus = [0.0, 3.0, np.inf]
    np.testing.assert_array_equal(a.loss_curves(taus).test, b.loss_curves(taus).test)
    assert not np.array_equal(a.W, other.W)


def test_shares_sampling_convention():
    """Same seed, same W and X as every other simulator (rfdiff.simulate._sampling.sample_problem)."""
    from rfdiff.simulate import sample_problem
    ge = gaussian_equivalent(RELU_2ATOMS, 25, seed=13)
    W, X = sample_problem(RELU_2ATOMS, 25, seed=13)
    np.testing.assert_array_equal(ge.W, W)
    np.testing.assert_array_equal(ge.X, X)


def test_data_covariance_is_sigma():
    """X = Σ^{1/2} Z: the row second moments of X estimate the diagonal Σ (relative error ~ sqrt(2/n))."""
    ge = gaussian_equivalent(RELU_2ATOMS.replace(psi_n=200), 10, seed=1)    # n = 2000
    row_var = np.mean(ge.X ** 2, axis=1)
    assert np.all(np.abs(row_var / ge.sigma - 1) < 5 * math.sqrt(2 / ge.n))


@pytest.mark.parametrize("model", [TANH, RELU_2ATOMS], ids=["tanh-iso", "relu-2atoms"])
def test_trace_of_U_single_sample(model):
    """(1/p) Tr U at d = 100 equals its exact expectation within 6 estimated standard deviations."""
    ge = gaussian_equivalent(model, 100, seed=11)
    assert abs(np.trace(ge.U) / ge.p - _mean_trace(ge)) < 6 * _trace_std(ge)


def test_trace_of_U_average_over_seeds():
    """Mean of (1/p) Tr U over 200 samples at d = 20: exact expectation within 4 standard errors (~0.4 %)."""
    vals = []
    for seed in range(200):
        ge = gaussian_equivalent(RELU_2ATOMS, 20, seed=seed)
        vals.append(np.trace(ge.U) / ge.p)
    vals = np.asarray(vals)
    assert abs(vals.mean() - _mean_trace(ge)) < 4 * vals.std() / math.sqrt(vals.size)
    assert 0.7 < vals.std() / _trace_std(ge) < 1.5


def test_trace_of_U_pop_and_K():
    """E (1/p) Tr U_pop = μ1² Tr Σ_t/d + v² + s² + μ0²; E Tr K/d = p/d (std sqrt(2/(pd)) relative)."""
    ge = gaussian_equivalent(RELU_2ATOMS, 100, seed=5)
    c = ge.coefficients
    sigma_t = c.e2t * ge.sigma + c.delta_t
    expected = c.mu1 ** 2 * sigma_t.mean() + c.v2 + c.s2 + c.mu0 ** 2
    std = c.mu1 ** 2 * math.sqrt(2 * np.mean(sigma_t ** 2) / (ge.p * ge.d))
    assert abs(np.trace(ge.U_pop) / ge.p - expected) < 6 * std
    _, w = ge.mu_w_weights()
    assert abs(w.sum() - ge.p / ge.d) < 6 * (ge.p / ge.d) * math.sqrt(2 / (ge.p * ge.d))
    np.testing.assert_allclose(w.sum(), np.trace(ge.K) / ge.d, rtol=1e-12)


# ------------------------------------------------------------------------------------------ ranks

def test_atom_at_s2_rank_counting_tanh():
    """ψ_p > 1 + ψ_n: U − s² I = GGᵀ/n + b²K has rank n + d, so s² has multiplicity p − n − d."""
    ge = gaussian_equivalent(TANH, 60, seed=2)            # p = 240, n = 120, d = 60
    lam = ge.eigenvalues()
    assert _count_at(lam, ge.coefficients.s2) == ge.p - ge.n - ge.d == 60
    assert lam[ge.p - ge.n - ge.d] - ge.coefficients.s2 > 1e-6  # the next eigenvalue is clearly off
    # μ_W puts no weight on the atom: its eigenvectors are orthogonal to the range of W.
    lam, w = ge.mu_w_weights()
    assert np.max(w[np.abs(lam - ge.coefficients.s2) < 1e-9]) < 1e-20


def test_no_atom_when_n_plus_d_exceeds_p():
    ge = gaussian_equivalent(TANH.replace(psi_p=2.5), 60, seed=2)     # p = 150 < n + d = 180
    assert _count_at(ge.eigenvalues(), ge.coefficients.s2) == 0


@pytest.mark.parametrize("include_mean", [True, False])
def test_atom_with_mean_term(include_mean):
    """ReLU (μ0 ≠ 0): the mean μ0 sits on every feature column (as E_ξ σ(w·x_t) does for the true features), so
    it lies in the span of the n columns: the atom keeps multiplicity p − n − d, and the mean adds one outlier
    eigenvalue ≈ μ0² p."""
    model = RELU_2ATOMS.replace(psi_p=4)
    ge = gaussian_equivalent(model, 50, seed=4, include_mean=include_mean)
    c = ge.coefficients
    assert c.mu0 > 0.1
    lam = ge.eigenvalues()
    assert _count_at(lam, c.s2) == ge.p - ge.n - ge.d
    assert (lam[-1] / (c.mu0 ** 2 * ge.p) > 0.9) == include_mean


def test_linear_activation_rank_and_spectrum():
    """σ(x) = x: v² = s² = 0, U = W M Wᵀ/d with M = e^{-2t} XXᵀ/n + Δ_t I (d×d).

    So U has p − d zero eigenvalues and its non-zero ones are those of M^{1/2} WᵀW M^{1/2}/d.
    """
    ge = gaussian_equivalent(LINEAR, 40, seed=6)
    c = ge.coefficients
    assert abs(c.mu1 - 1) < 1e-12 and c.v2 < 1e-12 and c.s2 < 1e-12
    lam = ge.eigenvalues()
    assert _count_at(lam, 0.0) == ge.p - ge.d
    M = c.e2t * ge.X @ ge.X.T / ge.n + c.delta_t * np.eye(ge.d)
    L = np.linalg.cholesky(M)
    small = np.linalg.eigvalsh(L.T @ (ge.W.T @ ge.W) @ L / ge.d)
    np.testing.assert_allclose(lam[ge.p - ge.d:], small, rtol=1e-10)


def test_linear_activation_infinite_time_is_ridgeless_regression():
    """Linear features at τ = ∞: with U = WMWᵀ/d of rank d, Wᵀ(WMWᵀ)⁺W = M^{-1}, so (docs/theory.md §3)

    L_train(∞) = 1 − Δ_t Tr M^{-1}/d,  L_test(∞) = 1 + Δ_t Tr(M^{-1} Σ_t M^{-1})/d − 2 Δ_t Tr M^{-1}/d,

    computed here with d×d matrices only (no eigendecomposition of U).
    """
    ge = gaussian_equivalent(LINEAR, 40, seed=6)
    c = ge.coefficients
    Minv = np.linalg.inv(c.e2t * ge.X @ ge.X.T / ge.n + c.delta_t * np.eye(ge.d))
    sigma_t = c.e2t * ge.sigma + c.delta_t
    train = 1 - c.delta_t * np.trace(Minv) / ge.d
    test = 1 + c.delta_t * np.trace(Minv * sigma_t @ Minv) / ge.d - 2 * c.delta_t * np.trace(Minv) / ge.d
    curves = ge.loss_curves([np.inf])
    assert np.isfinite(curves.test).all()
    np.testing.assert_allclose([curves.train[0], curves.test[0]], [train, test], rtol=1e-8)


@pytest.mark.parametrize("include_mean", [True, False])
def test_even_activation(include_mean):
    """σ(x) = x²: μ1 = 0, so U = (vΩ + μ0)(vΩ + μ0)ᵀ/n + s² I, atom multiplicity p − n (the mean lies in the
    span of the columns), and V = 0."""
    ge = gaussian_equivalent(SQUARE, 50, seed=9, include_mean=include_mean)
    c = ge.coefficients
    assert abs(c.mu1) < 1e-12 and abs(c.mu0 - 1) < 1e-12
    assert _count_at(ge.eigenvalues(), c.s2) == ge.p - ge.n
    curves = ge.loss_curves([0.0, 10.0, np.inf])
    np.testing.assert_allclose(curves.train, 1.0, atol=1e-12)
    np.testing.assert_allclose(curves.test, 1.0, atol=1e-12)


# ------------------------------------------------------------------------------------------ transforms

Z = np.array([0.3 + 0.05j, 1.0 + 0.5j, -0.2 + 1e-3j, 2.0 - 0.3j, 5.0 + 2.0j])


@pytest.mark.parametrize("model", [TANH, RELU_2ATOMS], ids=["tanh-iso", "relu-2atoms"])
def test_stieltjes_against_dense_inverse(model):
    ge = gaussian_equivalent(model, 40, seed=1)
    q, g = ge.stieltjes(Z)
    eye = np.eye(ge.p)
    for k, z in enumerate(Z):
        R = np.linalg.inv(ge.U - z * eye)
        np.testing.assert_allclose(q[k], np.trace(R) / ge.p, rtol=1e-10)
        np.testing.assert_allclose(g[k], np.trace(ge.K @ R) / ge.d, rtol=1e-10)
    # Herglotz: Im q > 0 above the axis; shape is preserved.
    assert np.all(q[Z.imag > 0].imag > 0)
    q2, g2 = ge.stieltjes(Z.reshape(5, 1))
    assert q2.shape == (5, 1)


@pytest.mark.parametrize("model", [TANH, RELU_2ATOMS], ids=["tanh-iso", "relu-2atoms"])
def test_two_point_against_dense(model):
    """(1/d) Tr[K R(z1) U_pop R(z2)] by dense solves (docs/theory.md §5)."""
    ge = gaussian_equivalent(model, 40, seed=2)
    z1 = Z
    z2 = np.roll(Z, 2).conj()
    T = ge.two_point(z1, z2)
    eye = np.eye(ge.p)
    for k in range(Z.size):
        R1 = np.linalg.inv(ge.U - z1[k] * eye)
        R2 = np.linalg.inv(ge.U - z2[k] * eye)
        direct = np.trace(ge.K @ R1 @ ge.U_pop @ R2) / ge.d
        np.testing.assert_allclose(T[k], direct, rtol=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        ge.two_point(z1, z2[:2])


# ------------------------------------------------------------------------------------------ gradient flow

def _losses(ge, A):
    """L_train, L_test and E_score at a given A, from the definitions (docs/theory.md §1–3).

    ``L(A) = 1 + Δ_t/(pd) Tr(A U Aᵀ) + 2 sqrt(Δ_t)/(d sqrt p) Tr(A V)`` with U (train) or U_pop (test);
    ``E_score(A) = (1/d) E‖A σ(y)/√p + Σ_t^{-1} y‖²`` for y ~ N(0, Σ_t) and the Gaussian-equivalent
    population features ``σ(y) = μ0 1 + μ1 W y/√d + (v² + s²)^{1/2} η``:
    ``E_score = Tr(A U_pop Aᵀ)/(pd) + 2 μ1 Tr(A W/√d)/(d√p) + Tr Σ_t^{-1}/d``.
    """
    c = ge.coefficients
    p, d, dt = ge.p, ge.d, c.delta_t
    cross = 2 * math.sqrt(dt) / (d * math.sqrt(p)) * np.trace(A @ ge.V)
    train = 1 + dt / (p * d) * np.trace(A @ ge.U @ A.T) + cross
    test = 1 + dt / (p * d) * np.trace(A @ ge.U_pop @ A.T) + cross
    sigma_t = c.e2t * ge.sigma + dt
    score = (np.trace(A @ ge.U_pop @ A.T) / (p * d)
             + 2 * c.mu1 * np.trace(A @ ge.W) / (d * math.sqrt(p) * math.sqrt(d)) + np.mean(1 / sigma_t))
    return train, test, score


def _grad_train(ge, A):
    dt = ge.coefficients.delta_t
    return 2 * dt / (ge.p * ge.d) * A @ ge.U + 2 * math.sqrt(dt) / (ge.d * math.sqrt(ge.p)) * ge.V.T


@pytest.mark.parametrize("model", [TANH, RELU_2ATOMS], ids=["tanh-iso", "relu-2atoms"])
def test_closed_form_matches_integrated_gradient_flow(model):
    """Integrate dA/dτ = −d² ∇_A L_train numerically from A = 0 (d = 8) and compare with loss_curves.

    The ODE is solved by DOP853 with rtol 1e-12: train agrees to ~1e-15 (L_train is stationary at the
    flow, so A's integration error enters quadratically), test and score error to ~1e-10 (first order);
    the curves must agree to 1e-9 (absolute).
    """
    ge = gaussian_equivalent(model, 8, seed=3)
    d, p = ge.d, ge.p
    rng = np.random.default_rng(0)
    # The analytic gradient used below is checked by a central finite difference of L_train.
    A0, E = rng.standard_normal((2, d, p))
    h = 1e-5
    fd = (_losses(ge, A0 + h * E)[0] - _losses(ge, A0 - h * E)[0]) / (2 * h)
    assert fd == pytest.approx(np.sum(_grad_train(ge, A0) * E), rel=1e-7)

    lam = ge.eigenvalues()
    t_end = 20.0 / (ge.kappa * lam[0])                 # slowest mode relaxed to e^{-20}
    taus = np.concatenate([[0.0], np.geomspace(0.1, t_end, 25)])
    sol = solve_ivp(lambda tau, a: (-d ** 2 * _grad_train(ge, a.reshape(d, p))).ravel(),
                    (0.0, t_end), np.zeros(d * p), method="DOP853", t_eval=taus, rtol=1e-12, atol=1e-15)
    assert sol.success
    ode = np.array([_losses(ge, a.reshape(d, p)) for a in sol.y.T])

    curves = ge.loss_curves(taus)
    assert isinstance(curves, LossCurves) and curves.source == "gaussian_equivalent"
    np.testing.assert_array_equal(curves.tau, taus)
    np.testing.assert_allclose(curves.train, ode[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(curves.test, ode[:, 1], rtol=0, atol=1e-9)
    # E_score = (L_test − 1 + Δ_t Tr Σ_t^{-1}/d)/Δ_t amplifies the ODE's error on L_test by 1/Δ_t.
    np.testing.assert_allclose(curves.score_error, ode[:, 2], rtol=0, atol=1e-9 / ge.delta_t)
    np.testing.assert_allclose(curves.gap, curves.test - curves.train, rtol=0, atol=1e-15)
    assert curves.train[0] == 1.0 and curves.test[0] == 1.0

    # τ = ∞: the minimiser A* = −sqrt(p/Δ_t) Vᵀ U^{-1}, by a dense solve.
    A_star = -math.sqrt(p / ge.coefficients.delta_t) * np.linalg.solve(ge.U, ge.V).T
    inf = ge.loss_curves([np.inf])
    np.testing.assert_allclose([inf.train[0], inf.test[0], inf.score_error[0]], _losses(ge, A_star),
                               rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(_grad_train(ge, A_star)), 0.0, atol=1e-12)


def test_curve_properties():
    """Train loss decreases; score error stays ≥ 0 (Vᵀ U_pop^{-1} V ⪯ Δ_t Σ_t^{-1} when b² = Δ_t μ1²)."""
    ge = gaussian_equivalent(RELU_2ATOMS, 60, seed=12)
    taus = np.concatenate([[0.0], np.geomspace(1e-2, 1e6, 60), [np.inf]])
    c = ge.loss_curves(taus)
    assert np.all(np.diff(c.train) <= 1e-14)
    assert np.all(c.score_error > 0)
    assert c.score_error[0] == pytest.approx(np.mean(1 / (ge.coefficients.e2t * ge.sigma
                                                          + ge.coefficients.delta_t)), rel=1e-14)
    np.testing.assert_allclose(c.test[-2:-1], c.test[-1:], rtol=1e-6)   # τ = 1e6 is converged
    d = c.to_dict()
    assert {"tau", "train", "test", "score_error", "gap", "diagnostics"} <= set(d) and d["tau"][-1] == math.inf


@pytest.mark.parametrize("bad", [[-1.0], [np.nan], [[1.0, 2.0]]])
def test_bad_taus(bad):
    ge = gaussian_equivalent(TANH, 10, seed=0)
    with pytest.raises(ValueError, match="taus"):
        ge.loss_curves(bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_d(bad):
    with pytest.raises(ValueError, match="d must"):
        gaussian_equivalent(TANH, bad)


@pytest.mark.slow
def test_trace_and_atom_at_large_size():
    """d = 400, ψ_p = 7.5 (p = 3000), ψ_n = 2: the rank count and the trace expectation at full size."""
    ge = gaussian_equivalent(TANH.replace(psi_p=7.5), 400, seed=21)
    assert _count_at(ge.eigenvalues(), ge.coefficients.s2) == ge.p - ge.n - ge.d
    assert abs(np.trace(ge.U) / ge.p - _mean_trace(ge)) < 6 * _trace_std(ge)
