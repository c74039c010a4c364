"""docs/tutorial.py runs start to finish, writes its figures, and prints the numbers its text discusses.

The script runs as ``__main__`` in this process (``runpy``), with ``RFDIFF_TUTORIAL_OUT`` pointing at a
temporary directory and its printed output captured: the same code path as ``python docs/tutorial.py``
without a second interpreter start and a second import of numpy, scipy, matplotlib and the kernels
(about 1 s of its 4 s). The printed numbers are checked against the same quantities computed here
through the API, so a tutorial that prints the wrong variable, or a stale number, fails.
"""
import contextlib
import io
import math
import re
import runpy
from pathlib import Path

import pytest

import rfdiff as rd

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "tutorial.py"
FIGURES = ("spectrum.png", "curves.png", "phase_diagram.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The tutorial's model (section 1 of its text).
MODEL = rd.RFModel(psi_p=16, psi_n=4, t=0.01)


def _number(name, text):
    """The value printed as ``name = <number>`` (the first such line)."""
    match = re.search(rf"^{re.escape(name)} = ([-+0-9.eE]+|inf)\b", text, flags=re.MULTILINE)
    assert match, f"the tutorial did not print {name!r}:\n{text}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("tutorial")
    text = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(text):
        mp.setenv("RFDIFF_TUTORIAL_OUT", str(out))
        mp.setenv("MPLBACKEND", "Agg")
        runpy.run_path(str(SCRIPT), run_name="__main__")
    return out, text.getvalue()


def test_figures_are_written_to_the_requested_directory(run):
    out, text = run
    assert f"figures go to {out}" in text.splitlines()[0]
    for name in FIGURES:
        path = out / name
        assert path.is_file(), f"{name} missing from {sorted(p.name for p in out.iterdir())}"
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name


def test_printed_timescales_are_the_models(run):
    """τ_gen and τ_mem as printed (6 significant digits) are ``rd.timescales`` of the tutorial's model, and the
    window between them is wide, as the text says."""
    _, text = run
    ts = rd.timescales(MODEL)
    tau_gen, tau_mem = _number("tau_gen", text), _number("tau_mem", text)
    assert tau_gen == pytest.approx(ts.tau_gen, rel=1e-5) and tau_mem == pytest.approx(ts.tau_mem, rel=1e-5)
    assert 0 < tau_gen < tau_mem < math.inf
    assert tau_mem / tau_gen > 10


def test_simulation_sits_on_the_theory(run):
    """"test: largest |simulation − theory| = …, relative 2-norm …" at d = 40: the finite-size error is
    ~1/d (helpers.FINITE_SIZE_LOSS_PER_D allows 2/d = 5%)."""
    _, text = run
    for name in ("train", "test"):
        match = re.search(rf"^{name}: .*relative 2-norm ([0-9.eE+-]+)", text, flags=re.MULTILINE)
        assert match, f"no {name} comparison printed:\n{text}"
        assert 0 < float(match.group(1)) < 0.05


def test_phase_diagram_boundary_is_printed_and_grows_with_width(run):
    """One ψ_n* per ψ_p = 4, 8, 16, increasing with the width; the last is a root of the memorization ratio:
    r = gap_rtol = 0.1 there within 5e-4 (the 4-digit rounding of the print moves r by < 1e-4; ψ_n* 1% off
    moves it by ~1.3e-3)."""
    _, text = run
    stars = [float(x) for x in re.findall(r"no memorization beyond psi_n\* = ([0-9.eE+-]+)", text)]
    assert len(stars) == 3, text
    assert all(a < b for a, b in zip(stars, stars[1:]))
    ts = rd.timescales(rd.RFModel(16, stars[-1], 0.01))
    assert rd.memorization_ratio(ts.test_min, ts.test_inf) == pytest.approx(0.1, abs=5e-4)
