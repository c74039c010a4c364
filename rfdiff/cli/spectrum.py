"""``rfdiff spectrum``: the eigenvalue law of the feature covariance U."""
from __future__ import annotations

import time

import numpy as np

from .args import add_model_arguments, add_output_arguments, figure_file, integer, largest_dimension, model_from_args
from .limits import check_memory, check_simulation_memory
from .report import collect_warnings, model_summary, exit_status, result_provenance, status_line, write_outputs

#: Bytes per λ point held by the solver and the result (complex Stieltjes values, densities, statuses).
BYTES_PER_POINT = 400
#: Largest default simulation: p = ψ_p d ≈ this many features (eigenvalues of a p × p matrix).
DEFAULT_SIM_P = 3000


def add_parser(sub):
    p = sub.add_parser("spectrum", help="spectrum of the feature covariance U (bulks, atom, density)",
                       description="Density, bulks and atom of the eigenvalue law of U (docs/theory.md §4).")
    add_model_arguments(p)
    p.add_argument("--points", type=integer(2), default=2000, help="number of λ points (default 2000)")
    p.add_argument("--lambda-min", type=float, default=None, help="grid start (default: resolve every bulk)")
    p.add_argument("--lambda-max", type=float, default=None, help="grid end")
    add_output_arguments(p, "write model, lambdas, density, density_w, atoms, support")
    p.add_argument("--plot", metavar="PATH", type=figure_file,
                   help="PNG/PDF/SVG: theory over a Gaussian-equivalent histogram")
    p.add_argument("--sim-d", type=integer(0), default=None,
                   help=f"dimension d of the overlaid simulation (default: 10 ≤ d ≤ 200 with p = ψ_p d ≈ "
                        f"{DEFAULT_SIM_P} at most, and p/d, n/d within 5%% of ψ_p, ψ_n; 0 disables)")
    p.add_argument("--seed", type=integer(0), default=0, help="seed of the simulation (recorded in the provenance)")
    p.add_argument("--linear-axis", action="store_true", help="plot on a linear λ axis")
    p.set_defaults(func=run)


def _grid(args, sup):
    from .. import spectral_grid
    if args.lambda_min is None and args.lambda_max is None:
        return spectral_grid(sup, args.points)
    lo = args.lambda_min if args.lambda_min is not None else 0.5 * sup.intervals[0][0]
    hi = args.lambda_max if args.lambda_max is not None else 1.2 * sup.lambda_max
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError("--lambda-min must be below --lambda-max (both finite)")
    return np.geomspace(lo, hi, args.points) if lo > 0 and not args.linear_axis else np.linspace(lo, hi, args.points)


def _sim_d(args, model):
    """``--sim-d``, or the default dimension of the overlaid simulation (0: none, also when no d ≤ the default
    keeps p/d and n/d close to ψ_p and ψ_n: :func:`rfdiff.simulate.problem_sizes`)."""
    if args.sim_d is not None:
        return args.sim_d
    return largest_dimension(model, int(max(10, min(200, DEFAULT_SIM_P / model.psi_p)))) or 0


def _print_summary(model, sup, spec, elapsed, status):
    print(f"rfdiff spectrum  {model_summary(model)}  ({elapsed:.2f} s)")
    for loc, mass in sup.atoms:
        print(f"  atom  λ = {loc:.6g}   mass {mass:.6g}")
    origin = sup.intervals[0][0] - sup.offsets[0][0] if sup.intervals else 0.0
    for (lo, hi), (off_lo, off_hi), mass in zip(sup.intervals, sup.offsets, sup.masses):
        if f"{lo:.6g}" == f"{hi:.6g}":    # narrower than the printed precision: print it as offsets
            print(f"  bulk  [{origin:.6g} + {off_lo:.6g}, {origin:.6g} + {off_hi:.6g}]   mass {mass:.6g}"
                  f"   (width {hi - lo:.3g}: narrower than the printed digits of λ)")
        else:
            print(f"  bulk  [{lo:.6g}, {hi:.6g}]   mass {mass:.6g}")
    print(f"  total mass {sup.total_mass:.9f}; {spec.n_fallback} edge fallbacks; "
          f"max residual {spec.max_residual:.1e}; status {status}")


def _write_files(args, model, sup, spec, status, caught):
    d = args.sim_d
    simulation = {"seeds": {"simulation": args.seed}, "simulation": {"method": "gaussian", "d": d}} if d else {}
    prov = result_provenance(args, model, status, caught,
                             diagnostics={"n_fallback": spec.n_fallback, "max_residual": spec.max_residual},
                             **simulation)
    payload = {**spec.to_dict(), "support": sup.to_dict(), "status": status}
    columns = {"lambda": spec.lambdas, "density": spec.density, "density_w": spec.density_w}
    atoms = np.array([list(a) for a in spec.atoms], dtype=float).reshape(-1, 2)
    write_outputs(args, payload, prov, columns,
                  extra_arrays={"atoms": atoms, "intervals": np.asarray(sup.intervals, dtype=float),
                                "masses": np.asarray(sup.masses, dtype=float)})


def run(args) -> int:
    from .. import spectrum, support
    model = model_from_args(args)
    check_memory(BYTES_PER_POINT * args.points, f"--points {args.points} (solver arrays per λ point)")
    args.sim_d = _sim_d(args, model) if args.plot else 0       # the simulation drawn under the density (0: none)
    if args.sim_d > 0:
        check_simulation_memory(model, args.sim_d, "--sim-d")
    t0 = time.perf_counter()
    with collect_warnings("spectrum") as caught:
        sup = support(model)
        spec = spectrum(model, _grid(args, sup))
    elapsed = time.perf_counter() - t0
    status, text = status_line([sup, spec], caught)
    _print_summary(model, sup, spec, elapsed, text)
    _write_files(args, model, sup, spec, status, caught)
    if args.plot:
        _plot(args, model, spec)
    return exit_status(status)


def _plot(args, model, spec):
    from ..plotting import savefig
    from ..plotting.spectrum import plot_spectrum
    from ..simulate import gaussian_equivalent
    sample = gaussian_equivalent(model, args.sim_d, seed=args.seed) if args.sim_d > 0 else None
    ax = plot_spectrum(spec, eigenvalues=None if sample is None else sample.eigenvalues(), log=not args.linear_axis)
    if sample is not None:
        ax.set_title(f"{ax.get_title()}\nhistogram: Gaussian equivalent, {sample.size.describe(model)}, "
                     f"seed {args.seed}", fontsize=10)
    savefig(ax, args.plot)
    print(f"  wrote {args.plot}")
