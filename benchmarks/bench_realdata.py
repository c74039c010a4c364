"""Benchmark: real data (docs/theory.md §14).

1. Building the law from a 10⁵ × 64 data matrix (:func:`rfdiff.law_from_data`: centre, one scale, the
   sample covariance's eigenvalues), exact and binned.
2. The true model on 1024 scikit-learn digits at ψ_p = 8, t = 0.1 (p = 512, n = 1024, 773 held-out rows as
   the population): :func:`rfdiff.simulate.real_features` (exact noise averages), then its closed-form curves
   at 200 training times, and explicit GD on the same rows to τ = 400.

Run:  python benchmarks/bench_realdata.py [--repeat R]

Times are the best of ``--repeat`` runs (default 3), wall and CPU (all threads); the machine load is printed
because other jobs on a shared machine slow every figure. Needs ``rfdiff[data]`` for part 2.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from _timing import best

import rfdiff as rd
from rfdiff.simulate import real_features, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    X = np.random.default_rng(0).standard_normal((100_000, 64)) * np.geomspace(0.1, 3.0, 64)
    for bins in (None, 16):
        wall, cpu = best(lambda bins=bins: rd.law_from_data(X, bins=bins), args.repeat)
        print(f"law_from_data 1e5 x 64, bins={bins}: {wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU")

    digits = rd.load_dataset("digits")
    model = rd.RFModel(psi_p=8, psi_n=1024 / 64, t=0.1, data=digits.law())
    split = digits.split(1024, seed=0)
    rows = (digits.rows[split.train], digits.rows[split.test])
    wall, cpu = best(lambda: real_features(model, *rows, seed=0), args.repeat)
    sim = real_features(model, *rows, seed=0)
    print(f"real_features digits n = 1024, n_test = {split.test.size}, p = {sim.p}: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU (Mehler orders {sim.order} train / {sim.order_pop} held-out)")
    taus = np.append(np.geomspace(0.01, 1e5, 199), np.inf)
    wall, cpu = best(lambda: real_features(model, *rows, seed=0).loss_curves(taus), 1, warm=False)
    print(f"  + curves at 200 tau (eigendecomposition included): {wall:.2f} s wall, {cpu:.2f} s CPU")
    wall, cpu = best(lambda: train(model, 64, 400.0, rows=rows, seed=0, n_log=20), 1)
    print(f"GD on the same rows to tau = 400 (default step, exact held-out losses at 20 log points): "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
