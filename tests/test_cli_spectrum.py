"""`rfdiff spectrum`: output files and one-line errors with exit status 2."""
import json
import subprocess
import sys

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.cli import main
from rfdiff.simulate import gaussian_equivalent

from helpers import cli, labelled_lines, one_error_line, vertical_lines


def test_json_matches_api(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["spectrum", "--psi-p", "16", "--psi-n", "4", "--t", "0.05", "--sigma-eigs", "0.5,1.5",
                 "--sigma-weights", "0.5,0.5", "--points", "600", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert {"model", "lambdas", "density", "atoms", "support"} <= set(payload)
    model = rd.RFModel(16, 4, 0.05, data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5]))
    lam = np.array(payload["lambdas"])
    np.testing.assert_allclose(payload["density"], rd.spectrum(model, lam).density, rtol=1e-12, atol=0)
    assert payload["atoms"][0][1] == pytest.approx(1 - 5 / 16)
    sup = rd.support(model)
    lines = capsys.readouterr().out.splitlines()
    assert [ln for ln in lines if ln.startswith(("  atom", "  bulk"))] == [
        *(f"  atom  λ = {loc:.6g}   mass {mass:.6g}" for loc, mass in sup.atoms),
        *(f"  bulk  [{lo:.6g}, {hi:.6g}]   mass {mass:.6g}" for (lo, hi), mass in zip(sup.intervals, sup.masses))]
    assert sup.intervals and lines[-1].startswith(f"  total mass {sup.total_mass:.9f}; ")


def test_plot_writes_png(tmp_path, saved_figures):
    """The PNG shows the API's density (per decade, on the default grid), its atom, and the histogram of
    the Gaussian-equivalent sample's eigenvalues off the atom (seed 0, d = 30)."""
    out = tmp_path / "s.png"
    assert main(["spectrum", "--psi-p", "8", "--psi-n", "2", "--t", "0.1", "--points", "400",
                 "--sim-d", "30", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = rd.RFModel(8, 2, 0.1)
    sup = rd.support(model)
    spec = rd.spectrum(model, rd.spectral_grid(sup, 400))
    ax = saved_figures["s.png"]
    theory = labelled_lines(ax)["theory"]
    np.testing.assert_allclose(theory.get_xdata(), spec.lambdas, rtol=1e-15)
    np.testing.assert_allclose(theory.get_ydata(), spec.density * spec.lambdas * np.log(10), rtol=1e-12, atol=0)
    assert vertical_lines(ax) == pytest.approx([loc for loc, _ in sup.atoms], rel=1e-12)
    (hist,) = ax.patches
    values, edges = hist.get_data()[:2]
    ev = gaussian_equivalent(model, 30, seed=0).eigenvalues()
    atom = sup.atoms[0][0]
    rest = ev[np.abs(ev - atom) > 1e-9 * max(1.0, atom)]
    assert rest.size < ev.size                                   # some eigenvalues sit on the atom
    counts = np.histogram(rest, edges)[0]
    np.testing.assert_allclose(values, counts / ev.size / np.diff(np.log10(edges)), rtol=1e-12)
    assert counts.sum() >= 0.99 * rest.size                      # the grid covers the sample's bulks


@pytest.mark.parametrize("args, word", [
    (["--psi-p", "0", "--psi-n", "2", "--t", "0.1"], "psi_p"),
    (["--psi-p", "4", "--psi-n", "-1", "--t", "0.1"], "psi_n"),
    (["--psi-p", "4", "--psi-n", "2", "--t", "0"], "t"),
    (["--psi-p", "nan", "--psi-n", "2", "--t", "0.1"], "psi_p"),
    (["--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--activation", "swish"], "activation"),
    (["--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--sigma-eigs", "1,2", "--sigma-weights", "0.3,0.3"], "sum to 1"),
    (["--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--sigma-eigs", "-1,2"], "eigs"),
    (["--psi-p", "4", "--psi-n", "2", "--t", "abc"], "--t"),
])
def test_bad_input_exits_2_with_one_line(args, word, capsys):
    assert cli(["spectrum", *args]) == 2
    one_error_line(capsys.readouterr().err, word)


def test_bad_input_from_the_shell_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "rfdiff", "spectrum", "--psi-p", "-3", "--psi-n", "2", "--t", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "psi_p" in proc.stderr and "Traceback" not in proc.stderr


def test_header_and_provenance_name_the_whole_model_and_the_seed(tmp_path, capsys, saved_figures):
    """The header used to omit m, ω and Σ, and --seed was not recorded. At ψ_p = 2mψ_n the atom sits at λ = 0
    with mass 0.5: it is drawn (◀ on the left edge of the log axis, mass in the legend), and saving the figure
    no longer warns about collapsed axes."""
    import warnings
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["spectrum", "--psi-p", "4", "--psi-n", "1", "--t", "0.1", "--m", "2", "--weight-decay", "0.01",
                     "--sigma-eigs", "0.5,1.5", "--points", "300", "--sim-d", "20", "--seed", "3",
                     "--json", str(out), "--plot", str(png)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("rfdiff spectrum  ψ_p=4 ψ_n=1 t=0.1 m=2 ω=0.01 activation=tanh data: Σ eigenvalues "
                             "0.5, 1.5 (weights 0.5, 0.5)  (")
    prov = json.loads(out.read_text())["provenance"]
    assert prov["seeds"] == {"simulation": 3} and prov["simulation"] == {"method": "gaussian", "d": 20}
    ax = saved_figures["s.png"]
    atom = labelled_lines(ax)["atom at λ = 0 (mass 0.5), left of the log axis"]
    assert atom.get_xdata()[0] == 0 and atom.get_marker() == "<"
    assert vertical_lines(ax) == []                              # no line at λ = 0 on a log axis
    assert ax.get_xlim()[0] > 1e-4                               # the axis is not stretched towards 0
    assert "histogram: Gaussian equivalent, d = 20, p = 80, n = 20; indicative only (d < 40), seed 3" in ax.get_title()


def test_default_simulation_keeps_the_model(tmp_path, capsys, saved_figures):
    """ψ_p = 0.003: no d ≤ 200 (the default's cap) gives p within 5% of ψ_p d (d = 200: p = round(0.6) = 1),
    so no histogram is drawn rather than one of another model; --sim-d 200 is refused."""
    assert main(["spectrum", "--psi-p", "0.003", "--psi-n", "1", "--t", "0.1", "--points", "200",
                 "--plot", str(tmp_path / "s.png")]) == 0
    assert not saved_figures["s.png"].patches
    assert cli(["spectrum", "--psi-p", "0.003", "--psi-n", "1", "--t", "0.1", "--sim-d", "200",
                "--plot", str(tmp_path / "s.png")]) == 2
    one_error_line(capsys.readouterr().err, "would simulate p = 1", "another model")


def test_bulk_reaching_zero_is_drawn_per_decade(tmp_path, saved_figures):
    """On the interpolation threshold p = n·m (m = 2, ψ_p = 2ψ_n) a bulk reaches λ = 0. The log-axis histogram
    used to take linear bins from 0 (one box 10 high over seven decades); it now bins the positive λ of the
    grid per decade, like the theory line, and counts the eigenvalues left outside."""
    assert main(["spectrum", "--psi-p", "4", "--psi-n", "2", "--t", "0.1", "--m", "2", "--points", "400",
                 "--sim-d", "40", "--plot", str(tmp_path / "s.png")]) == 0
    ax = saved_figures["s.png"]
    theory = labelled_lines(ax)["theory"]
    assert theory.get_xdata().min() > 0
    (hist,) = ax.patches
    values, edges = hist.get_data()[:2]
    assert edges[0] == theory.get_xdata().min() and np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))
    ev = gaussian_equivalent(rd.RFModel(4, 2, 0.1, m=2), 40, seed=0).eigenvalues()
    counts = np.histogram(ev, edges)[0]
    np.testing.assert_allclose(values, counts / ev.size / np.diff(np.log10(edges)), rtol=1e-12)
    assert values.max() < 1 and hist.get_label().endswith(f"{ev.size - counts.sum()} outside the axis)")
