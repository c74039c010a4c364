"""``rfdiff curves``: exact train, test and score-error curves along gradient flow."""
from __future__ import annotations

import dataclasses
import sys

from .args import (
    CLOSED_FORMS,
    SIMULATORS,
    add_model_arguments,
    add_output_arguments,
    add_tau_arguments,
    closed_form,
    figure_file,
    floats,
    integer,
    largest_dimension,
    model_from_args,
    tau_grid,
)
from .limits import MIN_NODES, check_memory, check_simulation_memory, curves_bytes
from .report import collect_warnings, model_summary, exit_status, finite_max, print_table, result_provenance, status_line, write_outputs

HELP = "exact train/test/score-error curves along gradient flow (τ_gen, τ_mem marked)"

SIM_COLUMNS = ("train", "test", "score_error")

#: ``--simulate auto`` (the default with ``--plot``): the largest d ≤ AUTO_SIM_D with p, n ≤ AUTO_SIM_SIZE (a few
#: seconds at most on 2 cores) at which p, n are ψ d to within ``rfdiff.simulate.SIZE_RTOL``, and no simulation
#: when that d is below AUTO_SIM_MIN_D. Below ``rfdiff.simulate.INDICATIVE_D`` the overlay is labelled
#: *indicative only* (e.g. d = 18 at ψ_p = 64).
AUTO_SIM_D, AUTO_SIM_SIZE, AUTO_SIM_MIN_D = 60, 1200, 8


def add_parser(subparsers):
    p = subparsers.add_parser("curves", help=HELP, description=(
        "Exact train, test and score-error curves of the random-features score model along gradient "
        "flow, on a log-spaced grid of training times τ (convention dA/dτ = −d² ∇L_train), with the "
        "generalization and memorization times τ_gen, τ_mem."))
    add_model_arguments(p)
    add_tau_arguments(p, 200, tau_min_help="smallest τ (default 0.01/(κ λ_max): no mode has moved yet)",
                      tau_max_help="largest finite τ (default 100/(κ λ_min): every mode has relaxed); τ = ∞ is "
                                   "always added",
                      points_help="number of τ points (default 200)")
    add_output_arguments(p, "write the curves, timescales, per-bulk decomposition (and the simulation) as "
                            "JSON")
    p.add_argument("--plot", metavar="PATH", type=figure_file, help="draw the curves (PNG, PDF or SVG)")
    p.add_argument("--decomposition-plot", metavar="PATH", type=figure_file,
                   help="draw the test-loss change carried by each part of U's spectrum")
    p.add_argument("--collapse", type=floats, default=None, metavar="PSI_N,...",
                   help="with --collapse-plot: also compute these ψ_n and draw the test loss of each, and of "
                        "the model's own ψ_n, against τ/ψ_n (dotted: τ_mem/ψ_n)")
    p.add_argument("--collapse-plot", metavar="PATH", type=figure_file, help="path of the τ/ψ_n collapse figure")
    p.add_argument("--simulate", type=integer(1, ("auto", "none")), default=None, metavar="D|auto|none",
                   help="also compute a finite-size simulation of the same model (same data, m and weight decay) "
                        "at dimension D on the same τ grid: extra sim_* columns in the table, CSV and npz, "
                        "'simulation' in the JSON, markers on --plot. Default with --plot: 'auto' (the "
                        f"largest D ≤ {AUTO_SIM_D} with p, n ≤ {AUTO_SIM_SIZE} and p/d, n/d within 5%% of ψ_p, ψ_n; "
                        f"none if that D < {AUTO_SIM_MIN_D}; labelled indicative below D = 40); 'none' turns it off")
    p.add_argument("--sim-method", choices=CLOSED_FORMS, default="features",
                   help="simulator of --simulate (the names of rfdiff simulate --method): 'features', the true "
                        "random features with the model's m (default), or 'gaussian', the Gaussian-equivalent "
                        "matrices")
    p.add_argument("--seed", type=integer(0), default=0, help="seed of the simulation (default 0)")
    p.set_defaults(func=run)


def _simulation_dimension(args, model):
    """The dimension of the simulation (None: no simulation) and, for ``auto``, why there is none (else "")."""
    choice = args.simulate if args.simulate is not None else ("auto" if args.plot else "none")
    if choice == "auto":
        d = largest_dimension(model, AUTO_SIM_D, AUTO_SIM_SIZE)
        if d is None or d < AUTO_SIM_MIN_D:
            return None, (f"none (--simulate auto: no d from {AUTO_SIM_MIN_D} to {AUTO_SIM_D} with p, n ≤ "
                          f"{AUTO_SIM_SIZE} and p/d, n/d close to psi_p, psi_n; give --simulate D)")
        return d, ""
    return (None if choice == "none" else choice), ""


def _check_options(args, model):
    """Everything that can be refused before the contour is built; sets ``args.simulate`` to the dimension."""
    if (args.collapse is None) != (args.collapse_plot is None):
        raise ValueError("--collapse and --collapse-plot go together")
    args.simulate, args.no_simulation = _simulation_dimension(args, model)
    if args.simulate is not None:
        check_simulation_memory(model, args.simulate, "--simulate")
    check_memory(curves_bytes(args.points, MIN_NODES),
                 f"--points {args.points} (τ × contour-node complex arrays, at least {MIN_NODES} nodes)")


def _compute(model, args):
    """Curves, timescales, decomposition and (with ``--simulate``) the simulation, on one τ grid."""
    from .. import LearningDynamics, class_timescales, timescales
    dyn = LearningDynamics(model)
    nodes = int(dyn.z.size)
    check_memory(curves_bytes(args.points, nodes),
                 f"--points {args.points} (τ × contour-node complex arrays, {nodes} nodes)")
    taus = tau_grid(args, dyn.tau_window())
    result = {"taus": taus, "curves": dyn(taus), "sim": None,
              "timescales": timescales(model, dynamics=dyn)}
    if args.json or args.decomposition_plot:
        result["decomposition"] = dyn.decompose(taus)
    if dyn.structure.mixture:           # Gaussian mixture: per-class curves and timescales (docs/theory.md §12)
        result["curves"] = dataclasses.replace(result["curves"], classes=dyn.per_class(taus))
        result["class_timescales"] = class_timescales(dyn)
    if args.simulate is not None:
        sim_model = closed_form(args.sim_method, model, args.simulate, args.seed)
        result["sim"] = sim_model.loss_curves(taus)
        if dyn.structure.mixture:
            result["sim_classes"] = sim_model.class_curves(taus)
    return result


def _print_summary(model, args, res, status, out):
    from ..plotting import data_label
    curves, ts, sim = res["curves"], res["timescales"], res["sim"]
    out.write(f"# {model_summary(model)}\n# tau_gen = {ts.tau_gen:.6g}  tau_mem = {ts.tau_mem:.6g}  "
              f"L_test(tau_gen) = {ts.test_min:.6g}  L_test(inf) = {ts.test_inf:.6g}\n"
              f"# contour nodes {curves.nodes}, max quadrature error {finite_max(curves.quad_error):.1e}; "
              f"status {status}\n")
    if sim is not None:
        out.write(f"# simulation: {SIMULATORS[args.sim_method]}, seed {args.seed}, {sim.size.describe(model)}\n")
    elif args.no_simulation:
        out.write(f"# simulation: {args.no_simulation}\n")
    for c, (pi, cts) in enumerate(zip(model.data.class_weights, res.get("class_timescales", ()))):
        law = data_label(model.data.class_laws[c]) if model.data.is_mixture else ""
        out.write(f"# class {c} ({law}, weight {pi:g}): tau_gen = {cts.tau_gen:.6g}  tau_mem = {cts.tau_mem:.6g}  "
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


def _write_files(args, model, res, status, caught):
    curves, ts, sim = res["curves"], res["timescales"], res["sim"]
    prov = result_provenance(args, model, status, caught, curves=curves, diagnostics={"n_fallback": curves.n_fallback},
                             **({"seeds": {"simulation": args.seed}, "simulation_d": args.simulate}
                                if sim is not None else {}))
    payload = {**curves.to_dict(), "status": status, "timescales": ts.to_dict()}
    if "class_timescales" in res:
        payload["class_timescales"] = [{"tau_gen": c.tau_gen, "tau_mem": c.tau_mem} for c in res["class_timescales"]]
    if "decomposition" in res:
        payload["decomposition"] = res["decomposition"].to_dict()
    if sim is not None:
        payload["simulation"] = {"method": args.sim_method, "d": args.simulate, "seed": args.seed,
                                 **{k: getattr(sim, k) for k in ("tau", *SIM_COLUMNS, "gap")}}
    write_outputs(args, payload, prov, _columns(res),
                  extra_arrays={"quad_error": curves.quad_error, "tau_gen": ts.tau_gen, "tau_mem": ts.tau_mem})


def _plots(args, model, res):
    from ..plotting import savefig
    from ..plotting.curves import plot_class_curves, plot_collapse, plot_curves, plot_decomposition
    if args.plot:
        ax = plot_curves(res["curves"], res["timescales"], simulation=res["sim"], simulation_note=f"seed {args.seed}")
        if res["curves"].classes:
            plot_class_curves(res["curves"], res.get("class_timescales"), res.get("sim_classes"), ax=ax)
        savefig(ax, args.plot)
    if args.decomposition_plot:
        savefig(plot_decomposition(res["decomposition"], model=model), args.decomposition_plot)
    if args.collapse_plot:
        from .. import LearningDynamics, timescales
        from .._progress import progress_bar
        others = sorted(set(args.collapse) - {model.psi_n})
        curves, found = {model.psi_n: res["curves"]}, {model.psi_n: res["timescales"]}
        with progress_bar(None, len(others), "collapse ψ_n") as bar:
            for v in others:                        # the model's own ψ_n is already computed, and drawn too
                dyn = LearningDynamics(model.replace(psi_n=v))
                curves[v], found[v] = dyn(res["taus"]), timescales(dyn.model, dynamics=dyn)
                bar.update()
        order = sorted(curves)
        savefig(plot_collapse([curves[v] for v in order], timescales_list=[found[v] for v in order]),
                args.collapse_plot)


def run(args) -> int:
    model = model_from_args(args)
    _check_options(args, model)
    with collect_warnings("curves") as caught:
        res = _compute(model, args)
    status, text = status_line([res["curves"], res["timescales"]], caught)
    _print_summary(model, args, res, text, sys.stdout)
    if not (args.json or args.plot or args.csv or args.npz):
        print_table({k: v for k, v in _columns(res).items() if k != "gap"})
    _write_files(args, model, res, status, caught)
    with collect_warnings("curves"):         # printed; drawing cannot fail to converge
        _plots(args, model, res)
    return exit_status(status)
