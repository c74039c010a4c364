"""Figures of the learning curves: losses on a log-τ axis, the ψ_n collapse, the per-bulk decomposition.

Every function takes already computed results (:class:`rfdiff.curves.LossCurves`,
:class:`rfdiff.timing.Timescales`, :class:`rfdiff.curves.LossDecomposition`) and ``ax=None``, and
returns the axes.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from . import _axes, data_label, legend_below, model_label, pyplot, tidy_log_axis

#: y label of loss axes: the losses are normalised so that both equal 1 at τ = 0 (docs/theory.md §1).
LOSS_LABEL = r"loss (normalised: $L(0) = 1$)"

__all__ = ["SOURCES", "plot_class_curves", "plot_collapse", "plot_curves", "plot_decomposition", "simulation_label"]

_KEY_LABELS = {"test": f"test {LOSS_LABEL}", "train": f"train {LOSS_LABEL}",
               "gap": "generalization gap  test − train", "score_error": r"score error $E_{score}$"}


def _finite(curves):
    """Points drawable on a log-τ axis."""
    return np.isfinite(curves.tau) & (curves.tau > 0)


#: Lowest train loss drawn, relative to the smallest test loss (interpolating models reach 0).
TRAIN_FLOOR = 1e-3
#: Characters per line of the simulation's part of a title (wrapped beyond).
TITLE_WIDTH = 100
#: Names of the simulators (``LossCurves.source``) in titles.
SOURCES = {"gaussian_equivalent": "Gaussian equivalent", "random_features": "true random features",
           "real_features": "true random features on real rows", "gd": "GD training",
           "adam": "Adam training (no theory)"}


def simulation_label(simulation, note="") -> str:
    """``markers: <simulator>, d = …, p = …, n = …`` of finite-size curves (their ``source`` and ``size``,
    with the realised p/d, n/d where rounding moved them and *indicative only* below
    :data:`rfdiff.simulate.INDICATIVE_D`), then ``note`` (e.g. the seed)."""
    text = f"markers: {SOURCES.get(simulation.source, simulation.source)}"
    if simulation.size is not None:
        text += f", {simulation.size.describe(simulation.model)}"
    return text + (f"; {note}" if note else "")


def plot_curves(curves, timescales=None, simulation=None, ax=None, score_error=True, simulation_note=""):
    """Train and test losses (left axis) and score error (right axis, dotted) against τ on a log axis.

    Parameters
    ----------
    curves : LossCurves
    timescales : Timescales, optional
        Marks ``tau_gen`` and ``tau_mem`` and shades the generalization window between them.
    simulation : LossCurves, optional
        Finite-size curves drawn as markers over the exact ones; the title names the simulator and its sizes
        (:func:`simulation_label`).
    ax : matplotlib Axes, optional
    score_error : bool
        Draw the score error on a twin axis.
    simulation_note : str
        Appended to the simulation's line of the title (e.g. ``"seed 0"``).

    Notes
    -----
    A train loss that falls to 0 (interpolation, p > n·m) is drawn down to ``TRAIN_FLOOR`` times the smallest
    test loss; a ▼ marks where it leaves the axes (legend: *train loss → 0 below the axis*).
    """
    ax = _axes(ax)
    keep = _finite(curves)
    tau = curves.tau[keep]
    ax.plot(tau, curves.train[keep], color="C0", label="train (exact)")
    ax.plot(tau, curves.test[keep], color="C3", label="test (exact)")
    if simulation is not None:
        sk = np.isfinite(simulation.tau) & (simulation.tau > 0)
        step = max(1, int(sk.sum()) // 40)
        ts = simulation.tau[sk][::step]
        ax.plot(ts, simulation.train[sk][::step], "o", ms=3.5, mfc="none", color="C0", label="train (simulation)")
        ax.plot(ts, simulation.test[sk][::step], "s", ms=3.5, mfc="none", color="C3", label="test (simulation)")
    if timescales is not None:
        gen, mem = timescales.tau_gen, timescales.tau_mem
        if np.isfinite(gen):
            ax.axvline(gen, color="k", ls="--", lw=0.9)
            ax.annotate(r"$\tau_{gen}$", (gen, 0.98), xycoords=("data", "axes fraction"), ha="right",
                        va="top", rotation=90)
            right = mem if np.isfinite(mem) else tau.max()
            ax.axvspan(gen, right, color="C2", alpha=0.12, label="generalization window")
        if np.isfinite(mem):
            ax.axvline(mem, color="k", ls=":", lw=0.9)
            ax.annotate(r"$\tau_{mem}$", (mem, 0.98), xycoords=("data", "axes fraction"), ha="right",
                        va="top", rotation=90)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # a train loss falling to 0 (interpolation, p > n·m) would squash the curves into rounding: show it
    # down to TRAIN_FLOOR times the smallest test loss and let it leave the axes below
    positive = curves.test[keep][curves.test[keep] > 0]
    if positive.size and np.min(curves.train[keep]) < TRAIN_FLOOR * positive.min():
        floor = TRAIN_FLOOR * positive.min()
        ax.set_ylim(bottom=floor)
        below = int(np.argmax(curves.train[keep] < floor))
        ax.plot([tau[below]], [floor], "v", color="C0", ms=8, clip_on=False,
                label="train loss → 0 below the axis")
    tidy_log_axis(ax.yaxis)
    ax.set_xlabel(r"training time $\tau$")
    ax.set_ylabel(f"train and test {LOSS_LABEL}")
    handles, labels = ax.get_legend_handles_labels()
    if score_error:
        ax2 = ax.twinx()
        line, = ax2.plot(tau, curves.score_error[keep], color="C1", ls=":", label="score error")
        ax2.set_yscale("log")
        tidy_log_axis(ax2.yaxis)
        ax2.set_ylabel(r"score error $E_{score}(\tau)$ (dotted)")
        handles.append(line)
        labels.append("score error (right axis)")
    title = model_label(curves.model)
    if simulation is not None:
        title += "\n" + "\n".join(textwrap.wrap(simulation_label(simulation, simulation_note), TITLE_WIDTH))
    ax.set_title(title, fontsize=10 if simulation is None else 9)
    legend_below(ax, handles, labels)
    return ax


def plot_collapse(curves_list, ax=None, key="test", timescales_list=None):
    """``key`` curves (default test loss) of several ψ_n against ``τ/ψ_n``.

    The memorization rise collapses when ``τ_mem ∝ ψ_n`` (docs/theory.md §7); where it does not, the
    bend is visible directly.

    Parameters
    ----------
    curves_list : sequence of LossCurves
        One per ψ_n (read from each ``curves.model``).
    ax : matplotlib Axes, optional
    key : str
        ``"test"``, ``"train"``, ``"gap"`` or ``"score_error"``.
    timescales_list : sequence of Timescales, optional
        Marks ``tau_mem/ψ_n`` of each curve.
    """
    ax = _axes(ax)
    cmap = pyplot().colormaps["viridis"]
    for i, c in enumerate(curves_list):
        keep = _finite(c)
        color = cmap(0.85 * i / max(1, len(curves_list) - 1))      # viridis beyond 0.85 is too pale to read
        ax.plot(c.tau[keep] / c.model.psi_n, getattr(c, key)[keep], color=color,
                label=rf"$\psi_n={c.model.psi_n:g}$")
        if timescales_list is not None and np.isfinite(timescales_list[i].tau_mem):
            ax.axvline(timescales_list[i].tau_mem / c.model.psi_n, color=color, ls=":", lw=0.9)
    ax.set_xscale("log")
    if key == "gap":
        ax.set_yscale("asinh", linear_width=1e-3)
        _asinh_ticks(ax.yaxis, 1e-3)
    else:
        ax.set_yscale("log")
        tidy_log_axis(ax.yaxis)
    tidy_log_axis(ax.xaxis)
    ax.set_xlabel(r"rescaled training time $\tau/\psi_n$")
    ax.set_ylabel(_KEY_LABELS.get(key, key.replace("_", " ")))
    if curves_list:
        ax.set_title(model_label(curves_list[0].model, without=("psi_n",)) + r": collapse in $\tau/\psi_n$"
                     + (r"  (dotted: $\tau_{mem}/\psi_n$)" if timescales_list is not None else ""), fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def _asinh_ticks(axis, linear_width):
    """Ticks of an ``asinh`` axis: 0 and ±10^k from ten times its linear width up to the data (labels at
    ±linear_width would crowd the 0)."""
    from matplotlib.ticker import FixedLocator
    lo, hi = axis.get_view_interval()
    top = max(abs(lo), abs(hi), 10 * linear_width)
    powers = [10.0 ** k for k in range(math.ceil(math.log10(10 * linear_width)), math.ceil(math.log10(top)) + 1)]
    axis.set_major_locator(FixedLocator(sorted([0.0, *powers, *(-v for v in powers)])))


def plot_decomposition(decomposition, ax=None, key="test", linthresh=1e-3, model=None):
    """Loss change carried by each group of bulks of U against τ (log axis).

    Parameters
    ----------
    decomposition : LossDecomposition
    ax : matplotlib Axes, optional
    key : str
        ``"test"``, ``"train"`` or ``"score_error"``.
    linthresh : float
        Linear range of the y axis, an ``asinh`` scale: linear within ±linthresh (the generalization dip is
        small next to the late rise), logarithmic beyond, and smooth in between (a symmetric-log axis would
        put kinks into the curves at ±linthresh).
    model : RFModel, optional
        Named in the title (the decomposition does not carry its model).
    """
    ax = _axes(ax)
    keep = np.isfinite(decomposition.tau) & (decomposition.tau > 0)
    tau = decomposition.tau[keep]
    values = getattr(decomposition, key)[:, keep]
    for i, (iv, mass) in enumerate(zip(decomposition.intervals, decomposition.mass_w)):
        lo, hi = iv[0][0], iv[-1][1]
        ax.plot(tau, values[i], label=rf"$\lambda\in[{lo:.3g}, {hi:.3g}]$, $\mu_W$ mass {mass:.3g}")
    ax.plot(tau, values.sum(axis=0), color="k", lw=1.2, ls="--", label="total")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xscale("log")
    tidy_log_axis(ax.xaxis)
    ax.set_yscale("asinh", linear_width=linthresh)
    _asinh_ticks(ax.yaxis, linthresh)
    ax.set_xlabel(r"training time $\tau$")
    what = {"test": "test loss", "train": "train loss", "score_error": "score error"}.get(key, key)
    ax.set_ylabel(rf"change of the {what}, $L(\tau) - L(0)$" if key != "score_error"
                  else r"change of the score error, $E(\tau) - E(0)$")
    model = model if model is not None else getattr(decomposition, "model", None)
    title = f"{what} change carried by each part of the spectrum of U"
    ax.set_title(title + (f"\n{model_label(model)}" if model is not None else ""), fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_class_curves(curves, class_timescales=None, simulations=None, ax=None):
    """Per-class test losses of a Gaussian-mixture model (``curves.classes``), dashed, over an axes that
    may already hold the overall curves (:func:`plot_curves`); ``simulations`` (one LossCurves per class)
    are drawn as markers, ``class_timescales`` (one :class:`rfdiff.Timescales` per class) as marks at
    τ_gen (|) and τ_mem (×). Each class is named by its covariance and weight (e.g. ``class 0: Σ = 0.5 I,
    weight 0.9``), and the legend explains every mark.

    Returns the Axes; the legend is rebuilt below the axes.
    """
    ax = _axes(ax)
    previous = ax.get_legend()            # keep what plot_curves listed (e.g. the score error of its twin axis)
    handles = list(previous.legend_handles) if previous is not None else []
    labels = [t.get_text() for t in previous.get_texts()] if previous is not None else []
    data = getattr(curves.model, "data", None)
    marked = set()
    for c, cls in enumerate(curves.classes or ()):
        color = f"C{4 + c}"
        keep = _finite(cls)
        name = f"class {c}" + (f": {data_label(data.class_laws[c])}, weight {data.class_weights[c]:g}"
                               if getattr(data, "is_mixture", False) else "")
        ax.plot(cls.tau[keep], cls.test[keep], ls="--", color=color, label=f"test, {name}")
        if simulations is not None:
            sim = simulations[c]
            sk = np.isfinite(sim.tau) & (sim.tau > 0)
            step = max(1, int(sk.sum()) // 25)
            ax.plot(sim.tau[sk][::step], sim.test[sk][::step], "^", ms=3.5, mfc="none", color=color,
                    label=f"test, class {c} (simulation)")
        if class_timescales is not None:
            for tau, mark in zip((class_timescales[c].tau_gen, class_timescales[c].tau_mem), ("|", "x")):
                if np.isfinite(tau):
                    ax.plot([tau], [np.interp(np.log(tau), np.log(cls.tau[keep]), cls.test[keep])], mark,
                            color=color, ms=9, mew=1.5)
                    marked.add(mark)
    for mark, text in (("|", r"$\tau_{gen}$ of a class (its colour)"), ("x", r"$\tau_{mem}$ of a class")):
        if mark in marked:
            ax.plot([], [], mark, color="0.3", ms=9, mew=1.5, label=text)
    for handle, label in zip(*ax.get_legend_handles_labels()):
        if label not in labels:
            handles.append(handle)
            labels.append(label)
    legend_below(ax, handles, labels)
    return ax
