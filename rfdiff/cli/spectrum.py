"""``rfdiff spectrum``: the eigenvalue law of the feature covariance U."""
from __future__ import annotations

import time

import numpy as np

from . import add_model_arguments, model_from_args, write_json


def add_parser(sub):
    p = sub.add_parser("spectrum", help="spectrum of the feature covariance U (bulks, atom, density)",
                       description="Density, bulks and atom of the eigenvalue law of U (docs/theory.md §4).")
    add_model_arguments(p)
    p.add_argument("--points", type=int, default=2000, help="number of λ points (default 2000)")
    p.add_argument("--lambda-min", type=float, default=None, help="grid start (default: resolve every bulk)")
    p.add_argument("--lambda-max", type=float, default=None, help="grid end")
    p.add_argument("--json", metavar="PATH", help="write model, lambdas, density, density_w, atoms, support")
    p.add_argument("--plot", metavar="PATH", help="PNG/PDF: theory over a Gaussian-equivalent histogram")
    p.add_argument("--sim-d", type=int, default=None,
                   help="dimension d of the overlaid simulation (default: p ≈ 3000 at most; 0 disables)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    p.add_argument("--linear-axis", action="store_true", help="plot on a linear λ axis")
    p.set_defaults(func=run)


def _grid(args, sup, spectral_grid):
    if args.lambda_min is None and args.lambda_max is None:
        return spectral_grid(sup, args.points)
    lo = args.lambda_min if args.lambda_min is not None else 0.5 * sup.intervals[0][0]
    hi = args.lambda_max if args.lambda_max is not None else 1.2 * sup.lambda_max
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError("--lambda-min must be below --lambda-max (both finite)")
    if args.points < 2:
        raise ValueError("--points must be >= 2")
    return np.geomspace(lo, hi, args.points) if lo > 0 and not args.linear_axis else np.linspace(lo, hi, args.points)


def run(args) -> int:
    from ..spectral import spectral_grid, spectrum, support
    model = model_from_args(args)
    t0 = time.perf_counter()
    sup = support(model)
    spec = spectrum(model, _grid(args, sup, spectral_grid))
    elapsed = time.perf_counter() - t0
    print(f"rfdiff spectrum  ψ_p={model.psi_p:g} ψ_n={model.psi_n:g} t={model.t:g} "
          f"activation={model.activation.name}  ({elapsed:.2f} s)")
    for loc, mass in sup.atoms:
        print(f"  atom  λ = {loc:.6g}   mass {mass:.6g}")
    for (lo, hi), mass in zip(sup.intervals, sup.masses):
        print(f"  bulk  [{lo:.6g}, {hi:.6g}]   mass {mass:.6g}")
    print(f"  total mass {sup.total_mass:.9f}; {spec.n_fallback} edge fallbacks; "
          f"max residual {spec.max_residual:.1e}")
    if args.json:
        payload = spec.to_dict()
        payload["support"] = sup.to_dict()
        write_json(args.json, payload)
    if args.plot:
        _plot(args, model, spec)
    return 0


def _plot(args, model, spec):
    from ..plotting import savefig
    from ..plotting.spectrum import plot_spectrum
    from ..simulate import gaussian_equivalent
    d = args.sim_d if args.sim_d is not None else int(max(10, min(200, 3000 / model.psi_p)))
    if d < 0:
        raise ValueError("--sim-d must be >= 0")
    ev = gaussian_equivalent(model, d, seed=args.seed).eigenvalues() if d > 0 else None
    ax = plot_spectrum(spec, eigenvalues=ev, log=not args.linear_axis)
    savefig(ax, args.plot)
    print(f"  wrote {args.plot}")
