"""Result types shared by the theory and the simulators, and the status every solver result carries.

Every result of a solver says how it was obtained with two keyword fields, inherited from
:class:`Outcome`:

* ``status`` — ``"ok"`` (verified), ``"fallback"`` (a documented fallback was used somewhere, e.g. a
  spectral point within rounding of a bulk edge took its value just above the axis; the numbers are
  still within the stated tolerance) or ``"failed"`` (some part could not be verified; the message says
  which, and the affected numbers are NaN);
* ``message`` — one short line saying why, empty when ``status == "ok"``;

and the property ``converged`` (``status != "failed"``). Per-point results (:class:`rfdiff.Stieltjes`)
keep a status per point instead.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATUSES", "Outcome", "worst_status"]

#: Possible values of ``Outcome.status``, from best to worst.
STATUSES = ("ok", "fallback", "failed")


def worst_status(*statuses: str) -> str:
    """The worst of several statuses (``"ok"`` for none)."""
    return max(statuses, key=STATUSES.index, default="ok")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Mixin of every solver result: ``status``, ``message`` and ``converged`` (module docstring)."""

    status: str = "ok"
    message: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def converged(self) -> bool:
        """``True`` unless some part of the result could not be verified."""
        return self.status != "failed"
