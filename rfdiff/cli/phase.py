"""``rfdiff phase``: generalization/memorization phase diagram over (ψ_p, ψ_n), with the no-memorization boundary.

JSON output (``--json``): ``psi_p`` and ``psi_n`` are the axis values; ``tau_gen``, ``tau_mem``, ``window``,
``test_min``, ``gap_inf``, ``ratio``, ``train_inf``, ``test_inf``, ``regime`` and ``error`` are 2-D lists
indexed ``[psi_p][psi_n]``; ``boundary_psi_n[i]`` is ψ_n* at ``psi_p[i]``. NaN (a failed point, or ψ_n*
not found) is written as ``null`` and ±∞ (e.g. ``tau_mem`` without memorization) as the strings ``"inf"``
and ``"-inf"``, so the file is strict JSON.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import add_model_arguments, data_from_args, write_json

HELP = "phase diagram over (ψ_p, ψ_n): τ_gen, τ_mem, overfitting at τ = ∞, no-memorization boundary"


def _axis_values(text: str) -> list[float]:
    """``"a,b,c"`` or ``"start:stop:num"`` (log-spaced, endpoints included)."""
    try:
        if ":" in text:
            start, stop, num = text.split(":")
            num = int(num)
            if num < 1 or float(start) <= 0 or float(stop) <= 0:
                raise ValueError
            return np.geomspace(float(start), float(stop), num).tolist()
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers or start:stop:num (log-spaced, positive), got {text!r}") from None


def add_parser(subparsers):
    p = subparsers.add_parser("phase", help=HELP, description=(
        "Phase diagram of the random-features score model over a (ψ_p, ψ_n) grid at one diffusion time t: "
        "the generalization and memorization times τ_gen, τ_mem, the overfitting left at infinite training "
        "L_test(∞) − L_min, and the boundary ψ_n*(ψ_p) beyond which memorization at infinite time "
        "disappears ((L_test(∞) − L_min)/(1 − L_min) ≤ --gap-rtol). Axis values are comma-separated or "
        "start:stop:num (log-spaced)."), epilog=(
        "JSON: psi_p, psi_n axis values; tau_gen, tau_mem, gap_inf (and window, test_min, ratio, train_inf, "
        "test_inf, regime, error) as 2-D lists indexed [psi_p][psi_n]; boundary_psi_n per psi_p. "
        "NaN is written as null, ±inf as the strings \"inf\"/\"-inf\"."))
    p.add_argument("--psi-p", type=_axis_values, required=True, help="width ratios p/d, e.g. 16,64,256 or 4:256:20")
    p.add_argument("--psi-n", type=_axis_values, required=True, help="sample ratios n/d, e.g. 1,2,4,8,16")
    p.add_argument("--t", type=float, required=True, help="diffusion time t")
    add_model_arguments(p, scalar=False)
    p.add_argument("--gap-rtol", type=float, default=0.1,
                   help="memorization at τ = ∞ counts as absent below this fraction of the generalization "
                        "gain lost (default 0.1)")
    p.add_argument("--json", metavar="PATH", help="write the diagram as JSON")
    p.add_argument("--plot", metavar="PATH",
                   help="draw heat maps of log10 τ_mem/τ_gen and L_test(∞) − L_min with the boundary (PNG/PDF)")
    p.add_argument("--tau-plot", metavar="PATH",
                   help="draw the (ψ_n, τ) phase map at the ψ_p given by --tau-plot-psi-p")
    p.add_argument("--tau-plot-psi-p", type=float, default=None,
                   help="ψ_p of the (ψ_n, τ) map (default: the largest ψ_p)")
    p.add_argument("--store", metavar="DIR", help="keep finished points in DIR; a rerun resumes from them")
    p.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="local processes (default), a dask cluster, or serial")
    p.add_argument("--scheduler", metavar="ADDR", help="dask scheduler address (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=None, help="number of processes / LocalCluster workers")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..phase import phase_diagram

    if args.scheduler is not None and args.executor != "dask":
        raise ValueError("--scheduler needs --executor dask")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.tau_plot_psi_p is not None and args.tau_plot is None:
        raise ValueError("--tau-plot-psi-p needs --tau-plot")
    pd = phase_diagram(psi_p=args.psi_p, psi_n=args.psi_n, t=args.t, activation=args.activation,
                       data=data_from_args(args), gap_rtol=args.gap_rtol, executor=args.executor,
                       scheduler=args.scheduler, workers=args.workers, store=args.store)
    out = sys.stdout
    out.write(f"# t = {args.t:g}, {pd.fixed['activation']}, data {pd.fixed['data']}; points computed "
              f"{pd.stats['computed']}, reused {pd.stats['reused']}, failed {pd.stats['failed']}\n")
    if args.json is None and args.plot is None and args.tau_plot is None:
        out.write(f"{'psi_p':>10s} {'psi_n':>10s} {'tau_gen':>12s} {'tau_mem':>12s} {'gap_inf':>12s}  regime\n")
        for i, pp in enumerate(pd.coords["psi_p"]):
            for j, pn in enumerate(pd.coords["psi_n"]):
                out.write(f"{pp:10.4g} {pn:10.4g} {pd.tau_gen[i, j]:12.5g} {pd.tau_mem[i, j]:12.5g} "
                          f"{pd.gap_inf[i, j]:12.5g}  {pd.regime[i, j]} {pd.error[i, j]}\n")
        for pp, b, e in zip(pd.coords["psi_p"], pd.boundary, pd.boundary_error):
            out.write(f"# boundary at psi_p = {pp:g}: psi_n* = {b:.6g} {e}\n")
    if args.json:
        write_json(args.json, pd.to_dict())
    if args.plot or args.tau_plot:
        from ..plotting import savefig
        from ..plotting.phase import plot_phase_diagram, plot_tau_map
        if args.plot:
            savefig(plot_phase_diagram(pd)[0], args.plot)
        if args.tau_plot:
            at = pd.coords["psi_p"][-1] if args.tau_plot_psi_p is None else args.tau_plot_psi_p
            savefig(plot_tau_map(pd.select(psi_p=at)), args.tau_plot)
    return 0
