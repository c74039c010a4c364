"""Activation functions: a registry of built-ins plus any vectorised callable.

Each :class:`Activation` carries the function, an optional derivative, the location of its kinks
(where quadrature must split the Gaussian integral) and, for some, closed-form Gaussian integrals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]


@dataclass(frozen=True)
class Activation:
    """A scalar activation σ applied elementwise.

    Attributes
    ----------
    name : str
        Registry name, or ``"custom:<repr>"`` for a user callable.
    fn : callable
        Vectorised ``σ(x)`` on float arrays.
    kinks : tuple of float
        Points where σ is not smooth (quadrature splits there).
    """

    name: str
    fn: object
    kinks: tuple = ()

    def __call__(self, x):
        return self.fn(x)


def _relu(x):
    return np.maximum(x, 0.0)


def _linear(x):
    return np.asarray(x, dtype=float) * 1.0


def _sigmoid(x):
    return special.expit(x)


ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh),
    "relu": Activation("relu", _relu, kinks=(0.0,)),
    "erf": Activation("erf", special.erf),
    "linear": Activation("linear", _linear),
    "sigmoid": Activation("sigmoid", _sigmoid),
}


def get_activation(spec) -> Activation:
    """Resolve ``spec`` (a registry name, an :class:`Activation` or a vectorised callable).

    Raises
    ------
    ValueError
        If ``spec`` is an unknown name, not callable, or returns non-finite values on a probe grid.
    """
    if isinstance(spec, Activation):
        act = spec
    elif isinstance(spec, str):
        try:
            return ACTIVATIONS[spec.lower()]
        except KeyError:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {spec!r}") from None
    elif callable(spec):
        act = Activation(f"custom:{getattr(spec, '__name__', repr(spec))}", spec)
    else:
        raise ValueError(f"activation must be a name or a callable, got {spec!r}")
    probe = np.linspace(-12.0, 12.0, 97)
    try:
        vals = np.asarray(act.fn(probe), dtype=float)
    except Exception as exc:  # noqa: BLE001 - report any failure of user code
        raise ValueError(f"activation {act.name} failed on a float array: {exc}") from None
    if vals.shape != probe.shape:
        raise ValueError(f"activation {act.name} must be vectorised (elementwise on arrays)")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"activation {act.name} returned non-finite values on [-12, 12]")
    return act
