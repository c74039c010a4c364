"""True (non-linear) random features at finite size with the training noise averaged exactly (docs/theory.md §9).

For a sampled ``W`` (p×d) and training data ``X`` (d×n) the simulator builds, for the model's real
activation σ,

* ``U = (1/n) Σ_ν E_ξ σ(W x_t^ν/√d) σ(W x_t^ν/√d)ᵀ``   (p×p),
* ``V = (1/n) Σ_ν E_ξ σ(W x_t^ν/√d) ξᵀ``               (p×d),
* ``U_pop = E_y σ(W y/√d) σ(W y/√d)ᵀ``, ``V_pop = E_{x,ξ} σ(W x_t/√d) ξᵀ``, ``y = x_t ~ N(0, Σ_t)``,

with ``x_t^ν = e^{-t} x_ν + √Δ_t ξ``. Every Gaussian expectation is deterministic: one-dimensional
quadrature for the Hermite coefficients, Mehler's expansion in the correlations of the pre-activations
for the off-diagonal entries, truncated at an order chosen from a rigorous bound. With the model's ``m``
finite, the training noise is ``m`` frozen Monte-Carlo draws per point instead (docs/theory.md §10). The closed-form
gradient flow of docs/theory.md §3 then gives exact train/test/score-error curves of this finite model.

This module never imports the theory modules (``rfdiff.spectral``, ``rfdiff.dynamics``).
"""
from __future__ import annotations

import math
import time
import warnings
from functools import cached_property, lru_cache

import numpy as np
from scipy.linalg.blas import dsyrk

from ..results import ConvergenceWarning
from . import kernels
from ._flow import ClosedFormFlow, FlowMethods
from .._threads import blas_threads
from .._validate import choice, integer, noise_draws, positive
from ._sampling import FiniteSize, draw_problem, noise_rng, problem_sizes

__all__ = ["RandomFeatures", "random_features", "hermite_coefficients", "interpolated_coefficients"]

#: Half-width L of the interval ``[−L, L]`` of the kink-aware rule. ``|hn_s(u)| e^{−u²/4} ≤ 1.09`` for
#: every s (Cramér's inequality), so the neglected tail is below ``∫_L^∞ e^{−u²/4} |σ| du ≈ 1e−18``.
_PANEL_L = 13.0
#: Panel width of the kink-aware rule (13 panels on [−13, 13], plus one split per kink).
_PANEL_WIDTH = 2.0
_GH_SIZES = (16, 24, 32, 48, 64, 96)
_PANEL_SIZES = (8, 12, 16, 24, 32, 48, 64)
_PILOT = 64                      # rows (and 2× the columns) of the pilot block that picks the rule and order
_CHUNK_ENTRIES = 2 ** 22          # numpy path: work arrays of at most this many float64 entries
_CHEB_PIECES = 8                  # pieces per row of the Chebyshev interpolation in h
_CHEB_DEGREES = (8, 12, 16, 20, 24, 32)
#: Time of one multiply-add of an entry's own dot product (:func:`.kernels.mehler_finish`) in SYRK multiply-adds
#: (measured at p = 2000, n = 1000: 0.85 µs per dot product of two rows, 31·10⁹ multiply-adds/s in the SYRK)
_DOT_COST = 25.0


# --------------------------------------------------------------------------- Hermite coefficients

def _hermite_table(u: np.ndarray, n_orders: int) -> np.ndarray:
    """``hn_s(u) = He_s(u)/√(s!)`` for s < n_orders, shape ``u.shape + (n_orders,)`` (stable recurrence)."""
    out = np.empty(u.shape + (n_orders,))
    out[..., 0] = 1.0
    if n_orders > 1:
        out[..., 1] = u
    for s in range(1, n_orders - 1):
        out[..., s + 1] = (u * out[..., s] - math.sqrt(s) * out[..., s - 1]) / math.sqrt(s + 1)
    return out


@lru_cache(maxsize=16)
def _gauss_hermite(n_nodes: int):
    """Nodes and weights of the n-point Gauss–Hermite rule for the standard normal (cached, read-only: a
    score family's builds asked for the same rule thousands of times)."""
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / math.sqrt(2.0 * math.pi)
    x.flags.writeable = w.flags.writeable = False
    return x, w


def _panel_grid() -> np.ndarray:
    n_panels = int(round(2 * _PANEL_L / _PANEL_WIDTH))
    return np.linspace(-_PANEL_L, _PANEL_L, n_panels + 1)


def _fixed_rule(rule):
    """Nodes and weights (for ``E f(u)``) of a rule whose nodes are the same for every element.

    Gauss–Hermite, or the panel rule without kinks (composite Gauss–Legendre with weight ``φ(u)``).
    """
    kind, n_nodes = rule
    if kind == "gauss-hermite":
        return _gauss_hermite(n_nodes)
    grid = _panel_grid()
    xl, wl = np.polynomial.legendre.leggauss(n_nodes)
    c, r = 0.5 * (grid[1:] + grid[:-1]), 0.5 * (grid[1:] - grid[:-1])
    x = (c[:, None] + r[:, None] * xl).ravel()
    w = (r[:, None] * wl).ravel() * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x, w


def _coefficients_numpy(h, a, fn, kinks, n_orders, rule):
    """Pure-numpy twin of :mod:`.kernels` (same rules, chunked over rows)."""
    p, n = h.shape
    kind, n_nodes = rule
    G = np.empty((n_orders, p, n))
    D = np.empty((p, n))
    if kind == "gauss-hermite" or not kinks:
        x, w = _fixed_rule(rule)
        hn_w = w[:, None] * _hermite_table(x, n_orders)
        step = max(1, _CHUNK_ENTRIES // max(1, n * x.size))
        for r0 in range(0, p, step):
            rows = slice(r0, min(p, r0 + step))
            v = np.asarray(fn(h[rows, :, None] + a[rows, None, None] * x), dtype=np.float64)
            D[rows] = (v * v) @ w
            G[:, rows, :] = np.moveaxis(v @ hn_w, -1, 0)
        return G, D
    grid = _panel_grid()
    xl, wl = np.polynomial.legendre.leggauss(n_nodes)
    kinks = np.asarray(kinks, dtype=np.float64)
    n_int = grid.size - 1 + kinks.size
    step = max(1, _CHUNK_ENTRIES // max(1, n * n_int * n_nodes))
    for r0 in range(0, p, step):
        rows = slice(r0, min(p, r0 + step))
        hr, ar = h[rows], a[rows, None, None]
        uk = np.clip((kinks - hr[..., None]) / ar, grid[0], grid[-1])
        bp = np.sort(np.concatenate([np.broadcast_to(grid, hr.shape + grid.shape), uk], axis=-1), axis=-1)
        c = 0.5 * (bp[..., 1:] + bp[..., :-1])
        r = 0.5 * (bp[..., 1:] - bp[..., :-1])
        u = (c[..., None] + r[..., None] * xl).reshape(hr.shape + (-1,))
        wq = (r[..., None] * wl).reshape(u.shape) * np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
        v = np.asarray(fn(hr[..., None] + ar * u), dtype=np.float64)
        wv = wq * v
        D[rows] = (wv * v).sum(axis=-1)
        prev, cur = np.zeros_like(u), np.ones_like(u)
        for s in range(n_orders):
            G[s, rows] = (wv * cur).sum(axis=-1)
            prev, cur = cur, (1.0 / math.sqrt(s + 1.0)) * u * cur - (math.sqrt(s) / math.sqrt(s + 1.0)) * prev
    return G, D


def hermite_coefficients(h, a, activation, n_orders: int, rule=("gauss-hermite", 64), backend: str = "numba"):
    """Normalised Hermite coefficients ``g̃_s(i, ν) = E_u[hn_s(u) σ(h_iν + a_i u)]`` and ``E_u σ(·)²``.

    Parameters
    ----------
    h : array_like, shape (p, n)
        Centres ``h_iν``.
    a : array_like, shape (p,)
        Noise scales ``a_i > 0``.
    activation : Activation
        σ (its ``kinks`` are honoured by the panel rule).
    n_orders : int
        Number of orders ``S + 1``.
    rule : (str, int)
        ``("gauss-hermite", Q)``: Q Gauss–Hermite nodes shared by all elements (smooth σ only), or
        ``("panels", m)``: kink-aware composite Gauss–Legendre with m nodes per interval.
    backend : {"numba", "numpy"}

    Returns
    -------
    G : ndarray, shape (n_orders, p, n)
        ``G[s] = g̃_s``, with ``hn_s = He_s/√(s!)`` (so ``g_s = √(s!) g̃_s`` of docs/theory.md §9).
    D : ndarray, shape (p, n)
        ``D(i, ν) = E_u σ(h_iν + a_i u)²``.

    Notes
    -----
    Parseval: ``Σ_s g̃_s(i, ν)² = E_u σ(h_iν + a_i u)²``, which bounds the Mehler tail (see
    :class:`RandomFeatures`). Panel rule: 13 panels of width 2 on ``[−13, 13]`` with every panel that
    contains a kink ``u = (k − h)/a`` split there, m Legendre nodes per interval, weight ``φ(u)``.
    Gauss–Hermite converges only like ``e^{−c√Q}`` when σ has complex poles near the real axis
    (tanh with ``a ≳ 1``); the panel rule converges geometrically in m for any piecewise-analytic σ.
    """
    h = np.ascontiguousarray(h, dtype=np.float64)
    a = np.ascontiguousarray(a, dtype=np.float64)
    kinks = tuple(activation.kinks)
    kind, n_nodes = rule
    if kind not in ("gauss-hermite", "panels") or (kind == "gauss-hermite" and kinks):
        raise ValueError(f"rule must be ('gauss-hermite', Q) for a smooth activation or ('panels', m), got {rule!r}")
    if backend == "numpy":
        return _coefficients_numpy(h, a, activation.fn, kinks, n_orders, rule)
    code = kernels.ACTIVATION_CODES.get(activation.name)
    if backend != "numba" or code is None:
        raise ValueError(f"backend must be 'numba' (built-in activations {sorted(kernels.ACTIVATION_CODES)}) "
                         f"or 'numpy', got {backend!r} for activation {activation.name!r}")
    if kind == "gauss-hermite" or not kinks:
        x, w = _fixed_rule(rule)
        hn_w = np.ascontiguousarray(w[:, None] * _hermite_table(x, n_orders))
        return kernels.coefficients_gh(h, a, x, w, hn_w, code)
    xl, wl = np.polynomial.legendre.leggauss(n_nodes)
    return kernels.coefficients_panels(h, a, _panel_grid(), np.asarray(kinks, dtype=np.float64),
                                        xl, wl, n_orders, code)


def _select_rule(h, a, activation, n_orders, backend, quad_tol):
    """Cheapest quadrature rule whose coefficients agree with the next finer rule within ``quad_tol·max(1, D̄)``.

    Smooth σ: Gauss–Hermite with 16 … 96 nodes, then the panel rule; kinked σ: the panel rule with
    8 … 64 nodes per interval. Returns ``(rule, error_estimate, G, D)``, G and D by that rule.
    """
    families = [[("panels", m) for m in _PANEL_SIZES]]
    if not activation.kinks:
        families.insert(0, [("gauss-hermite", q) for q in _GH_SIZES])
    err = np.inf
    for rules in families:
        prev = hermite_coefficients(h, a, activation, n_orders, rules[0], backend)
        for small, big in zip(rules, rules[1:]):
            cur = hermite_coefficients(h, a, activation, n_orders, big, backend)
            err = _max_diff(prev, cur)
            if err <= quad_tol * max(1.0, float(np.max(cur[1]))):
                return small, err, prev[0], prev[1]
            prev = cur
    warnings.warn(f"quadrature for {activation.name} did not reach {quad_tol:g} with the finest rule "
                  f"(estimated error {err:.2e})", ConvergenceWarning, stacklevel=3)
    return rules[-1], err, prev[0], prev[1]


def _max_diff(x, y):
    """Largest absolute difference between two ``(G, D)`` pairs."""
    return max(float(np.max(np.abs(x[0] - y[0]))), float(np.max(np.abs(x[1] - y[1]))))


def _chebyshev_matrix(m: int) -> np.ndarray:
    """Values at the Chebyshev points ``x_k = cos(πk/(m−1))`` → coefficients of ``Σ_j c_j T_j`` (DCT-I)."""
    k = np.arange(m)
    C = np.cos(np.pi * np.outer(k, k) / (m - 1)) * (2.0 / (m - 1))
    C[:, [0, -1]] *= 0.5
    C[[0, -1], :] *= 0.5
    return C


def _row_pieces(h):
    """Left ends and piece widths of ``_CHEB_PIECES`` equal pieces covering each row's range of h."""
    lo, hi = h.min(axis=1), h.max(axis=1)
    width = (hi - lo) / _CHEB_PIECES
    return lo, np.where(width > 0, width, 1.0)


def interpolated_coefficients(h, a, activation, n_orders, rule, degree, lo, width, backend="numba"):
    """``(G, D)`` of :func:`hermite_coefficients` through piecewise Chebyshev interpolation in h.

    For fixed ``a_i``, ``F_s(h) = E_u[hn_s(u) σ(h + a_i u)]`` is a Gaussian convolution of σ, hence
    entire in h. Each row's range ``[lo_i, lo_i + P width_i]`` is cut into P = 8 equal pieces; F_s and
    ``E σ²`` are computed by ``rule`` at ``degree`` Chebyshev points of every piece and the Chebyshev
    series is evaluated at the ``h_iν``. Cost per element: ``degree·(n_orders + 1)`` multiply-adds
    instead of one σ evaluation per quadrature node. The interpolation error is measured by the caller.
    """
    h = np.ascontiguousarray(h, dtype=np.float64)
    p = h.shape[0]
    x = np.cos(np.pi * np.arange(degree) / (degree - 1))
    offs = np.arange(_CHEB_PIECES)[:, None] + 0.5 * (x + 1.0)[None, :]
    nodes = lo[:, None, None] + width[:, None, None] * offs[None]
    Gn, Dn = hermite_coefficients(nodes.reshape(p, -1), a, activation, n_orders, rule, backend)
    vals = np.concatenate([Gn, Dn[None]]).reshape(n_orders + 1, p, _CHEB_PIECES, degree)
    # coef[i, j, k, r] = Σ_m C[k, m] vals[r, i, j, m]: one GEMM over all rows, pieces and functions
    coef = (vals.reshape(-1, degree) @ _chebyshev_matrix(degree).T).reshape(vals.shape)
    coef = np.ascontiguousarray(np.moveaxis(coef, 0, -1))
    lo = np.ascontiguousarray(lo, dtype=np.float64)
    width = np.ascontiguousarray(width, dtype=np.float64)
    if backend == "numba":
        out = kernels.chebyshev_eval(h, lo, width, coef)
    else:
        out = _chebyshev_eval_numpy(h, lo, width, coef)
    return out[:-1], out[-1]


def _chebyshev_eval_numpy(h, lo, width, coef):
    """Pure-numpy twin of :func:`.kernels.chebyshev_eval`."""
    p, n = h.shape
    n_pieces, m, nr = coef.shape[1:]
    out = np.empty((nr, p, n))
    step = max(1, _CHUNK_ENTRIES // max(1, n * m * nr))
    for r0 in range(0, p, step):
        rows = np.arange(r0, min(p, r0 + step))
        y = (h[rows] - lo[rows, None]) / width[rows, None]
        j = np.clip(y.astype(np.int64), 0, n_pieces - 1)
        x = 2.0 * (y - j) - 1.0
        T = np.empty(x.shape + (m,))
        T[..., 0] = 1.0
        if m > 1:
            T[..., 1] = x
        for k in range(2, m):
            T[..., k] = 2.0 * x * T[..., k - 1] - T[..., k - 2]
        c = coef[rows[:, None], j]                      # (rows, n, m, nr)
        out[:, rows, :] = np.einsum("inm,inmr->rin", T, c)
    return out


def _tails(G, dbar):
    """Parseval tails ``T̄_S(i) = D̄_i − Σ_{s≤S} (1/n) Σ_ν g̃_s(i, ν)²`` for every S (clipped at 0); shape (S+1, p)."""
    partial = np.cumsum(np.einsum("spn,spn->sp", G, G) / G.shape[2], axis=0)
    return np.maximum(dbar[None, :] - partial, 0.0)


def _order_upper(rho_max, dmax, tol, max_order):
    """Smallest S with ``ρ_max^{S+1} D_max ≤ tol`` (valid because ``T̄_S ≤ D̄``), capped at max_order."""
    if rho_max <= 0.0 or dmax <= tol:
        return 0
    if rho_max >= 1.0:
        return max_order
    return int(min(max_order, max(0, math.ceil(math.log(tol / dmax) / math.log(rho_max)) - 1)))


def _first_order(tails_max, rho_max, tol):
    """Smallest S with ``ρ_max^{S+1} max_i T̄_S(i) ≤ tol`` (None if no computed S qualifies)."""
    for s, tmax in enumerate(tails_max):
        if rho_max ** (s + 1) * tmax <= tol:
            return s
    return None


def _dense_order(rho, tail_sqrt, tol):
    """The Mehler order summed by SYRK for every entry.

    Every order costs one SYRK (``p² n/2`` multiply-adds); an entry whose bound needs more orders than that
    takes them by dot products (``n`` each, :data:`_DOT_COST` times slower per multiply-add than the SYRK).
    The order minimising the sum is returned (counts from :func:`.kernels.mehler_orders`).
    """
    counts = kernels.mehler_orders(rho, tail_sqrt, tol)
    orders = np.arange(counts.size)
    p = rho.shape[0]
    cost = [(k + 1) * p * p / 2 + _DOT_COST * np.sum(counts[k + 1:] * (orders[k + 1:] - k)) for k in orders]
    return int(np.argmin(cost))


def _mehler_sum(G, rho, diag, weight=1.0, tail_sqrt=None, tol=0.0, dense=None):
    """``weight · Σ_s ρ^{∘s} ∘ (G_s G_sᵀ)`` with the diagonal replaced by ``diag``, and its truncation bounds.

    Orders ``s ≤ dense`` (default: all of G) are summed for every entry by Horner's rule from the top order:
    ``M ← ρ ∘ M``, then ``M += G_s G_sᵀ`` by one SYRK (``scipy.linalg.blas.dsyrk``, in place, lower triangle
    only). An entry whose bound ``|ρ_ij|^{dense+1} t_dense(i) t_dense(j)`` (``t = tail_sqrt``, the square roots
    of the Parseval tails) exceeds ``tol`` then takes the next orders of G by its own dot products, up to the
    first whose bound is ≤ tol (:func:`.kernels.mehler_finish`).

    Returns
    -------
    U : ndarray, shape (p, p)
    bound, bound_op : float
        Largest entry and Frobenius norm of the bounds ``|ρ_ij|^{s+1} t_s(i) t_s(j)`` on the neglected orders
        (s the last order taken by the entry; 0 without ``tail_sqrt``).
    """
    n_orders, p, _ = G.shape
    dense = n_orders - 1 if dense is None else dense
    if tail_sqrt is None:
        tail_sqrt = np.zeros((n_orders, p))
    out = np.zeros((p, p))
    for s in range(dense, -1, -1):
        if s < dense:
            kernels.scale_lower(out, rho)
        # out.T is the Fortran array of out: its upper triangle is out's lower one
        dsyrk(1.0, G[s].T, beta=1.0, c=out.T, trans=1, lower=0, overwrite_c=1)
    mx, sq = kernels.mehler_finish(out, rho, G, np.ascontiguousarray(tail_sqrt), dense, tol, weight, diag)
    return out, float(mx), math.sqrt(sq)


def _offdiag_bound(rho, tails, order):
    """Elementwise and spectral-norm bounds on the Mehler truncation error.

    ``|E_ij| ≤ |ρ_ij|^{S+1} sqrt(T̄_i T̄_j)`` (i ≠ j); ``‖E‖₂ ≤ ‖E‖_F`` bounds the shift of every eigenvalue.
    """
    if rho.shape[0] < 2:
        return 0.0, 0.0
    mx, sq = kernels.truncation_bound(rho, np.sqrt(tails), order + 1)
    return float(mx), float(math.sqrt(sq))


# --------------------------------------------------------------------------- the simulator

class RandomFeatures(FlowMethods):
    """One finite-size sample of the true random-features model with exact noise averages.

    Build it with :func:`random_features`. Attributes are plain numpy arrays and numbers.

    Attributes
    ----------
    model : RFModel
    d, p, n : int
        Sizes, ``p = round(ψ_p d)``, ``n = round(ψ_n d)``.
    seed : int, Generator or None
    W, X, labels, centroids : ndarray
        Sampled by :func:`rfdiff.simulate._sampling.draw_problem` (X is d × n, in class blocks).
    class_sigma : ndarray, shape (C, d)
        Eigenvalues of each class's diagonal covariance (one row for single-Gaussian data).
    U, V : ndarray, shapes (p, p) and (p, d)
        Train feature covariance and feature–noise correlation (noise exact or m draws).
    U_pop, V_pop : ndarray, shapes (p, p) and (p, d)
        Population quantities (always exact); ``V_pop`` is the Ṽ of docs/theory.md §9.
    m : int or inf
        Noise draws per training point (the model's ``m``; inf: exact noise averages).
    order : int or None
        Largest Mehler order S used for U (None for Monte-Carlo noise).
    order_dense : int or None
        Mehler order summed for every entry of U; an entry whose bound needs more takes the further orders
        up to S by itself (equal to ``order`` when the order is given; None for Monte-Carlo noise).
    truncation_bound, truncation_bound_op : float
        Bounds on the Mehler truncation error of U: largest entry and spectral norm (every eigenvalue of
        U is within ``truncation_bound_op`` of its untruncated value, by Weyl).
    rho_max : float
        ``max_{i≠j} |ρ_ij|``.
    order_pop, truncation_bound_pop, truncation_bound_pop_op, rho_max_pop
        The same for U_pop.
    quadrature : dict
        ``{"data": (rule, error_estimate), "pop": (...)}``, rule = (kind, size) as in
        :func:`hermite_coefficients`; the error estimate is the largest change of any coefficient when
        the rule is refined (plus, for "data", the measured error of the interpolation in h).
    interpolation : (int, int) or None
        ``(pieces, degree)`` of the Chebyshev interpolation in h (:func:`interpolated_coefficients`),
        or None when every element was integrated directly.
    kappa : float
        ``κ = 2 Δ_t d/p``: a mode λ of U relaxes as ``e^{−κλτ}``.
    timings : dict
        Wall times (s) of the stages.

    Notes
    -----
    docs/theory.md §9. With ``c_i = ‖w_i‖/√d``, ``ρ_ij = w_i·w_j/(d c_i c_j)``, ``h_iν = e^{−t} w_i·x_ν/√d``,
    ``a_i = √Δ_t c_i`` and ``hn_s = He_s/√(s!)``:

    * ``g̃_s(i, ν) = E_u[hn_s(u) σ(h_iν + a_i u)]`` (1-D quadrature);
    * ``U_ij = Σ_{s≤S} ρ_ij^s (1/n) Σ_ν g̃_s(i, ν) g̃_s(j, ν)`` (i ≠ j, Mehler's formula);
    * ``U_ii = (1/n) Σ_ν E_u σ(h_iν + a_i u)²``;
    * ``V_i· = (1/n) Σ_ν g̃_1(i, ν)/c_i · w_i/√d`` (Stein: the noise enters σ_i only along w_i).

    The population uses ``γ_i² = w_iᵀ Σ_t w_i/d``, ``ρ̃_ij = w_iᵀ Σ_t w_j/(d γ_i γ_j)``,
    ``κ̃_s(i) = E_u[hn_s(u) σ(γ_i u)]``: ``U_pop,ij = Σ_s ρ̃_ij^s κ̃_s(i) κ̃_s(j)`` and
    ``V_pop,i· = √Δ_t κ̃_1(i)/γ_i · w_i/√d``.

    **Truncation bound.** By Parseval, ``T_S(i, ν) = Σ_{s>S} g̃_s(i, ν)² = E σ² − Σ_{s≤S} g̃_s²`` is
    computable, and by Cauchy–Schwarz the neglected part of ``U_ij`` is at most
    ``|ρ_ij|^{S+1} (1/n) Σ_ν sqrt(T_S(i,ν) T_S(j,ν)) ≤ |ρ_ij|^{S+1} sqrt(T̄_S(i) T̄_S(j))``. The order is
    the smallest S with ``ρ_max^{S+1} max_i T̄_S(i) ≤ tol`` (guessed on a pilot block of 64 rows × 32
    columns, verified on the whole matrix). Entry (i, j) stops at the smallest order ``s ≥ S_d`` with
    ``|ρ_ij|^{s+1} sqrt(T̄_s(i) T̄_s(j)) ≤ tol`` (``order_dense`` = S_d, chosen by :func:`_dense_order`).

    **Cost.** The per-element work (quadrature, or Chebyshev interpolation in h when n is large) is
    O(p n); each Mehler order up to S_d is one SYRK ``G_s G_sᵀ`` (p²n/2 multiply-adds) and one Horner pass
    over p²/2 entries, and the few entries with large ``|ρ_ij|`` take the orders above S_d by dot products,
    so for the orders met at d ≳ 100 (S ≈ 5–15, S_d a few less) the build is dominated by S_d + 1 SYRKs.
    Memory: (S + 2) p×n plus a few p×p float64 arrays.

    Methods: :meth:`eigenvalues`, :meth:`loss_curves`, :meth:`score_error`, :meth:`weights`.
    """

    #: Name recorded as ``source`` in the curves.
    SOURCE = "random_features"

    def __init__(self, model, d, seed=0, noise=None, order=None, *, tol=1e-10, quad_tol=1e-12,
                 max_order=96, backend="auto", interpolate=True, feature_seed=None):
        t0 = time.perf_counter()
        if noise is not None:
            model = model.replace(m=noise_draws("noise", noise))
        self.model = model
        self.p, self.n = problem_sizes(model, d)
        self.d = int(d)
        self.size = FiniteSize(self.d, self.p, self.n)
        self.seed = seed
        self.m = model.m
        order = None if order is None else integer("order", order, 0)
        self.tol, self.quad_tol = positive("tol", tol), positive("quad_tol", quad_tol)
        self.max_order = integer("max_order", max_order, 1)
        self.interpolate = bool(interpolate)
        self.backend = _check_backend(backend, model.activation)
        self.activation = model.activation

        self.delta_t = model.delta_t
        self.e_t = math.exp(-model.t)
        self.feature_seed = feature_seed
        self._sample(model, seed)
        self.kappa = 2.0 * self.delta_t * self.d / self.p
        self.quadrature = {}
        self.noise_trace = 1.0            # Tr S/d of the training noise (exact average: 1)
        self.timings = {"sample": time.perf_counter() - t0}

        with blas_threads(self.p * self.p * self.n):      # the build's largest products: p×n by n×p
            t1 = time.perf_counter()
            self._build_population()
            self.timings["population"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            if math.isinf(self.m):
                self._build_exact(order)
            else:
                self._build_monte_carlo(self.m)
            self.timings["train"] = time.perf_counter() - t1
        self.timings["total"] = time.perf_counter() - t0

    def __repr__(self):
        return (f"RandomFeatures(d={self.d}, p={self.p}, n={self.n}, t={self.model.t}, "
                f"activation={self.activation.name!r}, m={self.m!r}, order={self.order})")

    # ------------------------------------------------------------------ construction

    def _sample(self, model, seed):
        """W, the training columns X, their class labels and centroids, and every class's eigenvalues, by the shared
        convention of ``_sampling`` (:func:`draw_problem`)."""
        self.mixture = model.data.is_mixture
        self.W, self.X, self.labels, self.centroids = draw_problem(model, self.d, seed,
                                                                   feature_seed=self.feature_seed)
        self.class_sigma = np.asarray(model.data.class_eigenvalues(self.d), dtype=np.float64)

    def _correlations(self, A):
        """Scales ``c_i = ‖a_i‖/√d`` and correlations ``ρ_ij = a_i·a_j/(‖a_i‖ ‖a_j‖)`` of the rows of A (p×d):
        those of the Gram matrix ``A Aᵀ/d``, ρ by one SYRK of the normalised rows."""
        norms = np.sqrt(np.einsum("ij,ij->i", A, A))
        unit = A / norms[:, None]
        return norms / math.sqrt(self.d), unit @ unit.T

    @staticmethod
    def _rho_max(rho):
        if rho.shape[0] < 2:
            return 0.0
        r = np.abs(rho)
        np.fill_diagonal(r, 0.0)
        return float(r.max())

    def _build_population(self):
        """``U_pop``, ``V_pop``: the π-weighted populations of the classes (one for single-Gaussian data;
        docs/theory.md §12), each with its centroid."""
        self.class_populations = []
        for k in range(self.model.data.n_classes):
            sigma_t = self.e_t ** 2 * self.class_sigma[k] + self.delta_t
            h0 = (self.e_t / math.sqrt(self.d)) * (self.W @ self.centroids[:, k])[:, None]
            U_pop, V_pop = self._population(sigma_t, h0)
            self.class_populations.append((U_pop, V_pop, float(np.mean(1.0 / sigma_t))))
        weights = self.model.data.class_weights
        self.U_pop = sum(w * part[0] for w, part in zip(weights, self.class_populations))
        self.V_pop = sum(w * part[1] for w, part in zip(weights, self.class_populations))

    def _population(self, sigma_t, h0):
        """``U_pop`` and ``V_pop`` by Mehler's formula at the mean pre-activations ``h0`` (p×1: 0, or
        ``e^{-t} W μ/√d`` for a class centroid μ), ``a_i = γ_i`` (docs/theory.md §9): for y ~ N(e^{-t}μ, Σ_t),
        ``h_i = w_i·y/√d = h0_i + γ_i u_i`` with correlations ρ̃, and Stein's lemma gives ``V_pop``."""
        gamma, rho = self._correlations(self.W * np.sqrt(sigma_t))
        rho_max = self._rho_max(rho)
        # The population block is only p×1: take every order the a-priori bound could need, then truncate.
        dmax = float(np.max(hermite_coefficients(h0, gamma, self.activation, 1, ("panels", 16), self.backend)[1]))
        s_up = _order_upper(rho_max, 2.0 * dmax, self.tol, self.max_order)
        rows = np.unique(np.linspace(0, self.p - 1, min(self.p, _PILOT)).astype(int))
        rule, err, _, _ = _select_rule(h0[rows], gamma[rows], self.activation, max(s_up, 1) + 1, self.backend,
                                       self.quad_tol)
        G, D = hermite_coefficients(h0, gamma, self.activation, max(s_up, 1) + 1, rule, self.backend)
        dbar = D[:, 0]
        tails = _tails(G, dbar)
        order = _first_order(tails.max(axis=1), rho_max, self.tol)
        if order is None:
            order = tails.shape[0] - 1
            warnings.warn(f"U_pop: Mehler order capped at {order} (max_order)", ConvergenceWarning, stacklevel=3)
        self.order_pop = order
        self.rho_max_pop = rho_max
        self.truncation_bound_pop, self.truncation_bound_pop_op = _offdiag_bound(rho, tails[order], order)
        self.quadrature["pop"] = (rule, err)
        U_pop = kernels.mehler_rank_one(np.ascontiguousarray(G[:order + 1, :, 0]), rho, dbar)
        # Stein: E[σ(h0_i + γ_i u) y] = κ̃_1(i)/γ_i · Σ_t w_i/√d, so V_pop = √Δ_t E[σ yᵀ] Σ_t^{-1}
        return U_pop, (math.sqrt(self.delta_t) * G[1, :, 0] / gamma)[:, None] * self.W / math.sqrt(self.d)

    def _data_coefficients(self, h, a, rows, n_orders):
        """Hermite coefficients of the whole p×n block with the cheapest adequate method.

        The quadrature rule is chosen on the pilot block (rows ``rows``, first columns); then, if it is
        cheaper, piecewise Chebyshev interpolation in h is used at the smallest degree whose error on
        the pilot block is within ``quad_tol``. Returns ``(G, D, rule, error, degree or None)``.
        """
        hp, ap = np.ascontiguousarray(h[rows, :_PILOT // 2]), a[rows]
        rule, err, Gp, Dp = _select_rule(hp, ap, self.activation, n_orders, self.backend, self.quad_tol)
        lo, width = _row_pieces(h)
        nodes_per_element = rule[1] * (1 if rule[0] == "gauss-hermite" else _PANEL_L / _PANEL_WIDTH + 1)
        if self.interpolate:
            for degree in _CHEB_DEGREES:
                # Interpolation pays when the nodes per row are few compared with the n direct evaluations
                # and its multiply-adds per element are fewer than the direct rule's σ evaluations.
                if _CHEB_PIECES * degree * 2 > h.shape[1] or degree >= nodes_per_element:
                    break
                Gi, Di = interpolated_coefficients(hp, ap, self.activation, n_orders, rule, degree, lo[rows],
                                                   width[rows], self.backend)
                ierr = _max_diff((Gi, Di), (Gp, Dp))
                if ierr <= self.quad_tol * max(1.0, float(Dp.max())):
                    G, D = interpolated_coefficients(h, a, self.activation, n_orders, rule, degree, lo, width,
                                                     self.backend)
                    return G, D, rule, err + ierr, degree
        G, D = hermite_coefficients(h, a, self.activation, n_orders, rule, self.backend)
        return G, D, rule, err, None

    def _build_exact(self, order):
        """U and V with the noise averaged exactly (Mehler expansion, docs/theory.md §9)."""
        out = self._noise_average(self.X, order, "U")
        self.U, self.V = out["U"], out["V"]
        self.rho_max, self.order, self.order_dense = out["rho_max"], out["order"], out["order_dense"]
        self.quadrature["data"] = out["quadrature"]
        self.interpolation = out["interpolation"]
        self.truncation_bound, self.truncation_bound_op = out["truncation_bound"], out["truncation_bound_op"]
        self.timings.update(out["timings"])
        if self.mixture:   # the same sums restricted to each class's columns (docs/theory.md §12)
            G, D, S, rho, c = out["G"], out["D"], out["order"], out["rho"], out["c"]
            self.class_train = []
            for k in range(self.model.data.n_classes):
                cols = np.flatnonzero(self.labels == k)
                Gk = np.ascontiguousarray(G[:S + 1][:, :, cols])
                Uk = _mehler_sum(Gk, rho, D[:, cols].mean(axis=1), weight=1.0 / cols.size)[0]
                Vk = (Gk[1].mean(axis=1) / c)[:, None] * self.W / math.sqrt(self.d)
                self.class_train.append((Uk, Vk, 1.0))

    def _noise_average(self, X, order, name):
        """``U = (1/n) Σ_ν E_ξ σσᵀ`` and ``V = (1/n) Σ_ν E_ξ σ ξᵀ`` over the columns ν of any X (d×n), with the
        noise ξ averaged exactly (Mehler expansion, docs/theory.md §9), and the diagnostics of the average.

        Returns a dict with ``U``, ``V``, ``order``, ``rho_max``, ``quadrature``, ``interpolation``,
        ``truncation_bound(_op)``, ``timings`` and the work arrays ``G``, ``D``, ``rho``, ``c``."""
        n = X.shape[1]
        c, rho = self._correlations(self.W)
        rho_max = self._rho_max(rho)
        h = (self.e_t / math.sqrt(self.d)) * (self.W @ X)
        a = math.sqrt(self.delta_t) * c
        rows = np.unique(np.linspace(0, self.p - 1, min(self.p, _PILOT)).astype(int))

        if order is None:
            # Guess the order on the pilot block with an accurate rule (a-priori bound T̄_S ≤ D̄ as a cap).
            # A guess needs the tails to a few per cent only, so a cheap rule will do; the order is then
            # verified with the full block and the selected rule.
            guess_rule = ("panels", 8) if self.activation.kinks else ("gauss-hermite", 64)
            hp, ap = np.ascontiguousarray(h[rows, :_PILOT // 2]), a[rows]
            pilot_d = hermite_coefficients(hp, ap, self.activation, 1, guess_rule, self.backend)[1]
            s_up = _order_upper(rho_max, 2.0 * float(pilot_d.max()), self.tol, self.max_order)
            Gp, Dp = hermite_coefficients(hp, ap, self.activation, s_up + 1, guess_rule, self.backend)
            guess = _first_order(_tails(Gp, Dp.mean(axis=1)).max(axis=1), rho_max, self.tol)
            S = s_up if guess is None else min(s_up, guess + 2)
        else:
            S = int(order)

        t1 = time.perf_counter()
        G, D, rule, err, degree = self._data_coefficients(h, a, rows, max(S, 1) + 1)
        dbar = D.mean(axis=1)
        tails = _tails(G, dbar)
        if order is None:
            best = _first_order(tails.max(axis=1), rho_max, self.tol)
            if best is None:
                # The pilot under-estimated the order: fall back on the a-priori bound T̄_S ≤ D̄.
                s_up = max(S + 1, _order_upper(rho_max, float(dbar.max()), self.tol, self.max_order))
                G, D, rule, err, degree = self._data_coefficients(h, a, rows, s_up + 1)
                dbar = D.mean(axis=1)
                tails = _tails(G, dbar)
                best = _first_order(tails.max(axis=1), rho_max, self.tol)
                if best is None:
                    best = G.shape[0] - 1
                    warnings.warn(f"{name}: Mehler order capped at {best} (max_order); truncation bound above tol",
                                  ConvergenceWarning, stacklevel=3)
            S = best
        timings = {"coefficients": time.perf_counter() - t1}
        t1 = time.perf_counter()
        # With the order chosen here, an entry stops at the first order whose bound is ≤ tol; a given order is
        # taken by every entry.
        tail_sqrt = np.sqrt(tails[:S + 1])
        dense = _dense_order(rho, tail_sqrt, self.tol) if order is None else S
        U, bound, bound_op = _mehler_sum(G[:S + 1], rho, dbar, 1.0 / n, tail_sqrt, self.tol, dense)
        timings["mehler"] = time.perf_counter() - t1
        V = (G[1].mean(axis=1) / c)[:, None] * self.W / math.sqrt(self.d)
        return {"U": U, "V": V, "order": S, "order_dense": dense, "rho_max": rho_max, "quadrature": (rule, err),
                "interpolation": None if degree is None else (_CHEB_PIECES, degree), "truncation_bound": bound,
                "truncation_bound_op": bound_op, "timings": timings, "G": G, "D": D, "rho": rho, "c": c}

    def _build_monte_carlo(self, m):
        """U and V from m frozen noise draws per training point: averages over the n·m pairs (x_ν, ξ)."""
        rng = noise_rng(self.seed)
        self.order = self.order_dense = None
        self.rho_max = None
        self.interpolation = None
        self.truncation_bound = self.truncation_bound_op = None
        h = self.e_t * (self.W @ self.X)
        U = np.zeros((self.p, self.p))
        V = np.zeros((self.p, self.d))
        S = 0.0
        scale = math.sqrt(self.delta_t)
        classes = [np.flatnonzero(self.labels == k) for k in range(self.model.data.n_classes)] if self.mixture else []
        acc = [[np.zeros((self.p, self.p)), np.zeros((self.p, self.d)), 0.0] for _ in classes]
        for _ in range(m):
            xi = rng.standard_normal((self.d, self.n))
            F = np.asarray(self.activation.fn((h + scale * (self.W @ xi)) / math.sqrt(self.d)), dtype=np.float64)
            U += F @ F.T
            V += F @ xi.T
            S += float(np.einsum("ij,ij->", xi, xi))
            for cols, a in zip(classes, acc):
                a[0] += F[:, cols] @ F[:, cols].T
                a[1] += F[:, cols] @ xi[:, cols].T
                a[2] += float(np.einsum("ij,ij->", xi[:, cols], xi[:, cols]))
        if self.mixture:
            self.class_train = [(a[0] / (cols.size * m), a[1] / (cols.size * m), a[2] / (cols.size * m * self.d))
                                for cols, a in zip(classes, acc)]
        self.U = U / (self.n * m)
        self.V = V / (self.n * m)
        self.noise_trace = S / (self.n * m * self.d)

    # ------------------------------------------------------------------ spectral data and curves

    @cached_property
    def flow(self) -> ClosedFormFlow:
        """The closed-form gradient flow of ``U, V, U_pop, V_pop`` (docs/theory.md §3)."""
        inv = float(sum(w * part[2] for w, part in zip(self.model.data.class_weights, self.class_populations)))
        return ClosedFormFlow(self.U, self.V, self.U_pop, self.V_pop, delta_t=self.delta_t,
                              inv_sigma_t=inv, noise_trace=self.noise_trace, weight_decay=self.model.weight_decay,
                              model=self.model, source=self.SOURCE, size=self.size)

    def class_curves(self, taus) -> tuple:
        """Per-class curves on Gaussian-mixture data (docs/theory.md §12): test loss and score error on fresh
        points of class c (``U_pop,c``, ``V_pop,c`` exact, centroid included), train loss on the training
        points of class c, for the read-out trained on the whole set.

        Returns
        -------
        tuple of LossCurves (:meth:`ClosedFormFlow.population_curves`)
        """
        if not self.mixture:
            raise ValueError("model.data is not a GaussianMixture: per-class curves need mixture data")
        parts = [dict(U_pop=P, V_pop=Vp, inv_sigma_t=inv, U_train=Uc, V_train=Vc, noise_trace=Sc)
                 for (P, Vp, inv), (Uc, Vc, Sc) in zip(self.class_populations, self.class_train)]
        return self.flow.population_curves(taus, parts)


def _check_backend(backend, activation):
    backend = choice("backend", backend, ("auto", "numba", "numpy"))
    compiled = activation.name in kernels.ACTIVATION_CODES
    if backend == "numba" and not compiled:
        raise ValueError(f"backend='numba' supports the activations {sorted(kernels.ACTIVATION_CODES)}, "
                         f"not {activation.name!r}; use backend='numpy'")
    if backend == "auto":
        return "numba" if compiled else "numpy"
    return backend


def random_features(model, d, seed=0, noise=None, order=None, *, tol=1e-10, quad_tol=1e-12,
                    max_order=96, backend="auto", interpolate=True, feature_seed=None) -> RandomFeatures:
    """Sample the true random-features model at dimension d and average its training noise.

    Parameters
    ----------
    model : RFModel
    d : int
        Data dimension; ``p = round(ψ_p d)``, ``n = round(ψ_n d)``.
    seed : int, numpy.random.Generator or None
        W and X come from ``sample_problem(model, d, seed)``; Monte-Carlo noise from ``noise_rng(seed)``.
    noise : "exact", int or None
        Deprecated: the noise draws are the model's ``m`` (``math.inf``: exact noise averages by the Mehler
        expansion; ``m ≥ 1``: m frozen draws per training point, U and V the empirical averages over the
        n·m pairs). U_pop, V_pop are always exact. Given, it replaces the model's m (with a warning).
    order : int or None
        Mehler order S of every entry of U; None: each entry stops at the smallest order whose truncation
        bound is ≤ ``tol``.
    tol : float
        Target bound on every neglected off-diagonal entry of U and U_pop (default 1e-10).
    quad_tol : float
        Target change of any Hermite coefficient when the quadrature rule is refined (default 1e-12).
    max_order : int
        Largest automatic Mehler order (a warning is issued when it is not enough).
    backend : {"auto", "numba", "numpy"}
        Per-element quadrature: compiled kernels (built-in activations) or pure numpy (any callable).
    interpolate : bool
        Allow piecewise Chebyshev interpolation of the coefficients in h (used only when it is cheaper
        and its error on the pilot block is within ``quad_tol``; see :func:`interpolated_coefficients`).
    feature_seed : int, SeedSequence or None
        Draw W from ``default_rng(feature_seed)`` instead, keeping the training data of ``seed``
        (:func:`rfdiff.simulate.sample_problem`).

    Returns
    -------
    RandomFeatures

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> rf = rd.simulate.random_features(rd.RFModel(psi_p=4, psi_n=2, t=0.1), d=20, seed=1)
    >>> end = rf.loss_curves([0.0, np.inf])           # the closed-form flow of this finite model
    >>> float(end.train[0]), bool(end.train[1] <= end.test[1])
    (1.0, True)
    """
    return RandomFeatures(model, d, seed=seed, noise=noise, order=order, tol=tol, quad_tol=quad_tol,
                          max_order=max_order, backend=backend, interpolate=interpolate,
                          feature_seed=feature_seed)
