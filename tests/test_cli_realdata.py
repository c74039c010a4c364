"""Real data on the command line (docs/theory.md §14): ``--data digits|patches|FILE`` everywhere a law is taken,
``simulate`` on real rows, ``realdata``; every bad input is one line on stderr and exit 2, nothing written."""
import json

import numpy as np
import pytest

from helpers import cli as _run, one_error_line

MODEL = ["--psi-p", "2", "--psi-n", "2", "--t", "0.1"]


def _one_line(capsys, *words):
    return one_error_line(capsys.readouterr().err, *words)


@pytest.fixture
def matrix(tmp_path):
    """A small non-Gaussian data matrix (rows = samples) with one constant column, as .npy."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 8)) ** 3 * np.geomspace(0.5, 2, 8)
    X[:, 3] = 7.0
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda t: _write(t, "bad.npy", b"garbage"), ["cannot read it as .npy"]),
    (lambda t: _write(t, "bad.csv", b"1,2,3\n4,five,6\n"), ["line 2, column 2", "not a number"]),
    (lambda t: _write(t, "nan.csv", b"1,2\n3,nan\n5,6\n"), ["NaN/inf entries", "row 1, column 1"]),
    (lambda t: _write(t, "inf.csv", b"1,2\n3,inf\n5,6\n"), ["NaN/inf entries"]),
    (lambda t: _write(t, "flat.csv", b"1,2\n1,2\n1,2\n"), ["every column is constant"]),
    (lambda t: t / "missing.npz", ["does not exist"]),
])
def test_bad_files_exit_2(tmp_path, capsys, make, words):
    path = make(tmp_path)
    out = tmp_path / "out.json"
    assert _run(["timescales", *MODEL, "--data", str(path), "--json", str(out)]) == 2
    _one_line(capsys, *words)
    assert not out.exists()


def test_constant_columns_policies(matrix, capsys, tmp_path):
    assert _run(["timescales", *MODEL, "--data", str(matrix), "--constant-columns", "error"]) == 2
    _one_line(capsys, "constant (zero-variance) column(s) [3]")
    out = tmp_path / "t.json"
    assert _run(["timescales", *MODEL, "--data", str(matrix), "--json", str(out)]) == 0
    prov = json.loads(out.read_text())["provenance"]
    assert prov["dataset"]["normalization"]["constant_columns"] == [3]
    assert prov["dataset"]["n_rows"] == 120 and prov["model"]["data"]["eigs"][0] == 0.0
    assert _run(["timescales", *MODEL, "--data", str(matrix), "--constant-columns", "drop", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["provenance"]["dataset"]["d"] == 7


def test_options_need_real_data(capsys):
    assert _run(["timescales", *MODEL, "--bins", "3"]) == 2
    _one_line(capsys, "--bins and --constant-columns apply only to real data")
    assert _run(["realdata", *MODEL]) == 2
    _one_line(capsys, "needs real data")


def test_too_few_rows_exit_2(matrix, capsys, tmp_path):
    out = tmp_path / "r.json"
    assert _run(["simulate", "--psi-p", "2", "--psi-n", "8", "--t", "0.1", "--data", str(matrix), "--n-test", "60",
                 "--json", str(out)]) == 2
    _one_line(capsys, "too few for n = 64 training rows and n_test = 60")
    assert _run(["simulate", *MODEL, "--data", str(matrix), "--d", "9"]) == 2
    _one_line(capsys, "--d 9 differs from the 8 columns")
    assert not out.exists()


def test_simulate_and_realdata_on_a_matrix(matrix, capsys, tmp_path):
    out = tmp_path / "s.json"
    assert _run(["simulate", *MODEL, "--data", str(matrix), "--seed", "3", "--points", "8", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["split"] == {"seed": 3, "n_train": 16, "n_test": 104}
    assert res["provenance"]["seeds"] == {"simulation": 3, "split": 3}
    assert res["provenance"]["dataset"]["dataset"].endswith("x.npy")
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert _run(["realdata", *MODEL, "--data", str(matrix), "--splits", "1", "--seed", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "non-Gauss." in text and "L_test(inf)" in text
    res = json.loads(out.read_text())
    r = res["relative_errors"]["test_inf"]
    assert r["theory"] == pytest.approx(-(r["finite_size"] + r["non_gaussian"]), abs=1e-12)
    assert [s["seed"] for s in res["splits"]] == [4] and res["provenance"]["seeds"]["split"] == [4]


@pytest.mark.slow
def test_digits_everywhere(capsys, tmp_path):
    pytest.importorskip("sklearn")
    assert _run(["timescales", "--psi-p", "8", "--psi-n", "4", "--t", "0.1", "--data", "digits"]) == 0
    assert "tau_mem" in capsys.readouterr().out
    out = tmp_path / "sp.json"
    assert _run(["spectrum", "--psi-p", "8", "--psi-n", "4", "--t", "0.1", "--data", "patches", "--bins", "8",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["provenance"]["dataset"]["bins"] == 8
