"""Memorization and generalization times against the number of training points, at fixed model size.

What it shows
-------------
The random-features counterpart of the seed paper's τ_mem ∝ n figure. For the tanh score model at
ψ_p = 16, t = 0.01 (p = 16 d fixed) and ψ_n from 0.5 to 8:

* lines: the exact τ_gen (minimum of the test loss) and τ_mem (first τ ≥ τ_gen where the test loss has
  risen by 10% of its late rise) of :func:`rfdiff.timescales`;
* markers: the same definitions applied to the closed-form test loss of true non-linear random-feature
  simulations at d = 64 (p = 1024, n = 32 … 512; :func:`rfdiff.simulate.random_features`, exact noise
  averages), mean and spread (error bars, mostly smaller than the markers) of 3 seeds;
* a dotted guide of slope 1 (τ ∝ n).

τ_gen does not depend on n (up to a slow drift) while τ_mem grows roughly like n over this range — the
generalization window widens with the data — and bends as ψ_n approaches ψ_p, where the simple linear
law of docs/theory.md §7 no longer holds. The simulations follow the exact lines.

Run time: 12 s on a 2-core machine with other jobs (load ≈ 2.3), with rfdiff's own choice of BLAS threads
(one thread for the simulations' p = 1024 eigendecompositions and for the theory's contour products) as
with ``OPENBLAS_NUM_THREADS=1``. Writes ``tau_mem_vs_n.png`` next to this script (or to the path
given as the first argument).

Usage: ``python examples/tau_mem_vs_n.py [out.png]``
"""
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, NullFormatter  # noqa: E402

import rfdiff as rd  # noqa: E402
from rfdiff.settings import tau_window  # noqa: E402
from rfdiff.timing import timescales_from_curve  # noqa: E402
from rfdiff.simulate import random_features  # noqa: E402

PSI_P, T, D = 16, 0.01, 64
PSI_N_THEORY = np.geomspace(0.5, 8, 25)
PSI_N_SIM = (0.5, 1, 2, 4, 8)
SEEDS = (0, 1, 2)


def measured(model, seed):
    """(τ_gen, τ_mem) of one finite sample, scanned over the sample's own relaxation times."""
    sim = random_features(model, D, seed=seed)
    lam = sim.eigenvalues()
    live = lam[lam > 1e-12 * lam.max()]
    found = timescales_from_curve(sim.loss_curves, *tau_window(sim.kappa, live.min(), live.max()))
    return found.tau_gen, found.tau_mem


def main(out):
    start = time.perf_counter()
    models = [rd.RFModel(psi_p=PSI_P, psi_n=v, t=T) for v in PSI_N_THEORY]
    theory = np.array([[ts.tau_gen, ts.tau_mem] for ts in map(rd.timescales, models)])
    sims = []
    print(f"{'psi_n':>6s} {'tau_gen theory':>15s} {'sim':>9s} {'tau_mem theory':>15s} {'sim':>9s} {'ratio':>6s}")
    for psi_n in PSI_N_SIM:
        model = rd.RFModel(psi_p=PSI_P, psi_n=psi_n, t=T)
        ts = rd.timescales(model)
        values = np.array([measured(model, s) for s in SEEDS])
        sims.append(values)
        mean = values.mean(axis=0)
        print(f"{psi_n:6g} {ts.tau_gen:15.4g} {mean[0]:9.4g} {ts.tau_mem:15.4g} {mean[1]:9.4g} "
              f"{mean[1] / ts.tau_mem:6.3f}")
    sims = np.array(sims)                                          # (ψ_n, seed, [gen, mem])

    fig, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    x = np.array(PSI_N_SIM)
    for k, (color, name) in enumerate((("C0", r"$\tau_{gen}$"), ("C3", r"$\tau_{mem}$"))):
        ax.plot(PSI_N_THEORY, theory[:, k], color=color, label=f"{name} (theory)")
        mean = sims[:, :, k].mean(axis=1)
        spread = np.abs(sims[:, :, k].T - mean)
        ax.errorbar(x, mean, yerr=spread.max(axis=0), fmt="o", ms=5, mfc="none", color=color, capsize=3,
                    label=f"{name} (true features, d = {D}, {len(SEEDS)} seeds)")
    guide = theory[0, 1] * PSI_N_THEORY / PSI_N_THEORY[0]
    ax.plot(PSI_N_THEORY, guide, ":", color="0.4", label=r"$\propto n$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(PSI_N_SIM)
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\psi_n = n/d$  (fixed $p = \psi_p d$)")
    ax.set_ylabel(r"training time $\tau$")
    ax.set_title(rf"$\psi_p = {PSI_P}$, $t = {T:g}$, tanh: generalization window vs data size", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=150)
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_suffix(".png"))
