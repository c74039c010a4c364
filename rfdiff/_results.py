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

from dataclasses import dataclass, field

import numpy as np

__all__ = ["STATUSES", "Outcome", "worst_status", "LossCurves"]

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


@dataclass(frozen=True)
class LossCurves(Outcome):
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
        ``"theory"``, ``"gaussian_equivalent"``, ``"random_features"``, ``"gd"`` or ``"adam"``.
    model : RFModel or None
    classes : tuple of LossCurves or None
        Gaussian-mixture data: the curves of each class (test loss and score error on fresh points of the
        class, train loss on its training points; docs/theory.md §12). None otherwise.
    status, message
        :class:`Outcome`.
    """

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

    def to_dict(self) -> dict:
        """Plain dict (arrays as lists; apply :func:`rfdiff._io.to_json` for strict JSON)."""
        out = {"source": self.source}
        if self.model is not None:
            out["model"] = self.model.to_dict()
        out.update({name: np.asarray(getattr(self, name)).tolist()
                    for name in ("tau", "train", "test", "score_error", "gap")})
        out["diagnostics"] = {"status": self.status, "message": self.message, "nodes": self.nodes,
                              "n_fallback": self.n_fallback,
                              "quad_error": None if self.quad_error is None else np.asarray(self.quad_error).tolist()}
        if self.classes is not None:
            out["classes"] = [c.to_dict() for c in self.classes]
        return out
