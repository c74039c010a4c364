"""Throughput of one GD step of ``rfdiff.simulate.training`` against numpy's GEMM rate for the same shapes.

A full-batch step with fresh noise does three GEMMs, ``W Ξ`` (p×d by d×n), ``A F`` (d×p by p×n) and
``R Fᵀ`` (d×n by n×p), i.e. ``6 p d n`` flops, plus O(p n) elementwise work (σ, noise, residual). The
achieved rate is ``6 p d n / (time per step)``; the reference is the rate of the same three GEMMs alone
(numpy ``@``, preallocated operands). Target: achieved ≥ 50% of the GEMM rate.

Usage::

    python benchmarks/bench_train.py [--d 100] [--psi-p 8] [--psi-n 4] [--steps 200] [--activation tanh]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import rfdiff as rd
from rfdiff.simulate import noise_rng
from rfdiff.simulate.training import _gradient, _Problem


def best_time(fn, repeat, number):
    """Best over ``repeat`` rounds of the mean time of ``number`` calls (seconds)."""
    fn()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--psi-p", type=float, default=8.0)
    parser.add_argument("--psi-n", type=float, default=4.0)
    parser.add_argument("--t", type=float, default=0.1)
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--steps", type=int, default=100, help="steps per timing round")
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds (best is kept)")
    args = parser.parse_args(argv)

    model = rd.RFModel(psi_p=args.psi_p, psi_n=args.psi_n, t=args.t, activation=args.activation)
    problem = _Problem(model, args.d, seed=0)           # the model's m = inf: fresh noise at every step
    d, p, n = problem.d, problem.p, problem.n
    flops = 6.0 * p * d * n
    rng = noise_rng(0)
    A = 1e-2 * np.random.default_rng(1).standard_normal((d, p))
    lr = 1e-3

    def step():
        G = _gradient(problem, rng, None, A)
        G *= lr
        A[...] -= G

    # the same three GEMMs alone
    g = np.random.default_rng(2)
    W, Xi, Aa, F = (g.standard_normal(s) for s in ((p, d), (d, n), (d, p), (p, n)))
    H, R, G = np.empty((p, n)), np.empty((d, n)), np.empty((d, p))

    def gemms():
        np.matmul(W, Xi, out=H)
        np.matmul(Aa, F, out=R)
        np.matmul(R, F.T, out=G)

    def elementwise():
        np.tanh(H) if args.activation == "tanh" else model.activation.fn(H)

    def normals():
        rng.standard_normal((d, n))

    t_gemm = best_time(gemms, args.repeat, args.steps)
    t_step = best_time(step, args.repeat, args.steps)
    t_act = best_time(elementwise, args.repeat, args.steps)
    t_rng = best_time(normals, args.repeat, args.steps)
    print(f"d={d} p={p} n={n} activation={args.activation}: {flops / 1e6:.0f} MFLOP of GEMM per step")
    print(f"  three GEMMs alone : {t_gemm * 1e3:8.3f} ms  ({flops / t_gemm / 1e9:6.1f} GFLOP/s)")
    print(f"  full GD step      : {t_step * 1e3:8.3f} ms  ({flops / t_step / 1e9:6.1f} GFLOP/s, "
          f"{t_gemm / t_step:.0%} of the GEMM rate; target >= 50%)")
    print(f"    of which σ on p×n        ~ {t_act * 1e3:6.3f} ms")
    print(f"    of which noise d×n       ~ {t_rng * 1e3:6.3f} ms")
    print(f"  steps per second  : {1 / t_step:8.1f}")


if __name__ == "__main__":
    main()
