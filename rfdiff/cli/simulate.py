"""``rfdiff simulate``: a finite-size simulation of the random-features model next to the exact theory.

Four simulators of one model at dimension ``d`` (``p = round(ψ_p d)``, ``n = round(ψ_n d)``):

* ``exact`` — the true non-linear random features with the training noise averaged exactly (or ``--noise M``
  frozen draws per point), closed-form gradient flow (:func:`rfdiff.simulate.random_features`);
* ``gaussian`` — the Gaussian-equivalent matrices of docs/theory.md §2, closed-form gradient flow
  (:func:`rfdiff.simulate.gaussian_equivalent`);
* ``gd``, ``adam`` — explicit training of the read-out with fresh noise at every step (or ``--noise M``
  frozen draws), losses logged at log-spaced τ (:func:`rfdiff.simulate.train`). Adam has no theory.

The exact limiting curves (:func:`rfdiff.loss_curves`) are computed alongside; the output gives both and
their largest difference.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ..timing import timescales_from_curve
from . import add_model_arguments, model_from_args, write_json

__all__ = ["add_parser", "run"]

HELP = "finite-size simulation (true features, Gaussian equivalent, GD or Adam) overlaid on the exact theory"
METHODS = ("exact", "gaussian", "gd", "adam")
#: Default ``--tau-max`` of explicit training, in units of the theory's τ_mem: the generalization dip and
#: the start of the memorization rise, without the (long) approach to τ = ∞.
TRAIN_TAU_MAX_OVER_TAU_MEM = 3.0


def _noise(text: str):
    """``exact`` or a positive integer (argparse type)."""
    if text == "exact":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'exact' or an integer >= 1, got {text!r}")
    return value


def add_parser(subparsers):
    p = subparsers.add_parser("simulate", help=HELP, description=(
        "Simulate the random-features score model at a finite dimension d and compare with the exact "
        "high-dimensional curves. Methods: 'exact' (true non-linear features, noise averaged exactly, "
        "closed-form gradient flow; default), 'gaussian' (Gaussian-equivalent matrices, closed form), "
        "'gd' and 'adam' (explicit training with fresh noise at every step). τ follows dA/dτ = −d² ∇L_train."))
    add_model_arguments(p)
    p.add_argument("--d", type=int, required=True, help="data dimension d (p = ψ_p d, n = ψ_n d)")
    p.add_argument("--seed", type=int, default=0, help="seed of W, the data and the noise (default 0)")
    p.add_argument("--method", choices=METHODS, default="exact", help="simulator (default exact)")
    p.add_argument("--noise", type=_noise, default="exact", metavar="exact|M",
                   help="'exact' (default: exact noise average; fresh noise every step for gd/adam) or "
                        "M frozen noise draws per training point (not with gaussian)")
    p.add_argument("--tau-min", type=float, default=None,
                   help="smallest τ of the closed forms (default 0.01/(κ λ_max) of the theory)")
    p.add_argument("--tau-max", type=float, default=None,
                   help="largest finite τ (default: closed forms 100/(κ λ_min) of the theory, every mode "
                        f"relaxed; gd/adam {TRAIN_TAU_MAX_OVER_TAU_MEM:g} τ_mem of the theory)")
    p.add_argument("--points", type=int, default=60,
                   help="number of τ points (closed forms: log-spaced, plus τ = ∞; gd/adam: log points; "
                        "default 60)")
    p.add_argument("--lr", type=float, default=None,
                   help="gd: step η on A (Δτ = η/d²; default from the seed code's scaling, kept stable); "
                        "adam: step size α (default 1e-3)")
    p.add_argument("--batch", type=int, default=None, help="gd/adam: minibatch size (default all n points)")
    p.add_argument("--checkpoint", metavar="PATH", help="gd/adam: resumable state file (.npz)")
    p.add_argument("--progress", action="store_true", help="gd/adam: show a progress bar (needs tqdm)")
    p.add_argument("--json", metavar="PATH", help="write simulation and theory curves as JSON")
    p.add_argument("--plot", metavar="PATH", help="draw the simulation over the exact curves (PNG or PDF)")
    p.set_defaults(func=run)


def _check_options(args):
    training = args.method in ("gd", "adam")
    if not training:
        for name in ("lr", "batch", "checkpoint"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name} applies only to --method gd or adam")
        if args.progress:
            raise ValueError("--progress applies only to --method gd or adam")
    if args.method == "gaussian" and args.noise != "exact":
        raise ValueError("--noise M needs --method exact, gd or adam (the Gaussian equivalent averages "
                         "the noise exactly)")
    if args.points < 2:
        raise ValueError(f"--points must be >= 2, got {args.points}")
    if training and args.tau_min is not None:
        raise ValueError("--tau-min applies only to the closed forms (gd/adam log from the first step)")
    for name in ("tau_min", "tau_max"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be finite and > 0, got {value}")


def _closed_form(model, args):
    """The finite model whose ``loss_curves(taus)`` gives the closed-form flow."""
    if args.method == "exact":
        from ..simulate import random_features
        return random_features(model, args.d, seed=args.seed, noise=args.noise)
    from ..simulate import gaussian_equivalent
    return gaussian_equivalent(model, args.d, seed=args.seed)


def run(args) -> int:
    from ..curves import LearningDynamics
    from ..timing import timescales

    model = model_from_args(args)
    _check_options(args)
    dyn = LearningDynamics(model)
    ts = timescales(model, dynamics=dyn)
    kappa, sup = model.kappa, dyn.support
    tau_lo = args.tau_min if args.tau_min is not None else 0.01 / (kappa * sup.lambda_max)
    extra = {}
    sim_ts = None
    if args.method in ("exact", "gaussian"):
        tau_hi = args.tau_max if args.tau_max is not None else 100 / (kappa * sup.intervals[0][0])
        if tau_hi <= tau_lo:
            raise ValueError(f"--tau-max must be > --tau-min ({tau_lo:g}), got {tau_hi:g}")
        sim_model = _closed_form(model, args)
        sim = sim_model.loss_curves(np.append(np.geomspace(tau_lo, tau_hi, args.points), np.inf))
        sim_ts = timescales_from_curve(sim_model.loss_curves, tau_lo, tau_hi)
        extra["p"], extra["n"] = sim_model.p, sim_model.n
    else:
        from ..simulate import train
        if args.tau_max is not None:
            tau_hi = args.tau_max
        elif math.isfinite(ts.tau_mem):
            tau_hi = TRAIN_TAU_MAX_OVER_TAU_MEM * ts.tau_mem
        else:
            tau_hi = 100 / (kappa * sup.intervals[0][0])
        sim = train(model, args.d, tau_hi, optimizer=args.method, lr=args.lr,
                    noise="fresh" if args.noise == "exact" else args.noise, seed=args.seed, n_log=args.points,
                    batch=args.batch, progress=args.progress, checkpoint=args.checkpoint)
        tau_lo = min(tau_lo, float(sim.tau[0]))
        extra.update(p=sim.p, n=sim.n, dtau=sim.dtau, lr=sim.lr, steps=sim.steps, wall_time=sim.wall_time)

    theory_at_sim = dyn(sim.tau)
    theory = dyn(np.append(np.geomspace(tau_lo, max(tau_hi, float(sim.tau[np.isfinite(sim.tau)].max())), 200),
                           np.inf))
    deviation = {k: float(np.max(np.abs(getattr(sim, k) - getattr(theory_at_sim, k))))
                 for k in ("train", "test", "score_error")}

    out = sys.stdout
    noise = "exact average" if args.noise == "exact" else f"{args.noise} frozen draws per point"
    if args.method in ("gd", "adam") and args.noise == "exact":
        noise = "fresh every step"
    out.write(f"# {model.to_dict()}\n# method {args.method}, d = {args.d}, p = {extra['p']}, n = {extra['n']}, "
              f"seed {args.seed}, noise: {noise}\n")
    if "dtau" in extra:
        out.write(f"# {len(sim.tau)} log points, {int(sim.steps[-1])} steps of dtau = {sim.dtau:.4g} "
                  f"(lr = {sim.lr:.4g}), {sim.wall_time:.1f} s\n")
    out.write(f"# theory:     tau_gen = {ts.tau_gen:.6g}  tau_mem = {ts.tau_mem:.6g}\n")
    if sim_ts is not None:
        out.write(f"# simulation: tau_gen = {sim_ts[0]:.6g}  tau_mem = {sim_ts[1]:.6g}\n")
    out.write("# max |simulation - theory|: " + "  ".join(f"{k} {v:.3g}" for k, v in deviation.items()))
    if args.method == "adam" or args.noise != "exact":
        out.write("  (the theory is gradient flow with exact noise averages: not a finite-size error here)")
    out.write("\n")
    if args.json is None and args.plot is None:
        out.write(f"{'tau':>14s} {'train':>14s} {'test':>14s} {'score_error':>14s}\n")
        for row in zip(sim.tau, sim.train, sim.test, sim.score_error):
            out.write(" ".join(f"{v:14.7g}" for v in row) + "\n")
    if args.json:
        payload = {"model": model.to_dict(), "d": args.d, "seed": args.seed, "method": args.method,
                   "noise": args.noise, **extra, "tau": sim.tau, "train": sim.train, "test": sim.test,
                   "score_error": sim.score_error, "max_deviation": deviation,
                   "theory": {"tau": theory.tau, "train": theory.train, "test": theory.test,
                              "score_error": theory.score_error, "timescales": ts.to_dict()}}
        if sim_ts is not None:
            payload["simulation_timescales"] = {"tau_gen": sim_ts[0], "tau_mem": sim_ts[1]}
        write_json(args.json, payload)
    if args.plot:
        from ..plotting import savefig
        from ..plotting.curves import plot_curves
        ax = plot_curves(theory, ts, simulation=sim)
        label = {"exact": "true features, closed form", "gaussian": "Gaussian equivalent, closed form",
                 "gd": "GD", "adam": "Adam (no theory)"}[args.method]
        ax.set_title(f"{ax.get_title()}\nsimulation: {label}, d = {args.d}, noise {noise}", fontsize=10)
        savefig(ax, args.plot)
    return 0
