"""Comparison helpers and named tolerances shared by the tests.

Every tolerance below names the one error it allows; a check that needs a different allowance states its
own next to the assertion. ``rel_error`` is the relative 2-norm (Frobenius for matrices) used by every
"whole curve" or "whole matrix" comparison of the suite.
"""
from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------- tolerances

#: Finite size, Gaussian-equivalent sample vs the d → ∞ curves (relative norm, in units of 1/d): measured
#: ≤ 0.6/d for train and test over every case of tests/test_curves.py at d ≈ 100 (docs/theory.md §8).
FINITE_SIZE_LOSS_PER_D = 2.0
#: Finite size, as above for the score error, measured ≤ 1.3/d.
FINITE_SIZE_SCORE_PER_D = 4.0
#: Central finite difference of A(τ) with step h = 1e-4: truncation O(h²) plus rounding O(ε/h)
#: (measured 8e-11 relative in tests/test_random_features.py).
FINITE_DIFFERENCE = 1e-6
#: Rounding only: the same float64 quantity by two routes, one of them an eigendecomposition (eigh's
#: backward error ~1e-15, amplified by the conditioning and accumulated over the steps of explicit GD).
ROUNDING_EIGH = 1e-11
#: Model difference, not an error of either code path: a Marchenko–Pastur Σ of ratio 1e-4 is Σ = I up to
#: O(ratio) = 1e-4 in the curves.
MP_SMALL_RATIO = 1e-3


# ----------------------------------------------------------------------------------------- comparisons

def rel_error(actual, expected) -> float:
    """``‖actual − expected‖₂ / ‖expected‖₂`` over all entries (Frobenius norm for matrices).

    Raises ``ValueError`` when the shapes differ or the reference is zero (a relative error is then
    meaningless and a silent ``inf``/``nan`` would hide the mistake).
    """
    a = np.asarray(actual)
    b = np.asarray(expected)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    scale = np.linalg.norm(b)
    if not scale > 0:
        raise ValueError("relative error against a zero (or NaN) reference")
    return float(np.linalg.norm(a - b) / scale)


def max_rel_error(actual, expected) -> float:
    """Largest entrywise ``|actual − expected| / |expected|``."""
    a = np.asarray(actual, dtype=float)
    b = np.asarray(expected, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b) / np.abs(b)))


def assert_rel_close(actual, expected, tol, what) -> float:
    """Assert ``rel_error(actual, expected) < tol``; the message names ``what``, the error found and ``tol``.

    Returns the relative error (a NaN error fails the assertion).
    """
    err = rel_error(actual, expected)
    assert err < tol, f"{what}: ‖actual − expected‖/‖expected‖ = {err:.3g}, tolerance {tol:.3g}"
    return err


# ----------------------------------------------------------------------------------------- figures

def labelled_lines(ax) -> dict:
    """``{label: Line2D}`` of the labelled lines on the figure holding ``ax`` (twin axes included)."""
    out = {}
    for a in ax.figure.axes:
        for line in a.get_lines():
            label = line.get_label()
            if not label.startswith("_"):
                assert label not in out, f"two lines labelled {label!r}"
                out[label] = line
    return out


def vertical_lines(ax) -> list:
    """Sorted x positions of the unlabelled vertical lines (``axvline``) on ``ax``."""
    xs = []
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), dtype=float)
        if line.get_label().startswith("_") and x.size == 2 and x[0] == x[1]:
            xs.append(float(x[0]))
    return sorted(xs)


def finite_positive(tau):
    """Mask of the τ values a log-τ axis can draw."""
    tau = np.asarray(tau, dtype=float)
    return np.isfinite(tau) & (tau > 0)


# ----------------------------------------------------------------------------------------- command line

def cli(argv) -> int:
    """Exit status of ``rfdiff ARGV`` run in this process: what :func:`rfdiff.cli.main` returns, or the status
    of the ``SystemExit`` its argument parser raises (bad option values, ``--help``)."""
    from rfdiff.cli import main
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def one_error_line(err: str, *words) -> str:
    """Assert that ``err`` (captured stderr) is one line, no traceback, holding each of ``words``; returns it."""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def summary_values(line: str) -> dict:
    """``{name: float}`` of the ``name = value`` pairs of a summary line (``# tau_gen = 1.5  tau_mem = inf``)."""
    import re
    return {name: float(value) for name, value in re.findall(r"([\w()|]+) = ([-+.\w]+)", line)}
