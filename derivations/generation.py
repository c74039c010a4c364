"""Derivations behind generation (docs/theory.md §13), redone symbolically (sympy) and numerically (scipy).

1. The noised covariance Σ_t = e^{-2t} Σ + Δ_t solves dΣ_t/dt = −2Σ_t + 2, and C = Σ_t solves the reverse-time
   Lyapunov equations of the SDE and of the probability-flow ODE with the exact linear score B = Σ_t^{-1}.
2. The exponential-integrator steps: with the denoiser x̂_0 = D held fixed, the SDE step is the posterior
   q(x_t | x_t', x_0 = D) (it maps N(e^{-t'}D, Δ_t') onto N(e^{-t}D, Δ_t)), and the ODE step is the exact flow
   of a one-point law; both agree with the score-held-fixed step to first order in h.
3. The Girsanov constant for dx = −x dt + √2 dB: reverse drifts differ by 2(ŝ − s), diffusion √2, so
   KL(path) = ∫ ½ |2(ŝ − s)|²/2 dt = ∫ E‖ŝ − s‖² dt. The constant 1 is sharp: on the 1-D stationary OU law
   (Σ = 1) a score error δ(r) ∝ e^{−(L − r)} over a reversed-time window of length L gives
   KL(marginal)/∫δ² = 1 − e^{−2L} → 1, so no smaller constant can hold (a constant ½ fails already at L = 1).
4. A numeric check on Gaussian data with a linear score, both sides exact: random diagonal Σ and a perturbed
   linear score B_t = Σ_t^{-1} + E(t); the generated covariance from the Lyapunov ODE (scipy), the exact KL at t_1
   and the bound KL(P_tK ‖ N(0, I)) + ∫ Tr[(B − Σ_t^{-1}) Σ_t (B − Σ_t^{-1})ᵀ] dt.

Run: ``python derivations/generation.py`` (prints the checks; asserts each).
"""
import math

import numpy as np
import sympy as sp
from scipy.integrate import quad, solve_ivp


def lyapunov():
    t, s, r = sp.symbols("t sigma r", positive=True)
    St = sp.exp(-2 * t) * s + 1 - sp.exp(-2 * t)
    assert sp.simplify(sp.diff(St, t) - (-2 * St + 2)) == 0
    B = 1 / St
    # reversed time r = -t: dC/dr = -dC/dt
    dC_dr = -sp.diff(St, t)
    assert sp.simplify(dC_dr - (2 * (1 - 2 * B) * St + 2)) == 0            # SDE
    assert sp.simplify(dC_dr - (2 * (1 - B) * St)) == 0                     # ODE
    print("1. dΣ_t/dt = −2Σ_t + 2; C = Σ_t solves both reverse Lyapunov equations with B = Σ_t^{-1}: ok")


def integrator_steps():
    t, h, D, x = sp.symbols("t h D x", positive=True)
    tp = t + h
    Dl = lambda u: 1 - sp.exp(-2 * u)
    # posterior of x_t given x_t' and x_0 = D (jointly Gaussian)
    cov = sp.exp(-h) * Dl(t)
    mean = sp.exp(-t) * D + cov / Dl(tp) * (x - sp.exp(-tp) * D)
    var = Dl(t) - cov ** 2 / Dl(tp)
    assert sp.simplify(var - Dl(t) * Dl(h) / Dl(tp)) == 0
    # it maps N(e^{-t'}D, Δ_t') onto N(e^{-t}D, Δ_t)
    a = cov / Dl(tp)
    assert sp.simplify(a ** 2 * Dl(tp) + var - Dl(t)) == 0
    assert sp.simplify(mean.subs(x, sp.exp(-tp) * D) - sp.exp(-t) * D) == 0
    # in the sampler's form x ← a x + b x̂_0 + c z with λ = log(e^{-t}/√Δ_t), η = λ_t − λ_t'
    lam = lambda u: -u - sp.log(Dl(u)) / 2
    eta = lam(t) - lam(tp)
    a_code = sp.sqrt(Dl(t) / Dl(tp)) * sp.exp(-eta)
    b_code = sp.exp(-t) * (1 - sp.exp(-2 * eta))
    c_code = sp.sqrt(Dl(t)) * sp.sqrt(1 - sp.exp(-2 * eta))
    for val in ({t: sp.Rational(1, 10), h: sp.Rational(1, 7)}, {t: 2, h: sp.Rational(1, 3)}):
        assert abs(float((a_code - a).subs(val))) < 1e-14
        assert abs(float((b_code - (sp.exp(-t) - a * sp.exp(-tp))).subs(val))) < 1e-14
        assert abs(float((c_code - sp.sqrt(var)).subs(val))) < 1e-14
    # ODE: x(t) = e^{-t} D + c √Δ_t solves the probability-flow ODE dx/dt = −x − s with s = −(x − e^{-t}D)/Δ_t
    c = sp.symbols("c")
    xt = sp.exp(-t) * D + c * sp.sqrt(Dl(t))
    s = -(xt - sp.exp(-t) * D) / Dl(t)
    assert sp.simplify(sp.diff(xt, t) - (-xt - s)) == 0
    # first order in h: the denoiser SDE step mean equals e^h x + 2(e^h − 1) s + O(h²), s = −(x − e^{-t'}D)/Δ_t'
    s_tp = -(x - sp.exp(-tp) * D) / Dl(tp)
    score_step = sp.exp(h) * x + 2 * (sp.exp(h) - 1) * s_tp
    diff = sp.series(sp.simplify(mean - score_step), h, 0, 2).removeO()
    assert sp.simplify(diff) == 0
    print("2. denoiser-fixed SDE step = posterior q(x_t | x_t', x̂_0) (maps N(e^{-t'}D, Δ_t') to N(e^{-t}D, Δ_t));"
          " ODE step exact for a one-point law; both = score-fixed step + O(h²): ok")


def girsanov_constant():
    L, r, delta = sp.symbols("L r delta", positive=True)
    # 1-D, Σ = 1: the true reverse SDE is dx = −x dr + √2 dB (stationary N(0, 1)); a score error δ(r) adds 2δ(r)
    # to the drift. Marginal mean shift m(L) = ∫ 2 δ(r) e^{−(L − r)} dr, KL(N(0,1) ‖ N(m,1)) = m²/2.
    d_opt = delta * sp.exp(-(L - r))
    m = sp.integrate(2 * d_opt * sp.exp(-(L - r)), (r, 0, L))
    kl = m ** 2 / 2
    path = sp.integrate(d_opt ** 2, (r, 0, L))                 # ∫ E‖ŝ − s‖² dt with constant 1
    ratio = sp.simplify(kl / path)
    assert sp.simplify(ratio - (1 - sp.exp(-2 * L))) == 0
    assert sp.limit(ratio, L, sp.oo) == 1
    const = sp.Rational(1, 2) * 2 ** 2 / 2                     # ½ |Δdrift|²/g², Δdrift = 2(ŝ − s), g² = 2
    assert const == 1
    print(f"3. Girsanov constant ½·2²/2 = {const}; sharp: KL/∫δ² = {ratio} → 1 "
          f"(at L = 1: {float(ratio.subs(L, 1)):.4f} > ½): ok")


def gaussian_linear_check(seed=0, d=3):
    rng = np.random.default_rng(seed)
    sig = rng.uniform(0.2, 3.0, d)
    t1, tK = 0.02, 3.0
    E0 = 0.3 * rng.standard_normal((d, d))

    def St(t):
        return math.exp(-2 * t) * sig - math.expm1(-2 * t)

    def B(t):       # a wrong linear score: exact + a smooth perturbation
        return np.diag(1 / St(t)) + E0 * math.exp(-t)

    def rhs(r, c):
        t = tK - r
        M = np.eye(d) - 2 * B(t)
        C = c.reshape(d, d)
        out = M @ C + C @ M.T + 2 * np.eye(d)
        return out.ravel()

    sol = solve_ivp(rhs, (0, tK - t1), np.eye(d).ravel(), method="DOP853", rtol=1e-11, atol=1e-13)
    C = sol.y[:, -1].reshape(d, d)
    P = np.diag(St(t1))
    kl = 0.5 * (np.trace(np.linalg.solve(C, P)) - d + np.log(np.linalg.det(C) / np.linalg.det(P)))
    lam = St(tK)
    start = 0.5 * np.sum(lam - 1 - np.log(lam))

    def err(t):
        D = B(t) - np.diag(1 / St(t))
        return float(np.trace(D @ np.diag(St(t)) @ D.T))

    integral = quad(err, t1, tK, limit=200)[0]
    bound = start + integral
    assert kl <= bound, (kl, bound)
    half = start + 0.5 * integral
    print(f"4. Gaussian data, linear score, d = {d}: exact KL = {kl:.5f} ≤ bound = {bound:.5f} "
          f"(start {start:.2e}, integral {integral:.5f}; with constant ½: {half:.5f}): ok")
    return kl, bound


if __name__ == "__main__":
    lyapunov()
    integrator_steps()
    girsanov_constant()
    for seed in range(3):
        gaussian_linear_check(seed)
