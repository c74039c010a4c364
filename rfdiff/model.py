"""The random-features score model at one diffusion time (docs/theory.md §1)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._validate import draws, nonnegative_number, positive
from .activations import Activation, get_activation
from .data import DataLaw, Isotropic

__all__ = ["RFModel", "PSI_P_RANGE", "PSI_N_RANGE", "T_RANGE", "MIN_BULK_MASS"]

#: Supported width ratios ``ψ_p = p/d`` (closed interval). The upper end is set by verification: the
#: generalization bulk carries mass ``1/ψ_p`` of U's law and :func:`rfdiff.support` checks that the
#: bulk masses and atoms add up to 1 within ``mass_tol = 1e-7``, so ``1/ψ_p`` must stay ≥ 10·mass_tol
#: for a missed bulk to be detected. The lower end is where the spectrum was verified on a grid of
#: extreme values (ψ_n ∈ [1e-6, 1e8], t ∈ [1e-12, 1e5], tanh/relu/erf/sigmoid/linear).
PSI_P_RANGE = (1e-6, 1e6)
#: Supported sample ratios ``ψ_n = n/d`` (closed interval), verified on the same grid.
PSI_N_RANGE = (1e-6, 1e8)
#: Supported diffusion times (closed below, any finite t above). The lower end is where the grid above
#: was verified (the bulk of ``b_t² K`` sits at offsets ∝ ``b_t² ∝ t`` from s_t²; spot checks pass down
#: to 1e-100). Large t is safe: the constants tend to their limits (``v_t², e^{-2t} → 0``,
#: ``b_t² → μ1²``) and bulks narrower than the rounding of λ are reported as atoms.
T_RANGE = (1e-12, math.inf)
#: Smallest bulk mass the support search can verify: the memorization bulk has mass ``ψ_n/ψ_p``
#: (when ψ_n < ψ_p), so ``ψ_n ≥ MIN_BULK_MASS·ψ_p`` is required.
MIN_BULK_MASS = 1e-6


@dataclass(frozen=True)
class RFModel:
    """Random-features score model ``s_A(x) = A σ(W x/√d)/√p`` trained at diffusion time ``t``.

    Parameters
    ----------
    psi_p : float
        Width ratio ``ψ_p = p/d``, in ``PSI_P_RANGE`` = [1e-6, 1e6].
    psi_n : float
        Sample ratio ``ψ_n = n/d``, in ``PSI_N_RANGE`` = [1e-6, 1e8], and ``ψ_n ≥ MIN_BULK_MASS·ψ_p``.
    t : float
        Diffusion time, in ``T_RANGE`` (≥ 1e-12, finite); the noise level is ``Δ_t = 1 − e^{−2t}``.
    activation : str, Activation or callable
        ``"tanh"`` (default), ``"relu"``, ``"erf"``, ``"linear"``, ``"sigmoid"`` or a vectorised callable.
    data : DataLaw
        Eigenvalue law ρ_Σ of the data covariance (default ``Isotropic()``).
    m : int or inf
        Noise draws per training point, frozen for the whole training (default ``inf``: the noise is
        averaged exactly, the seed paper's idealisation; docs/theory.md §10).
    weight_decay : float
        ω ≥ 0 (default 0). The penalty ``ω Δ_t ‖A‖²_F/(p d)`` is added to the training loss, so gradient
        flow sees ``U + ω I`` and τ → ∞ gives the ridge estimator; reported train losses are the data part
        only (docs/theory.md §11). An optimizer's plain weight decay ``λ_opt`` on A (the update
        ``A ← A − η (∇_A L_train + λ_opt A)``) is ``ω = λ_opt ψ_p d²/(2 Δ_t)`` (:meth:`weight_decay_from`).

    Raises
    ------
    ValueError
        Naming the parameter, if it is not a finite positive number or lies outside its supported
        range (module constants ``PSI_P_RANGE``, ``PSI_N_RANGE``, ``T_RANGE``, ``MIN_BULK_MASS``).

    Notes
    -----
    Immutable; ``replace(**changes)`` returns a validated copy.
    """

    psi_p: float
    psi_n: float
    t: float
    activation: Activation = "tanh"
    data: DataLaw = field(default_factory=Isotropic)
    m: float = math.inf
    weight_decay: float = 0.0

    def __post_init__(self):
        for name, (lo, hi) in (("psi_p", PSI_P_RANGE), ("psi_n", PSI_N_RANGE), ("t", T_RANGE)):
            value = positive(name, getattr(self, name))
            if not lo <= value <= hi:
                upper = "" if math.isinf(hi) else f" and <= {hi:g}"
                raise ValueError(f"{name} must be >= {lo:g}{upper} (the range the spectral solver is verified "
                                 f"on), got {value!r}")
            object.__setattr__(self, name, value)
        if self.psi_n < MIN_BULK_MASS * self.psi_p:
            raise ValueError(f"psi_n must be >= {MIN_BULK_MASS:g}·psi_p = {MIN_BULK_MASS * self.psi_p:g} "
                             f"(the memorization bulk, of mass psi_n/psi_p, must be resolvable), got {self.psi_n!r}")
        object.__setattr__(self, "activation", get_activation(self.activation))
        if not isinstance(self.data, DataLaw):
            raise ValueError(f"data must be an rfdiff data law (e.g. rfdiff.Isotropic()), got {self.data!r}")
        object.__setattr__(self, "m", draws("m", self.m))
        object.__setattr__(self, "weight_decay", nonnegative_number("weight_decay", self.weight_decay))

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
        kw = dict(psi_p=self.psi_p, psi_n=self.psi_n, t=self.t, activation=self.activation, data=self.data,
                  m=self.m, weight_decay=self.weight_decay)
        kw.update(changes)
        return RFModel(**kw)

    @staticmethod
    def weight_decay_from(optimizer_decay: float, psi_p: float, t: float, d: float = 1.0) -> float:
        """ω of an optimizer's plain weight decay on A.

        Gradient descent on ``L_train + ω Δ_t ‖A‖²/(p d)`` adds ``2 ω Δ_t A/(p d)`` to the gradient; an
        optimizer that adds ``λ_opt A`` to the gradient of ``L_train`` (A and L_train in the normalisation of
        docs/theory.md §1) therefore has ``ω = λ_opt p d/(2 Δ_t) = λ_opt ψ_p d²/(2 Δ_t)``.
        """
        delta = -math.expm1(-2.0 * positive("t", t))
        return positive("optimizer_decay", optimizer_decay) * positive("psi_p", psi_p) * positive("d", d) ** 2 \
            / (2.0 * delta)

    def to_dict(self) -> dict:
        return {"psi_p": self.psi_p, "psi_n": self.psi_n, "t": self.t,
                "activation": self.activation.name, "data": self.data.to_dict(), "m": self.m,
                "weight_decay": self.weight_decay}
