"""``rfdiff reproduce``: regenerate every figure of the README gallery (PNG and PDF) and its manifest."""
from __future__ import annotations

import sys

from .args import output_dir

HELP = "regenerate the paper's theory figures and rfdiff's own (PNG + PDF + manifest.json)"


def add_parser(subparsers):
    p = subparsers.add_parser("reproduce", help=HELP, description=(
        "Regenerate the figures: U's spectrum over simulated histograms (isotropic and two-atom Σ), "
        "train/test/score-error curves and their τ/ψ_n collapse, the minimal score error against ψ_n with a "
        "fitted exponent, τ_gen and τ_mem against ψ_n with simulation points, the (ψ_p, ψ_n) and (ψ_n, τ) "
        "phase diagrams and the per-bulk decomposition of the loss. Writes NAME.png, NAME.pdf and "
        "manifest.json (figure name → files, caption, models, seeds, solver diagnostics; '_run': settings, "
        "timings and provenance) into --out."))
    p.add_argument("--out", required=True, metavar="DIR", type=output_dir("--out directory"),
                   help="output directory (created if missing)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the simulations (multi-seed points use SEED, SEED+1, ...; default 0)")
    p.add_argument("--quick", action="store_true",
                   help="smaller grids and simulations (about 75 s on 2 idle cores; the full run takes about 10 min)")
    p.add_argument("--only", default=None, metavar="GROUP,...",
                   help="comma-separated subset of spectra, curves, sweeps, decomposition, beyond (finite m, "
                        "weight decay, kernel limit), mixtures (Gaussian-mixture data), realdata (digits and "
                        "image patches: theory vs Gaussian surrogate vs real rows, τ_mem against n; needs rfdiff[data]), samples "
                        "(generated samples)")
    p.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="executor of the parameter sweeps (default local processes)")
    p.add_argument("--workers", type=int, default=None, help="processes / dask workers for the sweeps")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import Execution
    from ..reproduce import reproduce

    figures = None if args.only is None else [g.strip() for g in args.only.split(",") if g.strip()]
    manifest = reproduce(args.out, quick=args.quick, execution=Execution(args.executor, workers=args.workers),
                         figures=figures, seed=args.seed, argv=args.argv)
    for name, entry in manifest.items():
        if not name.startswith("_"):
            sys.stdout.write(f"{name}: {', '.join(entry['files'])}\n")
    sys.stdout.write(f"# seconds per group: {manifest['_run']['seconds']}\n")
    return 0
