"""The random-features score model at one diffusion time (docs/theory.md §1)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._validate import positive
from .activations import Activation, get_activation
from .data import DataLaw, Isotropic

__all__ = ["RFModel"]


@dataclass(frozen=True)
class RFModel:
    """Random-features score model ``s_A(x) = A σ(W x/√d)/√p`` trained at diffusion time ``t``.

    Parameters
    ----------
    psi_p : float
        Width ratio ``ψ_p = p/d`` (> 0).
    psi_n : float
        Sample ratio ``ψ_n = n/d`` (> 0).
    t : float
        Diffusion time (> 0); the noise level is ``Δ_t = 1 − e^{−2t}``.
    activation : str, Activation or callable
        ``"tanh"`` (default), ``"relu"``, ``"erf"``, ``"linear"``, ``"sigmoid"`` or a vectorised callable.
    data : DataLaw
        Eigenvalue law ρ_Σ of the data covariance (default ``Isotropic()``).

    Notes
    -----
    Immutable; ``replace(**changes)`` returns a validated copy.
    """

    psi_p: float
    psi_n: float
    t: float
    activation: Activation = "tanh"
    data: DataLaw = field(default_factory=Isotropic)

    def __post_init__(self):
        for name in ("psi_p", "psi_n", "t"):
            object.__setattr__(self, name, positive(name, getattr(self, name)))
        object.__setattr__(self, "activation", get_activation(self.activation))
        if not isinstance(self.data, DataLaw):
            raise ValueError(f"data must be an rfdiff data law (e.g. rfdiff.Isotropic()), got {self.data!r}")

    @property
    def delta_t(self) -> float:
        """Noise variance ``Δ_t = 1 − e^{−2t}``."""
        return -math.expm1(-2.0 * self.t)

    @property
    def kappa(self) -> float:
        """Relaxation rate per unit eigenvalue, ``κ = 2Δ_t/ψ_p`` (a mode λ decays as ``e^{−κλτ}``)."""
        return 2.0 * self.delta_t / self.psi_p

    def replace(self, **changes) -> "RFModel":
        """A copy with some fields changed (validated)."""
        kw = dict(psi_p=self.psi_p, psi_n=self.psi_n, t=self.t, activation=self.activation, data=self.data)
        kw.update(changes)
        return RFModel(**kw)

    def to_dict(self) -> dict:
        return {"psi_p": self.psi_p, "psi_n": self.psi_n, "t": self.t,
                "activation": self.activation.name, "data": self.data.to_dict()}
