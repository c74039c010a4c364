"""Progress bars, chosen in one place for every long computation (sweeps, training, score families).

``progress=None`` means "when stderr is a terminal and tqdm is installed"; ``True`` asks for a bar and
raises ``ValueError`` naming ``progress`` when tqdm is missing; ``False`` never shows one.
"""
from __future__ import annotations

import contextlib
import sys

from ._validate import optional_bool

__all__ = ["progress_bar", "wants_progress"]


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def wants_progress(progress) -> bool:
    """Whether a bar will be shown for ``progress`` (None: stderr is a terminal and tqdm is installed)."""
    if optional_bool("progress", progress) is None:
        return sys.stderr.isatty() and _tqdm() is not None
    if progress and _tqdm() is None:
        raise ValueError("progress=True needs tqdm (pip install tqdm)")
    return progress


class _NoBar:
    """Stands in for a bar that is not shown."""

    def update(self, n=1):
        pass


def progress_bar(progress, total: int, desc: str | None = None, *, unit: str = "it", initial: int = 0):
    """A context manager yielding an object with ``update(n=1)``: a tqdm bar on stderr if
    :func:`wants_progress` says so (and ``total > 0``), else a silent stand-in."""
    if not wants_progress(progress) or total <= 0:
        return contextlib.nullcontext(_NoBar())
    return _tqdm()(total=total, desc=desc, unit=unit, initial=initial)
