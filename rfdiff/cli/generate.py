"""``rfdiff generate``: train a random-features score family, draw samples, measure memorization.

A score per diffusion time on a grid (:func:`rfdiff.generate.score_family`, closed-form flow of the true
features, or explicit GD/Adam), samples of the reverse SDE or ODE at each requested τ
(:func:`rfdiff.generate.sample`), and their measures next to the exact score, the empirical optimal score and
held-out data (:func:`rfdiff.generate.evaluate`), plus the finite family's KL bound (docs/theory.md §13).

Real data (``--data digits|patches|FILE``, docs/theory.md §14): d is the data's number of columns and ψ_n fixes
the n = round(ψ_n d) training rows of the split of ``--seed`` (the rest, or ``--n-test`` of them, held out as
the population); the family is trained on those rows (``score_family(rows=...)``), its references are the
empirical score and held-out rows (no exact score, no KL bound), and the outputs record the dataset, its
normalisation and the split's rows; ``--npz`` adds the samples and training rows in the data's own units.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from .args import (PLOT_SUFFIXES, add_model_arguments, integer, model_fields, number_list, output_file, real_dimension,
                   real_split)
from .limits import check_memory, check_simulation_memory
from .report import args_provenance, collect_warnings, exit_status, status_line

__all__ = ["add_parser", "run"]

HELP = "train a score family over diffusion time, generate samples, measure memorization (f_mem, covariance)"


def add_parser(subparsers):
    from ..settings import DIFFUSION_TIMES as DEFAULT_TIMES      # (the family's default; light to import)
    p = subparsers.add_parser("generate", help=HELP, description=(
        "Train one random-features score per diffusion time on one training set to each τ (closed-form "
        "gradient flow of the true features by default), generate samples with the reverse SDE or the "
        "probability-flow ODE, and report the fraction of copies f_mem (‖x − a¹‖/‖x − a²‖ < 1/3), distances "
        "to the training set and the generated covariance, next to the exact score, the empirical optimal "
        "score and held-out data. Real data (--data digits, patches or a .npy/.npz/.csv file): d is the data's, "
        "the family is trained on the n = round(ψ_n d) rows of the split of --seed and compared with held-out rows "
        "(no exact score, no KL bound)."))
    p.add_argument("--psi-p", type=float, required=True, help="width ratio p/d")
    p.add_argument("--psi-n", type=float, required=True, help="sample ratio n/d")
    add_model_arguments(p, scalar=False)
    p.add_argument("--d", type=int, default=None,
                   help="data dimension d (p = ψ_p d, n = ψ_n d); required unless --data is real data (then d is "
                        "its number of columns and n = round(ψ_n d) rows are trained on)")
    p.add_argument("--n-test", type=integer(2), default=None,
                   help="real data: held-out rows of the split (default all rows not trained on, at most 2000)")
    p.add_argument("--taus", type=number_list("training times (inf allowed)"), required=True, metavar="TAU,...",
                   help="training times of the family, comma-separated ('inf': end of training)")
    p.add_argument("--times", type=number_list("diffusion times"), default=None, metavar="T,...",
                   help="diffusion-time grid t_1 < … < t_K (default: --t-count log-spaced times in "
                        "[--t-min, --t-max])")
    p.add_argument("--t-min", type=float, default=DEFAULT_TIMES[0], help=f"default {DEFAULT_TIMES[0]:g}")
    p.add_argument("--t-max", type=float, default=DEFAULT_TIMES[1], help=f"default {DEFAULT_TIMES[1]:g}")
    p.add_argument("--t-count", type=int, default=DEFAULT_TIMES[2], help=f"default {DEFAULT_TIMES[2]}")
    p.add_argument("--samples", type=int, default=1000, help="samples per τ (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of W, the training set and the samples (default 0)")
    p.add_argument("--method", choices=("sde", "ode"), default="sde", help="reverse SDE (default) or ODE")
    p.add_argument("--integrator", choices=("2m", "denoiser", "score"), default="2m",
                   help="step rule (default 2m: second-order exponential integrator)")
    p.add_argument("--simulator", choices=("features", "gd", "adam"), default="features",
                   help="how each score is trained (default features: closed-form flow of the true features)")
    p.add_argument("--independent-features", action="store_true", help="one W per diffusion time")
    p.add_argument("--threshold", type=float, default=1 / 3, help="copy threshold on ‖x − a¹‖/‖x − a²‖ (1/3)")
    p.add_argument("--executor", choices=("serial", "local", "dask"), default="serial",
                   help="where the family's times are trained (default serial)")
    p.add_argument("--workers", type=int, default=None, help="local processes or dask workers")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    p.add_argument("--json", metavar="PATH", type=output_file("JSON file"), help="write the measures as JSON")
    p.add_argument("--npz", metavar="PATH", type=output_file("npz file", (".npz",)),
                   help="write samples, training set, held-out points and measures as .npz")
    p.add_argument("--plot", metavar="PATH", type=output_file("figure", PLOT_SUFFIXES),
                   help="draw f_mem and the generated covariance against τ")
    p.set_defaults(func=run)


def _real_rows(args, model):
    """Real data: d from the data and the split of ``--seed`` (``args.split``), or None; bad combinations refused."""
    from ..realdata import DEFAULT_N_TEST
    data = real_dimension(args)
    if data is None:
        if args.n_test is not None:
            raise ValueError("--n-test applies only to real data (--data digits, patches or a .npy/.npz/.csv file)")
        return None
    if args.bins is not None:
        raise ValueError("--bins: generate trains on the rows of real data themselves, not on a binned law")
    return real_split(args, model, data, max_test=DEFAULT_N_TEST)


def _check(args, model):
    """Every option and the memory, before anything is computed."""
    from .._validate import diffusion_times
    from .._validate import taus as check_taus
    from ..generate.family import default_times
    if args.d < 1:
        raise ValueError(f"--d must be >= 1, got {args.d}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    if not args.taus:
        raise ValueError("--taus must hold at least one training time")
    try:
        taus = check_taus(args.taus)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None
    if args.times is not None:
        try:
            times = diffusion_times(args.times)
        except ValueError as exc:
            raise ValueError(f"--{exc}") from None
    else:
        times = default_times(args.t_count, args.t_min, args.t_max)
    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold must be in (0, 1], got {args.threshold}")
    p, _ = check_simulation_memory(model, args.d, "--d" if args.split is None else "--psi-p")
    n_sets = taus.size + 3
    check_memory(8.0 * (taus.size * times.size * args.d * p + n_sets * args.samples * args.d),
                 f"--samples {args.samples} × {n_sets} sets and {taus.size} τ × {times.size} times of d × p read-outs")
    return taus, times


def _print(out, model, args, fam, ev, bound, status):
    if fam.real_rows:
        data, split = args._data_matrix, args.split
        out.write(f"# real rows: {data.name}, N = {data.n_rows}, centred and divided by {data.normalization.scale:.4g} "
                  f"(Tr Σ/d = 1); split seed {split.seed}: n = {split.train.size} training rows, {split.test.size} "
                  "held-out rows (the population); no exact score and no KL bound on real rows\n")
    shown = {k: v for k, v in model.to_dict().items() if not (fam.real_rows and k == "data")}
    out.write(f"# {shown}\n# d = {fam.d}, p = {fam.p}, n = {fam.n}, seed {fam.seed}, simulator "
              f"{fam.simulator}, {fam.times.size} times in [{fam.times[0]:.3g}, {fam.times[-1]:.3g}], "
              f"{'shared W' if fam.shared_features else 'one W per time'}; {args.samples} samples ({args.method}, "
              f"{args.integrator}); status {status}\n")
    out.write(f"{'set':>14s} {'f_mem':>7s} {'± SE':>7s} {'NN dist':>8s} {'Tr C/d':>8s} {'KL fit/d':>9s} "
              f"{'KL bound/d':>10s}\n")
    bounds = [math.nan] * len(ev.at_tau) if bound is None else bound.bound
    rows = [(m.label, m, b) for m, b in zip(ev.at_tau, bounds)] + \
           [(k, m, math.nan) for k, m in ev.references.items()]
    for label, m, b in rows:
        out.write(f"{label:>14s} {m.f_mem.value:7.3f} {m.f_mem.stderr:7.3f} {np.median(m.nn_distance):8.4f} "
                  f"{m.covariance.trace:8.4f} {m.covariance.kl_population:9.4g} {b:10.4g}\n")
    out.write(f"# population Tr Σ/d = {ev.at_tau[0].covariance.population_trace:.4f}, training set "
              f"{ev.at_tau[0].covariance.empirical_trace:.4f}; escaped samples (‖x‖² > 25 Tr Σ): "
              + ", ".join(f"{m.label} {m.covariance.escaped:.3f}" for m in ev.at_tau) + "\n")
    if fam.mixture:
        props = "; ".join(f"{label} " + "/".join(f"{v:.3f}" for v in m.class_proportions) for label, m, _ in rows)
        out.write(f"# class proportions (classes {'/'.join(f'{w:g}' for w in fam.class_weights)}): {props}\n")


def _plot(args, fam, ev):
    from ..plotting import legend_below, model_label, pyplot, savefig
    from ..plotting.samples import plot_covariance_trace, plot_memorization
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True)
    plot_memorization(ev.taus, [m.f_mem.value for m in ev.at_tau], [m.f_mem.stderr for m in ev.at_tau],
                      label="random-features family", ax=a1, color="C3")
    for (name, m), color in zip(ev.references.items(), ("C0", "C2", "0.5")):
        a1.axhline(m.f_mem.value, color=color, ls="--", lw=1, label=f"{name}: {m.f_mem.value:.2f}")
    plot_covariance_trace(ev.taus, [m.covariance.trace for m in ev.at_tau], label="random-features family",
                          population=ev.at_tau[0].covariance.population_trace,
                          empirical=ev.at_tau[0].covariance.empirical_trace, ax=a2, color="C3")
    fig.suptitle(f"{model_label(fam.model).replace(f'$t={fam.model.t:g}$, ', '')}\n d = {fam.d}, p = {fam.p}, "
                 f"n = {fam.n}, {fam.times.size} diffusion times, {args.samples} samples ({args.method}), "
                 f"seed {fam.seed}", fontsize=9)
    legend_below(a1, ncol=2)
    legend_below(a2, ncol=2)
    savefig(a1, args.plot)


def run(args) -> int:
    from ..generate.evaluate import evaluate
    from ..generate.family import score_family
    from ..girsanov import kl_bound

    from .. import RFModel
    model = RFModel(psi_p=args.psi_p, psi_n=args.psi_n, t=0.1, **model_fields(args))
    args.split = _real_rows(args, model)
    taus, times = _check(args, model)
    real = {}
    if args.split is not None:
        data = args._data_matrix
        real = {"rows": (data.rows[args.split.train], data.rows[args.split.test]),
                "normalization": data.normalization}
    from ..sweep import Execution
    execution = Execution(executor=args.executor, workers=args.workers, progress=args.progress)
    with collect_warnings("generate") as caught:
        fam = score_family(model, args.d, taus, times=times, seed=args.seed, simulator=args.simulator,
                           shared_features=not args.independent_features, execution=execution, **real)
        if fam.status == "failed":
            raise ValueError(f"the score family failed: {fam.message}")
        ev = evaluate(fam, args.samples, method=args.method, integrator=args.integrator, seed=args.seed,
                      threshold=args.threshold, progress=args.progress)
        bound = None if fam.real_rows else kl_bound(fam)
    status, text = status_line([fam, ev], caught)
    _print(sys.stdout, model, args, fam, ev, bound, text)
    seeds = {"family": args.seed, "samples": args.seed, "holdout": args.seed}
    split = {}
    if fam.real_rows:
        seeds["split"] = args.seed
        split = {"split": {**args.split.to_dict(), "train_rows": args.split.train, "test_rows": args.split.test}}
    prov = args_provenance(args, model=model, seeds=seeds,
                           family={"d": fam.d, "p": fam.p, "n": fam.n, "times": fam.times, "taus": fam.taus,
                                   "simulator": fam.simulator, "shared_features": fam.shared_features},
                           diagnostics={"status": status, "family": fam.message, "warnings": list(caught)}, **split)
    if args.json:
        from ..outputs import write_json
        write_json(args.json, {"family": fam.to_dict(), "evaluation": ev.to_dict(),
                               "kl_bound": None if bound is None else bound.to_dict(), "status": status,
                               "provenance": prov})
    if args.npz:
        from ..outputs import write_npz
        arrays = {"taus": fam.taus, "times": fam.times, "train": fam.train_points, "train_labels": fam.labels,
                  "samples": np.stack([m.x for m in ev.at_tau]),
                  "f_mem": [m.f_mem.value for m in ev.at_tau], "f_mem_stderr": [m.f_mem.stderr for m in ev.at_tau],
                  "nn_distance": np.stack([m.nn_distance for m in ev.at_tau]),
                  "covariance": np.stack([m.covariance.covariance for m in ev.at_tau]),
                  "score_error": fam.score_error}
        if bound is not None:
            arrays["kl_bound"] = bound.bound
        if fam.normalization is not None:           # real rows: the data's own units, and the split
            arrays.update(samples_raw=np.stack([fam.normalization.invert(m.x) for m in ev.at_tau]),
                          train_raw=fam.normalization.invert(fam.train_points), train_rows=args.split.train,
                          test_rows=args.split.test)
        for name, m in ev.references.items():
            key = name.replace("-", "_")
            arrays[f"{key}_samples"] = m.x
            arrays[f"{key}_f_mem"] = m.f_mem.value
            arrays[f"{key}_nn_distance"] = m.nn_distance
        write_npz(args.npz, arrays, provenance=prov)
    if args.plot:
        _plot(args, fam, ev)
    return exit_status(status)
