"""Symbolic checks of the two-point formula (docs/theory.md §5) and of the curve identities used by rfdiff.dynamics.

Run ``python derivations/two_point.py``; every check prints ``ok`` or raises ``AssertionError``.

1. Σ = I: the nested bracket ``⟨X, Y⟩`` (W-level leave-one-out) equals the direct one-level formula
   ``(1/d) Tr[(xK + x0) R̄1 (yK + y0) R̄2]``, ``R̄_i = (m_i K + c_i)^{-1}``, reduced by partial fractions to
   the Marchenko–Pastur transforms ``q_i = (1/p) Tr R̄_i`` (the only input is the one-point equation).
2. ``T(z1, z2) = T(z2, z1)``.
3. Large |z|: ``z1 z2 T → (ψ_p² + ψ_p)⟨x_P⟩ + ψ_p (v² + s²)``, ``x_P = μ1²(e^{-2t}σ + Δ_t)``, the value of
   ``(1/d) Tr[K U_pop]`` (Wishart moment ``E[WᵀW A WᵀW] = p(p+1)A + p Tr(A) I``); checked in exact
   rational arithmetic at random rational values of every other symbol.
4. The partial fractions of ``rfdiff.twopoint._moments`` and their confluent limit.
5. ``L_test − 1 = Δ_t (E_score − ⟨1/Σ_t⟩)`` for the contour expressions of ``LearningDynamics``.
6. The G-level system of K Wishart components, ``(I − D M) φ = D t``, reduced to the span of the components'
   symbols (rank r ≤ 3): with ``u_k = B c_k``, ``Q̃ = Bᵀ Q B``, ``S̃ = Σ_k (D_k/ψ_k) c_k c_kᵀ`` and
   ``(I − Q̃ S̃) z = Bᵀ Q u_P``, ``Σ_k φ_k y_k = zᵀ Σ_k (D_k/ψ_k) y_k c_k`` for any weights y (so T and T_VV
   follow from an r×r solve); checked symbolically for K = 3 components in a rank-2 span and for K = 4
   components spanning all three dimensions.
"""
import sympy as sp

psi_p, psi_n = sp.symbols("psi_p psi_n", positive=True)
q1, q2, d1, d2 = sp.symbols("q1 q2 delta1 delta2")
A, B, v2, s2, mu12, Dt = sp.symbols("A B v2 s2 mu1sq Delta_t", positive=True)


def bracket(X, Y, P0, P1, P2, e1, e2, Pi):
    """Nested ⟨X, Y⟩ of docs/theory.md §5 for symbols X = (x1, xc, x0) ↔ W (x1 σ + xc) Wᵀ/d + x0 I."""
    (x1, xc, x0), (y1, yc, y0) = X, Y
    direct = e1 * e2 * (x1 * y1 * P2 + (x1 * yc + xc * y1) * P1 + xc * yc * P0)
    return direct + psi_p * Pi * (x1 * P1 + xc * P0 + x0) * (y1 * P1 + yc * P0 + y0)


def T_formula(P0, P1, P2):
    """T(z1, z2) of docs/theory.md §5 in terms of the pair moments P_k = ⟨σ^k w1 w2⟩."""
    e1, e2 = psi_p * q1, psi_p * q2
    A1, A2 = A / (1 + d1), A / (1 + d2)
    m1m2 = B * B * P0 + B * (A1 + A2) * P1 + A1 * A2 * P2
    Pi = q1 * q2 / (1 - psi_p * q1 * q2 * m1m2)
    K, C, P = (0, 1, 0), (A, 0, v2), (A, mu12 * Dt, v2 + s2)
    br = lambda X, Y: bracket(X, Y, P0, P1, P2, e1, e2, Pi)  # noqa: E731
    scale = psi_n * (1 + d1) * (1 + d2)
    bC, bP = br(C, C) / scale, br(C, P) / scale
    return br(K, P) + bP / (1 - bC) * br(K, C)


def check_identity_sigma():
    """1. Σ = I (σ ≡ 1): nested brackets = direct Marchenko–Pastur reduction."""
    m1, m2 = sp.symbols("m1 m2")
    x, x0, y, y0 = sp.symbols("x x0 y y0")
    e1, e2 = psi_p * q1, psi_p * q2
    w1, w2 = 1 / (1 + e1 * m1), 1 / (1 + e2 * m2)
    c1, c2 = 1 / q1 - m1 * w1, 1 / q2 - m2 * w2          # one-point equation q = 1/(c + m w) for σ ≡ 1
    # direct: ∫ k^j/((m1 k + c1)(m2 k + c2)) dμ_K with ∫ 1/(m_i k + c_i) = q_i and ∫ k dμ_K = 1
    J0 = (m2 * q2 - m1 * q1) / (m2 * c1 - m1 * c2)
    J1 = (q2 - c1 * J0) / m1
    J2 = ((1 - c2 * q2) / m2 - c1 * J1) / m1
    direct = psi_p * (x * y * J2 + (x * y0 + x0 * y) * J1 + x0 * y0 * J0)
    Pi = q1 * q2 / (1 - psi_p * q1 * q2 * m1 * m2 * w1 * w2)
    nested = bracket((0, x, x0), (0, y, y0), w1 * w2, w1 * w2, w1 * w2, e1, e2, Pi)
    assert sp.simplify(sp.together(direct - nested)) == 0
    # and Π itself is lim (1/p) Tr R̄1 R̄2
    assert sp.simplify(sp.together(J0 - Pi)) == 0
    print("1. Σ = I: nested brackets = direct Marchenko–Pastur reduction: ok")


def check_symmetry():
    """2. z1 ↔ z2 (the pair moments are symmetric)."""
    P0, P1, P2 = sp.symbols("P0 P1 P2")
    T = T_formula(P0, P1, P2)
    swapped = T.subs({q1: q2, q2: q1, d1: d2, d2: d1}, simultaneous=True)
    assert sp.simplify(sp.together(T - swapped)) == 0
    print("2. T(z1, z2) = T(z2, z1): ok")


def check_large_z():
    """3. Leading order at large |z|: q_i = −ε u_i + O(ε²), δ_i = O(ε), P_k = ⟨σ^k⟩ + O(ε)."""
    eps, u1, u2, a1, a2 = sp.symbols("epsilon u1 u2 a1 a2")
    M1, M2 = sp.symbols("M1 M2", positive=True)       # ⟨σ⟩ = τ_Σ, ⟨σ²⟩
    r0, r1, r2 = sp.symbols("r0 r1 r2")
    T = T_formula(1 + eps * r0, M1 + eps * r1, M2 + eps * r2)
    T = T.subs({q1: -eps * u1, q2: -eps * u2, d1: eps * a1, d2: eps * a2})
    z1z2 = 1 / (eps ** 2 * u1 * u2)                    # z_i = 1/(ε u_i) + O(1)
    xP = A * M1 + mu12 * Dt                            # ⟨x_P⟩ with A = e^{-2t} μ1²
    expected = (psi_p ** 2 + psi_p) * xP + psi_p * (v2 + s2)
    # exact rational arithmetic at random rational parameters (a univariate limit in ε each time)
    rng = __import__("random").Random(1)
    others = sorted((T * z1z2).free_symbols - {eps}, key=str)
    for _ in range(3):
        point = {x: sp.Rational(rng.randint(1, 40), rng.randint(1, 40)) for x in others}
        lead = sp.limit(sp.cancel((T * z1z2).subs(point)), eps, 0)
        assert lead == expected.subs(point), (lead, expected.subs(point))
    print("3. z1 z2 T → (ψ_p² + ψ_p)⟨x_P⟩ + ψ_p (v² + s²): ok")


def check_partial_fractions():
    """4. σ^k/((σ−ζ1)(σ−ζ2)) = [k=2] + (ζ1^k/(σ−ζ1) − ζ2^k/(σ−ζ2))/(ζ1 − ζ2), and its confluent limit."""
    s, z1, z2, z = sp.symbols("sigma zeta1 zeta2 zeta")
    for k in range(3):
        lhs = s ** k / ((s - z1) * (s - z2))
        rhs = int(k == 2) + (z1 ** k / (s - z1) - z2 ** k / (s - z2)) / (z1 - z2)
        assert sp.simplify(lhs - rhs) == 0
        # confluent: ⟨σ^k/(σ−ζ)²⟩ = [k=2] + d/dζ (ζ^k G(ζ)) with G(ζ) = ⟨1/(σ−ζ)⟩ (pointwise in σ)
        conf = int(k == 2) + sp.diff(z ** k / (s - z), z)
        assert sp.simplify(s ** k / (s - z) ** 2 - conf) == 0
    print("4. partial fractions of the pair moments and confluent limit: ok")


def check_score_identity():
    """5. L_test − 1 = b²(Q − 2I), E_score = μ1²(Q − 2I) + ⟨1/Σ_t⟩, b² = Δ_t μ1²."""
    Q, I, inv = sp.symbols("Q I inv_sigma_t")
    b2 = Dt * mu12
    L_test = 1 + b2 * (Q - 2 * I)
    E_score = mu12 * (Q - 2 * I) + inv
    assert sp.simplify(L_test - (Dt * E_score + 1 - Dt * inv)) == 0
    print("5. L_test = Δ_t E_score + 1 − Δ_t⟨1/Σ_t⟩: ok")


def check_low_rank_solve():
    """6. The K×K system ``φ = t + M φ``, ``M_kl = r_k ⟨C_k, C_l⟩``, ``t_k = r_k ⟨C_k, P⟩`` (``r_k = D_k/ψ_k``), and
    ``⟨X, Y⟩ = xᵀ Q y`` a symmetric bilinear form on the symbols' coefficient vectors: its solution's sums
    ``Σ_k φ_k y_k`` equal ``zᵀ Σ_k r_k y_k c_k`` with ``(I − Q̃ S̃) z = Bᵀ Q u_P`` in the r-dimensional span B
    of the symbols (a Woodbury identity, exact in rational arithmetic here)."""
    rng = __import__("random").Random(2)

    def rat():
        return sp.Rational(rng.randint(-9, 9), rng.randint(1, 9))

    for K, r in ((3, 2), (4, 3)):
        Q = sp.Matrix(3, 3, lambda i, j: 0)
        for i in range(3):
            for j in range(i, 3):
                Q[i, j] = Q[j, i] = rat()
        B = sp.Matrix(3, r, lambda i, j: rat())
        C = [sp.Matrix(r, 1, lambda i, j: rat()) for _ in range(K)]
        U = [B * c for c in C]                      # the components' coefficient vectors, in span(B)
        rk = [rat() for _ in range(K)]
        uP, y = sp.Matrix(3, 1, lambda i, j: rat()), [rat() for _ in range(K)]
        M = sp.Matrix(K, K, lambda k, l: rk[k] * (U[k].T * Q * U[l])[0])
        t = sp.Matrix(K, 1, lambda k, _: rk[k] * (U[k].T * Q * uP)[0])
        phi = (sp.eye(K) - M).LUsolve(t)
        S = sum((rk[k] * C[k] * C[k].T for k in range(K)), sp.zeros(r, r))
        z = (sp.eye(r) - B.T * Q * B * S).LUsolve(B.T * Q * uP)
        direct = sum(phi[k] * y[k] for k in range(K))
        reduced = (z.T * sum((rk[k] * y[k] * C[k] for k in range(K)), sp.zeros(r, 1)))[0]
        assert sp.simplify(direct - reduced) == 0, (direct, reduced)
        # and the component bracket sum Σ_k φ_k ⟨C_k, X⟩ = zᵀ S̃ Bᵀ Q u_X
        uX = sp.Matrix(3, 1, lambda i, j: rat())
        direct = sum(phi[k] * (U[k].T * Q * uX)[0] for k in range(K))
        assert sp.simplify(direct - (z.T * S * B.T * Q * uX)[0]) == 0
    print("6. K-component solve reduced to the r ≤ 3 span of the symbols: ok")


if __name__ == "__main__":
    check_identity_sigma()
    check_symmetry()
    check_large_z()
    check_partial_fractions()
    check_score_identity()
    check_low_rank_solve()
