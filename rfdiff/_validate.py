"""Argument checks shared by the public constructors (bad input raises ValueError naming the parameter)."""
from __future__ import annotations

import math


def positive(name: str, value) -> float:
    """``float(value)`` if it is a finite real number > 0, else ``ValueError`` naming ``name``."""
    if isinstance(value, (str, bool)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value
