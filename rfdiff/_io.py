"""Files rfdiff writes: one JSON rule and one atomic writer.

JSON rule (CLI output, sweep store, figure manifests, checkpoints' fingerprints): NaN is written as
``null`` and ±∞ as the strings ``"inf"``/``"-inf"``; numpy scalars and arrays become plain numbers and
lists. :func:`from_json` reverses it for the store (``"inf"``/``"-inf"`` → float, ``null`` → NaN where a
number was expected is left to the reader, which knows the field's type).

Atomic writes: the payload goes to a temporary file in the target's directory, is flushed and fsync'ed,
then moved over the target with :func:`os.replace`, so a reader sees either the old file or the complete
new one, even if the process is killed mid-write.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile

import numpy as np

__all__ = ["to_json", "from_json", "dumps", "atomic_write", "write_json", "check_writable"]


def to_json(obj):
    """JSON-compatible copy of ``obj``: NaN → ``None``, ±∞ → ``"inf"``/``"-inf"``, numpy → Python."""
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        obj = float(obj)
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, complex):
        return [to_json(obj.real), to_json(obj.imag)]
    return obj


def from_json(obj):
    """Inverse of :func:`to_json` for numbers: ``"inf"``/``"-inf"`` become floats (recursively)."""
    if isinstance(obj, dict):
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if obj in ("inf", "-inf"):
        return float(obj)
    return obj


def dumps(obj, **kw) -> str:
    """``json.dumps(to_json(obj))`` in strict JSON (no NaN/Infinity tokens)."""
    return json.dumps(to_json(obj), allow_nan=False, **kw)


def atomic_write(path, write, mode="w") -> None:
    """Write a file atomically: ``write(fh)`` fills a temporary file that replaces ``path`` when complete.

    Parameters
    ----------
    path : str or path-like
    write : callable
        ``write(fh)`` with ``fh`` the open temporary file.
    mode : {"w", "wb"}
        Text (UTF-8) or binary.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_json(path, payload, *, indent=1) -> None:
    """Write ``payload`` atomically as strict JSON by the rule of :func:`to_json`."""
    text = dumps(payload, indent=indent, ensure_ascii=False) + "\n"
    atomic_write(path, lambda fh: fh.write(text))


def check_writable(path, what="output", suffixes=None) -> str:
    """Fail early, before any computation, if ``path`` cannot be written.

    Parameters
    ----------
    path : str or path-like
        A file to be created or replaced.
    what : str
        Name used in the message (e.g. ``"--json"``).
    suffixes : sequence of str, optional
        Allowed file endings (e.g. ``(".png", ".pdf")``).

    Returns
    -------
    str
        The path.

    Raises
    ------
    ValueError
        Naming ``what`` and the reason (missing directory, not writable, is a directory, bad suffix).
    """
    path = os.fspath(path)
    if suffixes is not None and not path.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{what} must end with {' or '.join(suffixes)}, got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"{what}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{what}: {path!r} is not writable")
    return path
