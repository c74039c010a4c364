"""How many BLAS threads the hot loops use (the simulators' training steps, flows and builds, the sampler, and the
theory's contour products in :mod:`rfdiff.dynamics` and :mod:`rfdiff.twopoint`).

Threaded OpenBLAS splits every product between one thread per core. For small products the threads cost more
than they save, and when another process keeps a core busy every product waits for its descheduled half: on
the 2-core machine of the README's Performance section, next to other jobs (load ≈ 4), a (320×40)·(40×80)
product took 8.4 ms on two threads and 0.05 ms on one (medians). So each hot loop runs inside :func:`blas_threads`, which
sets one BLAS thread when the loop's products are below :data:`PARALLEL_WORK` multiply-adds and leaves the
library's setting otherwise.

A choice made by the user is kept: :func:`blas_threads` only ever lowers the thread count (inside
``threadpoolctl.threadpool_limits(1)`` nothing changes), and does nothing at all when one of
:data:`THREAD_VARIABLES` is set — ``OPENBLAS_NUM_THREADS=2`` keeps two threads everywhere.

The numba kernels (:mod:`rfdiff.simulate.kernels`) run their own ``NUMBA_NUM_THREADS`` Python threads, never
while a BLAS product runs: both are called one after the other from the same Python thread (and a kernel run
right after a two-thread GEMM took the same time as one run after a pause: OpenBLAS's idle thread does not
compete with it).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

__all__ = ["PARALLEL_WORK", "THREAD_VARIABLES", "blas_threads", "user_threads"]

#: Environment variables by which a user (or :mod:`rfdiff.sweep`'s workers) sets the BLAS thread count.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS")
#: Multiply-adds of one product from which BLAS keeps its own thread count: below it, one thread.
PARALLEL_WORK = 1e9


def user_threads() -> bool:
    """Whether the user set the BLAS thread count in the environment (any of :data:`THREAD_VARIABLES`)."""
    return any(os.environ.get(name) for name in THREAD_VARIABLES)


@contextmanager
def blas_threads(work: float):
    """Context manager: one BLAS thread inside the block when its products are small.

    Parameters
    ----------
    work : float
        Multiply-adds of the block's largest products (``m k n`` for an (m×k)·(k×n) GEMM; ``32 p²`` for the
        eigendecomposition of a p×p matrix, whose largest products are LAPACK's panel updates).

    Notes
    -----
    When ``work`` < :data:`PARALLEL_WORK` and no :data:`THREAD_VARIABLES` is set, every BLAS library loaded
    (when rfdiff first asked: ``threadpoolctl``) runs one thread inside the block, and the previous counts are
    restored on exit; otherwise nothing changes.
    """
    if work >= PARALLEL_WORK or user_threads():
        yield
        return
    libs = _blas_libraries()
    counts = [lib.num_threads for lib in libs]
    for lib, count in zip(libs, counts):
        if count > 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, count in zip(libs, counts):
            if count > 1:
                lib.set_num_threads(count)


_libraries = None


def _blas_libraries():
    """The BLAS libraries' thread controls (threadpoolctl's ``lib_controllers``), found once, on first use, after
    importing numpy and scipy.linalg so that both their OpenBLAS libraries are loaded and seen (``import rfdiff``
    is lazy and may not have loaded scipy yet). Setting and restoring their counts directly costs ~3 µs,
    ``ThreadpoolController.limit`` ~30 µs (the theory enters a block per product)."""
    global _libraries
    if _libraries is None:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController
        _libraries = tuple(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _libraries
