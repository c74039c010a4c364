"""Every result rfdiff returns derives from one base, :class:`Result`.

A result says how it was obtained with two keyword fields:

* ``status`` — ``"ok"`` (verified), ``"fallback"`` (a documented fallback was used somewhere, e.g. a
  spectral point within rounding of a bulk edge took its value just above the axis; the numbers are
  still within the stated tolerance) or ``"failed"`` (some part could not be verified; the message says
  which, and the affected numbers are NaN);
* ``message`` — one short line saying why, empty when ``status == "ok"``;

the property ``converged`` (``status != "failed"``), the dict :attr:`Result.diagnostics` (the run
statistics each type names in ``DIAGNOSTICS``: iterations, fallbacks, residuals, quadrature errors), and
one generic :meth:`Result.to_dict`. Non-convergence is reported through ``status``, and, where a warning
is issued too, as a :class:`ConvergenceWarning` — never only as text.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

__all__ = ["STATUSES", "Result", "ConvergenceWarning", "SolverError", "ThresholdError", "worst_status", "plain", "LossCurves"]

#: Possible values of ``Result.status``, from best to worst.
STATUSES = ("ok", "fallback", "failed")


class ConvergenceWarning(RuntimeWarning):
    """A computation returned a result whose ``status`` is not ``"ok"`` because some part of it did not
    converge to its tolerance (e.g. a contour at its node cap); the result says which."""


class SolverError(RuntimeError):
    """A solver could not verify a physical-branch solution (or a result it needs); the message says where."""


class ThresholdError(SolverError):
    """The model sits on the interpolation threshold p = n·m (m frozen noise draws) without weight decay: a
    bulk of U reaches λ = 0 and the ridgeless end point diverges (docs/theory.md §10–11). A known singular
    line, not a solver failure: phase diagrams mark such points."""


def worst_status(*statuses: str) -> str:
    """The worst of several statuses (``"ok"`` for none)."""
    return max(statuses, key=STATUSES.index, default="ok")


def plain(value):
    """``value`` as plain Python data for JSON: results and models by their ``to_dict()``, other dataclasses
    field by field, arrays and tuples as lists, numpy scalars as Python numbers (apply
    :func:`rfdiff.outputs.to_json` for strict JSON: NaN → null, ±inf → "inf")."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Result:
    """Base of every result: ``status``, ``message``, ``converged``, ``diagnostics`` and ``to_dict``.

    Subclasses are frozen dataclasses. ``DIAGNOSTICS`` names the fields that are run statistics rather than
    results (reported under ``"diagnostics"`` by :meth:`to_dict`), ``HIDDEN`` the fields :meth:`to_dict`
    leaves out (large arrays, e.g. trained weights).
    """

    DIAGNOSTICS: ClassVar[tuple] = ()
    HIDDEN: ClassVar[tuple] = ()

    status: str = "ok"
    message: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def converged(self) -> bool:
        """``True`` unless some part of the result could not be verified."""
        return self.status != "failed"

    @property
    def diagnostics(self) -> dict:
        """The run statistics named by ``DIAGNOSTICS``, with ``status`` and ``message``."""
        out = {"status": self.status, "message": self.message}
        out.update({name: getattr(self, name) for name in self.DIAGNOSTICS})
        return out

    def to_dict(self) -> dict:
        """Plain dict: every field (results, models and arrays made plain by :func:`plain`), then ``status``,
        ``message`` and ``diagnostics``."""
        skip = {"status", "message", *self.DIAGNOSTICS, *self.HIDDEN}
        out = {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in skip}
        out["status"], out["message"] = self.status, self.message
        out["diagnostics"] = plain({name: getattr(self, name) for name in self.DIAGNOSTICS})
        return out


@dataclass(frozen=True)
class LossCurves(Result):
    """Train, test and score-error curves along gradient flow: one type for the theory and every simulator.

    Attributes
    ----------
    tau : ndarray
        Training times (docs/theory.md §1: ``dA/dτ = −d² ∇_A L_train``); may contain ``inf``.
    train, test : ndarray
        ``L_train(τ)`` and ``L_test(τ)``; both equal 1 at τ = 0.
    score_error : ndarray
        ``E_score(τ) = (1/d) E‖s_A(y) − s*(y)‖²``; ``L_test = Δ_t E_score + 1 − Δ_t Tr Σ_t^{-1}/d``.
    gap : ndarray
        ``test − train``.
    quad_error : ndarray or None
        Theory: per τ, an (over-)estimate of the quadrature error of the losses (the contour rule against
        the same rule on every other node; that of ``score_error`` is ``quad_error/Δ_t``). None for the
        simulators, whose curves involve no quadrature (dense linear algebra, rounding only).
    nodes : int
        Contour nodes of the theory (0 for simulators).
    n_fallback : int
        Contour points where the one-point solver used its edge fallback (0 for simulators).
    source : str
        ``"theory"``, ``"gaussian_equivalent"``, ``"random_features"``, ``"real_features"``, ``"gd"`` or ``"adam"``.
    model : RFModel or None
    classes : tuple of LossCurves or None
        Gaussian-mixture data: the curves of each class (test loss and score error on fresh points of the
        class, train loss on its training points; docs/theory.md §12). None otherwise.
    size : rfdiff.simulate.FiniteSize or None
        Simulators: the simulated ``d``, ``p``, ``n`` and the ratios ``p/d``, ``n/d`` they realise (which may
        differ from ``model``'s ψ_p, ψ_n by rounding). None for the theory.
    status, message
        :class:`Result`.
    """

    DIAGNOSTICS: ClassVar[tuple] = ("quad_error", "nodes", "n_fallback")

    tau: np.ndarray
    train: np.ndarray
    test: np.ndarray
    score_error: np.ndarray
    gap: np.ndarray
    quad_error: object = None
    nodes: int = 0
    n_fallback: int = 0
    source: str = "theory"
    model: object = field(default=None, repr=False)
    classes: object = field(default=None, repr=False)
    size: object = None
