"""Figure recipes for real data (docs/theory.md §14): theory vs Gaussian surrogate vs the true model on real rows,
and τ_mem against the number of training rows. Called by :func:`rfdiff.reproduce.reproduce` as the figure group
``"realdata"`` (needs the optional extra ``rfdiff[data]``).

Figures: ``realdata_curves`` (test-loss curves of the three on digits and on image patches, ψ_p = 8, ψ_n = 4,
t = 0.1, 5 splits each; the manifest holds the universality table), ``realdata_tau_mem`` (τ_gen and τ_mem
against n = 64 … 1024 digits for ψ_p ∈ {4, 8, 16}, theory and real rows, with fitted slopes).
"""
from __future__ import annotations

from ..data import load_dataset
from ..model import RFModel
from ..realdata import QUANTITIES, compare, tau_mem_scaling

__all__ = ["FIGURES", "draw", "COMPARE_MODEL", "SCALING_N", "SCALING_PSI_P", "DATASETS"]

FIGURES = ("realdata_curves", "realdata_tau_mem")
#: (ψ_p, ψ_n, t) of the comparison (the issue's digits measurement: ψ_p = 8, t = 0.1).
COMPARE_MODEL = (8.0, 4.0, 0.1)
COMPARE_SPLITS = 5
DATASETS = ("digits", "patches")
SCALING_N = (64, 128, 256, 512, 1024)
SCALING_PSI_P = (4.0, 8.0, 16.0)
SCALING_T = 0.1


def draw(cfg, out, manifest, plt, seed, save, quick=False):
    """Draw every figure of this group (``save`` is :func:`rfdiff.reproduce._save`); ``quick``: one split for
    the τ_mem scaling instead of three (the comparison always uses 5)."""
    _curves(out, manifest, plt, seed, save)
    _tau_mem(out, manifest, plt, seed, save, splits=1 if quick else 3)


def _table_row(c):
    rel = c.relative_errors()
    return {q: {"theory": c.values["theory"][q], "surrogate_mean": c.mean("surrogate", q),
                "surrogate_std": c.std("surrogate", q), "real_mean": c.mean("real", q), "real_std": c.std("real", q),
                "relative": rel[q]} for q in QUANTITIES}


def _curves(out, manifest, plt, seed, save):
    from ..plotting.realdata import plot_comparison
    _, axes = plt.subplots(1, len(DATASETS), figsize=(13, 5.4), constrained_layout=True)
    table, notes, models, splits = {}, [], [], {}
    for ax, name in zip(axes, DATASETS):
        data = load_dataset(name)
        c = compare(RFModel(*COMPARE_MODEL), data, splits=COMPARE_SPLITS, seed=seed)
        plot_comparison(c, ax=ax)
        table[name] = _table_row(c)
        table[name]["dataset"] = c.dataset
        splits[name] = c.splits
        models.append(c.model)
        rel = c.relative_errors()
        notes.append(f"{name}: the theory is off from the real rows by {100 * rel['test_gen']['theory']:+.1f}% "
                     f"at τ_gen and {100 * rel['test_inf']['theory']:+.1f}% at τ = ∞ (finite size "
                     f"{100 * rel['test_inf']['finite_size']:+.1f}%, non-Gaussian "
                     f"{100 * rel['test_inf']['non_gaussian']:+.1f}%)")
    psi_p, psi_n, t = COMPARE_MODEL
    save(axes[0], out, "realdata_curves", manifest,
         f"Test loss along gradient flow, ψ_p = {psi_p:g}, ψ_n = {psi_n:g}, t = {t}, tanh, on scikit-learn's digits "
         f"(left) and 8×8 patches of its sample photographs (right): the d → ∞ theory of the data's sample spectrum "
         f"(line), the true model on Gaussian rows of the same covariance at d = 64 (Gaussian surrogate, circles) "
         f"and on n = {round(psi_n * 64)} real rows tested on held-out rows (squares); markers the mean and "
         f"bands the range over {COMPARE_SPLITS} seeds/splits ({seed}–{seed + COMPARE_SPLITS - 1}). "
         + "; ".join(notes) + ".", models=models, seeds=list(range(seed, seed + COMPARE_SPLITS)), table=table,
         splits=splits)


def _tau_mem(out, manifest, plt, seed, save, splits):
    from ..plotting.realdata import plot_tau_scaling
    data = load_dataset("digits")
    s = tau_mem_scaling(data, SCALING_N, SCALING_PSI_P, t=SCALING_T, splits=splits, seed=seed)
    _, axes = plt.subplots(1, 2, figsize=(13, 5.0), constrained_layout=True)
    plot_tau_scaling(s, ax=axes[0], which="tau_mem")
    plot_tau_scaling(s, ax=axes[1], which="tau_gen")
    slopes = "; ".join(f"ψ_p = {pp:g}: theory {st:.2f} (n ∈ {ft}), Gaussian surrogate {sg:.2f} (n ∈ {fg}), "
                       f"real {sr:.2f} (n ∈ {fr})"
                       for pp, st, sg, sr, ft, fg, fr in zip(s.psi_p, s.slopes["theory"], s.slopes["surrogate"],
                                                             s.slopes["real"], s.fitted["theory"],
                                                             s.fitted["surrogate"], s.fitted["real"]))
    save(axes[0], out, "realdata_tau_mem", manifest,
         f"τ_mem (left) and τ_gen (right) against the number n of training digits (d = 64, t = {SCALING_T}, tanh), "
         f"ψ_p = {', '.join(f'{v:g}' for v in SCALING_PSI_P)}: theory of the digits' sample spectrum (lines) and "
         f"the true model trained on n real digits, tested on held-out digits (circles), and on Gaussian rows of the "
         f"digits' covariance (Gaussian surrogate, crosses), {splits} split(s)/seed(s) each ({seed}–{seed + splits - 1}). Slopes of log τ_mem against log n over the n where τ_mem is finite: "
         f"{slopes}. Infinite τ_mem (no memorization by the criterion of docs/theory.md §7) is not drawn.",
         models=[RFModel(psi_p=pp, psi_n=nn / 64, t=SCALING_T) for pp in SCALING_PSI_P for nn in SCALING_N],
         seeds=s.seeds, scaling=s.to_dict())
