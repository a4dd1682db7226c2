"""Command line: a thin layer over :func:`gaugetest.analyze`.

Exit codes: 0 ok; 1 internal error; 2 bad input or usage; 130 interrupted.
Heavy modules (numpy, scipy, rich) are imported only when a command runs, so
``gaugetest --help`` stays fast.
"""
from __future__ import annotations

import argparse
import os
import sys

from ._version import __version__
from .errors import InputError, UsageError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inference")
    g.add_argument("--alpha", type=float, default=0.05, metavar="A",
                   help="significance level, in (0, 0.5); CIs are 1-A (TOST: 1-2A) (default 0.05)")
    g.add_argument("--margin", default="0.02", metavar="M|LOW,HIGH",
                   help="equivalence margin for TOST: M means (-M, M); LOW,HIGH gives uneven "
                        "bounds (default 0.02)")
    g.add_argument("--n-boot", type=int, default=10_000, metavar="B",
                   help="bootstrap resamples, >= 100 (default 10000)")
    g.add_argument("--n-perm", type=int, default=100_000, metavar="M",
                   help="permutation splits: exact enumeration when the number of distinct splits "
                        "is <= M, else M random splits (default 100000)")
    g.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of every random step; same seed, same results (default 0)")
    g.add_argument("--ci", choices=("bca", "percentile", "basic"), default="bca",
                   help="bootstrap interval method (default bca; falls back to percentile, "
                        "with a note, when BCa is undefined)")
    g.add_argument("--phases", default="auto", metavar="PRESET|FILE.toml",
                   help="phase map: auto (the original script's rule), qwen3-32b, qwen3-4b, "
                        "fractional, or a TOML file with a [phases] table name = last L "
                        "(default auto)")
    g.add_argument("--compare", nargs=2, default=["E", "C"], metavar=("LATE", "EARLY"),
                   help="phases of the one-sided test delta(LATE) > delta(EARLY) (default E C)")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH",
                   help="write the full result as JSON ('-' = standard output, tables suppressed)")
    o.add_argument("--brief", action="store_true",
                   help="leave out the per-pair table and the per-family equivalence rows")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gaugetest",
                description="Hypothesis tests for Procrustes-aligned layer-weight sweeps: bootstrap "
                            "CIs, a one-sided permutation test of delta(LATE) > delta(EARLY), "
                            "equivalence (TOST) and a verdict with its reasons.",
                epilog="Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 130 interrupted. "
                       "Docs: docs/index.md")
    p.add_argument("--version", action="version", version=f"gaugetest {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("test", help="analyse a raw (null) sweep and an aligned sweep",
                       description="Analyse NULL_JSON (pair_results, raw cosines) against "
                                   "ALIGNED_JSON (aligned_cos) and print tables and a verdict.")
    t.add_argument("null_json", help="raw-cosine sweep (output of null_residual.py)")
    t.add_argument("aligned_json", help="aligned-cosine sweep (output of aligned_variation.py)")
    _add_analysis_options(t)

    d = sub.add_parser("demo", help="run the full test on bundled synthetic sweeps (64 and 36 layers)",
                       description="Run 'gaugetest test' on synthetic sweeps made by a documented, "
                                   "seeded generator (gaugetest.synthetic): a 64-layer model with a "
                                   "planted E > C effect and a 36-layer model (no phase E).")
    d.add_argument("--layers", choices=("64", "36", "all"), default="all",
                   help="which demo model to run (default all)")
    d.add_argument("--write-inputs", metavar="DIR",
                   help="also write the demo input files (synthetic-N-null.json, "
                        "synthetic-N-aligned.json) to DIR")
    _add_analysis_options(d)
    return p


def _settings(args: argparse.Namespace) -> dict:
    return dict(alpha=args.alpha, margin=args.margin, n_boot=args.n_boot, n_perm=args.n_perm,
                seed=args.seed, ci=args.ci, phases=args.phases, compare=tuple(args.compare))


def _emit(res, args) -> None:
    from .render.files import write_text
    from .render.json_out import to_json
    from .render.text import render_text

    if args.json:
        write_text(args.json, to_json(res), "--json")
    if args.json != "-":
        render_text(res, brief=args.brief)


def cmd_test(args: argparse.Namespace) -> int:
    from .analysis import analyze

    res = analyze(args.null_json, args.aligned_json, **_settings(args))
    _emit(res, args)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from .analysis import analyze
    from .render.files import write_text
    from .synthetic import demo_sweeps

    layers = (64, 36) if args.layers == "all" else (int(args.layers),)
    if args.json and len(layers) > 1:
        raise UsageError("--json", "one demo model (add --layers 64 or --layers 36)", args.json)
    if args.write_inputs and not os.path.isdir(args.write_inputs):
        raise UsageError("--write-inputs", "an existing directory", args.write_inputs)
    results = []
    for n in layers:
        null, aligned = demo_sweeps(n)
        if args.write_inputs:
            base = os.path.join(args.write_inputs, f"synthetic-{n}")
            write_text(base + "-null.json", json.dumps(null, indent=1) + "\n", "--write-inputs")
            write_text(base + "-aligned.json", json.dumps(aligned, indent=1) + "\n",
                       "--write-inputs")
        results.append(analyze(null, aligned, **_settings(args)))
    for i, res in enumerate(results):
        if i:
            print("\n" + "=" * 100 + "\n")
        _emit(res, args)
    return EXIT_OK


COMMANDS = {"test": cmd_test, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gaugetest`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
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
