"""numba kernels for the exact noise averages of the true random features (docs/theory.md §9).

The per-element work of :mod:`rfdiff.simulate.features` is the family of one-dimensional
Gaussian integrals

    g̃_s(i, ν) = E_u[ hn_s(u) σ(h_iν + a_i u) ],      D(i, ν) = E_u[ σ(h_iν + a_i u)² ],

``u ~ N(0, 1)``, ``hn_s = He_s/√(s!)`` the normalised probabilists' Hermite polynomials, for every
pair (i, ν) of a p×n grid and every order ``s ≤ S``. Two quadrature rules are offered:

* :func:`coefficients_gh` — nodes shared by every element (Gauss–Hermite, or composite
  Gauss–Legendre for a smooth σ);
* :func:`coefficients_panels` — composite Gauss–Legendre on ``[−L, L]`` with the panel grid refined
  at the kinks of σ, which sit at a different ``u = (k − h_iν)/a_i`` for every element.

plus :func:`chebyshev_eval` (piecewise Chebyshev series in h, the cheap route for large n),
:func:`scale_lower`, :func:`mehler_orders`, :func:`mehler_finish` and :func:`mehler_rank_one` (the Mehler series:
Horner passes, the orders each entry needs, the further orders of the entries that need them) and
:func:`truncation_bound` (the population's error bound).

Each is a serial ``nogil`` kernel over a block of rows i, run in ``NUMBA_NUM_THREADS`` Python threads
(:func:`_rows`; ``parallel=True`` kernels computed the same, as fast, but took 4× longer to compile: 6.7 s
CPU for the six, now 1.8 s). None uses ``fastmath``; all expect C-contiguous float64 arrays. The activation
is selected by an integer code (:data:`ACTIVATION_CODES`); activations without a code go through the
pure-numpy path of :mod:`rfdiff.simulate.features`, which implements the same rules and is tested equal to
these kernels.

All kernels and helpers live in this one module because they are compiled with ``cache=True``.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

__all__ = ["ACTIVATION_CODES", "chebyshev_eval", "coefficients_gh", "coefficients_panels", "mehler_finish",
           "mehler_orders", "mehler_rank_one", "scale_lower", "truncation_bound", "warm"]

#: Activations compiled into the kernels (name → code used by :func:`_act`).
ACTIVATION_CODES = {"tanh": 0, "relu": 1, "erf": 2, "linear": 3, "sigmoid": 4}

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BLOCK = 8          # elements processed together by coefficients_gh
#: Work (in multiply-adds or σ evaluations) below which the rows run in the calling thread: starting
#: threads (~0.1 ms) would cost more than they save.
_PARALLEL_MIN_WORK = 1 << 18


def _rows(work, p, row_cost):
    """``work(i0, i1)`` over blocks of rows ``[i0, i1)`` of ``range(p)`` (``row_cost`` multiply-adds per row), in
    ``NUMBA_NUM_THREADS`` threads.

    ``work`` calls a ``nogil`` kernel. Rows are dealt in blocks of about 1/(8·threads) of them, each thread
    taking the next block when done with one (rows differ in cost, e.g. by their kinks), on a pool kept for
    the process (:func:`_pool`). Small problems, or one thread (``NUMBA_NUM_THREADS=1``, as in a sweep's
    workers), run in the calling thread.
    """
    threads = max(1, min(int(nb.config.NUMBA_NUM_THREADS), p))
    if threads == 1 or p * row_cost < _PARALLEL_MIN_WORK:
        work(0, p)
        return
    block = max(1, -(-p // (8 * threads)))
    starts = iter(range(0, p, block))      # next() on it is atomic under the GIL

    def loop():
        for i0 in starts:
            work(i0, min(p, i0 + block))

    pool = _pool(threads)
    for job in [pool.submit(loop) for _ in range(threads)]:
        job.result()


_POOLS = {}


def _pool(threads):
    """One thread pool per thread count, started on first use and kept (a pool per call cost ~0.1 ms, as much as
    the work of a small call); callers from several threads share it, each waiting for its own jobs."""
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS.setdefault(threads, ThreadPoolExecutor(threads, thread_name_prefix="rfdiff-rows"))
    return pool


@nb.njit(cache=True, inline="always")
def _act(code, x):
    """σ(x) for the activation with the given code (see :data:`ACTIVATION_CODES`)."""
    if code == 0:
        # tanh x = 1 − 2/(e^{2x} + 1): absolute error ≤ 4e-16 (what the quadratures need), and about
        # 2.5× cheaper than libm tanh.
        if x > 20.0:
            return 1.0
        if x < -20.0:
            return -1.0
        return 1.0 - 2.0 / (math.exp(2.0 * x) + 1.0)
    elif code == 1:
        return x if x > 0.0 else 0.0
    elif code == 2:
        return math.erf(x)
    elif code == 3:
        return x
    else:  # sigmoid, written like scipy.special.expit to avoid overflow
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)


@nb.njit(cache=True, nogil=True)
def _coefficients_gh_rows(h, a, nodes, weights, hn_w, code, G, D, i0, i1):
    """Rows ``i0 ≤ i < i1`` of :func:`coefficients_gh` into ``G``, ``D``."""
    n = h.shape[1]
    nq, ns = hn_w.shape
    # Blocks of _BLOCK elements: the innermost loops run over the block, so they vectorise.
    acc = np.empty((ns, _BLOCK))
    vals = np.empty(_BLOCK)
    d2 = np.empty(_BLOCK)
    for i in range(i0, i1):
        ai = a[i]
        for nu0 in range(0, n, _BLOCK):
            nbk = min(_BLOCK, n - nu0)
            acc[:, :] = 0.0
            d2[:] = 0.0
            for q in range(nq):
                uq = ai * nodes[q]
                wq = weights[q]
                for b in range(nbk):
                    v = _act(code, h[i, nu0 + b] + uq)
                    vals[b] = v
                    d2[b] += wq * v * v
                for s in range(ns):
                    c = hn_w[q, s]
                    for b in range(nbk):
                        acc[s, b] += c * vals[b]
            for s in range(ns):
                for b in range(nbk):
                    G[s, i, nu0 + b] = acc[s, b]
            for b in range(nbk):
                D[i, nu0 + b] = d2[b]


def coefficients_gh(h, a, nodes, weights, hn_w, code):
    """Hermite coefficients of ``σ(h_iν + a_i u)`` by a rule whose nodes are shared by every element.

    Used for Gauss–Hermite and for the composite Gauss–Legendre rule of a σ without kinks.

    Parameters
    ----------
    h : ndarray, shape (p, n)
        Centres ``h_iν``.
    a : ndarray, shape (p,)
        Noise scales ``a_i``.
    nodes, weights : ndarray, shape (Q,)
        A rule for the standard normal: ``Σ_q w_q f(u_q) ≈ E f(u)``.
    hn_w : ndarray, shape (Q, S + 1)
        ``w_q hn_s(u_q)``.
    code : int
        Activation code.

    Returns
    -------
    G : ndarray, shape (S + 1, p, n)
        ``G[s, i, ν] = Σ_q w_q hn_s(u_q) σ(h_iν + a_i u_q)``.
    D : ndarray, shape (p, n)
        ``Σ_q w_q σ(h_iν + a_i u_q)²``.
    """
    p, n = h.shape
    G = np.empty((hn_w.shape[1], p, n))
    D = np.empty((p, n))
    _rows(lambda i0, i1: _coefficients_gh_rows(h, a, nodes, weights, hn_w, code, G, D, i0, i1), p,
          n * hn_w.size)
    return G, D


@nb.njit(cache=True, inline="always")
def _insert_sorted(buf, m, x):
    """Insert x into the sorted prefix ``buf[:m]`` (insertion sort step); returns the new length."""
    j = m
    while j > 0 and buf[j - 1] > x:
        buf[j] = buf[j - 1]
        j -= 1
    buf[j] = x
    return m + 1


@nb.njit(cache=True, nogil=True)
def _coefficients_panels_rows(h, a, grid, kinks, xl, wl, n_orders, code, G, D, i0, i1):
    """Rows ``i0 ≤ i < i1`` of :func:`coefficients_panels` into ``G``, ``D``."""
    n = h.shape[1]
    nb_grid = grid.shape[0]
    nk = kinks.shape[0]
    nm = xl.shape[0]
    lo_lim = grid[0]
    hi_lim = grid[nb_grid - 1]
    # hn_{s+1} = α_s u hn_s − β_s hn_{s−1},  α_s = 1/√(s+1),  β_s = √s/√(s+1)
    alpha = np.empty(n_orders + 1)
    beta = np.empty(n_orders + 1)
    for s in range(n_orders + 1):
        alpha[s] = 1.0 / math.sqrt(s + 1.0)
        beta[s] = math.sqrt(s) / math.sqrt(s + 1.0)
    acc = np.empty(n_orders)
    bp = np.empty(nb_grid + nk)
    for i in range(i0, i1):
        ai = a[i]
        for nu in range(n):
            hv = h[i, nu]
            for s in range(n_orders):
                acc[s] = 0.0
            m = 0
            for j in range(nb_grid):
                bp[j] = grid[j]
            m = nb_grid
            for k in range(nk):
                uk = (kinks[k] - hv) / ai
                uk = min(max(uk, lo_lim), hi_lim)
                m = _insert_sorted(bp, m, uk)
            d2 = 0.0
            for j in range(m - 1):
                c = 0.5 * (bp[j] + bp[j + 1])
                r = 0.5 * (bp[j + 1] - bp[j])
                for q in range(nm):
                    u = c + r * xl[q]
                    wq = r * wl[q] * _INV_SQRT_2PI * math.exp(-0.5 * u * u)
                    v = _act(code, hv + ai * u)
                    d2 += wq * v * v
                    wv = wq * v
                    acc[0] += wv
                    if n_orders > 1:
                        acc[1] += wv * u
                    h_prev = 1.0
                    h_cur = u
                    for s in range(1, n_orders - 1):
                        h_next = alpha[s] * u * h_cur - beta[s] * h_prev
                        acc[s + 1] += wv * h_next
                        h_prev = h_cur
                        h_cur = h_next
            for s in range(n_orders):
                G[s, i, nu] = acc[s]
            D[i, nu] = d2


def coefficients_panels(h, a, grid, kinks, xl, wl, n_orders, code):
    """Hermite coefficients of a kinked ``σ(h_iν + a_i u)`` by kink-aware composite Gauss–Legendre.

    Parameters
    ----------
    h : ndarray, shape (p, n)
    a : ndarray, shape (p,)
    grid : ndarray, shape (P + 1,)
        Increasing panel breakpoints on ``[−L, L]``.
    kinks : ndarray, shape (K,)
        Kinks of σ (in pre-activation units).
    xl, wl : ndarray, shape (m,)
        Gauss–Legendre rule on ``[−1, 1]``.
    n_orders : int
        ``S + 1``.
    code : int
        Activation code.

    Returns
    -------
    G, D
        As :func:`coefficients_gh`.

    Notes
    -----
    For each element the breakpoints are ``grid ∪ {clip((k − h_iν)/a_i, −L, L)}`` sorted, and each of
    the ``P + K`` intervals ``[lo, hi]`` carries ``m`` Legendre nodes ``u = c + r x_l`` with weights
    ``r w_l φ(u)``, ``φ`` the standard normal density; σ is smooth inside every interval. The Hermite
    values follow the stable recurrence ``hn_{s+1} = (u hn_s − √s hn_{s−1})/√(s+1)``.
    """
    p, n = h.shape
    G = np.empty((n_orders, p, n))
    D = np.empty((p, n))
    _rows(lambda i0, i1: _coefficients_panels_rows(h, a, grid, kinks, xl, wl, n_orders, code, G, D, i0, i1),
          p, n * (grid.size + kinks.size) * xl.size * n_orders)
    return G, D


@nb.njit(cache=True, nogil=True)
def _chebyshev_eval_rows(h, lo, width, coef, out, i0, i1):
    """Rows ``i0 ≤ i < i1`` of :func:`chebyshev_eval` into ``out``."""
    n = h.shape[1]
    n_pieces, m, nr = coef.shape[1], coef.shape[2], coef.shape[3]
    tk = np.empty(m)
    acc = np.empty(nr)
    for i in range(i0, i1):
        for nu in range(n):
            y = (h[i, nu] - lo[i]) / width[i]
            j = min(max(int(y), 0), n_pieces - 1)
            x = 2.0 * (y - j) - 1.0
            tk[0] = 1.0
            if m > 1:
                tk[1] = x
            for k in range(2, m):
                tk[k] = 2.0 * x * tk[k - 1] - tk[k - 2]
            for r in range(nr):
                acc[r] = 0.0
            for k in range(m):
                t = tk[k]
                for r in range(nr):
                    acc[r] += t * coef[i, j, k, r]
            for r in range(nr):
                out[r, i, nu] = acc[r]


def chebyshev_eval(h, lo, width, coef):
    """Evaluate piecewise Chebyshev series of every row at the points ``h_iν``.

    Parameters
    ----------
    h : ndarray, shape (p, n)
        Evaluation points; row i must lie in ``[lo_i, lo_i + P width_i]``.
    lo, width : ndarray, shape (p,)
        Left end and piece width of row i's P equal pieces.
    coef : ndarray, shape (p, P, M, R)
        Chebyshev coefficients of R functions on each piece (degree M − 1).

    Returns
    -------
    ndarray, shape (R, p, n)
        ``out[r, i, ν] = Σ_k coef[i, j, k, r] T_k(x)``, j the piece of ``h_iν`` and x ∈ [−1, 1] its
        position in it.
    """
    p, n = h.shape
    out = np.empty((coef.shape[3], p, n))
    _rows(lambda i0, i1: _chebyshev_eval_rows(h, lo, width, coef, out, i0, i1), p, n * coef.shape[2] * coef.shape[3])
    return out


@nb.njit(cache=True, nogil=True)
def _scale_lower_rows(out, rho, i0, i1):
    for i in range(i0, i1):
        for j in range(i):
            out[i, j] *= rho[i, j]


def scale_lower(out, rho):
    """In place ``out_ij ← ρ_ij out_ij`` below the diagonal (``j < i``; one Horner step of the Mehler series)."""
    p = out.shape[0]
    _rows(lambda i0, i1: _scale_lower_rows(out, rho, i0, i1), p, p // 2)


@nb.njit(cache=True, inline="always")
def _entry_order(r, tail_sqrt, i, j, first, tol):
    """Smallest order ``s ≥ first`` (at most the last of ``tail_sqrt``) with ``r^{s+1} t_s(i) t_s(j) ≤ tol``, and
    ``r^{s+1}``."""
    last = tail_sqrt.shape[0] - 1
    s = first
    pw = r
    for _ in range(first):
        pw *= r
    while s < last and pw * tail_sqrt[s, i] * tail_sqrt[s, j] > tol:
        s += 1
        pw *= r
    return s, pw


@nb.njit(cache=True, nogil=True)
def _orders_rows(rho, tail_sqrt, tol, counts, i0, i1):
    for i in range(i0, i1):
        for j in range(i):
            s, _ = _entry_order(abs(rho[i, j]), tail_sqrt, i, j, 0, tol)
            counts[i, s] += 1


def mehler_orders(rho, tail_sqrt, tol):
    """How many entries below the diagonal need each Mehler order.

    Parameters
    ----------
    rho : ndarray, shape (p, p)
    tail_sqrt : ndarray, shape (S + 1, p)
        ``t_s(i) = sqrt(T̄_s(i))``, the Parseval tails after order s.
    tol : float

    Returns
    -------
    ndarray of int, shape (S + 1,)
        Entry s counts the pairs ``i > j`` whose smallest order with ``|ρ_ij|^{s+1} t_s(i) t_s(j) ≤ tol`` is s
        (the last entry also counts those that need more than S).
    """
    p = rho.shape[0]
    counts = np.zeros((p, tail_sqrt.shape[0]), dtype=np.int64)
    _rows(lambda i0, i1: _orders_rows(rho, tail_sqrt, tol, counts, i0, i1), p, p * 4)
    return counts.sum(axis=0)


@nb.njit(cache=True, nogil=True)
def _finish_rows(out, rho, G, tail_sqrt, dense, tol, weight, diag, row_max, row_sq, i0, i1):
    n = G.shape[2]
    for i in range(i0, i1):
        mx = 0.0
        sq = 0.0
        for j in range(i):
            r = rho[i, j]
            s, pw = _entry_order(abs(r), tail_sqrt, i, j, dense, tol)
            b = pw * tail_sqrt[s, i] * tail_sqrt[s, j]
            mx = max(mx, b)
            sq += b * b
            v = out[i, j]
            rk = 1.0
            for _ in range(dense):
                rk *= r
            for k in range(dense + 1, s + 1):         # the orders this entry needs beyond the dense ones
                rk *= r
                dot = 0.0
                for nu in range(n):
                    dot += G[k, i, nu] * G[k, j, nu]
                v += rk * dot
            v *= weight
            out[i, j] = v
            out[j, i] = v
        out[i, i] = diag[i]
        row_max[i] = mx
        row_sq[i] = sq


def mehler_finish(out, rho, G, tail_sqrt, dense, tol, weight, diag):
    """Complete a Mehler sum whose orders ``s ≤ dense`` are summed below the diagonal of ``out``, in place.

    Each entry ``i > j`` takes the further orders ``dense < k ≤ s_ij`` (``ρ_ij^k G_k[i]·G_k[j]``), ``s_ij`` the
    smallest order ``≥ dense`` whose bound ``|ρ_ij|^{s+1} t_s(i) t_s(j)`` is ≤ tol (at most S); then it is
    multiplied by ``weight`` and mirrored above the diagonal, and the diagonal is set to ``diag``.

    Parameters
    ----------
    out : ndarray, shape (p, p)
    rho : ndarray, shape (p, p)
    G : ndarray, shape (S + 1, p, n)
    tail_sqrt : ndarray, shape (S + 1, p)
    dense : int
    tol, weight : float
    diag : ndarray, shape (p,)

    Returns
    -------
    (float, float)
        Largest entry and squared Frobenius norm (both triangles) of the bounds ``|ρ_ij|^{s_ij+1} t_{s_ij}(i)
        t_{s_ij}(j)`` on the neglected orders, unweighted.
    """
    p = out.shape[0]
    row_max = np.zeros(p)
    row_sq = np.zeros(p)
    _rows(lambda i0, i1: _finish_rows(out, rho, G, tail_sqrt, dense, tol, weight, diag, row_max, row_sq, i0, i1),
          p, p * 4)
    return row_max.max(), 2.0 * row_sq.sum()


@nb.njit(cache=True, nogil=True)
def _mehler_rows(kappa, rho, diag, out, i0, i1):
    ns, p = kappa.shape
    for i in range(i0, i1):
        ki = kappa[ns - 1, i]
        for j in range(p):
            out[i, j] = ki * kappa[ns - 1, j]
        for s in range(ns - 2, -1, -1):
            ki = kappa[s, i]
            for j in range(p):          # contiguous in j: vectorises
                out[i, j] = out[i, j] * rho[i, j] + ki * kappa[s, j]
        out[i, i] = diag[i]


def mehler_rank_one(kappa, rho, diag):
    """``U_ij = Σ_s ρ_ij^s κ_s(i) κ_s(j)`` (i ≠ j) by Horner's rule, ``U_ii = diag_i``.

    Parameters
    ----------
    kappa : ndarray, shape (S + 1, p)
    rho : ndarray, shape (p, p)
    diag : ndarray, shape (p,)
    """
    p = kappa.shape[1]
    out = np.empty((p, p))
    _rows(lambda i0, i1: _mehler_rows(kappa, rho, diag, out, i0, i1), p, p * kappa.shape[0])
    return out


@nb.njit(cache=True, nogil=True)
def _bound_rows(rho, tail_sqrt, k, row_max, row_sq, i0, i1):
    p = rho.shape[0]
    for i in range(i0, i1):
        mx = 0.0
        sq = 0.0
        for j in range(p):
            if j == i:
                continue
            r = abs(rho[i, j])
            b = 1.0
            for _ in range(k):
                b *= r
            b *= tail_sqrt[i] * tail_sqrt[j]
            mx = max(mx, b)
            sq += b * b
        row_max[i] = mx
        row_sq[i] = sq


def truncation_bound(rho, tail_sqrt, k):
    """Largest entry and squared Frobenius norm of ``B_ij = |ρ_ij|^k t_i t_j`` over i ≠ j.

    Parameters
    ----------
    rho : ndarray, shape (p, p)
    tail_sqrt : ndarray, shape (p,)
        ``t_i = sqrt(T̄_S(i))``.
    k : int
        ``S + 1``.
    """
    p = rho.shape[0]
    row_max = np.zeros(p)
    row_sq = np.zeros(p)
    _rows(lambda i0, i1: _bound_rows(rho, tail_sqrt, k, row_max, row_sq, i0, i1), p, p * k)
    return row_max.max(), row_sq.sum()


def warm() -> None:
    """Compile (or load from cache) every kernel signature once, on tiny inputs."""
    h = np.zeros((2, 2))
    a = np.ones(2)
    x, w = np.polynomial.hermite_e.hermegauss(4)
    w = w / w.sum()
    hn_w = np.ascontiguousarray(w[:, None] * np.ones((4, 2)))
    coefficients_gh(h, a, x, w, hn_w, 0)
    xl, wl = np.polynomial.legendre.leggauss(4)
    coefficients_panels(h, a, np.linspace(-1.0, 1.0, 3), np.zeros(1), xl, wl, 2, 1)
    chebyshev_eval(h, np.zeros(2), np.ones(2), np.ones((2, 1, 3, 2)))
    m = np.eye(2)
    scale_lower(m.copy(), m)
    mehler_orders(m, np.ones((2, 2)), 1e-10)
    mehler_finish(m.copy(), m, np.ones((2, 2, 2)), np.ones((2, 2)), 0, 1e-10, 1.0, np.ones(2))
    mehler_rank_one(np.ones((2, 2)), m, np.ones(2))
    truncation_bound(m, np.ones(2), 2)
