"""What the sub-commands report: caught warnings, the status line and exit status, tables on stdout, and the
``--json``/``--csv``/``--npz`` files with their provenance."""
from __future__ import annotations

import contextlib
import sys
import warnings

import numpy as np

from ..outputs import provenance, write_csv, write_json, write_npz

__all__ = ["CaughtWarnings", "args_provenance", "collect_warnings", "exit_status", "finite_max", "model_summary",
           "print_table", "result_provenance", "status_line", "write_outputs"]


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
    from .. import ConvergenceWarning
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


def exit_status(status: str) -> int:
    """The exit status of a computation that ran: 1 if its ``status`` is ``"failed"``, else 0."""
    return 1 if status == "failed" else 0


def print_table(columns: dict, out=None) -> None:
    """Write ``columns`` (name → values, all of one length) as a table of aligned numbers on ``out`` (stdout)."""
    out = sys.stdout if out is None else out
    out.write(" ".join(f"{k:>14s}" for k in columns) + "\n")
    for row in zip(*columns.values()):
        out.write(" ".join(f"{v:14.7g}" for v in row) + "\n")


def model_summary(model) -> str:
    """One readable line naming a model: ``ψ_p=… ψ_n=… t=… m=… ω=… activation=… data: …`` (the data law in
    short; --json holds it whole)."""
    from ..plotting import data_label
    return (f"ψ_p={model.psi_p:g} ψ_n={model.psi_n:g} t={model.t:g} m={model.m:g} ω={model.weight_decay:g} "
            f"activation={model.activation.name} data: {data_label(model.data)}")


def finite_max(values) -> float:
    """Largest finite entry (NaN if none): a diagnostic that never warns on an all-NaN array."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")


def args_provenance(args, **extra) -> dict:
    """:func:`rfdiff.outputs.provenance` of a parsed command line (``args.argv`` set by :func:`rfdiff.cli.main`);
    with real data (``--data digits|patches|FILE``) also ``dataset``: its name, rows, d, normalisation and
    constant columns (:meth:`rfdiff.data.DataMatrix.describe`), and the binning."""
    matrix = getattr(args, "_data_matrix", None)
    if matrix is not None and "dataset" not in extra:
        extra["dataset"] = {**matrix.describe(), "bins": getattr(args, "bins", None)}
    return provenance(getattr(args, "argv", None), **extra)


def result_provenance(args, model, status, caught, *, curves=None, diagnostics=None, **extra) -> dict:
    """:func:`args_provenance` of a computed result: the model and the diagnostics — ``status``, the ``caught``
    warnings, for exact ``curves`` their contour nodes and largest quadrature error, and ``diagnostics``.

    Parameters
    ----------
    args : argparse.Namespace
    model : RFModel
    status : str
        The status of :func:`status_line`.
    caught : CaughtWarnings
    curves : rfdiff.LossCurves, optional
        Exact curves computed for the result.
    diagnostics : dict, optional
        Further solver diagnostics.
    **extra
        Further provenance entries (e.g. ``seeds``).
    """
    found = {"status": status, "warnings": list(caught)}
    if curves is not None:
        found.update(contour_nodes=curves.nodes, max_quad_error=finite_max(curves.quad_error))
    return args_provenance(args, model=model, diagnostics={**found, **(diagnostics or {})}, **extra)


def write_outputs(args, payload, prov, columns=None, extra_arrays=None) -> None:
    """Write the output files the command has and was asked for, each atomically and each carrying ``prov``:
    ``--json`` (``payload`` and ``"provenance"``), ``--csv`` (``columns``), ``--npz`` (``columns`` and
    ``extra_arrays``)."""
    if getattr(args, "json", None):
        write_json(args.json, {**payload, "provenance": prov})
    if getattr(args, "csv", None):
        write_csv(args.csv, columns, provenance=prov)
    if getattr(args, "npz", None):
        write_npz(args.npz, {**columns, **(extra_arrays or {})}, provenance=prov)
