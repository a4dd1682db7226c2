"""Command line: a thin layer over the API, one module per command (``test``, ``demo``,
``power``, ``measure``, ``calibrate``); this module builds the parser and dispatches.

Exit codes: 0 ok; 1 internal error; 2 bad input or usage; 130 interrupted.
Heavy modules (numpy, scipy, rich) are imported only when a command runs, so
``gaugetest --help`` stays fast.
"""
from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from ..errors import InputError, UsageError
from . import calibrate, demo, measure, power, test
from .common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


#: command name -> its module (``add_parser(sub)``, ``run(args)``)
COMMANDS = {"test": test, "demo": demo, "power": power, "measure": measure,
            "calibrate": calibrate}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gaugetest",
                description="Hypothesis tests for Procrustes-aligned layer-weight sweeps: bootstrap "
                            "CIs, a one-sided permutation test of delta(LATE) > delta(EARLY), "
                            "equivalence (TOST) and a verdict with its reasons.",
                epilog="Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 130 interrupted. "
                       "Docs: docs/index.md")
    p.add_argument("--version", action="version", version=f"gaugetest {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for command in COMMANDS.values():
        command.add_parser(sub)
    return p


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--margin -0.01,0.03`` -> ``--margin=-0.01,0.03``: argparse would take a value that
    starts with '-' and is not a plain number for an option."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--margin" and i + 1 < len(argv) and argv[i + 1][:1] == "-" and \
                argv[i + 1][1:2] in "0123456789.":
            out.append(f"--margin={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gaugetest`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command].run(args)
    except (InputError, UsageError) as exc:
        print(f"gaugetest {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"gaugetest {args.command}: interrupted; no output file was written "
              "or left partial", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("GAUGETEST_DEBUG"):
            raise
        print(f"gaugetest {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with GAUGETEST_DEBUG=1 for a traceback, and please report it)",
              file=sys.stderr)
        return EXIT_INTERNAL
