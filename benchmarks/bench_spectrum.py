"""Cost per spectral point of the one-point solver (warm), on a 10⁴-point grid.

Columns: wall and CPU time per point (best of 5), continuation steps + Newton iterations per point,
the whole grid, one ``support`` call. The seed paper's published solver (scipy Levenberg–Marquardt with ε-annealing) takes 57–128 ms per
spectral point on this machine class; the target here is ≤ 20 µs per point. Run:

    python benchmarks/bench_spectrum.py
"""
import os
import platform

import numpy as np

import rfdiff as rd
from _timing import best

CASES = {
    "isotropic ψ_p=64 ψ_n=8 t=0.01": rd.RFModel(64, 8, 0.01),
    "relu ψ_p=32 ψ_n=4 t=0.01": rd.RFModel(32, 4, 0.01, activation="relu"),
    "4-atom Σ ψ_p=32 ψ_n=4 t=0.05": rd.RFModel(32, 4, 0.05, data=rd.DiscreteSpectrum([0.25, 0.5, 1, 2], [0.25] * 4)),
    "MP Σ ψ_p=32 ψ_n=4 t=0.05": rd.RFModel(32, 4, 0.05, data=rd.MarchenkoPastur(0.5, 1.0)),
    "m = 1 ψ_p=4 ψ_n=2.5 t=0.1": rd.RFModel(4, 2.5, 0.1, m=1),
    "m = 4 ψ_p=32 ψ_n=4 t=0.05": rd.RFModel(32, 4, 0.05, m=4),
}


def main(points=10_000):
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"{'case':34s} {'µs/point':>9s} {'CPU µs/pt':>10s} {'iter/pt':>8s} {'10⁴ grid [s]':>13s} "
          f"{'support [ms]':>13s} {'vs seed (57 ms)':>16s}")
    for name, model in CASES.items():
        sup = rd.support(model)  # warm the kernels and the constants
        lam = np.geomspace(0.5 * sup.intervals[0][0], 1.2 * sup.lambda_max, points)
        rd.spectrum(model, lam[:100])
        t, cpu = best(lambda: rd.spectrum(model, lam), 5, warm=False)
        ts, _ = best(lambda: rd.support(model), 5, warm=False)
        its = getattr(rd.spectrum(model, lam), "total_iterations", float("nan")) / points
        print(f"{name:34s} {1e6 * t / points:9.2f} {1e6 * cpu / points:10.2f} {its:8.1f} {t:13.3f} "
              f"{1e3 * ts:13.1f} {57e-3 / (t / points):15.0f}×")


if __name__ == "__main__":
    main()
