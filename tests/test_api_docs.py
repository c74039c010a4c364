"""docs/api.md against the code: every public name is documented, and every documented signature has the
parameters the code has (names and order), so the reference cannot drift from the API."""
import inspect
import pathlib
import re

import pytest

import rfdiff
import rfdiff.simulate

DOC = (pathlib.Path(__file__).parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
#: ``### `name(params)` ...`` headings (several signatures may share one heading, separated by ``;`` or ``,``).
SIGNATURE = re.compile(r"`((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*)\(([^`]*)\)`")


def _documented():
    out = {}
    for line in DOC.splitlines():
        if line.startswith("### "):
            for name, params in SIGNATURE.findall(line):
                out[name] = params
    return out


def _public():
    names = [(n, getattr(rfdiff, n)) for n in rfdiff.__all__ if n != "simulate"]
    names += [(n, getattr(rfdiff.simulate, n)) for n in rfdiff.simulate.__all__]
    return names


def _params(text):
    """Parameter names of a documented signature (``*`` and ``**kwargs`` kept as written)."""
    out = []
    for part in text.split(","):
        part = part.strip().split("=")[0].strip()
        if part and part != "*":
            out.append(part)
    return out


@pytest.mark.parametrize("name", [n for n, _ in _public()])
def test_every_public_name_is_documented(name):
    assert re.search(rf"^### .*`(?:[\w.]*\.)?{name}\b", DOC, re.MULTILINE), f"docs/api.md has no heading for {name}"


@pytest.mark.parametrize("qualified, params", sorted(_documented().items()))
def test_documented_signatures_match_the_code(qualified, params):
    import importlib
    parts = qualified.removeprefix("rfdiff.").split(".")
    if len(parts) > 1:                          # a module path: rfdiff.data.law_from_spec, rfdiff.constants.x
        obj = getattr(importlib.import_module("rfdiff." + ".".join(parts[:-1])), parts[-1])
    else:
        obj = getattr(rfdiff, parts[0], None) or getattr(rfdiff.simulate, parts[0])
    if inspect.isclass(obj):
        obj = obj.__init__
    real = [("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + p.name
            for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    assert _params(params) == real, qualified
