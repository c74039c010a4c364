"""Benchmark: BLAS threads of a GD simulation, rfdiff's own choice against OPENBLAS_NUM_THREADS=1.

Runs ``rfdiff simulate --psi-p 8 --psi-n 2 --t 0.1 --d 40 --method gd`` (the README's GD example: p = 320,
n = 80) as a subprocess, alternately with the environment's thread variables removed (rfdiff chooses:
rfdiff._threads) and with ``OPENBLAS_NUM_THREADS=1``, optionally next to N busy processes that this script
starts and kills itself. Prints the wall times, their ratio (target: ≤ 1.1 with one busy process, where
threaded OpenBLAS took 2.1×), the load average and the thread settings.

Run:  python benchmarks/bench_threads.py [--busy N] [--repeat R] [--tau-max T]

Times are the whole command (imports and theory included), median and best of ``--repeat`` runs of each
setting. This is a script, not a test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rfdiff._threads import THREAD_VARIABLES  # noqa: E402

COMMAND = ["simulate", "--psi-p", "8", "--psi-n", "2", "--t", "0.1", "--d", "40", "--method", "gd"]
SETTINGS = {"rfdiff's choice": {}, "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"}}
SHOW_THREADS = ("import numpy, scipy.linalg, threadpoolctl; "
                "print(sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'}))")


def environment(extra):
    """This environment without the thread variables (and with this checkout first on the path), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {**env, **extra}


def run_once(args, extra):
    """Wall seconds of one ``rfdiff simulate`` run."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rfdiff", *COMMAND, *args], env=environment(extra), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=0, help="busy background processes to start (default 0)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each setting (default 3)")
    ap.add_argument("--tau-max", type=float, default=None, help="passed to rfdiff simulate (default: its own)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait after starting the busy processes")
    args = ap.parse_args()
    extra = [] if args.tau_max is None else ["--tau-max", repr(args.tau_max)]

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        if busy:
            time.sleep(args.settle)
        print(f"cores: {os.cpu_count()}, busy processes: {args.busy}, load average: {os.getloadavg()[0]:.1f}")
        print("command: rfdiff " + " ".join(COMMAND + extra))
        for name, env in SETTINGS.items():
            threads = subprocess.run([sys.executable, "-c", SHOW_THREADS], env=environment(env), check=True,
                                     capture_output=True, text=True).stdout.strip()
            print(f"  {name}: BLAS threads at start {threads}, NUMBA_NUM_THREADS "
                  f"{os.environ.get('NUMBA_NUM_THREADS', 'unset (cores)')}")
        run_once(extra, {})                                   # warm: numba cache, page cache
        times = {name: [] for name in SETTINGS}
        for _ in range(args.repeat):                          # alternate, so a load change hits both
            for name, env in SETTINGS.items():
                times[name].append(run_once(extra, env))
        print(f"{'setting':<26} {'median s':>9} {'best s':>8}")
        for name, ts in times.items():
            print(f"{name:<26} {statistics.median(ts):9.2f} {min(ts):8.2f}")
        default, single = (statistics.median(times[name]) for name in SETTINGS)
        print(f"ratio (median): {default / single:.2f}; load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
