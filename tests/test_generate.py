"""Generation (docs/theory.md §13): sampler, reference scores, measures, score families, Lyapunov oracle, KL bound.

Every check compares with something computed independently of the code under test: closed-form covariances,
the Lyapunov ODE solved by scipy, brute-force neighbour counts, the closed-form flow against explicit gradient
descent, an exact trace formula for a linear score's error. Tolerances name the error they allow: sampling
error in standard errors (SE), the step error of the sampler measured at the grid used, GD's first-order
discretisation.
"""
import math
import warnings

import numpy as np
import pytest

import rfdiff as rd

SIGMA = np.array([0.05, 0.3, 1.0, 2.5, 6.0])


def _tweedie_target(sigma, t1):
    """Covariance of Tweedie's denoiser applied to exact samples at t_1: ``Σ (I − Δ Σ_t^{-1})`` (diagonal)."""
    delta = -math.expm1(-2 * t1)
    st = math.exp(-2 * t1) * sigma + delta
    return sigma * (1 - delta / st)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # capped Mehler orders at d ≤ 8 (status "fallback")
        yield


# ------------------------------------------------------------------------------------------ sampler


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_exact_score_reproduces_sigma(method):
    """Samples of the exact Gaussian score have covariance Σ(I − Δ_{t1} Σ_{t1}^{-1}) (Tweedie at t_1).

    Allowed: 5 SE of a sample variance (v √(2/N)) plus the step error of the 2m rule at K = 96 (measured
    ≤ 0.6% against this closed form, budget 1%)."""
    times = rd.default_times(96)
    N = 20000
    x = rd.sample(rd.exact_score(times, SIGMA), N, method=method, seed=4).x
    target = _tweedie_target(SIGMA, times[0])
    C = np.cov(x, rowvar=False)
    assert np.all(np.abs(np.diag(C) / target - 1) < 5 * math.sqrt(2 / N) + 0.01)
    off = C - np.diag(np.diag(C))
    se_off = np.sqrt(np.outer(target, target) / N)
    assert np.all(np.abs(off) < 5 * se_off + 0.01 * np.sqrt(np.outer(target, target)))
    assert np.all(np.abs(x.mean(axis=0)) < 5 * np.sqrt(target / N))


def test_ode_step_size_convergence_is_second_order():
    """Probability-flow ODE paths from the same start points (same seed) approach the K = 768 path at second
    order in the step: the error falls ≥ 3× per halving of the step (2² = 4 for an exact second-order rule),
    and the first-order rules converge too, more slowly."""
    sc = lambda K: rd.exact_score(rd.default_times(K), SIGMA)
    ref = rd.sample(sc(768), 500, method="ode", seed=1).x
    err = {K: np.max(np.abs(rd.sample(sc(K), 500, method="ode", seed=1).x - ref)) for K in (24, 48, 96)}
    assert err[24] / err[48] > 3 and err[48] / err[96] > 3, err
    first = {K: np.max(np.abs(rd.sample(sc(K), 500, method="ode", integrator="denoiser", seed=1).x - ref))
             for K in (48, 96)}
    assert 1.5 < first[48] / first[96] < 3 and first[96] > err[96], first


def test_sde_step_size_convergence_in_law():
    """SDE covariance error against the closed form shrinks with the grid (2m rule), from above the sampling
    noise at K = 12 to within 5 SE at K = 96."""
    target = _tweedie_target(SIGMA, 1e-3)
    N = 20000
    errs = []
    for K in (12, 96):
        x = rd.sample(rd.exact_score(rd.default_times(K), SIGMA), N, seed=7).x
        errs.append(np.max(np.abs(x.var(axis=0) / target - 1)))
    assert errs[0] > 10 * math.sqrt(2 / N) and errs[1] < 5 * math.sqrt(2 / N) + 0.01, errs


def test_seeded_reproducibility_and_batch_independence():
    sc = rd.exact_score(rd.default_times(16), SIGMA)
    a = rd.sample(sc, 300, seed=5).x
    np.testing.assert_array_equal(a, rd.sample(sc, 300, seed=5).x)
    np.testing.assert_allclose(rd.sample(sc, 300, seed=5, batch_size=64).x, a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rd.sample(sc, 130, seed=5, batch_size=1).x, a[:130], rtol=0, atol=1e-12)
    assert not np.allclose(rd.sample(sc, 300, seed=6).x, a)


# ------------------------------------------------------------------------------------------ measures


def _brute_fmem(x, train, threshold):
    count = 0
    for row in x:
        dist = sorted(math.dist(row, a) for a in train)
        count += dist[0] / dist[1] < threshold
    return count / len(x)


def test_memorization_fraction_against_brute_force():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((12, 3))
    # half the points near training points (copies), half anywhere
    x = np.vstack([train[rng.integers(0, 12, 150)] + 0.05 * rng.standard_normal((150, 3)),
                   rng.standard_normal((150, 3))])
    for threshold in (1 / 3, 0.1, 0.8):
        f = rd.memorization_fraction(x, train, threshold=threshold, seed=1)
        assert f.value == _brute_fmem(x, train, threshold)
    f = rd.memorization_fraction(x, train)
    assert abs(f.stderr - f.binomial_stderr) < 0.2 * f.binomial_stderr        # bootstrap ≈ binomial SE
    assert f.interval[0] < f.value < f.interval[1]
    dist, idx = rd.nearest_neighbors(x[:20], train, 3)
    for row, drow, irow in zip(x[:20], dist, idx):
        brute = sorted((math.dist(row, a), i) for i, a in enumerate(train))[:3]
        np.testing.assert_allclose(drow, [b[0] for b in brute], rtol=1e-12)
        assert list(irow) == [b[1] for b in brute]


def test_empirical_score_copies_training_points_exact_score_does_not():
    """The empirical optimal score regenerates training points (f_mem = 1 at small n); the exact score gives
    the held-out level."""
    rng = np.random.default_rng(2)
    train = rng.standard_normal((10, 4))
    times = rd.default_times(48)
    f = rd.memorization_fraction(rd.sample(rd.empirical_score(times, train), 400, seed=3), train)
    assert f.value == 1.0 and f.stderr == 0.0
    exact = rd.memorization_fraction(rd.sample(rd.exact_score(times, np.ones(4)), 400, seed=3), train).value
    held_out = rd.memorization_fraction(rng.standard_normal((400, 4)), train).value
    assert exact < 0.2 and abs(exact - held_out) < 5 * math.sqrt(0.2 * 0.8 / 400)


def test_gaussian_kl_and_covariance_report():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    P, Q = a @ a.T + np.eye(4), np.diag([1.0, 2.0, 0.5, 3.0])
    ref = 0.5 * (np.trace(np.linalg.solve(Q, P)) - 4 + np.log(np.linalg.det(Q) / np.linalg.det(P)))
    assert rd.gaussian_kl(P, Q) == pytest.approx(ref, rel=1e-12)
    x = rng.standard_normal((5000, 4)) * np.sqrt([1, 2, 0.5, 3])
    rep = rd.covariance_report(x, np.array([1, 2, 0.5, 3.0]), x[:100])
    assert rep.trace == pytest.approx(np.trace(np.cov(x, rowvar=False)) / 4, rel=1e-12)
    assert rep.rel_error_population < 5 * math.sqrt(2 / 5000) * 2


# ------------------------------------------------------------------------------------------ families


def test_family_shares_data_and_features_and_builds_through_the_sweep():
    model = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
    times = [0.05, 1.0]
    fam = rd.score_family(model, 4, [1.0, np.inf], times=times, seed=3)
    W, X = rd.simulate.sample_problem(model, 4, 3)
    np.testing.assert_array_equal(fam.features[0], W)
    np.testing.assert_array_equal(fam.train_points, X.T)
    rf = rd.simulate.random_features(model.replace(t=1.0), 4, seed=3)    # member k is the simulator's own flow
    np.testing.assert_allclose(fam.readouts[1, 1], rf.weights(np.inf), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fam.score_error[:, 1], rf.loss_curves([1.0, np.inf]).score_error, rtol=1e-12)
    other = rd.score_family(model, 4, [1.0], times=times, seed=3, shared_features=False)
    np.testing.assert_array_equal(other.train_points, fam.train_points)
    assert other.features.shape[0] == 2 and not np.allclose(other.features[0], other.features[1])
    assert fam.at(1.0).score(0, np.zeros((2, 4))).shape == (2, 4)
    ge = rd.score_family(model, 4, [1.0], times=times, seed=3, simulator="gaussian")
    assert ge.readouts is None and np.all(np.isfinite(ge.score_error))
    with pytest.raises(ValueError, match="no score function"):
        ge.at(1.0)


def test_gd_family_equals_closed_form_family():
    """Explicit GD with m = 2 frozen draws, full batch and weight decay is plain GD on the quadratic whose flow
    the closed form integrates: read-outs agree up to the first-order discretisation, which halves with the
    step (measured 2.8e-3 → 1.4e-3 relative at lr = 0.5 → 0.25)."""
    model = rd.RFModel(psi_p=4, psi_n=2, t=0.1, m=2, weight_decay=0.01)
    kw = dict(times=[0.05, 0.5], seed=3)
    cf = rd.score_family(model, 5, [2.0], **kw)
    errs = []
    for lr in (0.5, 0.25):
        gd = rd.score_family(model, 5, [2.0], simulator="gd", lr=lr, **kw)
        errs.append(np.linalg.norm(gd.readouts - cf.readouts) / np.linalg.norm(cf.readouts))
    assert errs[0] < 1e-2 and 1.8 < errs[0] / errs[1] < 2.2, errs


def test_mixture_class_proportions_from_the_exact_score():
    data = rd.GaussianMixture([0.7, 0.3], [rd.Isotropic(0.3), rd.Isotropic(3.0)], means=[-1.5, 1.5])
    fam = rd.score_family(rd.RFModel(psi_p=2, psi_n=2, t=0.1, data=data), 6, [5.0], times=[0.05, 1.0], seed=1)
    assert fam.mixture and fam.train_points.shape == (12, 6)
    N = 4000
    x = rd.sample(rd.exact_score(rd.default_times(48), fam.class_variances, means=fam.centroids,
                                 weights=fam.class_weights), N, seed=2)
    props = rd.class_proportions(x, fam.exact_score())
    # classification error of the ideal rule at d = 6 is a few per cent: budget 0.05 plus 5 SE
    assert np.all(np.abs(props - [0.7, 0.3]) < 0.05 + 5 * math.sqrt(0.21 / N))
    assert fam.holdout(10, seed=4).shape == (10, 6)


@pytest.mark.slow
def test_linear_family_samples_match_lyapunov_oracle():
    """Linear activation: s_k = −B_k x. The sampled covariance matches the Lyapunov ODE (solved by scipy) within
    5 SE per entry at K = 48 (step error measured ≤ 1.7 SE at N = 40 000); the finite family's score errors
    equal the trace formula (1/d) Tr[(B − Σ_t^{-1}) Σ_t (B − Σ_t^{-1})ᵀ]."""
    model = rd.RFModel(psi_p=4, psi_n=2, t=0.1, activation="linear", data=rd.DiscreteSpectrum([0.3, 2.0], [0.5, 0.5]))
    fam = rd.score_family(model, 4, [3.0, np.inf], times=rd.default_times(48), seed=1)
    N = 40000
    for j, tau in enumerate(fam.taus):
        sc = fam.at(tau)
        for method in ("sde", "ode"):
            L = rd.linear_covariance(sc, method=method).covariance
            C = np.cov(rd.sample(sc, N, method=method, seed=2).x, rowvar=False)
            se = np.sqrt((np.outer(np.diag(L), np.diag(L)) + L ** 2) / N)
            assert np.max(np.abs(C - L) / se) < 5
        for k in (0, 20, 47):
            t = fam.times[k]
            st = math.exp(-2 * t) * fam.class_variances[0] - math.expm1(-2 * t)
            D = sc.linear_map(k) - np.diag(1 / st)
            assert fam.score_error[j, k] == pytest.approx(np.trace(D * st @ D.T) / 4, rel=1e-10)


@pytest.mark.slow
def test_kl_bound_dominates_the_exact_kl_of_a_linear_family():
    """Gaussian data, linear score: the generated law at t_1 is N(0, C) with C from the Lyapunov ODE, so
    KL(N(0, Σ_{t1}) ‖ N(0, C)) is exact; the Girsanov bound, integrated here independently on a fine t grid
    along the same interpolated score, must exceed it, and the family's grid quadrature must approach it.

    At τ = ∞ the trained linear score is the exact score of N(0, Σ̂) (Σ̂ the training set's covariance), so the
    reverse process is the exact reversal of another OU path law and Girsanov's bound is attained (up to the
    start at N(0, I), e^{-2 t_K}): equality within the fine quadrature (measured 1e-5 relative)."""
    model = rd.RFModel(psi_p=4, psi_n=2, t=0.1, activation="linear", data=rd.DiscreteSpectrum([0.3, 2.0], [0.5, 0.5]))
    times = rd.default_times(32, 0.01, 4.0)
    fam = rd.score_family(model, 4, [0.5, 3.0, np.inf], times=times, seed=1)
    bound = rd.kl_bound(fam)
    sig = fam.class_variances[0]
    for j, tau in enumerate(fam.taus):
        sc = fam.at(tau)
        law = rd.linear_covariance(sc, denoise=False)
        st1 = math.exp(-2 * times[0]) * sig - math.expm1(-2 * times[0])
        kl = rd.gaussian_kl(np.diag(st1), law.before_denoising) / 4
        # the integrand along the λ-interpolated denoiser map of the oracle, on 40 points per interval
        from rfdiff.generate.sampler import log_snr
        G = [math.exp(t) * (np.eye(4) + math.expm1(-2 * t) * sc.linear_map(k)) for k, t in enumerate(times)]
        total = 0.0
        for k in range(1, times.size):
            ts = np.linspace(times[k - 1], times[k], 41)
            w = (log_snr(ts) - log_snr(times[k])) / (log_snr(times[k - 1]) - log_snr(times[k]))
            vals = []
            for t, ww in zip(ts, w):
                st = math.exp(-2 * t) * sig - math.expm1(-2 * t)
                B = (np.eye(4) - math.exp(-t) * ((1 - ww) * G[k] + ww * G[k - 1])) / -math.expm1(-2 * t)
                D = B - np.diag(1 / st)
                vals.append(np.trace(D * st @ D.T) / 4)
            total += np.trapezoid(vals, ts)
        exact_bound = bound.start + total
        if np.isinf(tau):
            assert kl == pytest.approx(exact_bound, rel=1e-3)
        else:
            assert kl < 0.95 * exact_bound
        # the family's bound is a trapezoid quadrature on its 32 grid times (measured 2.5% below at τ = ∞)
        assert bound.bound[j] == pytest.approx(exact_bound, rel=0.05)


def test_kl_bound_theory_curve():
    """The theory-side bound: the start term is KL(N(0, Σ_tK) ‖ N(0, I))/d and the integral is ∫ E_score dt of
    the exact curves; it is smallest in the generalization window and grows when the model memorizes."""
    data = rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5])
    model = rd.RFModel(psi_p=8, psi_n=2, t=0.1, data=data)
    times = np.geomspace(0.05, 4.0, 6)
    b = rd.kl_bound(model, [0.0, 30.0, np.inf], times=times)
    lam = math.exp(-8.0) * np.array([0.5, 1.5]) - math.expm1(-8.0)
    assert b.start == pytest.approx(np.mean(0.5 * (lam - 1 - np.log(lam))), rel=1e-12)
    curves = [rd.loss_curves(model.replace(t=t), [30.0]).score_error[0] for t in times[:2]]
    np.testing.assert_allclose(b.score_error[1, :2], curves, rtol=1e-12)
    assert b.bound[1] < b.bound[0] and b.bound[1] < b.bound[2] and b.status == "ok"


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("times, match", [([], "non-empty"), ([0.1, 0.1], "strictly increasing"),
                                          ([0.5, 0.1], "strictly increasing"), ([-0.1, 1.0], "> 0")])
def test_bad_time_grids(times, match):
    with pytest.raises(ValueError, match=match):
        rd.score_family(rd.RFModel(4, 2, 0.1), 4, [1.0], times=times)
    with pytest.raises(ValueError, match=match):
        rd.exact_score(times, np.ones(3))


def test_bad_arguments():
    model = rd.RFModel(4, 2, 0.1)
    with pytest.raises(ValueError, match="taus"):
        rd.score_family(model, 4, [-1.0], times=[0.1])
    with pytest.raises(ValueError, match="simulator"):
        rd.score_family(model, 4, [1.0], times=[0.1], simulator="exact")
    with pytest.raises(ValueError, match="taus must be finite"):
        rd.score_family(model, 4, [np.inf], times=[0.1], simulator="gd")
    sc = rd.exact_score([0.1, 1.0], np.ones(3))
    with pytest.raises(ValueError, match="n_samples"):
        rd.sample(sc, 10 ** 15)
    with pytest.raises(ValueError, match="n_samples"):
        rd.sample(sc, 0)
    with pytest.raises(ValueError, match="method"):
        rd.sample(sc, 5, method="euler")
    with pytest.raises(ValueError, match="threshold"):
        rd.memorization_fraction(np.zeros((3, 2)), np.ones((4, 2)), threshold=0)
    with pytest.raises(ValueError, match="at least 2"):
        rd.memorization_fraction(np.zeros((3, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="linear"):
        rd.linear_covariance(rd.exact_score([0.1, 1.0], np.ones(2), means=np.ones((1, 2))))


@pytest.mark.slow
def test_readme_generation_example_runs_verbatim(tmp_path):
    """The README's "Generating samples" Python block runs as a standalone script (a family of 16 members costs
    ~0.3 s of CPU per member, so this is a slow check) and prints f_mem = 1 for the empirical score."""
    import pathlib
    import re
    import subprocess
    import sys
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Generating samples", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "empirical score: f_mem = 1.0" in out.stdout


@pytest.mark.slow
def test_family_is_the_same_on_every_executor():
    """The members are independent sweep tasks: serial, local processes and dask give the same read-outs."""
    model = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
    kw = dict(times=[0.05, 0.5, 2.0], seed=2)
    ref = rd.score_family(model, 4, [5.0, np.inf], **kw)
    for executor in ("local", "dask"):
        other = rd.score_family(model, 4, [5.0, np.inf], execution=rd.Execution(executor=executor, workers=2), **kw)
        np.testing.assert_allclose(other.readouts, ref.readouts, rtol=1e-12, atol=1e-14)
        assert other.stats["computed"] == 3
