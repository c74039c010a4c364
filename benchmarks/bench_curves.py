"""Speed of the exact learning curves and timescales, against the same curves by simulation.

Usage: ``python benchmarks/bench_curves.py [--repeat 5] [--sim-d 100] [--no-sim]``

Targets (DESIGN.md): train + test + score-error curves for 200 τ at ψ_p = 64, ψ_n = 8, t = 0.01 in
≤ 0.3 s warm (next: ≤ 0.02 s; with m finite noise draws ≤ 0.1 s); ``timescales`` in ≤ 1 s. The finite-m
and weight-decay rows use ψ_p = 4, ψ_n = 2, t = 0.1 (m = 1, 2) and ψ_p = 8, ψ_n = 2 (ω = 0.05). The comparison is the closed-form gradient flow of one finite
Gaussian-equivalent sample (dense ``eigh`` at d = 100, p = 6400) and an estimate of plain gradient descent
to the same final time (stable step ``Δτ = 1/(κ λ_max)``, one ``A·U`` product per step).
"""
import argparse
import math
import time

import numpy as np

import rfdiff as rd
from _timing import best
from rfdiff.dynamics import LearningDynamics, loss_curves
from rfdiff.spectral import support
from rfdiff.timing import timescales


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sim-d", type=int, default=100)
    parser.add_argument("--no-sim", action="store_true", help="skip the (minutes-long) simulation")
    args = parser.parse_args()

    model = rd.RFModel(psi_p=64, psi_n=8, t=0.01)
    dyn = LearningDynamics(model)
    sup = dyn.support
    taus = np.append(np.geomspace(*dyn.tau_window(), 199), np.inf)

    finite = [rd.RFModel(4, 2.5, 0.1, m=1), rd.RFModel(4, 2.5, 0.1, m=2), rd.RFModel(8, 2, 0.1, weight_decay=0.05)]
    finite_taus = [np.append(np.geomspace(*LearningDynamics(m).tau_window(), 199), np.inf) for m in finite]
    rows = [
        ("loss_curves, 200 τ (support + contour solve + T + evaluation)", lambda: loss_curves(model, taus)),
        ("loss_curves, 200 τ, m = 1 (ψ_p = 4, ψ_n = 2.5, t = 0.1)",
         lambda: loss_curves(finite[0], finite_taus[0])),
        ("loss_curves, 200 τ, m = 2 (ψ_p = 4, ψ_n = 2.5, t = 0.1)",
         lambda: loss_curves(finite[1], finite_taus[1])),
        ("loss_curves, 200 τ, weight decay 0.05 (ψ_p = 8, ψ_n = 2, t = 0.1)",
         lambda: loss_curves(finite[2], finite_taus[2])),
        ("  of which support(model)", lambda: support(model, edge_rtol=1e-8)),
        ("  of which LearningDynamics(model) (incl. support)", lambda: LearningDynamics(model)),
        ("  of which evaluation of 200 τ on a built LearningDynamics", lambda: dyn(taus)),
        ("decompose, 200 τ", lambda: dyn.decompose(taus)),
        ("timescales(model)", lambda: timescales(model)),
    ]
    print(f"model {model.to_dict()}; contour nodes {dyn.z.size}, "
          f"max quadrature error {dyn(taus).quad_error.max():.1e}")
    print(f"{'work':66s} {'wall [s]':>9s} {'cpu [s]':>9s}")
    for name, fn in rows:
        wall, cpu = best(fn, args.repeat)
        print(f"{name:66s} {wall:9.3f} {cpu:9.3f}")

    if args.no_sim:
        return
    from rfdiff.simulate import gaussian_equivalent
    d = args.sim_d
    w, c = time.perf_counter(), time.process_time()
    ge = gaussian_equivalent(model, d=d, seed=0)
    sim = ge.loss_curves(taus)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    exact = dyn(taus)
    err = np.linalg.norm(exact.test - sim.test) / np.linalg.norm(sim.test)
    print(f"{f'simulation: GE sample + eigh + GF curves at d={d}, p={ge.p}, n={ge.n}':66s} {wall:9.3f} {cpu:9.3f}")
    print(f"  relative distance of the simulated test curve to the exact one: {err:.2e}")
    # gradient descent to the same final time: Δτ ≤ 1/(κ λ_max) per step, one (d×p)(p×p) product per step
    A = np.random.default_rng(0).standard_normal((d, ge.p))
    step_wall, _ = best(lambda: A @ ge.U, 2)
    steps = math.ceil(taus[-2] * model.kappa * sup.lambda_max)
    print(f"gradient descent to τ = {taus[-2]:.3g}: ≥ {steps:.2e} steps × {step_wall:.3f} s "
          f"= {steps * step_wall / 3600:.1f} h (estimate)")


if __name__ == "__main__":
    main()
