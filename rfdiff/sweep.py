"""Sweep engine: map a function over many parameter points with a pluggable executor and a resumable store.

:func:`sweep` runs ``func(task)`` for every task and returns the results in task order. Executors:

* ``"local"`` (default) — a :mod:`multiprocessing` pool of spawned, single-threaded worker processes
  (:data:`SINGLE_THREAD_ENV`) on this machine;
* ``"serial"`` — a plain loop in this process;
* ``"dask"`` — a ``dask.distributed`` client: connected to ``scheduler`` if given (giving up after
  :data:`DASK_CONNECT_TIMEOUT` seconds with a ``ValueError`` naming the address), otherwise to a fresh
  :class:`distributed.LocalCluster`;
* an existing :class:`concurrent.futures.Executor` or ``distributed.Client`` (not shut down afterwards).

Every task is computed by the same deterministic function, so the results do not depend on the
executor. A failing task is recorded as ``{"error": "<type>: <message>"}`` instead of stopping the sweep.

With a :class:`PointStore`, each finished point is written as it arrives, atomically, to
``<dir>/<key>.json`` (``key`` a hash of the task's parameters, the file also carrying the provenance of
the run that computed it: rfdiff version, command line, ...); a later sweep over the same points reads
them back instead of recomputing, so an interrupted sweep resumes where it stopped. Failed points are not
stored: a rerun retries them.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import traceback
import warnings

from ._io import atomic_write, dumps, from_json
from ._io import provenance as _provenance

__all__ = ["DASK_CONNECT_TIMEOUT", "EXECUTORS", "SINGLE_THREAD_ENV", "PointStore", "point_key", "sweep"]

EXECUTORS = ("local", "serial", "dask")

#: Seconds to wait for a dask scheduler given by address before giving up (``distributed.Client(timeout=)``;
#: its own default is 30 s, and an unreachable address used to end in a traceback).
DASK_CONNECT_TIMEOUT = 10.0


def point_key(params) -> str:
    """Hex SHA-256 (first 24 digits) of the canonical JSON of ``params`` (a dict of plain values)."""
    text = dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class PointStore:
    """A directory of finished sweep points, one JSON file per point.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.

    provenance : dict, optional
        Written into every point file under ``"provenance"`` (default :func:`rfdiff._io.provenance`: rfdiff
        version, library versions, command line). Only ``"result"`` is read back.

    Notes
    -----
    A file holds ``{"params": ..., "result": ..., "provenance": ...}``, written by
    :func:`rfdiff._io.atomic_write` (complete or absent even if the process is killed mid-write) with the JSON
    rule of :func:`rfdiff._io.to_json` (NaN → null, ±∞ → ``"inf"``/``"-inf"``, read back as floats).
    """

    def __init__(self, directory, provenance=None):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.provenance = _provenance() if provenance is None else dict(provenance)

    def path(self, key) -> str:
        return os.path.join(self.directory, f"{key}.json")

    def get(self, key):
        """The stored result of ``key``, or ``None``."""
        try:
            with open(self.path(key), encoding="utf-8") as fh:
                return from_json(json.load(fh)["result"])
        except FileNotFoundError:
            return None

    def put(self, key, params, result) -> None:
        """Write one point atomically."""
        text = dumps({"params": params, "result": result, "provenance": self.provenance})
        atomic_write(self.path(key), lambda fh: fh.write(text))

    def __len__(self):
        return sum(1 for name in os.listdir(self.directory) if name.endswith(".json"))


def _guarded(func, task):
    """``func(task)``, or ``{"error": ...}`` if it raises (runs on the worker).

    ``RuntimeWarning``s raised while computing (e.g. a contour rule that did not converge) are kept in the
    result as ``"warnings"`` (a list of messages), so that they reach the caller instead of a worker's
    stderr; :func:`sweep` counts such points as ``not_converged``.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = func(task)
    except Exception as exc:  # noqa: BLE001 - a failing point is data, not a crash
        return {"error": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc))[-2000:]}
    messages = [" ".join(str(w.message).split()) for w in caught if issubclass(w.category, RuntimeWarning)]
    if messages and isinstance(result, dict):
        result = {**result, "warnings": messages}
    return result


def _unconverged(result) -> bool:
    """The result carries a warning saying something did not converge (e.g. a contour rule)."""
    return any("converge" in w.lower() for w in result.get("warnings", ()))


#: Environment of local worker processes: one thread each. Several processes each running a pool of
#: spinning OpenMP/BLAS threads on the same cores are several times slower than single-threaded workers
#: (measured: a 20 × 20 diagram took 161 s with 2 default workers, 66 s with 2 single-threaded ones).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "NUMBA_NUM_THREADS": "1"}


@contextlib.contextmanager
def _environment(variables):
    """Set environment variables for the duration of the block (child processes inherit them)."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _indexed(job):
    func, i, task = job
    return i, _guarded(func, task)


@contextlib.contextmanager
def _open_executor(executor, scheduler, workers):
    """Yield ``run(func, jobs)``: an iterator of ``(i, result)`` over ``jobs = [(i, task), ...]`` as they finish."""
    if executor is None:
        executor = "local"

    def via_futures(submit, as_completed):
        def run(func, jobs):
            futures = {submit(_guarded, func, task): i for i, task in jobs}
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        return run

    if executor == "serial":
        yield lambda func, jobs: ((i, _guarded(func, task)) for i, task in jobs)
    elif executor == "local":
        # spawn, not fork: forking a process whose numba/OpenMP threads are running is unsafe; the pool
        # starts all its single-threaded workers here, while the environment says so
        with _environment(SINGLE_THREAD_ENV):
            pool = multiprocessing.get_context("spawn").Pool(workers)
        try:
            yield lambda func, jobs: pool.imap_unordered(_indexed, [(func, i, task) for i, task in jobs])
        finally:  # on interruption, drop the queued points instead of computing them
            pool.terminate()
            pool.join()
    elif isinstance(executor, cf.Executor):
        yield via_futures(executor.submit, cf.as_completed)
    elif executor == "dask":
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError("executor='dask' needs dask.distributed: pip install 'rfdiff[distributed]'") from None
        if scheduler is not None:
            try:
                client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"cannot reach the dask scheduler at {scheduler!r} within "
                                 f"{DASK_CONNECT_TIMEOUT:g} s ({type(exc).__name__})") from None
            with client:
                yield via_futures(client.submit, as_completed)
        else:
            with LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, dashboard_address=None,
                              env=SINGLE_THREAD_ENV) as cluster, Client(cluster) as client:
                yield via_futures(client.submit, as_completed)
    else:  # a distributed.Client
        from distributed import as_completed
        yield via_futures(executor.submit, as_completed)


def _progress_bar(progress, total, desc):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress or total == 0:
        return contextlib.nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext(None)
    return tqdm(total=total, desc=desc, unit="pt")


def sweep(func, tasks, *, key=None, executor=None, scheduler=None, workers=None, store=None,
          progress=None, desc=None):
    """Evaluate ``func(task)`` for every task, in parallel, resuming from a store.

    Parameters
    ----------
    func : callable
        A picklable (module-level) function ``task -> dict``; the dict must be JSON-able if a store is
        used (floats may be non-finite).
    tasks : sequence
        Picklable task objects.
    key : callable, optional
        ``task -> dict`` of plain parameters identifying the task (hashed by :func:`point_key` to name its
        store file). Required with ``store``.
    executor : {"local", "serial", "dask"}, concurrent.futures.Executor or distributed.Client, optional
        Where to run (default ``"local"``: a pool of single-threaded processes).
    scheduler : str, optional
        Address of a running dask scheduler (``executor="dask"`` only; default: start a LocalCluster).
    workers : int, optional
        Number of local processes or LocalCluster workers (default: the number of CPUs).
    store : str, path-like or PointStore, optional
        Directory of finished points.
    progress : bool, optional
        Show a tqdm bar (default: when stderr is a terminal).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    results : list of dict
        One per task, in order; a failed task gives ``{"error": "...", "traceback": "..."}``.
    stats : dict
        ``{"computed": int, "reused": int, "failed": int}``, plus ``"not_converged": int`` when some results
        (computed or reused) carry a ``"warnings"`` entry (``RuntimeWarning``s raised by ``func``) saying that
        something did not converge.
    """
    tasks = list(tasks)
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, an Executor or a dask Client, "
                         f"got {executor!r}")
    if workers is not None and (int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError("scheduler is only used with executor='dask'")
    if store is not None and not isinstance(store, PointStore):
        store = PointStore(store)
    if store is not None and key is None:
        raise ValueError("key is required with store")
    params = [key(task) for task in tasks] if store is not None else None
    keys = [point_key(p) for p in params] if store is not None else None
    results = [None] * len(tasks)
    todo = []
    for i in range(len(tasks)):
        found = store.get(keys[i]) if store is not None else None
        if found is None:
            todo.append(i)
        else:
            results[i] = found
    stats = {"computed": len(todo), "reused": len(tasks) - len(todo), "failed": 0}
    warned = sum(1 for r in results if isinstance(r, dict) and _unconverged(r))

    def finish(i, result):
        results[i] = result
        if "error" in result:
            stats["failed"] += 1
            return
        if _unconverged(result):
            nonlocal warned
            warned += 1
        if store is not None:
            store.put(keys[i], params[i], result)

    # nothing to compute (everything came from the store): start no processes or cluster
    if todo:
        with _progress_bar(progress, len(todo), desc) as bar, _open_executor(executor, scheduler, workers) as run:
            for i, result in run(func, [(i, tasks[i]) for i in todo]):
                finish(i, result)
                if bar is not None:
                    bar.update()
    if warned:
        stats["not_converged"] = warned
    return results, stats
