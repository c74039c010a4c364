"""``rfdiff phase``: generalization/memorization phase diagram over (ψ_p, ψ_n), with the no-memorization boundary.

JSON output (``--json``): ``psi_p`` and ``psi_n`` are the axis values; ``tau_gen``, ``tau_mem``, ``window``,
``test_min``, ``gap_inf``, ``ratio``, ``train_inf``, ``test_inf``, ``regime`` and ``error`` are 2-D lists
indexed ``[psi_p][psi_n]``; ``boundary_psi_n[i]`` is ψ_n* at ``psi_p[i]``. NaN (a failed point, or ψ_n*
not found) is written as ``null`` and ±∞ (e.g. ``tau_mem`` without memorization) as the strings ``"inf"``
and ``"-inf"``, so the file is strict JSON. ``provenance`` records the command line, versions and the model.

Exit status 1 when any grid point or any boundary row failed or did not converge (the summary line counts
them; failed points are listed), 2 for bad input (checked before the sweep starts). A row without a boundary
in range (e.g. at large t nothing memorizes at any ψ_n) is not a failure: ψ_n* is null and the summary says
"no boundary in range" with the range searched.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys

import numpy as np

from .args import add_model_arguments, add_output_arguments, figure_file, model_fields, output_dir, positive
from .limits import check_memory
from .report import args_provenance, write_outputs

#: Most values ``start:stop:num`` may ask for on one axis.
MAX_AXIS_POINTS = 100_000
#: Bytes held per grid point while sweeping (model, task, result dict, store key), for the memory check.
BYTES_PER_POINT = 4096
#: ``--tau-plot-psi-p`` picks the nearest ψ_p of the grid if within this relative distance.
TAU_PLOT_RTOL = 0.02
#: Failed points (and boundary rows) listed on stdout; the rest are counted.
MAX_LISTED_FAILURES = 5

HELP = "phase diagram over (ψ_p, ψ_n): τ_gen, τ_mem, overfitting at τ = ∞, no-memorization boundary"


def _axis_values(text: str) -> list[float]:
    """``"a,b,c"`` or ``"start:stop:num"`` (log-spaced, endpoints included)."""
    try:
        if ":" in text:
            start, stop, num = text.split(":")
            num = int(num)
            if num > MAX_AXIS_POINTS:
                raise argparse.ArgumentTypeError(f"at most {MAX_AXIS_POINTS:,} values per axis, got {num:,}")
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
    add_output_arguments(p, "write the diagram as JSON", table=False)
    p.add_argument("--plot", metavar="PATH", type=figure_file,
                   help="draw heat maps of log10 τ_mem/τ_gen and L_test(∞) − L_min with the boundary "
                        "(PNG/PDF/SVG); with one value of ψ_p or of ψ_n, τ_gen and τ_mem as lines over the other")
    p.add_argument("--tau-plot", metavar="PATH", type=figure_file,
                   help="draw the (ψ_n, τ) phase map at the ψ_p given by --tau-plot-psi-p")
    p.add_argument("--tau-plot-psi-p", type=positive, default=None,
                   help=f"ψ_p of the (ψ_n, τ) map: the nearest grid value within a relative "
                        f"{TAU_PLOT_RTOL:g} (default: the largest ψ_p)")
    p.add_argument("--store", metavar="DIR", type=output_dir("--store directory"),
                   help="keep finished points in DIR; a rerun resumes from them")
    p.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="local processes (default), a dask cluster, or serial")
    p.add_argument("--scheduler", metavar="ADDR", help="dask scheduler address (default: start a LocalCluster)")
    p.add_argument("--workers", type=int, default=None, help="number of processes / LocalCluster workers")
    p.set_defaults(func=run)


def _tau_plot_psi_p(args):
    """The grid ψ_p of the (ψ_n, τ) map, checked before the sweep (nearest within :data:`TAU_PLOT_RTOL`)."""
    grid = list(args.psi_p)
    if args.tau_plot_psi_p is None:
        return grid[-1]
    want = args.tau_plot_psi_p
    nearest = min(grid, key=lambda v: abs(math.log(v / want)))
    if abs(nearest - want) > TAU_PLOT_RTOL * want:
        raise ValueError(f"--tau-plot-psi-p {want:g} is not on the psi_p grid (nearest {nearest:.6g}; "
                         f"grid {', '.join(f'{v:.6g}' for v in grid)})")
    return nearest


def _check_options(args):
    """The command line's own checks, before the sweep: returns the ψ_p of ``--tau-plot`` (or None)."""
    if args.tau_plot_psi_p is not None and args.tau_plot is None:
        raise ValueError("--tau-plot-psi-p needs --tau-plot")
    if args.plot and len(args.psi_p) == len(args.psi_n) == 1:
        raise ValueError("--plot needs several values of --psi-p or --psi-n (a 1 × 1 diagram is one point: its "
                         "numbers are in the table)")
    if args.tau_plot and len(args.psi_n) < 2:
        raise ValueError("--tau-plot needs several values of --psi-n (the map is drawn over ψ_n)")
    check_memory(BYTES_PER_POINT * len(args.psi_p) * len(args.psi_n),
                 f"a {len(args.psi_p)} × {len(args.psi_n)} grid (per-point tasks and results)")
    return _tau_plot_psi_p(args) if args.tau_plot else None


def _failures(pd):
    """``(failed points, failed boundary rows, boundary rows, not-converged points)`` of a diagram, as its sweeps
    counted them (:attr:`rfdiff.PhaseDiagram.stats`)."""
    boundary = pd.stats.get("boundary", {})
    rows = 0 if pd.boundary_error is None else len(pd.boundary_error)
    return (pd.stats["failed"], boundary.get("failed", 0), rows,
            pd.stats.get("not_converged", 0) + boundary.get("not_converged", 0))


def _print_summary(args, pd, out):
    failed, bfailed, rows, unconverged = _failures(pd)
    n = int(np.asarray(pd.error).size)
    line = (f"# t = {args.t:g}, {pd.fixed['activation']}, data {pd.fixed['data']}; points computed "
            f"{pd.stats['computed']}, reused {pd.stats['reused']}, failed {failed} of {n}")
    if pd.boundary_error is not None:
        line += f"; boundary rows failed {bfailed} of {rows}"
        absent = int(np.count_nonzero(pd.boundary_note != ""))
        if absent:
            line += f"; no boundary in range for {absent} of {rows} rows"
    if unconverged:
        line += f"; not converged {unconverged}"
    out.write(line + "\n")
    on_line = int(np.count_nonzero(np.asarray(pd.regime) == "threshold"))
    if on_line:
        out.write(f"# {on_line} points lie on the interpolation threshold p = n·m without weight decay (singular: "
                  f"marked 'threshold', not computed, not counted as failed)\n")
    listed = 0
    for (i, j), err in np.ndenumerate(np.asarray(pd.error).reshape(len(pd.coords["psi_p"]), -1)):
        if err and listed < MAX_LISTED_FAILURES:
            out.write(f"# failed: psi_p = {pd.coords['psi_p'][i]:g}, psi_n = {pd.coords['psi_n'][j]:g}: {err}\n")
            listed += 1
    if pd.boundary_error is not None:
        for pp, err in zip(pd.coords["psi_p"], pd.boundary_error):
            if err and listed < MAX_LISTED_FAILURES:
                out.write(f"# boundary failed at psi_p = {pp:g}: {err}\n")
                listed += 1
    if failed + bfailed > listed:
        out.write(f"# ... {failed + bfailed - listed} more failures (see --json: error, boundary_error)\n")
    if pd.boundary_note is not None:
        notes = sorted({n for n in pd.boundary_note if n})
        for note in notes[:MAX_LISTED_FAILURES]:
            where = [f"{pp:g}" for pp, n in zip(pd.coords["psi_p"], pd.boundary_note) if n == note]
            out.write(f"# {note} (psi_p = {', '.join(where)})\n")
    return failed + bfailed + unconverged


def _print_table(pd, out):
    out.write(f"{'psi_p':>10s} {'psi_n':>10s} {'tau_gen':>12s} {'tau_mem':>12s} {'gap_inf':>12s}  regime\n")
    for i, pp in enumerate(pd.coords["psi_p"]):
        for j, pn in enumerate(pd.coords["psi_n"]):
            out.write(f"{pp:10.4g} {pn:10.4g} {pd.tau_gen[i, j]:12.5g} {pd.tau_mem[i, j]:12.5g} "
                      f"{pd.gap_inf[i, j]:12.5g}  {pd.regime[i, j]}\n")
    for pp, b, e, n in zip(pd.coords["psi_p"], pd.boundary, pd.boundary_error, pd.boundary_note):
        out.write(f"# boundary at psi_p = {pp:g}: psi_n* = {b:.6g}{'  failed: ' + e if e else ''}"
                  f"{'  (' + n + ')' if n else ''}\n")


def _plots(args, pd, tau_psi_p):
    from ..plotting import savefig
    from ..plotting.phase import plot_phase_diagram, plot_phase_lines, plot_tau_map
    if args.plot:      # heat maps need two axes of several values; one row is drawn as lines, not invented cells
        savefig(plot_phase_diagram(pd)[0] if min(pd.shape) > 1 else plot_phase_lines(pd), args.plot)
    if args.tau_plot:
        savefig(plot_tau_map(pd.select(psi_p=tau_psi_p)), args.tau_plot)


def run(args) -> int:
    from .. import Execution, TimescaleOptions, phase_diagram
    from ..sweep import PointStore

    tau_psi_p = _check_options(args)
    # the library checks its parameters here, before anything is written or computed
    options = TimescaleOptions(gap_rtol=args.gap_rtol)
    execution = Execution(args.executor, workers=args.workers, scheduler=args.scheduler)
    fields = model_fields(args)
    model = {"psi_p": args.psi_p, "psi_n": args.psi_n, "t": args.t, **fields, "data": fields["data"].to_dict()}
    prov = args_provenance(args, model=model, executor=args.executor)
    if args.store is not None:
        execution = dataclasses.replace(execution, store=PointStore(args.store, provenance=prov))
    pd = phase_diagram(psi_p=args.psi_p, psi_n=args.psi_n, t=args.t, **fields, options=options,
                       execution=execution)
    out = sys.stdout
    bad = _print_summary(args, pd, out)
    if args.json is None and args.plot is None and args.tau_plot is None:
        _print_table(pd, out)
    prov["diagnostics"] = {"stats": pd.stats, "failed": dict(zip(
        ("points", "boundary_rows", "boundary_rows_total", "not_converged"), _failures(pd)))}
    write_outputs(args, pd.to_dict(), prov)
    if args.plot or args.tau_plot:
        _plots(args, pd, tau_psi_p)
    return 1 if bad else 0
