"""The command line at its edges: every input gives a result or one line on stderr (exit 2), never a
traceback or a hang; failures are counted and give exit status 1."""
import ast
import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import rfdiff
import rfdiff.cli
from rfdiff.cli import main
from rfdiff.results import ConvergenceWarning

from helpers import cli as _run, one_error_line

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]
CLI_DIR = pathlib.Path(rfdiff.cli.__file__).parent
COMMANDS = ("spectrum", "curves", "timescales", "phase", "simulate", "reproduce")
DEBUG_ENV = "RFDIFF_DEBUG"


def _one_line(capsys, *words):
    return one_error_line(capsys.readouterr().err, *words)


@pytest.fixture
def not_a_dir(tmp_path):
    """A regular file: nothing can be created below it."""
    f = tmp_path / "file"
    f.write_text("x")
    return f


@pytest.fixture
def no_run(monkeypatch):
    """Make every sub-command's ``run`` fail loudly: an output check must refuse before it is reached."""
    import importlib
    for name in COMMANDS:
        module = importlib.import_module(f"rfdiff.cli.{name}")
        monkeypatch.setattr(module, "run", lambda args: pytest.fail("computed before checking the outputs"))


@pytest.mark.parametrize("argv, word", [
    (["spectrum", *MODEL, "--json", "{bad}/x.json"], "--json"),
    (["spectrum", *MODEL, "--plot", "x.txt"], ".png"),
    (["spectrum", *MODEL, "--csv", "{bad}/x.csv"], "--csv"),
    (["spectrum", *MODEL, "--npz", "x.txt"], ".npz"),
    (["curves", *MODEL, "--plot", "{bad}/dir/x.png"], "--plot"),
    (["curves", *MODEL, "--decomposition-plot", "x.jpg"], ".svg"),
    (["curves", *MODEL, "--collapse", "1,2", "--collapse-plot", "{bad}/c.png"], "--collapse-plot"),
    (["curves", *MODEL, "--npz", "{bad}/x.npz"], "--npz"),
    (["timescales", *MODEL, "--json", "{bad}/t.json"], "--json"),
    (["phase", "--psi-p", "4", "--psi-n", "2,4", "--t", "0.1", "--store", "{bad}/store"], "--store"),
    (["phase", "--psi-p", "4", "--psi-n", "2,4", "--t", "0.1", "--tau-plot", "{bad}/x.pdf"], "--tau-plot"),
    (["simulate", *MODEL, "--d", "8", "--method", "gd", "--checkpoint", "{bad}/c.npz"], "--checkpoint"),
    (["simulate", *MODEL, "--d", "8", "--json", "{bad}/s.json"], "--json"),
    (["reproduce", "--out", "{bad}/figures"], "--out"),
])
def test_unwritable_outputs_are_refused_before_computing(argv, word, not_a_dir, no_run, capsys):
    argv = [a.replace("{bad}", str(not_a_dir)) for a in argv]
    assert _run(argv) == 2
    _one_line(capsys, word)


def test_missing_directory_named(no_run, capsys):
    assert _run(["curves", *MODEL, "--json", "/nonexistent-rfdiff/x.json"]) == 2
    _one_line(capsys, "/nonexistent-rfdiff", "does not exist")


def test_unreachable_dask_scheduler_is_one_line_after_a_short_timeout(monkeypatch, capsys):
    pytest.importorskip("distributed")
    from rfdiff import sweep
    assert 0 < sweep.DASK_CONNECT_TIMEOUT <= 30
    monkeypatch.setattr(sweep, "DASK_CONNECT_TIMEOUT", 1.0)
    code = _run(["phase", "--psi-p", "4", "--psi-n", "2,4", "--t", "0.1", "--executor", "dask",
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    _one_line(capsys, "tcp://127.0.0.1:1", "dask scheduler")


@pytest.mark.parametrize("argv, words", [
    (["curves", *MODEL, "--points", "100000000"], ["--points", "memory"]),
    (["simulate", *MODEL, "--d", "1000000"], ["--d 1000000", "memory", "p × p"]),
    (["curves", *MODEL, "--simulate", "1000000"], ["--simulate", "memory"]),
    (["spectrum", *MODEL, "--points", "1000000000000"], ["--points", "memory"]),
    (["simulate", *MODEL, "--d", "10", "--points", "100000000"], ["--points", "memory"]),
])
def test_sizes_that_cannot_fit_are_refused_with_an_estimate(argv, words, capsys):
    assert _run(argv) == 2
    err = _one_line(capsys, *words)
    assert any(unit in err for unit in ("GB", "TB", "PB"))


def test_memory_check_compares_with_physical_memory(monkeypatch, capsys):
    """On a machine reporting 1 kB of memory, 3 λ points (400 B each) are refused with both numbers."""
    real = os.sysconf
    fake = {"SC_PHYS_PAGES": 250, "SC_PAGE_SIZE": 4}
    monkeypatch.setattr(os, "sysconf", lambda name: fake[name] if name in fake else real(name))
    assert _run(["spectrum", *MODEL, "--points", "3"]) == 2
    _one_line(capsys, "--points 3", "1.2 kB", "this machine has 1 kB")


def test_gd_step_count_above_the_cap_is_refused(capsys):
    assert _run(["simulate", *MODEL, "--d", "8", "--method", "gd", "--tau-max", "1e12"]) == 2
    _one_line(capsys, "steps", "max_steps = 2,000,000")


def test_gd_step_cap_uses_the_exact_default_step(capsys):
    """relu at ψ_p = 64: the stable step (≈ 1.32) is below the seed code's (≈ 3.53), so τ = 100 would pass a
    bound from the seed step (≈ 28 steps) but not the exact count (76 steps) under a cap of 50."""
    assert _run(["simulate", "--psi-p", "64", "--psi-n", "2", "--t", "0.1", "--activation", "relu", "--d", "4",
                 "--method", "gd", "--tau-max", "100", "--max-steps", "50"]) == 2
    _one_line(capsys, "76 steps", "max_steps = 50")


def test_progress_is_shown_by_default_on_a_terminal(monkeypatch, capsys):
    """progress=None: a bar on stderr when it is a terminal (and tqdm is installed), none otherwise."""
    pytest.importorskip("tqdm")
    import rfdiff as rd
    model = rd.RFModel(2, 1, 0.1)
    for tty in (False, True):
        monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
        rd.simulate.train(model, 4, 0.5, n_log=2, progress=None)
        assert ("step" in capsys.readouterr().err) == tty
    rd.simulate.train(model, 4, 0.5, n_log=2, progress=False)
    assert capsys.readouterr().err == ""


def test_tau_plot_psi_p_off_grid_is_refused_before_the_sweep(monkeypatch, capsys):
    monkeypatch.setattr(rfdiff, "phase_diagram", lambda *a, **k: pytest.fail("sweep started"))
    code = _run(["phase", "--psi-p", "4,16", "--psi-n", "2,4", "--t", "0.1", "--executor", "serial",
                 "--tau-plot", "x.png", "--tau-plot-psi-p", "5"])
    assert code == 2
    _one_line(capsys, "--tau-plot-psi-p", "nearest 4")


def test_tau_plot_psi_p_takes_the_nearest_grid_value(tmp_path, capsys):
    """4:16:3 gives a middle value that is not exactly 8.0 in floating point; 8 and 8.05 both select it."""
    png = tmp_path / "tau.png"
    code = _run(["phase", "--psi-p", "4:16:3", "--psi-n", "2,8", "--t", "0.01", "--executor", "serial",
                 "--tau-plot", str(png), "--tau-plot-psi-p", "8.05"])
    assert code == 0, capsys.readouterr().err
    assert png.stat().st_size > 0


@pytest.mark.parametrize("argv, words", [
    (["curves", *MODEL, "--sigma-eigs", "-0.5,1.5"], ["eigs", ">= 0"]),          # reaches the data law
    (["curves", *MODEL, "--tau-min", "-1"], ["--tau-min", "> 0", "'-1'"]),
    (["phase", "--psi-p", "4", "--psi-n", "-1,2", "--t", "0.1"], ["psi_n"]),
    (["phase", "--psi-p", "4", "--psi-n", "-1:4:3", "--t", "0.1"], ["--psi-n", "start:stop:num", "'-1:4:3'"]),
    (["curves", *MODEL, "--tau-min", "-b"], ["--tau-min", "expected one argument"]),  # an option, not a number
])
def test_negative_numbers_reach_the_option_they_follow(argv, words, capsys):
    """A value such as ``-0.5,1.5`` is given to the option before it (and refused by its checks), not read
    as an unknown option."""
    assert _run(argv) == 2
    _one_line(capsys, *words)


def test_curves_simulate_without_plot_gives_simulation_columns(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["curves", *MODEL, "--points", "4", "--simulate", "12", "--seed", "2"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
    assert lines[0].split() == ["tau", "train", "test", "score_error", "sim_train", "sim_test",
                                "sim_score_error"]
    assert len(lines) == 1 + 5
    assert main(["curves", *MODEL, "--points", "4", "--simulate", "12", "--seed", "2", "--json", str(out)]) == 0
    sim = json.loads(out.read_text())["simulation"]
    assert sim["d"] == 12 and sim["seed"] == 2 and len(sim["test"]) == 5


@pytest.mark.parametrize("exc, word", [
    (None, "SolverError"),
    (OSError("disk full"), "disk full"),
    (MemoryError("too big"), "MemoryError"),
])
def test_user_triggerable_exceptions_are_one_line(exc, word, monkeypatch, capsys):
    from rfdiff import SolverError
    from rfdiff.cli import curves
    exc = SolverError("could not verify 3 points") if exc is None else exc

    def boom(args):
        raise exc
    monkeypatch.setattr(curves, "run", boom)
    assert _run(["curves", *MODEL]) == 2
    _one_line(capsys, word)


def test_bugs_are_one_line_and_a_traceback_with_debug(monkeypatch, capsys):
    from rfdiff.cli import curves

    def bug(args):
        raise TypeError("unsupported operand")
    monkeypatch.setattr(curves, "run", bug)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert _run(["curves", *MODEL]) == 2
    _one_line(capsys, "internal error", "TypeError", DEBUG_ENV)
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert _run(["curves", *MODEL]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "unsupported operand" in err


def test_help_documents_exit_status_and_debug(capsys):
    assert _run(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert DEBUG_ENV in out and "exit status" in out and "1 the computation ran" in out


def _phase_args():
    return ["phase", "--psi-p", "4,8", "--psi-n", "4,16", "--t", "0.01", "--executor", "serial"]


def test_threshold_points_are_marked_not_failed(tmp_path, capsys):
    """ψ_n = 4 sits on the interpolation threshold ψ_p = m ψ_n without weight decay: the point is marked (regime
    "threshold") and named in the summary, the boundary search steps off the line, and the exit status is 0."""
    out_json = tmp_path / "p.json"
    assert main(["phase", "--psi-p", "4", "--psi-n", "2,4", "--m", "1", "--t", "0.01", "--executor", "serial",
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "failed 0 of 2; boundary rows failed 0 of 1" in out and "1 points lie on the interpolation threshold" in out
    data = json.loads(out_json.read_text())      # the library side is tests/test_threshold.py
    assert data["regime"] == [["memorizes", "threshold"]] and np.isfinite(data["boundary_psi_n"][0])


def test_failed_points_and_boundary_rows_are_counted_listed_and_exit_1(monkeypatch, tmp_path, capsys):
    """Fault injection (no cheap model fails for real): a point that raises is recorded, its row's boundary
    fails with it; the summary counts and lists them as the diagram does, the JSON diagnostics count them, and
    the exit status is 1."""
    point = rfdiff.phase._point

    def sometimes(task):
        if task[0].psi_n == 16:
            raise ValueError("synthetic failure")
        return point(task)
    monkeypatch.setattr(rfdiff.phase, "_point", sometimes)
    out_json = tmp_path / "p.json"
    assert main(_phase_args() + ["--json", str(out_json)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "failed 2 of 4" in out[0] and sum("synthetic failure" in ln for ln in out) == 2
    failed = json.loads(out_json.read_text())["provenance"]["diagnostics"]["failed"]
    assert failed["points"] == 2


def test_phase_without_failures_exits_0(capsys):
    assert main(_phase_args()) == 0
    assert "failed 0 of 4; boundary rows failed 0 of 2" in capsys.readouterr().out


class _CappedDynamics(rfdiff.LearningDynamics):
    """Learning dynamics whose contour rule may use 16 nodes only: it does not converge for MODEL."""

    def __init__(self, model, **kwargs):
        super().__init__(model, max_nodes=16)


def test_non_convergence_is_a_counted_status(monkeypatch, capsys):
    """The dynamics the CLI builds (public name ``rfdiff.LearningDynamics``) hit their node cap: the library
    warns with a ConvergenceWarning, the CLI prints it once, counts it in the status and exits 1."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _CappedDynamics(rfdiff.RFModel(4, 2, 0.1))
    messages = [str(c.message) for c in caught if issubclass(c.category, ConvergenceWarning)]
    assert len(messages) == 1
    monkeypatch.setattr(rfdiff, "LearningDynamics", _CappedDynamics)
    assert main(["curves", *MODEL, "--points", "3"]) == 1
    captured = capsys.readouterr()
    status = captured.out.splitlines()[2]
    assert "; status failed (" in status and status.endswith("; 1 not converged)")
    assert captured.err == f"rfdiff curves: warning: {' '.join(messages[0].split())}\n"


def _top_level_imports(path):
    tree = ast.parse(path.read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


@pytest.mark.parametrize("path", sorted(CLI_DIR.glob("*.py")), ids=lambda p: p.name)
def test_cli_modules_import_the_theory_lazily(path):
    heavy = ("timing", "curves", "spectral", "simulate", "phase", "reproduce", "numba", "scipy", "matplotlib")
    for name in _top_level_imports(path):
        assert not any(name.lstrip(".").split(".")[-1] == h or name.startswith(f"..{h}") for h in heavy), name


def test_help_does_not_import_numba_when_the_package_is_lazy():
    code = ("import sys, rfdiff; eager = 'numba' in sys.modules\n"
            "from rfdiff.cli import build_parser; build_parser()\n"
            "print(eager, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "True":
        pytest.skip("rfdiff/__init__.py still imports numba eagerly")
    assert out[1] == "False"


def _warns(task):
    warnings.warn(f"contour not converged at {task}", ConvergenceWarning)
    return {"x": task}


def test_sweep_keeps_worker_warnings_and_counts_them(tmp_path):
    from rfdiff.sweep import Execution, sweep
    run = Execution("serial", store=tmp_path, progress=False)
    results, stats = sweep(_warns, [1, 2], key=lambda t: {"t": t}, execution=run)
    assert stats["not_converged"] == 2 and results[0]["warnings"] == ["contour not converged at 1"]
    _, stats = sweep(_warns, [1, 2], key=lambda t: {"t": t}, execution=run)
    assert stats["reused"] == 2 and stats["not_converged"] == 2        # read back from the store


def test_phase_counts_non_converged_points_and_exits_1(monkeypatch, capsys):
    """Non-converged points are counted (exit 1). The warning is injected into the library's private point
    function: ``phase_diagram`` has no public way to cap the contour nodes, and a model that fails to converge
    at the default cap would make a slow test."""
    import rfdiff.phase
    point = rfdiff.phase._point

    def warns(task):
        if task[0].psi_p == 8:
            warnings.warn("contour around [(1, 2)] not converged", ConvergenceWarning)
        return point(task)
    monkeypatch.setattr(rfdiff.phase, "_point", warns)
    assert main(_phase_args()) == 1
    assert "not converged 2" in capsys.readouterr().out


class _OverflowingDynamics(rfdiff.LearningDynamics):
    """Learning dynamics that also warn of an overflow (a RuntimeWarning that is not a ConvergenceWarning)."""

    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        warnings.warn("overflow encountered in exp", RuntimeWarning)


def test_other_runtime_warnings_are_printed_not_counted(monkeypatch, capsys):
    monkeypatch.setattr(rfdiff, "LearningDynamics", _OverflowingDynamics)
    assert main(["curves", *MODEL, "--points", "3"]) == 0
    captured = capsys.readouterr()
    assert "status ok" in captured.out
    assert captured.err == "rfdiff curves: warning: overflow encountered in exp\n"


def test_closed_stdout_stops_quietly():
    """`rfdiff curves ... | head -1`: no traceback or error line when the reader goes away."""
    proc = subprocess.Popen([sys.executable, "-m", "rfdiff", "curves", *MODEL, "--points", "5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


@pytest.mark.parametrize("axis, word", [
    ("1:100:100000000", "at most"),
    ("1:100:50000", "memory"),        # 50 000 × 50 000 points
])
def test_phase_grids_that_cannot_fit_are_refused(axis, word, monkeypatch, capsys):
    monkeypatch.setattr(rfdiff, "phase_diagram", lambda *a, **k: pytest.fail("sweep started"))
    assert _run(["phase", "--psi-p", axis, "--psi-n", axis, "--t", "0.1"]) == 2
    _one_line(capsys, word)
