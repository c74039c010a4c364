"""What the figures show, read off the drawn artists: every log axis has readable ticks, titles name the
parameters, legends list what is drawn and nothing else, and nothing is clipped or invented."""
import pathlib
import runpy
import sys

import numpy as np
import pytest

import rfdiff as rd
from rfdiff.plotting import PLAIN_RANGE, tidy_log_axis

ROOT = pathlib.Path(__file__).parents[1]


@pytest.fixture
def plt():
    from rfdiff.plotting import pyplot
    plt = pyplot()
    yield plt
    plt.close("all")


def labelled_ticks(axis):
    """The labels of the major ticks inside the view of ``axis``, after drawing."""
    axis.axes.figure.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_majorticklocs())
            if t.get_text() and lo <= v <= hi]


def assert_readable(axis, what):
    """At least three labelled ticks, none of them ``f×10⁰``-style."""
    labels = labelled_ticks(axis)
    assert len(labels) >= 3, f"{what}: {labels}"
    assert not any(r"\times10^{0}" in label for label in labels), f"{what}: {labels}"


@pytest.mark.parametrize("lo, hi", [(0.55, 1.5), (0.5, 15), (0.06, 1.2), (0.3, 40), (1e-3, 1e7), (1e-5, 2e-5),
                                    (0.8, 1.25), (2.0, 6.0), (150, 900), (0.09, 4.0)])
def test_log_axes_always_have_three_readable_labels(plt, lo, hi):
    """A view spanning less than about two decades used to show one or two labels (10⁰ and 10¹) or
    ``6×10⁰`` minor labels."""
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    tidy_log_axis(ax.yaxis)
    ax.set_ylim(lo, hi)                                 # set after: the ticks follow the final view
    assert_readable(ax.yaxis, (lo, hi))
    labels = labelled_ticks(ax.yaxis)
    plain = PLAIN_RANGE[0] <= lo and hi <= PLAIN_RANGE[1]
    assert all(("$" not in label) == plain for label in labels), labels


@pytest.mark.parametrize("model", [rd.RFModel(4, 2.5, 0.1), rd.RFModel(32, 8, 0.01), rd.RFModel(4, 2.5, 0.1, m=2)],
                         ids=["score-error-axis", "loss-axis", "finite-m"])
def test_curves_axes_are_readable(plt, model):
    """The gallery's panels whose loss or score-error axis had a single labelled tick."""
    from rfdiff.plotting.curves import plot_curves
    dyn = rd.LearningDynamics(model)
    taus = np.append(np.geomspace(*dyn.tau_window(), 60), np.inf)
    ax = plot_curves(dyn(taus), rd.timescales(model, dynamics=dyn))
    score_axis = next(a for a in ax.figure.axes if a is not ax)
    for axis, what in ((ax.xaxis, "τ"), (ax.yaxis, "losses"), (score_axis.yaxis, "score error")):
        assert_readable(axis, what)


def test_train_loss_leaving_the_axis_is_marked(plt):
    """m = 1, p > n·m: the train loss falls to 0 and used to vanish below the axis floor without a trace."""
    from rfdiff.plotting.curves import TRAIN_FLOOR, plot_curves
    model = rd.RFModel(4, 2.5, 0.1, m=1)
    dyn = rd.LearningDynamics(model)
    taus = np.append(np.geomspace(*dyn.tau_window(), 60), np.inf)
    curves = dyn(taus)
    ax = plot_curves(curves)
    floor = TRAIN_FLOOR * curves.test[np.isfinite(taus)].min()
    marker = next(line for line in ax.get_lines() if line.get_label() == "train loss → 0 below the axis")
    first_below = taus[np.argmax(curves.train < floor)]
    assert marker.get_xdata()[0] == first_below and marker.get_ydata()[0] == pytest.approx(floor)
    assert ax.get_ylim()[0] == pytest.approx(floor)
    assert "train loss → 0 below the axis" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_decomposition_has_no_symlog_kinks(plt):
    """A symmetric-log axis bends the curves at ±linthresh (the gallery's kinks); asinh is smooth."""
    from rfdiff.plotting.curves import plot_decomposition
    model = rd.RFModel(64, 8, 0.01)
    ax = plot_decomposition(rd.LearningDynamics(model).decompose(np.geomspace(1, 1e7, 50)), model=model)
    assert ax.get_yscale() == "asinh"
    ticks = [t for t in ax.get_yticks() if t]
    assert min(abs(t) for t in ticks) >= 1e-2                    # no labels crowding 0 at ±linthresh
    assert_readable(ax.xaxis, "τ")


def _reproduce_one(draw, saved_figures, name):
    """Run one figure recipe of ``rfdiff.reproduce`` (``draw(out, manifest, plt, save)``) into a temporary
    directory and return the Axes it saved as ``name``."""
    import tempfile

    from rfdiff.plotting import pyplot
    from rfdiff.reproduce import save_figure
    with tempfile.TemporaryDirectory() as out:
        draw(out, {}, pyplot(), save_figure)
    return saved_figures[f"{name}.png"]


@pytest.mark.slow
def test_m_trend_and_kernel_plateau_say_their_parameters(saved_figures):
    from rfdiff.reproduce import beyond
    ax = _reproduce_one(beyond.draw_m_trend, saved_figures, "m_trend")
    assert "t = 0.1, tanh, Σ = I" in ax.get_title()
    assert labelled_ticks(ax.xaxis) == [f"{m:g}" for m in beyond.TREND_M]
    assert_readable(ax.yaxis, "end point")
    ax = _reproduce_one(beyond.draw_kernel_plateau, saved_figures, "kernel_plateau")
    assert "ψ_n = 8, t = 0.01, tanh, Σ = I" in ax.get_title()
    assert_readable(ax.yaxis, "losses")


@pytest.mark.slow
def test_m_map_and_mixture_order_say_their_parameters_and_grid(saved_figures):
    from rfdiff.reproduce import QUICK, beyond, mixtures
    serial = rd.Execution("serial")
    ax = _reproduce_one(lambda *a: beyond.draw_m_map(QUICK, *a, serial), saved_figures, "m_map")
    assert "ψ_n = 2.1, t = 0.1, tanh, Σ = I" in ax.get_title()
    assert labelled_ticks(ax.yaxis) == ["1", "2", "3", "4", "6", "8", "16", "32", "64"]
    ax = _reproduce_one(mixtures.draw_mixture_order, saved_figures, "mixture_order")
    assert "ψ_p = 8, ψ_n = 2, t = 0.1" in ax.get_title()
    assert labelled_ticks(ax.yaxis) == [f"{r:g}" for r in mixtures.VARIANCE_RATIOS]


@pytest.mark.slow
def test_theory_vs_simulation_example_draws_every_point(tmp_path, saved_figures, monkeypatch):
    """The right panel's lower limit used to clip the d = 160 errors at small τ."""
    monkeypatch.setattr(sys, "argv", ["theory_vs_simulation.py", str(tmp_path / "tvs.png")])
    runpy.run_path(str(ROOT / "examples" / "theory_vs_simulation.py"), run_name="__main__")
    ax = saved_figures["tvs.png"]
    right = next(a for a in ax.figure.axes if a is not ax)
    lo, hi = right.get_ylim()
    for line in right.get_lines():
        y = line.get_ydata()
        assert np.all((y >= lo) & (y <= hi)), line.get_label()
    assert {line.get_label() for line in right.get_lines()} == {"d = 40", "d = 80", "d = 160"}


def test_one_axis_diagram_is_drawn_as_lines_with_its_threshold_point():
    """A one-axis diagram (ψ_p = 4, 8, 16 at ψ_n = 2, m = 2): lines of τ_gen and τ_mem at the computed points,
    ticks at the grid values, the threshold point ψ_p = mψ_n = 4 marked on the axis, m in the title; the heat
    map refuses it (it would invent the cells' widths)."""
    from helpers import labelled_lines
    from rfdiff.plotting.phase import plot_phase_lines, plot_phase_map
    pd = rd.phase_diagram(psi_p=[4, 8, 16], psi_n=2, t=0.1, m=2, executor="serial", boundary=False)
    ax = plot_phase_lines(pd)
    lines = labelled_lines(ax)
    for name, key in ((r"$\tau_{gen}$", "tau_gen"), (r"$\tau_{mem}$", "tau_mem")):
        np.testing.assert_array_equal(lines[name].get_xdata(), [4, 8, 16])
        np.testing.assert_allclose(lines[name].get_ydata(), getattr(pd, key).ravel(), rtol=1e-12)   # NaN at 4
    assert np.isnan(lines[r"$\tau_{gen}$"].get_ydata()[0])
    np.testing.assert_array_equal(lines[r"$p = n\,m$, $\omega = 0$: singular (not computed)"].get_xdata(), [4])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8", "16"]
    assert "m = 2 noise draws" in ax.get_title() and r"$\psi_n$ = 2" in ax.get_title()
    with pytest.raises(ValueError, match="plot_phase_lines"):
        plot_phase_map(pd)
