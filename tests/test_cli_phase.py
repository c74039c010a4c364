"""``rfdiff phase``: JSON layout, plots, resume through --store, one-line errors."""
import json

import numpy as np
import pytest

from rfdiff.cli import main


def test_json_plot_and_resume(tmp_path, capsys):
    args = ["phase", "--psi-p", "4,8", "--psi-n", "4:64:3", "--t", "0.01", "--executor", "serial",
            "--store", str(tmp_path / "store")]
    out = tmp_path / "phase.json"
    assert main(args + ["--json", str(out), "--plot", str(tmp_path / "p.png"),
                        "--tau-plot", str(tmp_path / "tau.png"), "--tau-plot-psi-p", "4"]) == 0
    data = json.loads(out.read_text())
    assert data["psi_p"] == [4.0, 8.0]
    np.testing.assert_allclose(data["psi_n"], [4, 16, 64])    # start:stop:num is log-spaced
    for name in ("tau_gen", "tau_mem", "gap_inf"):
        assert np.shape(data[name]) == (2, 3)
    assert all(isinstance(v, float) or v == "inf" for row in data["tau_mem"] for v in row)
    assert len(data["boundary_psi_n"]) == 2 and 16 < data["boundary_psi_n"][0] < 64
    assert (tmp_path / "p.png").stat().st_size > 0 and (tmp_path / "tau.png").stat().st_size > 0
    capsys.readouterr()
    assert main(args) == 0                                      # everything comes from the store
    text = capsys.readouterr().out
    assert "computed 0, reused 6, failed 0" in text and "boundary at psi_p = 4" in text


@pytest.mark.parametrize("extra, word", [
    (["--psi-n", "1:x:3"], "start:stop:num"),
    (["--psi-n", "3,2"], "psi_n"),
    (["--psi-n", "2,3", "--workers", "0"], "--workers"),
    (["--psi-n", "2,3", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
    (["--psi-n", "2,3", "--gap-rtol", "2"], "gap_rtol"),
])
def test_bad_input_is_one_line_exit_2(extra, word, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main(["phase", "--psi-p", "4", "--t", "0.01", "--executor", "serial"] + extra)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and word in err


def test_reproduce_writes_png_pdf_and_manifest(tmp_path):
    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "decomposition",
                 "--executor", "serial"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["decomposition"]["files"] == ["decomposition.png", "decomposition.pdf"]
    assert "memorization bulk" in manifest["decomposition"]["caption"]
    assert all((tmp_path / f).stat().st_size > 0 for f in manifest["decomposition"]["files"])
    assert main(["reproduce", "--out", str(tmp_path), "--only", "nonsense"]) == 2
