"""Derive and check the Gaussian-equivalence constants of docs/theory.md §2; write ge_reference.json.

Run ``python derivations/ge_constants.py`` (about 12 minutes on a busy two-core machine).

1. sympy derives the closed forms used by ``rfdiff.activations`` for linear, relu and erf from Price's
   theorem, ``∂ E[σ(h1)σ(h2)]/∂c12 = E[σ'(h1)σ'(h2)]`` (c12 = Γ² r the covariance), and checks that the
   package's rewritten (cancellation-free) expressions equal them symbolically or to 1e-25 numerically.
2. mpmath (30 digits) computes reference values of μ0, μ1, a, b, v², s² and E σ² for every built-in
   activation on a grid of (t, τ_Σ), independently of the package: closed forms for linear/relu/erf
   (themselves checked against 2-D quadrature), and for tanh/sigmoid tanh-sinh quadrature for the 1-D
   integrals and a nested composite Gauss–Legendre rule for ``C = E[σ(h1)σ(h2)]``; at t = 5, where
   ``v² ~ 1e-15`` is what remains of a subtraction, it is cross-checked against Mehler's series
   ``v² = Σ_{k≥2} ĉ_k² r^k`` (12 orders, truncation < r^13 < 1e-39).
3. It checks the identities and the tanh values quoted in docs/theory.md §2.
"""
from __future__ import annotations

import json
import pathlib
from multiprocessing import Pool

import mpmath as mp
import sympy as sp

DPS = 30
T_GRID = ("0.001", "0.01", "0.1", "1", "5")
TAU_GRID = ("0.5", "1", "2")
EXTRA = (("0.001", "0.1"), ("0.001", "10"), ("5", "0.1"), ("5", "10"))   # ends of the accuracy range
OUT = pathlib.Path(__file__).with_name("ge_reference.json")

# ---------------------------------------------------------------- 1. symbolic closed forms
G2, r, s = sp.symbols("Gamma2 r s", positive=True)
z = sp.symbols("z", real=True)
GAUSS = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)


def gaussian_exp_moment(a):
    """``E exp(-a z²)`` for z ~ N(0, 1), by sympy."""
    return sp.simplify(sp.integrate(sp.exp(-a * z ** 2) * GAUSS, (z, -sp.oo, sp.oo)))


def symbolic_closed_forms():
    """Return ``{name: (mu0, mu1, C(r))}`` as sympy expressions in Γ² and r, derived here."""
    G = sp.sqrt(G2)
    forms = {}
    # linear: σ(h) = h, C(r) = Cov(h1, h2) = Γ² r.
    forms["linear"] = (sp.Integer(0), sp.Integer(1), G2 * r)
    # relu: μ0 = E[Γz; z > 0], μ1 = P(z > 0); Price: C'(r) = Γ² P(h1 > 0, h2 > 0) = Γ² (1/4 + asin(r)/(2π))
    # (Sheppard: with h2 ∝ r z1 + sqrt(1−r²) z2 the event is a wedge of angle π − acos r of a rotation-
    # invariant law; checked numerically below), and C(0) = μ0².
    mu0 = sp.integrate(G * z * GAUSS, (z, 0, sp.oo))
    mu1 = sp.integrate(GAUSS, (z, 0, sp.oo))
    forms["relu"] = (mu0, mu1, mu0 ** 2 + G2 * sp.integrate(sp.Rational(1, 4) + sp.asin(s) / (2 * sp.pi), (s, 0, r)))
    # erf: σ' = (2/√π) e^{-h²}, so μ1 = (2/√π) E e^{-Γ² z²} and C'(r) = Γ² (4/π) E e^{-h1² - h2²}
    # = Γ² (4/π) det(I + 2 Cov(h1, h2))^{-1/2} (the Gaussian integral E e^{-zᵀ M z} = det(I + 2M)^{-1/2});
    # C(0) = μ0² = 0 since σ is odd. sympy returns Meijer-G functions for ∫ C', so the antiderivative
    # (2/π) asin(c s), c = 2Γ²/(1 + 2Γ²), is checked by differentiation (it vanishes at s = 0).
    cov = G2 * sp.Matrix([[1, s], [s, 1]])
    dC = G2 * 4 / sp.pi / sp.sqrt(sp.expand((sp.eye(2) + 2 * cov).det()))
    C = 2 / sp.pi * sp.asin(2 * G2 * s / (1 + 2 * G2))
    residual = sp.simplify(sp.diff(C, s) - dC)
    if residual != 0:
        f = sp.lambdify((G2, s), residual, "mpmath")
        assert max(abs(f(mp.mpf(g), mp.mpf(x))) for g in ("0.1", "1", "10") for x in ("0.1", "0.9")) < 1e-25
    mu1 = 2 / sp.sqrt(sp.pi) * gaussian_exp_moment(G2)
    forms["erf"] = (sp.Integer(0), mu1, C.subs(s, r))
    return forms


def package_forms():
    """The package's expressions (rfdiff.activations docstrings) for ``(v², s²)`` in Γ² and r."""
    x, y = 2 * G2 * r / (1 + 2 * G2), 2 * G2 / (1 + 2 * G2)
    g = r * sp.asin(r) + sp.sqrt(1 - r ** 2) - 1
    theta = sp.acos(r)
    return {
        "linear": (sp.Integer(0), sp.Integer(0)),
        "relu": (G2 / (2 * sp.pi) * g,
                 G2 / (2 * sp.pi) * (sp.pi / 2 * (1 - r) + r * theta - sp.sin(theta))),
        "erf": (2 / sp.pi * (sp.asin(x) - x), 2 / sp.pi * (sp.asin(y) - sp.asin(x) - (y - x))),
    }


def check_symbolic(forms):
    mpforms = {}
    for name, (mu0, mu1, C) in forms.items():
        v2 = sp.simplify(C - mu0 ** 2 - G2 * r * mu1 ** 2)              # α² = Γ² r
        s2 = sp.simplify(C.subs(r, 1) - C - G2 * (1 - r) * mu1 ** 2)    # β² = Γ² (1 − r)
        pv2, ps2 = package_forms()[name]
        for label, mine, theirs in (("v2", v2, pv2), ("s2", s2, ps2)):
            diff = sp.simplify(mine - theirs)
            if diff != 0:   # fall back to 40-digit evaluation on a grid
                f = sp.lambdify((G2, r), diff, "mpmath")
                with mp.workdps(40):
                    worst = max(abs(f(mp.mpf(g2), mp.mpf(rr))) for g2 in ("0.1", "1", "10")
                                for rr in ("1e-6", "0.3", "0.9", "0.999999"))
                assert worst < 1e-25, (name, label, worst)
        print(f"  {name}: C(r) = {sp.simplify(C)}; package v2/s2 forms agree")
        mpforms[name] = tuple(sp.lambdify((G2, r), e, "mpmath") for e in (mu0, mu1, C, v2, s2))
    return mpforms


# ---------------------------------------------------------------- 2. mpmath references
MP_ACT = {
    "linear": lambda x: x,
    "relu": lambda x: x if x > 0 else mp.mpf(0),
    "erf": mp.erf,
    "tanh": mp.tanh,
    "sigmoid": lambda x: 1 / (1 + mp.exp(-x)),
}
KINKS = {"relu": [0]}


def gauss_mean(f, points=(0,)):
    """``E f(z)``, z ~ N(0, 1), by tanh-sinh quadrature split at 0 and at ``points``."""
    cuts = [-mp.inf, *sorted(set(points) | {0}), mp.inf]
    return mp.quad(lambda u: f(u) * mp.exp(-u * u / 2), cuts) / mp.sqrt(2 * mp.pi)


_LEGENDRE = {}


def legendre(n):
    """Gauss–Legendre nodes and weights on [-1, 1] by Newton's method at the working precision."""
    key = (n, mp.mp.dps)
    if key not in _LEGENDRE:
        xs, ws = [], []
        for k in range(1, n + 1):
            x = mp.cos(mp.pi * (k - mp.mpf(1) / 4) / (n + mp.mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mp.mpf(1), x
                for j in range(2, n + 1):
                    p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
                dp = n * (x * p1 - p0) / (x * x - 1)
                x -= p1 / dp
                if abs(p1 / dp) < mp.mpf(10) ** (-mp.mp.dps - 5):
                    break
            xs.append(x)
            ws.append(2 / ((1 - x * x) * dp * dp))
        _LEGENDRE[key] = (xs, ws)
    return _LEGENDRE[key]


def normal_rule(scale, refine=1, half_range=11, n=20):
    """Composite Gauss–Legendre rule for ``E f(z)`` on [-11, 11] (tail < 1e-26), pieces of width
    ``1/(refine·max(1, scale))`` so that f(scale·z) is resolved; error ~1e-26 for tanh, sigmoid."""
    xs, ws = legendre(n)
    m = int(mp.ceil(2 * half_range * refine * max(1, scale)))
    h = mp.mpf(2 * half_range) / m
    nodes, weights = [], []
    for i in range(m):
        for x, w in zip(xs, ws):
            u = -half_range + h * (i + (x + 1) / 2)
            nodes.append(u)
            weights.append(w * h / 2 * mp.exp(-u * u / 2) / mp.sqrt(2 * mp.pi))
    return nodes, weights


def correlation_2d(name, g2, rr, refine=1):
    """``C = E[σ(h1)σ(h2)] = E_{h1}[σ(h1) E(σ(h2)|h1)]`` by nested composite Gauss–Legendre (smooth σ)."""
    f = MP_ACT[name]
    g = mp.sqrt(g2)
    eps = g * mp.sqrt(1 - rr * rr)
    zo, wo = normal_rule(g, refine)
    zi, wi = normal_rule(eps, refine)
    return mp.fsum(w1 * f(g * u1) * mp.fsum(w2 * f(rr * g * u1 + eps * u2) for u2, w2 in zip(zi, wi))
                   for u1, w1 in zip(zo, wo))


def hermite_series_v2(name, g, rr, kmax=12):
    """``v² = Σ_{k≥2} ĉ_k² r^k`` (Mehler) with ``ĉ_k = E[σ(Γz) He_k(z)]/√k!`` by tanh-sinh quadrature."""
    f = MP_ACT[name]
    return mp.fsum(gauss_mean(lambda u: f(g * u) * mp.hermite(k, u / mp.sqrt(2)) * 2 ** (-mp.mpf(k) / 2)) ** 2
                   / mp.factorial(k) * rr ** k for k in range(2, kmax + 1))


def reference_case(args):
    """All constants for one (activation, t, τ_Σ) at ``DPS`` digits."""
    name, t, tau, closed = args
    mp.mp.dps = DPS
    t, tau = mp.mpf(t), mp.mpf(tau)
    alpha2, beta2 = mp.exp(-2 * t) * tau, -mp.expm1(-2 * t)
    g2 = alpha2 + beta2
    rr = alpha2 / g2
    if closed is not None:   # the derived expressions, v² and s² simplified (exact 0 for linear)
        mu0, mu1, C, v2, s2 = (f(g2, rr) for f in closed)
        e_sigma2 = closed[2](g2, mp.mpf(1))
    else:
        g = mp.sqrt(g2)
        f = MP_ACT[name]
        mu0 = gauss_mean(lambda u: f(g * u))
        mu1 = gauss_mean(lambda u: u * f(g * u)) / g
        e_sigma2 = gauss_mean(lambda u: f(g * u) ** 2)
        C = correlation_2d(name, g2, rr)
        v2 = C - mu0 ** 2 - alpha2 * mu1 ** 2
        s2 = e_sigma2 - C - beta2 * mu1 ** 2
    out = dict(activation=name, t=float(t), tau_sigma=float(tau), mu0=mu0, mu1=mu1, a=mu1,
               b=mp.sqrt(beta2) * mu1, v2=v2, s2=s2, e_sigma2=e_sigma2)
    if closed is None and t >= 5:   # cross-check the 2-D rule against Mehler's series (r < 1e-3 here)
        series = hermite_series_v2(name, mp.sqrt(g2), rr)
        assert abs(series - v2) <= mp.mpf(10) ** -24 + 1e-12 * abs(v2), (name, t, tau, series, v2)
    return {k: (float(v) if isinstance(v, mp.mpf) else v) for k, v in out.items()}


def check_closed_forms_numerically(mpforms):
    """Closed forms vs independent quadrature at two (Γ², r) each (nested tanh-sinh split at the kink
    for relu, nested Gauss–Legendre for the smooth ones; 15 digits, enough to catch a wrong formula);
    Sheppard's formula."""
    for rr in (mp.mpf("0.3"), mp.mpf("0.95")):
        shep = gauss_mean(lambda u: mp.ncdf(rr * u / mp.sqrt(1 - rr * rr)) if u > 0 else 0)
        assert abs(shep - (mp.mpf(1) / 4 + mp.asin(rr) / (2 * mp.pi))) < 1e-25
    for name, forms in mpforms.items():
        f = MP_ACT[name]
        for g2, rr in ((mp.mpf("0.7"), mp.mpf("0.4")), (mp.mpf("1.5"), mp.mpf("0.97"))):
            g, eps = mp.sqrt(g2), mp.sqrt(g2 * (1 - rr * rr))
            with mp.workdps(15):
                if name == "relu":
                    C = gauss_mean(lambda u: f(g * u) * gauss_mean(lambda v: f(rr * g * u + eps * v),
                                                                   [-rr * g * u / eps]))
                else:
                    C = correlation_2d(name, g2, rr)
                mu0 = gauss_mean(lambda u: f(g * u))
                mu1 = gauss_mean(lambda u: u * f(g * u)) / g
            err = max(abs(a - b(g2, rr)) for a, b in zip((mu0, mu1, C), forms[:3]))
            assert err < 1e-12, (name, g2, rr, err)
        print(f"  {name}: closed forms match quadrature (error {mp.nstr(err, 3)})")


def main():
    mp.mp.dps = DPS
    print("1. symbolic closed forms")
    mpforms = check_symbolic(symbolic_closed_forms())
    check_closed_forms_numerically(mpforms)

    print("2. references (mpmath, %d digits)" % DPS)
    grid = [(t, tau) for t in T_GRID for tau in TAU_GRID] + list(EXTRA)
    jobs = [(name, t, tau, None) for name in ("tanh", "sigmoid") for t, tau in grid]
    smooth = []
    with Pool(2) as pool:
        for case in pool.imap(reference_case, jobs):
            smooth.append(case)
            print(f"  {case['activation']} t={case['t']} τ={case['tau_sigma']}: v2={case['v2']:.6g}", flush=True)
    closed = [reference_case((name, t, tau, mpforms[name])) for name in ("linear", "relu", "erf")
              for t, tau in grid]
    # Convergence of the nested rule at the hardest grid point: halve every piece.
    mp.mp.dps = DPS
    g2 = mp.exp(-2 * mp.mpf("0.001")) * 2 - mp.expm1(-2 * mp.mpf("0.001"))
    rr = mp.exp(-2 * mp.mpf("0.001")) * 2 / g2
    change = abs(correlation_2d("tanh", g2, rr) - correlation_2d("tanh", g2, rr, refine=2))
    print(f"  nested rule, tanh t=1e-3 τ=2: change on refinement {mp.nstr(change, 3)}")
    assert change < 1e-24

    cases = closed + smooth
    print("3. identities and docs/theory.md §2 values")
    for c in cases:
        e2t = mp.exp(-2 * mp.mpf(c["t"]))
        g2 = e2t * c["tau_sigma"] - mp.expm1(-2 * mp.mpf(c["t"]))
        assert abs(e2t * c["tau_sigma"] * c["a"] ** 2 + c["b"] ** 2 - g2 * c["mu1"] ** 2) < 1e-15
        assert abs(c["v2"] + c["s2"] - (c["e_sigma2"] - c["mu0"] ** 2 - g2 * c["mu1"] ** 2)) < 1e-15
        assert c["v2"] >= 0 and c["s2"] >= 0
    theory = {("0.1", "b2"): 0.066504, ("0.1", "v2"): 0.013841, ("0.1", "s2"): 0.013574,
              ("0.01", "b2"): 0.007265, ("0.01", "v2"): 0.025542, ("0.01", "s2"): 0.001874}
    tanh1 = {c["t"]: c for c in smooth if c["activation"] == "tanh" and c["tau_sigma"] == 1}
    assert abs(tanh1[0.1]["mu1"] - 0.605706) < 5e-7 and abs(tanh1[0.1]["e_sigma2"] - 0.394294) < 5e-7
    for (t, key), value in theory.items():
        c = tanh1[float(t)]
        got = c["b"] ** 2 if key == "b2" else c[key]
        assert abs(got - value) < 5e-7, (t, key, got, value)
    print("  identities hold; tanh values of docs/theory.md §2 reproduced to their 6 digits")

    OUT.write_text(json.dumps({
        "description": "Gaussian-equivalence constants (docs/theory.md §2), mpmath %d digits, "
                       "written by derivations/ge_constants.py; e_sigma2 = E sigma(h)^2" % DPS,
        "cases": cases}, indent=0) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
