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


def model_label(model, without=()) -> str:
    """``ψ_p = …, ψ_n = …, t = …, activation, data law`` of a model, with m and the weight decay when they are
    not the defaults, for titles (mathtext); ``without`` leaves out some of ``"psi_p"``, ``"psi_n"``, ``"t"``
    (e.g. the one a figure varies)."""
    names = {"psi_p": r"\psi_p", "psi_n": r"\psi_n", "t": "t"}
    parts = [f"${names[k]}={getattr(model, k):g}$" for k in names if k not in without]
    parts += [model.activation.name, data_label(model.data)]
    if not math.isinf(model.m):
        parts.append(f"m = {model.m} noise draws")
    if model.weight_decay:
        parts.append(f"weight decay ω = {model.weight_decay:g}")
    return ", ".join(parts)


#: Fewest and most labelled ticks a log axis shows (:func:`tidy_log_axis`).
MIN_LABELS, MAX_LABELS = 3, 9
#: A log axis whose view lies within these bounds is labelled with plain numbers (``0.5, 1, 2``); any other
#: with powers of ten (``10^{-4}``, ``2×10^{-4}``).
PLAIN_RANGE = (1e-3, 1e4)


def _log_ticks(lo, hi):
    """Tick values of a log axis viewing ``[lo, hi]`` (0 < lo < hi): decades when at least :data:`MIN_LABELS`
    of them are in view (every k-th when there are too many), else 1-2-5 steps, else round linear steps."""
    from matplotlib.ticker import MaxNLocator
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    step = max(1, -(-sum(lo <= 10.0 ** k <= hi for k in range(k0, k1 + 1)) // MAX_LABELS))
    candidates = [[10.0 ** k for k in range(k0, k1 + 1) if k % step == 0],
                  [f * 10.0 ** k for k in range(k0, k1 + 1) for f in (1, 2, 5)],
                  [f * 10.0 ** k for k in range(k0, k1 + 1) for f in (1, 2, 3, 5)]]
    for ticks in candidates:
        if MIN_LABELS <= sum(lo <= t <= hi for t in ticks) <= MAX_LABELS:
            return ticks
    return [t for t in MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if t > 0]


def _log_label(value, plain) -> str:
    """A tick label: ``%g`` when ``plain``, else ``10^k`` or ``f×10^k`` in mathtext."""
    if value <= 0:
        return ""
    if plain:
        return f"{value:.6g}"
    k = math.floor(math.log10(value) + 1e-9)
    f = value / 10.0 ** k
    return rf"$10^{{{k}}}$" if abs(f - 1) < 1e-6 else rf"${f:.3g}\times10^{{{k}}}$"


def tidy_log_axis(axis) -> None:
    """Ticks of a log axis that can always be read: :data:`MIN_LABELS` to :data:`MAX_LABELS` labelled values
    whatever the view (decades, then 1-2-5 steps, then round linear steps within a decade), plain numbers
    (``0.6, 0.8, 1``) when the view lies within :data:`PLAIN_RANGE` and powers of ten otherwise — never a
    lone label, never ``6×10⁰``. Ticks follow later changes of the limits (they are computed at draw time).
    Call it after ``set_xscale``/``set_yscale("log")``, which reset the ticks."""
    from matplotlib.ticker import Formatter, LogLocator, Locator, NullFormatter

    class LogTicks(Locator):
        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            lo, hi = sorted((vmin, vmax))
            if not (lo > 0 and math.isfinite(hi) and hi > lo):
                return LogLocator().tick_values(vmin, vmax)
            return _log_ticks(lo, hi)

    class LogLabels(Formatter):
        def __call__(self, x, pos=None):
            lo, hi = sorted(self.axis.get_view_interval())
            return _log_label(x, PLAIN_RANGE[0] <= lo and hi <= PLAIN_RANGE[1])

    axis.set_major_locator(LogTicks())
    axis.set_major_formatter(LogLabels())
    axis.set_minor_locator(LogLocator(subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def tidy_figure(fig) -> None:
    """:func:`tidy_log_axis` on every log axis of ``fig`` that still has matplotlib's default ticks (axes
    ticked on purpose, e.g. at a heat map's grid values, are kept)."""
    from matplotlib.ticker import LogLocator
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log" and type(axis.get_major_locator()) is LogLocator:
                tidy_log_axis(axis)


def grid_ticks(axis, values, most=12):
    """Ticks of an axis of computed grid values (a heat map's, a sweep's): at the values themselves when there
    are at most ``most`` of them (every cell labelled, e.g. m = 1, 4, 8), else :func:`tidy_log_axis`."""
    from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    if len(values) <= most:
        axis.set_major_locator(FixedLocator(list(values)))
        axis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in values]))
        axis.set_minor_locator(NullLocator())
    else:
        tidy_log_axis(axis)


def legend_below(ax, handles=None, labels=None, ncol=3, fontsize=8):
    """A legend under the axes (outside the data, so it never covers a curve)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=ncol,
                     fontsize=fontsize, frameon=False)


def savefig(ax, path) -> None:
    """Save the figure that holds ``ax`` to ``path`` (PNG or PDF by extension) and close it; log axes with
    matplotlib's default ticks get readable ones first (:func:`tidy_figure`)."""
    plt = pyplot()
    fig = ax.figure
    tidy_figure(fig)
    fig.savefig(path, dpi=150)
    plt.close(fig)
