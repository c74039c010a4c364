"""The ``rfdiff`` command line (entry point ``rfdiff = "rfdiff.cli:main"``).

Layout: :mod:`~rfdiff.cli.main` builds the parser and turns errors into one line and an exit status;
:mod:`~rfdiff.cli.args` holds the shared argument types and builders (model, data, outputs),
:mod:`~rfdiff.cli.report` the reporting (warnings, status line, output files with provenance) and
:mod:`~rfdiff.cli.limits` the memory estimates checked before computing; each sub-command is one module
(``spectrum``, ``curves``, ``timescales``, ``phase``, ``simulate``, ``realdata``, ``reproduce``) with ``add_parser`` and
``run``, importing the shared modules and the library, never another sub-command.
"""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
