"""The ``rfdiff curves`` and ``rfdiff timescales`` sub-commands."""
import json

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.cli import main
from rfdiff.simulate import gaussian_equivalent

from helpers import cli, finite_positive, labelled_lines, one_error_line, summary_values, vertical_lines

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]
RD_MODEL = rd.RFModel(psi_p=4, psi_n=2, t=0.1)


def test_curves_json_and_plots(tmp_path, capsys, saved_figures):
    """JSON and the three figures; the figures show the API's curves (same τ grid), the simulation and
    the timescales. Sizes are the smallest that exercise every option (12 τ points, d = 8)."""
    out = tmp_path / "c.json"
    plots = {name: tmp_path / f"{name}.png" for name in ("curves", "dec", "collapse")}
    code = main(["curves", *MODEL, "--points", "12", "--json", str(out), "--plot", str(plots["curves"]),
                 "--decomposition-plot", str(plots["dec"]), "--collapse", "2,4",
                 "--collapse-plot", str(plots["collapse"]), "--simulate", "8", "--sim-method", "gaussian"])
    assert code == 0
    data = json.loads(out.read_text())
    assert {"model", "tau", "train", "test", "score_error", "gap", "timescales", "decomposition"} <= set(data)
    assert len(data["tau"]) == 13 and data["tau"][-1] == "inf"
    assert 0.99 < data["train"][0] < 1.0  # τ_min = 0.01/(κ λ_max): no mode has moved yet
    assert data["model"]["psi_p"] == 4.0
    assert data["diagnostics"]["quad_error"][0] < 1e-8
    for path in plots.values():
        assert path.stat().st_size > 10_000
    assert set(saved_figures) == {"curves.png", "dec.png", "collapse.png"}
    summary = capsys.readouterr().out.splitlines()
    assert summary[0] == "# ψ_p=4 ψ_n=2 t=0.1 m=inf ω=0 activation=tanh data: Σ = I"      # RD_MODEL in one line
    ts = rd.timescales(RD_MODEL)
    assert summary_values(summary[1]) == pytest.approx(
        {"tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem, "L_test(tau_gen)": ts.test_min, "L_test(inf)": ts.test_inf},
        rel=1e-5)                                                   # printed with 6 digits

    # JSON = API (same deterministic computation: rounding only)
    tau = np.array(data["tau"], dtype=float)
    api = rd.loss_curves(RD_MODEL, tau)
    for key in ("train", "test", "score_error"):
        np.testing.assert_allclose(data[key], getattr(api, key), rtol=1e-12, err_msg=key)
    drawn = finite_positive(tau)

    # --plot: exact curves, simulation markers (every point: fewer than 40), τ_gen and τ_mem
    lines = labelled_lines(saved_figures["curves.png"])
    sim = gaussian_equivalent(RD_MODEL, d=8, seed=0).loss_curves(tau)
    for label, values in [("train (exact)", api.train), ("test (exact)", api.test),
                          ("score error", api.score_error), ("train (simulation)", sim.train),
                          ("test (simulation)", sim.test)]:
        np.testing.assert_array_equal(lines[label].get_xdata(), tau[drawn], err_msg=label)
        np.testing.assert_allclose(lines[label].get_ydata(), values[drawn], rtol=1e-12, err_msg=label)
    ts = data["timescales"]
    assert vertical_lines(saved_figures["curves.png"]) == pytest.approx(sorted([ts["tau_gen"], ts["tau_mem"]]))

    # --decomposition-plot: one line per group of bulks and their total, the JSON's decomposition
    dec = data["decomposition"]
    dec_lines = [ln for ln in saved_figures["dec.png"].get_lines() if not ln.get_label().startswith("_")]
    rows = np.array(dec["test"], dtype=float)[:, finite_positive(dec["tau"])]
    assert len(dec_lines) == len(dec["intervals"]) + 1 and dec_lines[-1].get_label() == "total"
    for line, row in zip(dec_lines, [*rows, rows.sum(axis=0)]):
        np.testing.assert_allclose(line.get_ydata(), row, rtol=1e-12)
    np.testing.assert_allclose(dec_lines[-1].get_ydata(), api.test[drawn] - 1, rtol=1e-9, atol=1e-12)

    # --collapse-plot: test loss of each ψ_n against τ/ψ_n
    lines = labelled_lines(saved_figures["collapse.png"])
    assert set(lines) == {r"$\psi_n=2$", r"$\psi_n=4$"}
    for psi_n, reference in [(2, api), (4, rd.loss_curves(RD_MODEL.replace(psi_n=4), tau))]:
        line = lines[rf"$\psi_n={psi_n}$"]
        np.testing.assert_allclose(line.get_xdata(), tau[drawn] / psi_n, rtol=1e-15)
        np.testing.assert_allclose(line.get_ydata(), reference.test[drawn], rtol=1e-12)


def test_curves_table_on_stdout(capsys):
    assert main(["curves", *MODEL, "--points", "5", "--tau-min", "1", "--tau-max", "100"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
    assert lines[0].split() == ["tau", "train", "test", "score_error"]
    assert len(lines) == 1 + 6
    assert float(lines[1].split()[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("extra, message", [
    (["--tau-min", "-1"], "--tau-min"),
    (["--tau-min", "10", "--tau-max", "1"], "--tau-max"),
    (["--points", "1"], "--points"),
    (["--collapse", "1,2"], "--collapse-plot"),
])
def test_curves_bad_input(extra, message, capsys):
    assert cli(["curves", *MODEL, *extra]) == 2
    one_error_line(capsys.readouterr().err, message)


def test_curves_bad_model(capsys):
    assert main(["curves", "--psi-p", "-4", "--psi-n", "2", "--t", "0.1"]) == 2
    assert "psi_p" in capsys.readouterr().err


def test_timescales_json(tmp_path, capsys):
    """The JSON and the printed table hold the API's timescales and scaling exponents."""
    out = tmp_path / "t.json"
    assert main(["timescales", *MODEL, "--json", str(out), "--scaling", "1,2,4"]) == 0
    data = json.loads(out.read_text())
    assert {"model", "tau_gen", "tau_mem", "definition", "bulks", "tau_seed", "scaling"} <= set(data)
    ts = rd.timescales(RD_MODEL)
    fit = rd.scaling_exponents(RD_MODEL, [1, 2, 4])
    assert (data["tau_gen"], data["tau_mem"]) == pytest.approx((ts.tau_gen, ts.tau_mem), rel=1e-12)
    np.testing.assert_allclose(data["scaling"]["exponent"], fit.exponent, rtol=1e-12)
    lines = capsys.readouterr().out.splitlines()
    printed = dict(line.split(" = ") for line in lines if not line.startswith("#") and " = " in line)
    expected = ts.by_name()
    assert set(printed) == {f"{name:>12s}" for name in expected}
    for name, value in expected.items():
        assert float(printed[f"{name:>12s}"]) == pytest.approx(value, rel=1e-5)
    rows = [line.split() for line in lines[lines.index("# d log tau_mem / d log psi_n") + 2:]]
    np.testing.assert_allclose(np.array(rows, dtype=float), np.column_stack([fit.psi_n, fit.tau, fit.exponent]),
                               rtol=1e-3, atol=5e-4)             # printed with 4, 6 and 3 decimals


@pytest.mark.parametrize("extra, message", [
    (["--mem-fraction", "2"], "mem_fraction"),
    (["--scaling", "1,2"], "at least 3"),             # the library's check of scaling_exponents
])
def test_timescales_bad_input(extra, message, capsys):
    assert main(["timescales", *MODEL, *extra]) == 2
    one_error_line(capsys.readouterr().err, message)


def test_automatic_simulation_says_its_sizes_and_when_it_is_indicative(tmp_path, capsys, saved_figures):
    """--plot's automatic d at ψ_p = 64 is 18 (p ≤ 1200): the overlay used to look like a check while its
    plateau was 19 against 25.5; it is now labelled indicative, in the output and the title."""
    assert main(["curves", "--psi-p", "64", "--psi-n", "8", "--t", "0.01", "--points", "20", "--sim-method",
                 "gaussian", "--plot", str(tmp_path / "c.png")]) == 0
    line = "# simulation: Gaussian equivalent, seed 0, d = 18, p = 1152, n = 144; indicative only (d < 40)"
    assert capsys.readouterr().out.splitlines()[3] == line
    title = saved_figures["c.png"].get_title().replace("\n", " ")
    assert "markers: Gaussian equivalent, d = 18, p = 1152, n = 144; indicative only (d < 40); seed 0" in title


def test_automatic_simulation_skips_sizes_of_another_model(tmp_path, capsys, saved_figures):
    """At ψ_p = 1e5 no d ≥ 8 keeps p ≤ 1200: no overlay, and the output says why."""
    assert main(["curves", "--psi-p", "1e5", "--psi-n", "8", "--t", "0.01", "--points", "10",
                 "--plot", str(tmp_path / "c.png")]) == 0
    assert capsys.readouterr().out.splitlines()[3].startswith("# simulation: none (--simulate auto: no d from 8")
    assert not any("simulation" in label for label in labelled_lines(saved_figures["c.png"]))


def test_collapse_draws_the_models_own_psi_n(tmp_path, saved_figures):
    """--collapse 1,4 at ψ_n = 2 draws ψ_n = 1, 2, 4 (the model's own was left out), in order, and its title
    names m when it is finite."""
    assert main(["curves", *MODEL, "--m", "3", "--points", "10", "--collapse", "4,1",
                 "--collapse-plot", str(tmp_path / "k.png")]) == 0
    ax = saved_figures["k.png"]
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] == [
        r"$\psi_n=1$", r"$\psi_n=2$", r"$\psi_n=4$"]
    assert "m = 3 noise draws" in ax.get_title()


@pytest.mark.parametrize("command", [["curves"], ["timescales"], ["simulate", "--d", "10"]])
def test_threshold_without_weight_decay_is_one_line_naming_the_remedy(command, capsys):
    """p = n·m at ω = 0 (ψ_p = 4 = 2ψ_n, m = 2) is singular: one line that names it and the weight-decay
    remedy, exit 2; with ω > 0 the same model just works."""
    threshold = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--m", "2"]
    assert cli([command[0], *threshold, *command[1:]]) == 2
    one_error_line(capsys.readouterr().err, "interpolation threshold p = n·m", "give a weight decay > 0")
    if command == ["curves"]:
        assert cli(["curves", *threshold, "--weight-decay", "0.01", "--points", "5"]) == 0
