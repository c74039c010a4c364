"""Two-point deterministic equivalents: traces of products of two resolvents (docs/theory.md §5, §10).

The test loss needs ``T(z1, z2) = lim (1/d) Tr[K R(z1) U_pop R(z2)]`` and its noisy counterpart
``T_VV(z1, z2) = lim (1/d) Tr[Vᵀ R(z1) U_pop R(z2) V]``; both follow from the one-point solutions at z1 and
z2 (:class:`NodeSolution`) by two nested leave-one-out steps, for any data law and any structure
(:func:`pair_traces`). :func:`two_point` is the public one-shot form.
"""
from __future__ import annotations

import functools
import math

import numba as nb
import numpy as np
import scipy.linalg

from .spectral.kernels import _linsolve
from .spectral.onepoint import kernel_inputs, solve_verified
from .structure import Symbol, structure

__all__ = ["NodeSolution", "pair_traces", "node_pair_traces", "law_sides", "two_point", "K_SYMBOL"]


#: Below this relative distance ``|ζ1 − ζ2|/|ζ1|`` the divided difference of the data law's Stieltjes
#: transform is replaced by the mean of its derivatives (error O(10⁻¹⁰), cancellation-free).
_CONFLUENT = 1e-5


def law_sides(law, alpha, beta):
    """Per node, what :func:`_moments` needs of the data law at ``D = α + βσ``: ``(ζ, G(ζ), G'(ζ))`` with
    ``ζ = −α/β`` and ``G(ζ) = ⟨1/(σ − ζ)⟩`` (read off ``law.averages``: ``G = β⟨1/D⟩``, ``G' = β²⟨1/D²⟩``)."""
    inv, _, inv2, _, _ = law.averages(alpha, beta)
    return -alpha / beta, beta * inv, beta * beta * inv2


@nb.njit(cache=True)
def _moments(al1, be1, al2, be2, z1, G1, dG1, z2, G2, dG2, direct, eigs, wts):
    """``⟨σ^k / (D1 D2)⟩`` for k = 0, 1, 2 with ``D_i = α_i + β_i σ``, at one pair.

    ``direct``: summed over the atoms ``eigs`` (weights ``wts``). Otherwise by partial fractions of the law's
    Stieltjes transform at ``ζ_i = −α_i/β_i`` (:func:`law_sides`):
    ``⟨σ^k/((σ−ζ1)(σ−ζ2))⟩ = [k=2] + (ζ1^k G(ζ1) − ζ2^k G(ζ2))/(ζ1 − ζ2)``, and ``[k=2] + d(ζ^k G)/dζ`` (averaged
    over the two points) when ``|ζ1 − ζ2| ≤ _CONFLUENT |ζ1|`` (error O(10⁻¹⁰), cancellation-free); both divided by
    ``β1 β2``.
    """
    if direct:
        p0 = 0j
        p1 = 0j
        p2 = 0j
        for k in range(eigs.size):
            e = eigs[k]
            r = wts[k] / ((al1 + be1 * e) * (al2 + be2 * e))
            p0 += r
            p1 += e * r
            p2 += e * e * r
        return p0, p1, p2
    scale = be1 * be2
    diff = z1 - z2
    if abs(diff) <= _CONFLUENT * abs(z1):
        d0 = 0.5 * (dG1 + dG2)
        d1 = 0.5 * (G1 + z1 * dG1 + G2 + z2 * dG2)
        d2 = 0.5 * (2.0 * z1 * G1 + z1 * z1 * dG1 + 2.0 * z2 * G2 + z2 * z2 * dG2)
    else:
        d0 = (G1 - G2) / diff
        d1 = (z1 * G1 - z2 * G2) / diff
        d2 = (z1 * z1 * G1 - z2 * z2 * G2) / diff
    return d0 / scale, d1 / scale, (d2 + 1.0) / scale


class NodeSolution:
    """One-point solution at a set of nodes, in the quantities the two-point rule needs (built from a
    :class:`~rfdiff.spectral.Stieltjes` by :meth:`of`).

    ``u_k = 1/(1 + δ_k)`` per component, the linear symbol ``m(σ) = A σ + B`` of the equivalent
    ``R̄ = (W m(Σ) Wᵀ/d + c − z)^{-1}``, ``e = ψ_p q``, ``g_W``, and the noise weights of V
    ``κ = Σ_k a_k u_k + a_S`` and ``κ_b = Σ_k c_k u_k + c_S`` (docs/theory.md §10).
    """

    def __init__(self, struct, q, deltas, g_w):
        self.q, self.g_w = q, g_w
        self.u = [1.0 / (1.0 + deltas[..., k]) for k in range(len(struct.components))]
        self.A = struct.shift.alpha + sum(c.cov.alpha * u for c, u in zip(struct.components, self.u))
        self.B = struct.shift.beta + sum(c.cov.beta * u for c, u in zip(struct.components, self.u))
        self.e = struct.psi_p * q
        self.kappa = struct.shift_noise + sum(c.noise * u for c, u in zip(struct.components, self.u))
        self.kappa_b = struct.shift_coupling + sum(c.coupling * u for c, u in zip(struct.components, self.u))

    @classmethod
    def of(cls, struct, sol) -> "NodeSolution":
        """The node quantities of a one-point solution ``sol`` (:class:`~rfdiff.spectral.Stieltjes`)."""
        return cls(struct, sol.q, sol.deltas, sol.g_w)


def pair_traces(struct, s1, s2, symbols=None):
    """``[(T, T_VV)]`` per matrix symbol P: ``T(z1, z2) = (1/d) Tr[K R1 P R2]`` and
    ``T_VV(z1, z2) = (1/d) Tr[Vᵀ R1 P R2 V]`` (docs/theory.md §5, §10); ``symbols`` default ``(U_pop,)``.

    W level (§5): for symbols ``X = W (a_x σ + b_x) Wᵀ/d + x0 I``, with ``w_i = 1/(1 + e_i m_i(σ))``,
    ``Π = q1 q2/(1 − ψ_p q1 q2 ⟨m1 m2 w1 w2⟩)``,
    ``⟨X, Y⟩ = e1 e2 ⟨x y w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0) = lim (1/d) Tr[X R̄1 Y R̄2]``,
    a symmetric bilinear form in the coefficient vectors ``(a, b, x0)``.
    G level (one φ per Wishart component): ``(I − D M) φ = D t`` with ``M_kl = ⟨C_k, C_l⟩/ψ_k``,
    ``t_k = ⟨C_k, P⟩/ψ_k``, ``D = diag(u_k(z1) u_k(z2))``, ``ψ_k = N_k/d``; then
    ``T = ⟨K, P⟩ + Σ_k φ_k ⟨K, C_k⟩`` and, with the noise weights of :class:`NodeSolution`,
    ``T_VV = κ_b(z1) κ_b(z2) T + Σ_k φ_k (a_k − c_k (κ_b(z1) g_W(z1) + κ_b(z2) g_W(z2)))``.

    The K×K system is solved in the span of the components' symbols (:func:`_span`: r ≤ 3 of them, ``B``,
    with ``C_k = Σ_i c_ki B_i``): with ``r_k = D_k/ψ_k``, ``S̃ = Σ_k r_k c_k c_kᵀ`` and ``Q̃_ij = ⟨B_i, B_j⟩``,
    ``(I − Q̃ S̃) z = (⟨B_i, P⟩)_i`` gives ``Σ_k φ_k y_k = zᵀ Σ_k r_k y_k c_k`` for any weights y_k, so
    ``T = ⟨K, P⟩ + zᵀ S̃ (⟨B_i, K⟩)_i`` (``derivations/two_point.py``, check 6). The cost is O(K) per pair
    instead of O(K³), in one compiled loop over the pairs (:func:`_pair_kernel`). Everything is linear in the
    symbol P: the parts that do not depend on it are computed once for all symbols. ``s1`` and ``s2`` broadcast
    together; :func:`node_pair_traces` takes pairs of one set of nodes by index.
    """
    shapes = [np.broadcast_shapes(*(np.shape(x) for x in (s.q, s.e, s.A, s.B, s.kappa_b, s.g_w, *s.u)))
              for s in (s1, s2)]
    shape = np.broadcast_shapes(*shapes)
    n1 = math.prod(shapes[0])
    both = _node_arrays(struct, s1, shapes[0]), _node_arrays(struct, s2, shapes[1])
    nodes = tuple(np.concatenate([a, b], axis=-1) for a, b in zip(*both))
    rows = np.broadcast_to(np.arange(n1).reshape(shapes[0]), shape).ravel()
    cols = n1 + np.broadcast_to(np.arange(math.prod(shapes[1])).reshape(shapes[1]), shape).ravel()
    return [(T.reshape(shape), TVV.reshape(shape)) for T, TVV in _pair_traces(struct, nodes, rows, cols, symbols)]


def node_pair_traces(struct, nodes, rows, cols, symbols=None):
    """:func:`pair_traces` at the pairs ``(z_rows[i], z_cols[i])`` of one set of nodes (a flat :class:`NodeSolution`):
    ``[(T, T_VV)]`` per symbol, one value per pair."""
    return _pair_traces(struct, _node_arrays(struct, nodes, np.shape(nodes.q)), np.ascontiguousarray(rows),
                        np.ascontiguousarray(cols), symbols)


def _node_arrays(struct, s, shape):
    """The per-node inputs of :func:`_pair_kernel`, flat: ``q, e, A, B, κ_b, g_W`` and the law's sides
    (``α = 1 + eB``, ``β = eA``, and ζ, G, G' of :func:`law_sides`, or zeros for a discrete law, summed directly),
    then ``u_k`` stacked (K × nodes)."""
    def flat(x):
        return np.ascontiguousarray(np.broadcast_to(x, shape), dtype=np.complex128).reshape(-1)

    q, e, A, B, kb, gw = (flat(x) for x in (s.q, s.e, s.A, s.B, s.kappa_b, s.g_w))
    al, be = 1 + e * B, e * A
    if kernel_inputs(struct)[1] == 0:                     # atoms: the pair moments are summed directly
        sides = (np.zeros_like(q),) * 3
    else:
        sides = tuple(flat(x) for x in law_sides(struct.law, al, be))
    return (q, e, A, B, kb, gw, al, be) + sides + (np.array([flat(u) for u in s.u]).reshape(len(s.u), -1),)


def _pair_traces(struct, nodes, rows, cols, symbols):
    if symbols is None:
        symbols = (struct.population,)
    _, kind, eigs, wts = kernel_inputs(struct)           # the one-point solver's law arrays (kind 0: atoms)
    comps = struct.components
    basis, coords = _span(comps)
    sym = lambda X: (X.alpha, X.beta, X.x0)          # noqa: E731
    T = np.empty((len(symbols), rows.size), np.complex128)
    TVV = np.empty_like(T)
    _pair_kernel(rows, cols, *nodes, float(struct.psi_p), kind == 0, eigs, wts,
                 np.array([sym(comps[i].cov) for i in basis]), coords, np.array([c.ratio for c in comps]),
                 np.array([c.noise for c in comps], dtype=float), np.array([c.coupling for c in comps], dtype=float),
                 np.array([sym(P) for P in symbols]), np.array(sym(K_SYMBOL)), T, TVV)
    return [(T[i], TVV[i]) for i in range(len(symbols))]


@nb.njit(cache=True)
def _bracket(x, y, e12, psi_pi, P0, P1, P2):
    """``⟨X, Y⟩ = e1 e2 ⟨x y w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0)`` of two symbols ``(α, β, x0)`` at
    one pair of nodes (pair moments ``P_k = ⟨σ^k w1 w2⟩``)."""
    lx = x[0] * P1 + x[1] * P0 + x[2]
    ly = y[0] * P1 + y[1] * P0 + y[2]
    return e12 * (x[0] * (y[0] * P2 + y[1] * P1) + x[1] * (y[0] * P1 + y[1] * P0)) + psi_pi * lx * ly


@nb.njit(cache=True)
def _pair_kernel(rows, cols, q, e, A, B, kb, gw, al, be, zeta, G, dG, u, psi_p, direct, eigs, wts, basis, coords,
                 ratio, noise, coupling, symbols, k_sym, T, TVV):
    """:func:`pair_traces` at every pair ``(rows[i], cols[i])`` of nodes (per-node inputs of :func:`_node_arrays`):
    the pair moments (:func:`_moments`), ``Π``, ``S̃``, ``Q̃``, ``(I − Q̃ S̃) z = (⟨B_i, P⟩)_i``,
    ``T = ⟨K, P⟩ + zᵀ S̃ (⟨B_i, K⟩)_i`` and ``T_VV = κ_b(z1) κ_b(z2) T + zᵀ Σ_k r_k (a_k − c_k (κ_b g_W)(z1) −
    c_k (κ_b g_W)(z2)) c_k``."""
    n = rows.size
    K, r = coords.shape
    Q = np.empty((r, r), np.complex128)
    S = np.empty((r, r), np.complex128)
    A0 = np.empty((r, r), np.complex128)
    M = np.empty((r, r), np.complex128)
    gK = np.empty(r, np.complex128)
    SgK = np.empty(r, np.complex128)
    ex = np.empty(r, np.complex128)
    g = np.empty(r, np.complex128)
    z = np.empty(r, np.complex128)
    for i in range(n):
        a, b = rows[i], cols[i]
        p0, p1, p2 = _moments(al[a], be[a], al[b], be[b], zeta[a], G[a], dG[a], zeta[b], G[b], dG[b], direct,
                              eigs, wts)
        m1m2 = B[a] * B[b] * p0 + (A[a] * B[b] + A[b] * B[a]) * p1 + A[a] * A[b] * p2
        qq = psi_p * q[a] * q[b]
        pp = qq / (1 - qq * m1m2)
        ee = e[a] * e[b]
        kb12 = kb[a] * kb[b]
        both = kb[a] * gw[a] + kb[b] * gw[b]
        for c in range(r):
            gK[c] = _bracket(basis[c], k_sym, ee, pp, p0, p1, p2)
            ex[c] = 0j
            for d in range(r):
                Q[c, d] = _bracket(basis[c], basis[d], ee, pp, p0, p1, p2)
                S[c, d] = 0j
        for k in range(K):
            w = u[k, a] * u[k, b] / ratio[k]
            y = (noise[k] - coupling[k] * both) * w
            for c in range(r):
                ex[c] += y * coords[k, c]
                for d in range(r):
                    S[c, d] += w * coords[k, c] * coords[k, d]
        for c in range(r):
            SgK[c] = 0j
            for d in range(r):
                SgK[c] += S[c, d] * gK[d]
                acc = 1.0 + 0j if c == d else 0j
                for f in range(r):
                    acc -= Q[c, f] * S[f, d]
                A0[c, d] = acc
        for t in range(symbols.shape[0]):
            for c in range(r):
                g[c] = _bracket(basis[c], symbols[t], ee, pp, p0, p1, p2)
                for d in range(r):
                    M[c, d] = A0[c, d]
            if not _linsolve(M, g, z):          # I − Q̃ S̃ singular in floating point: no value, not a stale one
                T[t, i] = TVV[t, i] = complex(np.nan, np.nan)
                continue
            val = _bracket(k_sym, symbols[t], ee, pp, p0, p1, p2)
            extra = 0j
            for c in range(r):
                val += z[c] * SgK[c]
                extra += z[c] * ex[c]
            T[t, i] = val
            TVV[t, i] = kb12 * val + extra


@functools.lru_cache(maxsize=64)
def _span(comps):
    """The components whose symbols span all of them (at most 3: a symbol is its ``(α, β, x0)``) and every
    component's coordinates in that basis: ``(basis indices, coords)`` with ``C_k = Σ_i coords[k, i] C_basis[i]``.

    The basis is chosen by QR with column pivoting (the best-conditioned subset first) and grown until every
    component is reproduced to 1e-13 relative; a basis component's own coordinates are exactly a unit vector.
    Cached, so the coordinates are returned C-contiguous (as the kernel takes them) and read-only.
    """
    U = np.array([[c.cov.alpha, c.cov.beta, c.cov.x0] for c in comps])
    order = scipy.linalg.qr(U.T, pivoting=True, mode="r")[1]
    scale = np.linalg.norm(U, axis=1)
    for rank in range(1, len(comps) + 1):
        basis = order[:rank]
        coords = np.linalg.lstsq(U[basis].T, U.T, rcond=None)[0].T
        coords[basis] = np.eye(rank)
        if np.all(np.linalg.norm(coords @ U[basis] - U, axis=1) <= 1e-13 * scale):
            coords = np.ascontiguousarray(coords)
            coords.flags.writeable = False
            return basis, coords
    raise AssertionError("unreachable: the components span themselves")


#: The symbol of ``K = W Wᵀ/d``.
K_SYMBOL = Symbol(0.0, 1.0, 0.0)


def two_point(model, z1, z2):
    """Two-point deterministic equivalent ``T(z1, z2) = lim (1/d) Tr[K R(z1) U_pop R(z2)]``.

    Parameters
    ----------
    model : RFModel
    z1, z2 : array_like of complex
        Points off the spectrum of U (broadcast together).

    Returns
    -------
    complex ndarray

    Notes
    -----
    docs/theory.md §5. With ``q_i, δ_i`` from §4, ``e_i = ψ_p q_i``, ``m_i(σ) = b² + e^{-2t}μ1²σ/(1+δ_i)``,
    ``w_i = 1/(1 + e_i m_i)`` and ``Π = q1 q2/(1 − ψ_p q1 q2 ⟨m1 m2 w1 w2⟩)``, a p×p matrix
    ``W x(Σ) Wᵀ/d + x0 I`` has the bracket
    ``⟨X, Y⟩ = ⟨x y e1 e2 w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0)`` and

    .. math:: T = ⟨K, P⟩ + \\frac{β_P}{1 − β_C} ⟨K, C⟩, \\qquad β_X = \\frac{⟨C, X⟩}{ψ_n (1+δ_1)(1+δ_2)},

    ``K = (1, 0)``, ``C = (e^{-2t}μ1²σ, v²)``, ``P = U_pop = (μ1²(e^{-2t}σ + Δ_t), v² + s²)``.
    Symmetric in ``z1 ↔ z2``; ``T ≈ [(ψ_p² + ψ_p)⟨x_P⟩ + ψ_p(v² + s²)]/(z1 z2)`` at large |z|
    (``derivations/two_point.py``).
    """
    z1, z2 = np.broadcast_arrays(np.asarray(z1, dtype=complex), np.asarray(z2, dtype=complex))
    struct = structure(model)
    s1, s2 = (NodeSolution.of(struct, solve_verified(struct, z - struct.origin)) for z in (z1, z2))
    return pair_traces(struct, s1, s2)[0][0]
