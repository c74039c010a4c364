"""The README's speed table, measured on this machine: ``python -m benchmarks`` from the repository root.

Each row times one workload that users run (warm: kernels compiled and constants cached by an untimed
first run; best of ``--repeat`` runs unless the row says otherwise) and prints it next to its target
(issue 18), with the quadrature error of the theory rows and, first, what the figures depend on: the
machine, its load average (at the start and the end) and the thread settings.

Usage::

    python -m benchmarks                # every row, about 3–4 minutes on 2 idle cores
    python -m benchmarks --quick        # without the three long rows (GD threads, phase diagram, reproduce)
    python -m benchmarks --only curves,mixture3

Rows: ``point`` (one spectral point), ``curves`` (m = ∞ curves, 200 τ), ``finite_m`` (m = 2 / m = ∞ on one
model), ``mixture3``, ``mixture10``, ``features`` (exact true-feature build / one GEMM), ``threads`` (GD
simulation, rfdiff's BLAS threads / ``OPENBLAS_NUM_THREADS=1``, next to one busy process), ``phase`` (40 × 40
diagram with the boundary, 2 local workers) and ``reproduce`` (``rfdiff reproduce --quick``).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]     # this checkout's rfdiff, and the sibling scripts

import numpy as np  # noqa: E402

import rfdiff as rd  # noqa: E402
from _timing import best  # noqa: E402


def _mixture(k, psi_p, psi_n, t, m=float("inf")):
    """k equally weighted isotropic classes of variances log-spaced from 0.5 to 2."""
    scales = np.geomspace(0.5, 2.0, k)
    return rd.RFModel(psi_p, psi_n, t, m=m, data=rd.GaussianMixture([1.0 / k] * k, [rd.Isotropic(s) for s in scales]))


def _taus(model):
    return np.append(np.geomspace(*rd.LearningDynamics(model).tau_window(), 199), np.inf)


def _curves(model, repeat):
    """Best wall and CPU seconds of ``loss_curves`` at 200 τ, and the largest quadrature error (classes too)."""
    taus = _taus(model)
    wall, cpu = best(lambda: rd.loss_curves(model, taus), repeat)
    c = rd.loss_curves(model, taus)
    err = max([float(np.max(c.quad_error))] + [float(np.max(k.quad_error)) for k in (c.classes or ())])
    return wall, cpu, err


def row_point(repeat):
    model = rd.RFModel(64, 8, 0.01)
    sup = rd.support(model)
    lam = np.geomspace(0.5 * sup.intervals[0][0], 1.2 * sup.lambda_max, 10_000)
    wall, cpu = best(lambda: rd.spectrum(model, lam), repeat)
    return (f"{1e6 * wall / lam.size:.2f} µs wall, {1e6 * cpu / lam.size:.2f} µs CPU "
            f"({rd.spectrum(model, lam).total_iterations / lam.size:.1f} iterations)", "≤ 2 µs", "verified to 1e-9")


def row_curves(repeat):
    wall, cpu, err = _curves(rd.RFModel(64, 8, 0.01), repeat)
    return f"{1e3 * wall:.0f} ms ({1e3 * cpu:.0f} ms CPU)", "≤ 20 ms", f"{err:.0e}"


def row_finite_m(repeat):
    wall_m, _, err_m = _curves(rd.RFModel(4, 2.5, 0.1, m=2), repeat)
    wall_inf, _, err_inf = _curves(rd.RFModel(4, 2.5, 0.1), repeat)
    return (f"{wall_m / wall_inf:.1f}× ({1e3 * wall_m:.0f} / {1e3 * wall_inf:.0f} ms)", "≤ 2×",
            f"{max(err_m, err_inf):.0e}")


def row_mixture3(repeat):
    wall, cpu, err = _curves(_mixture(3, 4, 2.5, 0.1, m=2), repeat)
    return f"{wall:.3f} s ({cpu:.3f} s CPU)", "≤ 0.25 s", f"{err:.0e}"


def row_mixture10(repeat):
    wall, cpu, err = _curves(_mixture(10, 64, 8, 0.01), repeat)
    return f"{wall:.3f} s ({cpu:.3f} s CPU)", "≤ 1 s", f"{err:.0e}"


def row_features(repeat):
    from rfdiff.simulate.features import random_features
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2000, 1000))
    B = np.ascontiguousarray(A.T)
    gemm_wall, gemm_cpu = best(lambda: A @ B, max(repeat, 3))
    model = rd.RFModel(psi_p=8, psi_n=4, t=0.1)
    wall, cpu = best(lambda: random_features(model, 250, seed=0), repeat)
    rf = random_features(model, 250, seed=0)
    return (f"{wall / gemm_wall:.1f}× wall, {cpu / gemm_cpu:.1f}× CPU ({wall:.2f} s; GEMM {gemm_wall:.3f} s)",
            "≤ 5× GEMM", f"{rf.truncation_bound:.0e} (Mehler)")


def row_threads(repeat):
    import bench_threads
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(2.0)
        runs = {name: [] for name in bench_threads.SETTINGS}
        for _ in range(max(repeat, 3)):
            for name, extra in bench_threads.SETTINGS.items():
                runs[name].append(bench_threads.run_once([], extra))
    finally:
        busy.kill()
    (own_name, own), (one_name, one) = runs.items()
    med = {k: float(np.median(v)) for k, v in runs.items()}
    return (f"{med[own_name] / med[one_name]:.2f}× ({med[own_name]:.2f} / {med[one_name]:.2f} s, medians)",
            "≤ 1.1×", "—")


def row_phase(repeat):
    from rfdiff.phase import phase_diagram
    kw = dict(psi_p=np.geomspace(4, 256, 40), psi_n=np.geomspace(1, 1024, 40), t=0.01, boundary=True,
              progress=False, executor="local", workers=2)
    start = time.perf_counter()
    pd = phase_diagram(**kw)
    wall = time.perf_counter() - start
    return f"{wall:.1f} s (one run; failed points {pd.stats['failed']})", "≤ 20 s", "1e-10 (per point)"


def row_reproduce(repeat):
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rfdiff", "reproduce", "--quick", "--out", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent,
                       env={**os.environ, "PYTHONPATH": str(HERE.parent), "MPLBACKEND": "Agg"})
        wall = time.perf_counter() - start
    return f"{wall:.0f} s (one run, whole command)", "≤ 45 s idle", "—"


ROWS = {
    "point": ("spectral point (one z), 10⁴-point grid, ψ_p=64 ψ_n=8 t=0.01", row_point),
    "curves": ("m = ∞ curves, 200 τ, ψ_p=64 ψ_n=8 t=0.01", row_curves),
    "finite_m": ("m = 2 / m = ∞ curves, same model (ψ_p=4 ψ_n=2.5 t=0.1), 200 τ", row_finite_m),
    "mixture3": ("3-class mixture, m = 2 (ψ_p=4 ψ_n=2.5 t=0.1), 200 τ, with class curves", row_mixture3),
    "mixture10": ("10-class mixture (ψ_p=64 ψ_n=8 t=0.01), 200 τ, with class curves", row_mixture10),
    "features": ("exact true-feature build p=2000 n=1000 d=250 / one GEMM", row_features),
    "threads": ("GD simulation, rfdiff's threads / OPENBLAS_NUM_THREADS=1, 1 busy process", row_threads),
    "phase": ("40×40 phase diagram (τ_gen, τ_mem, boundary), 2 local workers", row_phase),
    "reproduce": ("rfdiff reproduce --quick", row_reproduce),
}
LONG = ("threads", "phase", "reproduce")


def settings() -> str:
    """The machine, the load and the thread settings the figures depend on."""
    from threadpoolctl import threadpool_info
    import numba
    blas = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"})
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                      "NUMBA_NUM_THREADS") if k in os.environ}
    return (f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}, rfdiff {rd.__version__}\n"
            f"threads: BLAS {blas}, numba {numba.config.NUMBA_NUM_THREADS}, environment {env or 'unset'}\n"
            f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)")


def main():
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per row, the best is kept (default 5)")
    ap.add_argument("--quick", action="store_true", help=f"skip the long rows ({', '.join(LONG)})")
    ap.add_argument("--only", default=None, help=f"comma-separated rows of: {', '.join(ROWS)}")
    args = ap.parse_args()
    names = list(ROWS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    if args.quick:
        names = [n for n in names if n not in LONG]
    print(settings(), flush=True)
    rd.loss_curves(rd.RFModel(4, 2, 0.1), [1.0])          # warm the kernels and caches once
    print("\n| work | rfdiff | target | quadrature error |\n|---|---|---|---|", flush=True)
    for name in names:
        label, fn = ROWS[name]
        value, target, err = fn(args.repeat)
        print(f"| {label} | {value} | {target} | {err} |", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
