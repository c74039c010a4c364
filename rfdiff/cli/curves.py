"""``rfdiff curves``: exact train, test and score-error curves along gradient flow."""
from __future__ import annotations

import math
import sys

import numpy as np

from . import _floats, add_model_arguments, model_from_args, write_json

HELP = "exact train/test/score-error curves along gradient flow (τ_gen, τ_mem marked)"


def add_parser(subparsers):
    p = subparsers.add_parser("curves", help=HELP, description=(
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
    p.add_argument("--json", metavar="PATH", help="write the curves, timescales and per-bulk "
                                                  "decomposition as JSON")
    p.add_argument("--plot", metavar="PATH", help="draw the curves (PNG or PDF)")
    p.add_argument("--decomposition-plot", metavar="PATH",
                   help="draw the test-loss change carried by each part of U's spectrum")
    p.add_argument("--collapse", type=_floats, default=None, metavar="PSI_N,...",
                   help="with --collapse-plot: also compute these ψ_n and draw test loss against τ/ψ_n "
                        "(dotted: τ_mem/ψ_n)")
    p.add_argument("--collapse-plot", metavar="PATH", help="path of the τ/ψ_n collapse figure")
    p.add_argument("--simulate", type=int, default=None, metavar="D",
                   help="overlay a finite-size Gaussian-equivalent simulation at dimension D on --plot")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    p.set_defaults(func=run)


def _tau_grid(dyn, args):
    kappa = dyn.model.kappa
    sup = dyn.support
    lo = args.tau_min if args.tau_min is not None else 0.01 / (kappa * sup.lambda_max)
    hi = args.tau_max if args.tau_max is not None else 100 / (kappa * sup.intervals[0][0])
    if not (math.isfinite(lo) and lo > 0):
        raise ValueError(f"--tau-min must be finite and > 0, got {lo}")
    if not (math.isfinite(hi) and hi > lo):
        raise ValueError(f"--tau-max must be finite and > --tau-min ({lo:g}), got {hi}")
    if args.points < 2:
        raise ValueError(f"--points must be >= 2, got {args.points}")
    return np.append(np.geomspace(lo, hi, args.points), np.inf)


def run(args) -> int:
    from ..curves import LearningDynamics
    from ..timing import timescales

    model = model_from_args(args)
    if (args.collapse is None) != (args.collapse_plot is None):
        raise ValueError("--collapse and --collapse-plot go together")
    if args.simulate is not None and args.simulate < 1:
        raise ValueError(f"--simulate must be a dimension >= 1, got {args.simulate}")
    dyn = LearningDynamics(model)
    taus = _tau_grid(dyn, args)
    curves = dyn(taus)
    ts = timescales(model, dynamics=dyn)
    decomposition = dyn.decompose(taus)
    out = sys.stdout
    out.write(f"# {model.to_dict()}\n# tau_gen = {ts.tau_gen:.6g}  tau_mem = {ts.tau_mem:.6g}  "
              f"L_test(tau_gen) = {ts.test_min:.6g}  L_test(inf) = {ts.test_inf:.6g}\n"
              f"# contour nodes {curves.nodes}, max quadrature error {curves.quad_error.max():.1e}\n")
    if args.json is None and args.plot is None:
        out.write(f"{'tau':>14s} {'train':>14s} {'test':>14s} {'score_error':>14s}\n")
        for row in zip(curves.tau, curves.train, curves.test, curves.score_error):
            out.write(" ".join(f"{v:14.7g}" for v in row) + "\n")
    if args.json:
        payload = curves.to_dict()
        payload["timescales"] = ts.to_dict()
        payload["decomposition"] = decomposition.to_dict()
        write_json(args.json, payload)
    if args.plot or args.decomposition_plot or args.collapse_plot:
        from ..plotting import savefig
        from ..plotting.curves import plot_collapse, plot_curves, plot_decomposition
        if args.plot:
            sim = None
            if args.simulate is not None:
                from ..simulate import gaussian_equivalent
                sim = gaussian_equivalent(model, d=args.simulate, seed=args.seed).loss_curves(taus)
            savefig(plot_curves(curves, ts, simulation=sim), args.plot)
        if args.decomposition_plot:
            savefig(plot_decomposition(decomposition), args.decomposition_plot)
        if args.collapse_plot:
            models = [model.replace(psi_n=v) for v in args.collapse]
            dyns = [LearningDynamics(m) for m in models]
            savefig(plot_collapse([d(taus) for d in dyns], timescales_list=[
                timescales(m, dynamics=d) for m, d in zip(models, dyns)]), args.collapse_plot)
    return 0
