"""Sizes the command line refuses up front: estimates of the dominant arrays against this machine's memory.

A request whose arrays cannot fit is refused before anything is computed (exit status 2, one line naming the
option, the estimate and the memory available), instead of swapping or being killed halfway.
"""
from __future__ import annotations

from .._validate import memory

__all__ = ["MIN_NODES", "check_memory", "check_simulation_memory", "curves_bytes"]

#: Complex (τ × contour node) arrays alive at once while evaluating exact curves (weights, products, parts).
ARRAYS_PER_TAU_NODE = 12
#: Fewest contour nodes a model can have (16 per ellipse): the estimate before the contour is built.
MIN_NODES = 16


def check_memory(nbytes: float, what: str) -> None:
    """Refuse a request whose dominant arrays would not fit in this machine's physical memory
    (:func:`rfdiff._validate.memory`).

    Parameters
    ----------
    nbytes : float
        Estimated bytes of the dominant arrays.
    what : str
        The request and the arrays, e.g. ``"--points 1e8 (τ × contour-node arrays)"``.

    Raises
    ------
    ValueError
        Naming the estimate and the memory available.
    """
    memory(None, nbytes, what)


def curves_bytes(points: int, nodes: int = MIN_NODES) -> float:
    """Estimated bytes of evaluating exact curves at ``points`` training times with ``nodes`` contour nodes."""
    return 16.0 * ARRAYS_PER_TAU_NODE * (points + 1) * nodes


def check_simulation_memory(model, d: int, option: str) -> tuple[int, int]:
    """:func:`check_memory` of a finite-size simulation at dimension ``d``: its p × p float64 matrices (U, V
    and their population counterparts, an eigendecomposition) and the p × (d + n) features.

    Returns
    -------
    (p, n) : tuple of int
        The simulation's width and sample size (:func:`rfdiff.simulate.problem_sizes`).

    Raises
    ------
    ValueError
        If ``d`` is not an integer ≥ 1 (:func:`rfdiff.simulate.problem_sizes`) or the arrays cannot fit.
    """
    from ..simulate import problem_sizes
    p, n = problem_sizes(model, d)
    check_memory(8.0 * (5 * p * p + 2 * p * (d + n) + d * n),
                 f"{option} {d} (p = ψ_p d = {p}: p × p float64 matrices)")
    return p, n
