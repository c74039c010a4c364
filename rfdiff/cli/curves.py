"""``rfdiff curves``: exact train, test and score-error curves along gradient flow."""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys

import numpy as np

from . import (
    EPILOG,
    MIN_NODES,
    PLOT_SUFFIXES,
    _floats,
    add_model_arguments,
    add_output_arguments,
    args_provenance,
    check_memory,
    check_simulation_memory,
    collect_warnings,
    curves_bytes,
    finite_max,
    model_from_args,
    output_file,
    status_line,
    write_table_outputs,
)

HELP = "exact train/test/score-error curves along gradient flow (τ_gen, τ_mem marked)"

SIM_COLUMNS = ("train", "test", "score_error")


def add_parser(subparsers):
    p = subparsers.add_parser("curves", help=HELP, epilog=EPILOG, description=(
        "Exact train, test and score-error curves of the random-features score model along gradient "
        "flow, on a log-spaced grid of training times τ (convention dA/dτ = −d² ∇L_train), with the "
        "generalization and memorization times τ_gen, τ_mem."))
    add_model_arguments(p)
    p.add_argument("--tau-min", type=float, default=None,
                   help="smallest τ (default 0.01/(κ λ_max): no mode has moved yet)")
    p.add_argument("--tau-max", type=float, default=None,
                   help="largest finite τ (default 100/(κ λ_min): every mode has relaxed); τ = ∞ is "
                        "always added")
    p.add_argument("--points", type=int, default=200, help="number of τ points (default 200)")
    add_output_arguments(p, "write the curves, timescales, per-bulk decomposition (and the simulation) as "
                            "JSON")
    figure = output_file("figure", PLOT_SUFFIXES)
    p.add_argument("--plot", metavar="PATH", type=figure, help="draw the curves (PNG, PDF or SVG)")
    p.add_argument("--decomposition-plot", metavar="PATH", type=figure,
                   help="draw the test-loss change carried by each part of U's spectrum")
    p.add_argument("--collapse", type=_floats, default=None, metavar="PSI_N,...",
                   help="with --collapse-plot: also compute these ψ_n and draw test loss against τ/ψ_n "
                        "(dotted: τ_mem/ψ_n)")
    p.add_argument("--collapse-plot", metavar="PATH", type=figure, help="path of the τ/ψ_n collapse figure")
    p.add_argument("--simulate", type=_simulate_d, default=None, metavar="D|auto|none",
                   help="also compute a finite-size simulation of the same model (same data, m and weight decay) "
                        "at dimension D on the same τ grid: extra sim_* columns in the table, CSV and npz, "
                        "'simulation' in the JSON, markers on --plot. Default with --plot: 'auto' (the "
                        f"largest D ≤ {AUTO_SIM_D} with p, n ≤ {AUTO_SIM_SIZE}; none if that D < {AUTO_SIM_MIN_D}); "
                        "'none' turns it off")
    p.add_argument("--sim-method", choices=("features", "gaussian"), default="features",
                   help="simulator of --simulate: the true non-linear random features (default; exact noise "
                        "averages, or the model's m frozen draws) or Gaussian-equivalent matrices")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    p.set_defaults(func=run)


def _tau_grid(dyn, args):
    window = dyn.tau_window()
    lo = args.tau_min if args.tau_min is not None else window[0]
    hi = args.tau_max if args.tau_max is not None else window[1]
    if not (math.isfinite(lo) and lo > 0):
        raise ValueError(f"--tau-min must be finite and > 0, got {lo}")
    if not (math.isfinite(hi) and hi > lo):
        raise ValueError(f"--tau-max must be finite and > --tau-min ({lo:g}), got {hi}")
    return np.append(np.geomspace(lo, hi, args.points), np.inf)


#: ``--simulate auto`` (the default with ``--plot``): the largest d ≤ AUTO_SIM_D with p, n ≤ AUTO_SIM_SIZE, and
#: no simulation when that d is below AUTO_SIM_MIN_D (a few seconds at most on 2 cores).
AUTO_SIM_D, AUTO_SIM_SIZE, AUTO_SIM_MIN_D = 60, 1200, 8


def _simulate_d(text: str):
    """``--simulate``: a dimension ≥ 1, ``auto`` or ``none`` (argparse type)."""
    if text in ("auto", "none"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a dimension, 'auto' or 'none', got {text!r}") from None


def _auto_dimension(model):
    """The simulation dimension of ``--simulate auto`` (None when it would be below AUTO_SIM_MIN_D)."""
    d = min(AUTO_SIM_D, int(AUTO_SIM_SIZE / max(model.psi_p, model.psi_n, 1e-300)))
    return d if d >= AUTO_SIM_MIN_D else None


def _check_options(args, model):
    """Everything that can be refused before the contour is built."""
    if args.simulate is None and args.plot:
        args.simulate = "auto"
    if args.simulate == "auto":
        args.simulate = _auto_dimension(model)
    elif args.simulate == "none":
        args.simulate = None
    if (args.collapse is None) != (args.collapse_plot is None):
        raise ValueError("--collapse and --collapse-plot go together")
    if args.points < 2:
        raise ValueError(f"--points must be >= 2, got {args.points}")
    if args.simulate is not None:
        if args.simulate < 1:
            raise ValueError(f"--simulate must be a dimension >= 1, got {args.simulate}")
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        check_simulation_memory(model, args.simulate, "--simulate")
    check_memory(curves_bytes(args.points, MIN_NODES),
                 f"--points {args.points} (τ × contour-node complex arrays, at least {MIN_NODES} nodes)")


def _compute(model, args):
    """Curves, timescales, decomposition and (with ``--simulate``) the simulation, on one τ grid."""
    from ..dynamics import LearningDynamics
    from ..timing import timescales
    dyn = LearningDynamics(model)
    nodes = int(dyn.z.size)
    check_memory(curves_bytes(args.points, nodes),
                 f"--points {args.points} (τ × contour-node complex arrays, {nodes} nodes)")
    taus = _tau_grid(dyn, args)
    result = {"dynamics": dyn, "taus": taus, "curves": dyn(taus), "sim": None,
              "timescales": timescales(model, dynamics=dyn)}
    if args.json or args.decomposition_plot:
        result["decomposition"] = dyn.decompose(taus)
    if dyn.structure.mixture:           # Gaussian mixture: per-class curves and timescales (docs/theory.md §12)
        result["curves"] = dataclasses.replace(result["curves"], classes=dyn.per_class(taus))
        from ..timing import class_timescales
        result["class_timescales"] = class_timescales(dyn)
    if args.simulate is not None:
        from ..simulate import gaussian_equivalent, random_features
        sampler = random_features if args.sim_method == "features" else gaussian_equivalent
        sim_model = sampler(model, args.simulate, seed=args.seed)                        # m, ω of the model
        result["sim"] = sim_model.loss_curves(taus)
        if dyn.structure.mixture:
            result["sim_classes"] = sim_model.class_curves(taus)
    return result


def _print_summary(model, res, status, out):
    curves, ts = res["curves"], res["timescales"]
    out.write(f"# {model.to_dict()}\n# tau_gen = {ts.tau_gen:.6g}  tau_mem = {ts.tau_mem:.6g}  "
              f"L_test(tau_gen) = {ts.test_min:.6g}  L_test(inf) = {ts.test_inf:.6g}\n"
              f"# contour nodes {curves.nodes}, max quadrature error {finite_max(curves.quad_error):.1e}; "
              f"status {status}\n")
    for c, (pi, cts) in enumerate(zip(model.data.class_weights, res.get("class_timescales", ()))):
        out.write(f"# class {c} (weight {pi:g}): tau_gen = {cts.tau_gen:.6g}  tau_mem = {cts.tau_mem:.6g}  "
                  f"L_test(inf) = {curves.classes[c].test[-1]:.6g}\n")


def _columns(res):
    curves, sim = res["curves"], res["sim"]
    cols = {"tau": curves.tau, "train": curves.train, "test": curves.test, "score_error": curves.score_error,
            "gap": curves.gap}
    if sim is not None:
        cols.update({f"sim_{k}": getattr(sim, k) for k in SIM_COLUMNS})
    for c, cls in enumerate(curves.classes or ()):
        cols.update({f"train_class{c}": cls.train, f"test_class{c}": cls.test})
    for c, cls in enumerate(res.get("sim_classes") or ()):
        cols.update({f"sim_test_class{c}": cls.test})
    return cols


def _print_table(cols, out):
    names = [k for k in cols if k not in ("gap",)]
    out.write(" ".join(f"{k:>14s}" for k in names) + "\n")
    for row in zip(*(cols[k] for k in names)):
        out.write(" ".join(f"{v:14.7g}" for v in row) + "\n")


def _write_files(args, model, res, status, caught):
    curves, ts, sim = res["curves"], res["timescales"], res["sim"]
    diagnostics = {"contour_nodes": curves.nodes, "max_quad_error": finite_max(curves.quad_error),
                   "n_fallback": curves.n_fallback, "status": status, "warnings": list(caught)}
    prov = args_provenance(args, model=model, diagnostics=diagnostics,
                           **({"seeds": {"simulation": args.seed}, "simulation_d": args.simulate}
                              if sim is not None else {}))
    payload = curves.to_dict()
    payload["status"] = status
    payload["timescales"] = ts.to_dict()
    if "class_timescales" in res:
        payload["class_timescales"] = [{"tau_gen": c.tau_gen, "tau_mem": c.tau_mem} for c in res["class_timescales"]]
    if "decomposition" in res:
        payload["decomposition"] = res["decomposition"].to_dict()
    if sim is not None:
        payload["simulation"] = {"method": args.sim_method, "d": args.simulate, "seed": args.seed,
                                 **{k: getattr(sim, k) for k in ("tau", *SIM_COLUMNS, "gap")}}
    write_table_outputs(args, payload=payload, columns=_columns(res), prov=prov,
                        extra_arrays={"quad_error": curves.quad_error, "tau_gen": ts.tau_gen,
                                      "tau_mem": ts.tau_mem})


def _plots(args, model, res):
    from ..plotting import savefig
    from ..plotting.curves import plot_class_curves, plot_collapse, plot_curves, plot_decomposition
    if args.plot:
        ax = plot_curves(res["curves"], res["timescales"], simulation=res["sim"])
        if res["curves"].classes:
            plot_class_curves(res["curves"], res.get("class_timescales"), res.get("sim_classes"), ax=ax)
        if res["sim"] is not None:
            label = "true features" if args.sim_method == "features" else "Gaussian equivalent"
            ax.set_title(f"{ax.get_title()}\nsimulation: {label}, d = {args.simulate}, seed {args.seed}",
                         fontsize=10)
        savefig(ax, args.plot)
    if args.decomposition_plot:
        savefig(plot_decomposition(res["decomposition"], model=model), args.decomposition_plot)
    if args.collapse_plot:
        from ..dynamics import LearningDynamics
        from ..timing import timescales
        from .._progress import progress_bar
        dyns = []
        with progress_bar(None, len(args.collapse), "collapse ψ_n") as bar:
            for v in args.collapse:
                dyns.append(LearningDynamics(model.replace(psi_n=v)))
                bar.update()
        savefig(plot_collapse([d(res["taus"]) for d in dyns],
                              timescales_list=[timescales(d.model, dynamics=d) for d in dyns]),
                args.collapse_plot)


def run(args) -> int:
    model = model_from_args(args)
    _check_options(args, model)
    with collect_warnings("curves") as caught:
        res = _compute(model, args)
    status, text = status_line([res["curves"], res["timescales"]], caught)
    out = sys.stdout
    _print_summary(model, res, text, out)
    if not (args.json or args.plot or args.csv or args.npz):
        _print_table(_columns(res), out)
    _write_files(args, model, res, status, caught)
    with collect_warnings("curves") as caught_plots:
        _plots(args, model, res)
    return 1 if status == "failed" or caught_plots else 0
