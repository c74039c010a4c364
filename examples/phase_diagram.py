"""A (ψ_p, ψ_n) phase diagram with its no-memorization boundary, and the (ψ_n, τ) map at one width.

Run: ``python examples/phase_diagram.py [OUTDIR]`` (about 15 s on 2 cores). Finished points are kept
in ``OUTDIR/store``: run it again (or interrupt and rerun) and nothing is recomputed.
"""
import os
import sys

import numpy as np

from rfdiff.phase import phase_diagram
from rfdiff.plotting import savefig
from rfdiff.plotting.phase import plot_phase_diagram, plot_tau_map


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "phase_example"
    os.makedirs(out, exist_ok=True)
    pd = phase_diagram(psi_p=[8, 16, 32, 64], psi_n=np.geomspace(1, 1024, 11), t=0.01,
                       store=os.path.join(out, "store"))
    print(f"points computed {pd.stats['computed']}, reused {pd.stats['reused']}, failed {pd.stats['failed']}")
    for psi_p, star in zip(pd.coords["psi_p"], pd.boundary):
        print(f"psi_p = {psi_p:4g}: memorization at infinite time disappears beyond psi_n* = {star:.4g} "
              f"({star / psi_p:.3g} psi_p)")
    savefig(plot_phase_diagram(pd)[0], os.path.join(out, "phase_diagram.png"))
    savefig(plot_tau_map(pd.select(psi_p=32)), os.path.join(out, "tau_map.png"))


if __name__ == "__main__":  # needed: the default executor spawns worker processes
    main()
