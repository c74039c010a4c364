"""The package's layering, read from the source (nothing is imported).

The theory is a chain of layers, each importing only layers below it (or its own package's modules):

    foundations (_validate, outputs, _mp, results, settings, _threads)
    → _progress, units, activations, data → sweep, model → constants → structure → spectral → twopoint, contour → dynamics
    → timing → phase.

Beside the chain: the simulators (``rfdiff.simulate``) use the foundations, the model, its constants and
its structure, never the solvers above ``structure`` (so every theory-vs-simulation comparison is
independent); ``rfdiff.generate`` may use the simulators too. At the edge: plotting and ``rfdiff.realdata``
(theory against the simulators on real data; anything but the reproduction and the CLI), the reproduction
(anything but the CLI), the CLI. The import graph has no cycles.

Inside the CLI (``rfdiff.cli``): the package's ``__init__`` imports only ``main`` (which finds the sub-commands
by name); the sub-commands and the shared modules (:data:`CLI_SHARED`: argument types and builders, reporting,
memory limits) import only shared modules of the CLI — never a sub-command, ``main`` or the package itself.

Imports are collected with ``ast`` everywhere in a module (also inside functions and ``if`` blocks),
absolute and relative; ``from package import name`` counts as importing ``package.name`` when that is a
module.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PACKAGE = ROOT / "rfdiff"

#: Rank of every module (by longest matching prefix); a module may import lower ranks and its own package.
RANKS = {
    "rfdiff._validate": 0, "rfdiff.outputs": 0, "rfdiff._mp": 0, "rfdiff.results": 0, "rfdiff.settings": 0,
    "rfdiff._threads": 0,
    "rfdiff._progress": 1, "rfdiff.units": 1, "rfdiff.activations": 1, "rfdiff.data": 1,
    "rfdiff.sweep": 2, "rfdiff.model": 2,
    "rfdiff.constants": 3,
    "rfdiff.structure": 4,
    "rfdiff.spectral": 5,
    "rfdiff.twopoint": 6, "rfdiff.contour": 6,
    "rfdiff.dynamics": 7,
    "rfdiff.timing": 8, "rfdiff.girsanov": 8,
    "rfdiff.phase": 9,
    "rfdiff.plotting": 20,
    "rfdiff.realdata": 20,                  # theory against the simulators on real data: an edge module
    "rfdiff.reproduce": 21,
    "rfdiff.cli": 22,
    "rfdiff.__main__": 23, "rfdiff": 23,
}
#: Side branches of the chain: what each may import besides its own package.
BRANCHES = {
    "rfdiff.simulate": 4,                   # up to the structure: never the solvers
    "rfdiff.generate": 4,                   # the same, plus the simulators
}
BRANCH_EXTRA = {"rfdiff.generate": ("rfdiff.simulate",)}
#: Modules of the CLI that its other modules may import.
CLI_SHARED = ("rfdiff.cli.args", "rfdiff.cli.report", "rfdiff.cli.limits")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(source: str, module: str, package: bool = False) -> set[str]:
    """Absolute names of every module ``source`` (the text of ``module``) may import.

    ``package`` says whether ``module`` is a package (its ``__init__``), which sets what a relative import
    is relative to. ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (c may be a submodule).
    """
    base = module.split(".") if package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(base):
                    raise ValueError(f"relative import beyond the top-level package in {module}")
                anchor = base[:len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _owner(name: str, table) -> str | None:
    """The longest key of ``table`` that ``name`` lies within."""
    keys = [k for k in table if _within(name, k)]
    return max(keys, key=len) if keys else None


def _modules():
    paths = sorted(PACKAGE.rglob("*.py"))
    assert len(paths) > 20, "the package source was not found"
    return {module_name(p): p for p in paths}


def import_graph():
    """``{module: set of rfdiff modules it imports}``: ``from pkg import x`` is an edge to the module ``pkg.x``
    when there is one, to ``pkg`` otherwise (names that are not rfdiff modules are dropped)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found = imported_modules(ast.unparse(node), name, is_package(path))
                subs = {m for m in found if m in modules and any(m.endswith("." + a.name) for a in node.names)}
                named = {a.name for a in node.names}
                whole = {m for m in found if m in modules} - subs
                if isinstance(node, ast.ImportFrom) and named and all(any(s.endswith("." + n) for s in subs)
                                                                        for n in named):
                    whole = set()            # every name is a submodule: the package itself is not used
                edges |= subs | whole
        graph[name] = edges - {name}
    return graph


def _allowed(module: str, imported: str) -> bool:
    if _within(imported, module) or module == "rfdiff" or imported == "rfdiff":   # the root holds only names
        return True
    branch = _owner(module, BRANCHES)
    if branch is not None:
        if _within(imported, branch) or any(_within(imported, e) for e in BRANCH_EXTRA.get(branch, ())):
            return True
        owner = _owner(imported, RANKS)
        return owner is not None and RANKS[owner] <= BRANCHES[branch]
    own, other = _owner(module, RANKS), _owner(imported, RANKS)
    if own is None or other is None:
        return False
    if _owner(imported, BRANCHES) is not None:       # a branch: only the edge uses it
        return RANKS[own] >= RANKS["rfdiff.plotting"]
    return RANKS[other] < RANKS[own] or own == other


def violations():
    """``(module, imported)`` for every upward or sideways import."""
    return sorted((m, imp) for m, imports in import_graph().items() for imp in imports if not _allowed(m, imp))


def _cli_allowed(module: str, imported: str) -> bool:
    if not _within(imported, "rfdiff.cli"):
        return True
    if module == "rfdiff.cli":
        return imported == "rfdiff.cli.main"
    return module == "rfdiff.cli.main" or imported in CLI_SHARED


def cli_violations():
    """``(module, imported)`` for every import inside ``rfdiff.cli`` that breaks its layout (module docstring)."""
    return sorted((m, imp) for m, imports in import_graph().items() if _within(m, "rfdiff.cli")
                  for imp in imports if not _cli_allowed(m, imp))


def cycles():
    """Strongly connected components of more than one module (Tarjan)."""
    graph = import_graph()
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_layering():
    assert violations() == []


def test_cli_layout():
    assert cli_violations() == []


def test_no_import_cycles():
    # a package's __init__ importing its submodules, which import the package's other submodules, is fine;
    # a cycle between modules is not
    assert cycles() == []


def test_every_module_has_a_place():
    assert [m for m in _modules() if _owner(m, RANKS) is None and _owner(m, BRANCHES) is None] == []


def test_the_rules_see_real_imports():
    """The rules are not vacuous: the collector finds the imports that make the chain."""
    graph = import_graph()
    assert "rfdiff.structure" in graph["rfdiff.simulate.gaussian"]
    assert "rfdiff.twopoint" in graph["rfdiff.dynamics"] and "rfdiff.dynamics" in graph["rfdiff.timing"]
    cli = graph["rfdiff.cli.curves"]               # lazy imports inside functions are seen too
    assert any(_within(m, "rfdiff.plotting") for m in cli)
    assert {"rfdiff.cli.args", "rfdiff.cli.report", "rfdiff.cli.limits"} <= cli
    assert graph["rfdiff.cli"] == {"rfdiff.cli.main"}


@pytest.mark.parametrize("source, module, package, expected", [
    ("import rfdiff.plotting.curves as pc", "rfdiff.dynamics", False, {"rfdiff.plotting.curves"}),
    ("from rfdiff import cli", "rfdiff.timing", False, {"rfdiff", "rfdiff.cli"}),
    ("from .plotting import savefig", "rfdiff.phase", False, {"rfdiff.plotting", "rfdiff.plotting.savefig"}),
    ("from . import plotting", "rfdiff", True, {"rfdiff", "rfdiff.plotting"}),
    ("from ..spectral import stieltjes", "rfdiff.simulate.gaussian", False,
     {"rfdiff.spectral", "rfdiff.spectral.stieltjes"}),
    ("def f():\n    if True:\n        from ..timing import timescales\n", "rfdiff.simulate.features", False,
     {"rfdiff.timing", "rfdiff.timing.timescales"}),
    ("class A:\n    def m(self):\n        import rfdiff.cli\n", "rfdiff.spectral", False, {"rfdiff.cli"}),
])
def test_import_collector(source, module, package, expected):
    assert imported_modules(source, module, package) == expected


def _fake_package(monkeypatch, tmp_path, files):
    """Write a fake ``rfdiff`` package (``files``: relative path → source) under ``tmp_path``, padded with empty
    modules up to the sanity floor of :func:`_modules`, and point the rules at it."""
    pkg = tmp_path / "rfdiff"
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    for n in range(12):
        (pkg / f"units{n}.py").write_text("")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", pkg)


def test_rules_catch_synthetic_violations(monkeypatch, tmp_path):
    """A fake package with one violation of each kind (nested and relative imports) and one cycle."""
    _fake_package(monkeypatch, tmp_path, {
        "__init__.py": "",
        "results.py": "",
        "spectral.py": "def f():\n    from .plotting import savefig\n",        # theory → presentation
        "dynamics.py": "from .spectral import f\nfrom .timing import g\n",         # upward: dynamics → timing
        "timing.py": "from .dynamics import h\n",                                   # (and a cycle with it)
        "plotting/__init__.py": "from ..spectral import f\n",                      # allowed
        "cli/__init__.py": "",
        "simulate/__init__.py": "",
        "simulate/features.py": "def g():\n    from .. import phase\n",            # simulator → theory
        "simulate/gaussian.py": "from ..structure import x\nfrom ..results import y\n",   # allowed
        "structure.py": "",
        "phase.py": "",
    })
    assert violations() == [("rfdiff.dynamics", "rfdiff.timing"), ("rfdiff.simulate.features", "rfdiff.phase"),
                            ("rfdiff.spectral", "rfdiff.plotting")]
    assert sorted(cycles()) == [["rfdiff.dynamics", "rfdiff.timing"], ["rfdiff.plotting", "rfdiff.spectral"]]


def test_cli_rules_catch_synthetic_violations(monkeypatch, tmp_path):
    """A fake CLI whose sub-commands import one another, ``main`` and the package, and whose package imports
    more than ``main``; the library importing the CLI is an upward import."""
    _fake_package(monkeypatch, tmp_path, {
        "__init__.py": "",
        "model.py": "",
        "phase.py": "def f():\n    from .cli.report import status_line\n",           # library → CLI
        "cli/__init__.py": "from .main import main\nfrom .args import x\n",          # more than main
        "cli/main.py": "from . import curves\nfrom .args import x\n",               # allowed
        "cli/args.py": "from .. import RFModel\nfrom .report import y\n",           # allowed
        "cli/report.py": "from ..model import RFModel\n",                           # allowed
        "cli/limits.py": "",
        "cli/curves.py": "from .args import x\nfrom . import phase\nfrom .main import build_parser\n",
        "cli/phase.py": "def run():\n    from . import EPILOG\n",                  # the package
    })
    assert cli_violations() == [("rfdiff.cli", "rfdiff.cli.args"), ("rfdiff.cli.curves", "rfdiff.cli.main"),
                                ("rfdiff.cli.curves", "rfdiff.cli.phase"), ("rfdiff.cli.phase", "rfdiff.cli")]
    assert ("rfdiff.phase", "rfdiff.cli.report") in violations()
