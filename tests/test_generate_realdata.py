"""A score family on real rows (docs/theory.md §13–14): its members are the real-row simulator's own flows, its
samples copy training images where the loss says it memorizes, and the image grid draws what was measured.

Independent references: :func:`rfdiff.simulate.real_features` built directly on the same rows (the family must
reproduce its W and read-outs bit for bit); held-out digits, which the model never saw, as the chance level of
the copy criterion.
"""
import warnings

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.generate import evaluate
from rfdiff.simulate import real_features, train


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # capped Mehler orders, small held-out sets
        yield


@pytest.fixture
def skewed():
    """Non-Gaussian rows (cubes of Gaussians), normalised, a split of 10 training and 30 held-out rows, and the raw
    training rows."""
    raw = np.random.default_rng(0).standard_normal((60, 5)) ** 3 * [1, 2, 1, 0.5, 3] + 7.0
    data = rd.data_matrix(raw)
    split = data.split(10, 30, seed=1)
    return data, (data.rows[split.train], data.rows[split.test]), raw[split.train]


def test_members_are_the_real_row_simulators_flows(skewed):
    data, rows, raw = skewed
    model = rd.RFModel(psi_p=3, psi_n=2, t=0.1)
    times, taus = [0.05, 0.3], [1.0, np.inf]
    fam = rd.score_family(model, 5, taus, times=times, seed=3, rows=rows, normalization=data.normalization)
    for k, t in enumerate(times):
        rf = real_features(model.replace(t=t), *rows, seed=3)
        np.testing.assert_array_equal(fam.features[0], rf.W)
        for j, tau in enumerate(taus):
            np.testing.assert_array_equal(fam.readouts[j, k], rf.weights(tau))
        curves = rf.loss_curves(taus)
        np.testing.assert_array_equal(fam.test_loss[:, k], curves.test)
        np.testing.assert_array_equal(fam.train_loss[:, k], curves.train)
    np.testing.assert_array_equal(fam.train_points, rows[0])
    np.testing.assert_array_equal(fam.test_points, rows[1])
    assert fam.real_rows and not fam.mixture and fam.to_dict()["real_rows"]["n_test"] == 30
    np.testing.assert_allclose(fam.population_covariance(), np.cov(rows[1], rowvar=False, bias=True), atol=1e-14)
    # the recorded normalisation maps the training set back to the data's own rows
    np.testing.assert_allclose(fam.normalization.invert(fam.train_points), raw, rtol=1e-13, atol=1e-12)
    # one W per time: the simulator with the family's feature seed
    ind = rd.score_family(model, 5, [1.0], times=times, seed=3, rows=rows, shared_features=False)
    rf = real_features(model.replace(t=0.3), *rows, seed=3,
                       feature_seed=np.random.SeedSequence(3, spawn_key=(rd.generate.family.FEATURE_STREAM, 1)))
    np.testing.assert_array_equal(ind.features[1], rf.W)
    np.testing.assert_array_equal(ind.readouts[0, 1], rf.weights(1.0))
    assert not np.array_equal(ind.features[0], ind.features[1])
    # explicit GD on the same rows: train(rows=...) itself
    gd = rd.score_family(model, 5, [2.0], times=[0.3], seed=3, rows=rows, simulator="gd")
    ref = train(model.replace(t=0.3), 5, 2.0, rows=rows, seed=3, n_log=1)
    np.testing.assert_array_equal(gd.readouts[0, 0], ref.A)


def test_real_family_references_and_refusals(skewed):
    data, rows, _ = skewed
    model = rd.RFModel(psi_p=3, psi_n=2, t=0.1)
    fam = rd.score_family(model, 5, [np.inf], times=[0.05, 0.3], seed=3, rows=rows)
    ev = evaluate(fam, 40, seed=1)
    assert list(ev.references) == ["empirical", "held-out"]
    assert ev.references["held-out"].x.shape == (30, 5)            # all 30 held-out rows, not 40 fresh points
    held = fam.holdout(12, seed=4)
    assert held.shape == (12, 5) and all((rows[1] == r).all(axis=1).any() for r in held)
    with pytest.raises(ValueError, match="n must be"):
        fam.holdout(31)
    with pytest.raises(ValueError, match="no exact score"):
        fam.exact_score()
    with pytest.raises(ValueError, match="no KL bound"):
        rd.kl_bound(fam)
    with pytest.raises(ValueError, match="rows: train_rows must have shape \\(n, d\\) = \\(10, 5\\)"):
        rd.score_family(model, 5, [1.0], times=[0.1], rows=(rows[0][:9], rows[1]))
    with pytest.raises(ValueError, match="rows must be a pair"):
        rd.score_family(model, 5, [1.0], times=[0.1], rows=rows[0])
    with pytest.raises(ValueError, match="simulator='gaussian' has no real-row version"):
        rd.score_family(model, 5, [1.0], times=[0.1], rows=rows, simulator="gaussian")
    with pytest.raises(ValueError, match="normalization must be"):
        rd.score_family(model, 5, [1.0], times=[0.1], normalization=data.normalization)


def test_digit_samples_copy_training_digits_not_held_out_ones():
    """Four training digits, p = 384 features, 12 diffusion times, trained to τ = ∞: a share of the samples are
    copies of training digits (measured 0.280 ± 0.032, all four copied), while of the 1793 other digits (the
    model never saw them) only 11 are within 1/3 of the way to one training digit than to the next — the chance
    level of the criterion, 0.006 (the digits hold near-duplicates). (The read-outs do not depend on the
    held-out population: 20 rows suffice.)"""
    pytest.importorskip("sklearn")
    data = rd.load_dataset("digits")
    split = data.split(4, 20, seed=0)
    rows = (data.rows[split.train], data.rows[split.test])
    fam = rd.score_family(rd.RFModel(psi_p=6, psi_n=4 / 64, t=0.01), 64, [np.inf], times=rd.default_times(12),
                          seed=0, rows=rows, normalization=data.normalization)
    f = rd.memorization_fraction(rd.sample(fam.at(np.inf), 200, seed=1), fam.train_points)
    chance = rd.memorization_fraction(np.delete(data.rows, split.train, axis=0), fam.train_points)
    assert chance.value < 0.02
    assert f.value > chance.value + 5 * np.hypot(f.stderr, chance.stderr) and f.value > 0.2, (f.value, f.stderr)
    assert np.unique(f.nearest[f.copied]).size == 4        # copies of every training digit, not of one


def test_image_pairs_draw_the_mosaic():
    pytest.importorskip("matplotlib")
    from rfdiff.plotting import pyplot
    from rfdiff.plotting.realdata import image_mosaic, plot_image_pairs
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 16, (5, 6)), rng.uniform(0, 16, (5, 6))
    mosaic, origins = image_mosaic(a, b, (2, 3), columns=2)
    assert mosaic.shape == (3 * 2 + 2 * 3, 2 * 7 + 3)
    for (r, c), x, y in zip(origins, a, b):
        np.testing.assert_array_equal(mosaic[r:r + 2, c:c + 3], x.reshape(2, 3))
        np.testing.assert_array_equal(mosaic[r:r + 2, c + 4:c + 7], y.reshape(2, 3))
        assert np.isnan(mosaic[r:r + 2, c + 3]).all()
    assert np.isnan(mosaic).sum() == mosaic.size - 2 * a.size
    ax = plot_image_pairs(a, b, (2, 3), marked=[True, False, False, True, False], columns=2, title="f_mem = 0.4")
    assert ax.get_title() == "f_mem = 0.4" and len(ax.patches) == 2
    assert ax.images[0].get_interpolation() == "nearest"
    np.testing.assert_array_equal(ax.images[0].get_array().filled(np.nan), mosaic)
    pyplot().close(ax.figure)
    with pytest.raises(ValueError, match="shape \\(k, 6\\)"):
        image_mosaic(a, b[:4], (2, 3))


def test_digit_grid_recipe_draws_what_it_measured(tmp_path, saved_figures):
    """The ``realdata_samples`` recipe at a toy size: two image panels (τ_gen, τ = ∞), each title holding the f_mem
    and bootstrap error recorded in the manifest, the pairs drawn being the first samples and their nearest
    training digits in pixel units."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from rfdiff.plotting import pyplot
    from rfdiff.reproduce import save_figure
    from rfdiff.reproduce.realdata import draw_realdata_samples
    manifest = {}
    sizes = {"n": 4, "psi_p": 2.0, "times": 4, "samples": 30, "n_test": 20, "shown": 6}
    draw_realdata_samples(str(tmp_path), manifest, pyplot(), 0, save_figure, sizes)
    entry = manifest["realdata_samples"]
    axes = [ax for ax in saved_figures["realdata_samples.png"].figure.axes if ax.images]
    assert len(axes) == 2 and len(entry["panels"]) == 2 and entry["panels"][1]["tau"] == np.inf
    data = rd.load_dataset("digits")
    train = np.rint(data.normalization.invert(data.rows[entry["split"]["train_rows"]]))     # the raw pixels
    for ax, panel in zip(axes, entry["panels"]):
        assert f"f_{{mem}} = {panel['f_mem']:.3f} \\pm {panel['stderr']:.3f}$" in ax.get_title()
        mosaic = ax.images[0].get_array().filled(np.nan)
        assert np.isfinite(mosaic).sum() == 2 * 6 * 64                 # 6 pairs of 8×8 tiles
        origins = [(0, 0), (0, 20), (0, 40), (0, 60), (11, 0), (11, 20)]       # 4 pairs per row, 3-pixel gaps
        partners = [mosaic[r:r + 8, c + 9:c + 17].ravel() for r, c in origins]
        assert all(np.abs(train - tile).max(axis=1).min() < 1e-9 for tile in partners)   # training digits
    assert "tau = \\tau_{gen}" in axes[0].get_title() and "tau = \\infty" in axes[1].get_title()
    assert entry["split"]["n_train"] == 4 and len(entry["split"]["train_rows"]) == 4
    assert (tmp_path / "realdata_samples.png").is_file()
