"""The sweep engine: executors give identical results, failures are data, the store resumes."""
import os

import pytest

from rfdiff.sweep import SINGLE_THREAD_ENV, Execution, PointStore, local_pool, parallel_map, point_key, sweep


def square(x):
    if x == 3:
        raise ArithmeticError("three is bad")
    return {"x": x, "y": x * x / 7.0, "inf": float("inf")}


def key(x):
    return {"x": x}


def run(executor="serial", **kw):
    return Execution(executor, progress=False, **kw)


class Interrupt:
    """Raises KeyboardInterrupt at one task, as a Ctrl-C during a sweep would."""

    def __init__(self, at):
        self.at = at

    def __call__(self, x):
        if x == self.at:
            raise KeyboardInterrupt
        return {"x": x}


def test_serial_and_local_agree_and_failures_are_recorded():
    serial, stats = sweep(square, range(6), execution=run())
    local, _ = sweep(square, range(6), execution=run("local", workers=2))
    assert serial == local
    assert stats == {"computed": 6, "reused": 0, "failed": 1}
    assert serial[3]["error"].startswith("ArithmeticError: three is bad")
    assert serial[5] == {"x": 5, "y": 25 / 7.0, "inf": float("inf")}


def worker_environment(x):
    return {"env": {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}, "pid": os.getpid()}


def test_local_pool_serves_several_sweeps_with_single_threaded_workers():
    """One pool for a block of sweeps: the same worker processes (no new spawn per sweep), each started in the
    single-threaded environment; the results are those of the serial executor; other executors pass through."""
    before = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    with local_pool(run("local", workers=2)) as pooled:
        first, _ = sweep(worker_environment, range(4), execution=pooled)
        second, _ = sweep(worker_environment, range(4), execution=pooled)
        local, _ = sweep(square, range(6), execution=pooled)
    assert local == sweep(square, range(6), execution=run())[0]
    assert {r["pid"] for r in second} <= {r["pid"] for r in first} and len({r["pid"] for r in first}) <= 2
    assert all(r["env"] == SINGLE_THREAD_ENV for r in first + second)
    assert {k: os.environ.get(k) for k in SINGLE_THREAD_ENV} == before          # this process keeps its own
    serial = run()
    with local_pool(serial) as same:
        assert same is serial


def power(x, k):
    import warnings

    from rfdiff.results import ConvergenceWarning
    if x == 2:
        warnings.warn("two is slow", ConvergenceWarning)
    if x == 3:
        raise ArithmeticError("three is bad")
    return (x ** k, [x])


def test_parallel_map_returns_any_values_in_order_and_raises_failures():
    from rfdiff.results import ConvergenceWarning
    with local_pool(run("local", workers=2)) as pooled:
        with pytest.warns(ConvergenceWarning, match="two is slow"):
            local = parallel_map(power, [(x, 2) for x in (0, 1, 2, 4)], pooled)
        with pytest.raises(RuntimeError, match="power failed on a worker: ArithmeticError: three is bad"):
            parallel_map(power, [(3, 2)], pooled)
    with pytest.warns(ConvergenceWarning, match="two is slow"):
        serial = parallel_map(power, [(x, 2) for x in (0, 1, 2, 4)])          # default: in this process
    assert local == serial == [(0, [0]), (1, [1]), (4, [2]), (16, [4])]


def test_dask_local_cluster_agrees():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got, _ = sweep(square, range(6), execution=run(client))
    assert got == sweep(square, range(6), execution=run())[0]


def test_store_resumes_without_recomputing(tmp_path):
    first, stats = sweep(square, range(8), key=key, execution=run(store=tmp_path))
    assert stats["computed"] == 8 and stats["failed"] == 1
    assert len(PointStore(tmp_path)) == 7                      # the failed point is not stored
    for x in (1, 6):
        os.remove(tmp_path / f"{point_key({'x': x})}.json")
    again, stats = sweep(square, range(8), key=key, execution=run(store=tmp_path))
    assert stats == {"computed": 3, "reused": 5, "failed": 1}  # the two deleted and the failed one
    assert again == first                                      # inf survives the JSON round trip
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_interrupted_sweep_keeps_finished_points(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        sweep(Interrupt(at=4), range(10), key=key, execution=run(store=tmp_path))
    assert len(PointStore(tmp_path)) == 4
    done, stats = sweep(Interrupt(at=None), range(10), key=key, execution=run(store=tmp_path))
    assert stats == {"computed": 6, "reused": 4, "failed": 0}
    assert [r["x"] for r in done] == list(range(10))


@pytest.mark.parametrize("kw, word", [({"executor": "spark"}, "executor"), ({"store": "x"}, "key"),
                                      ({"workers": 0}, "workers"), ({"scheduler": "tcp://x:1"}, "scheduler"),
                                      ({"progress": "yes"}, "progress")])
def test_bad_input(kw, word, tmp_path):
    if "store" in kw:
        kw["store"] = tmp_path
    with pytest.raises(ValueError, match=word):
        sweep(square, [1], execution=Execution(**kw))


def test_unguarded_script_fails_fast_with_one_message(tmp_path):
    """A script calling a sweep at top level without the __main__ guard: spawned workers re-import it. The
    run must stop at once with a message saying what to do, not respawn workers forever."""
    import subprocess
    import sys
    script = tmp_path / "unguarded.py"
    script.write_text("from rfdiff.sweep import Execution, sweep\n"
                      "print(sweep(abs, [-1, -2], execution=Execution('local', workers=2, progress=False)))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'if __name__ == "__main__":' in proc.stderr.splitlines()[-1]
    assert proc.stderr.count("Traceback") == 1                    # the parent's; the workers say one line each


def test_script_read_from_stdin_is_refused_with_what_to_do():
    """Spawned workers re-import the main script from its file; a script piped to ``python -`` has none, so the
    local executor stops at once with one message (it used to blame a missing guard that was there)."""
    import subprocess
    import sys
    code = ("from rfdiff.sweep import Execution, sweep\n"
            "if __name__ == '__main__':\n"
            "    sweep(abs, [-1], execution=Execution('local', workers=1, progress=False))\n")
    proc = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "'<stdin>', not a file" in proc.stderr.splitlines()[-1] and "executor='serial'" in proc.stderr


def slow_square(x):
    import time
    time.sleep(0.3)
    return x * x


def test_threads_waiting_for_workers_hand_over_the_main_process():
    """rfdiff reproduce runs its figure groups in threads holding one lock, released while a thread waits for the
    pool (sweep.release_while_waiting): while one thread's tasks run on the workers, another thread must get the
    lock and run."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from rfdiff.sweep import release_while_waiting
    lock, events = threading.Lock(), []

    def waits(name, execution):
        release_while_waiting(lock)
        with lock:
            events.append(f"{name} start")
            result = parallel_map(slow_square, [(2,), (3,)], execution)
            events.append(f"{name} end")
        return result

    def works(name):
        time.sleep(0.1)                           # starts once the other thread waits
        with lock:
            events.append(f"{name} runs")

    with ThreadPoolExecutor(2) as pool:
        execution = Execution(pool, progress=False)
        a = threading.Thread(target=lambda: events.append(waits("a", execution)))
        b = threading.Thread(target=works, args=("b",))
        a.start(), b.start()
        a.join(10), b.join(10)
    assert events == ["a start", "b runs", "a end", [4, 9]]


def slow(x):
    import time
    time.sleep(30)
    return x


def test_interrupted_local_pool_stops_its_workers_at_once():
    """Ctrl-C while a local pool's workers are busy: the workers are terminated, not waited for (the pool's own
    shutdown forgets its processes, so they must be taken before it; a run then hung until its tasks ended)."""
    import multiprocessing
    import time
    with pytest.raises(KeyboardInterrupt):
        with local_pool(run("local", workers=2)) as pooled:
            pooled.executor.submit(slow, 1)
            pooled.executor.submit(slow, 2)
            time.sleep(2.0)                       # the workers have started and are busy
            raise KeyboardInterrupt
    start = time.perf_counter()
    while multiprocessing.active_children() and time.perf_counter() - start < 10:
        time.sleep(0.1)
    assert time.perf_counter() - start < 10, "the workers outlived the interrupted pool"
