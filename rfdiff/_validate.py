"""Argument checks shared by every public function: bad input raises ``ValueError`` naming the parameter.

Each check returns the value converted to its canonical type, so callers write
``x = positive("x", x)`` once at the boundary and trust ``x`` afterwards.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["real", "positive", "nonnegative_number", "in_range", "integer", "choice", "draws", "noise_draws",
           "taus", "nonnegative", "increasing_axis", "draws_axis", "decay_axis", "optional_bool", "options_object",
           "data_rows", "row_pair", "labels_for", "diffusion_times", "physical_memory", "format_bytes", "memory"]


def _number(name: str, value) -> float:
    """``float(value)`` for a real number (not a string or bool; NaN and ±inf pass)."""
    if isinstance(value, (str, bool)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None


def real(name: str, value) -> float:
    """``float(value)`` for a finite real number (not a string or bool)."""
    value = _number(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def positive(name: str, value) -> float:
    """``float(value)`` if it is a finite real number > 0."""
    value = _number(name, value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def nonnegative_number(name: str, value) -> float:
    """``float(value)`` if it is a finite real number ≥ 0."""
    value = _number(name, value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def in_range(name: str, value, low, high, *, closed=(False, False)) -> float:
    """``float(value)`` if it lies in the interval from ``low`` to ``high`` (open unless ``closed`` says)."""
    value = real(name, value)
    lo_ok = value >= low if closed[0] else value > low
    hi_ok = value <= high if closed[1] else value < high
    if not (lo_ok and hi_ok):
        interval = f"{'[' if closed[0] else '('}{low:g}, {high:g}{']' if closed[1] else ')'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def integer(name: str, value, low=None, high=None) -> int:
    """``int(value)`` for an integer (not a bool or float) within ``[low, high]`` (either may be None)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f">= {low}" if high is None else (f"<= {high}" if low is None else f"in [{low}, {high}]")
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def choice(name: str, value, options):
    """``value`` if it is one of ``options``."""
    if isinstance(value, str) and value in options:
        return value
    raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


def count_or_word(name: str, value, word: str):
    """The string ``word`` (e.g. ``"exact"``) or an integer ≥ 1 (a number of draws)."""
    if isinstance(value, str):
        if value != word:
            raise ValueError(f'{name} must be "{word}" or an integer >= 1, got {value!r}')
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{name} must be "{word}" or an integer >= 1, got {value!r}')
    return int(value)


def draws(name: str, value):
    """Noise draws per training point: ``math.inf`` (exact noise averages) or an integer ≥ 1 (as int; an
    integral float such as 2.0 from a numpy grid is accepted)."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        if math.isinf(value) and value > 0:
            return math.inf
        if math.isfinite(value) and float(value).is_integer():
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1 or math.inf (exact noise averages), got {value!r}")
    return int(value)


def noise_draws(name: str, value):
    """The number of noise draws m given by a deprecated ``noise=`` argument: ``"exact"`` (or ``"fresh"``,
    fresh noise at every training step, whose average it is) means ``math.inf``; an integer ≥ 1 means m
    frozen draws. Warns that ``noise=`` is deprecated in favour of the model's ``m``."""
    warnings.warn(f"{name}= is deprecated: give the model's m instead (model.replace(m=...); math.inf for exact "
                  f"noise averages)", DeprecationWarning, stacklevel=3)
    if value in ("exact", "fresh"):
        return math.inf
    return draws(name, value)


def taus(value) -> np.ndarray:
    """Training times: a scalar or 1-D array of floats ≥ 0 (``inf`` allowed, NaN not), as a 1-D array."""
    tau = np.atleast_1d(_floats("taus", value, "real numbers"))
    if tau.ndim != 1:
        raise ValueError(f"taus must be a scalar or a 1-D array, got shape {tau.shape}")
    if np.any(np.isnan(tau)) or np.any(tau < 0):
        raise ValueError("taus must be >= 0 (np.inf allowed) and not NaN")
    return tau


def _floats(name: str, value, what: str) -> np.ndarray:
    """``np.asarray(value, dtype=float)``, or ValueError naming ``name`` and saying it must be ``what``."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None


def nonnegative(name: str, value) -> np.ndarray:
    """An array of counts or times ≥ 0 (``inf`` allowed, NaN not), any shape."""
    arr = _floats(name, value, "real numbers >= 0")
    if np.any(np.isnan(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (and not NaN), got {value!r}")
    return arr


def increasing_axis(name: str, value) -> np.ndarray:
    """A positive finite scalar (0-D array) or a non-empty strictly increasing 1-D array of them."""
    arr = _floats(name, value, "a positive number or a 1-D sequence of them")
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a positive number or a non-empty 1-D sequence")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if arr.ndim == 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return arr


def diffusion_times(value, name="times") -> np.ndarray:
    """A non-empty, strictly increasing 1-D grid of finite diffusion times > 0, as a contiguous float64 array."""
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1 or np.size(value) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of diffusion times, got {value!r}")
    return np.ascontiguousarray(increasing_axis(name, value), dtype=np.float64)


def _increasing(name, arr, value):
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence, got {value!r}")
    if arr.ndim == 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return arr


def draws_axis(name: str, value) -> np.ndarray:
    """Noise draws as a value or an axis: an integer ≥ 1 or inf, or an increasing 1-D sequence of them."""
    arr = _floats(name, value, "an integer >= 1 or inf, or an increasing sequence of them")
    if np.any(np.isnan(arr)) or np.any(arr < 1) or np.any(np.isfinite(arr) & (arr != np.round(arr))):
        raise ValueError(f"{name} must be an integer >= 1 or inf, or an increasing sequence of them, got {value!r}")
    return _increasing(name, arr, value)


def decay_axis(name: str, value) -> np.ndarray:
    """A weight decay as a value or an axis: finite and ≥ 0, or an increasing 1-D sequence of such values."""
    arr = _floats(name, value, "finite and >= 0 (or a sequence of such values)")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0 (or a sequence of such values), got {value!r}")
    return _increasing(name, arr, value)


def optional_bool(name: str, value):
    """``True``, ``False`` or ``None`` (e.g. "decide for me")."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be True, False or None, got {value!r}")
    return value


def options_object(name: str, cls, given, kwargs):
    """The options object of a call that takes either ``given`` (an instance of ``cls``, or None) or its fields
    one by one as ``kwargs`` (not both; unknown field names refused by name): ``given`` or ``cls(**kwargs)``."""
    import dataclasses
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = set(kwargs) - set(fields)
    if unknown:
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; expected {', '.join(fields)}")
    if given is None:
        return cls(**kwargs)
    if not isinstance(given, cls):
        raise ValueError(f"{name} must be an rfdiff {cls.__name__}, got {given!r}")
    if kwargs:
        raise ValueError(f"give either {name} or its options ({sorted(kwargs)}), not both")
    return given


def data_rows(name: str, value) -> np.ndarray:
    """A 2-D float64 array of data rows (samples × features): numeric, at least 2 rows and 1 column, finite.

    The message of a non-finite entry gives their count and the first position (row, column), 0-based.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers (got dtype {arr.dtype})")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows = samples, columns = features), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least 2 rows and 1 column, got shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{name} has {int(bad.sum())} NaN/inf entries (first at row {r}, column {c}); "
                         "remove or impute them first")
    return arr


def row_pair(name: str, value, n: int, d: int) -> tuple:
    """``(train_rows, test_rows)``: a pair of :func:`data_rows` arrays, the first of shape (n, d), the second of d
    columns (real data, docs/theory.md §14)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (train_rows, test_rows)")
    train_rows, test_rows = data_rows("train_rows", value[0]), data_rows("test_rows", value[1])
    if train_rows.shape != (n, d) or test_rows.shape[1] != d:
        raise ValueError(f"{name}: train_rows must have shape (n, d) = ({n}, {d}) (n = round(psi_n d)) and test_rows "
                         f"{d} columns, got {train_rows.shape} and {test_rows.shape}")
    return train_rows, test_rows


def labels_for(name: str, value, n_rows: int) -> np.ndarray:
    """Class labels of ``n_rows`` rows: a 1-D array of integers or strings (no NaN), one per row."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValueError(f"{name} must be 1-D with one label per row ({n_rows}), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integers or strings (got non-integral or NaN floats)")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biuUSO":
        raise ValueError(f"{name} must be integers or strings, got dtype {arr.dtype}")
    return arr


def physical_memory():
    """Bytes of physical memory of this machine (``None`` if the platform does not say)."""
    import os
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platform dependent
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest unit below it: ``"1.2 kB"``, ``"3.4 GB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def memory(name, nbytes: float, what: str) -> None:
    """Refuse a request whose dominant arrays (``nbytes``) exceed this machine's physical memory: ``ValueError``
    naming ``name`` (None: ``what`` names it), the request ``what``, the estimate and the memory available."""
    total = physical_memory()
    if total is not None and nbytes > total:
        prefix = "" if name is None else f"{name}: "
        raise ValueError(f"{prefix}{what} needs about {format_bytes(nbytes)} of memory; this machine has "
                         f"{format_bytes(total)}: ask for less")
