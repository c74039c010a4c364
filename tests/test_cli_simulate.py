"""The ``rfdiff simulate`` sub-command (tiny d: these check the plumbing, not the physics)."""
import json
import math

import numpy as np
import pytest

import rfdiff as rd
from rfdiff import timescales_from_curve
from rfdiff.cli import main
from rfdiff.simulate import gaussian_equivalent, random_features, train

from helpers import cli, finite_positive, labelled_lines, one_error_line, summary_values

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]
RD_MODEL = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
KEYS = {"model", "d", "method", "tau", "train", "test", "score_error", "theory"}


@pytest.mark.parametrize("method", ["features", "gaussian"])
def test_closed_form_json_and_plot_equal_the_api(method, tmp_path, capsys, saved_figures):
    """The JSON holds the simulator's own closed-form curves (same seed), the theory and both timescales;
    the figure draws the same theory curves (lines) and simulated points (markers)."""
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    code = main(["simulate", *MODEL, "--d", "12", "--seed", "3", "--method", method, "--points", "10",
                 "--json", str(out), "--plot", str(png)])
    assert code == 0
    data = json.loads(out.read_text())
    assert KEYS <= set(data) and data["method"] == method and data["d"] == 12
    assert (data["p"], data["n"]) == (48, 24)
    assert len(data["tau"]) == 11 and data["tau"][-1] == "inf"
    sim = (random_features if method == "features" else gaussian_equivalent)(RD_MODEL, 12, seed=3)
    taus = np.array(data["tau"], dtype=float)
    ref = sim.loss_curves(taus)
    for key in ("train", "test", "score_error"):
        np.testing.assert_allclose(data[key], getattr(ref, key), rtol=1e-12)
    theory = rd.loss_curves(RD_MODEL, np.array(data["theory"]["tau"], dtype=float))
    np.testing.assert_allclose(data["theory"]["test"], theory.test, atol=1e-9)
    assert set(data["simulation_timescales"]) == {"tau_gen", "tau_mem"}
    assert png.stat().st_size > 10_000
    _assert_plotted(saved_figures["s.png"], theory, ref)
    assert "d = 12" in saved_figures["s.png"].get_title()
    lines = capsys.readouterr().out.splitlines()
    ts = rd.timescales(RD_MODEL)
    assert summary_values(lines[2]) == pytest.approx({"tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem}, rel=1e-5)
    assert summary_values(lines[3]) == pytest.approx(data["simulation_timescales"], rel=1e-5)
    assert lines[4] == "# max |simulation - theory|: " + "  ".join(
        f"{k} {v:.3g}" for k, v in data["max_deviation"].items())
    deviation = {k: np.max(np.abs(np.array(data[k], dtype=float) - getattr(rd.loss_curves(RD_MODEL, taus), k)))
                 for k in ("train", "test", "score_error")}
    assert data["max_deviation"] == pytest.approx(deviation, rel=1e-9)


def _assert_plotted(ax, theory, sim):
    """Lines of ``plot_curves``: the theory's train/test/score error, the simulation's train/test markers
    (every point when there are fewer than 40), at the finite τ > 0 (rounding only: 1e-12)."""
    lines = labelled_lines(ax)
    assert finite_positive(sim.tau).sum() < 40
    for curves, kind in [(theory, "exact"), (sim, "simulation")]:
        keep = finite_positive(curves.tau)
        for key in ("train", "test"):
            line = lines[f"{key} ({kind})"]
            np.testing.assert_allclose(line.get_xdata(), np.asarray(curves.tau)[keep], rtol=1e-12)
            np.testing.assert_allclose(line.get_ydata(), getattr(curves, key)[keep], rtol=1e-12)
    keep = finite_positive(theory.tau)
    np.testing.assert_allclose(lines["score error"].get_ydata(), theory.score_error[keep], rtol=1e-12)


def test_table_on_stdout(capsys):
    assert main(["simulate", *MODEL, "--d", "10", "--points", "4", "--tau-min", "1", "--tau-max", "100"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
    assert lines[0].split() == ["tau", "train", "test", "score_error"]
    assert len(lines) == 1 + 5
    assert float(lines[1].split()[0]) == pytest.approx(1.0)
    assert lines[-1].split()[0] == "inf"


def test_finite_noise_draws(tmp_path, capsys):
    """``--m 5``: the true features with 5 frozen noise draws per point, the model's m."""
    out = tmp_path / "s.json"
    assert main(["simulate", *MODEL, "--d", "10", "--m", "5", "--points", "5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    ref = random_features(RD_MODEL.replace(m=5), 10, seed=0).loss_curves(np.array(data["tau"], dtype=float))
    np.testing.assert_allclose(data["test"], ref.test, rtol=1e-12)
    assert data["model"]["m"] == 5 and data["provenance"]["simulation"]["m"] == 5
    assert "noise: 5 frozen draws per point" in capsys.readouterr().out.splitlines()[1]


@pytest.mark.parametrize("old, new, note", [
    (["--noise", "5"], ["--m", "5"], "--noise 5 is deprecated, use --m 5"),
    (["--noise", "exact"], ["--m", "inf"], "--noise exact is deprecated, use --m inf"),
    (["--m", "exact"], ["--m", "inf"], "--m exact is deprecated, use --m inf"),
    (["--method", "exact"], ["--method", "features"], "--method exact is deprecated, use --method features"),
])
def test_deprecated_spellings_work_with_a_note(old, new, note, tmp_path, capsys):
    """The old spellings give the same output as the new ones, and one note line on stderr."""
    outputs = []
    for spelling in (old, new):
        out = tmp_path / "s.json"
        assert main(["simulate", *MODEL, "--d", "8", "--points", "3", *spelling, "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        outputs.append({k: data[k] for k in ("model", "method", "noise", "tau", "train", "test")})
        outputs.append(capsys.readouterr().err)
    assert outputs[0] == outputs[2]
    assert outputs[1] == f"rfdiff simulate: note: {note}\n" and outputs[3] == ""


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_training_equals_the_api_and_resumes(optimizer, tmp_path, capsys):
    """gd/adam: the logs are those of ``rfdiff.simulate.training`` with the same arguments; the checkpoint resumes."""
    out, ckpt = tmp_path / "s.json", tmp_path / "run.npz"
    args = ["simulate", *MODEL, "--d", "10", "--method", optimizer, "--tau-max", "20", "--points", "6",
            "--batch", "10", "--checkpoint", str(ckpt), "--json", str(out)]
    assert main(args) == 0 and ckpt.exists()
    data = json.loads(out.read_text())
    ref = train(RD_MODEL, 10, 20.0, optimizer=optimizer, n_log=6, batch=10)
    np.testing.assert_allclose(data["test"], ref.test, rtol=1e-12)
    np.testing.assert_allclose(data["tau"], ref.tau, rtol=1e-12)
    assert data["steps"][-1] == ref.steps[-1] and data["dtau"] == pytest.approx(ref.dtau)
    assert len(data["theory"]["tau"]) == 201
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith(f"# {len(ref.tau)} log points, {int(ref.steps[-1])} steps of dtau = {ref.dtau:.4g} "
                               f"(lr = {ref.lr:.4g}), ")
    assert main(args) == 0                     # resumes from the finished checkpoint: same logs
    np.testing.assert_allclose(json.loads(out.read_text())["test"], ref.test, rtol=1e-12)


def test_training_plot(tmp_path, saved_figures):
    """The figure of a GD run draws the trainer's logged losses over the theory at the same τ grid."""
    png = tmp_path / "gd.png"
    assert main(["simulate", *MODEL, "--d", "10", "--method", "gd", "--tau-max", "30", "--points", "8",
                 "--plot", str(png)]) == 0
    assert png.stat().st_size > 10_000
    ref = train(RD_MODEL, 10, 30.0, optimizer="gd", n_log=8)
    ax = saved_figures["gd.png"]
    theory_tau = labelled_lines(ax)["train (exact)"].get_xdata()
    assert theory_tau.size == 200 and theory_tau[-1] == pytest.approx(30.0)
    _assert_plotted(ax, rd.loss_curves(RD_MODEL, theory_tau), ref)
    assert "GD training, d = 10, p = 40, n = 20; indicative only (d < 40)" in ax.get_title()


@pytest.mark.parametrize("extra, message", [
    (["--method", "features", "--lr", "1"], "--lr"),
    (["--method", "gaussian", "--progress"], "--progress"),
    (["--batch", "3"], "--batch"),
    (["--checkpoint", "x.npz"], "--checkpoint"),
    (["--noise", "0"], "--noise"),
    (["--m", "0"], "--m"),
    (["--noise", "many"], "--noise"),
    (["--method", "sgd"], "--method"),
    (["--points", "1"], "--points"),
    (["--tau-min", "-1"], "--tau-min"),
    (["--tau-min", "10", "--tau-max", "1"], "--tau-max"),
    (["--method", "gd", "--tau-max", "nan"], "--tau-max"),
    (["--method", "gd", "--tau-min", "1"], "--tau-min"),
    (["--method", "gd", "--tau-max", "5", "--lr", "-1"], "lr"),
    (["--method", "gd", "--tau-max", "5", "--batch", "1000"], "batch"),
    (["--method", "gd", "--max-steps", "0"], "--max-steps"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_input_one_line_exit_2(extra, message, capsys):
    assert cli(["simulate", *MODEL, "--d", "8", *extra]) == 2
    one_error_line(capsys.readouterr().err, message)


def test_contradicting_spellings_of_m_are_refused(capsys):
    """``--noise`` (deprecated) and ``--m`` are one setting: different values are an error (after the note)."""
    assert main(["simulate", *MODEL, "--d", "8", "--m", "3", "--noise", "4"]) == 2
    note, error = capsys.readouterr().err.splitlines()
    assert note == "rfdiff simulate: note: --noise 4 is deprecated, use --m 4"
    assert error == "rfdiff simulate: error: --noise 4 and --m 3 disagree (--noise is the deprecated spelling of --m)"


@pytest.mark.parametrize("argv, message", [
    (["--psi-p", "-4", "--psi-n", "2", "--t", "0.1", "--d", "8"], "psi_p"),
    ([*MODEL, "--d", "0"], "d must"),
    ([*MODEL], "--d"),
])
def test_bad_model_or_dimension(argv, message, capsys):
    assert cli(["simulate", *argv]) == 2
    one_error_line(capsys.readouterr().err, message)


def test_timescales_from_curve_on_a_known_curve():
    """A test loss with a known minimum and rise: L = 1 − a(τ) + 2 b(τ), a = 1 − e^{−τ},
    b = 1 − e^{−τ/100}.

    The minimum solves e^{−τ} = (2/100) e^{−τ/100} (τ_gen = ln 50/0.99); both times are found to rtol = 1e-6 in
    log τ and ``|dL/d log τ| < 1`` here, so L(τ_mem) is within 1e-6 of the threshold. With the exact
    derivative the minimum is the derivative's root; without it, a bounded minimisation.
    """
    class Curves:
        def __init__(self, taus):
            taus = np.asarray(taus, dtype=float)
            self.test = np.exp(-taus) - 2.0 * np.expm1(-taus / 100.0)
            self.status, self.message = "ok", ""

    def slope(taus):
        taus = np.asarray(taus, dtype=float)
        return np.where(np.isinf(taus), 0.0, -np.exp(-taus) + 0.02 * np.exp(-taus / 100.0))

    test = lambda tau: Curves([tau]).test[0]  # noqa: E731
    for derivative in (None, slope):
        found = timescales_from_curve(Curves, 1e-3, 1e4, derivative=derivative, rtol=1e-6)
        assert found.tau_gen == pytest.approx(math.log(50.0) / 0.99, rel=1e-5) and found.status == "ok"
        level = test(found.tau_gen) + 0.1 * (test(np.inf) - test(found.tau_gen))
        assert found.tau_mem > found.tau_gen and test(found.tau_mem) == pytest.approx(level, abs=1e-6)


def test_timescales_from_curve_without_memorization():
    class Monotone:
        def __init__(self, taus):
            self.test = np.exp(-np.asarray(taus, dtype=float))
            self.status, self.message = "ok", ""

    found = timescales_from_curve(Monotone, 1e-2, 1e2)
    assert (found.tau_gen, found.tau_mem, found.memorizes) == (math.inf, math.inf, False)


@pytest.mark.parametrize("lr", ["0", "-1"])
def test_non_positive_learning_rate_is_one_line(lr, capsys):
    """--lr 0 used to end in an internal ZeroDivisionError."""
    assert cli(["simulate", *MODEL, "--d", "8", "--method", "gd", "--tau-max", "5", "--lr", lr]) == 2
    one_error_line(capsys.readouterr().err, "lr must be finite and > 0")


def test_diverging_training_is_reported_and_fails(tmp_path, capsys, saved_figures):
    """--lr 1e9 used to diverge in one step (losses ≈ 1e12) and exit 0. The figure leaves the diverged losses
    out (they would only set the axes' scale) and says why."""
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    assert main(["simulate", *MODEL, "--d", "10", "--method", "gd", "--lr", "1e9", "--tau-max", "1e5",
                 "--json", str(out), "--plot", str(png)]) == 1
    status = capsys.readouterr().out.splitlines()[-1]
    assert status.startswith("# status failed (training diverged at step 1 (tau = 1e+07): the train loss is")
    assert "the default, stable step is lr = 22.1" in status
    assert json.loads(out.read_text())["status"] == "failed"
    ax = saved_figures["s.png"]
    assert "simulation not drawn: training diverged at step 1" in ax.get_title()
    assert not any("simulation" in label for label in labelled_lines(ax))


@pytest.mark.parametrize("argv, words", [
    (["--psi-p", "0.001", "--psi-n", "2", "--t", "0.1", "--d", "60"], ("would simulate p = 0", "any d >= 10000")),
    (["--psi-p", "0.5", "--psi-n", "2", "--t", "0.1", "--d", "1"], ("would simulate p = 0", "another model")),
])
def test_sizes_of_another_model_are_refused(argv, words, capsys):
    """p = round(ψ_p d) used to be clipped to 1, simulating another model under this one's title."""
    assert cli(["simulate", *argv]) == 2
    one_error_line(capsys.readouterr().err, *words)


def test_simulated_sizes_are_printed_and_drawn(tmp_path, capsys, saved_figures):
    """Output, JSON and figure give d, p, n and the ratios rounding realised (n = round(2.03·30) = 61), and say
    that d = 30 is indicative only."""
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    assert main(["simulate", "--psi-p", "4", "--psi-n", "2.03", "--t", "0.1", "--d", "30", "--method", "gaussian",
                 "--points", "8", "--json", str(out), "--plot", str(png)]) == 0
    sizes = "d = 30, p = 120, n = 61 (n/d = 2.033); indicative only (d < 40)"
    assert capsys.readouterr().out.splitlines()[1].endswith(f"; simulated {sizes}")
    data = json.loads(out.read_text())
    assert (data["d"], data["p"], data["n"]) == (30, 120, 61)
    assert data["simulated_ratios"] == {"psi_p": 4.0, "psi_n": pytest.approx(61 / 30)}
    assert f"markers: Gaussian equivalent, {sizes}; seed 0" in saved_figures["s.png"].get_title().replace("\n", " ")


def test_non_convergence_warning_exits_1_as_documented(tmp_path, capsys):
    """At d = 1 the Mehler order of U_pop hits its cap: one warning line, the status says it, exit 1 (the
    documented contract; it used to exit 0)."""
    assert main(["simulate", "--psi-p", "8", "--psi-n", "2", "--t", "0.1", "--d", "1", "--points", "5",
                 "--json", str(tmp_path / "s.json")]) == 1
    captured = capsys.readouterr()
    assert captured.err == "rfdiff simulate: warning: U_pop: Mehler order capped at 96 (max_order)\n"
    assert captured.out.splitlines()[-1] == "# status failed (1 not converged)"
    from rfdiff.cli.main import EPILOG
    assert "1 the computation ran but part of it failed or did not converge (a failed result or a " \
           "non-convergence warning" in EPILOG
