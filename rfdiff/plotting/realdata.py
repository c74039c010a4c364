"""Figures of real data (docs/theory.md §14): theory vs Gaussian surrogate vs real rows, τ_mem against n, and
generated images beside their nearest training images."""
from __future__ import annotations

import numpy as np

from . import _axes, legend_below, model_label, tidy_log_axis

__all__ = ["plot_comparison", "plot_tau_scaling", "plot_image_pairs", "image_mosaic"]


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
    ax.set_title(f"{c.dataset['dataset']} (N = {c.dataset['n_rows']}, d = {c.dataset['d']}), n = {c.splits[0]['n_train']} "
                 f"training rows\n"
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


def image_mosaic(images, partners, shape, columns=4):
    """One array holding every pair ``images[i] | partners[i]`` as two ``shape`` tiles side by side, ``columns``
    pairs per row, NaN between tiles (one pixel inside a pair, three between pairs).

    Parameters
    ----------
    images, partners : array_like, shape (k, h·w)
        Flattened images (row-major), e.g. generated samples and their nearest training images.
    shape : (int, int)
        ``(h, w)`` of one image.
    columns : int
        Pairs per row of the mosaic.

    Returns
    -------
    mosaic : ndarray, shape (r·h + 3(r − 1), columns·(2w + 1) + 3(columns − 1)), r = ⌈k/columns⌉
    origins : ndarray of int, shape (k, 2)
        Top-left (row, column) of each pair's first tile.
    """
    images, partners = np.asarray(images, dtype=float), np.asarray(partners, dtype=float)
    h, w = (int(v) for v in shape)
    if images.ndim != 2 or images.shape != partners.shape or images.shape[1] != h * w:
        raise ValueError(f"images and partners must both have shape (k, {h * w}) for shape {shape}, got "
                         f"{images.shape} and {partners.shape}")
    k = images.shape[0]
    rows = -(-k // columns)
    pair_w, gap = 2 * w + 1, 3
    mosaic = np.full((rows * h + gap * (rows - 1), columns * pair_w + gap * (columns - 1)), np.nan)
    origins = np.array([((i // columns) * (h + gap), (i % columns) * (pair_w + gap)) for i in range(k)], dtype=int)
    for (r, c), a, b in zip(origins, images, partners):
        mosaic[r:r + h, c:c + w] = a.reshape(h, w)
        mosaic[r:r + h, c + w + 1:c + pair_w] = b.reshape(h, w)
    return mosaic, origins.reshape(k, 2)


def plot_image_pairs(images, partners, shape, *, marked=None, columns=4, title=None, vmin=None, vmax=None,
                     cmap="gray_r", ax=None):
    """Generated images, each beside a partner (its nearest training image), as one mosaic without
    interpolation; pairs in ``marked`` (e.g. the copies) framed in red.

    Parameters
    ----------
    images, partners, shape, columns
        As in :func:`image_mosaic`.
    marked : array_like of bool, shape (k,), optional
        Pairs to frame.
    title : str, optional
    vmin, vmax : float, optional
        Colour range (default: that of the partners, so generated pixels outside it saturate).
    cmap : str
        Colour map (default ``"gray_r"``: 0 white, as the digits are usually drawn).
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
        ``ax.images[0].get_array()`` is the mosaic.
    """
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle
    ax = _axes(ax)
    mosaic, origins = image_mosaic(images, partners, shape, columns)
    h, w = (int(v) for v in shape)
    cm = colormaps[cmap].with_extremes(bad="#cfd8e3")
    lo = np.nanmin(partners) if vmin is None else vmin
    hi = np.nanmax(partners) if vmax is None else vmax
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
    for (r, c), hit in zip(origins, np.zeros(len(origins), bool) if marked is None else np.asarray(marked, bool)):
        if hit:
            ax.add_patch(Rectangle((c - 1, r - 1), 2 * w + 2, h + 1, fill=False, edgecolor="C3", lw=1.6))
    ax.set_xlim(-1.5, mosaic.shape[1] + 0.5)             # room for the frames of the outer pairs
    ax.set_ylim(mosaic.shape[0] + 0.5, -1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax
