"""Check of the Gaussian-mixture structure (rfdiff/structure.py, docs/theory.md §12).

1. Symbolic (sympy): the first moment ``lim (1/p) Tr U`` and the V functional ``lim (1/d) Tr[Vᵀ V]``-type
   weights of the literal model — class c's ``π_c n`` points, features ``g + h_k`` over m draws
   (``g ~ N(0, C_c)``, ``h_k ~ N(0, H_c)``, noise ξ_k with ``Cov(h_k, ξ_k) = b_c W/√d``) averaged over all n·m
   pairs — equal those of the structure's components (covariances, noise weights and couplings scaled by
   π_c), for symbolic m, π_c and constants. This is the bookkeeping the theory relies on: a component
   ``(1/N) Y Yᵀ`` with ``N = π_c n`` represents ``(1/n) Σ_{ν∈c}`` only if every column carries ``√π_c``.
2. Numeric: ``q(z)`` and ``g_W(z)`` of the one-point solver for a three-class mixture with m = 2 frozen
   draws (six Wishart components) against the empirical transforms of Gaussian-equivalent samples built
   from literal draws (no components), at d = 100 and 400: the error falls with d.

Run: ``python derivations/mixture_structure.py``.
"""

import numpy as np
import sympy as sp

import rfdiff as rd
from rfdiff.simulate import gaussian_equivalent
from rfdiff.structure import structure


def symbolic():
    m, pi, tau, e2t, mu1, v2, s2, b = sp.symbols("m pi tau e2t mu1 v2 s2 b", positive=True)
    # Literal model, class c: (1/(n m)) Σ_{ν∈c} Σ_k φ φᵀ with φ = g + h_k.  Per point, E Σ_k φφᵀ =
    # m C + m H; there are π n points, divided by n m: first moment π (tr C + tr H).
    trC, trH = e2t * mu1 ** 2 * tau + v2, b ** 2 + s2
    literal_U = pi * (trC + trH)
    # Literal V weight: (1/(n m)) Σ Σ_k φ_k ξ_kᵀ has mean π b W/√d (E[h ξᵀ] = b W/√d), and the noise
    # second moment (1/(n m)) Σ Σ_k ‖ξ‖²/d = π per class.
    literal_V, literal_noise = pi * b, pi
    # Structure: component 1 π(C + H/m) (a = π/m, c = π b/m); component 2 π((m−1)/m) H (a = π(m−1)/m, c = a b).
    comp_U = pi * (trC + trH / m) + pi * (m - 1) / m * trH
    comp_V = pi * b / m + pi * (m - 1) / m * b
    comp_noise = pi / m + pi * (m - 1) / m
    assert sp.simplify(comp_U - literal_U) == 0
    assert sp.simplify(comp_V - literal_V) == 0
    assert sp.simplify(comp_noise - literal_noise) == 0
    # m = ∞: component π C, shift π H, c_S = π b.
    assert sp.simplify(sp.limit(comp_U, m, sp.oo) - literal_U) == 0
    print("symbolic: first moments, V weights and noise weights of the π-scaled components agree")


def numeric():
    data = rd.GaussianMixture([0.5, 0.3, 0.2], [rd.Isotropic(0.5), rd.Isotropic(1.0), rd.Isotropic(3.0)])
    model = rd.RFModel(3, 1, 0.2, data=data, m=2)
    assert len(structure(model).components) == 6
    z = np.array([0.3 + 0.2j, 1.0 + 0.5j, 4.0 + 1.0j])
    st = rd.stieltjes(model, z)
    for d in (100, 400):
        errs = []
        for seed in range(2):
            q, g = gaussian_equivalent(model, d, seed=seed).stieltjes(z)
            errs.append(max(np.max(np.abs(q - st.q) / np.abs(st.q)), np.max(np.abs(g - st.g_w) / np.abs(st.g_w))))
        print(f"numeric: d = {d}: q, g_W relative error {np.mean(errs):.2e} (3 classes, m = 2)")


if __name__ == "__main__":
    symbolic()
    numeric()
