"""BLAS threads in the hot loops (rfdiff._threads): one thread for small products, a user's choice kept.

Each case runs in a fresh interpreter whose environment has none of the thread variables (the suite itself
sets ``OPENBLAS_NUM_THREADS=1``, which rfdiff would rightly leave alone) and records, with
``threadpoolctl.threadpool_info()``, the BLAS thread counts seen inside a GD step, the flow's eigendecomposition,
the true-feature build, the Gaussian-equivalent build and a sampler step, and after they return.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from rfdiff._threads import THREAD_VARIABLES

ROOT = pathlib.Path(__file__).parents[1]

PROBE = r"""
import json, sys
import numpy as np, scipy.linalg, threadpoolctl
import rfdiff as rd, rfdiff._threads
from rfdiff.simulate import _flow, features, gaussian, training
from rfdiff.generate import MixtureScore, sample
from rfdiff.generate.sampler import BLOCK

def blas():
    return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})

seen = {"start": blas()}
def record(name, fn):
    def wrapped(*args, **kwargs):
        seen.setdefault(name, blas())
        return fn(*args, **kwargs)
    return wrapped

if sys.argv[1] == "large":
    rfdiff._threads.PARALLEL_WORK = 0.0          # every product counts as large
if sys.argv[1] == "limited":
    threadpoolctl.threadpool_limits(1, user_api="blas")
    seen["start"] = blas()
training._gradient = record("gd step", training._gradient)
scipy.linalg.eigh = record("flow eigh", scipy.linalg.eigh)
features._mehler_sum = record("true features", features._mehler_sum)
gaussian.GaussianEquivalent._train_parts = record("gaussian equivalent", gaussian.GaussianEquivalent._train_parts)
MixtureScore.denoiser = record("sampler step", MixtureScore.denoiser)

model = rd.RFModel(psi_p=4, psi_n=2, t=0.1)
rd.simulate.train(model, 10, 1.0, n_log=3)
rd.simulate.gaussian_equivalent(model, 10).loss_curves([1.0])
score = rd.generate.exact_score(np.array([0.1, 0.5, 1.0]), np.ones((1, 4)))
sample(score, BLOCK)
seen["after"] = blas()
print(json.dumps(seen))
"""
HOT = ("gd step", "flow eigh", "true features", "gaussian equivalent", "sampler step")


def probe(case, **env):
    """Thread counts recorded by :data:`PROBE` in a fresh interpreter without the thread variables, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    clean["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE, case], env={**clean, **env}, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_small_products_run_one_blas_thread():
    seen = probe("default")
    if seen["start"] == [1]:
        pytest.skip("BLAS starts with one thread here (one core): nothing to lower")
    assert {name: seen[name] for name in HOT} == {name: [1] for name in HOT}
    assert seen["after"] == seen["start"]                      # restored on exit


def test_large_products_keep_the_library_threads():
    seen = probe("large")
    assert {name: seen[name] for name in HOT} == {name: seen["start"] for name in HOT}


def test_user_setting_is_kept():
    """``OPENBLAS_NUM_THREADS=2`` keeps two threads even for small products; inside ``threadpool_limits(1)``
    nothing is raised."""
    seen = probe("default", OPENBLAS_NUM_THREADS="2")
    assert seen["start"] == [2] and {name: seen[name] for name in HOT} == {name: [2] for name in HOT}
    seen = probe("limited")
    assert seen["start"] == [1] and {name: seen[name] for name in HOT} == {name: [1] for name in HOT}
    assert seen["after"] == [1]


FIRST_USE = r"""
import json
from rfdiff._threads import blas_threads        # nothing else imported yet: rfdiff's import is lazy
with blas_threads(1):
    import threadpoolctl
    inside = sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
after = sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
print(json.dumps([inside, after]))
"""


def test_first_limit_sees_numpy_and_scipy_blas():
    """blas_threads scans the BLAS libraries once: a first use before numpy or scipy is imported must still limit
    them both (it imports them before the scan)."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    clean["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", FIRST_USE], env=clean, capture_output=True, text=True, check=True,
                         cwd=ROOT)
    inside, after = json.loads(out.stdout.strip().splitlines()[-1])
    if after == [1]:
        pytest.skip("BLAS starts with one thread here (one core): nothing to lower")
    assert inside == [1] and after and after != [1]
