"""The ``rfdiff`` command line.

Each sub-command lives in its own module ``rfdiff/cli/<name>.py`` exposing ``add_parser(subparsers)``
(which registers the sub-command and sets ``func=run``) and ``run(args) -> int``. Bad input anywhere
(a ``ValueError`` from the API, or an argument-parsing error) prints one line on stderr and exits 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .._io import write_json

__all__ = ["main", "add_model_arguments", "model_from_args", "write_json"]

COMMANDS = ("spectrum", "curves", "timescales", "phase", "simulate", "reproduce")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        sys.stderr.write(f"rfdiff: error: {message}\n")
        raise SystemExit(2)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_model_arguments(parser, *, scalar=True):
    """Add ``--psi-p --psi-n --t --activation --sigma-eigs --sigma-weights --sigma-mp`` to ``parser``."""
    if scalar:
        parser.add_argument("--psi-p", type=float, required=True, help="width ratio p/d")
        parser.add_argument("--psi-n", type=float, required=True, help="sample ratio n/d")
        parser.add_argument("--t", type=float, required=True, help="diffusion time t")
    parser.add_argument("--activation", default="tanh",
                        help="tanh (default), relu, erf, linear or sigmoid")
    parser.add_argument("--sigma-eigs", type=_floats, default=None,
                        help="eigenvalues of the data covariance Σ, comma-separated (default: Σ = I)")
    parser.add_argument("--sigma-weights", type=_floats, default=None,
                        help="fraction of the spectrum at each eigenvalue (default: equal)")
    parser.add_argument("--sigma-mp", type=_floats, default=None, metavar="RATIO[,SCALE]",
                        help="continuous Marchenko–Pastur Σ of ratio RATIO ≤ 1 and mean SCALE")


def data_from_args(args):
    """The data law described by the ``--sigma-*`` options."""
    from ..data import DiscreteSpectrum, Isotropic, MarchenkoPastur
    if args.sigma_mp is not None:
        if args.sigma_eigs is not None:
            raise ValueError("--sigma-mp and --sigma-eigs are exclusive")
        return MarchenkoPastur(*args.sigma_mp)
    if args.sigma_eigs is None:
        if args.sigma_weights is not None:
            raise ValueError("--sigma-weights needs --sigma-eigs")
        return Isotropic()
    weights = args.sigma_weights
    if weights is None:
        weights = [1.0 / len(args.sigma_eigs)] * len(args.sigma_eigs)
    return DiscreteSpectrum(args.sigma_eigs, weights)


def model_from_args(args, **overrides):
    """Build an :class:`rfdiff.RFModel` from parsed arguments (``overrides`` replace fields)."""
    from ..model import RFModel
    kw = dict(psi_p=getattr(args, "psi_p", None), psi_n=getattr(args, "psi_n", None),
              t=getattr(args, "t", None), activation=args.activation, data=data_from_args(args))
    kw.update(overrides)
    return RFModel(**kw)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rfdiff", description=(
        "Exact train/test dynamics of random-features diffusion score models: when they generalize, "
        "when they start to memorize."))
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"rfdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        sys.stderr.write(f"rfdiff {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rfdiff: interrupted\n")
        return 130
