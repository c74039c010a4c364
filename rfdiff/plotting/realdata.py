"""Figures of real data (docs/theory.md §14): theory vs Gaussian surrogate vs real rows, and τ_mem against n."""
from __future__ import annotations

import numpy as np

from . import _axes, legend_below, model_label, tidy_log_axis

__all__ = ["plot_comparison", "plot_tau_scaling"]


def _band(ax, tau, curves, color, label, marker, offset=0):
    """Mean over runs as markers, the range (min–max) as a band."""
    vals = np.array([c.test for c in curves])
    finite = np.isfinite(tau)
    ax.fill_between(tau[finite], vals.min(axis=0)[finite], vals.max(axis=0)[finite], color=color, alpha=0.2, lw=0)
    step = max(1, int(finite.sum()) // 30)
    ax.plot(tau[finite][offset::step], vals.mean(axis=0)[finite][offset::step], marker, color=color, ms=4, mfc="none",
            label=label)


def plot_comparison(comparison, ax=None):
    """Test loss against τ: theory (line), Gaussian surrogate and real rows (markers: mean over runs; band:
    range), with τ_gen and τ_mem of each source marked on the axis.

    Parameters
    ----------
    comparison : rfdiff.realdata.Comparison
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
    """
    ax = _axes(ax)
    c = comparison
    tau = np.asarray(c.taus)
    finite = np.isfinite(tau)
    k = len(c.seeds)
    ax.plot(tau[finite], c.curves["theory"].test[finite], "k-", lw=1.5, label="theory (d → ∞, Gaussian)")
    _band(ax, tau, c.curves["surrogate"], "C0", f"Gaussian surrogate, d = {c.dataset['d']} ({k} seeds)", "o")
    _band(ax, tau, c.curves["real"], "C3", f"real {c.dataset['dataset']} rows ({k} splits)", "s",
          offset=max(1, int(finite.sum()) // 60))
    for source, color, style in (("theory", "k", "-"), ("surrogate", "C0", "--"), ("real", "C3", ":")):
        for q in ("tau_gen", "tau_mem"):
            v = c.mean(source, q) if source != "theory" else c.values["theory"][q]
            if np.isfinite(v):
                ax.axvline(v, color=color, ls=style, lw=0.8, alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel(r"training time $\tau$")
    ax.set_ylabel(r"test loss $L_{test}(\tau)$")
    tidy_log_axis(ax.yaxis)
    n = round(c.model.psi_n * c.dataset["d"])
    ax.set_title(f"{c.dataset['dataset']} (N = {c.dataset['n_rows']}, d = {c.dataset['d']}), n = {n} training rows\n"
                 f"{model_label(c.model)}\nvertical lines: τ_gen, τ_mem of each (solid theory, dashed surrogate, "
                 f"dotted real); seeds {c.seeds[0]}–{c.seeds[-1]}", fontsize=8)
    legend_below(ax, ncol=2)
    return ax


def plot_tau_scaling(scaling, ax=None, which="tau_mem"):
    """τ_mem (or τ_gen) against the number of training rows n: theory (lines), real rows (circles, one per split)
    and, when computed, the Gaussian surrogate (crosses, shifted right by 4% to stay visible), one colour per ψ_p,
    the fitted slopes in the legend.

    Parameters
    ----------
    scaling : rfdiff.realdata.TauScaling
    ax : matplotlib Axes, optional
    which : {"tau_mem", "tau_gen"}

    Returns
    -------
    Axes
    """
    ax = _axes(ax)
    s = scaling
    col = 1 if which == "tau_mem" else 0
    n = s.n.astype(float)
    for i, pp in enumerate(s.psi_p):
        color = f"C{i}"
        th = s.theory[i, :, col]
        slope_t = s.slopes["theory"][i] if which == "tau_mem" else np.nan
        slope_r = s.slopes["real"][i] if which == "tau_mem" else np.nan
        ok = np.isfinite(th)
        label = rf"theory, $\psi_p = {pp:g}$" + (f" (slope {slope_t:.2f})" if np.isfinite(slope_t) else "")
        if ok.any():
            ax.loglog(n[ok], th[ok], "-", color=color, label=label)
        real = s.real[i, :, :, col]
        xs = np.repeat(n, real.shape[1]).reshape(real.shape)
        fin = np.isfinite(real)
        label = rf"real rows, $\psi_p = {pp:g}$" + (f" (slope {slope_r:.2f})" if np.isfinite(slope_r) else "")
        if fin.any():
            ax.loglog(xs[fin], real[fin], "o", color=color, mfc="none", ms=5, label=label)
        if s.surrogate is not None:
            sur = s.surrogate[i, :, :, col]
            fin = np.isfinite(sur)
            slope = s.slopes["surrogate"][i] if which == "tau_mem" else np.nan
            label = rf"Gaussian surrogate, $\psi_p = {pp:g}$" + (f" (slope {slope:.2f})" if np.isfinite(slope) else "")
            if fin.any():
                ax.loglog(xs[fin] * 1.04, sur[fin], "x", color=color, ms=5, label=label)
    ax.set_xlabel("training rows n")
    ax.set_ylabel(r"$\tau_{mem}$" if which == "tau_mem" else r"$\tau_{gen}$")
    ax.set_title(f"{s.dataset['dataset']} (d = {s.dataset['d']}), t = {s.t:g}, {s.activation}; real rows: splits "
                 f"{s.seeds[0]}–{s.seeds[-1]}; infinite values not drawn", fontsize=9)
    legend_below(ax, ncol=3, fontsize=7)
    return ax
