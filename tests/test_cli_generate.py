"""``rfdiff generate``: outputs carry their provenance and agree with the library; bad input is one line, exit 2,
nothing written."""
import json

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.cli import main

from helpers import one_error_line

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
    one_error_line(capsys.readouterr().err, message)
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_mixture_data_reports_class_proportions(tmp_path, capsys):
    argv = ["generate", *SMALL, "--data", "mixture:0.5@0.5,0.5@2", "--taus", "inf", "--seed", "1"]
    assert main(argv) in (0, 1)
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("# class proportions"))
    held = line.split("held-out ")[1].split(";")[0].split("/")
    assert len(held) == 2 and abs(float(held[0]) - 0.5) < 0.2


@pytest.fixture
def rows_file(tmp_path):
    """20 non-Gaussian rows of 4 columns (one constant), as .npy."""
    X = np.random.default_rng(0).standard_normal((20, 4)) ** 3 + [0.0, 5.0, 0.0, 0.0]
    X[:, 2] = 3.0
    path = tmp_path / "rows.npy"
    np.save(path, X)
    return path


@pytest.mark.parametrize("extra, message", [
    (["--psi-n", "50"], "rows.npy has 20 rows: too few for n = 200 training rows and at least 2 held-out rows "
                        "(n = round(psi_n d), d = 4); the largest --psi-n is 18/4 = 4.5 (n = 18)"),
    (["--psi-n", "4", "--n-test", "8"], "too few for n = 16 training rows and n_test = 8 held-out rows"),
    (["--psi-n", "2", "--d", "5"], "--d 5 differs from the 4 columns"),
    (["--psi-n", "2", "--bins", "2"], "--bins: generate trains on the rows"),
])
def test_real_rows_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, rows_file, extra, message):
    out = tmp_path / "g.json"
    argv = ["generate", "--psi-p", "4", "--taus", "1", "--data", str(rows_file), *extra, "--json", str(out)]
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.npy"]


def test_real_rows_outputs_record_dataset_split_and_pixels(tmp_path, capsys, rows_file):
    """The family is trained on the split's rows; the outputs carry the dataset, its normalisation and the
    split's row indices, and the samples in the data's own units are the normalisation's inverse."""
    paths = {k: tmp_path / f"g.{k}" for k in ("json", "npz")}
    argv = ["generate", "--psi-p", "4", "--psi-n", "2", "--data", str(rows_file), "--taus", "inf", "--t-count", "2",
            "--samples", "16", "--seed", "2", "--json", str(paths["json"]), "--npz", str(paths["npz"])]
    assert main(argv) in (0, 1)
    out = capsys.readouterr().out
    assert "real rows:" in out and "n = 8 training rows, 12 held-out rows" in out and "     exact " not in out
    res = json.loads(paths["json"].read_text())
    prov = res["provenance"]
    assert prov["dataset"]["normalization"]["constant_columns"] == [2] and prov["seeds"]["split"] == 2
    data = rd.load_matrix(rows_file)
    split = data.split(8, 12, seed=2)
    assert prov["split"]["train_rows"] == split.train.tolist() and prov["split"]["test_rows"] == split.test.tolist()
    assert res["kl_bound"] is None and res["family"]["real_rows"]["n_test"] == 12
    assert list(res["evaluation"]["references"]) == ["empirical", "held-out"]
    with np.load(paths["npz"], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["train"], data.rows[split.train])
        np.testing.assert_allclose(z["train_raw"], np.load(rows_file)[split.train], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(z["samples_raw"][0], data.normalization.invert(z["samples"][0]), rtol=1e-12)
        assert "kl_bound" not in z.files
