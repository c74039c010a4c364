"""``rfdiff timescales``: generalization and memorization times, spectral timescales, scaling exponents."""
from __future__ import annotations

import sys

from .args import add_model_arguments, add_output_arguments, floats, model_from_args
from .report import collect_warnings, model_summary, exit_status, result_provenance, status_line, write_outputs

HELP = "τ_gen, τ_mem and the spectral timescales of every bulk of U"


def add_parser(subparsers):
    p = subparsers.add_parser("timescales", help=HELP, description=(
        "Generalization time τ_gen (minimum of the exact test loss) and memorization time τ_mem (first "
        "τ ≥ τ_gen where the test loss has risen by a fraction of its late rise), the spectral "
        "timescales ψ_p/(2Δ_t λ) of every bulk of U and the seed paper's ψ_p/(Δ_t λ_min)."))
    add_model_arguments(p)
    p.add_argument("--mem-fraction", type=float, default=0.1,
                   help="fraction of L_test(∞) − L_min defining τ_mem (default 0.1)")
    p.add_argument("--scaling", type=floats, default=None, metavar="PSI_N,...",
                   help="also fit local exponents d log τ / d log ψ_n over these ψ_n (≥ 3 values)")
    p.add_argument("--which", default="tau_mem",
                   help="timescale for --scaling (tau_gen, tau_mem, tau_seed, bulk0_mean, ...)")
    add_output_arguments(p, "write the result as JSON", table=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import scaling_exponents, timescales

    model = model_from_args(args)
    with collect_warnings("timescales") as caught:
        ts = timescales(model, mem_fraction=args.mem_fraction)
        fit = None
        if args.scaling is not None:
            fit = scaling_exponents(model, args.scaling, which=args.which, mem_fraction=args.mem_fraction)
    status, text = status_line([ts] + ([fit] if fit is not None else []), caught)
    out = sys.stdout
    out.write(f"# {model_summary(model)}\n# {ts.definition}\n# status {text}\n")
    for name, value in ts.by_name().items():
        out.write(f"{name:>12s} = {value:.6g}\n")
    payload = {**ts.to_dict(), "status": status}
    if fit is not None:
        out.write(f"# d log {fit.which} / d log psi_n\n{'psi_n':>10s} {fit.which:>14s} {'exponent':>9s}\n")
        for row in zip(fit.psi_n, fit.tau, fit.exponent):
            out.write(f"{row[0]:10.4g} {row[1]:14.6g} {row[2]:9.3f}\n")
        payload["scaling"] = fit.to_dict()
    write_outputs(args, payload, result_provenance(args, model, status, caught))
    return exit_status(status)
