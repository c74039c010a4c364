"""Figures. matplotlib is imported lazily; every function takes ``ax=None`` and returns the axes.

Topic modules: ``rfdiff.plotting.spectrum``, ``.curves``, ``.phase``.
"""
import math


def pyplot():
    """matplotlib.pyplot on the Agg backend (ImportError naming the extra when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'rfdiff[plot]'") from None
    return plt


def _axes(ax):
    if ax is not None:
        return ax
    plt = pyplot()
    _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    return ax


def data_label(data) -> str:
    """Short text naming a data law (a :class:`rfdiff.data.DataLaw` or its ``to_dict()``), for titles."""
    d = data.to_dict() if hasattr(data, "to_dict") else dict(data or {"law": "Isotropic", "scale": 1.0})
    law = d.get("law")
    if law == "Isotropic":
        scale = float(d.get("scale", 1.0))
        return "Σ = I" if scale == 1 else f"Σ = {scale:g} I"
    if law == "DiscreteSpectrum" and len(d["eigs"]) > 4:     # e.g. a sample spectrum (docs/theory.md §14)
        eigs = [float(v) for v in d["eigs"]]
        zero = sum(float(w) for v, w in zip(eigs, d["weights"]) if v == 0.0)
        at_zero = f", weight {zero:.3g} at 0" if zero else ""
        return f"Σ: {len(eigs)} eigenvalues in [{min(eigs):.3g}, {max(eigs):.3g}]{at_zero}"
    if law == "DiscreteSpectrum":
        eigs = ", ".join(f"{v:g}" for v in d["eigs"])
        weights = ", ".join(f"{v:g}" for v in d["weights"])
        return f"Σ eigenvalues {eigs} (weights {weights})"
    if law == "MarchenkoPastur":
        return f"Σ ~ Marchenko–Pastur (ratio {float(d['ratio']):g}, scale {float(d['scale']):g})"
    if law == "mixture":
        parts = [f"{float(w):g}·[{data_label(sub)}]" for w, sub in zip(d["weights"], d["laws"])]
        means = d.get("means")
        return "mixture " + " + ".join(parts) + ("" if not means else f", centroids {list(means)}")
    return f"Σ: {d}"


def model_label(model) -> str:
    """``ψ_p = …, ψ_n = …, t = …, activation, data law`` of a model, for titles (mathtext)."""
    extra = ""
    if not math.isinf(model.m):
        extra += f", m = {model.m} noise draws"
    if model.weight_decay:
        extra += f", weight decay ω = {model.weight_decay:g}"
    return (rf"$\psi_p={model.psi_p:g}$, $\psi_n={model.psi_n:g}$, $t={model.t:g}$, {model.activation.name}, "
            f"{data_label(model.data)}{extra}")


def tidy_log_axis(axis) -> None:
    """Tick labels of a log axis that never collide: decades only when the axis spans a decade or more,
    otherwise 3–6 plain numbers at a round linear step (``0.6, 0.7, 0.8, 0.9, 1``), not a run of
    ``3×10⁰ 4×10⁰ …`` minor labels."""
    from matplotlib.ticker import (
        FixedLocator,
        FormatStrFormatter,
        MaxNLocator,
        NullFormatter,
    )
    lo, hi = sorted(axis.get_view_interval())
    axis.set_minor_formatter(NullFormatter())
    if not (lo > 0 and hi / lo < 10):
        return
    ticks = [t for t in MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    if len(ticks) >= 2:
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FormatStrFormatter("%g"))


def legend_below(ax, handles=None, labels=None, ncol=3, fontsize=8):
    """A legend under the axes (outside the data, so it never covers a curve)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=ncol,
                     fontsize=fontsize, frameon=False)


def savefig(ax, path) -> None:
    """Save the figure that holds ``ax`` to ``path`` (PNG or PDF by extension) and close it."""
    plt = pyplot()
    fig = ax.figure
    fig.savefig(path, dpi=150)
    plt.close(fig)
