"""Speed of the Gaussian-mixture theory (docs/theory.md §12): curves, per-class curves, spectral points.

Usage: ``python benchmarks/bench_mixture.py [--repeat 5]``

Targets: two-class curves for 200 τ warm ≤ 0.2 s; one spectral point ≤ 20 µs. Models: two classes
Σ = I/2 and 2I, tanh, ψ_p = 64, ψ_n = 8, t = 0.01 (balanced and 90/10), and ψ_p = 4, ψ_n = 2.5, t = 0.1 with
m = 2 frozen draws (four Wishart components).
"""
import argparse

import numpy as np

import rfdiff as rd
from _timing import best
from rfdiff.dynamics import LearningDynamics, loss_curves


def two(pi):
    return rd.GaussianMixture([pi, 1 - pi], [rd.Isotropic(0.5), rd.Isotropic(2.0)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    models = {"balanced ψ_p=64 ψ_n=8 t=0.01": rd.RFModel(64, 8, 0.01, data=two(0.5)),
              "90/10 ψ_p=64 ψ_n=8 t=0.01": rd.RFModel(64, 8, 0.01, data=two(0.9)),
              "balanced m=2 ψ_p=4 ψ_n=2.5 t=0.1": rd.RFModel(4, 2.5, 0.1, m=2, data=two(0.5))}
    print(f"{'work':62s} {'wall [s]':>9s} {'cpu [s]':>9s}")
    for name, model in models.items():
        dyn = LearningDynamics(model)
        taus = np.append(np.geomspace(*dyn.tau_window(), 199), np.inf)
        rows = [(f"{name}: loss_curves 200 τ (with per-class curves)", lambda m=model, x=taus: loss_curves(m, x)),
                (f"{name}: LearningDynamics(model)", lambda m=model: LearningDynamics(m)),
                (f"{name}: evaluation of 200 τ, overall", lambda ld=dyn, x=taus: ld(x)),
                (f"{name}: per_class 200 τ (built dynamics)", lambda ld=dyn, x=taus: ld.per_class(x)),
                (f"{name}: class_timescales", lambda ld=dyn: rd.class_timescales(ld))]
        print(f"-- {name}: contour nodes {dyn.z.size}")
        for label, fn in rows:
            wall, cpu = best(fn, args.repeat)
            print(f"{label:62s} {wall:9.3f} {cpu:9.3f}")
        sup = rd.support(model)
        lam = np.geomspace(0.5 * sup.intervals[0][0], 1.2 * sup.lambda_max, 10_000)
        rd.spectrum(model, lam[:100])
        wall, cpu = best(lambda m=model, x=lam: rd.spectrum(m, x), args.repeat)
        print(f"{name + ': spectrum, per point of a 10⁴ grid [µs]':62s} {1e6 * wall / lam.size:9.2f} "
              f"{1e6 * cpu / lam.size:9.2f}")


if __name__ == "__main__":
    main()
