"""Speed of a (ψ_p, ψ_n) phase diagram of full curves, locally and on a dask LocalCluster.

Usage: ``python benchmarks/bench_phase.py [--grid 40] [--runs serial,local2,dask1,dask2] [--boundary]``

Target (DESIGN.md): a 40 × 40 diagram (ψ_p ∈ [4, 256], ψ_n ∈ [1, 1024], t = 0.01, tanh; at every point one
:class:`rfdiff.LearningDynamics` solve and :func:`rfdiff.timescales`) in ≤ 2 minutes locally on 2 cores.
Runs: ``serial`` (this process), ``localN`` (N spawned single-threaded processes), ``daskN`` (a LocalCluster of N
single-threaded worker processes, started and warmed before the clock starts). Every run's arrays are
compared with the first run's: they must be identical. Wall times include starting the local processes
(each imports rfdiff and loads the cached numba kernels) but not the dask cluster start-up.
"""
import argparse
import time

import numpy as np

from rfdiff.phase import phase_diagram
from rfdiff.sweep import SINGLE_THREAD_ENV

FIELDS = ("tau_gen", "tau_mem", "test_min", "gap_inf", "train_inf", "test_inf")


def _run(name, kw):
    if name == "serial":
        start = time.perf_counter()
        return phase_diagram(executor="serial", **kw), time.perf_counter() - start
    if name.startswith("local"):
        start = time.perf_counter()
        return phase_diagram(executor="local", workers=int(name[5:]), **kw), time.perf_counter() - start
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=int(name[4:]), threads_per_worker=1, dashboard_address=None,
                      env=SINGLE_THREAD_ENV) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("rfdiff.phase"))
        start = time.perf_counter()
        return phase_diagram(executor=client, **kw), time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=40)
    ap.add_argument("--runs", default="local2,dask1,dask2")
    ap.add_argument("--boundary", action="store_true", help="also root-find the boundary ψ_n*(ψ_p)")
    args = ap.parse_args()
    kw = dict(psi_p=np.geomspace(4, 256, args.grid), psi_n=np.geomspace(1, 1024, args.grid), t=0.01,
              boundary=args.boundary, progress=False)
    phase_diagram(psi_p=4, psi_n=[2, 4], t=0.01, executor="serial", boundary=False, progress=False)  # warm
    reference = None
    print(f"{args.grid}x{args.grid} phase diagram (points: {args.grid ** 2})")
    for name in args.runs.split(","):
        pd, wall = _run(name, kw)
        same = "reference" if reference is None else all(
            np.array_equal(getattr(pd, f), getattr(reference, f), equal_nan=True) for f in FIELDS)
        reference = reference or pd
        print(f"{name:>8s}: {wall:8.1f} s  ({1e3 * wall / args.grid ** 2:6.1f} ms/point)  failed "
              f"{pd.stats['failed']}  identical to first run: {same}", flush=True)


if __name__ == "__main__":
    main()
