"""The package's layering, read from the source (nothing is imported):

* theory modules (everything outside ``rfdiff/plotting``, ``rfdiff/cli``, ``rfdiff/simulate`` and
  ``rfdiff/reproduce.py``; ``rfdiff/__main__.py`` is the CLI's ``python -m rfdiff`` entry point and
  counts as CLI) never import ``rfdiff.plotting`` or ``rfdiff.cli``;
* the simulators (``rfdiff/simulate``) never import the theory modules ``rfdiff.spectral``,
  ``rfdiff.curves``, ``rfdiff.timing``, ``rfdiff.phase``, so every simulation comparison is independent;
* the command line (``rfdiff/cli``) sits on top: it may import the library, nothing but ``rfdiff/__main__.py``
  imports it; inside it, ``rfdiff/cli/__init__.py`` imports only ``main``, and the sub-command modules and the
  shared ones (:data:`CLI_SHARED`: ``args``, ``report``, ``limits``) import only shared modules — never a
  sub-command, ``main`` or the ``rfdiff.cli`` package itself (``main`` finds the sub-commands by name) — and
  the modules of ``rfdiff/cli`` import one another without cycles.

Imports are collected with ``ast`` everywhere in a module (also inside functions and ``if`` blocks),
absolute and relative, and ``from package import name`` counts as importing ``package.name`` too.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PACKAGE = ROOT / "rfdiff"

PRESENTATION = ("rfdiff.plotting", "rfdiff.cli")
THEORY = ("rfdiff.spectral", "rfdiff.curves", "rfdiff.timing", "rfdiff.phase")
NOT_THEORY = ("rfdiff.plotting", "rfdiff.cli", "rfdiff.simulate", "rfdiff.reproduce", "rfdiff.__main__")
CLI = "rfdiff.cli"
#: Modules of ``rfdiff/cli`` every other one may import: argument types and builders, reporting, memory limits.
CLI_SHARED = ("args", "report", "limits")


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


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules():
    paths = sorted(PACKAGE.rglob("*.py"))
    assert len(paths) > 20, "the package source was not found"
    return [(module_name(p), p) for p in paths]


def _imports():
    """``{module: set of imported names}`` of every module of the package."""
    return {name: imported_modules(path.read_text(encoding="utf-8"), name, is_package(path))
            for name, path in _modules()}


def _cli_rule(name: str, imported: str):
    """The CLI rule ``name`` breaks by importing ``imported`` (None if it breaks none)."""
    if not _within(imported, (CLI,)):
        return None
    if not _within(name, (CLI, "rfdiff.__main__")):
        return "library imports the CLI"
    if name == CLI:
        return None if _within(imported, (f"{CLI}.main",)) else "cli package imports more than main"
    if name == f"{CLI}.main" or not name.startswith(f"{CLI}."):
        return None
    if imported == CLI:
        return "cli module imports its package"
    if imported.split(".")[2] not in CLI_SHARED:
        return "cli module imports a sub-command or main"
    return None


def violations():
    """``(module, imported, rule)`` for every import that breaks a layering rule."""
    out = []
    for name, imports in _imports().items():
        if name.startswith("rfdiff.simulate"):
            out += [(name, imp, "simulator imports theory") for imp in sorted(imports) if _within(imp, THEORY)]
        if not _within(name, NOT_THEORY):
            out += [(name, imp, "theory imports presentation") for imp in sorted(imports)
                    if _within(imp, PRESENTATION)]
        out += [(name, imp, rule) for imp in sorted(imports) if (rule := _cli_rule(name, imp))]
    return out


def cycles(graph: dict) -> list:
    """The import cycles of ``graph`` (module → imported modules): its strongly connected components of more
    than one module (or a module importing itself), each as a sorted list."""
    index, low, stack, found = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def cli_cycles() -> list:
    """Import cycles among the modules of ``rfdiff/cli``. (No cycle through the CLI can leave it, since nothing
    outside imports it.)"""
    imports = {name: imps for name, imps in _imports().items() if _within(name, (CLI,))}
    return cycles({name: {imp for imp in imps if imp in imports and imp != name} for name, imps in imports.items()})


def test_layering():
    assert violations() == []


def test_cli_has_no_import_cycles():
    assert cli_cycles() == []


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_every_rule_applies_to_some_module():
    """The rules are not vacuous: both groups of modules exist and the collector sees their imports."""
    names = {name for name, _ in _modules()}
    assert {"rfdiff.spectral", "rfdiff.curves", "rfdiff.timing", "rfdiff.phase"} <= names
    assert {"rfdiff.simulate.features", "rfdiff.simulate.gaussian", "rfdiff.plotting.curves", "rfdiff.cli"} <= names
    assert {f"rfdiff.cli.{m}" for m in ("main", *CLI_SHARED)} <= names
    # rfdiff/cli/curves.py imports the theory (by its public names) and the plotting inside its functions, and
    # the shared CLI modules at the top: the collector finds all of them
    cli = imported_modules((PACKAGE / "cli" / "curves.py").read_text(encoding="utf-8"), "rfdiff.cli.curves")
    assert {"rfdiff.LearningDynamics", "rfdiff.timescales", "rfdiff.plotting.curves", "rfdiff.cli.args",
            "rfdiff.cli.report"} <= cli


@pytest.mark.parametrize("source, module, package, expected", [
    ("import rfdiff.plotting.curves as pc", "rfdiff.curves", False, {"rfdiff.plotting.curves"}),
    ("from rfdiff import cli", "rfdiff.timing", False, {"rfdiff", "rfdiff.cli"}),
    ("from .plotting import savefig", "rfdiff.phase", False, {"rfdiff.plotting", "rfdiff.plotting.savefig"}),
    ("from . import plotting", "rfdiff", True, {"rfdiff", "rfdiff.plotting"}),
    ("from ..spectral import stieltjes", "rfdiff.simulate.gaussian", False,
     {"rfdiff.spectral", "rfdiff.spectral.stieltjes"}),
    ("from .. import curves", "rfdiff.simulate", True, {"rfdiff", "rfdiff.curves"}),
    ("def f():\n    if True:\n        from ..timing import timescales\n", "rfdiff.simulate.features", False,
     {"rfdiff.timing", "rfdiff.timing.timescales"}),
    ("class A:\n    def m(self):\n        import rfdiff.cli\n", "rfdiff.spectral", False, {"rfdiff.cli"}),
    ("from .gaussian import *", "rfdiff.simulate.features", False, {"rfdiff.simulate.gaussian"}),
])
def test_import_collector(source, module, package, expected):
    assert imported_modules(source, module, package) == expected


def test_rules_catch_synthetic_violations(monkeypatch, tmp_path):
    """A fake package with one violation of each rule (nested and relative imports) fails both rules."""
    pkg = tmp_path / "rfdiff"
    for rel, text in {
        "__init__.py": "",
        "spectral.py": "def f():\n    from .plotting import savefig\n",
        "curves.py": "import rfdiff.cli\n",
        "plotting/__init__.py": "from ..spectral import f\n",                    # allowed
        "cli/__init__.py": "from .main import main\nfrom .args import x\n",
        "cli/main.py": "from . import curves\n",                              # allowed
        "cli/args.py": "from .. import RFModel\n",                             # allowed
        "cli/curves.py": "from .args import x\nfrom . import phase\nfrom .phase import y\n",
        "cli/phase.py": "from rfdiff.cli import z\n",
        "simulate/__init__.py": "",
        "simulate/features.py": "def g():\n    from .. import phase\n",
        "simulate/gaussian.py": "from ..constants import x\n",               # allowed
        "plotting/phase.py": "def f():\n    from ..cli.report import status_line\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    for n in range(16):                                                          # _modules' sanity floor
        (pkg / f"filler{n}.py").write_text("")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    assert sorted(violations()) == [
        ("rfdiff.cli", "rfdiff.cli.args", "cli package imports more than main"),
        ("rfdiff.cli", "rfdiff.cli.args.x", "cli package imports more than main"),
        ("rfdiff.cli.curves", "rfdiff.cli", "cli module imports its package"),
        ("rfdiff.cli.curves", "rfdiff.cli.phase", "cli module imports a sub-command or main"),
        ("rfdiff.cli.curves", "rfdiff.cli.phase.y", "cli module imports a sub-command or main"),
        ("rfdiff.cli.phase", "rfdiff.cli", "cli module imports its package"),
        ("rfdiff.cli.phase", "rfdiff.cli.z", "cli module imports a sub-command or main"),
        ("rfdiff.curves", "rfdiff.cli", "library imports the CLI"),
        ("rfdiff.curves", "rfdiff.cli", "theory imports presentation"),
        ("rfdiff.plotting.phase", "rfdiff.cli.report", "library imports the CLI"),
        ("rfdiff.plotting.phase", "rfdiff.cli.report.status_line", "library imports the CLI"),
        ("rfdiff.simulate.features", "rfdiff.phase", "simulator imports theory"),
        ("rfdiff.spectral", "rfdiff.plotting", "theory imports presentation"),
        ("rfdiff.spectral", "rfdiff.plotting.savefig", "theory imports presentation"),
    ]
    assert cli_cycles() == [["rfdiff.cli", "rfdiff.cli.curves", "rfdiff.cli.main", "rfdiff.cli.phase"]]
