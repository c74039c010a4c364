"""Sweep engine: map a function over many parameter points with a pluggable executor and a resumable store.

:func:`sweep` runs ``func(task)`` for every task and returns the results in task order. How to run is one
options object, :class:`Execution` (executor, workers, scheduler, store, progress), kept apart from what
is computed. Executors:

* ``"local"`` (default) — a :class:`concurrent.futures.ProcessPoolExecutor` of spawned, single-threaded
  worker processes (:data:`SINGLE_THREAD_ENV`) on this machine. A worker that dies (e.g. because a script
  without the ``if __name__ == "__main__":`` guard re-runs the sweep while the worker imports it) breaks the
  pool at once and :func:`sweep` raises ``RuntimeError`` saying what to do — never an endless respawn;
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
import contextvars
import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import threading
import traceback
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .outputs import atomic_write, dumps, from_json
from .outputs import provenance as _provenance
from ._progress import progress_bar
from ._validate import integer, optional_bool, options_object
from .results import ConvergenceWarning

__all__ = ["DASK_CONNECT_TIMEOUT", "EXECUTORS", "SINGLE_THREAD_ENV", "UNGUARDED_MAIN", "Execution", "PointStore",
           "local_pool", "parallel_map", "point_key", "release_while_waiting", "sweep", "waiting"]

EXECUTORS = ("local", "serial", "dask")

#: Seconds to wait for a dask scheduler given by address before giving up (``distributed.Client(timeout=)``;
#: its own default is 30 s, and an unreachable address used to end in a traceback).
DASK_CONNECT_TIMEOUT = 10.0

#: Environment of local worker processes: one thread each. Several processes each running a pool of
#: spinning OpenMP/BLAS threads on the same cores are several times slower than single-threaded workers
#: (measured: a 20 × 20 diagram took 161 s with 2 default workers, 66 s with 2 single-threaded ones).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "NUMBA_NUM_THREADS": "1"}

#: What :func:`sweep` says when local worker processes die.
UNGUARDED_MAIN = ("the local worker processes died: a script that runs a sweep (e.g. phase_diagram) with the "
                  "default executor='local' must guard its entry point with `if __name__ == \"__main__\":` "
                  "(spawned workers import the script), or use executor='serial'")


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
        Written into every point file under ``"provenance"`` (default :func:`rfdiff.outputs.provenance`: rfdiff
        version, library versions, command line). Only ``"result"`` is read back.

    Notes
    -----
    A file holds ``{"params": ..., "result": ..., "provenance": ...}``, written by
    :func:`rfdiff.outputs.atomic_write` (complete or absent even if the process is killed mid-write) with the JSON
    rule of :func:`rfdiff.outputs.to_json` (NaN → null, ±∞ → ``"inf"``/``"-inf"``, read back as floats).
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


@dataclass(frozen=True)
class Execution:
    """How a sweep runs, apart from what it computes; validated once, here.

    Parameters
    ----------
    executor : {"local", "serial", "dask"}, concurrent.futures.Executor or distributed.Client
        Where to run (default ``"local"``: a pool of single-threaded spawned processes).
    workers : int, optional
        Number of local processes or LocalCluster workers (default: the number of CPUs).
    scheduler : str, optional
        Address of a running dask scheduler (``executor="dask"`` only; default: start a LocalCluster).
    store : str, path-like or PointStore, optional
        Directory of finished points (each written atomically as it finishes; a rerun resumes).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal and tqdm is installed).
    """

    executor: object = "local"
    workers: object = None
    scheduler: object = None
    store: object = None
    progress: object = None

    def __post_init__(self):
        executor = "local" if self.executor is None else self.executor
        if isinstance(executor, str) and executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, an Executor or a dask Client, "
                             f"got {executor!r}")
        object.__setattr__(self, "executor", executor)
        if self.workers is not None:
            object.__setattr__(self, "workers", integer("workers", self.workers, 1))
        if self.scheduler is not None and executor != "dask":
            raise ValueError("scheduler is only used with executor='dask'")
        optional_bool("progress", self.progress)
        if self.store is not None and not isinstance(self.store, PointStore):
            object.__setattr__(self, "store", PointStore(self.store))

    @classmethod
    def from_kwargs(cls, execution=None, **kwargs) -> "Execution":
        """``execution`` (an :class:`Execution`; None for the defaults), or ``Execution(**kwargs)`` for callers
        that pass the options one by one (``executor``, ``workers``, ``scheduler``, ``store``, ``progress``)."""
        return options_object("execution", cls, execution, {k: v for k, v in kwargs.items() if v is not None})

    def describe(self) -> dict:
        """Plain description for provenance."""
        executor = self.executor if isinstance(self.executor, str) else type(self.executor).__name__
        return {"executor": executor, "workers": self.workers, "scheduler": self.scheduler,
                "store": None if self.store is None else self.store.directory}


def _guarded(func, task):
    """``func(task)``, or ``{"error": ...}`` if it raises (runs on the worker).

    ``RuntimeWarning``s raised while computing are kept in the result as ``"warnings"`` (a list of
    messages), so that they reach the caller instead of a worker's stderr; a :class:`ConvergenceWarning`
    among them (some part did not converge) also sets ``"not_converged": True``, which :func:`sweep` counts.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = func(task)
    except Exception as exc:  # noqa: BLE001 - a failing point is data, not a crash
        return {"error": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc))[-2000:]}
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if runtime and isinstance(result, dict):
        result = {**result, "warnings": [" ".join(str(w.message).split()) for w in runtime]}
        if any(issubclass(w.category, ConvergenceWarning) for w in runtime):
            result["not_converged"] = True
    return result


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


def _refuse_in_spawned_import():
    """Stop a spawned worker that re-runs a sweep while importing an unguarded ``__main__``.

    A spawned process imports the parent's main script to unpickle its tasks; an unguarded script then
    calls the sweep again during that import. The worker exits with one line; the parent's pool breaks and
    :func:`sweep` raises ``RuntimeError(UNGUARDED_MAIN)``.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):     # set while spawn imports __main__
        raise SystemExit("rfdiff: a spawned worker re-ran a sweep while importing an unguarded script; stopping")


def _check_main_importable():
    """Refuse to spawn workers that could not start: a spawned process re-imports the parent's main script from
    its file, which a script read from standard input (``python - < script.py``) does not have."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is not None and not os.path.exists(path):
        raise RuntimeError(f"executor='local' spawns worker processes that import the main script, but it was read "
                           f"from {os.path.basename(path)!r}, not a file: run it from a file (with the "
                           f"`if __name__ == \"__main__\":` guard) or use executor='serial'")


class _SingleThreadPool(cf.ProcessPoolExecutor):
    """A process pool whose workers (spawned as tasks are submitted) start inside :data:`SINGLE_THREAD_ENV`, so that
    it keeps that environment when it serves several sweeps (:func:`local_pool`)."""

    _env_lock = threading.Lock()          # several threads may submit (each saves and restores the environment)

    def submit(self, fn, /, *args, **kwargs):
        with self._env_lock, _environment(SINGLE_THREAD_ENV):
            return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def _local_pool(workers):
    """A spawn-context process pool (spawn, not fork: forking a process whose numba/OpenMP threads run is
    unsafe). Its workers are started as tasks are submitted, inside :data:`SINGLE_THREAD_ENV`."""
    _check_main_importable()
    pool = _SingleThreadPool(workers or os.cpu_count(), mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    except BaseException:  # on interruption, drop the queued points and stop the workers instead of waiting for them
        workers = list((getattr(pool, "_processes", None) or {}).values())   # (shutdown forgets them)
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        raise
    # done: the idle workers stop on their own (terminating them could race the pool's feeder thread, which
    # then printed a traceback at exit)
    pool.shutdown(wait=True)


@contextlib.contextmanager
def local_pool(execution=None):
    """Yield an :class:`Execution` whose ``executor="local"`` pool is started once and serves every sweep run with
    it inside the block (each sweep would otherwise spawn, and import into, its own workers: about 1–2 s each).

    Any other executor is yielded unchanged. The pool's workers are single-threaded (:data:`SINGLE_THREAD_ENV`)
    and started as tasks arrive; the block's end stops them.
    """
    execution = Execution.from_kwargs(execution)
    if execution.executor != "local":
        yield execution
        return
    with _local_pool(execution.workers) as pool:
        yield dataclasses.replace(execution, executor=pool)


#: The lock this thread releases while it waits for its workers (:func:`release_while_waiting`), or None.
_WAITING_LOCK = contextvars.ContextVar("rfdiff_waiting_lock", default=None)


def release_while_waiting(lock):
    """From now on, this thread waits for its workers' results with ``lock`` released, and acquires it again before
    going on. Threads that share one lock on the main process (:func:`rfdiff.reproduce.reproduce`'s figure groups:
    drawing is not thread-safe) so let one another run while they wait."""
    _WAITING_LOCK.set(lock)


@contextlib.contextmanager
def waiting():
    """The context in which this thread waits for its workers: with the lock of :func:`release_while_waiting`, if
    any, released."""
    lock = _WAITING_LOCK.get()
    if lock is None:
        yield
        return
    lock.release()
    try:
        yield
    finally:
        lock.acquire()


def _futures_runner(submit, as_completed, env=None):
    """``run(func, jobs)`` over an executor's ``submit``/``as_completed`` (tasks submitted within ``env``; the waits
    within :func:`waiting`)."""
    def run(func, jobs):
        with _environment(env or {}):
            futures = {submit(_guarded, func, task): i for i, task in jobs}
        pending = as_completed(list(futures))
        while True:
            with waiting():
                fut = next(pending, None)
            if fut is None:
                return
            yield futures[fut], fut.result()
    return run


@contextlib.contextmanager
def _open_executor(execution):
    """Yield ``run(func, jobs)``: an iterator of ``(i, result)`` over ``jobs = [(i, task), ...]`` as they finish."""
    executor, scheduler, workers = execution.executor, execution.scheduler, execution.workers
    if executor == "serial":
        yield lambda func, jobs: ((i, _guarded(func, task)) for i, task in jobs)
    elif executor == "local":
        with _local_pool(workers) as pool:
            yield _futures_runner(pool.submit, cf.as_completed, SINGLE_THREAD_ENV)
    elif isinstance(executor, cf.Executor):
        yield _futures_runner(executor.submit, cf.as_completed)
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
                yield _futures_runner(client.submit, as_completed)
        else:
            with LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, dashboard_address=None,
                              env=SINGLE_THREAD_ENV) as cluster, Client(cluster) as client:
                yield _futures_runner(client.submit, as_completed)
    else:  # a distributed.Client
        from distributed import as_completed
        yield _futures_runner(executor.submit, as_completed)


def _value(task):
    func, args = task
    return {"value": func(*args)}


def parallel_map(func, tasks, execution=None) -> list:
    """``[func(*args) for args in tasks]``, the calls run by ``execution``'s executor (in this process when it is None
    or ``"serial"``; no store, no progress bar): for independent computations whose results need not be dicts.

    ``func`` must be picklable (module-level) and its results too. A failing call raises ``RuntimeError`` with its
    message; the ``RuntimeWarning``s raised on a worker are warned again here (a
    :class:`~rfdiff.results.ConvergenceWarning` as such, the others as ``RuntimeWarning``).
    """
    tasks = [tuple(args) for args in tasks]
    execution = Execution.from_kwargs(execution or Execution(executor="serial"))
    if execution.executor == "serial":
        return [func(*args) for args in tasks]
    results, _ = sweep(_value, [(func, args) for args in tasks],
                       execution=dataclasses.replace(execution, store=None, progress=False))
    out = []
    for res in results:
        if "error" in res:
            raise RuntimeError(f"{getattr(func, '__name__', func)} failed on a worker: {res['error']}")
        for message in res.get("warnings", ()):
            warnings.warn(message, ConvergenceWarning if res.get("not_converged") else RuntimeWarning, stacklevel=2)
        out.append(res["value"])
    return out


def sweep(func, tasks, *, key=None, execution=None, desc=None):
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
        store file). Required with a store.
    execution : Execution, optional
        Executor, workers, scheduler, store and progress bar (default: :class:`Execution`'s defaults).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    results : list of dict
        One per task, in order; a failed task gives ``{"error": "...", "traceback": "..."}``.
    stats : dict
        ``{"computed": int, "reused": int, "failed": int}``, plus ``"not_converged": int`` when some results
        (computed or reused) say that a part of them did not converge (a :class:`ConvergenceWarning` was
        raised while computing them).

    Raises
    ------
    RuntimeError
        If the local worker processes die (:data:`UNGUARDED_MAIN`), or cannot start because the main script was
        read from standard input.
    """
    _refuse_in_spawned_import()
    execution = Execution.from_kwargs(execution)
    store = execution.store
    tasks = list(tasks)
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
    # nothing to compute (everything came from the store): start no processes or cluster
    if todo:
        try:
            with progress_bar(execution.progress, len(todo), desc, unit="pt") as bar, \
                    _open_executor(execution) as run:
                for i, result in run(func, [(i, tasks[i]) for i in todo]):
                    results[i] = result
                    if "error" in result:
                        stats["failed"] += 1
                    elif store is not None:
                        store.put(keys[i], params[i], result)
                    bar.update()
        except BrokenProcessPool:
            raise RuntimeError(UNGUARDED_MAIN) from None
    warned = sum(1 for r in results if isinstance(r, dict) and r.get("not_converged"))
    if warned:
        stats["not_converged"] = warned
    return results, stats
