"""Files rfdiff writes: one JSON rule, one atomic writer, one provenance record.

JSON rule (CLI output, sweep store, figure manifests, checkpoints' fingerprints): NaN is written as
``null`` and ±∞ as the strings ``"inf"``/``"-inf"``; numpy scalars and arrays become plain numbers and
lists. :func:`from_json` reverses it for the store (``"inf"``/``"-inf"`` → float, ``null`` → NaN where a
number was expected is left to the reader, which knows the field's type).

Atomic writes: the payload goes to a temporary file in the target's directory, is flushed and fsync'ed,
then moved over the target with :func:`os.replace`, so a reader sees either the old file or the complete
new one, even if the process is killed mid-write. :func:`write_json`, :func:`write_csv` and :func:`write_npz`
all go through it.

Provenance: :func:`provenance` is the one place that says how a file was made (rfdiff and library versions,
command line, model with its data law, seeds, solver diagnostics); the CLI stores it under ``"provenance"``
in JSON, as a ``# rfdiff {...}`` first line in CSV and as a JSON string entry ``provenance`` in npz; sweep
store points and figure manifests carry it too.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np

__all__ = [
    "atomic_write",
    "check_writable",
    "digest",
    "dumps",
    "from_json",
    "provenance",
    "read_npz_provenance",
    "to_json",
    "write_csv",
    "write_json",
    "write_npz",
]


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

    An existing ``path`` that is not a regular file — a device or a pipe, e.g. ``/dev/stdout`` or
    ``/dev/null`` — is written into directly: replacing it would put a regular file in its place (as root,
    in place of ``/dev/null`` itself).

    Parameters
    ----------
    path : str or path-like
    write : callable
        ``write(fh)`` with ``fh`` the open temporary file.
    mode : {"w", "wb"}
        Text (UTF-8) or binary.
    """
    path = os.fspath(path)
    encoding = {"encoding": "utf-8"} if "b" not in mode else {}
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, mode, **encoding) as fh:
            write(fh)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **encoding) as fh:
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


def _package_version(name):
    """Installed version of a distribution, read from its metadata (nothing is imported), or None."""
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def source_revision():
    """``{"commit": ..., "dirty": bool}`` of the git checkout rfdiff runs from (an editable install of a clone),
    or None when it is not a checkout or git is unavailable: the version number alone does not say which
    commit computed a file."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "rfdiff"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def provenance(argv=None, *, model=None, seeds=None, **extra) -> dict:
    """Everything needed to reproduce a file rfdiff writes, in one dict (stored under ``"provenance"``).

    Parameters
    ----------
    argv : sequence of str, optional
        The command line (default ``sys.argv``).
    model : RFModel or dict, optional
        The model (``model.to_dict()``, data law included).
    seeds : int, sequence of int or dict, optional
        Seeds of the random draws (simulations).
    **extra
        Anything else worth keeping (solver diagnostics, settings); JSON-able by :func:`to_json`.

    Returns
    -------
    dict
        ``rfdiff_version``, ``source`` (the git commit and whether the package's files differ from it, when
        rfdiff runs from a checkout; else None), ``versions`` (python, numpy, scipy, numba), ``command`` (list
        of str), ``created`` (UTC, ISO 8601), then ``model``, ``seeds`` and ``extra`` when given.
    """
    from . import __version__
    out = {"rfdiff_version": __version__, "source": source_revision(),
           "versions": {"python": platform.python_version(),
                        **{name: _package_version(name) for name in ("numpy", "scipy", "numba")}},
           "command": [str(a) for a in (sys.argv if argv is None else argv)],
           "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if model is not None:
        out["model"] = model.to_dict() if hasattr(model, "to_dict") else model
    if seeds is not None:
        out["seeds"] = seeds
    out.update(extra)
    return out


def digest(arrays) -> list:
    """Short fingerprints of arrays (e.g. the real rows a run trained on), for store keys and checkpoints: the first
    16 hex digits of the SHA-256 of each array's bytes (C order)."""
    return [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16] for a in arrays]


def _csv_number(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def write_csv(path, columns, *, provenance=None) -> None:
    """Write equal-length columns as CSV, atomically, with the provenance in a header comment.

    Layout: ``# rfdiff <json of provenance>`` (one line, strict JSON by :func:`to_json`), then the column
    names, then one row per entry; numbers are written exactly (``repr``), NaN as ``nan`` and ±∞ as
    ``inf``/``-inf``. Read back with ``numpy.genfromtxt(path, delimiter=",", names=True, comments=None,
    skip_header=1)`` or ``pandas.read_csv(path, comment="#")``.

    Parameters
    ----------
    path : str or path-like
    columns : dict of str to 1-D array_like
        Column name → values; all the same length.
    provenance : dict, optional
        Written in the header comment.
    """
    names = list(columns)
    data = [np.asarray(columns[k], dtype=float).ravel() for k in names]
    if len({c.size for c in data}) > 1:
        raise ValueError(f"columns of different lengths: {dict(zip(names, (c.size for c in data)))}")
    header = "# rfdiff " + dumps(provenance if provenance is not None else {}, ensure_ascii=False) + "\n"

    def write(fh):
        fh.write(header)
        fh.write(",".join(names) + "\n")
        for row in zip(*data):
            fh.write(",".join(_csv_number(v) for v in row) + "\n")

    atomic_write(path, write)


def write_npz(path, arrays, *, provenance=None) -> None:
    """Write arrays to an ``.npz`` file atomically, with the provenance as a JSON string entry.

    The entry ``"provenance"`` is a 0-d unicode array holding strict JSON (:func:`to_json`), readable
    without pickle: ``json.loads(str(numpy.load(path)["provenance"]))`` (or :func:`read_npz_provenance`).
    """
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    if "provenance" in payload:
        raise ValueError("'provenance' is reserved for the provenance entry")
    payload["provenance"] = np.array(dumps(provenance if provenance is not None else {}, ensure_ascii=False))
    atomic_write(path, lambda fh: np.savez(fh, **payload), mode="wb")


def read_npz_provenance(path) -> dict:
    """The provenance dict of an ``.npz`` written by :func:`write_npz`."""
    with np.load(path, allow_pickle=False) as z:
        return from_json(json.loads(str(z["provenance"])))
