"""Files the CLI writes (JSON, CSV, npz, store points, manifests) carry their provenance; figures stand alone."""
import json
import os

import numpy as np
import pytest

import rfdiff as rd
from rfdiff import outputs
from rfdiff.cli import main

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]
TWO_ATOM = ["--sigma-eigs", "0.5,1.5", "--sigma-weights", "0.5,0.5"]


def _csv(path):
    """``(provenance, names, data)`` of a CSV written by :func:`rfdiff.outputs.write_csv`."""
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    assert first.startswith("# rfdiff ")
    prov = json.loads(first[len("# rfdiff "):])
    data = np.genfromtxt(path, delimiter=",", names=True, comments=None, skip_header=1)
    return prov, data.dtype.names, data


def _check_provenance(prov, argv, data_law="DiscreteSpectrum"):
    assert prov["rfdiff_version"] == rd.__version__
    assert prov["command"] == ["rfdiff", *argv]
    assert prov["model"]["data"]["law"] == data_law
    assert {"python", "numpy", "scipy"} <= set(prov["versions"])


def test_curves_json_csv_npz_agree_and_carry_provenance(tmp_path):
    paths = {k: tmp_path / f"c.{k}" for k in ("json", "csv", "npz")}
    argv = ["curves", *MODEL, *TWO_ATOM, "--points", "6", "--simulate", "10", "--seed", "4",
            *(x for k, p in paths.items() for x in (f"--{k}", str(p)))]
    assert main(argv) == 0
    data = json.loads(paths["json"].read_text())
    _check_provenance(data["provenance"], argv)
    assert data["provenance"]["seeds"] == {"simulation": 4}
    assert data["provenance"]["diagnostics"]["contour_nodes"] == data["diagnostics"]["nodes"]
    prov, names, table = _csv(paths["csv"])
    assert prov == data["provenance"]
    assert names == ("tau", "train", "test", "score_error", "gap", "sim_train", "sim_test", "sim_score_error")
    np.testing.assert_array_equal(table["test"], np.array(data["test"], dtype=float))  # exact round trip
    assert np.isinf(table["tau"][-1])
    with np.load(paths["npz"], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["train"], table["train"])
        np.testing.assert_array_equal(z["sim_test"], table["sim_test"])
        assert float(z["tau_mem"]) == pytest.approx(data["timescales"]["tau_mem"])
        assert json.loads(str(z["provenance"])) == data["provenance"]
    assert outputs.read_npz_provenance(paths["npz"])["model"] == outputs.from_json(data["model"])


def test_spectrum_csv_and_npz(tmp_path):
    csv, npz = tmp_path / "s.csv", tmp_path / "s.npz"
    argv = ["spectrum", *MODEL, "--points", "300", "--csv", str(csv), "--npz", str(npz)]
    assert main(argv) == 0
    prov, names, table = _csv(csv)
    _check_provenance(prov, argv, "Isotropic")
    assert names == ("lambda", "density", "density_w")
    assert {"n_fallback", "max_residual", "status"} <= set(prov["diagnostics"])
    ref = rd.spectrum(rd.RFModel(4, 2, 0.1), table["lambda"])
    np.testing.assert_allclose(table["density"], ref.density, rtol=1e-12)
    with np.load(npz, allow_pickle=False) as z:
        assert z["atoms"].shape[1] == 2 and z["intervals"].shape[1] == 2
        assert json.loads(str(z["provenance"]))["command"] == ["rfdiff", *argv]


def test_timescales_and_simulate_json_provenance(tmp_path):
    out = tmp_path / "t.json"
    argv = ["timescales", *MODEL, "--json", str(out)]
    assert main(argv) == 0
    _check_provenance(json.loads(out.read_text())["provenance"], argv, "Isotropic")
    argv = ["simulate", *MODEL, *TWO_ATOM, "--d", "8", "--seed", "5", "--points", "4", "--json", str(out)]
    assert main(argv) == 0
    prov = json.loads(out.read_text())["provenance"]
    _check_provenance(prov, argv)
    assert prov["seeds"] == {"simulation": 5} and prov["simulation"]["d"] == 8


def test_phase_json_and_store_points_carry_provenance(tmp_path):
    store, out = tmp_path / "store", tmp_path / "p.json"
    argv = ["phase", "--psi-p", "4", "--psi-n", "4,16", "--t", "0.01", "--executor", "serial",
            "--store", str(store), "--json", str(out)]
    assert main(argv) == 0
    prov = json.loads(out.read_text())["provenance"]
    assert prov["command"] == ["rfdiff", *argv] and prov["model"]["data"]["law"] == "Isotropic"
    points = [json.loads((store / f).read_text()) for f in os.listdir(store)]
    assert len(points) == 3                                  # two grid points and one boundary row
    for point in points:
        assert point["provenance"]["command"] == ["rfdiff", *argv]
        assert point["provenance"]["rfdiff_version"] == rd.__version__


def test_point_store_default_provenance(tmp_path):
    from rfdiff.sweep import PointStore
    store = PointStore(tmp_path)
    store.put("k", {"a": 1}, {"x": float("inf")})
    saved = json.loads((tmp_path / "k.json").read_text())
    assert saved["provenance"]["rfdiff_version"] == rd.__version__ and store.get("k") == {"x": float("inf")}


def test_reproduce_seed_reaches_simulations_and_manifest(tmp_path):
    argv = ["reproduce", "--quick", "--out", str(tmp_path), "--only", "spectra", "--seed", "7"]
    assert main(argv) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    prov = manifest["_run"]["provenance"]
    assert prov["command"] == ["rfdiff", *argv] and prov["seeds"] == {"base": 7}
    entry = manifest["spectrum_two_atom"]
    assert entry["seeds"] == [7] and "seed 7" in entry["caption"]
    assert entry["models"][0]["data"] == {"law": "DiscreteSpectrum", "eigs": [0.5, 1.5], "weights": [0.5, 0.5]}


def test_writers_are_atomic_and_strict(tmp_path):
    path = tmp_path / "x.csv"
    outputs.write_csv(path, {"a": [1.0, np.nan], "b": [np.inf, -np.inf]}, provenance={"k": np.nan})
    assert path.read_text().splitlines() == ['# rfdiff {"k": null}', "a,b", "1.0,inf", "nan,-inf"]
    with pytest.raises(ValueError, match="lengths"):
        outputs.write_csv(tmp_path / "y.csv", {"a": [1.0], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="reserved"):
        outputs.write_npz(tmp_path / "y.npz", {"provenance": [1]})
    assert sorted(os.listdir(tmp_path)) == ["x.csv"]        # no temporary files left behind


# ---------------------------------------------------------------------------------------------------
# figures


@pytest.fixture
def plt():
    from rfdiff.plotting import pyplot
    plt = pyplot()
    yield plt
    plt.close("all")


def _overlap(a, b):
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def _tick_labels_do_not_collide(ax, fig):
    renderer = fig.canvas.get_renderer()
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for minor in (False, True) for t in axis.get_ticklabels(minor=minor)
                  if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert boxes, "an axis without tick labels"
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not _overlap(boxes[i], boxes[j]), [t.get_text() for t in labels]


def test_curves_figure_legend_outside_labels_say_what(plt):
    from rfdiff.plotting.curves import plot_curves
    model = rd.RFModel(32, 32, 0.01, data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5]))
    dyn = rd.LearningDynamics(model)
    curves = dyn(np.append(np.geomspace(1, 1e7, 60), np.inf))
    ax = plot_curves(curves, rd.timescales(model, dynamics=dyn))
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert not _overlap(legend, ax.get_window_extent())
    assert "test" in ax.get_ylabel() and "L(0) = 1" in ax.get_ylabel()
    assert "0.5, 1.5" in ax.get_title()
    _tick_labels_do_not_collide(ax, fig)


def _diagram(tau_mem_inf=False):
    """A small synthetic two-axis diagram (no solver): a 4-64 ψ_p axis whose minor ticks used to collide."""
    from rfdiff import PhaseDiagram, TimescaleOptions
    pp, pn = np.geomspace(4, 64, 5), np.geomspace(1, 256, 6)
    shape = (5, 6)
    tau_gen = np.full(shape, 10.0)
    tau_mem = np.full(shape, 1e3)
    if tau_mem_inf:
        tau_mem[:2] = np.inf
    error = np.full(shape, "", dtype=object)
    error[-1, -1] = "ValueError: synthetic"
    gap = np.full(shape, 1e-2)
    fields = dict(tau_gen=tau_gen, tau_mem=tau_mem, test_min=np.full(shape, 0.9), test_inf=0.9 + gap,
                  train_inf=np.full(shape, 0.5), window=tau_mem / tau_gen, gap_inf=gap, ratio=gap / 0.1,
                  regime=np.full(shape, "memorizes", dtype=object))
    return PhaseDiagram(("psi_p", "psi_n"), {"psi_p": pp, "psi_n": pn},
                        {"t": 0.01, "activation": "tanh", "data": {"law": "Isotropic", "scale": 1.0}},
                        error=error, point_status=np.where(error != "", "failed", "ok").astype(object),
                        boundary=pp * 3, boundary_error=np.full(5, "", dtype=object),
                        boundary_note=np.full(5, "", dtype=object), gap_rtol=0.1,
                        options=TimescaleOptions(), stats={}, **fields)


def test_phase_map_hatches_no_memorization_legend_outside_ticks_apart(plt):
    from rfdiff.plotting.phase import plot_phase_map
    diagram = _diagram(tau_mem_inf=True)
    ax = plot_phase_map(diagram, "window")
    fig = ax.figure
    fig.canvas.draw()
    assert any(c.get_hatch() for c in ax.collections), "the caption promises hatching"
    assert not _overlap(ax.get_legend().get_window_extent(), ax.get_window_extent())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("infty" in t for t in labels) and "failed point" in labels
    assert "Σ = I" in ax.get_title()
    _tick_labels_do_not_collide(ax, fig)


def test_tidy_log_axis_short_span_has_plain_labels(plt):
    from rfdiff.plotting import tidy_log_axis
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ax.set_ylim(0.9, 1.7)
    tidy_log_axis(ax.yaxis)
    fig.canvas.draw()
    texts = [t.get_text() for t in ax.yaxis.get_ticklabels() if t.get_text()]
    assert len(texts) >= 3 and "1" in texts
    _tick_labels_do_not_collide(ax, fig)
