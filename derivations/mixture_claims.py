"""Which class of a two-class Gaussian mixture generalizes and memorizes first, exactly (docs/theory.md §12).

Nicoletti, Ma, Ventura, Saglietti & Sarao Mannelli (arXiv 2605.06367) state that the class variance decides
the order of learning (the higher-variance class generalizes and memorizes first), that centroids matter
less, and that sampling imbalance can reverse the order. This script computes the exact per-class τ_gen and
τ_mem (``rfdiff.class_timescales``: τ_gen = argmin of the class's test loss, τ_mem its 10% rise
crossing, docs/theory.md §7) for Σ_low = I/2, Σ_high = 2I, tanh, over the proportion π_low of the
low-variance class, and locates any reversal of the order by Brent's method on the log ratio.

Run: ``python derivations/mixture_claims.py`` (about a minute); writes ``mixture_claims.json`` beside it.
"""
import json
import math
import pathlib

import numpy as np
from scipy.optimize import brentq

import rfdiff as rd


SETTINGS = [(8.0, 2.0, 0.1), (16.0, 4.0, 0.01), (64.0, 8.0, 0.01)]
PI_LOW = np.round(np.concatenate([np.linspace(0.05, 0.5, 10), np.linspace(0.55, 0.95, 9)]), 3)


def class_times(psi_p, psi_n, t, pi_low, lo=0.5, hi=2.0):
    data = rd.GaussianMixture([pi_low, 1 - pi_low], [rd.Isotropic(lo), rd.Isotropic(hi)])
    low, high = rd.class_timescales(rd.RFModel(psi_p, psi_n, t, data=data))
    (g_lo, m_lo), (g_hi, m_hi) = (low.tau_gen, low.tau_mem), (high.tau_gen, high.tau_mem)
    return g_lo, m_lo, g_hi, m_hi


def reversal(setting, which, values):
    """π_low where the log ratio τ_low/τ_high of ``which`` (0: gen, 1: mem) changes sign, or None."""
    logs = [math.log(v[which] / v[which + 2]) for v in values]
    for i in range(len(logs) - 1):
        if logs[i] * logs[i + 1] < 0:
            def log_ratio(pi):
                v = class_times(*setting, pi)
                return math.log(v[which] / v[which + 2])
            return brentq(log_ratio, PI_LOW[i], PI_LOW[i + 1], xtol=1e-4)
    return None


def main():
    out = []
    for setting in SETTINGS:
        values = [class_times(*setting, pi) for pi in PI_LOW]
        row = {"psi_p": setting[0], "psi_n": setting[1], "t": setting[2], "pi_low": PI_LOW.tolist(),
               "tau_gen_low": [v[0] for v in values], "tau_mem_low": [v[1] for v in values],
               "tau_gen_high": [v[2] for v in values], "tau_mem_high": [v[3] for v in values],
               "gen_reversal_pi_low": reversal(setting, 0, values),
               "mem_reversal_pi_low": reversal(setting, 1, values)}
        out.append(row)
        g = np.array(row["tau_gen_low"]) / np.array(row["tau_gen_high"])
        m = np.array(row["tau_mem_low"]) / np.array(row["tau_mem_high"])
        print(f"psi_p={setting[0]:g} psi_n={setting[1]:g} t={setting[2]:g}: tau_gen low/high in "
              f"[{g.min():.3f}, {g.max():.3f}], tau_mem low/high in [{m.min():.4f}, {m.max():.4f}], "
              f"reversal of gen at pi_low={row['gen_reversal_pi_low']}, of mem at {row['mem_reversal_pi_low']}",
              flush=True)
    path = pathlib.Path(__file__).with_name("mixture_claims.json")
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
