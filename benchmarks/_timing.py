"""Timing helper shared by the benchmark scripts (run them from the repository root or this folder)."""
import time


def best(fn, repeat, warm=True):
    """Best wall and best CPU seconds (all threads) of ``repeat`` calls of ``fn``, after one warm-up call
    when ``warm``."""
    if warm:
        fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)
