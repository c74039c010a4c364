"""The ``rfdiff`` command line.

Each sub-command lives in its own module ``rfdiff/cli/<name>.py`` exposing ``add_parser(subparsers)``
(which registers the sub-command and sets ``func=run``) and ``run(args) -> int``; the modules import the
theory and the simulators inside ``run`` only, so ``rfdiff --help`` stays fast.

Exit status (:data:`EPILOG`): 0 success; 1 the computation ran but part of it failed or did not converge
(the summary line says what); 2 bad input, or any error the input caused — one line on stderr, never a
traceback (set ``RFDIFF_DEBUG=1`` to see the traceback). Output paths are checked before any computation
(:func:`output_file`, :func:`output_dir`), sizes that cannot fit in memory are refused up front
(:func:`check_memory`), and negative numbers are accepted as option values (:func:`_join_negative_values`).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import re
import sys
import traceback
import warnings

from ..outputs import check_writable, provenance, write_json

__all__ = [
    "DEBUG_ENV",
    "EPILOG",
    "PLOT_SUFFIXES",
    "add_model_arguments",
    "add_output_arguments",
    "args_provenance",
    "build_parser",
    "check_memory",
    "check_simulation_memory",
    "collect_warnings",
    "data_from_args",
    "data_matrix_from_args",
    "main",
    "model_from_args",
    "output_dir",
    "output_file",
    "status_line",
    "write_json",
    "write_table_outputs",
]

COMMANDS = ("spectrum", "curves", "timescales", "phase", "simulate", "realdata", "reproduce")

#: Figure formats accepted by every ``--plot``-like option.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")

#: Environment variable that turns the one-line error messages back into tracebacks.
DEBUG_ENV = "RFDIFF_DEBUG"

EPILOG = ("exit status: 0 success; 1 the computation ran but part of it failed or did not converge (the "
          "summary line counts what); 2 bad input or an error it caused (one line on stderr); 130 interrupted; "
          f"141 stdout closed by its reader (| head). Set {DEBUG_ENV}=1 to get the full traceback of an error "
          "instead of one line. Negative numbers are accepted as option values (--sigma-eigs -0.5,1.5).")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        sys.stderr.write(f"rfdiff: error: {message}\n")
        raise SystemExit(2)


def output_file(what: str, suffixes=None):
    """argparse ``type`` of an output file: checked writable (and its suffix) at parse time, before computing.

    Parameters
    ----------
    what : str
        Kind of file, used in the message (e.g. ``"figure"``).
    suffixes : sequence of str, optional
        Allowed endings (e.g. :data:`PLOT_SUFFIXES`).
    """
    def check(text: str) -> str:
        try:
            return check_writable(text, what, suffixes)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    check.__name__ = what
    return check


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def output_dir(what: str = "directory"):
    """argparse ``type`` of an output directory (created if missing): checked writable at parse time."""
    def check(text: str) -> str:
        path = os.path.abspath(text)
        if os.path.exists(path) and not os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{what} {text!r} exists and is not a directory")
        base = _nearest_existing(path)
        if not os.path.isdir(base):
            raise argparse.ArgumentTypeError(f"{what} {text!r}: {base!r} is not a directory")
        if not os.access(base, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not writable ({base!r} is read-only)")
        return text
    check.__name__ = what
    return check


def _format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (``None`` if the platform does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platform dependent
        return None


def check_memory(nbytes: float, what: str) -> None:
    """Refuse a request whose dominant arrays would not fit in this machine's physical memory.

    Parameters
    ----------
    nbytes : float
        Estimated bytes of the dominant arrays.
    what : str
        The request and the arrays, e.g. ``"--points 1e8 (τ × contour-node arrays)"``.

    Raises
    ------
    ValueError
        Naming the estimate and the memory available.
    """
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ValueError(f"{what} needs about {_format_bytes(nbytes)} of memory; this machine has "
                         f"{_format_bytes(total)}: ask for less")


class CaughtWarnings(list):
    """The messages of the ``RuntimeWarning``s caught by :func:`collect_warnings`; ``not_converged`` counts those
    of category :class:`rfdiff.results.ConvergenceWarning` (some part of a result did not converge)."""

    not_converged = 0


@contextlib.contextmanager
def collect_warnings(command: str):
    """Catch ``RuntimeWarning``s (e.g. a contour rule not converged): one stderr line each, and a list.

    Yields a :class:`CaughtWarnings`; the command counts its ``not_converged`` in its status line. Other
    warnings pass through unchanged.
    """
    from ..results import ConvergenceWarning
    caught, others = CaughtWarnings(), []
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always", RuntimeWarning)
            try:
                yield caught
            finally:
                for w in list(records):
                    if issubclass(w.category, RuntimeWarning):
                        message = " ".join(str(w.message).split())
                        caught.append(message)
                        caught.not_converged += issubclass(w.category, ConvergenceWarning)
                        sys.stderr.write(f"rfdiff {command}: warning: {message}\n")
                    else:
                        others.append(w)
    finally:
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def status_line(results=(), warnings_caught=()):
    """``(status, text)``: the worst ``status`` among ``results`` (anything with ``.status``/``.message``),
    made ``"failed"`` by caught :class:`~rfdiff.results.ConvergenceWarning`s (other warnings are only
    printed), and a one-line summary."""
    from ..results import worst_status
    statuses, messages = [], []
    for r in results:
        s = getattr(r, "status", None)
        if s is not None:
            statuses.append(s)
            if s != "ok" and getattr(r, "message", ""):
                messages.append(r.message)
    unconverged = getattr(warnings_caught, "not_converged", 0)
    if unconverged:
        statuses.append("failed")
        messages.append(f"{unconverged} not converged")
    status = worst_status(*statuses)
    return status, status + (f" ({'; '.join(messages)})" if messages else "")


#: Complex (τ × contour node) arrays alive at once while evaluating exact curves (weights, products, parts).
ARRAYS_PER_TAU_NODE = 12
#: Fewest contour nodes a model can have (16 per ellipse): the estimate before the contour is built.
MIN_NODES = 16


def curves_bytes(points: int, nodes: int = MIN_NODES) -> float:
    """Estimated bytes of evaluating exact curves at ``points`` training times with ``nodes`` contour nodes."""
    return 16.0 * ARRAYS_PER_TAU_NODE * (points + 1) * nodes


def simulation_bytes(model, d: int) -> float:
    """Estimated bytes of a finite-size simulation at dimension ``d``: its p × p float64 matrices (U, V and
    their population counterparts, an eigendecomposition) and the p × (d + n) features, p = ψ_p d, n = ψ_n d."""
    p, n = max(1.0, model.psi_p * d), max(1.0, model.psi_n * d)
    return 8.0 * (5 * p * p + 2 * p * (d + n) + d * n)


def check_simulation_memory(model, d: int, option: str = "--d") -> None:
    """:func:`check_memory` of a simulation at dimension ``d`` (p × p float64 matrices)."""
    p = round(model.psi_p * d)
    check_memory(simulation_bytes(model, d), f"{option} {d} (p = ψ_p d = {p}: p × p float64 matrices)")


def write_table_outputs(args, *, payload, columns, prov, extra_arrays=None) -> None:
    """Write ``--json`` (``payload`` + ``"provenance"``), ``--csv`` (``columns``) and ``--npz`` (``columns`` and
    ``extra_arrays``), each atomically and each carrying ``prov``, for the options the command has."""
    from ..outputs import write_csv, write_npz
    if getattr(args, "json", None):
        write_json(args.json, {**payload, "provenance": prov})
    if getattr(args, "csv", None):
        write_csv(args.csv, columns, provenance=prov)
    if getattr(args, "npz", None):
        write_npz(args.npz, {**columns, **(extra_arrays or {})}, provenance=prov)


def add_output_arguments(parser, json_help: str, *, table=True):
    """``--json PATH`` and, with ``table``, ``--csv PATH`` and ``--npz PATH`` (all checked before computing)."""
    parser.add_argument("--json", metavar="PATH", type=output_file("JSON file"), help=json_help)
    if table:
        parser.add_argument("--csv", metavar="PATH", type=output_file("CSV file"),
                            help="write the columns as CSV; the first line is a '# rfdiff {...}' comment "
                                 "holding the provenance as JSON")
        parser.add_argument("--npz", metavar="PATH", type=output_file("npz file", (".npz",)),
                            help="write the arrays as .npz, with a 'provenance' entry (a JSON string)")


def finite_max(values) -> float:
    """Largest finite entry (NaN if none): a diagnostic that never warns on an all-NaN array."""
    import numpy as np
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def args_provenance(args, **extra) -> dict:
    """:func:`rfdiff.outputs.provenance` of a parsed command line (``args.argv`` set by :func:`main`); with real data
    (``--data digits|patches|FILE``) also ``dataset``: its name, rows, d, normalisation and constant columns
    (:meth:`rfdiff.data.DataMatrix.describe`), and the binning."""
    matrix = getattr(args, "_data_matrix", None)
    if matrix is not None and "dataset" not in extra:
        extra["dataset"] = {**matrix.describe(), "bins": getattr(args, "bins", None)}
    return provenance(getattr(args, "argv", None), **extra)


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
    parser.add_argument("--data", default=None, metavar="SPEC",
                        help="data law as a spec: a .json or .toml file, inline JSON, or the shorthand "
                             "mixture:W1@S1,W2@S2 (isotropic classes of weight W and variance S), e.g. "
                             "mixture:0.9@0.5,0.1@2 (see rfdiff.data.law_from_spec); or real data: a bundled "
                             "dataset (digits, patches; needs rfdiff[data]) or a data matrix file .npy, .npz "
                             "(array X, labels y) or .csv, rows = samples, whose law is the sample spectrum after "
                             "centring and one scale Tr Σ/d = 1 (docs/theory.md §14); excludes --sigma-*")
    parser.add_argument("--bins", type=int, default=None, metavar="K",
                        help="real data: group the sample spectrum into K equal-count atoms (default: every "
                             "eigenvalue its own atom)")
    parser.add_argument("--constant-columns", choices=("keep", "drop", "error"), default="keep",
                        help="real data: zero-variance columns are kept as zero directions of Σ (an atom at 0; "
                             "default), dropped, or an error")
    parser.add_argument("--m", type=draws, default=None, metavar="M|inf",
                        help="noise draws per training point, frozen for the whole training (default inf: "
                             "the noise averaged exactly)")
    parser.add_argument("--weight-decay", type=float, default=0.0, metavar="OMEGA",
                        help="weight decay ω ≥ 0: the penalty ω Δ_t ‖A‖²/(p d) on the training loss, so the "
                             "flow sees U + ω I (default 0)")


def draws(text: str):
    """``inf`` (or ``exact``: the exact noise average) or an integer ≥ 1 (argparse type of ``--m``)."""
    if text.strip().lower() in ("inf", "infinity", "exact"):
        return math.inf
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'inf', got {text!r}")
    return value


def data_matrix_from_args(args):
    """The :class:`rfdiff.data.DataMatrix` of a real-data ``--data`` (None otherwise), loaded once per command
    line; its description goes into every provenance record (:func:`args_provenance`). A poor covariance
    estimate (N ≲ d) is one warning line on stderr."""
    from ..data.spec import data_from_text, is_data_source
    text = getattr(args, "data", None)
    if text is None or not is_data_source(text):
        if getattr(args, "bins", None) is not None or getattr(args, "constant_columns", "keep") != "keep":
            raise ValueError("--bins and --constant-columns apply only to real data (--data digits, patches or a "
                             ".npy/.npz/.csv file)")
        return None
    if getattr(args, "_data_matrix", None) is None:
        args._data_matrix = data_from_text(text, constant_columns=args.constant_columns)
    return args._data_matrix


def data_from_args(args):
    """The data law described by ``--data`` or the ``--sigma-*`` options."""
    from ..data import DiscreteSpectrum, Isotropic, MarchenkoPastur, law_from_text
    if getattr(args, "data", None) is None:
        data_matrix_from_args(args)          # refuses --bins/--constant-columns without real data
    else:
        if args.sigma_mp is not None or args.sigma_eigs is not None or args.sigma_weights is not None:
            raise ValueError("--data and --sigma-* are exclusive")
        matrix = data_matrix_from_args(args)
        if matrix is not None:
            if args.bins is not None and args.bins < 1:
                raise ValueError(f"--bins must be >= 1, got {args.bins}")
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always", RuntimeWarning)
                law = matrix.law(args.bins)
            for w in records:
                sys.stderr.write(f"rfdiff {args.command}: warning: {' '.join(str(w.message).split())}\n")
            return law
        return law_from_text(args.data)
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
              t=getattr(args, "t", None), activation=args.activation, data=data_from_args(args),
              m=math.inf if args.m is None else args.m, weight_decay=args.weight_decay)
    kw.update(overrides)
    return RFModel(**kw)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rfdiff", description=(
        "Exact train/test dynamics of random-features diffusion score models: when they generalize, "
        "when they start to memorize."), epilog=EPILOG)
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


_NUMBER_LIST = re.compile(r"^-(\d|\.\d|inf|nan)[\w.+\-,:]*$", re.IGNORECASE)


def _join_negative_values(argv):
    """``["--sigma-eigs", "-0.5,1.5"]`` → ``["--sigma-eigs=-0.5,1.5"]``.

    argparse reads a token such as ``-0.5,1.5`` (not a plain negative number) as an option; joined to
    the preceding long option with ``=``, it reaches that option's type (which validates it).
    """
    out = []
    for token in argv:
        if (out and _NUMBER_LIST.match(token) and out[-1].startswith("--") and "=" not in out[-1]
                and len(out[-1]) > 2):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _user_errors():
    """Exceptions the input can cause: bad values, a solver that cannot verify, files, memory, missing extras."""
    from ..results import SolverError
    return ValueError, OSError, MemoryError, ImportError, OverflowError, SolverError


def main(argv=None) -> int:
    """Run the command line (``argv`` default ``sys.argv[1:]``); returns the exit status (:data:`EPILOG`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(argv))
    args.argv = ["rfdiff", *argv]
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("rfdiff: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`rfdiff ... | head`): stop quietly, like SIGPIPE
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback on request
        if debug:
            traceback.print_exc()
        if isinstance(exc, _user_errors()):
            name = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
            sys.stderr.write(f"rfdiff {args.command}: error: {name}{_one_line(exc)}\n")
        else:
            sys.stderr.write(f"rfdiff {args.command}: internal error ({type(exc).__name__}: {_one_line(exc)}); "
                             f"please report it with the output of {DEBUG_ENV}=1 rfdiff ...\n")
        return 2
