"""Exact learning curves next to finite-size simulations of the true random-features model.

What it shows
-------------
Left: the exact high-dimensional train and test losses (lines, :func:`rfdiff.loss_curves`) of the tanh
random-features score model at ψ_p = 8, ψ_n = 2, t = 0.1, with

* the true non-linear model at d = 40 and d = 160 (p = 320, 1280), training noise averaged exactly and
  gradient flow in closed form (:func:`rfdiff.simulate.random_features`), as open markers;
* an explicit gradient-descent run at d = 40 with fresh noise at every step, the seed paper's experiment
  (:func:`rfdiff.simulate.train`), as crosses.

The generalization dip at τ_gen, the memorization rise after τ_mem and the train/test gap at τ = ∞ all sit
on the theory. Right: the finite-size error |simulation − theory| of the test loss, averaged over 3 seeds,
for d = 40, 80, 160 — it shrinks roughly like 1/d.

Run time: 11 s on a 2-core machine with other jobs (load 4.5; the GD run is 4 500 steps at d = 40), with
rfdiff's own choice of BLAS threads (10.7 s) as with ``OPENBLAS_NUM_THREADS=1`` (11.5 s); before rfdiff chose
its threads, threaded OpenBLAS took 40–73 s on such a machine. Writes ``theory_vs_simulation.png`` next to
this script (or to the path given as the first argument).

Usage: ``python examples/theory_vs_simulation.py [out.png]``
"""
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rfdiff as rd  # noqa: E402
from rfdiff.plotting import savefig  # noqa: E402
from rfdiff.simulate import random_features, train  # noqa: E402

MODEL = rd.RFModel(psi_p=8, psi_n=2, t=0.1, activation="tanh")
DIMS = (40, 80, 160)
SEEDS = (0, 1, 2)
GD_D, GD_TAU_MAX = 40, 2000.0


def main(out):
    start = time.perf_counter()
    taus = np.geomspace(0.1, 1e4, 200)
    dyn = rd.LearningDynamics(MODEL)
    theory = dyn(taus)
    ts = rd.timescales(MODEL, dynamics=dyn)
    sim_taus = np.geomspace(0.1, 1e4, 30)
    theory_at_sim = dyn(sim_taus)

    sims, errors = {}, {}
    for d in DIMS:
        curves = [random_features(MODEL, d, seed=s).loss_curves(sim_taus) for s in SEEDS]
        sims[d] = curves[0]
        errors[d] = np.mean([np.abs(c.test - theory_at_sim.test) for c in curves], axis=0)
        print(f"d = {d:4d}: max_τ |test − theory| = {errors[d].max():.4f} (mean of {len(SEEDS)} seeds), "
              f"relative 2-norm {np.linalg.norm(errors[d]) / np.linalg.norm(theory_at_sim.test):.4f}")
    gd = train(MODEL, GD_D, GD_TAU_MAX, optimizer="gd", seed=0, n_log=40)   # m = ∞: fresh noise every step
    gd_theory = dyn(gd.tau)
    print(f"GD, d = {GD_D}: {gd.steps[-1]} steps of Δτ = {gd.dtau:.3g} in {gd.wall_time:.1f} s; "
          f"max |test − theory| = {np.abs(gd.test - gd_theory.test).max():.4f}")
    print(f"theory: τ_gen = {ts.tau_gen:.4g}, τ_mem = {ts.tau_mem:.4g}")

    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(11, 4.3), constrained_layout=True)
    ax.plot(taus, theory.train, color="C0", label="train (theory)")
    ax.plot(taus, theory.test, color="C3", label="test (theory)")
    for d, marker in ((DIMS[0], "o"), (DIMS[-1], "s")):
        c = sims[d]
        ax.plot(c.tau, c.train, marker, ms=4, mfc="none", color="C0", alpha=0.8)
        ax.plot(c.tau, c.test, marker, ms=4, mfc="none", color="C3", alpha=0.8,
                label=f"true features, closed form, {c.size.describe(MODEL)}")
    ax.plot(gd.tau, gd.train, "x", ms=4, color="C0")
    ax.plot(gd.tau, gd.test, "x", ms=4, color="C3", label=f"GD with fresh noise, {gd.size.describe(MODEL)}")
    for tau, style, name in ((ts.tau_gen, "--", r"$\tau_{gen}$"), (ts.tau_mem, ":", r"$\tau_{mem}$")):
        ax.axvline(tau, color="k", ls=style, lw=0.9)
        ax.annotate(name, (tau, 0.98), xycoords=("data", "axes fraction"), ha="right", va="top", rotation=90)
    ax.set_xscale("log")
    ax.set_xlabel(r"training time $\tau$")
    ax.set_ylabel("loss")
    ax.set_title(rf"$\psi_p={MODEL.psi_p:g}$, $\psi_n={MODEL.psi_n:g}$, $t={MODEL.t:g}$, tanh, $\Sigma = I$: "
                 "theory (lines) vs simulation", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, 0.86))

    for i, d in enumerate(DIMS):        # viridis beyond 0.85 is too pale to read; every point is drawn (no clipping)
        ax_err.plot(sim_taus, errors[d], "o-", ms=3, color=plt.cm.viridis(0.85 * i / (len(DIMS) - 1)),
                    label=f"d = {d}")
    ax_err.set_xscale("log")
    ax_err.set_yscale("log")
    ax_err.set_xlabel(r"training time $\tau$")
    ax_err.set_ylabel(r"$|L_{test}^{sim} - L_{test}^{theory}|$")
    ax_err.set_title(f"finite-size error of the test loss (true features, mean of {len(SEEDS)} seeds)",
                     fontsize=10)
    ax_err.legend(fontsize=8)
    savefig(ax, out)                   # readable log ticks on both panels (rfdiff.plotting.tidy_figure)
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_suffix(".png"))
