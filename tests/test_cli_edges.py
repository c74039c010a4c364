"""The command line at its edges: every input gives a result or one line on stderr (exit 2), never a
traceback or a hang; failures are counted and give exit status 1."""
import ast
import json
import pathlib
import subprocess
import sys
import warnings

import pytest

from rfdiff import cli
from rfdiff.cli import main
from rfdiff.results import ConvergenceWarning

MODEL = ["--psi-p", "4", "--psi-n", "2", "--t", "0.1"]
CLI_DIR = pathlib.Path(cli.__file__).parent


def _run(argv):
    """``main``'s exit status (argument errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _one_line(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    return err


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
    for name in cli.COMMANDS:
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


def test_memory_check_compares_with_physical_memory(monkeypatch):
    monkeypatch.setattr(cli, "physical_memory", lambda: 1000)
    cli.check_memory(999, "small")
    with pytest.raises(ValueError, match="2 kB.*1 kB"):
        cli.check_memory(2000, "big")


def test_gd_step_count_above_the_cap_is_refused(capsys):
    assert _run(["simulate", *MODEL, "--d", "8", "--method", "gd", "--tau-max", "1e12"]) == 2
    _one_line(capsys, "steps", "--max-steps")


def test_gd_step_cap_uses_the_exact_default_step(capsys):
    """relu at ψ_p = 64: the stable step (≈ 1.32) is below the seed code's (≈ 3.53), so τ = 100 passes the
    quick bound (≈ 28 steps) but not the exact count (≈ 76 steps) under a cap of 50."""
    assert _run(["simulate", "--psi-p", "64", "--psi-n", "2", "--t", "0.1", "--activation", "relu", "--d", "4",
                 "--method", "gd", "--tau-max", "100", "--max-steps", "50"]) == 2
    err = _one_line(capsys, "steps", "cap of 50")
    assert "at least" not in err


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
    import rfdiff.phase
    monkeypatch.setattr(rfdiff.phase, "phase_diagram", lambda *a, **k: pytest.fail("sweep started"))
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


def test_negative_numbers_reach_the_data_law(capsys):
    assert _run(["curves", *MODEL, "--sigma-eigs", "-0.5,1.5"]) == 2
    _one_line(capsys, "eigs", ">= 0")


def test_join_negative_values():
    join = cli._join_negative_values
    assert join(["--sigma-eigs", "-0.5,1.5"]) == ["--sigma-eigs=-0.5,1.5"]
    assert join(["--tau-min", "-1"]) == ["--tau-min=-1"]
    assert join(["--t", "0.1", "--json", "x.json"]) == ["--t", "0.1", "--json", "x.json"]
    assert join(["--a", "-b"]) == ["--a", "-b"]            # an option, not a number
    assert join(["--psi-n", "-1:4:3"]) == ["--psi-n=-1:4:3"]


def test_negative_axis_value_is_one_line(capsys):
    assert _run(["phase", "--psi-p", "4", "--psi-n", "-1,2", "--t", "0.1"]) == 2
    _one_line(capsys, "psi_n")


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
    from rfdiff.cli import curves
    from rfdiff.spectral import SolverError
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
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert _run(["curves", *MODEL]) == 2
    _one_line(capsys, "internal error", "TypeError", cli.DEBUG_ENV)
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    assert _run(["curves", *MODEL]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "unsupported operand" in err


def test_help_documents_exit_status_and_debug(capsys):
    assert _run(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert cli.DEBUG_ENV in out and "exit status" in out and "1 the computation ran" in out


def _phase_args():
    return ["phase", "--psi-p", "4,8", "--psi-n", "4,16", "--t", "0.01", "--executor", "serial"]


def test_failed_boundary_rows_are_counted_and_exit_1(monkeypatch, capsys):
    import rfdiff.phase

    def fail(task):
        raise ValueError("no root")
    monkeypatch.setattr(rfdiff.phase, "_boundary", fail)
    assert main(_phase_args()) == 1
    out = capsys.readouterr().out
    assert "failed 0 of 4" in out and "boundary rows failed 2 of 2" in out
    assert out.count("# boundary failed at psi_p") == 2


def test_failed_points_are_counted_listed_and_exit_1(monkeypatch, tmp_path, capsys):
    import rfdiff.phase
    point = rfdiff.phase._point

    def sometimes(task):
        if task[0].psi_n == 16:
            raise ValueError("synthetic failure")
        return point(task)
    monkeypatch.setattr(rfdiff.phase, "_point", sometimes)
    out_json = tmp_path / "p.json"
    assert main(_phase_args() + ["--json", str(out_json)]) == 1
    out = capsys.readouterr().out
    assert "failed 2 of 4" in out and out.count("synthetic failure") == 2
    data = json.loads(out_json.read_text())
    assert data["provenance"]["diagnostics"]["failed"]["points"] == 2


def test_phase_without_failures_exits_0(capsys):
    assert main(_phase_args()) == 0
    assert "failed 0 of 4; boundary rows failed 0 of 2" in capsys.readouterr().out


def test_non_convergence_is_a_counted_status(monkeypatch, capsys):
    import rfdiff.dynamics
    original = rfdiff.dynamics.LearningDynamics.__init__

    def warns(self, *a, **k):
        original(self, *a, **k)
        warnings.warn("contour around [(1, 2)] not converged with 2048 nodes", ConvergenceWarning)
    monkeypatch.setattr(rfdiff.dynamics.LearningDynamics, "__init__", warns)
    assert main(["curves", *MODEL, "--points", "3"]) == 1
    captured = capsys.readouterr()
    assert "status failed (1 not converged)" in captured.out
    assert captured.err.count("\n") == 1 and "not converged" in captured.err


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
    import rfdiff.phase
    point = rfdiff.phase._point

    def warns(task):
        if task[0].psi_p == 8:
            warnings.warn("contour around [(1, 2)] not converged", ConvergenceWarning)
        return point(task)
    monkeypatch.setattr(rfdiff.phase, "_point", warns)
    assert main(_phase_args()) == 1
    assert "not converged 2" in capsys.readouterr().out


def test_other_runtime_warnings_are_printed_not_counted(monkeypatch, capsys):
    import rfdiff.dynamics
    original = rfdiff.dynamics.LearningDynamics.__init__

    def warns(self, *a, **k):
        original(self, *a, **k)
        warnings.warn("overflow encountered in exp", RuntimeWarning)
    monkeypatch.setattr(rfdiff.dynamics.LearningDynamics, "__init__", warns)
    assert main(["curves", *MODEL, "--points", "3"]) == 0
    captured = capsys.readouterr()
    assert "status ok" in captured.out and captured.err.count("\n") == 1 and "overflow" in captured.err


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
    import rfdiff.phase
    monkeypatch.setattr(rfdiff.phase, "phase_diagram", lambda *a, **k: pytest.fail("sweep started"))
    assert _run(["phase", "--psi-p", axis, "--psi-n", axis, "--t", "0.1"]) == 2
    _one_line(capsys, word)
