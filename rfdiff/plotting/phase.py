"""Phase-diagram figures: heat maps over two parameters with the no-memorization boundary, and the (ψ_n, τ) map.

Every function takes a :class:`rfdiff.phase.PhaseDiagram` and ``ax=None`` (``axes=None`` for the two-panel
figure) and returns the axes.
"""
from __future__ import annotations

import numpy as np

from . import _axes, data_label, grid_ticks, legend_below, pyplot, tidy_log_axis

__all__ = ["plot_phase_diagram", "plot_phase_map", "plot_phase_lines", "plot_tau_map"]

_LABELS = {"psi_p": r"$\psi_p = p/d$", "psi_n": r"$\psi_n = n/d$", "t": r"diffusion time $t$",
           "m": r"noise draws per point $m$", "weight_decay": r"weight decay $\omega$"}
_QUANTITIES = {
    "window": (r"$\log_{10}\,\tau_{mem}/\tau_{gen}$", "viridis"),
    "gap_inf": (r"$\log_{10}\,[L_{test}(\infty) - L_{min}]$", "magma"),
    "tau_gen": (r"$\log_{10}\,\tau_{gen}$", "cividis"),
    "tau_mem": (r"$\log_{10}\,\tau_{mem}$", "cividis"),
    "ratio": (r"$\log_{10}\,[L_{test}(\infty) - L_{min}]/(1 - L_{min})$", "magma"),
}


#: Overfitting left at τ = ∞ (``gap_inf``, ``ratio``) at or below this is rounding: such cells are hatched
#: as having none, not coloured at 10⁻¹⁶.
GAP_ROUNDING = 1e-12


def _edges(values):
    """Cell edges of log-spaced centres (geometric midpoints; a single value gets a factor-2 cell)."""
    x = np.log(np.asarray(values, dtype=float))
    if x.size == 1:
        return np.exp(x + np.array([-0.35, 0.35]))
    mid = 0.5 * (x[1:] + x[:-1])
    return np.exp(np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]]))


def _boundary_line(diagram):
    """``(x, y)`` of the ψ_n* boundary in the heat map's coordinates, or None."""
    if diagram.boundary is None or len(diagram.axes) != 2:
        return None
    other = diagram.coords[diagram.axes[1 - diagram.axes.index("psi_n")]]
    if diagram.axes[1] == "psi_n":
        return other, diagram.boundary
    return diagram.boundary, other


def plot_phase_map(diagram, quantity="window", ax=None, boundary=True, colorbar=True):
    """Heat map of ``log10 quantity`` over a two-axis diagram (x: first axis, y: second; log axes).

    Parameters
    ----------
    diagram : PhaseDiagram
        A two-axis diagram.
    quantity : str
        ``"window"`` (τ_mem/τ_gen, default), ``"gap_inf"``, ``"ratio"``, ``"tau_gen"`` or ``"tau_mem"``.
        Cells without a value on the log scale are hatched grey and named in the legend: an infinite time
        (``tau_mem = ∞``: no memorization; ``tau_gen = ∞``: the test loss never dips) for the time
        quantities, no overfitting left (at most :data:`GAP_ROUNDING`, rounding) for the gap quantities;
        failed points are left white. The colour bar is drawn only when some cell has a colour.
    ax : matplotlib Axes, optional
    boundary : bool
        Draw the boundary ψ_n* beyond which memorization at infinite time disappears, and ψ_n = ψ_p
        for reference when both are axes.
    colorbar : bool
    """
    if quantity not in _QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(_QUANTITIES)}, got {quantity!r}")
    if len(diagram.axes) != 2 or min(diagram.shape) < 2:
        raise ValueError("plot_phase_map needs two axes of at least two values each (a map of one row or one "
                         "point would invent the cells' widths): use plot_phase_lines")
    ax = _axes(ax)
    xname, yname = diagram.axes
    x, y = diagram.coords[xname], diagram.coords[yname]
    value = np.asarray(getattr(diagram, quantity), dtype=float)
    computed = (np.asarray(diagram.error) == "") & (np.asarray(diagram.regime) != "threshold")
    if quantity.startswith("gap") or quantity == "ratio":
        blank = computed & (value <= GAP_ROUNDING)
        blank_label = rf"no overfitting left at $\tau = \infty$ ($\leq${GAP_ROUNDING:g}: rounding)"
    else:
        blank = computed & ~np.isfinite(value)
        blank_label = (r"$\tau_{gen} = \infty$ (the test loss never dips)" if quantity == "tau_gen"
                       else r"$\tau_{mem} = \infty$ (does not memorize)")
    with np.errstate(divide="ignore", invalid="ignore"):
        logv = np.log10(np.where((value > 0) & ~blank, value, np.nan))
    label, cmap = _QUANTITIES[quantity]
    finite = np.ma.masked_invalid(logv)
    mesh = ax.pcolormesh(_edges(x), _edges(y), finite.T, cmap=cmap, shading="flat")
    if blank.any():
        ax.pcolor(_edges(x), _edges(y), np.ma.masked_where(~blank, np.ones_like(value)).T, hatch="//",
                  cmap="Greys", vmin=0, vmax=4, shading="flat", edgecolor="0.6", lw=0)
        ax.fill_between([], [], facecolor="none", edgecolor="0.6", hatch="//", lw=0, label=blank_label)
    if np.any(np.asarray(diagram.error) != ""):
        ax.fill_between([], [], facecolor="white", edgecolor="0.3", lw=0.5, label="failed point")
    _mark_threshold(ax, diagram, *np.meshgrid(x, y, indexing="ij"))
    if colorbar and finite.count():
        ax.figure.colorbar(mesh, ax=ax, label=label)
    if boundary:
        line = _boundary_line(diagram)
        if line is not None and np.isfinite(diagram.boundary).any():   # no legend entry for a line not drawn
            ax.plot(*line, "w-", lw=2.4)
            ax.plot(*line, "k-", lw=1.2, label=rf"$\psi_n^*$: memorization at $\tau=\infty$ ends "
                                               rf"(gap ratio $={diagram.gap_rtol:g}$)")
        if set(diagram.axes) == {"psi_p", "psi_n"}:
            lim = [max(x.min(), y.min()), min(x.max(), y.max())]
            if lim[0] < lim[1]:                     # only when the diagonal crosses the map
                ax.plot(lim, lim, color="0.15", ls="--", lw=1, label=r"$\psi_n = \psi_p$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(_edges(x)[[0, -1]])
    ax.set_ylim(_edges(y)[[0, -1]])
    grid_ticks(ax.xaxis, x)
    grid_ticks(ax.yaxis, y)
    ax.set_xlabel(_LABELS[xname])
    ax.set_ylabel(_LABELS[yname])
    ax.set_title(f"{label}\n({_fixed_label(diagram)})", fontsize=9)
    legend_below(ax, ncol=2, fontsize=7)
    return ax


def _fixed_label(diagram) -> str:
    """The parameters held fixed (m and weight decay when they differ from the defaults), the activation and
    the data law of a diagram."""
    names = {"psi_p": r"$\psi_p$", "psi_n": r"$\psi_n$", "t": r"$t$"}
    fixed = [f"{names[k]} = {v:g}" for k, v in diagram.fixed.items() if k in names]
    m, decay = diagram.fixed.get("m", np.inf), diagram.fixed.get("weight_decay", 0.0)
    if "m" not in diagram.axes and np.isfinite(m):
        fixed.append(f"m = {m:g} noise draws")
    if "weight_decay" not in diagram.axes and decay:
        fixed.append(rf"weight decay $\omega$ = {decay:g}")
    return ", ".join(fixed + [diagram.fixed["activation"], data_label(diagram.fixed.get("data"))])


def _mark_threshold(ax, diagram, x, y):
    """Points on the interpolation threshold p = n·m without weight decay (regime ``"threshold"``): a black ×."""
    on = np.asarray(diagram.regime) == "threshold"
    if on.any():
        ax.plot(np.asarray(x)[on], np.asarray(y)[on], "kx", ms=7, mew=1.5,
                label=r"$p = n\,m$, $\omega = 0$: singular (not computed)")


def plot_phase_lines(diagram, quantities=("tau_gen", "tau_mem"), ax=None):
    """A diagram with one axis of several values (or two axes, one of them a single value) as lines: each
    quantity against that axis, on log axes. Threshold points are marked on the axis; failed points are
    gaps; a quantity infinite or undefined at every point (e.g. τ_mem where nothing memorizes) is named in the
    title instead of the legend; over ψ_n, the boundary ψ_n* is a dotted vertical line when it was found.

    Parameters
    ----------
    diagram : PhaseDiagram
    quantities : sequence of str
        Fields of the diagram (default τ_gen and τ_mem).
    ax : matplotlib Axes, optional
    """
    varying = [a for a, n in zip(diagram.axes, diagram.shape) if n > 1]
    if len(varying) != 1:
        raise ValueError("plot_phase_lines needs exactly one axis of several values (a single point has nothing "
                         "to plot)")
    ax = _axes(ax)
    name = varying[0]
    x = diagram.coords[name]
    names = {"tau_gen": r"$\tau_{gen}$", "tau_mem": r"$\tau_{mem}$", "window": r"$\tau_{mem}/\tau_{gen}$",
             "gap_inf": r"$L_{test}(\infty) - L_{min}$", "ratio": r"$(L_{test}(\infty) - L_{min})/(1 - L_{min})$",
             "test_inf": r"$L_{test}(\infty)$", "test_min": r"$L_{min}$"}
    absent = []
    for k, q in enumerate(quantities):
        value = np.asarray(getattr(diagram, q), dtype=float).reshape(-1)
        drawn = np.where((value > 0) & np.isfinite(value), value, np.nan)
        if np.isnan(drawn).all():
            absent.append(f"{names.get(q, q)} = {'∞' if np.isinf(value).all() else 'undefined'} at every point")
            continue
        ax.plot(x, drawn, "o-", ms=3, color=f"C{k}", label=names.get(q, q))
    star = diagram.boundary[0] if name == "psi_n" and diagram.boundary is not None else np.nan
    if np.isfinite(star):
        ax.axvline(star, color="k", ls=":", lw=1.2, label=rf"$\psi_n^* = {star:.4g}$: no memorization at "
                                                          rf"$\tau=\infty$ beyond")
    on = (np.asarray(diagram.regime) == "threshold").reshape(-1)
    if on.any():                        # on the x axis itself (no value to place it at)
        ax.plot(x[on], np.zeros(on.sum()), "kx", ms=8, mew=1.5, clip_on=False, transform=ax.get_xaxis_transform(),
                label=r"$p = n\,m$, $\omega = 0$: singular (not computed)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    grid_ticks(ax.xaxis, x)
    tidy_log_axis(ax.yaxis)
    ax.set_xlabel(_LABELS[name])
    ax.set_ylabel(r"training time $\tau$" if all(q.startswith("tau_") for q in quantities) else "value")
    fixed = diagram.select(**{a: diagram.coords[a][0] for a in diagram.axes if a != name}) \
        if len(diagram.axes) == 2 else diagram
    ax.set_title("\n".join([_fixed_label(fixed), *absent]), fontsize=9)
    legend_below(ax, ncol=2, fontsize=7)
    return ax


def plot_phase_diagram(diagram, axes=None):
    """Two heat maps side by side: ``log10 τ_mem/τ_gen`` and ``log10 (L_test(∞) − L_min)``, with the boundary.

    Parameters
    ----------
    diagram : PhaseDiagram
        A two-axis diagram.
    axes : sequence of two matplotlib Axes, optional

    Returns
    -------
    ndarray of Axes
        Save with ``rfdiff.plotting.savefig(axes[0], path)``.
    """
    if len(diagram.axes) != 2 or min(diagram.shape) < 2:
        raise ValueError("plot_phase_diagram needs two axes of at least two values each; use plot_phase_lines "
                         "for one axis")
    if axes is None:
        _, axes = pyplot().subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    plot_phase_map(diagram, "window", ax=axes[0])
    plot_phase_map(diagram, "gap_inf", ax=axes[1])
    return np.asarray(axes)


def plot_tau_map(diagram, ax=None):
    """The (ψ_n, τ) phase map: for each ψ_n, τ < τ_gen, τ_gen ≤ τ < τ_mem and τ ≥ τ_mem shaded.

    Parameters
    ----------
    diagram : PhaseDiagram
        A one-axis diagram over ψ_n (e.g. ``diagram.select(psi_p=64)``).
    ax : matplotlib Axes, optional

    Notes
    -----
    The regions are those of :meth:`PhaseDiagram.tau_map`, each computed point shading its own cell; the vertical
    line is the computed boundary ψ_n* beyond which memorization at infinite time disappears
    (``diagram.boundary``).
    """
    if diagram.axes != ("psi_n",):
        raise ValueError("plot_tau_map needs a one-axis diagram over psi_n (use diagram.select(...))")
    ax = _axes(ax)
    psi = diagram.coords["psi_n"]
    gen, mem = diagram.tau_gen, diagram.tau_mem
    finite = np.concatenate([gen[np.isfinite(gen)], mem[np.isfinite(mem)]])
    if finite.size == 0:
        raise ValueError("no finite timescale to draw")
    lo, hi = finite.min() / 10, finite.max() * 10
    mid = np.where(np.isfinite(gen), gen, hi)
    top = np.where(np.isfinite(mem), mem, hi)
    star = diagram.boundary[0] if diagram.boundary is not None else np.nan
    # the memorizing region ends with the cell of the last point that memorizes (the boundary ψ_n* between it
    # and the next point is drawn as a line, not filled up to)
    memorizes = diagram.regime == "memorizes"
    upper = np.where(memorizes, top, hi)
    # each computed point shades its own cell (steps half-way to its neighbours): nothing is interpolated
    ax.fill_between(psi, lo, mid, step="mid", color="C0", alpha=0.25, lw=0, label="not yet generalizing")
    ax.fill_between(psi, mid, upper, step="mid", color="C2", alpha=0.3, lw=0, label="generalizing")
    if memorizes.any():
        ax.fill_between(psi, upper, np.full(psi.shape, hi), step="mid", color="C3", alpha=0.3, lw=0,
                        label="memorizing")          # zero height where a point does not memorize (upper = hi)
    ax.plot(psi, gen, "k--", lw=1.2, label=r"$\tau_{gen}$")
    ax.plot(psi, mem, "k-", lw=1.2, label=r"$\tau_{mem}$")
    if np.isfinite(star):
        ax.axvline(star, color="C3", lw=1.5, ls=":",
                   label=rf"$\psi_n^* = {star:.3g}$: no memorization at $\tau=\infty$ beyond")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _mark_threshold(ax, diagram, psi, np.full(psi.shape, lo * 1.5))
    ax.set_xlim(psi.min(), psi.max())
    ax.set_ylim(lo, hi)
    tidy_log_axis(ax.xaxis)
    ax.set_xlabel(_LABELS["psi_n"])
    ax.set_ylabel(r"training time $\tau$")
    ax.set_title(_fixed_label(diagram), fontsize=10)
    legend_below(ax, ncol=2, fontsize=7)
    return ax
