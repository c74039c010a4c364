"""Spectrum figure: theory density of U over a simulated eigenvalue histogram."""
from __future__ import annotations

import numpy as np

from . import _axes, model_label


def plot_spectrum(spec, *, eigenvalues=None, ax=None, log=True, bins=80, atom_tol=1e-9, atom_rtol=1e-3):
    """Draw the theory density of U (and its atom) over a histogram of simulated eigenvalues.

    Parameters
    ----------
    spec : rfdiff.Spectrum
        Theory density on a grid (e.g. from ``rfdiff.spectrum(model, rfdiff.spectral_grid(sup))``).
    eigenvalues : ndarray, optional
        Eigenvalues of a finite-size simulation (e.g. ``gaussian_equivalent(model, d).eigenvalues()``);
        the eigenvalues sitting on the atom (within ``atom_tol`` absolute or ``atom_rtol`` relative: a finite
        sample's atom moves slightly, e.g. with a mixture's rounded class counts) are counted separately.
    log : bool
        Log-λ axis; the y axis is then the density per decade ``ρ(λ) λ ln 10``, the natural unit when
        bulks span several decades. An atom at λ = 0 (finite m with p > n·m) cannot sit on a log axis: it is
        drawn as a ◀ on the left edge, its mass in the legend.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    keep = spec.lambdas > 0 if log else np.ones(spec.lambdas.shape, bool)    # λ = 0 is not on a log axis
    lam = spec.lambdas[keep]
    dens = spec.density[keep] * (lam * np.log(10) if log else 1.0)
    if eigenvalues is not None:
        ev = np.asarray(eigenvalues, dtype=float)
        p = ev.size
        atom_locs = [a for a, _ in spec.atoms]
        on_atom = np.zeros(p, bool)
        for a in atom_locs:
            on_atom |= np.abs(ev - a) <= max(atom_tol * max(1.0, abs(a)), atom_rtol * abs(a))
        rest = ev[~on_atom]
        if rest.size:
            lo, hi = lam.min(), lam.max()
            edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
            counts, _ = np.histogram(rest, edges)
            width = np.diff(np.log10(edges)) if log else np.diff(edges)
            outside = rest.size - int(counts.sum())
            ax.stairs(counts / p / width, edges, fill=True, alpha=0.35, color="tab:orange",
                      label=f"simulation (p = {p}, {on_atom.sum()} on the atom"
                            + (f", {outside} outside the axis)" if outside else ")"))
    ax.plot(lam, dens, color="k", lw=1.2, label="theory")
    for loc, mass in spec.atoms:
        if log and loc <= 0:
            ax.plot([0.0], [0.5], "<", color="tab:red", ms=10, clip_on=False, transform=ax.transAxes,
                    label=f"atom at λ = 0 (mass {mass:.3g}), left of the log axis")
            continue
        ax.axvline(loc, color="tab:red", ls="--", lw=1)
        ax.annotate(f"atom {mass:.3g}", (loc, 0.95), xycoords=("data", "axes fraction"), color="tab:red",
                    fontsize=8, ha="left", va="top", rotation=90)
    if log:
        ax.set_xscale("log")
        ax.set_ylabel("density per decade  ρ(λ) λ ln10")
    else:
        ax.set_ylabel("density ρ(λ)")
    ax.set_xlabel("eigenvalue λ of U")
    ax.set_title(model_label(spec.model), fontsize=10)
    ax.set_ylim(0, 1.25 * ax.get_ylim()[1])   # headroom: the legend sits above the tallest peak
    ax.legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
    return ax
