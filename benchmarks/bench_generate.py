"""Wall time of a score family and its samples: d = 32, p = 512, n = 64, 48 diffusion times, 2000 samples, two τ.

Target (docs/theory.md §13, README "Generating samples"): family and samples in ≤ 20 s on the 2-core machine.
The family's 48 members (true tanh features, training noise averaged exactly, closed-form flow) are independent
tasks of :func:`rfdiff.sweep.sweep`; each local worker runs with one BLAS thread. The samples are 2000 reverse-SDE
paths per τ (two GEMMs per step). Peak memory (resident set size of this process and, for local workers, of
the largest child) is reported with the arrays it holds.

Usage::

    python benchmarks/bench_generate.py [--executor local|serial] [--workers 2] [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--psi-p", type=float, default=16.0)
    parser.add_argument("--psi-n", type=float, default=2.0)
    parser.add_argument("--times", type=int, default=48)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--executor", default="local", choices=("local", "serial"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import rfdiff as rd

    model = rd.RFModel(psi_p=args.psi_p, psi_n=args.psi_n, t=0.1)
    taus = [1e4, np.inf]
    rows = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fam = rd.score_family(model, args.d, taus, times=rd.default_times(args.times), seed=0,
                              execution=rd.Execution(executor=args.executor, workers=args.workers, progress=False))
        t1 = time.perf_counter()
        samples = [rd.sample(fam.at(tau), args.samples, seed=1) for tau in taus]
        t2 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1))
    family_s, sample_s = min(r[0] for r in rows), min(r[1] for r in rows)
    f = [rd.memorization_fraction(s, fam.train_points).value for s in samples]
    arrays = fam.readouts.nbytes + fam.features.nbytes + sum(s.x.nbytes for s in samples)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"d = {fam.d}, p = {fam.p}, n = {fam.n}, {fam.times.size} times, {args.samples} samples × {len(taus)} τ, "
          f"executor {args.executor} ({args.workers} workers), load average {os.getloadavg()[0]:.2f}")
    print(f"family {family_s:.2f} s, samples {sample_s:.2f} s, total {family_s + sample_s:.2f} s (target ≤ 20 s); "
          f"status {fam.status}")
    print(f"memory: read-outs and samples {arrays / 2**20:.1f} MiB; peak RSS {rss:.0f} MiB (this process), "
          f"{child:.0f} MiB (largest child)")
    print(f"f_mem at τ = {taus}: {f}")


if __name__ == "__main__":
    main()
