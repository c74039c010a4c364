"""High-precision reference solutions of the one-point fixed point (docs/theory.md §4), with mpmath.

This is an implementation independent of ``rfdiff.spectral``: the equations are written in their
original form

    q = 1 / ( c + ⟨ m / (1 + ψ_p q m) ⟩ ),   c = s² − z + v²/(1+δ),   m(σ) = b² + e^{-2t} μ1² σ/(1+δ),
    δ = (ψ_p/ψ_n) q ( e^{-2t} μ1² ⟨ σ / (1 + ψ_p q m) ⟩ + v² ),

solved with ``mpmath.findroot`` at 30 digits, and the physical branch is reached by continuation
along the vertical path from ``z_far = Re z + 10 i·(1 + |z|)`` (where q ≈ −1/z) down to z, with
geometrically decreasing imaginary part.
Only the Gaussian-equivalence constants are taken from rfdiff (they have references of their own,
``ge_reference.json``); they are stored with each case so the test solves exactly the same system.

Run:  python derivations/spectrum_reference.py   (writes derivations/spectrum_reference.json)
"""
import json
import pathlib

import mpmath as mp

import rfdiff as rd

mp.mp.dps = 30

CASES = [
    (rd.RFModel(64, 8, 0.01), [0.2 + 0.01j, 20 + 1j, 0.005 + 1e-4j, 1.0 + 0.5j, -1 + 0.1j]),
    (rd.RFModel(0.5, 2, 0.1), [0.5 + 0.01j, 2 + 0.3j]),
    (rd.RFModel(32, 4, 0.01, activation="relu"), [0.02 + 0.001j, 0.6 + 0.01j, 10 + 0.5j]),
    (rd.RFModel(16, 4, 0.05, data=rd.DiscreteSpectrum([0.5, 1.5], [0.5, 0.5])), [0.1 + 0.01j, 12 + 0.3j]),
    (rd.RFModel(16, 4, 0.05, data=rd.MarchenkoPastur(0.5, 1.0)), [0.1 + 0.01j]),
    (rd.RFModel(4, 16, 1.0), [0.0274 + 1e-5j, 1.0 + 0.05j]),
]


def averages(model, f):
    law = model.data
    if isinstance(law, rd.MarchenkoPastur):
        lo, hi = law.support
        dens = lambda s: mp.sqrt((hi - s) * (s - lo)) / (2 * mp.pi * law.ratio * law.scale * s)
        return mp.quad(lambda s: dens(s) * f(s), [lo, (lo + hi) / 2, hi])
    return mp.fsum(mp.mpf(w) * f(mp.mpf(e)) for e, w in zip(law.eigs, law.weights))


def solve(model, consts, z, q0, d0):
    psi, ratio = mp.mpf(model.psi_p), mp.mpf(model.psi_p) / model.psi_n
    b2, E, v2, s2 = (mp.mpf(consts[k]) for k in ("b2", "E", "v2", "s2"))

    def equations(q, dl):
        m = lambda s: b2 + E * s / (1 + dl)
        c = s2 - z + v2 / (1 + dl)
        f1 = q - 1 / (c + averages(model, lambda s: m(s) / (1 + psi * q * m(s))))
        f2 = dl - ratio * q * (E * averages(model, lambda s: s / (1 + psi * q * m(s))) + v2)
        return [f1, f2]

    return mp.findroot(equations, (q0, d0))


def main():
    out = []
    for model, zs in CASES:
        c = rd.ge_coefficients(model)
        consts = {"b2": c.b ** 2, "E": c.e2t * c.mu1 ** 2, "v2": c.v2, "s2": c.s2}
        for z in zs:
            z = mp.mpc(z)
            z_far = mp.mpc(z.real, 10 * (1 + abs(z)))
            q = -1 / z_far
            dl = (mp.mpf(model.psi_p) / model.psi_n) * q * (consts["E"] * model.data.tau_sigma + consts["v2"])
            steps = 40 if isinstance(model.data, rd.MarchenkoPastur) else 80
            for k in range(1, steps + 1):
                zk = mp.mpc(z.real, z_far.imag * (z.imag / z_far.imag) ** (mp.mpf(k) / steps))
                q, dl = solve(model, consts, zk, q, dl)
            assert q.imag > 0, "left the physical branch"
            out.append({"model": model.to_dict(), "constants": consts, "z": [float(z.real), float(z.imag)],
                        "q": [mp.nstr(q.real, 20), mp.nstr(q.imag, 20)],
                        "delta": [mp.nstr(dl.real, 20), mp.nstr(dl.imag, 20)]})
            print(model.psi_p, model.psi_n, model.t, complex(z), complex(q), flush=True)
    path = pathlib.Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
