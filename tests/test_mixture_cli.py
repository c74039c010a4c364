"""Gaussian-mixture data from the command line: ``--data`` specs, per-class curves, timescales and figures."""
import json

import numpy as np
import pytest

from rfdiff import GaussianMixture, Isotropic, LearningDynamics, RFModel, class_timescales
from rfdiff.cli import main

from helpers import summary_values

MODEL = ["--psi-p", "8", "--psi-n", "2", "--t", "0.1"]
MIX = GaussianMixture([0.9, 0.1], [Isotropic(0.5), Isotropic(2.0)])


@pytest.mark.parametrize("spec", ["mixture:0.9@0.5,0.1@2", "inline", "file.json", "file.toml"])
def test_data_specs_give_the_same_law(spec, tmp_path):
    text = json.dumps(MIX.to_dict())
    if spec == "inline":
        spec = text
    elif spec == "file.json":
        (tmp_path / spec).write_text(text)
        spec = str(tmp_path / spec)
    elif spec == "file.toml":
        (tmp_path / spec).write_text('law = "mixture"\nweights = [0.9, 0.1]\n'
                                     '[[laws]]\nlaw = "Isotropic"\nscale = 0.5\n'
                                     '[[laws]]\nlaw = "Isotropic"\nscale = 2.0\n')
        spec = str(tmp_path / spec)
    out = tmp_path / "c.json"
    assert main(["curves", *MODEL, "--data", spec, "--points", "8", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["model"]["data"] == MIX.to_dict()
    # per-class curves: the exact ones of the API, weighted by π_c they add up to the overall curve
    taus = np.array(data["tau"], dtype=float)
    dyn = LearningDynamics(RFModel(8, 2, 0.1, data=MIX))
    ref = dyn.per_class(taus)
    classes = data["classes"]
    for got, want in zip(classes, ref):
        np.testing.assert_allclose(np.array(got["test"], dtype=float), want.test, rtol=1e-12)
    total = sum(w * np.array(c["test"], dtype=float) for w, c in zip((0.9, 0.1), classes))
    np.testing.assert_allclose(total, np.array(data["test"], dtype=float), rtol=1e-9)
    assert len(data["class_timescales"]) == 2


def test_mixture_plot_draws_per_class_curves_over_the_simulation(tmp_path, saved_figures, capsys):
    assert main(["curves", *MODEL, "--data", "mixture:0.5@0.5,0.5@2", "--points", "10", "--simulate", "12",
                 "--plot", str(tmp_path / "c.png")]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("# class")]
    dyn = LearningDynamics(RFModel(8, 2, 0.1, data=GaussianMixture([0.5, 0.5], [Isotropic(0.5), Isotropic(2.0)])))
    assert [ln.split("):")[0] for ln in lines] == ["# class 0 (Σ = 0.5 I, weight 0.5", "# class 1 (Σ = 2 I, weight 0.5"]
    for line, ts, curves in zip(lines, class_timescales(dyn), dyn.per_class([np.inf])):
        assert summary_values(line.split("):")[1]) == pytest.approx(
            {"tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem, "L_test(inf)": curves.test[0]}, rel=1e-5)
    ax = saved_figures["c.png"]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "test, class 0: Σ = 0.5 I, weight 0.5" in labels and "test, class 1 (simulation)" in labels
    # the class marks are explained: | at each class's τ_gen, × at its τ_mem
    assert {r"$\tau_{gen}$ of a class (its colour)", r"$\tau_{mem}$ of a class"} <= set(labels)
    assert "mixture 0.5·[Σ = 0.5 I] + 0.5·[Σ = 2 I]" in ax.get_title()


@pytest.mark.parametrize("spec, word", [("mixture:0.5@", "WEIGHT@VARIANCE"), ("{nope", "invalid JSON"),
                                        ("/nonexistent/x.json", "neither"),
                                        ('{"law": "mixture", "weights": [0.5, 0.6], "laws": []}', "weights")])
def test_bad_specs_are_one_line(spec, word, capsys):
    assert main(["curves", *MODEL, "--data", spec]) == 2
    err = capsys.readouterr().err
    assert word in err and err.count("\n") == 1


def test_data_excludes_sigma_options(capsys):
    assert main(["curves", *MODEL, "--data", "mixture:0.5@1,0.5@2", "--sigma-eigs", "1,2"]) == 2
    assert "exclusive" in capsys.readouterr().err


def test_plot_overlays_a_true_feature_simulation_by_default(tmp_path, saved_figures):
    """``--plot`` alone draws the exact curves over the true model's simulation (``--simulate auto``, true
    features with the model's m and weight decay); ``--simulate none`` turns it off."""
    from rfdiff.simulate import random_features
    out = tmp_path / "c.json"
    assert main(["curves", *MODEL, "--m", "1", "--points", "6", "--plot", str(tmp_path / "c.png"),
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["simulation"]["method"] == "features" and data["simulation"]["d"] == 60
    ref = random_features(RFModel(8, 2, 0.1, m=1), 60, seed=0).loss_curves(np.array(data["tau"], dtype=float))
    np.testing.assert_allclose(np.array(data["simulation"]["test"], dtype=float), ref.test, rtol=1e-12)
    labels = [line.get_label() for line in saved_figures["c.png"].get_lines()]
    assert "test (simulation)" in labels
    assert main(["curves", *MODEL, "--points", "6", "--plot", str(tmp_path / "d.png"), "--simulate", "none"]) == 0
    assert "test (simulation)" not in [line.get_label() for line in saved_figures["d.png"].get_lines()]


def test_gradient_descent_on_mixture_data_follows_the_closed_form_flow():
    """Explicit GD with fresh noise on mixture data (centroids on) tracks the closed-form flow of the true
    features of the same sample; the error budget is that of tests/test_train.py, 0.15·Δτ·n/b relative."""
    from rfdiff.simulate import random_features, train
    model = RFModel(4, 2, 0.1, data=GaussianMixture([0.7, 0.3], [Isotropic(0.5), Isotropic(2.0)], means=[1.0, -1.0]))
    res = train(model, 16, 40.0, n_log=6, lr=0.02 * 16 ** 2, seed=3)
    flow = random_features(model, 16, seed=3).loss_curves(res.tau)
    budget = 0.15 * res.dtau
    assert np.max(np.abs(res.test - flow.test) / flow.test) < budget
    assert np.max(np.abs(res.train - flow.train) / flow.train) < budget
    with pytest.raises(ValueError, match="eval_noise"):
        train(model, 16, 1.0, n_log=2, eval_noise=4)
