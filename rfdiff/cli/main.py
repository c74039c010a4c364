"""The ``rfdiff`` entry point: the parser of every sub-command, and errors turned into one line and an exit status.

Each sub-command lives in its own module ``rfdiff/cli/<name>.py`` exposing ``add_parser(subparsers)`` (which
registers the sub-command and sets ``func=run``) and ``run(args) -> int``; the modules import the theory and
the simulators inside ``run`` only, so ``rfdiff --help`` stays fast.

Exit status (:data:`EPILOG`): 0 success; 1 the computation ran but part of it failed or did not converge
(a result with status "failed", e.g. a diverged training run, or a :class:`rfdiff.results.ConvergenceWarning`,
e.g. a capped Mehler order; the summary line says what; other warnings are printed and change nothing); 2 bad input, or any error the input caused — one line on stderr, never a
traceback (set ``RFDIFF_DEBUG=1`` to see the traceback). Negative numbers are accepted as option values
(:func:`_join_negative_values`).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import traceback

__all__ = ["COMMANDS", "DEBUG_ENV", "EPILOG", "build_parser", "main"]

#: The sub-commands, each the module ``rfdiff/cli/<name>.py``.
COMMANDS = ("spectrum", "curves", "timescales", "phase", "simulate", "realdata", "reproduce", "generate")

#: Environment variable that turns the one-line error messages back into tracebacks.
DEBUG_ENV = "RFDIFF_DEBUG"

#: The exit-status contract, at the end of every ``--help``.
EPILOG = ("exit status: 0 success; 1 the computation ran but part of it failed or did not converge (a failed "
          "result or a non-convergence warning; the summary line counts what; other warnings are only printed); 2 bad input or an error it caused (one line on stderr); 130 interrupted; "
          f"141 stdout closed by its reader (| head). Set {DEBUG_ENV}=1 to get the full traceback of an error "
          "instead of one line. Negative numbers are accepted as option values (--sigma-eigs -0.5,1.5).")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump), and whose help
    ends with :data:`EPILOG` (after the sub-command's own epilog, if any)."""

    def __init__(self, *args, epilog=None, **kwargs):
        super().__init__(*args, epilog=EPILOG if epilog is None else f"{epilog} {EPILOG}", **kwargs)

    def error(self, message):
        sys.stderr.write(f"rfdiff: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``rfdiff`` and of every sub-command (imports no theory: ``--help`` stays fast)."""
    parser = _Parser(prog="rfdiff", description=(
        "Exact train/test dynamics of random-features diffusion score models: when they generalize, "
        "when they start to memorize."))
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"rfdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(sub)
    return parser


_NUMBER_LIST = re.compile(r"^-(\d|\.\d|inf|nan)[\w.+\-,:]*$", re.IGNORECASE)


def _join_negative_values(argv):
    """``["--sigma-eigs", "-0.5,1.5"]`` → ``["--sigma-eigs=-0.5,1.5"]``.

    argparse reads a token such as ``-0.5,1.5`` (not a plain negative number) as an option; joined to
    the preceding long option with ``=``, it reaches that option's type (which validates it).
    """
    out = []
    for token in argv:
        if (out and _NUMBER_LIST.match(token) and out[-1].startswith("--") and "=" not in out[-1]
                and len(out[-1]) > 2):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _user_errors():
    """Exceptions the input can cause: bad values, a solver that cannot verify, files, memory, missing extras."""
    from .. import SolverError
    return ValueError, OSError, MemoryError, ImportError, OverflowError, SolverError


def main(argv=None) -> int:
    """Run the command line (``argv`` default ``sys.argv[1:]``); returns the exit status (:data:`EPILOG`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_join_negative_values(argv))
    args.argv = ["rfdiff", *argv]
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("rfdiff: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`rfdiff ... | head`): stop quietly, like SIGPIPE
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback on request
        if debug:
            traceback.print_exc()
        if isinstance(exc, _user_errors()):
            name = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
            sys.stderr.write(f"rfdiff {args.command}: error: {name}{_one_line(exc)}\n")
        else:
            sys.stderr.write(f"rfdiff {args.command}: internal error ({type(exc).__name__}: {_one_line(exc)}); "
                             f"please report it with the output of {DEBUG_ENV}=1 rfdiff ...\n")
        return 2
