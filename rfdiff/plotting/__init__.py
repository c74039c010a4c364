"""Figures. matplotlib is imported lazily; every function takes ``ax=None`` and returns the axes.

Topic modules: ``rfdiff.plotting.spectrum``, ``.curves``, ``.phase``.
"""


def _pyplot():
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
    plt = _pyplot()
    _, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    return ax


def savefig(ax, path) -> None:
    """Save the figure that holds ``ax`` to ``path`` (PNG or PDF by extension) and close it."""
    plt = _pyplot()
    fig = ax.figure
    fig.savefig(path, dpi=150)
    plt.close(fig)
