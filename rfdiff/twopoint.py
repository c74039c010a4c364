"""Two-point deterministic equivalents: traces of products of two resolvents (docs/theory.md §5, §10).

The test loss needs ``T(z1, z2) = lim (1/d) Tr[K R(z1) U_pop R(z2)]`` and its noisy counterpart
``T_VV(z1, z2) = lim (1/d) Tr[Vᵀ R(z1) U_pop R(z2) V]``; both follow from the one-point solutions at z1 and
z2 (:class:`NodeSolution`) by two nested leave-one-out steps, for any data law and any structure
(:func:`pair_traces`). :func:`two_point` is the public one-shot form.
"""
from __future__ import annotations

import functools

import numba as nb
import numpy as np
import scipy.linalg

from .data import DiscreteSpectrum
from .spectral.kernels import _linsolve
from .spectral.onepoint import solve_verified
from .structure import Symbol, structure

__all__ = ["NodeSolution", "pair_traces", "pair_moments", "two_point", "K_SYMBOL"]


#: Below this relative distance ``|ζ1 − ζ2|/|ζ1|`` the divided difference of the data law's Stieltjes
#: transform is replaced by the mean of its derivatives (error O(10⁻¹⁰), cancellation-free).
_CONFLUENT = 1e-5


def pair_moments(law, al1, be1, al2, be2):
    """``⟨σ^k / (D1 D2)⟩`` for k = 0, 1, 2 with ``D_i = α_i + β_i σ`` (arrays broadcast together).

    Discrete laws are summed directly. Any other law goes through partial fractions of its Stieltjes
    transform ``G(ζ) = ⟨1/(σ − ζ)⟩`` at ``ζ_i = −α_i/β_i``, read off ``law.averages``:
    ``⟨σ^k/((σ−ζ1)(σ−ζ2))⟩ = [k=2] + (ζ1^k G(ζ1) − ζ2^k G(ζ2))/(ζ1 − ζ2)``, and
    ``[k=2] + d(ζ^k G)/dζ`` (averaged over the two points) when ``ζ1 ≈ ζ2``.
    """
    if isinstance(law, DiscreteSpectrum):
        out = [0.0, 0.0, 0.0]
        for e, w in zip(law.eigs, law.weights):
            r = w / ((al1 + be1 * e) * (al2 + be2 * e))
            out[0] = out[0] + r
            out[1] = out[1] + e * r
            out[2] = out[2] + e * e * r
        return out
    side = []
    for al, be in ((al1, be1), (al2, be2)):
        inv, _, inv2, _, _ = law.averages(al, be)
        side.append((-al / be, be * inv, be * be * inv2))   # ζ, G(ζ), G'(ζ)
    (z1, G1, dG1), (z2, G2, dG2) = side
    diff = z1 - z2
    near = np.abs(diff) <= _CONFLUENT * np.abs(z1)
    safe = np.where(near, 1.0, diff)
    scale = be1 * be2
    out = []
    for k in range(3):
        divided = (z1 ** k * G1 - z2 ** k * G2) / safe
        deriv = 0.5 * (k * z1 ** max(k - 1, 0) * G1 + z1 ** k * dG1
                       + k * z2 ** max(k - 1, 0) * G2 + z2 ** k * dG2)
        out.append((np.where(near, deriv, divided) + (k == 2)) / scale)
    return out


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

    def at(self, index):
        """The same quantities at a subset (or broadcast view) of the nodes."""
        out = object.__new__(NodeSolution)
        for name in ("q", "g_w", "A", "B", "e", "kappa", "kappa_b"):
            value = getattr(self, name)
            setattr(out, name, value[index] if np.ndim(value) else value)
        out.u = [u[index] for u in self.u]
        return out


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
    symbol P: the parts that do not depend on it are computed once for all symbols.
    """
    if symbols is None:
        symbols = (struct.population,)
    law = struct.law
    e12 = s1.e * s2.e
    P0, P1, P2 = pair_moments(law, 1 + s1.e * s1.B, s1.e * s1.A, 1 + s2.e * s2.B, s2.e * s2.A)
    m1m2 = s1.B * s2.B * P0 + (s1.A * s2.B + s2.A * s1.B) * P1 + s1.A * s2.A * P2
    psi_pi = struct.psi_p * s1.q * s2.q / (1 - struct.psi_p * s1.q * s2.q * m1m2)
    comps = struct.components
    basis, coords = _span(comps)
    sym = lambda X: (X.alpha, X.beta, X.x0)          # noqa: E731
    both = s1.kappa_b * s1.g_w + s2.kappa_b * s2.g_w
    pairs = [e12, psi_pi, P0, P1, P2, s1.kappa_b * s2.kappa_b, both]
    shape = np.broadcast_shapes(*(np.shape(x) for x in pairs + list(s1.u) + list(s2.u)))

    def flat(x):
        return np.ascontiguousarray(np.broadcast_to(x, shape), dtype=np.complex128).reshape(-1)

    U = np.array([flat(u1 * u2) for u1, u2 in zip(s1.u, s2.u)]).reshape(len(comps), -1)
    T = np.empty((len(symbols), U.shape[1]), np.complex128)
    TVV = np.empty_like(T)
    _pair_kernel(*(flat(x) for x in pairs), U, np.array([sym(comps[i].cov) for i in basis]), coords,
                 np.array([c.ratio for c in comps]), np.array([c.noise for c in comps], dtype=float),
                 np.array([c.coupling for c in comps], dtype=float), np.array([sym(P) for P in symbols]),
                 np.array(sym(K_SYMBOL)), T, TVV)
    return [(T[i].reshape(shape), TVV[i].reshape(shape)) for i in range(len(symbols))]


@nb.njit(cache=True)
def _bracket(x, y, e12, psi_pi, P0, P1, P2):
    """``⟨X, Y⟩ = e1 e2 ⟨x y w1 w2⟩ + ψ_p Π (⟨x w1 w2⟩ + x0)(⟨y w1 w2⟩ + y0)`` of two symbols ``(α, β, x0)`` at
    one pair of nodes (pair moments ``P_k = ⟨σ^k w1 w2⟩``)."""
    lx = x[0] * P1 + x[1] * P0 + x[2]
    ly = y[0] * P1 + y[1] * P0 + y[2]
    return e12 * (x[0] * (y[0] * P2 + y[1] * P1) + x[1] * (y[0] * P1 + y[1] * P0)) + psi_pi * lx * ly


@nb.njit(cache=True)
def _pair_kernel(e12, psi_pi, P0, P1, P2, kb12, both, U, basis, coords, ratio, noise, coupling, symbols, k_sym,
                 T, TVV):
    """:func:`pair_traces`' reduced solve at every pair of nodes (flat arrays; ``U[k] = u_k(z1) u_k(z2)``):
    ``S̃``, ``Q̃``, ``(I − Q̃ S̃) z = (⟨B_i, P⟩)_i``, ``T = ⟨K, P⟩ + zᵀ S̃ (⟨B_i, K⟩)_i`` and
    ``T_VV = κ_b(z1) κ_b(z2) T + zᵀ Σ_k r_k (a_k − c_k (κ_b g_W)(z1) − c_k (κ_b g_W)(z2)) c_k``."""
    n = e12.size
    K, r = coords.shape
    Q = np.empty((r, r), np.complex128)
    S = np.empty((r, r), np.complex128)
    A0 = np.empty((r, r), np.complex128)
    A = np.empty((r, r), np.complex128)
    gK = np.empty(r, np.complex128)
    SgK = np.empty(r, np.complex128)
    ex = np.empty(r, np.complex128)
    g = np.empty(r, np.complex128)
    z = np.empty(r, np.complex128)
    for i in range(n):
        e, pp, p0, p1, p2 = e12[i], psi_pi[i], P0[i], P1[i], P2[i]
        for a in range(r):
            gK[a] = _bracket(basis[a], k_sym, e, pp, p0, p1, p2)
            ex[a] = 0j
            for b in range(r):
                Q[a, b] = _bracket(basis[a], basis[b], e, pp, p0, p1, p2)
                S[a, b] = 0j
        for k in range(K):
            w = U[k, i] / ratio[k]
            y = (noise[k] - coupling[k] * both[i]) * w
            for a in range(r):
                ex[a] += y * coords[k, a]
                for b in range(r):
                    S[a, b] += w * coords[k, a] * coords[k, b]
        for a in range(r):
            SgK[a] = 0j
            for b in range(r):
                SgK[a] += S[a, b] * gK[b]
                acc = 1.0 + 0j if a == b else 0j
                for c in range(r):
                    acc -= Q[a, c] * S[c, b]
                A0[a, b] = acc
        for t in range(symbols.shape[0]):
            for a in range(r):
                g[a] = _bracket(basis[a], symbols[t], e, pp, p0, p1, p2)
                for b in range(r):
                    A[a, b] = A0[a, b]
            if not _linsolve(A, g, z):          # I − Q̃ S̃ singular in floating point: no value, not a stale one
                T[t, i] = TVV[t, i] = complex(np.nan, np.nan)
                continue
            val = _bracket(k_sym, symbols[t], e, pp, p0, p1, p2)
            extra = 0j
            for a in range(r):
                val += z[a] * SgK[a]
                extra += z[a] * ex[a]
            T[t, i] = val
            TVV[t, i] = kb12[i] * val + extra


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
