"""Gaussian-equivalence constants (THEORY.md §2).  [provisional implementation]"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from functools import lru_cache

import numpy as np

__all__ = ["GECoefficients", "ge_coefficients"]


@dataclass(frozen=True)
class GECoefficients:
    mu0: float
    mu1: float
    a: float
    b: float
    v2: float
    s2: float
    e2t: float
    delta_t: float
    tau_sigma: float

    def to_dict(self):
        return asdict(self)


@lru_cache(maxsize=4)
def _gh(n):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2 * math.pi)


def ge_coefficients(model) -> GECoefficients:
    sig = model.activation.fn
    e2t = math.exp(-2 * model.t)
    dt = model.delta_t
    tau = model.data.tau_sigma
    g2 = e2t * tau + dt
    g = math.sqrt(g2)
    x, w = _gh(201)
    s = np.asarray(sig(g * x), float)
    mu0 = float(w @ s)
    mu1 = float(w @ (x * s)) / g
    es2 = float(w @ (s * s))
    # phi(u) = E_v sigma(e^{-t} sqrt(tau) u + sqrt(dt) v)
    su, sv = math.sqrt(e2t * tau), math.sqrt(dt)
    phi = np.asarray(sig(su * x[:, None] + sv * x[None, :]), float) @ w
    ephi2 = float(w @ (phi * phi))
    v2 = ephi2 - mu0 ** 2 - e2t * tau * mu1 ** 2
    s2 = es2 - ephi2 - dt * mu1 ** 2
    return GECoefficients(mu0, mu1, mu1, math.sqrt(dt) * mu1, max(v2, 0.0), max(s2, 0.0), e2t, dt, tau)
