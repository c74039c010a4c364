# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # rfdiff tutorial: from one model to a phase diagram
#
# This walk-through takes one random-features score model, looks at the spectrum of its feature
# covariance, computes its exact train and test curves along gradient flow, reads off when it starts
# to generalize and when it starts to memorize, puts a finite-size simulation on top of the theory, and
# ends with a small phase diagram. The mathematics is in `docs/theory.md` (section numbers below refer
# to it).
#
# Run it as a script (`python docs/tutorial.py`, about 10–20 s on one core) or open it as a notebook
# with jupytext. Figures go to the directory named by the environment variable `RFDIFF_TUTORIAL_OUT`
# (a fresh temporary directory by default); every number the text talks about is printed.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import numpy as np  # noqa: E402

import rfdiff as rd  # noqa: E402
from rfdiff.plotting import savefig  # noqa: E402
from rfdiff.plotting.curves import plot_curves  # noqa: E402
from rfdiff.plotting.phase import plot_phase_diagram  # noqa: E402
from rfdiff.plotting.spectrum import plot_spectrum  # noqa: E402

OUT = Path(os.environ.get("RFDIFF_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="rfdiff-tutorial-"))
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT}")

# %% [markdown]
# ## 1. The model
#
# The score network is `s_A(x) = A σ(W x/√d)/√p` with a frozen Gaussian first layer W and a trained
# read-out A, fitted by denoising score matching at diffusion time `t`. In the limit `d, p, n → ∞`
# only three numbers matter (plus the activation and the data covariance): the width ratio
# `ψ_p = p/d`, the sample ratio `ψ_n = n/d`, and `t`. We take a model four times wider than its
# data set: ψ_p = 16, ψ_n = 4, t = 0.01, tanh features, isotropic data.

# %%
model = rd.RFModel(psi_p=16, psi_n=4, t=0.01)
print(model)
print(f"noise level Δ_t = {model.delta_t:.6f}, relaxation rate per unit eigenvalue κ = {model.kappa:.6f}")

# %% [markdown]
# Invalid parameters are rejected at once, with the name of the culprit:

# %%
try:
    rd.RFModel(psi_p=-1, psi_n=4, t=0.01)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 2. The spectrum of the feature covariance (§2, §4)
#
# Gradient flow acts mode by mode on the eigenvectors of the feature covariance U: a mode of
# eigenvalue λ is learned on the timescale `τ_λ = ψ_p/(2Δ_t λ)`. So the first thing to look at is the
# spectrum of U. `rd.support` finds every bulk, its mass, and the atom at `s_t²`.

# %%
sup = rd.support(model)
for loc, mass in sup.atoms:
    print(f"atom  λ = {loc:.6g}   mass {mass:.6f}")
for (lo, hi), mass, mass_w in zip(sup.intervals, sup.masses, sup.masses_w):
    print(f"bulk  [{lo:.6g}, {hi:.6g}]   mass {mass:.6f}   μ_W mass {mass_w:.4f}   "
          f"timescales {model.psi_p / (2 * model.delta_t * hi):.4g} … {model.psi_p / (2 * model.delta_t * lo):.4g}")

# %% [markdown]
# The bulks span several decades. The top one (mass 1/ψ_p, but almost all the weight of μ_W, the part
# of the spectrum the noise correlation V sees) is learned first: that is generalization. The lower
# bulks are learned much later: that is memorization of the training points. `rd.spectrum` evaluates
# the density on a grid that `rd.spectral_grid` adapts to the bulks; `rfdiff.plotting.spectrum.plot_spectrum`
# draws it per decade of λ, with the atom (the figures of `rfdiff.plotting` are those of the command line).

# %%
spec = rd.spectrum(model, rd.spectral_grid(sup, points=1200))
savefig(plot_spectrum(spec), OUT / "spectrum.png")
print(f"largest residual of the fixed point on the grid: {spec.max_residual:.2e}")

# %% [markdown]
# ## 3. Exact learning curves (§3, §6)
#
# `rd.loss_curves(model, taus)` returns the train loss, the test loss and the score error at the
# training times `taus` (the seed paper's clock, `dA/dτ = −d² ∇L`; `np.inf` is the end of training).
# Both losses start at 1.

# %%
taus = np.geomspace(1.0, 1e7, 120)
curves = rd.loss_curves(model, taus)
end = rd.loss_curves(model, [0.0, np.inf])
print(f"L(0): train {end.train[0]:.6f}, test {end.test[0]:.6f}")
print(f"L(∞): train {end.train[1]:.6f}, test {end.test[1]:.6f}, gap {end.gap[1]:.6f}")
print(f"largest quadrature error estimate: {curves.quad_error.max():.1e}")

# %% [markdown]
# ## 4. When does it generalize, when does it memorize? (§7)
#
# `rd.timescales` reads two times off the exact test loss: `tau_gen`, where the test loss is lowest,
# and `tau_mem`, where it has climbed back by 10% of its late rise `L_test(∞) − L_min`. Between the two
# lies the window in which stopping the training gives a model that generalizes.

# %%
ts = rd.timescales(model)
print(f"tau_gen = {ts.tau_gen:.6g}")
print(f"tau_mem = {ts.tau_mem:.6g}")
print(f"window tau_mem/tau_gen = {ts.tau_mem / ts.tau_gen:.4g}")
print(f"L_test(tau_gen) = {ts.test_min:.6f}, L_test(inf) = {ts.test_inf:.6f}")
print(ts.definition)

# %% [markdown]
# ## 5. Theory next to a simulation (§2, §8)
#
# `rd.simulate.gaussian_equivalent(model, d, seed)` samples the finite-size Gaussian-equivalent
# matrices at dimension d (here d = 40, so p = 640 features and n = 160 training points) and computes
# the gradient flow of that finite model exactly. It never uses the theory code, so agreement is a
# real check; the differences are finite-size effects of order 1/d.

# %%
sim = rd.simulate.gaussian_equivalent(model, d=40, seed=0).loss_curves(taus)
for name in ("train", "test"):
    diff = np.abs(getattr(sim, name) - getattr(curves, name))
    print(f"{name}: largest |simulation − theory| = {diff.max():.4f}, "
          f"relative 2-norm {np.linalg.norm(diff) / np.linalg.norm(getattr(curves, name)):.4f}")

print(f"simulated sizes: {sim.size.describe(model)}")      # d, p, n of the sample (sim.size)
savefig(plot_curves(curves, ts, simulation=sim, simulation_note="seed 0"), OUT / "curves.png")

# %% [markdown]
# ## 6. A phase diagram (§7)
#
# `rd.phase_diagram` repeats this over a grid of (ψ_p, ψ_n). Each point gets `tau_gen`, `tau_mem` and a
# regime: it *memorizes* when training to the end loses more than 10% of what early stopping gained,
# `(L_test(∞) − L_min)/(1 − L_min) > 0.1`, and *generalizes* otherwise. The boundary ψ_n* between the two
# is root-found for every ψ_p. `executor="serial"` keeps everything in this process (the default
# spawns worker processes, which scripts must guard with `if __name__ == "__main__":`).

# %%
pd = rd.phase_diagram(psi_p=[4, 8, 16], psi_n=[2, 16, 128], t=0.01, executor="serial", progress=False)
print("tau_gen [psi_p][psi_n]:")
print(np.array2string(pd.tau_gen, precision=4))
print("tau_mem [psi_p][psi_n]:")
print(np.array2string(pd.tau_mem, precision=4))
print("regime:")
print(pd.regime)
for psi_p, star in zip(pd.coords["psi_p"], pd.boundary):
    print(f"psi_p = {psi_p:g}: no memorization beyond psi_n* = {star:.4g} ({star / psi_p:.3g} psi_p)")

savefig(plot_phase_diagram(pd)[0], OUT / "phase_diagram.png")     # log10 τ_mem/τ_gen and the overfitting left

# %% [markdown]
# ## Where to go next
#
# * `rd.LearningDynamics(model)` keeps the spectral solve and evaluates any number of times;
#   `.decompose(taus)` splits the loss changes by bulk (which part of the spectrum memorizes).
# * `rd.simulate.random_features` simulates the true non-linear features with exact noise averages,
#   and `rd.simulate.train` runs explicit gradient descent or Adam.
# * `docs/api.md` lists every public name; `docs/theory.md` has the equations and the checks.

# %%
print("figures:", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
