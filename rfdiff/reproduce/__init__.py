"""Figure recipes: the seed paper's theory figures and the ones rfdiff adds, regenerated from scratch.

:func:`reproduce` writes every figure as PNG and PDF into a directory, plus ``manifest.json`` mapping each
figure's name to its files and caption (the captions carry the numbers read off the figures, e.g. the fitted
exponent of the minimal score error). ``quick=True`` uses smaller grids and simulations (about 75 s on
2 idle cores; the full run about 10 min); the full run uses finer grids, larger simulations and true random features.

Figures (names): ``spectrum_isotropic``, ``spectrum_two_atom``, ``curves``, ``collapse``,
``min_score_error``, ``timescales``, ``phase_diagram``, ``tau_map``, ``decomposition``, and (group
``"beyond"``, :mod:`rfdiff.reproduce.beyond`) ``finite_m_curves``, ``m_trend``, ``m_map``, ``weight_decay``,
``kernel_plateau``, and (group ``"mixtures"``, :mod:`rfdiff.reproduce.mixtures`) ``mixture_curves``,
``mixture_order``, and (group ``"realdata"``, :mod:`rfdiff.reproduce.realdata`, needs ``rfdiff[data]``)
``realdata_curves``, ``realdata_tau_mem``, ``realdata_samples``, and (group ``"samples"``,
:mod:`rfdiff.reproduce.samples`) ``samples_fmem``, ``samples_dimension``, ``samples_covariance``, ``samples_kl_bound``.

Provenance: ``manifest["_run"]["provenance"]`` holds the rfdiff and library versions, the command line, the
base seed and the settings (:func:`rfdiff.outputs.provenance`); every figure's entry adds the models it draws
(``model.to_dict()``, data law included), the seeds and dimensions of its simulations and the solver
diagnostics (failed sweep points, contour nodes). ``seed`` shifts every simulation's seed, so two runs with
the same seed draw the same figures.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..outputs import provenance, write_json
from .._progress import wants_progress
from ..dynamics import LearningDynamics
from ..data import DiscreteSpectrum, Isotropic
from ..model import RFModel
from ..phase import phase_diagram
from ..spectral import spectral_grid, spectrum, support
from ..sweep import Execution, local_pool, parallel_map, release_while_waiting
from ..settings import tau_grid
from ..timing import fit_power_law, timescales, timescales_from_curve

__all__ = ["FIGURES", "FULL", "QUICK", "Settings", "fit_power_law", "reproduce"]

FIGURES = ("spectrum_isotropic", "spectrum_two_atom", "curves", "collapse", "min_score_error", "timescales",
           "phase_diagram", "tau_map", "decomposition", "finite_m_curves", "m_trend", "m_map", "weight_decay",
           "kernel_plateau", "mixture_curves", "mixture_order", "realdata_curves", "realdata_tau_mem",
           "realdata_samples", "samples_fmem", "samples_dimension", "samples_covariance", "samples_kl_bound")


@dataclass(frozen=True)
class Settings:
    """Sizes of one reproduction run.

    Attributes
    ----------
    spectrum_d : int
        Dimension of the Gaussian-equivalent samples drawn under the spectra (ψ_p = 16, ψ_n = 4).
    curves_d : int
        Dimension of the simulation overlaid on the curves (ψ_p = 32).
    sim_d : int
        Dimension of the Gaussian-equivalent simulations of τ_gen, τ_mem (ψ_p = 32).
    sim_seeds : int
        Seeds per simulated point.
    rf_d : int
        Dimension of the true random-features simulations of τ_gen, τ_mem (0: none).
    grid : int
        Points per axis of the (ψ_p, ψ_n) diagram.
    psi_n_points : int
        ψ_n points of the 1-D sweeps (τ map, timescales, minimal score error).
    """

    spectrum_d: int
    curves_d: int
    sim_d: int
    sim_seeds: int
    rf_d: int
    grid: int
    psi_n_points: int


#: Every simulation is at d ≥ rfdiff.simulate.INDICATIVE_D, so no gallery figure rests on an indicative one.
QUICK = Settings(spectrum_d=80, curves_d=40, sim_d=40, sim_seeds=1, rf_d=0, grid=7, psi_n_points=13)
FULL = Settings(spectrum_d=200, curves_d=80, sim_d=60, sim_seeds=3, rf_d=40, grid=24, psi_n_points=41)

T = 0.01
PSI_P = 32.0                       # width of the 1-D sweeps and simulations
CURVES_PSI_N = (2.0, 8.0, 32.0)
COLLAPSE_PSI_N = (1.0, 2.0, 4.0, 8.0, 16.0)
SIM_PSI_N = (1.0, 2.0, 4.0, 8.0)
FIT_RANGE = (2.0, 32.0)            # ψ_n range of the power-law fit of the minimal score error


def save_figure(ax, out, name, manifest, caption, *, models=(), seeds=None, **meta):
    """Write ``name.png`` and ``name.pdf`` and the figure's manifest entry (caption, models, seeds, meta)."""
    from ..plotting import savefig, tidy_figure
    fig = ax.figure
    files = [f"{name}.png", f"{name}.pdf"]
    tidy_figure(fig)
    fig.savefig(os.path.join(out, files[1]))
    savefig(ax, os.path.join(out, files[0]))
    manifest[name] = {"files": files, "caption": caption, "models": [m.to_dict() for m in models]}
    if seeds is not None:
        manifest[name]["seeds"] = list(seeds)
    manifest[name].update(meta)


def _diagram_diagnostics(diagram) -> dict:
    """Failed points and boundary rows of a phase diagram (for the manifest and the caption)."""
    failed = int(np.count_nonzero(np.asarray(diagram.error) != ""))
    bfailed = 0 if diagram.boundary_error is None else int(np.count_nonzero(np.asarray(diagram.boundary_error) != ""))
    return {"points": int(np.asarray(diagram.error).size), "failed_points": failed, "failed_boundary_rows": bfailed,
            "stats": diagram.stats}


def _failure_note(diag) -> str:
    if not (diag["failed_points"] or diag["failed_boundary_rows"]):
        return ""
    return (f" Failed: {diag['failed_points']} of {diag['points']} points (left white), "
            f"{diag['failed_boundary_rows']} boundary rows.")


def _spectrum(model, d, seed):
    """Support, exact spectrum and one Gaussian-equivalent sample's eigenvalues (a task of :func:`_spectra`)."""
    from ..simulate import gaussian_equivalent
    sup = support(model)
    sample = gaussian_equivalent(model, d=d, seed=seed)
    return sup, spectrum(model, spectral_grid(sup, 3000)), sample.eigenvalues(), sample.size.describe(model)


def _spectra(cfg, out, manifest, plt, run, seed):
    from ..plotting.spectrum import plot_spectrum
    figures = [("spectrum_isotropic", Isotropic(), "Σ = I"),
               ("spectrum_two_atom", DiscreteSpectrum([0.5, 1.5], [0.5, 0.5]),
                "two-atom Σ (eigenvalues 0.5, 1.5, equal weights)")]
    models = [RFModel(psi_p=16, psi_n=4, t=T, data=data) for _, data, _ in figures]
    found = parallel_map(_spectrum, [(model, cfg.spectrum_d, seed) for model in models], run)
    for (name, _, label), model, (sup, spec, eigenvalues, size) in zip(figures, models, found):
        ax = plot_spectrum(spec, eigenvalues=eigenvalues)
        ax.set_title(f"{ax.get_title()}\nhistogram: Gaussian equivalent, {size}, seed {seed}", fontsize=9)
        save_figure(ax, out, name, manifest,
              f"Spectrum of U for {label}, ψ_p = 16, ψ_n = 4, t = {T}, tanh: exact density (line) and "
              f"atom over the eigenvalue histogram of one Gaussian-equivalent sample at d = {cfg.spectrum_d} "
              f"(p = {16 * cfg.spectrum_d}, seed {seed}). Bulks: {len(sup.intervals)}.",
              models=[model], seeds=[seed], simulation_d=cfg.spectrum_d,
              diagnostics={"n_fallback": spec.n_fallback, "max_residual": spec.max_residual})


#: Training times of the collapse figure.
COLLAPSE_TAUS = np.append(np.geomspace(1.0, 1e8, 300), np.inf)


def _curve(psi_n, d, seed, collapse):
    """``(model, timescales, panel, collapse curves)`` at ψ_n (a task of :func:`_curves`): one LearningDynamics for
    the curves panel (theory and a Gaussian-equivalent simulation at d, when d) and the collapse (when asked)."""
    from ..simulate import gaussian_equivalent
    model = RFModel(psi_p=PSI_P, psi_n=psi_n, t=T)
    dyn = LearningDynamics(model)
    panel = None
    if d:
        taus = tau_grid(*dyn.tau_window(), 200, with_inf=True)
        panel = (dyn(taus), gaussian_equivalent(model, d=d, seed=seed).loss_curves(taus))
    folded = dyn(COLLAPSE_TAUS) if collapse else None
    return model, timescales(model, dynamics=dyn), panel, folded


def _curves(cfg, out, manifest, plt, run, seed):
    from ..plotting.curves import plot_collapse, plot_curves
    fig, axes = plt.subplots(1, len(CURVES_PSI_N), figsize=(6 * len(CURVES_PSI_N), 4.6), constrained_layout=True)
    values = sorted(set(CURVES_PSI_N) | set(COLLAPSE_PSI_N))
    found = dict(zip(values, parallel_map(_curve, [(v, cfg.curves_d if v in CURVES_PSI_N else 0, seed,
                                                     v in COLLAPSE_PSI_N) for v in values], run)))
    models, nodes = [], []
    for ax, psi_n in zip(axes, CURVES_PSI_N):
        model, ts, (curves, sim), _ = found[psi_n]
        plot_curves(curves, ts, simulation=sim, ax=ax, simulation_note=f"seed {seed}")
        models.append(model)
        nodes.append(curves.nodes)
    save_figure(axes[0], out, "curves", manifest,
          f"Train and test losses (left axis) and score error (right axis, dotted) along gradient flow, "
          f"ψ_p = {PSI_P:g}, t = {T}, tanh, ψ_n = {', '.join(f'{v:g}' for v in CURVES_PSI_N)}: exact theory "
          f"(lines) and a Gaussian-equivalent simulation at d = {cfg.curves_d}, seed {seed} (markers); "
          f"shaded: the generalization window [τ_gen, τ_mem].",
          models=models, seeds=[seed], simulation_d=cfg.curves_d, diagnostics={"contour_nodes": nodes})
    collapse = [found[v] for v in COLLAPSE_PSI_N]
    ax = plot_collapse([c[3] for c in collapse], timescales_list=[c[1] for c in collapse])
    save_figure(ax, out, "collapse", manifest,
          f"Test loss against τ/ψ_n for ψ_n = {', '.join(f'{v:g}' for v in COLLAPSE_PSI_N)} (ψ_p = {PSI_P:g}, "
          f"t = {T}), dotted: τ_mem/ψ_n. The curves would coincide if τ_mem ∝ ψ_n; at this width they do "
          f"not: τ_mem grows faster than ψ_n at small ψ_n and bends over as ψ_n approaches ψ_p (the low "
          f"cluster of U sets τ_mem); the linear law needs ψ_p ≫ ψ_n.", models=[c[0] for c in collapse])


def _psi_n_line(cfg):
    return np.geomspace(0.5, 2048, cfg.psi_n_points)


def _tau_map(line, out, manifest):
    """The (ψ_n, τ) map of the 1-D sweep, with its computed boundary ψ_n*."""
    from ..plotting.phase import plot_tau_map
    star = float(line.boundary[0])
    diag = _diagram_diagnostics(line)
    ax = plot_tau_map(line)
    save_figure(ax, out, "tau_map", manifest,
          f"(ψ_n, τ) phase map at ψ_p = {PSI_P:g}, t = {T}, tanh, Σ = I: not yet generalizing (τ < τ_gen), "
          f"generalizing, memorizing (τ ≥ τ_mem). Memorization at τ = ∞ disappears beyond the computed "
          f"boundary ψ_n* = {star:.4g} = {star / PSI_P:.3g} ψ_p (where (L_test(∞) − L_min)/(1 − L_min) = "
          f"{line.gap_rtol:g}).{_failure_note(diag)}",
          models=[RFModel(psi_p=PSI_P, psi_n=float(v), t=T) for v in line.coords["psi_n"]],
          diagnostics=diag)


def _label(ax, ylabel, title_extra):
    """Axis labels, the title of the ψ_n sweeps (ψ_p, t, tanh, Σ = I plus ``title_extra``) and the legend."""
    ax.set_xlabel(r"$\psi_n = n/d$")
    ax.set_ylabel(ylabel)
    ax.set_title(rf"$\psi_p = {PSI_P:g}$, $t = {T}$, tanh, $\Sigma = I$" + title_extra, fontsize=10)
    ax.legend(fontsize=8, loc="best")


def _min_score_error(line, out, manifest, plt):
    """Minimal score error E_min = (L_min − 1 + Δ_t⟨1/Σ_t⟩)/Δ_t against ψ_n (docs/theory.md §1), power-law fit."""
    psi_n = line.coords["psi_n"]
    model = RFModel(psi_p=PSI_P, psi_n=1, t=T)
    e_min = (line.test_min - 1 + model.delta_t * 1.0) / model.delta_t   # Σ = I: ⟨1/Σ_t⟩ = 1
    fit = (psi_n >= FIT_RANGE[0] * (1 - 1e-9)) & (psi_n <= FIT_RANGE[1] * (1 + 1e-9))
    exponent, prefactor = fit_power_law(psi_n[fit], e_min[fit])
    local = np.gradient(np.log(e_min), np.log(psi_n))
    steepest = int(np.argmin(local))
    ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)[1]
    ax.loglog(psi_n, e_min, "o-", ms=3, label="exact theory")
    ax.loglog(psi_n[fit], prefactor * psi_n[fit] ** exponent, "k--",
              label=rf"fit on $\psi_n\in[{FIT_RANGE[0]:g}, {FIT_RANGE[1]:g}]$: exponent {exponent:.3f}")
    _label(ax, r"minimal score error $\min_\tau E_{score}(\tau)$", " (the seed paper reports $\\approx -0.59$)")
    save_figure(ax, out, "min_score_error", manifest,
          f"Minimal score error (at τ_gen) against ψ_n, ψ_p = {PSI_P:g}, t = {T}, tanh, Σ = I. A power law fitted "
          f"on ψ_n ∈ [{FIT_RANGE[0]:g}, {FIT_RANGE[1]:g}] has exponent {exponent:.3f} (the seed paper reports "
          f"≈ −0.59). There is no single exponent: the local slope d log E_min / d log ψ_n goes from "
          f"{local[0]:.2f} at ψ_n = {psi_n[0]:g} to {local[steepest]:.2f} near ψ_n = {psi_n[steepest]:.3g} and "
          f"flattens again ({local[-1]:.2f} at ψ_n = {psi_n[-1]:g}) towards the finite-width floor.",
          models=[model.replace(psi_n=float(v)) for v in psi_n], exponent=exponent, fit_range=list(FIT_RANGE),
          steepest_local_exponent=float(local[steepest]), diagnostics=_diagram_diagnostics(line))


def _simulated_tau(simulator, psi_n, d, seed):
    """``(τ_gen, τ_mem)`` of one finite-size simulation (``"gaussian"`` or ``"features"``) at ψ_n, from its curve."""
    from ..simulate import gaussian_equivalent, random_features
    make = gaussian_equivalent if simulator == "gaussian" else random_features
    ts = timescales_from_curve(make(RFModel(psi_p=PSI_P, psi_n=psi_n, t=T), d=d, seed=seed).loss_curves, 1.0, 1e7)
    return ts.tau_gen, ts.tau_mem


def _simulated_timescales(cfg, seed, run):
    """``[(label, d, marker, {ψ_n: array of (τ_gen, τ_mem) per seed})]`` of the finite-size simulations."""
    sims = [("Gaussian equivalent", cfg.sim_d, "o", "gaussian")]
    if cfg.rf_d:
        sims.append(("random features", cfg.rf_d, "^", "features"))
    seeds = range(seed, seed + cfg.sim_seeds)
    tasks = [(simulator, v, d, s) for _, d, _, simulator in sims for v in SIM_PSI_N for s in seeds]
    found = iter(parallel_map(_simulated_tau, tasks, run))
    return [(label, d, marker, {v: np.array([next(found) for _ in seeds]) for v in SIM_PSI_N})
            for label, d, marker, _ in sims]


def _timescales_figure(line, sims, cfg, seed, out, manifest, plt):
    """τ_gen and τ_mem against ψ_n: theory lines over simulation markers, with the boundary ψ_n*."""
    from ..simulate import INDICATIVE_D
    psi_n = line.coords["psi_n"]
    star = float(line.boundary[0])
    early = (psi_n >= 1 - 1e-9) & (psi_n <= 8 + 1e-9)
    gen_slope, mem_slope = (fit_power_law(psi_n[early], line.tau_gen[early])[0],
                            fit_power_law(psi_n[early], line.tau_mem[early])[0])
    peak = int(np.nanargmax(np.where(np.isfinite(line.tau_mem), line.tau_mem, np.nan)))
    ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)[1]
    ax.loglog(psi_n, line.tau_gen, "C0-", label=r"$\tau_{gen}$ (theory)")
    ax.loglog(psi_n, line.tau_mem, "C3-", label=r"$\tau_{mem}$ (theory)")
    for label, d, marker, points in sims:
        for v, pts in points.items():
            ax.loglog([v] * len(pts), pts[:, 0], marker, color="C0", mfc="none")
            ax.loglog([v] * len(pts), pts[:, 1], marker, color="C3", mfc="none")
        indicative = f"; indicative only (d < {INDICATIVE_D})" if d < INDICATIVE_D else ""
        ax.plot([], [], marker, color="k", mfc="none", label=f"{label}, d = {d}, p = {round(PSI_P * d)}{indicative}")
    ax.axvline(star, color="k", ls=":", lw=1, label=rf"$\psi_n^* = {star:.3g}$")
    seeds = list(range(seed, seed + cfg.sim_seeds))
    _label(ax, r"training time $\tau$", f"; simulation {'seed' if len(seeds) == 1 else 'seeds'} "
                                        f"{', '.join(map(str, seeds))}")
    save_figure(ax, out, "timescales", manifest,
          f"τ_gen (blue) and τ_mem (red) against ψ_n at ψ_p = {PSI_P:g}, t = {T}, Σ = I: exact theory (lines) and "
          f"finite-size simulations (markers, {cfg.sim_seeds} seed(s) each: {', '.join(map(str, seeds))}; τ from "
          f"their closed-form curves with the same definitions, refined like the theory's). Fitted slopes "
          f"d log τ / d log ψ_n on ψ_n ∈ [1, 8]: τ_gen {gen_slope:.2f}, "
          f"τ_mem {mem_slope:.2f}; τ_mem peaks at ψ_n ≈ {psi_n[peak]:.3g} (ψ_p = {PSI_P:g}) and then falls; it "
          f"is infinite (not drawn) beyond the dotted boundary ψ_n*, where the late rise no longer counts as "
          f"memorization (the one criterion of docs/theory.md §7).",
          models=[RFModel(psi_p=PSI_P, psi_n=v, t=T) for v in SIM_PSI_N], seeds=seeds,
          simulation_d={label: d for label, d, _, _ in sims}, diagnostics=_diagram_diagnostics(line))


def _phase_grid(cfg, out, manifest, run):
    """The (ψ_p, ψ_n) diagram: two heat maps with the computed boundary."""
    from ..plotting.phase import plot_phase_diagram
    grid = phase_diagram(psi_p=np.geomspace(4, 256, cfg.grid), psi_n=np.geomspace(1, 1024, cfg.grid), t=T, execution=run)
    axes = plot_phase_diagram(grid)
    ratio = np.nanmedian(grid.boundary / grid.coords["psi_p"])
    diag = _diagram_diagnostics(grid)
    hatched = bool(np.any(np.isinf(grid.tau_mem) & (grid.error == "")))
    hatch_note = "; hatched: τ_mem = ∞, the point does not memorize (docs/theory.md §7)" if hatched else ""
    save_figure(axes[0], out, "phase_diagram", manifest,
          f"(ψ_p, ψ_n) phase diagram at t = {T}, tanh, Σ = I, {cfg.grid}×{cfg.grid} points: log10 τ_mem/τ_gen "
          f"(left{hatch_note}) and "
          f"log10 (L_test(∞) − L_min) (right). Black line: computed boundary ψ_n*(ψ_p) beyond which memorization "
          f"at τ = ∞ disappears (median ψ_n*/ψ_p = {ratio:.3g}); dashed: ψ_n = ψ_p.{_failure_note(diag)}",
          fixed=grid.fixed, grid={"psi_p": grid.coords["psi_p"].tolist(), "psi_n": grid.coords["psi_n"].tolist()},
          diagnostics=diag)


def _sweeps(cfg, out, manifest, plt, run, seed):
    """The figures built on parameter sweeps: one 1-D sweep over ψ_n feeds three of them."""
    line = phase_diagram(psi_p=PSI_P, psi_n=_psi_n_line(cfg), t=T, execution=run)
    _tau_map(line, out, manifest)
    _min_score_error(line, out, manifest, plt)
    _timescales_figure(line, _simulated_timescales(cfg, seed, run), cfg, seed, out, manifest, plt)
    _phase_grid(cfg, out, manifest, run)


def _decomposition(cfg, out, manifest, plt, run, seed):
    from ..plotting.curves import plot_decomposition
    model = RFModel(psi_p=64, psi_n=8, t=T)
    dyn = LearningDynamics(model)
    taus = np.geomspace(1, 1e7, 300)
    ax = plot_decomposition(dyn.decompose(taus), model=model)
    save_figure(ax, out, "decomposition", manifest,
          "Change of the test loss carried by each part of U's spectrum (ψ_p = 64, ψ_n = 8, t = 0.01, tanh): "
          "the generalization bulk (largest λ, μ_W mass ≈ ψ_p) brings the early dip; the late rise is carried "
          "mostly by the low cluster just above s_t² (smallest λ), not by the memorization bulk; dashed: total.",
          models=[model])


def _previous_manifest(out) -> dict:
    """The figure entries of an earlier run into ``out`` (so that ``figures=[...]`` updates a subset and keeps
    the rest), or an empty dict."""
    import json
    try:
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in old.items() if not k.startswith("_") and k in FIGURES} if isinstance(old, dict) else {}


def _beyond(cfg, out, manifest, plt, run, seed):
    """Finite noise draws, weight decay and the kernel limit (:mod:`rfdiff.reproduce.beyond`)."""
    from . import beyond
    beyond.draw(cfg, out, manifest, plt, seed, save_figure, run)


def _mixtures(cfg, out, manifest, plt, run, seed):
    """Gaussian-mixture data: per-class curves and the class order (:mod:`rfdiff.reproduce.mixtures`)."""
    from . import mixtures
    mixtures.draw(cfg, out, manifest, plt, seed, save_figure, run)


def _simulations(run):
    """The execution of the finite-size simulations (score families, real-data runs): the sweeps' executor, without
    their store (a store holds sweep points)."""
    import dataclasses
    return dataclasses.replace(run, store=None)


def _realdata(cfg, out, manifest, plt, run, seed):
    """Real data: theory vs Gaussian surrogate vs real rows, τ_mem against n (:mod:`rfdiff.reproduce.realdata`)."""
    from . import realdata
    realdata.draw(cfg, out, manifest, plt, seed, save_figure, quick=cfg is QUICK, execution=_simulations(run))


def _samples(cfg, out, manifest, plt, run, seed):
    """Generated samples: f_mem, dimension, covariance, KL bound (:mod:`rfdiff.reproduce.samples`)."""
    from . import samples
    samples.draw(cfg, out, manifest, plt, seed, save_figure, quick=cfg is QUICK, execution=_simulations(run))


#: How often the main thread looks at the figure groups it waits for (it stays responsive to Ctrl-C).
_JOIN_POLL = 0.2


def _concurrently(draw, figures):
    """``draw(k, group)`` for every group, each in its own thread, all holding one lock except while they wait for the
    pool's workers (:func:`rfdiff.sweep.release_while_waiting`): the main process draws one group's figures while the workers
    compute another's, and only one thread runs rfdiff or matplotlib code at a time (pyplot is not thread-safe).
    The figures do not depend on it: every task is the same deterministic computation. The first group's error is
    raised once all have ended; on an interruption the threads (daemons) are left to the pool's shutdown."""
    lock = threading.Lock()
    errors = {}

    def one(k, group):
        release_while_waiting(lock)
        try:
            with lock:
                draw(k, group)
        except BaseException as exc:  # re-raised by the main thread
            errors[group] = exc

    threads = [threading.Thread(target=one, args=(k, g), name=f"rfdiff reproduce {g}", daemon=True)
               for k, g in enumerate(figures, 1)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(_JOIN_POLL)
    for group in figures:
        if group in errors:
            raise errors[group]


def reproduce(out, *, quick=False, execution=None, figures=None, seed=0, argv=None, **kwargs) -> dict:
    """Regenerate the figures into ``out`` (PNG and PDF) and write ``out/manifest.json``.

    Parameters
    ----------
    out : str or path-like
        Output directory (created if missing).
    quick : bool
        Smaller grids and simulations (:data:`QUICK` instead of :data:`FULL`).
    execution : rfdiff.sweep.Execution, optional
        How the parameter sweeps (:func:`rfdiff.phase.phase_diagram`) and the independent simulations of the
        real-data and sample figures run (the latter without the store); its fields may also be given one by
        one as keywords (``executor=``, ``workers=``, ``progress=``). With ``"local"`` (default) one pool of
        worker processes serves the whole run (:func:`rfdiff.sweep.local_pool`), and the main process draws one
        group's figures while the workers compute another's. The figures do not depend on it. A progress bar (default: when stderr is a terminal) also means one line per group of figures on
        stderr as it starts.
    figures : sequence of str, optional
        Groups to draw: ``"spectra"``, ``"curves"``, ``"sweeps"``, ``"decomposition"``, ``"beyond"``
        (finite noise draws, weight decay, kernel limit), ``"mixtures"`` (Gaussian-mixture data), ``"realdata"``
        (digits and image patches; needs ``rfdiff[data]``), ``"samples"`` (generated samples, docs/theory.md §13;
        default all).
        The entries of figures not redrawn are kept from an earlier ``manifest.json`` in ``out``.
    seed : int
        Seed of the first simulation draw (the ``k``-th seed of a multi-seed simulation is ``seed + k``).
    argv : sequence of str, optional
        Command line recorded in the provenance (default ``sys.argv``).

    Returns
    -------
    dict
        The manifest: figure name → ``{"files": [...], "caption": str, "models": [...], ...}`` (module
        docstring), plus ``"_run"`` (settings, wall time of each group from its start to its end, and the
        provenance). On a pool of workers the groups run concurrently (:func:`_concurrently`), so their times
        overlap.
    """
    from ..plotting import pyplot
    groups = {"spectra": _spectra, "curves": _curves, "sweeps": _sweeps, "decomposition": _decomposition,
              "beyond": _beyond, "mixtures": _mixtures, "realdata": _realdata, "samples": _samples}
    figures = list(groups) if figures is None else list(figures)
    unknown = set(figures) - set(groups)
    if unknown:
        raise ValueError(f"figures must be among {', '.join(groups)}, got {sorted(unknown)}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    seed = int(seed)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    cfg = QUICK if quick else FULL
    plt = pyplot()
    manifest, seconds = _previous_manifest(out), {}
    run = Execution.from_kwargs(execution, **kwargs)
    show = wants_progress(run.progress)
    def draw(k, group):
        if show:
            sys.stderr.write(f"rfdiff reproduce: [{k}/{len(figures)}] {group} ...\n")
            sys.stderr.flush()
        start = time.perf_counter()
        groups[group](cfg, out, manifest, plt, pooled, seed)
        seconds[group] = round(time.perf_counter() - start, 1)

    with local_pool(run) as pooled:         # one pool of local workers for every sweep and simulation of the run
        if isinstance(pooled.executor, cf.Executor) and len(figures) > 1:
            _concurrently(draw, figures)
        else:
            for k, group in enumerate(figures, 1):
                draw(k, group)
    order = {name: i for i, name in enumerate(FIGURES)}
    manifest = {name: manifest[name] for name in sorted(manifest, key=lambda n: order.get(n, len(order)))}
    manifest["_run"] = {"quick": bool(quick), "settings": vars(cfg), "seconds": seconds,
                        "provenance": provenance(argv, seeds={"base": seed}, settings=vars(cfg), quick=bool(quick),
                                                 figures=figures, execution=run.describe())}
    write_json(os.path.join(out, "manifest.json"), manifest)
    return manifest
