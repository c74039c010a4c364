"""Figures of generated samples against training time τ (docs/theory.md §13).

Every function takes computed numbers (no sampling or solving here) and ``ax=None``, and returns the axes.
τ = ∞ is drawn at the right end of the log-τ axis, at :data:`INF_FACTOR` × the largest finite τ, with the tick
label "∞".
"""
from __future__ import annotations

import numpy as np

from . import _axes

__all__ = ["INF_FACTOR", "tau_positions", "plot_memorization", "plot_covariance_trace", "plot_spectra",
           "plot_kl_bound", "mark_times"]

#: Where τ = ∞ sits on a log axis, relative to the largest finite τ.
INF_FACTOR = 4.0


def tau_positions(taus):
    """x positions of ``taus`` on a log axis (∞ → INF_FACTOR × the largest finite τ; τ = 0 dropped as NaN)."""
    taus = np.asarray(taus, dtype=float)
    finite = taus[np.isfinite(taus) & (taus > 0)]
    top = finite.max() if finite.size else 1.0
    x = np.where(np.isinf(taus), INF_FACTOR * top, taus)
    return np.where(x > 0, x, np.nan)


def _inf_tick(ax, taus, x_scale=1.0):
    taus = np.asarray(taus, dtype=float)
    if not np.any(np.isinf(taus)):
        return
    pos = float(tau_positions(taus)[np.isinf(taus)][0]) / x_scale
    ax.axvline(pos / np.sqrt(INF_FACTOR), color="0.8", lw=0.8, ls=(0, (1, 2)))
    ax.annotate(r"$\tau=\infty$", (pos, 0), xycoords=("data", "axes fraction"), xytext=(0, -24),
                textcoords="offset points", ha="center", fontsize=8)


def plot_memorization(taus, values, errors=None, *, label=None, ax=None, color=None, marker="o", x_scale=1.0,
                      inf_label=True):
    """f_mem against τ (or τ/x_scale) with error bars.

    Parameters
    ----------
    taus, values : array_like
    errors : array_like, optional
        Standard errors (drawn as bars).
    x_scale : float
        Divide τ by this (e.g. n, for the collapse against τ/n).
    inf_label : bool
        Label the τ = ∞ position (turn off when several curves with different x_scale share the axes).
    """
    ax = _axes(ax)
    x = tau_positions(taus) / x_scale
    ax.errorbar(x, values, yerr=errors, marker=marker, ms=3.5, lw=1.2, capsize=2, label=label, color=color)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(r"$f_{mem}$ (fraction of copies, $\|x-a^1\|/\|x-a^2\| < 1/3$)")
    ax.set_xlabel(r"training time $\tau$" if x_scale == 1.0 else r"$\tau / n$")
    if inf_label:
        _inf_tick(ax, taus, x_scale)
    return ax


def plot_covariance_trace(taus, traces, *, population=None, empirical=None, label=None, ax=None, color=None):
    """``Tr C/d`` of the generated covariance against τ, with the population and training-set levels."""
    ax = _axes(ax)
    ax.plot(tau_positions(taus), traces, "o-", ms=3.5, color=color, label=label)
    if population is not None:
        ax.axhline(population, color="k", ls="--", lw=1, label=r"population $\mathrm{Tr}\,\Sigma/d$")
    if empirical is not None:
        ax.axhline(empirical, color="0.4", ls=":", lw=1.2, label="training set")
    ax.set_xscale("log")
    values = np.asarray(traces, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() > 10 * values.min():
        ax.set_yscale("log")
    ax.set_xlabel(r"training time $\tau$")
    ax.set_ylabel(r"generated $\mathrm{Tr}\,C/d$")
    _inf_tick(ax, taus)
    return ax


def plot_spectra(spectra, *, styles=None, ax=None):
    """Sorted eigenvalues (descending, against their rank) of several covariances: ``{label: eigenvalues}``;
    ``styles`` maps some labels to keyword arguments of ``ax.plot`` (default: markers and a thin line)."""
    ax = _axes(ax)
    styles = styles or {}
    for label, ev in spectra.items():
        ev = np.sort(np.asarray(ev, dtype=float))[::-1]
        kw = {"marker": "o", "ms": 3, "lw": 1, **styles.get(label, {})}
        ax.plot(np.arange(1, ev.size + 1), ev, label=label, **kw)
    ax.set_yscale("log")
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue of the covariance")
    return ax


def plot_kl_bound(taus, bound, *, label=None, ax=None, color=None, style="-", inf_label=True):
    """The KL bound per dimension against τ (log–log; τ = ∞ at the right end, labelled unless ``inf_label`` is
    false, e.g. for a second curve with the same τ range)."""
    ax = _axes(ax)
    ax.plot(tau_positions(taus), bound, style, color=color, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"training time $\tau$")
    ax.set_ylabel(r"bound on $KL(P_{t_1}\,\|\,Q_{t_1})/d$")
    if inf_label:
        _inf_tick(ax, taus)
    return ax


def mark_times(ax, marks):
    """Vertical lines at named times, ``{label: (τ, color)}`` (labels go to the legend)."""
    for label, (tau, color) in marks.items():
        if np.isfinite(tau):
            ax.axvline(tau, color=color, ls="--", lw=0.9, label=label)
    return ax
