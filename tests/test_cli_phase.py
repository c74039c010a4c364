"""``rfdiff phase``: JSON layout, plots, resume through --store, one-line errors."""
import json

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.cli import main

from helpers import cli, labelled_lines, one_error_line


def test_json_plot_and_resume(tmp_path, capsys, saved_figures):
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
    _assert_phase_figures(saved_figures["p.png"], saved_figures["tau.png"], data)
    capsys.readouterr()
    assert main(args) == 0                                      # everything comes from the store
    text = capsys.readouterr().out.splitlines()
    assert "points computed 0, reused 6, failed 0 of 6; boundary rows failed 0 of 2" in text[0]
    assert [ln for ln in text if ln.startswith("# boundary at")] == [
        f"# boundary at psi_p = {pp:g}: psi_n* = {b:.6g}" for pp, b in zip(data["psi_p"], data["boundary_psi_n"])]
    rows = [ln.split() for ln in text[2:8]]                     # after the summary line and the header
    for (pp, pn, gen, mem, gap, regime), (i, j) in zip(rows, np.ndindex(2, 3)):
        assert (float(pp), float(pn)) == pytest.approx((data["psi_p"][i], data["psi_n"][j]), rel=1e-3)
        assert [float(gen), float(mem), float(gap)] == pytest.approx(
            [float(data[k][i][j]) for k in ("tau_gen", "tau_mem", "gap_inf")], rel=1e-4)
        assert regime == data["regime"][i][j]


def _as_float(rows):
    return np.array([[np.nan if v is None else float(v) for v in row] for row in rows])


def _assert_phase_figures(ax, tau_ax, data):
    """The heat maps show log10 τ_mem/τ_gen and log10 gap_inf of the JSON (x: ψ_p, y: ψ_n), with the
    boundary ψ_n*(ψ_p); the τ map at ψ_p = 4 draws that row's τ_gen and τ_mem against ψ_n."""
    window_ax, gap_ax = ax.figure.axes[:2]
    for axes, name in ((window_ax, "window"), (gap_ax, "gap_inf")):
        value = _as_float(data[name])
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.log10(np.where(value > 0, value, np.nan)).T
        expected[~np.isfinite(expected)] = np.nan              # τ_mem = ∞ (no memorization) is not drawn
        drawn = axes.collections[0].get_array()
        np.testing.assert_array_equal(np.ma.getmaskarray(drawn).reshape(expected.shape), ~np.isfinite(expected))
        np.testing.assert_allclose(np.ma.filled(drawn, np.nan).reshape(expected.shape), expected, rtol=1e-12)
        boundary = next(ln for ln in axes.get_lines() if ln.get_label().startswith(r"$\psi_n^*$"))
        np.testing.assert_allclose(boundary.get_xdata(), data["psi_p"], rtol=1e-12)
        np.testing.assert_allclose(boundary.get_ydata(), data["boundary_psi_n"], rtol=1e-12)
    lines = labelled_lines(tau_ax)
    for name in ("tau_gen", "tau_mem"):
        line = lines[rf"$\tau_{{{name[4:]}}}$"]
        np.testing.assert_allclose(line.get_xdata(), data["psi_n"], rtol=1e-12)
        np.testing.assert_allclose(line.get_ydata(), _as_float(data[name])[0], rtol=1e-12)


@pytest.mark.parametrize("extra, word", [
    (["--psi-n", "1:x:3"], "start:stop:num"),
    (["--psi-n", "3,2"], "psi_n"),
    (["--psi-n", "2,3", "--workers", "0"], "workers must be >= 1"),          # the library's checks
    (["--psi-n", "2,3", "--scheduler", "tcp://127.0.0.1:1"], "scheduler is only used with executor='dask'"),
    (["--psi-n", "2,3", "--gap-rtol", "2"], "gap_rtol"),
    (["--psi-n", "2,3", "--m", "1.5"], "--m"),
])
def test_bad_input_is_one_line_exit_2(extra, word, capsys):
    assert cli(["phase", "--psi-p", "4", "--t", "0.01", "--executor", "serial"] + extra) == 2
    one_error_line(capsys.readouterr().err, word)


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--gap-rtol", "2"]])
def test_bad_sweep_options_are_refused_before_the_store_is_written(extra, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["phase", "--psi-p", "4", "--psi-n", "2,3", "--t", "0.01", "--store", str(store), *extra]) == 2
    one_error_line(capsys.readouterr().err)
    assert not store.exists()


def test_reproduce_writes_png_pdf_and_manifest(tmp_path, saved_figures):
    """The decomposition figure draws, per group of bulks, the API's decomposition of the model in its
    caption, and their total equals the API's test-loss change (the split adds up: 1e-12)."""
    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "decomposition",
                 "--executor", "serial"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["decomposition"]["files"] == ["decomposition.png", "decomposition.pdf"]
    assert "memorization bulk" in manifest["decomposition"]["caption"]
    assert all((tmp_path / f).stat().st_size > 0 for f in manifest["decomposition"]["files"])
    assert "ψ_p = 64, ψ_n = 8, t = 0.01, tanh" in manifest["decomposition"]["caption"]
    model = rd.RFModel(psi_p=64, psi_n=8, t=0.01)
    lines = [ln for ln in saved_figures["decomposition.png"].get_lines() if not ln.get_label().startswith("_")]
    taus = lines[0].get_xdata()
    dec = rd.LearningDynamics(model).decompose(taus)
    assert [ln.get_label() for ln in lines][-1] == "total" and len(lines) == len(dec.intervals) + 1
    for line, row in zip(lines, dec.test):
        np.testing.assert_array_equal(line.get_xdata(), taus)
        np.testing.assert_allclose(line.get_ydata(), row, rtol=1e-12)
    np.testing.assert_allclose(lines[-1].get_ydata(), rd.loss_curves(model, taus).test - 1, rtol=0, atol=1e-12)
    assert main(["reproduce", "--out", str(tmp_path), "--only", "nonsense"]) == 2


def test_no_memorization_anywhere_is_no_boundary_in_range_not_a_failure(tmp_path, capsys, saved_figures):
    """At t = 50 nothing memorizes at any ψ_n: the rows used to be reported as "boundary failed" (exit 1).
    Now ψ_n* is null with a note saying which range was searched, the figure draws no boundary (and lists
    none), and the exit status is 0."""
    out = tmp_path / "p.json"
    assert main(["phase", "--psi-p", "4,8", "--psi-n", "1,2", "--t", "50", "--executor", "serial", "--json", str(out),
                 "--plot", str(tmp_path / "p.png")]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].endswith("failed 0 of 4; boundary rows failed 0 of 2; no boundary in range for 2 of 2 rows")
    assert text[1] == "# no boundary in range: nothing memorizes for psi_n from 4e-06 to the grid (psi_p = 4)"
    data = json.loads(out.read_text())
    assert data["boundary_psi_n"] == [None, None] and data["boundary_error"] == ["", ""]
    assert all(note.startswith("no boundary in range: nothing memorizes") for note in data["boundary_note"])
    assert data["status"] == "ok" and "no boundary in range for 2 of 2 rows" in data["message"]
    left, right = saved_figures["p.png"].figure.axes[:2]
    for ax, hatched in ((left, r"$\tau_{mem} = \infty$ (does not memorize)"),
                        (right, r"no overfitting left at $\tau = \infty$ ($\leq$1e-12: rounding)")):
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [hatched]      # no boundary line listed
        assert any(c.get_hatch() for c in ax.collections)                           # every cell hatched, none blank


def test_one_point_plot_is_refused_before_computing(tmp_path, capsys):
    assert cli(["phase", "--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--plot", str(tmp_path / "p.png")]) == 2
    one_error_line(capsys.readouterr().err, "--plot needs several values", "1 × 1")
    assert cli(["phase", "--psi-p", "4,8", "--psi-n", "2", "--t", "0.1", "--tau-plot", str(tmp_path / "t.png")]) == 2
    one_error_line(capsys.readouterr().err, "--tau-plot needs several values of --psi-n")


@pytest.mark.slow
def test_one_row_is_drawn_as_lines_with_its_threshold_point(tmp_path, saved_figures, capsys):
    """ψ_p = 4, 8, 16 at one ψ_n with m = 2: a one-row diagram (it used to stop at the heat map after the whole
    sweep, exit 2). Lines of τ_gen and τ_mem at the computed points, ticks at the grid values, the threshold
    point ψ_p = mψ_n = 4 marked on the axis, m in the title; its boundary row is found, not failed."""
    assert main(["phase", "--psi-p", "4,8,16", "--psi-n", "2", "--t", "0.1", "--m", "2", "--executor", "serial",
                 "--plot", str(tmp_path / "p.png")]) == 0
    assert "boundary rows failed 0 of 3" in capsys.readouterr().out
    ax = saved_figures["p.png"]
    lines = labelled_lines(ax)
    pd = rd.phase_diagram(psi_p=[4, 8, 16], psi_n=2, t=0.1, m=2, executor="serial", boundary=False)
    for name, key in ((r"$\tau_{gen}$", "tau_gen"), (r"$\tau_{mem}$", "tau_mem")):
        np.testing.assert_array_equal(lines[name].get_xdata(), [4, 8, 16])
        np.testing.assert_allclose(lines[name].get_ydata(), np.where(pd.regime == "threshold", np.nan,
                                                                     getattr(pd, key)).ravel(), rtol=1e-12)
    np.testing.assert_array_equal(lines[r"$p = n\,m$, $\omega = 0$: singular (not computed)"].get_xdata(), [4])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8", "16"]
    assert "m = 2 noise draws" in ax.get_title() and r"$\psi_n$ = 2" in ax.get_title()
