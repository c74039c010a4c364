"""``rfdiff generate``: outputs carry their provenance and agree with the library; bad input is one line, exit 2,
nothing written."""
import json

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.cli import main

SMALL = ["--psi-p", "4", "--psi-n", "2", "--d", "4", "--t-count", "2", "--samples", "64"]


def test_json_npz_plot_and_provenance(tmp_path, capsys, saved_figures):
    paths = {k: tmp_path / f"g.{k}" for k in ("json", "npz")}
    argv = ["generate", *SMALL, "--taus", "10,inf", "--seed", "3", "--json", str(paths["json"]),
            "--npz", str(paths["npz"]), "--plot", str(tmp_path / "g.png")]
    assert main(argv) in (0, 1)
    out = capsys.readouterr().out
    assert "tau=inf" in out and "empirical" in out and "held-out" in out
    data = json.loads(paths["json"].read_text())
    prov = data["provenance"]
    assert prov["command"] == ["rfdiff", *argv] and prov["rfdiff_version"] == rd.__version__
    assert prov["seeds"] == {"family": 3, "samples": 3, "holdout": 3} and prov["model"]["psi_p"] == 4.0
    assert data["evaluation"]["references"]["empirical"]["f_mem"] == 1.0
    with np.load(paths["npz"], allow_pickle=False) as z:
        assert z["samples"].shape == (2, 64, 4) and z["train"].shape == (8, 4)
        assert json.loads(str(z["provenance"])) == prov
        # the samples in the file are those of the library with the same settings
        fam = rd.score_family(rd.RFModel(4, 2, 0.1), 4, [10.0, np.inf], times=rd.default_times(2), seed=3)
        np.testing.assert_allclose(z["samples"][1], rd.sample(fam.at(np.inf), 64, seed=3).x, rtol=1e-12, atol=1e-12)
        f = rd.memorization_fraction(z["samples"][1], z["train"])
        assert float(z["f_mem"][1]) == f.value
    ax = saved_figures["g.png"]
    assert "d = 4, p = 16, n = 8" in ax.figure._suptitle.get_text()


@pytest.mark.parametrize("extra, message", [
    (["--taus", "1", "--times="], "times must be a non-empty"),
    (["--taus", "1", "--times", "0.5,0.1"], "strictly increasing"),
    (["--taus", "-1"], "taus must be >= 0"),
    (["--taus="], "at least one training time"),
    (["--taus", "1", "--samples", "100000000000"], "memory"),
    (["--taus", "1", "--samples", "0"], "--samples must be >= 1"),
    (["--taus", "inf", "--simulator", "gd"], "taus must be finite"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, extra, message):
    out = tmp_path / "g.json"
    argv = ["generate", "--psi-p", "4", "--psi-n", "2", "--d", "4", "--t-count", "4", *extra, "--json", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_mixture_data_reports_class_proportions(tmp_path, capsys):
    argv = ["generate", *SMALL, "--data", "mixture:0.5@0.5,0.5@2", "--taus", "inf", "--seed", "1"]
    assert main(argv) in (0, 1)
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("# class proportions"))
    held = line.split("held-out ")[1].split(";")[0].split("/")
    assert len(held) == 2 and abs(float(held[0]) - 0.5) < 0.2


def test_real_data_rows_are_refused_before_computing(tmp_path, capsys):
    """Real rows (a data file) are not sampled yet: one line, exit 2, nothing written — whatever n."""
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).standard_normal((20, 4)))
    out = tmp_path / "g.json"
    argv = ["generate", "--psi-p", "4", "--psi-n", "50", "--d", "4", "--taus", "1", "--data", str(rows),
            "--json", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data laws only" in err
    assert not out.exists()
