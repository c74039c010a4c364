"""Time units: rfdiff's training time τ and the step counts of the optimisers people run (docs/theory.md §1).

rfdiff's clock is the seed paper's gradient flow ``dA/dτ = −d² ∇_A L_train``. Plain gradient descent on A
with step η advances τ by η/d² per step; the seed paper's code, which trains ``B = A/√p``, logs ``epoch·lr``
``= τ d/ψ_p``.
"""
from __future__ import annotations

from ._validate import nonnegative, positive

__all__ = ["tau_from_steps", "steps_from_tau", "tau_from_seed_epoch_lr", "seed_epoch_lr_from_tau"]


def tau_from_steps(steps, lr, d):
    """Training time reached by plain gradient descent on A: ``τ = k η / d²``.

    Parameters
    ----------
    steps : array_like
        Number of full-batch steps k on ``L_train`` (docs/theory.md §1 parametrisation ``s_A = A σ/√p``).
    lr : float
        Step size η (> 0).
    d : float
        Data dimension (> 0).

    Notes
    -----
    docs/theory.md §1: the flow is ``dA/dτ = −d² ∇_A L_train``, so one step of size η advances ``τ`` by η/d².
    """
    return nonnegative("steps", steps) * positive("lr", lr) / positive("d", d) ** 2


def steps_from_tau(tau, lr, d):
    """Inverse of :func:`tau_from_steps`: ``k = τ d² / η``."""
    return nonnegative("tau", tau) * positive("d", d) ** 2 / positive("lr", lr)


def tau_from_seed_epoch_lr(epoch_lr, d, psi_p):
    """Training time of the seed paper's code from its logged ``epoch·lr``: ``τ = epoch·lr · ψ_p / d``.

    Notes
    -----
    The seed code drops the ``1/√p`` of the model and trains ``B = A/√p`` by full-batch gradient descent;
    k steps of size η then reach ``τ = k η ψ_p / d`` (docs/theory.md §1), i.e. its logged ``epoch·lr`` equals
    ``τ d/ψ_p``.
    """
    return nonnegative("epoch_lr", epoch_lr) * positive("psi_p", psi_p) / positive("d", d)


def seed_epoch_lr_from_tau(tau, d, psi_p):
    """Inverse of :func:`tau_from_seed_epoch_lr`: ``epoch·lr = τ d / ψ_p``."""
    return nonnegative("tau", tau) * positive("d", d) / positive("psi_p", psi_p)
