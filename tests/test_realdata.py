"""Real data (docs/theory.md §14): laws from data matrices, the true model on real rows, bundled datasets.

Independent references: a law built from Gaussian samples of a known spectrum against that spectrum's theory
(the error falls with the number of samples); the real-row simulator on Gaussian rows against the Gaussian
simulator (identical train matrices for identical rows; the held-out population converging to the analytic
one; the same distribution of the final test loss over seeds).
"""
from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.data import (
    PoorEstimateWarning,
    data_matrix,
    law_from_data,
    load_matrix,
)
from rfdiff.simulate import random_features, real_features, sample_problem, train

TWO_ATOM = rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5])


def gaussian_rows(sigma, n, seed):
    return np.sqrt(np.asarray(sigma)) * np.random.default_rng(seed).standard_normal((n, len(sigma)))


# ----------------------------------------------------------------------------- normalisation and the law

def test_normalisation_round_trips_and_sets_trace():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 7)) * [1, 2, 3, 4, 5, 6, 7] + 10.0
    X[:, 2] = 3.5                                                  # a constant column
    for policy, d in (("keep", 7), ("drop", 6)):
        data = data_matrix(X, constant_columns=policy)
        assert data.d == d and data.normalization.constant.tolist() == [2]
        assert np.trace(data.covariance()) / d == pytest.approx(1.0, abs=1e-12)
        assert np.abs(data.rows.mean(axis=0)).max() < 1e-12
        np.testing.assert_allclose(data.normalization.invert(data.rows), X, rtol=0, atol=1e-12)
        np.testing.assert_allclose(data.normalization.apply(X), data.rows, rtol=0, atol=1e-12)
    # one scalar: the law is invariant under x → a x + b
    np.testing.assert_allclose(law_from_data(3.0 * X - 2.0).eigs, law_from_data(X).eigs, rtol=1e-10, atol=1e-12)
    kept = data_matrix(X).law()
    assert kept.eigs[0] == 0.0 and kept.weights[0] == pytest.approx(1 / 7)


def test_binning_keeps_the_trace_and_zero_atom():
    X = gaussian_rows(np.geomspace(0.1, 10, 12), 5000, 0)
    X = np.column_stack([X, np.zeros(len(X))])
    law = law_from_data(X, bins=3)
    assert len(law.eigs) == 4 and law.eigs[0] == 0.0
    assert law.tau_sigma == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(law.weights, [1 / 13, 4 / 13, 4 / 13, 4 / 13])


def test_law_from_gaussian_samples_recovers_the_theory():
    """The sample spectrum is the true one spread by Marchenko–Pastur at ratio d/N: the theory of the law from
    N samples approaches the true law's theory as N grows (error ∝ d/N), for the exact and the binned law."""
    d = 40
    sigma = TWO_ATOM.eigenvalues(d)
    true = rd.RFModel(psi_p=4, psi_n=2, t=0.1, data=TWO_ATOM)
    taus = [5.0, 50.0, np.inf]
    ref = rd.loss_curves(true, taus).test
    errors = []
    for N in (4 * d, 64 * d, 1024 * d):
        law = law_from_data(gaussian_rows(sigma, N, N))
        errors.append(float(np.max(np.abs(rd.loss_curves(true.replace(data=law), taus).test - ref))))
    assert errors[1] < errors[0] / 4 and errors[2] < errors[1] / 4, errors
    assert errors[2] < 1e-3                                   # d/N = 1e-3: MP spreading of that order
    binned = law_from_data(gaussian_rows(sigma, 1024 * d, 5), bins=2)
    np.testing.assert_allclose(binned.eigs, [0.5, 1.5], atol=0.02)    # ± 2√(d/N)-spread, averaged per atom


def test_poor_estimate_warns():
    with pytest.warns(PoorEstimateWarning, match="N = 30 rows in d = 20"):
        data_matrix(gaussian_rows(np.ones(20), 30, 0)).law()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data_matrix(gaussian_rows(np.ones(20), 400, 0)).law()
    assert data_matrix(gaussian_rows(np.ones(20), 30, 0)).describe()["poor_estimate"] is True


def test_zero_eigenvalue_is_accepted_by_every_solver():
    """An atom at 0 (constant columns) goes through support, spectrum, curves and timescales, and gives the
    limit of a tiny positive atom (continuity is the independent check)."""
    laws = [rd.DiscreteSpectrum([0.0, 0.6, 2.0], [0.1, 0.6, 0.3]),
            rd.DiscreteSpectrum([1e-10, 0.6, 2.0], [0.1, 0.6, 0.3])]
    out = []
    for law in laws:
        model = rd.RFModel(psi_p=8, psi_n=2, t=0.1, data=law)
        sup = rd.support(model)
        assert sup.converged
        spec = rd.spectrum(model, rd.spectral_grid(sup, 200))
        assert spec.converged and np.all(np.isfinite(spec.density))
        ts = rd.timescales(model)
        assert ts.converged and math.isfinite(ts.tau_mem)
        out.append((rd.loss_curves(model, [1.0, ts.tau_gen, np.inf]).test, ts.tau_gen, ts.tau_mem))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6)
    np.testing.assert_allclose(out[0][1:], out[1][1:], rtol=1e-4)


# ----------------------------------------------------------------------------- splits and files

def test_splits_are_disjoint_and_reproducible():
    data = data_matrix(gaussian_rows(np.ones(5), 100, 0))
    for seed in range(5):
        s = data.split(30, 50, seed=seed)
        assert s.train.size == 30 and s.test.size == 50 and not set(s.train) & set(s.test)
        assert np.array_equal(s.train, data.split(30, 50, seed=seed).train)
    assert data.split(30, seed=1).test.size == 70
    assert not np.array_equal(data.split(30, seed=1).train, data.split(30, seed=2).train)
    with pytest.raises(ValueError, match="100 rows: too few for n = 60 training rows and n_test = 50"):
        data.split(60, 50)


@pytest.mark.parametrize("name, content, match", [
    ("a.npy", b"not a numpy file", "cannot read it as .npy"),
    ("a.txt", b"1,2\n3,4\n", "unknown format"),
    ("a.csv", b"1,2\n3,x\n", "line 2, column 2: 'x' is not a number"),
    ("a.csv", b"1,2\n3\n", "line 2 has 1 columns"),
    ("a.csv", b"a,b\n", "no data rows"),
])
def test_malformed_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_matrix(path)


def test_array_problems(tmp_path):
    X = gaussian_rows(np.ones(4), 50, 0)
    bad = X.copy()
    bad[7, 2] = np.nan
    bad[9, 1] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN/inf entries \(first at row 7, column 2\)"):
        data_matrix(bad)
    with pytest.raises(ValueError, match="every column is constant"):
        data_matrix(np.ones((10, 3)))
    const = X.copy()
    const[:, 1] = 2.0
    with pytest.raises(ValueError, match=r"1 constant \(zero-variance\) column\(s\) \[1\]"):
        data_matrix(const, constant_columns="error")
    with pytest.raises(ValueError, match="must be 2-D"):
        data_matrix(np.ones(5))
    with pytest.raises(ValueError, match="real numbers"):
        data_matrix(np.array([["a", "b"], ["c", "d"]]))
    np.savez(tmp_path / "two.npz", A=X, B=X)
    with pytest.raises(ValueError, match="name the data array 'X'"):
        load_matrix(tmp_path / "two.npz")
    np.savez(tmp_path / "ok.npz", X=X, y=np.arange(50) % 2)
    data = load_matrix(tmp_path / "ok.npz")
    assert data.labels.tolist()[:3] == [0, 1, 0] and data.name.endswith("ok.npz")
    np.savetxt(tmp_path / "h.csv", X, delimiter=",", header="a,b,c,d", comments="")
    np.testing.assert_allclose(load_matrix(tmp_path / "h.csv").rows, data.rows, atol=1e-12)


# ----------------------------------------------------------------------------- mixtures from labels

def test_mixture_from_labels_when_supported_and_which_condition_fails():
    d, per = 6, 40000
    base = np.array([0.2, 0.4, 0.8, 1.2, 1.6, 1.8])
    rows = np.vstack([gaussian_rows(0.5 * base, per, 1), gaussian_rows(2.0 * base, per, 2)])
    labels = np.repeat([0, 1], per)
    mix = data_matrix(rows, labels).mixture_law()
    assert isinstance(mix, rd.GaussianMixture) and mix.n_classes == 2
    ratio = mix.laws[1].tau_sigma / mix.laws[0].tau_sigma
    assert ratio == pytest.approx(4.0, rel=0.03)                 # sampling noise ~ sqrt(d/N_c) ≈ 1%
    rotated = rows.copy()
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((d, d)))[0]
    rotated[per:] = rotated[per:] @ Q                           # class 1 on another eigenbasis
    with pytest.raises(ValueError, match="'common eigenbasis' fails for class"):
        data_matrix(rotated, labels).mixture_law()
    shifted = rows.copy()
    shifted[per:] += 3.0                                         # centroid with ‖μ‖² = O(d)
    with pytest.raises(ValueError, match="'O\\(1\\) centroids' fails"):
        data_matrix(shifted, labels).mixture_law()
    with pytest.raises(ValueError, match="no labels"):
        data_matrix(rows).mixture_law()


# ----------------------------------------------------------------------------- the real-row simulator

def test_real_rows_simulator_equals_gaussian_simulator_on_gaussian_rows():
    """Same W and the same training points: U, V identical; held-out Gaussian rows: U_pop and the test loss
    converge to the analytic population (error ∝ 1/sqrt(n_test))."""
    d = 16
    model = rd.RFModel(psi_p=3, psi_n=2, t=0.1, data=TWO_ATOM)
    ref = random_features(model, d, seed=3)
    _, X = sample_problem(model, d, 3)
    taus = [2.0, 20.0, np.inf]
    errors = []
    for n_test in (250, 4000):
        sim = real_features(model, X.T, gaussian_rows(TWO_ATOM.eigenvalues(d), n_test, n_test), seed=3)
        np.testing.assert_array_equal(sim.U, ref.U)
        np.testing.assert_array_equal(sim.V, ref.V)
        errors.append(float(np.max(np.abs(sim.loss_curves(taus).test - ref.loss_curves(taus).test))))
    assert errors[1] < errors[0] / 2, errors                    # 1/sqrt(16) = 1/4 expected
    assert errors[1] < 0.01
    assert sim.loss_curves(taus).source == "real_features"


@pytest.mark.slow
def test_real_rows_simulator_in_distribution():
    """Fresh Gaussian rows each seed: the final test loss of the real-row simulator has the same mean as the
    Gaussian simulator's over 8 seeds (within 4 standard errors of the difference)."""
    d = 12
    model = rd.RFModel(psi_p=3, psi_n=2, t=0.1, data=TWO_ATOM)
    sigma = TWO_ATOM.eigenvalues(d)
    a, b = [], []
    for s in range(8):
        a.append(random_features(model, d, seed=s).loss_curves([np.inf]).test[0])
        rows = gaussian_rows(sigma, 24 + 600, 100 + s)
        b.append(real_features(model, rows[:24], rows[24:], seed=s).loss_curves([np.inf]).test[0])
    a, b = np.array(a), np.array(b)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) < 4 * se, (a.mean(), b.mean(), se)


def test_real_rows_checks():
    model = rd.RFModel(psi_p=2, psi_n=2, t=0.1)
    rows = gaussian_rows(np.ones(5), 40, 0)
    with pytest.raises(ValueError, match="the model asks for n = round\\(psi_n d\\) = 10"):
        real_features(model, rows[:12], rows[12:])
    with pytest.raises(ValueError, match="test_rows must have the 5 columns"):
        real_features(model, rows[:10], rows[10:, :4])


def test_gd_on_real_rows_follows_its_flow():
    """Explicit GD on real rows with the exact losses of the held-out population tracks the closed-form flow of
    the same finite model (discretisation and SGD noise: a few 1e-3 at a step 4× below the default)."""
    data = data_matrix(gaussian_rows(np.geomspace(0.2, 3, 10), 200, 4) ** 3)   # non-Gaussian rows
    split = data.split(20, 150, seed=2)
    rows = (data.rows[split.train], data.rows[split.test])
    model = rd.RFModel(psi_p=3, psi_n=2, t=0.2)
    flow = real_features(model, *rows, seed=2)
    dtau = rd.simulate.default_dtau(model, 10, seed=2) / 4
    run = train(model, 10, 40.0, rows=rows, seed=2, n_log=6, lr=dtau * 100)
    ref = flow.loss_curves(run.tau)
    assert np.max(np.abs(run.test - ref.test)) < 0.02
    with pytest.raises(ValueError, match="eval_noise must be 'exact' with real rows"):
        train(model, 10, 1.0, rows=rows, eval_noise=2)


# ----------------------------------------------------------------------------- bundled datasets

def test_digits_and_patches():
    pytest.importorskip("sklearn")
    digits = rd.load_dataset("digits")
    assert (digits.n_rows, digits.d) == (1797, 64)
    assert digits.normalization.constant.tolist() == [0, 32, 39]
    assert digits.law().eigs[0] == 0.0 and digits.law().weights[0] == pytest.approx(3 / 64)
    with pytest.raises(ValueError, match="'common eigenbasis' fails"):
        digits.mixture_law()
    patches = rd.load_dataset("patches")
    assert (patches.n_rows, patches.d) == (8480, 64) and patches.labels is None
    assert np.trace(patches.covariance()) / 64 == pytest.approx(1.0, abs=1e-12)
    assert rd.load_dataset("digits", constant_columns="drop").d == 61


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"rfdiff\[data\]"):
        rd.load_dataset("digits")


# ----------------------------------------------------------------------------- the comparison

@pytest.mark.slow
def test_compare_on_gaussian_data_has_a_small_non_gaussian_part():
    """On Gaussian rows the 'non-Gaussian' part of the gap is seed noise: below 3 standard errors."""
    from rfdiff.realdata import compare
    data = data_matrix(gaussian_rows(TWO_ATOM.eigenvalues(24), 3000, 0))
    c = compare(rd.RFModel(psi_p=4, psi_n=2, t=0.1), data, splits=6)
    for q in ("test_gen", "test_inf"):
        diff = np.asarray(c.values["real"][q]) - np.asarray(c.values["surrogate"][q])
        assert abs(diff.mean()) < 3 * diff.std(ddof=1) / math.sqrt(diff.size) + 1e-3, q


@pytest.mark.slow
def test_tau_mem_scaling_and_its_figures():
    """τ's of theory, surrogate and real rows over n; slopes fitted on the finite τ_mem only; the figures draw
    what was computed (one line per ψ_p for the theory, one marker set per source)."""
    pytest.importorskip("matplotlib")
    from rfdiff.plotting.realdata import plot_comparison, plot_tau_scaling
    from rfdiff.realdata import compare, tau_mem_scaling
    data = data_matrix(gaussian_rows(np.geomspace(0.3, 3, 8), 200, 1))
    s = tau_mem_scaling(data, [4, 8, 16], [2.0], splits=1)      # p = 16 at d = 8 (more rows of W: Mehler capped)
    assert s.theory.shape == (1, 3, 2) and s.real.shape == s.surrogate.shape == (1, 3, 1, 2)
    finite = np.isfinite(s.theory[0, :, 1])
    assert finite.sum() >= 2 and s.fitted["theory"][0] == [4, 8, 16][:finite.sum()]
    if finite.sum() >= 2:
        ref = np.polyfit(np.log(np.array([4, 8, 16])[finite]), np.log(s.theory[0, finite, 1]), 1)[0]
        assert s.slopes["theory"][0] == pytest.approx(ref, rel=1e-12)
    ax = plot_tau_scaling(s)
    assert "t = 0.1" in ax.get_title() and len(ax.lines) >= 2
    c = compare(rd.RFModel(psi_p=2, psi_n=2, t=0.1), data, splits=1, taus=np.append(np.geomspace(0.1, 1e4, 40), np.inf))
    ax = plot_comparison(c)
    assert "n = 16 training rows" in ax.get_title() and [t.get_text() for t in ax.get_legend().get_texts()][0] \
        .startswith("theory")
