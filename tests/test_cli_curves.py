"""The ``rfdiff curves`` and ``rfdiff timescales`` sub-commands."""
import json

import pytest

from rfdiff.cli import main

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]


def test_curves_json_and_plots(tmp_path, capsys):
    out = tmp_path / "c.json"
    plots = {name: tmp_path / f"{name}.png" for name in ("curves", "dec", "collapse")}
    code = main(["curves", *MODEL, "--points", "30", "--json", str(out), "--plot", str(plots["curves"]),
                 "--decomposition-plot", str(plots["dec"]), "--collapse", "1,4",
                 "--collapse-plot", str(plots["collapse"]), "--simulate", "20"])
    assert code == 0
    data = json.loads(out.read_text())
    assert {"model", "tau", "train", "test", "score_error", "gap", "timescales", "decomposition"} <= set(data)
    assert len(data["tau"]) == 31 and data["tau"][-1] == "inf"
    assert 0.99 < data["train"][0] < 1.0  # τ_min = 0.01/(κ λ_max): no mode has moved yet
    assert data["model"]["psi_p"] == 4.0
    assert data["diagnostics"]["quad_error"][0] < 1e-8
    for path in plots.values():
        assert path.stat().st_size > 10_000
    assert "tau_gen" in capsys.readouterr().out


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
    assert main(["curves", *MODEL, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_curves_bad_model(capsys):
    assert main(["curves", "--psi-p", "-4", "--psi-n", "2", "--t", "0.1"]) == 2
    assert "psi_p" in capsys.readouterr().err


def test_timescales_json(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["timescales", *MODEL, "--json", str(out), "--scaling", "1,2,4"]) == 0
    data = json.loads(out.read_text())
    assert {"model", "tau_gen", "tau_mem", "definition", "bulks", "tau_seed", "scaling"} <= set(data)
    assert data["tau_gen"] < data["tau_mem"]
    assert len(data["scaling"]["exponent"]) == 3
    text = capsys.readouterr().out
    assert "tau_mem" in text and "bulk0_mean" in text


def test_timescales_bad_input(capsys):
    assert main(["timescales", *MODEL, "--mem-fraction", "2"]) == 2
    assert "mem_fraction" in capsys.readouterr().err
