"""Session set-up shared by every test file.

* the suite runs on both cores (pytest-xdist, ``-n 2`` in pyproject.toml); numba kernels are compiled
  into numba's cache once, by the controller, before the workers start, and every worker loads them before
  its first test, so no single test's duration carries the compile time;
* finite-size samples that several tests compare with different references are built once
  (:func:`true_features`);
* :func:`saved_figures` keeps the Axes of every figure the CLI saves, so tests check what was drawn;
* ``--reverse-order`` runs the collected tests backwards, to check that no result depends on what ran
  before (the solver caches per model);
* OpenBLAS runs one thread per test process (unless ``OPENBLAS_NUM_THREADS`` is set). On the shared
  2-core machine a multi-threaded eigh of a p = 1600 sample spins at its barriers while the other
  core is taken: 3 Stieltjes comparisons took 74 s with the default threads and 12 s with one
  thread at load 7 (on an idle machine two threads are somewhat faster for the largest
  eigendecompositions). This must run before numpy is imported: pytest loads this file first.
"""
import os
import pathlib
import sys

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if "PYTEST_XDIST_WORKER" in os.environ and "numba" not in sys.modules:
    # the suite runs in one process per core (pytest-xdist): numba's parallel kernels get one thread each,
    # so the workers do not oversubscribe the cores
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--reverse-order", action="store_true",
                     help="run the collected tests in reverse order (checks that no test depends on what ran before)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse-order"):
        items.reverse()


def _warm_kernels():
    """Compile (or load from numba's cache) every kernel: one spectral point, its support and its curves, every
    simulator kernel signature, and one tiny true-feature simulation with its loss curve."""
    import rfdiff as rd
    from rfdiff.simulate import kernels, random_features

    model = rd.RFModel(psi_p=2, psi_n=1, t=0.1)
    assert rd.stieltjes(model, np.array([1.0 + 1.0j])).n_failed == 0
    rd.support(model)
    rd.loss_curves(model, [1.0])                     # the two-point kernel
    kernels.warm()
    random_features(model, 8, seed=0).loss_curves([0.0, 1.0, np.inf])


def pytest_configure(config):
    """With pytest-xdist, the controller compiles the kernels into numba's cache once, before the workers
    start: each worker then loads them instead of compiling them again, side by side."""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        _warm_kernels()


@pytest.fixture(scope="session", autouse=True)
def warm_numba():
    """Every kernel compiled or loaded once per session (per worker process), before the first test."""
    _warm_kernels()


@pytest.fixture(scope="session")
def true_features():
    """``true_features(model, d, seed)``: ``random_features(model, d, seed=seed)``, built once per session.

    tests/test_simulation_vs_theory.py (curves vs theory) and tests/test_random_features.py (spectra vs the
    Gaussian equivalent) compare the same samples with different references. The samples are read-only
    for the tests (their eigendecompositions are cached on them).
    """
    from rfdiff.simulate import random_features

    cache = {}

    def get(model, d, seed):
        key = (model, int(d), int(seed))
        if key not in cache:
            cache[key] = random_features(model, d, seed=seed)
        return cache[key]

    yield get
    cache.clear()


@pytest.fixture
def saved_figures(monkeypatch):
    """``{file name: Axes}`` of every figure saved through ``rfdiff.plotting.savefig`` during the test.

    ``savefig`` is the one writer of the CLI and of ``rfdiff.reproduce``; it still writes the file. The
    Axes stay readable after the figure is closed.
    """
    import rfdiff.plotting as plotting

    saved = {}
    real = plotting.savefig

    def record(ax, path):
        saved[pathlib.Path(path).name] = ax
        real(ax, path)

    monkeypatch.setattr(plotting, "savefig", record)
    return saved
