"""docs/tutorial.py runs start to finish, writes its figures, and prints the numbers its text discusses.

The script runs in a subprocess, as a reader would run it, with ``RFDIFF_TUTORIAL_OUT`` pointing at a
temporary directory and this checkout first on ``PYTHONPATH``. Measured: about 5 s on one core.
"""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "tutorial.py"
FIGURES = ("spectrum.png", "curves.png", "phase_diagram.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _number(name, text):
    """The value printed as ``name = <number>`` (the first such line)."""
    match = re.search(rf"^{re.escape(name)} = ([-+0-9.eE]+|inf)\b", text, flags=re.MULTILINE)
    assert match, f"the tutorial did not print {name!r}:\n{text}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("tutorial")
    env = dict(os.environ, RFDIFF_TUTORIAL_OUT=str(out), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=out, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"tutorial failed:\n{proc.stdout}\n{proc.stderr}"
    return out, proc.stdout


def test_figures_are_written_to_the_requested_directory(run):
    out, _ = run
    for name in FIGURES:
        path = out / name
        assert path.is_file(), f"{name} missing from {sorted(p.name for p in out.iterdir())}"
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name


def test_printed_timescales_are_ordered(run):
    _, text = run
    tau_gen, tau_mem = _number("tau_gen", text), _number("tau_mem", text)
    assert 0 < tau_gen < tau_mem < math.inf
    # the generalization window the text talks about is wide: τ_mem is orders of magnitude after τ_gen
    assert tau_mem / tau_gen > 10


def test_simulation_sits_on_the_theory(run):
    _, text = run
    # "test: largest |simulation − theory| = …, relative 2-norm …" at d = 40: finite-size error ~1/d
    for name in ("train", "test"):
        match = re.search(rf"^{name}: .*relative 2-norm ([0-9.eE+-]+)", text, flags=re.MULTILINE)
        assert match, f"no {name} comparison printed:\n{text}"
        assert float(match.group(1)) < 0.05


def test_phase_diagram_boundary_is_printed_and_grows_with_width(run):
    _, text = run
    stars = [float(x) for x in re.findall(r"no memorization beyond psi_n\* = ([0-9.eE+-]+)", text)]
    assert len(stars) == 3, text
    assert all(a < b for a, b in zip(stars, stars[1:]))
