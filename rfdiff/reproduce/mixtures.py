"""Figure recipes for Gaussian-mixture data (docs/theory.md §12): which class generalizes first and which
memorizes first. Called by :func:`rfdiff.reproduce.reproduce` as the figure group ``"mixtures"``.

Figures: ``mixture_curves`` (overall and per-class exact curves over a simulation), ``mixture_order``
(per-class τ_gen and τ_mem ratios over class-variance ratio × imbalance).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..dynamics import LearningDynamics
from ..data import GaussianMixture, Isotropic
from ..model import RFModel
from ..settings import tau_grid
from ..sweep import parallel_map
from ..timing import class_timescales, timescales

__all__ = ["FIGURES", "draw"]

FIGURES = ("mixture_curves", "mixture_order")

CURVES_MODEL = (16.0, 4.0, 0.01)
ORDER_MODEL = (8.0, 2.0, 0.1)
#: Class variances of the order map: the low-variance class has variance 1/√r, the high one √r (τ_Σ ≈ 1).
VARIANCE_RATIOS = (1.5, 2.0, 4.0, 8.0, 16.0)
PI_LOW = (0.1, 0.25, 0.5, 0.75, 0.9)


def draw(cfg, out, manifest, plt, seed, save, run=None):
    """Draw every figure of this group (``save`` is :func:`rfdiff.reproduce.save_figure`; ``run``: the
    :class:`rfdiff.Execution` of its independent computations, default serial)."""
    draw_mixture_curves(cfg, out, manifest, plt, seed, save, run)
    draw_mixture_order(out, manifest, plt, save, run)


def _two_class(pi_low, ratio):
    return GaussianMixture([pi_low, 1 - pi_low], [Isotropic(ratio ** -0.5), Isotropic(ratio ** 0.5)])


def _class_curves(model, d, seed):
    """Overall and per-class exact curves, timescales and a Gaussian-equivalent simulation's curves of one mixture
    model (a task run on the workers)."""
    from ..simulate import gaussian_equivalent
    dyn = LearningDynamics(model)
    taus = tau_grid(*dyn.tau_window(), 120, with_inf=True)
    curves = dataclasses.replace(dyn(taus), classes=dyn.per_class(taus))
    classes = class_timescales(dyn)
    sim = gaussian_equivalent(model, d, seed=seed)
    return curves, classes, timescales(model, dynamics=dyn), sim.loss_curves(taus), sim.class_curves(taus)


def _class_ratios(model):
    """``(τ_gen, τ_mem)`` of the low- over the high-variance class (a task run on the workers)."""
    low, high = class_timescales(model)
    return low.tau_gen / high.tau_gen, low.tau_mem / high.tau_mem


def draw_mixture_curves(cfg, out, manifest, plt, seed, save, run=None):
    from ..plotting.curves import plot_class_curves, plot_curves
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    models, notes = [], []
    shares = (0.5, 0.9)
    tasks = [(RFModel(*CURVES_MODEL, data=GaussianMixture([pi_low, 1 - pi_low], [Isotropic(0.5), Isotropic(2.0)])),
              cfg.curves_d, seed) for pi_low in shares]
    for ax, pi_low, (model, _, _), found in zip(axes, shares, tasks, parallel_map(_class_curves, tasks, run)):
        curves, classes, ts, sim_curves, sim_classes = found
        plot_curves(curves, ts, simulation=sim_curves, ax=ax, score_error=False, simulation_note=f"seed {seed}")
        plot_class_curves(curves, classes, sim_classes, ax=ax)
        notes.append(f"π_low = {pi_low:g}: τ_gen {classes[0].tau_gen:.3g} (low) vs {classes[1].tau_gen:.3g} "
                     f"(high), τ_mem {classes[0].tau_mem:.3g} vs {classes[1].tau_mem:.3g}")
        models.append(model)
    save(axes[0], out, "mixture_curves", manifest,
         f"Two-class Gaussian mixture (variances 1/2 and 2, isotropic), ψ_p = {CURVES_MODEL[0]:g}, "
         f"ψ_n = {CURVES_MODEL[1]:g}, t = {CURVES_MODEL[2]}, tanh: overall train and test losses (solid) and the "
         f"test loss of each class (dashed; | marks the class's τ_gen, × its τ_mem), exact, over a "
         f"Gaussian-equivalent simulation at d = {cfg.curves_d} (seed {seed}, markers), balanced (left) and "
         f"90/10 (right). " + "; ".join(notes) + ". The high-variance class generalizes first; both classes "
         "memorize through the same low part of U's spectrum, so their τ_mem are close.",
         models=models, seeds=[seed], simulation_d=cfg.curves_d)


def draw_mixture_order(out, manifest, plt, save, run=None):
    from ..plotting import grid_ticks
    models = [RFModel(*ORDER_MODEL, data=_two_class(pi_low, ratio)) for ratio in VARIANCE_RATIOS for pi_low in PI_LOW]
    ratios = np.array(parallel_map(_class_ratios, [(model,) for model in models], run), dtype=float)
    gen, mem = (ratios[:, k].reshape(len(VARIANCE_RATIOS), len(PI_LOW)) for k in (0, 1))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    for ax, values, name in zip(axes, (gen, mem), (r"\tau_{gen}", r"\tau_{mem}")):
        lim = np.nanmax(np.abs(np.log10(values)))
        mesh = ax.pcolormesh(PI_LOW, VARIANCE_RATIOS, np.log10(values), shading="nearest", cmap="RdBu_r",
                             vmin=-lim, vmax=lim)
        fig.colorbar(mesh, ax=ax, label=rf"$\log_{{10}}\ {name}^{{low}}/{name}^{{high}}$")
        ax.contour(PI_LOW, VARIANCE_RATIOS, np.log10(values), levels=[0.0], colors="k", linewidths=1.2)
        ax.set_yscale("log")
        grid_ticks(ax.xaxis, PI_LOW)
        grid_ticks(ax.yaxis, VARIANCE_RATIOS)
        ax.set_xlabel(r"share of the low-variance class $\pi_{low}$")
        ax.set_ylabel("class variance ratio (high/low)")
        ax.set_title(f"${name}$ of the low- over the high-variance class\nψ_p = {ORDER_MODEL[0]:g}, "
                     f"ψ_n = {ORDER_MODEL[1]:g}, t = {ORDER_MODEL[2]}, tanh, isotropic classes", fontsize=9)
    reversed_mem = int(np.count_nonzero(mem < 1))
    save(axes[0], out, "mixture_order", manifest,
         f"Which class is first, exactly: log10 of the ratio of the per-class τ_gen (left) and τ_mem (right) of "
         f"the low-variance class over the high-variance class, over the class-variance ratio r (variances "
         f"r^(-1/2) and r^(1/2)) and the share π_low of the low-variance class; ψ_p = {ORDER_MODEL[0]:g}, "
         f"ψ_n = {ORDER_MODEL[1]:g}, t = {ORDER_MODEL[2]}, tanh. Red (> 0): the high-variance class is first. "
         f"τ_gen ratio {np.nanmin(gen):.2f}–{np.nanmax(gen):.2f}, τ_mem ratio {np.nanmin(mem):.3f}–"
         f"{np.nanmax(mem):.3f}; black line: equal times ({reversed_mem} of {mem.size} points have the "
         f"low-variance class memorizing first).", models=models,
         tau_gen_ratio=gen.tolist(), tau_mem_ratio=mem.tolist(), variance_ratios=list(VARIANCE_RATIOS),
         pi_low=list(PI_LOW))
