"""Arguments shared by the sub-commands: value types checked at parse time, the model and output options, and
the objects built from them.

Only what is the command line's own is checked here (file paths, option combinations, the values of options
that exist only on the command line, such as ``--points``); every model or library parameter goes to the
library unchecked, whose ``ValueError`` names it and reaches the user as the one error line.

Deprecated spellings (``--noise`` for ``--m``, ``exact`` for ``inf``, ``--method exact`` for ``features``)
still work and print one ``rfdiff COMMAND: note: … is deprecated, use …`` line on stderr.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

import numpy as np

from ..outputs import check_writable

__all__ = ["CLOSED_FORMS", "PLOT_SUFFIXES", "SIMULATORS", "add_model_arguments", "add_output_arguments",
           "add_tau_arguments", "closed_form", "data_from_args", "data_matrix_from_args", "draws", "real_dimension",
           "real_split", "figure_file", "floats", "integer", "largest_dimension", "number_list",
           "model_fields", "model_from_args", "output_dir", "output_file", "positive", "renamed", "tau_grid"]

#: Figure formats accepted by every ``--plot``-like option.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")

#: The finite-size simulators by their one name on the command line (``rfdiff simulate --method``,
#: ``rfdiff curves --sim-method``), with their label in figure titles: the true random features and the
#: Gaussian-equivalent matrices (closed-form flows), explicit GD and Adam training.
SIMULATORS = {"features": "true features", "gaussian": "Gaussian equivalent", "gd": "GD", "adam": "Adam"}
#: The simulators whose gradient flow is in closed form.
CLOSED_FORMS = ("features", "gaussian")


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


#: argparse ``type`` of every figure option (``--plot`` and the like).
figure_file = output_file("figure", PLOT_SUFFIXES)


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


def number_list(what: str = "numbers"):
    """argparse ``type`` of comma-separated numbers; the error says they should be comma-separated ``what``."""
    def parse(text: str) -> list[float]:
        try:
            return [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
    parse.__name__ = what
    return parse


#: argparse ``type``: comma-separated numbers.
floats = number_list()


def _count(text: str, low: int, expected: str) -> int:
    """``int(text)`` if it is an integer ≥ ``low``; else an ``ArgumentTypeError`` saying what was ``expected``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def integer(low: int, words=()):
    """argparse ``type`` of a command-line count: an integer ≥ ``low``, or one of ``words`` (returned as is)."""
    choices = [f"an integer >= {low}", *map(repr, words)]
    expected = " or ".join([", ".join(choices[:-1]), choices[-1]]) if words else choices[0]

    def check(text: str):
        return text if text in words else _count(text, low, expected)
    return check


def positive(text: str) -> float:
    """argparse ``type``: a finite number > 0 (a time, a grid value)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _deprecated(prog: str, old: str, new: str) -> None:
    sys.stderr.write(f"{prog}: note: {old} is deprecated, use {new}\n")


def renamed(prog: str, option: str, old_values: dict):
    """argparse ``type`` of an option some of whose values have new spellings: ``old_values`` maps each old
    spelling to its new one, which is returned after one note on stderr (``prog``: the sub-command's)."""
    def convert(text: str) -> str:
        if text in old_values:
            _deprecated(prog, f"{option} {text}", f"{option} {old_values[text]}")
            return old_values[text]
        return text
    return convert


def draws(prog: str, option: str = "--m"):
    """argparse ``type`` of ``--m`` (noise draws per training point): ``inf`` (the exact noise average) or an
    integer ≥ 1. The deprecated spellings, the value ``exact`` for ``inf`` and the option ``--noise`` for
    ``--m``, work with one note on stderr."""
    def convert(text: str):
        word = text.strip().lower()
        value = math.inf if word in ("inf", "infinity", "exact") else _count(text, 1, "an integer >= 1 or 'inf'")
        if option != "--m" or word == "exact":
            _deprecated(prog, f"{option} {text}", f"--m {'inf' if word == 'exact' else text}")
        return value
    return convert


def add_model_arguments(parser, *, scalar=True, noise_alias=False):
    """Add the model options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A sub-command's parser.
    scalar : bool
        Also add ``--psi-p --psi-n --t`` as single numbers (``phase`` adds its own axes).
    noise_alias : bool
        Also accept ``--noise``, the deprecated spelling of ``--m``.
    """
    if scalar:
        parser.add_argument("--psi-p", type=float, required=True, help="width ratio p/d")
        parser.add_argument("--psi-n", type=float, required=True, help="sample ratio n/d")
        parser.add_argument("--t", type=float, required=True, help="diffusion time t")
    parser.add_argument("--activation", default="tanh",
                        help="tanh (default), relu, erf, linear or sigmoid")
    parser.add_argument("--sigma-eigs", type=floats, default=None,
                        help="eigenvalues of the data covariance Σ, comma-separated (default: Σ = I)")
    parser.add_argument("--sigma-weights", type=floats, default=None,
                        help="fraction of the spectrum at each eigenvalue (default: equal)")
    parser.add_argument("--sigma-mp", type=floats, default=None, metavar="RATIO[,SCALE]",
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
    parser.add_argument("--m", type=draws(parser.prog), default=None, metavar="M|inf",
                        help="noise draws per training point, frozen for the whole training (default inf: "
                             "the noise averaged exactly)")
    if noise_alias:
        parser.add_argument("--noise", type=draws(parser.prog, "--noise"), default=None, metavar="M|inf",
                            help="deprecated spelling of --m")
    parser.add_argument("--weight-decay", type=float, default=0.0, metavar="OMEGA",
                        help="weight decay ω ≥ 0: the penalty ω Δ_t ‖A‖²/(p d) on the training loss, so the "
                             "flow sees U + ω I (default 0)")


def add_output_arguments(parser, json_help: str, *, table=True):
    """``--json PATH`` and, with ``table``, ``--csv PATH`` and ``--npz PATH`` (all checked before computing)."""
    parser.add_argument("--json", metavar="PATH", type=output_file("JSON file"), help=json_help)
    if table:
        parser.add_argument("--csv", metavar="PATH", type=output_file("CSV file"),
                            help="write the columns as CSV; the first line is a '# rfdiff {...}' comment "
                                 "holding the provenance as JSON")
        parser.add_argument("--npz", metavar="PATH", type=output_file("npz file", (".npz",)),
                            help="write the arrays as .npz, with a 'provenance' entry (a JSON string)")


def data_matrix_from_args(args):
    """The :class:`rfdiff.data.DataMatrix` of a real-data ``--data`` (None otherwise), loaded once per command
    line; :func:`rfdiff.cli.report.args_provenance` records its description in every output."""
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


def real_dimension(args):
    """Real data: the :class:`rfdiff.data.DataMatrix` of ``--data``, with ``args.d`` set to its number of columns
    (a different ``--d`` refused); None without real data (then ``--d`` is required)."""
    data = data_matrix_from_args(args)
    if data is None:
        if args.d is None:
            raise ValueError("--d is required (unless --data is real data, whose d is its number of columns)")
        return None
    if args.d is not None and args.d != data.d:
        raise ValueError(f"--d {args.d} differs from the {data.d} columns of {data.name} (leave --d out)")
    args.d = data.d
    return data


def real_split(args, model, data, max_test=None):
    """The split of ``--seed`` of real ``data``: n = round(ψ_n d) training rows and ``--n-test`` held-out rows
    (default all the others, at most ``max_test``), refused before computing when the rows do not suffice (the
    message gives the rows there are and the largest ``--psi-n``)."""
    from ..simulate import problem_sizes
    n = problem_sizes(model, data.d)[1]
    held = 2 if args.n_test is None else args.n_test
    if n + held > data.n_rows:
        most = data.n_rows - held
        largest = (f"the largest --psi-n is {most}/{data.d} = {most / data.d:.6g} (n = {most})" if most >= 1 else
                   "no --psi-n leaves them")
        wanted = "at least 2 held-out rows" if args.n_test is None else f"n_test = {held} held-out rows"
        raise ValueError(f"{data.name} has {data.n_rows} rows: too few for n = {n} training rows and {wanted} "
                         f"(n = round(psi_n d), d = {data.d}); {largest}")
    n_test = args.n_test
    if n_test is None:
        n_test = data.n_rows - n if max_test is None else min(data.n_rows - n, max_test)
    return data.split(n, n_test, seed=args.seed)


def data_from_args(args):
    """The data law described by ``--data`` or the ``--sigma-*`` options (real data: its sample spectrum, a poor
    estimate (N ≲ d) one warning line on stderr)."""
    from ..data import DiscreteSpectrum, Isotropic, MarchenkoPastur, law_from_text
    if args.data is None:
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


def _draws_from_args(args):
    """The model's m: ``--m`` or its deprecated spelling ``--noise`` (both given, they must agree); default inf."""
    m, noise = args.m, getattr(args, "noise", None)
    if noise is not None:
        if m is not None and m != noise:
            raise ValueError(f"--noise {noise:g} and --m {m:g} disagree (--noise is the deprecated spelling of --m)")
        m = noise
    return math.inf if m is None else m


def model_fields(args) -> dict:
    """The model fields other than ψ_p, ψ_n, t: ``activation``, ``data``, ``m`` and ``weight_decay``."""
    return {"activation": args.activation, "data": data_from_args(args), "m": _draws_from_args(args),
            "weight_decay": args.weight_decay}


def model_from_args(args):
    """The :class:`rfdiff.RFModel` of the parsed model options (the model validates every field)."""
    from .. import RFModel
    return RFModel(psi_p=args.psi_p, psi_n=args.psi_n, t=args.t, **model_fields(args))


def add_tau_arguments(parser, points: int, *, tau_min_help: str, tau_max_help: str, points_help: str):
    """``--tau-min``, ``--tau-max`` (finite, > 0; default None: the theory's window) and ``--points`` (≥ 2, default
    ``points``): the training times of :func:`tau_grid`."""
    parser.add_argument("--tau-min", type=positive, default=None, help=tau_min_help)
    parser.add_argument("--tau-max", type=positive, default=None, help=tau_max_help)
    parser.add_argument("--points", type=integer(2), default=points, help=points_help)


def tau_grid(args, window):
    """``--points`` log-spaced training times from ``--tau-min`` to ``--tau-max``, then τ = ∞.

    Parameters
    ----------
    args : argparse.Namespace
        With ``tau_min``, ``tau_max`` (None: the end of ``window``) and ``points``.
    window : tuple of float
        The default range, e.g. :meth:`rfdiff.LearningDynamics.tau_window`.
    """
    lo = window[0] if args.tau_min is None else args.tau_min
    hi = window[1] if args.tau_max is None else args.tau_max
    if hi <= lo:
        raise ValueError(f"--tau-max must be > --tau-min ({lo:g}), got {hi:g}")
    return np.append(np.geomspace(lo, hi, args.points), np.inf)


def largest_dimension(model, largest: int, max_size: float = float("inf")):
    """The largest d ≤ ``largest`` at which a simulation is of ``model`` (:func:`rfdiff.simulate.problem_sizes`
    accepts it: p and n within ``SIZE_RTOL`` of ψ d) with p, n ≤ ``max_size``; None if there is none."""
    from ..simulate import problem_sizes
    for d in range(int(largest), 0, -1):
        try:
            sizes = problem_sizes(model, d)
        except ValueError:
            continue
        if max(sizes) <= max_size:
            return d
    return None


def closed_form(method: str, model, d: int, seed: int):
    """The finite-size sample of ``model`` at dimension ``d`` by the closed-form simulator ``method`` (one of
    :data:`CLOSED_FORMS`), with the model's m and weight decay."""
    from ..simulate import gaussian_equivalent, random_features
    return (random_features if method == "features" else gaussian_equivalent)(model, d, seed=seed)
