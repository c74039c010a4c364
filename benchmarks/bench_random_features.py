"""Benchmark: exact noise-averaged true random features (rfdiff.simulate.features).

Times ``random_features(model, d)`` (warm: kernels compiled, one untimed run first) at the reference
shape p = 2000, n = 1000, d = 250 (tanh) and compares it with one (2000×1000)·(1000×2000) matrix product
on the same machine (target: within 5× of that GEMM, issue 18; it was 20×). Then reports how the time scales with p, n and d
and with the diffusion time t (which sets the Mehler order and the quadrature rule).

Run:  python benchmarks/bench_random_features.py [--quick]

Times are the best of ``--repeat`` runs (default 2); the machine load is printed because a shared
machine can slow every figure several-fold. This is a script, not a test.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import rfdiff as rd
from rfdiff.simulate import kernels
from rfdiff.simulate.features import random_features


def best_of(fn, repeat):
    """Best wall time and best CPU time (all threads of this process) over ``repeat`` runs, and the result.

    On a loaded machine the CPU time is the more stable measure of work: the GEMM and the kernels
    both run on every core, so the ratio of CPU times is what an idle machine would show.
    """
    walls, cpus = [], []
    out = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return (min(walls), min(cpus)), out


def gemm_time(p, n, repeat):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((p, n))
    B = np.ascontiguousarray(A.T)
    A @ B
    return best_of(lambda: A @ B, max(repeat, 3))[0]


def run(p, n, d, t, repeat, activation="tanh"):
    model = rd.RFModel(psi_p=p / d, psi_n=n / d, t=t, activation=activation)
    random_features(model, d, seed=0)           # warm: caches, BLAS threads, page faults
    sec, rf = best_of(lambda: random_features(model, d, seed=0), repeat)
    return sec, rf


def row(label, p, n, d, t, sec, rf, ref, own):
    kind, size = rf.quadrature["data"][0]
    rule = f"{'GH' if kind == 'gauss-hermite' else 'P'}{size}"
    if rf.interpolation is not None:
        rule += f"+C{rf.interpolation[1]}"
    tm = rf.timings
    print(f"{label:<10} {p:>5} {n:>5} {d:>4} {t:>5} {sec[0]:8.2f} {sec[0] / ref[0]:6.1f} {sec[1]:8.2f} "
          f"{sec[1] / ref[1]:6.1f} {sec[1] / own[1]:6.1f} {rf.order:>3} {rf.order_dense:>3} {rule:<9} "
          f"{tm['coefficients']:6.2f} {tm['mehler']:6.2f} {tm['population']:6.2f} {rf.truncation_bound:9.1e} "
          f"{rf.quadrature['data'][1]:9.1e}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the reference shape")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    kernels.warm()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    ref = gemm_time(2000, 1000, args.repeat)
    print(f"reference GEMM (2000×1000)·(1000×2000): wall {ref[0]:.3f} s, CPU {ref[1]:.3f} s")
    print("columns: wall and CPU seconds (best of runs) and their ratio to the reference GEMM; ×own = CPU\n"
          "ratio to the (p×n)·(n×p) GEMM of the same shapes; S = largest Mehler order, Sd = the order every\n"
          "entry takes (by SYRK); rule = data quadrature (GHq Gauss–Hermite, Pm panels, +Ck Chebyshev\n"
          "interpolation in h of degree k); coef/mehler/pop = wall seconds of the per-element work, the\n"
          "Mehler sum (Sd+1 SYRK + Horner passes, the further orders of the entries that need them) and the\n"
          "population block; bound = Mehler truncation bound on the entries of U (target 1e-10); quad =\n"
          "estimated quadrature (+ interpolation) error of the Hermite coefficients (target 1e-12).")
    header = (f"{'case':<10} {'p':>5} {'n':>5} {'d':>4} {'t':>5} {'wall':>8} {'×GEMM':>6} {'CPU':>8} {'×GEMM':>6} "
              f"{'×own':>6} {'S':>3} {'Sd':>3} {'rule':<9} {'coef':>6} {'mehler':>6} {'pop':>6} {'bound':>9} "
              f"{'quad':>9}")
    print(header)
    print("-" * len(header))
    cases = [("reference", 2000, 1000, 250, 0.1)]
    if not args.quick:
        cases += [("t", 2000, 1000, 250, 0.01), ("t", 2000, 1000, 250, 1.0),
                  ("p", 1000, 1000, 250, 0.1), ("p", 4000, 1000, 250, 0.1),
                  ("n", 2000, 500, 250, 0.1), ("n", 2000, 2000, 250, 0.1),
                  ("d", 2000, 1000, 125, 0.1), ("d", 2000, 1000, 500, 0.1)]
    for label, p, n, d, t in cases:
        sec, rf = run(p, n, d, t, args.repeat)
        own = ref if (p, n) == (2000, 1000) else gemm_time(p, n, args.repeat)
        row(label, p, n, d, t, sec, rf, ref, own)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
