"""``rfdiff simulate``: a finite-size simulation of the random-features model next to the exact theory.

Four simulators of one model at dimension ``d`` (``p = round(ψ_p d)``, ``n = round(ψ_n d)``), each with the
model's noise draws ``--m`` (default inf) and weight decay:

* ``features`` — the true non-linear random features, the training noise averaged exactly (m = inf) or m
  frozen draws per point, closed-form gradient flow (:func:`rfdiff.simulate.random_features`);
* ``gaussian`` — the Gaussian-equivalent matrices of docs/theory.md §2, closed-form gradient flow
  (:func:`rfdiff.simulate.gaussian_equivalent`);
* ``gd``, ``adam`` — explicit training of the read-out with fresh noise at every step (m = inf) or m frozen
  draws, losses logged at log-spaced τ (:func:`rfdiff.simulate.train`). Adam has no theory.

``--method exact`` is the deprecated spelling of ``features``, ``--noise`` that of ``--m``. The exact limiting
curves (:func:`rfdiff.loss_curves`) are computed alongside; the output gives both and their largest difference.

Real data (``--data digits|patches|FILE``, docs/theory.md §14): ``features``, ``gd`` and ``adam`` train on n actual
rows of a random split (seed ``--seed``) and take the held-out rows plus fresh noise as the population
(:func:`rfdiff.simulate.real_features`); d is the data's; the theory uses the data's sample spectrum.
``gaussian`` stays the Gaussian equivalent of that spectrum.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from . import args as opts
from .limits import check_memory, check_simulation_memory, curves_bytes
from .report import collect_warnings, model_summary, exit_status, print_table, result_provenance, status_line, write_outputs

__all__ = ["add_parser", "run"]

HELP = "finite-size simulation (true features, Gaussian equivalent, GD or Adam) overlaid on the exact theory"
#: Deprecated spellings of ``--method`` values → their names.
OLD_METHODS = {"exact": "features"}
#: Default ``--tau-max`` of explicit training, in units of the theory's τ_mem: the generalization dip and
#: the start of the memorization rise, without the (long) approach to τ = ∞.
TRAIN_TAU_MAX_OVER_TAU_MEM = 3.0
#: Default cap on the steps of ``--method gd|adam`` (raise it with ``--max-steps``): a run is refused
#: up front when ``τ_max/Δτ`` exceeds it, instead of running silently for hours.
MAX_TRAIN_STEPS = 2_000_000
#: Points of the theory curve drawn under the simulation.
THEORY_POINTS = 200
#: Options of explicit training only.
TRAINING_OPTIONS = ("lr", "batch", "checkpoint", "max_steps", "progress")


def add_parser(subparsers):
    p = subparsers.add_parser("simulate", help=HELP, description=(
        "Simulate the random-features score model at a finite dimension d and compare with the exact "
        "high-dimensional curves. Methods: 'features' (true non-linear features with the model's m noise draws "
        "per point, closed-form gradient flow; default), 'gaussian' (Gaussian-equivalent matrices, closed "
        "form), 'gd' and 'adam' (explicit training, fresh noise at every step for m = inf). τ follows "
        "dA/dτ = −d² ∇L_train."))
    opts.add_model_arguments(p, noise_alias=True)
    p.add_argument("--d", type=int, default=None,
                   help="data dimension d (p = ψ_p d, n = ψ_n d); required unless --data is real data (then d is "
                        "its number of columns)")
    p.add_argument("--n-test", type=opts.integer(2), default=None,
                   help="real data: held-out rows of the split (default all rows not trained on)")
    p.add_argument("--seed", type=opts.integer(0), default=0, help="seed of W, the data and the noise (default 0)")
    p.add_argument("--method", type=opts.renamed(p.prog, "--method", OLD_METHODS), choices=tuple(opts.SIMULATORS),
                   default="features", help="simulator (default features; 'exact' is its deprecated spelling)")
    opts.add_tau_arguments(p, 60, tau_min_help="smallest τ of the closed forms (default 0.01/(κ λ_max) of the theory)",
                      tau_max_help="largest finite τ (default: closed forms 100/(κ λ_min) of the theory, every mode "
                                   f"relaxed; gd/adam {TRAIN_TAU_MAX_OVER_TAU_MEM:g} τ_mem of the theory)",
                      points_help="number of τ points (closed forms: log-spaced, plus τ = ∞; gd/adam: log "
                                  "points; default 60)")
    p.add_argument("--lr", type=float, default=None,
                   help="gd: step η on A (Δτ = η/d²; default from the seed code's scaling, kept stable); "
                        "adam: step size α (default 1e-3)")
    p.add_argument("--batch", type=int, default=None, help="gd/adam: minibatch size (default all n points)")
    p.add_argument("--checkpoint", metavar="PATH", type=opts.output_file("checkpoint", (".npz",)),
                   help="gd/adam: resumable state file (.npz)")
    p.add_argument("--max-steps", type=opts.integer(1), default=None,
                   help=f"gd/adam: refuse runs estimated above this many steps (default {MAX_TRAIN_STEPS:,})")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="gd/adam: show a progress bar (needs tqdm; default: when stderr is a terminal)")
    opts.add_output_arguments(p, "write simulation and theory curves as JSON", table=False)
    p.add_argument("--plot", metavar="PATH", type=opts.figure_file,
                   help="draw the simulation over the exact curves (PNG, PDF or SVG)")
    p.set_defaults(func=run)


def _check_options(args, model):
    """The option combinations and the memory, before anything is computed."""
    if args.n_test is not None and args.rows is None:
        raise ValueError("--n-test applies only to real data (--data digits, patches or a .npy/.npz/.csv file) "
                         "with --method features, gd or adam")
    if args.d < 1:
        raise ValueError(f"--d must be >= 1, got {args.d}")
    if args.method in opts.CLOSED_FORMS:
        for name in TRAINING_OPTIONS:
            value = getattr(args, name)
            if value is not None and value is not False:            # --no-progress is harmless
                raise ValueError(f"--{name.replace('_', '-')} applies only to --method gd or adam")
    elif args.tau_min is not None:
        raise ValueError("--tau-min applies only to the closed forms (gd/adam log from the first step)")
    p, _ = check_simulation_memory(model, args.d, "--d")
    check_memory(curves_bytes(args.points) + 32.0 * p * (args.points + 1),
                 f"--points {args.points} (τ × contour-node and τ × p arrays)")


def _noise_text(model, method):
    if math.isinf(model.m):
        return "exact average" if method in opts.CLOSED_FORMS else "fresh every step"
    return f"{model.m} frozen draws per point"


@dataclass
class _Result:
    """Theory, simulation and their comparison (one concern per function fills it)."""

    dyn: object
    ts: object
    tau_lo: float = math.nan
    tau_hi: float = math.nan
    sim: object = None
    sim_ts: object = None
    extra: dict = field(default_factory=dict)
    theory: object = None
    deviation: dict = field(default_factory=dict)


def _closed_form(model, args, res):
    """Closed-form gradient flow of the finite model (``features`` or ``gaussian``)."""
    from .. import timescales_from_curve
    taus = opts.tau_grid(args, res.dyn.tau_window())
    if args.rows is not None and args.method == "features":
        from ..simulate import real_features
        sim_model = real_features(model, *args.rows, seed=args.seed)        # held-out rows as the population
    else:
        sim_model = opts.closed_form(args.method, model, args.d, args.seed)
    res.tau_lo, res.tau_hi = float(taus[0]), float(taus[-2])
    res.sim = sim_model.loss_curves(taus)
    res.sim_ts = timescales_from_curve(sim_model.loss_curves, res.tau_lo, res.tau_hi)
    res.extra.update(p=sim_model.p, n=sim_model.n)


def _train_tau_max(args, res):
    if args.tau_max is not None:
        return args.tau_max
    if math.isfinite(res.ts.tau_mem):
        return TRAIN_TAU_MAX_OVER_TAU_MEM * res.ts.tau_mem
    return res.dyn.tau_window()[1]


def _training(model, args, res):
    """Explicit GD/Adam training of the read-out, logged at log-spaced τ."""
    from ..simulate import train
    res.tau_hi = _train_tau_max(args, res)
    sim = train(model, args.d, res.tau_hi, optimizer=args.method, lr=args.lr, seed=args.seed, n_log=args.points,
                batch=args.batch, progress=args.progress, checkpoint=args.checkpoint, rows=args.rows,
                max_steps=MAX_TRAIN_STEPS if args.max_steps is None else args.max_steps)
    res.sim = sim
    res.tau_lo = min(res.dyn.tau_window()[0], float(sim.tau[0]))
    res.extra.update(p=sim.p, n=sim.n, dtau=sim.dtau, lr=sim.lr, steps=sim.steps, wall_time=sim.wall_time)


def _compare(res):
    """The theory at the simulation's τ (for the deviation) and on a fine grid (for the figure)."""
    sim, dyn = res.sim, res.dyn
    at_sim = dyn(sim.tau)
    top = max(res.tau_hi, float(sim.tau[np.isfinite(sim.tau)].max()))
    res.theory = dyn(np.append(np.geomspace(res.tau_lo, top, THEORY_POINTS), np.inf))
    res.deviation = {k: float(np.max(np.abs(getattr(sim, k) - getattr(at_sim, k))))
                     for k in ("train", "test", "score_error")}


def _simulate(model, args):
    from .. import LearningDynamics, timescales
    dyn = LearningDynamics(model)            # the theory and the simulators choose their BLAS threads (rfdiff._threads)
    res = _Result(dyn=dyn, ts=timescales(model, dynamics=dyn))
    if args.method in opts.CLOSED_FORMS:
        _closed_form(model, args, res)
    else:
        _training(model, args, res)
    _compare(res)
    return res


def _print_report(model, args, res, status, out):
    sim, extra = res.sim, res.extra
    out.write(f"# {model_summary(model)}\n# method {args.method}, seed {args.seed}, noise: "
              f"{_noise_text(model, args.method)}; simulated {sim.size.describe(model)}\n")
    if args.split is not None:
        data = args._data_matrix
        out.write(f"# real rows: {data.name}, N = {data.n_rows}, split seed {args.seed}: "
                  f"{args.split.train.size} training rows, {args.split.test.size} held-out rows (the population); "
                  f"score error uses the Gaussian constant Tr Σ_t^-1/d (a lower bound, docs/theory.md §14)\n")
    if "dtau" in extra:
        out.write(f"# {len(sim.tau)} log points, {int(sim.steps[-1])} steps of dtau = {sim.dtau:.4g} "
                  f"(lr = {sim.lr:.4g}), {sim.wall_time:.1f} s\n")
    out.write(f"# theory:     tau_gen = {res.ts.tau_gen:.6g}  tau_mem = {res.ts.tau_mem:.6g}\n")
    if res.sim_ts is not None:
        out.write(f"# simulation: tau_gen = {res.sim_ts.tau_gen:.6g}  tau_mem = {res.sim_ts.tau_mem:.6g}\n")
    out.write("# max |simulation - theory|: " + "  ".join(f"{k} {v:.3g}" for k, v in res.deviation.items()))
    if args.method == "adam":
        out.write("  (Adam has no theory: not a finite-size error here)")
    out.write(f"\n# status {status}\n")


def _write_json(model, args, res, status, caught):
    sim, theory = res.sim, res.theory
    payload = {"model": model.to_dict(), "d": args.d, "seed": args.seed, "method": args.method,
               # deprecated (the model's m says it): "exact" for m = inf, else m; to be removed in the next release
               "noise": "exact" if math.isinf(model.m) else model.m,
               **res.extra, "simulated_ratios": {"psi_p": sim.size.psi_p, "psi_n": sim.size.psi_n}, "tau": sim.tau, "train": sim.train, "test": sim.test,
               "score_error": sim.score_error, "max_deviation": res.deviation, "status": status,
               "theory": {"tau": theory.tau, "train": theory.train, "test": theory.test,
                          "score_error": theory.score_error, "timescales": res.ts.to_dict()}}
    if res.sim_ts is not None:
        payload["simulation_timescales"] = {"tau_gen": res.sim_ts.tau_gen, "tau_mem": res.sim_ts.tau_mem}
    seeds = {"simulation": args.seed}
    if args.split is not None:
        payload["split"] = args.split.to_dict()
        seeds["split"] = args.seed
    prov = result_provenance(args, model, status, caught, curves=theory, seeds=seeds,
                             simulation={"method": args.method, "d": args.d, "m": model.m})
    write_outputs(args, payload, prov)


def _plot(model, args, res):
    from ..plotting import savefig
    from ..plotting.curves import plot_curves
    rows = "" if args.split is None else (f"\ntrained on {args.split.train.size} rows of {args._data_matrix.name}, "
                                          f"tested on {args.split.test.size} held-out rows (split seed {args.seed})")
    if res.sim.status == "failed":      # a diverged run: its losses would only set the scale of the axes
        ax = plot_curves(res.theory, res.ts)
        ax.set_title(f"{ax.get_title()}\nsimulation not drawn: {res.sim.message.split(':')[0]}{rows}", fontsize=9)
    else:
        ax = plot_curves(res.theory, res.ts, simulation=res.sim,
                         simulation_note=f"seed {args.seed}, noise {_noise_text(model, args.method)}")
        ax.set_title(ax.get_title() + rows, fontsize=9)
    savefig(ax, args.plot)


def _real_rows(args, model):
    """Real data: d from the data, a split of seed ``--seed`` and its rows (``args.rows``, ``args.split``)."""
    args.rows = args.split = None
    data = opts.real_dimension(args)
    if data is not None and args.method != "gaussian":
        args.split = opts.real_split(args, model, data)
        args.rows = (data.rows[args.split.train], data.rows[args.split.test])


def run(args) -> int:
    model = opts.model_from_args(args)
    _real_rows(args, model)
    _check_options(args, model)
    with collect_warnings("simulate") as caught:
        res = _simulate(model, args)
    status, text = status_line([res.theory, res.ts, res.sim], caught)
    _print_report(model, args, res, text, sys.stdout)
    if args.json is None and args.plot is None:
        print_table({k: getattr(res.sim, k) for k in ("tau", "train", "test", "score_error")})
    if args.json:
        _write_json(model, args, res, status, caught)
    if args.plot:
        _plot(model, args, res)
    return exit_status(status)
