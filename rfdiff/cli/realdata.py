"""``rfdiff realdata``: what the theory says for a dataset, and how far off it is, split into a finite-size and a
non-Gaussian part (:func:`rfdiff.realdata.compare`, docs/theory.md §14)."""
from __future__ import annotations

import math
import sys

from . import args as opts
from .limits import check_simulation_memory
from .report import (
    args_provenance,
    collect_warnings,
    exit_status,
    status_line,
    write_outputs,
)

__all__ = ["add_parser", "run"]

HELP = "theory vs Gaussian surrogate vs the true model on real rows (finite-size and non-Gaussian parts of the gap)"
LABELS = {"test_gen": "L_test(tau_gen)", "test_inf": "L_test(inf)", "tau_gen": "tau_gen", "tau_mem": "tau_mem"}


def add_parser(subparsers):
    p = subparsers.add_parser("realdata", help=HELP, description=(
        "For real data (--data digits, patches or a .npy/.npz/.csv matrix, rows = samples): the d → ∞ theory "
        "of the data's sample spectrum, the true random-features model at the data's d on Gaussian rows of the "
        "same covariance (the Gaussian surrogate, one run per seed), and the same model trained on n = ψ_n d "
        "actual rows and tested on held-out rows (one run per random split). Prints τ_gen, τ_mem, L_test(τ_gen) "
        "and L_test(∞) of each, and the relative gap of the theory to the real rows split into a finite-size "
        "part (surrogate − theory) and a non-Gaussian part (real − surrogate), all relative to the real value."))
    opts.add_model_arguments(p)
    p.add_argument("--splits", type=opts.integer(1), default=5,
                   help="random splits (and surrogate seeds) SEED, SEED+1, ... (default 5)")
    p.add_argument("--seed", type=opts.integer(0), default=0, help="first seed of W and of the split (default 0)")
    p.add_argument("--n-test", type=opts.integer(2), default=None,
                   help="held-out rows per split (default all rows not trained on, at most 2000)")
    p.add_argument("--json", metavar="PATH", type=opts.output_file("JSON file"),
                   help="write the values, relative errors, splits and provenance as JSON")
    p.add_argument("--plot", metavar="PATH", type=opts.figure_file,
                   help="draw the three test-loss curves (PNG, PDF or SVG)")
    p.set_defaults(func=run)


def _fmt(values):
    import numpy as np
    v = np.asarray(values, dtype=float)
    if v.ndim == 0:
        return f"{float(v):.4g}"
    if not np.all(np.isfinite(v)):
        return f"inf ({int(np.sum(~np.isfinite(v)))}/{v.size} runs)" if np.any(~np.isfinite(v)) else "nan"
    return f"{v.mean():.4g} ± {v.std(ddof=1) if v.size > 1 else 0.0:.2g}"


def _pct(x):
    return "   n/a" if not math.isfinite(x) else f"{100 * x:+6.1f}%"


def run(args) -> int:
    from ..realdata import DEFAULT_N_TEST, compare

    data = opts.data_matrix_from_args(args)
    if data is None:
        raise ValueError("rfdiff realdata needs real data: --data digits, patches or a .npy/.npz/.csv file")
    model = opts.model_from_args(args)
    split = opts.real_split(args, model, data, max_test=DEFAULT_N_TEST)  # too few rows: an error before computing
    n = split.train.size
    check_simulation_memory(model, data.d, option="--data")
    with collect_warnings("realdata") as caught:
        c = compare(model, data, splits=args.splits, seed=args.seed, n_test=args.n_test, bins=args.bins)
    status, text = status_line([c], caught)
    out = sys.stdout
    desc = c.dataset
    norm = desc["normalization"]
    const = norm["constant_columns"]
    out.write(f"# {data.name}: N = {desc['n_rows']} rows, d = {desc['d']}; centred, divided by {norm['scale']:.4g} "
              f"(Tr Σ/d = 1); {len(const)} constant column(s)"
              f"{' kept as zero directions' if const and norm['constant_policy'] == 'keep' else ''}"
              f"{' dropped' if const and norm['constant_policy'] == 'drop' else ''}\n")
    out.write(f"# psi_p = {model.psi_p:g}, psi_n = {model.psi_n:g} (n = {n} training rows), t = {model.t:g}, "
              f"{model.activation.name}; {len(c.seeds)} splits/seeds {c.seeds[0]}..{c.seeds[-1]}, "
              f"{c.splits[0]['n_test']} held-out rows each; status {text}\n")
    out.write(f"{'quantity':<16s} {'theory':>10s} {'surrogate':>18s} {'real rows':>18s} {'theory gap':>11s} "
              f"{'finite-size':>11s} {'non-Gauss.':>11s}\n")
    rel = c.relative_errors()
    for q, label in LABELS.items():
        r = rel[q]
        out.write(f"{label:<16s} {_fmt(c.values['theory'][q]):>10s} {_fmt(c.values['surrogate'][q]):>18s} "
                  f"{_fmt(c.values['real'][q]):>18s} {_pct(r['theory']):>11s} {_pct(r['finite_size']):>11s} "
                  f"{_pct(r['non_gaussian']):>11s}\n")
    out.write("# gaps relative to the real-row mean: theory gap = (theory - real)/real = -(finite-size + "
              "non-Gaussian); finite-size = (surrogate - theory)/real; non-Gaussian = (real - surrogate)/real\n")
    if args.json:
        payload = c.to_dict()
        payload["status"] = status
        prov = args_provenance(args, model=c.model, seeds={"surrogate": c.seeds, "split": c.seeds}, splits=c.splits,
                               diagnostics={"status": status, "warnings": list(caught)})
        write_outputs(args, payload, prov)
    if args.plot:
        from ..plotting import savefig
        from ..plotting.realdata import plot_comparison
        savefig(plot_comparison(c), args.plot)
    return exit_status(status)
