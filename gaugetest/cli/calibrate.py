"""``gaugetest calibrate``: the scenario bank, or the verdict study (``--verdict``)."""
from __future__ import annotations

import argparse
import os

from ..errors import UsageError
from .common import EXIT_OK, at_least, progress_bar


def add_parser(sub) -> None:
    c = sub.add_parser("calibrate", help="size, coverage, TOST size and power of every "
                                         "robust method on the scenario bank",
                       description="Calibration study: simulate pooled delta series from the "
                                   "scenario bank (AR, MA, long memory, drift, heavy tails, "
                                   "outliers, heteroscedastic phases, skew, residuals of a real "
                                   "sweep) for real layouts, and report for every method its "
                                   "size, interval coverage, TOST size and power against the "
                                   "GLS oracle, each with its Monte Carlo standard error.")
    c.add_argument("--scenarios", nargs="+", metavar="NAME",
                   help="scenarios of the bank to run (default: all; see --list)")
    c.add_argument("--verdict", action="store_true",
                   help="instead of the bank, simulate whole analyses with a known truth (excess "
                        "0 everywhere, a difference inside the margin, a training artifact, the "
                        "same excess at every depth, E - C exactly on the non-superiority "
                        "margin) and count how often each verdict label comes out and how often "
                        "the non-superiority test rejects (uses --reps, --seed, --jobs, "
                        "--output)")
    c.add_argument("--boundary", action="store_true",
                   help="instead of the bank's metrics, the size of the non-superiority test of "
                        "LATE - EARLY at its boundary (LATE - EARLY = m_diff, --margin-se true "
                        "standard errors) for every scenario and layout: the robust default, its "
                        "inflated-df rule and the iid test (uses --scenarios, --layers, --reps, "
                        "--seed, --alpha, --margin-se, --jobs, --output)")
    c.add_argument("--across", action="store_true",
                   help="instead of the bank, the across-models bank: families of K = 2, 3, 4, "
                        "6 models (depths from 28, 36, 40, 64 layers, per-model noise scales, "
                        "common and heterogeneous effects) and every rule of the family test "
                        "against an oracle that knows every model's covariance (uses "
                        "--scenarios (and 'mixed'), --ks, --methods, --reps, --seed, --jobs, "
                        "--checkpoint, --output, --json; docs/across-models.md)")
    c.add_argument("--ks", type=int, nargs="+", metavar="K",
                   help="with --across: family sizes (default 2 3 4 6)")
    c.add_argument("--list", action="store_true",
                   help="print the scenario bank and the methods, then exit")
    c.add_argument("--layers", type=int, nargs="+", metavar="N",
                   help="layer counts to simulate with --phases and --compare (default: 64 "
                        "layers E vs C, 36 layers D vs C, 28 layers E vs C)")
    c.add_argument("--phases", default="auto", metavar="PRESET|FILE.toml",
                   help="phase map for --layers (default auto)")
    c.add_argument("--compare", nargs=2, default=["E", "C"], metavar=("LATE", "EARLY"),
                   help="phases compared with --layers (default E C)")
    c.add_argument("--methods", nargs="+", metavar="M",
                   help="methods to compare, the first one reported in full (default: "
                        "reml-bma reml-bma-short reml-ar1 reml-bma-noskew reml-bma-nocheck "
                        "neff hac iid; also glsar block sieve, and the TOST rules "
                        "reml-bma-tost-level reml-bma-tost-q90 reml-bma-tost-region "
                        "reml-bma-tost-idf of docs/tost-study.md)")
    c.add_argument("--reps", type=int, default=2000,
                   help="replicates per scenario and layout (default 2000)")
    c.add_argument("--power", type=float, default=0.8,
                   help="the effect for the power column is the one the GLS oracle detects "
                        "with this power (default 0.8)")
    c.add_argument("--margin-se", type=float, default=3.0,
                   help="TOST margin, in true standard errors of the estimate, at which the "
                        "TOST size is measured (default 3)")
    c.add_argument("--alpha", type=float, default=0.05, help="level (default 0.05)")
    c.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    c.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    c.add_argument("--checkpoint", metavar="PATH",
                   help="record finished chunks in PATH (JSON lines) and skip the ones already "
                        "there: an interrupted run resumes where it stopped")
    c.add_argument("--output", metavar="PATH",
                   help="write the Markdown report to PATH (e.g. docs/calibration.md)")
    c.add_argument("--json", metavar="PATH", help="write the counts of every cell as JSON")


_CALIBRATE_DEFAULTS = {"scenarios": None, "phases": "auto", "compare": ["E", "C"],
                       "methods": None, "reps": 2000, "power": 0.8, "margin_se": 3.0,
                       "alpha": 0.05, "seed": 0}


def _calibrate_options(args: argparse.Namespace) -> list[str]:
    """The options that reproduce this study (non-default ones; --jobs and --checkpoint do
    not change the numbers)."""
    out: list[str] = []
    if args.layers:
        out += ["--layers", *map(str, args.layers)]
    for key, default in _CALIBRATE_DEFAULTS.items():
        value = getattr(args, key)
        if key in ("phases", "compare") and not args.layers:
            continue
        if value != default:
            flag = "--" + key.replace("_", "-")
            out += [flag, *map(lambda v: f"{v:g}" if isinstance(v, float) else str(v),
                               value if isinstance(value, list) else [value])]
    for key in ("output", "json"):
        if getattr(args, key):
            out += ["--" + key, getattr(args, key)]
    return out


def _verdict_study(args: argparse.Namespace) -> int:
    import shlex

    from ..render.files import write_text
    from ..studies.verdict_study import SCENARIOS, to_markdown, verdict_study

    at_least("--reps", args.reps, 10)
    at_least("--jobs", args.jobs, 1)
    if args.output:
        from ..render.files import check_file_target
        check_file_target(args.output, "--output")
    bar, advance = progress_bar("simulating analyses", args.reps * len(SCENARIOS))
    with bar:
        results = verdict_study(args.reps, args.seed, args.jobs, advance)
    argv = ["gaugetest", "calibrate", "--verdict", "--reps", str(args.reps), "--seed",
            str(args.seed)] + (["--output", args.output] if args.output else [])
    md = to_markdown(results, reps=args.reps, seed=args.seed, command=shlex.join(argv))
    if args.output:
        write_text(args.output, md, "--output")
    print(md)
    return EXIT_OK


def _boundary_study(args: argparse.Namespace, cells) -> int:
    import shlex

    from ..render.files import write_text
    from ..studies.boundary import boundary_study, to_markdown

    bar, advance = progress_bar("simulating the boundary", args.reps * len(cells))
    with bar:
        results = boundary_study(cells, reps=args.reps, seed=args.seed, alpha=args.alpha,
                                 margin_se=args.margin_se, jobs=args.jobs, progress=advance)
    argv = ["gaugetest", "calibrate", "--boundary"] + _calibrate_options(args)
    md = to_markdown(cells, results, reps=args.reps, alpha=args.alpha, margin_se=args.margin_se,
                     command=shlex.join(argv))
    if args.output:
        write_text(args.output, md, "--output")
    if args.json:
        import json
        doc = {"settings": {"reps": args.reps, "seed": args.seed, "alpha": args.alpha,
                            "margin_se": args.margin_se, "command": shlex.join(argv)},
               "cells": results}
        write_text(args.json, json.dumps(doc, indent=1, sort_keys=True) + "\n", "--json")
    print(md)
    return EXIT_OK


def _across(args: argparse.Namespace) -> int:
    import json
    import shlex

    from ..render.files import write_text
    from ..studies.across import DEFAULT_ACROSS_METHODS, KS, MIXED, across_cells, calibrate_across
    from ..studies.across_report import to_json, to_markdown
    from ..studies.scenarios import BANK

    at_least("--reps", args.reps, 10)
    at_least("--jobs", args.jobs, 1)
    known = {s.name for s in BANK} | {"mixed"}
    for name in args.scenarios or []:
        if name not in known:
            raise UsageError("--scenarios", f"names from the bank or mixed "
                             f"({', '.join(sorted(known))})", name)
    for k in args.ks or []:
        if k < 2:
            raise UsageError("--ks", "family sizes >= 2", k)
    methods = tuple(args.methods or DEFAULT_ACROSS_METHODS)
    valid = set(DEFAULT_ACROSS_METHODS)
    for m in methods:
        if m not in valid:
            raise UsageError("--methods", f"one of {', '.join(DEFAULT_ACROSS_METHODS)}", m)
    for path, opt in ((args.output, "--output"), (args.json, "--json")):
        if path and os.path.isdir(path):
            raise UsageError(opt, "a file path", path)
    cells = across_cells(args.scenarios, tuple(args.ks or KS))
    bar, advance = progress_bar("calibrating families", args.reps * len(cells))
    with bar:
        totals = calibrate_across(cells, methods, reps=args.reps, seed=args.seed,
                                  alpha=args.alpha, power=args.power,
                                  margin_se=args.margin_se, jobs=args.jobs, progress=advance,
                                  checkpoint=args.checkpoint)
    argv = ["gaugetest", "calibrate", "--across"]
    if args.scenarios:
        argv += ["--scenarios", *args.scenarios]
    if args.ks:
        argv += ["--ks", *map(str, args.ks)]
    if args.methods:
        argv += ["--methods", *args.methods]
    for key in ("reps", "seed", "alpha", "power", "margin_se"):
        value = getattr(args, key)
        if value != _CALIBRATE_DEFAULTS[key]:
            argv += ["--" + key.replace("_", "-"), f"{value:g}" if isinstance(value, float)
                     else str(value)]
    for key in ("output", "json"):
        if getattr(args, key):
            argv += ["--" + key, getattr(args, key)]
    md = to_markdown(cells, totals, methods, reps=args.reps, seed=args.seed, alpha=args.alpha,
                     power=args.power, margin_se=args.margin_se, command=shlex.join(argv))
    if args.json:
        settings = {"methods": list(methods), "reps": args.reps, "seed": args.seed,
                    "alpha": args.alpha, "power": args.power, "margin_se": args.margin_se,
                    "mixed": list(MIXED), "command": shlex.join(argv)}
        write_text(args.json, json.dumps(to_json(cells, totals, settings), indent=1,
                                         sort_keys=True) + "\n", "--json")
    if args.output:
        write_text(args.output, md, "--output")
    print(md)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    import shlex

    from ..phases import resolve_phase_map
    from ..studies.calibration import Cell, bank_cells, calibrate
    from ..studies.calibration_report import to_json, to_markdown
    from ..studies.methods import DEFAULT_METHODS, METHODS
    from ..render.files import write_text
    from ..studies.scenarios import BANK, DEFAULT_LAYOUTS, Layout, scenario

    if args.verdict:
        return _verdict_study(args)
    if args.across:
        return _across(args)
    if args.list:
        print("Scenarios (--scenarios):")
        for sc in BANK:
            print(f"  {sc.name:16s} {sc.label}: {sc.description}")
        print("Methods (--methods):")
        for name, (_, desc) in METHODS.items():
            print(f"  {name:18s} {desc}")
        return EXIT_OK
    at_least("--reps", args.reps, 10)
    at_least("--jobs", args.jobs, 1)
    if not 0 < args.alpha < 0.5:
        raise UsageError("--alpha", "a number in (0, 0.5)", args.alpha)
    if not 0 < args.power < 1:
        raise UsageError("--power", "a number in (0, 1)", args.power)
    if not args.margin_se > 0:
        raise UsageError("--margin-se", "a positive number", args.margin_se)
    known = {s.name for s in BANK}
    for name in args.scenarios or []:
        if name not in known:
            raise UsageError("--scenarios", f"names from the bank ({', '.join(sorted(known))})",
                             name)
    methods = tuple(args.methods or DEFAULT_METHODS)
    for name in methods:
        if name not in METHODS:
            raise UsageError("--methods", f"one of {', '.join(METHODS)}", name)
    if args.layers:
        layouts = []
        for n in args.layers:
            if n < 4:
                raise UsageError("--layers", "layer counts >= 4", n)
            pmap = resolve_phase_map(args.phases, n)
            counts = {p: sum(pmap.phase_of(L, n) == p for L in range(n - 1)) for p in pmap.phases}
            for ph in args.compare:
                if counts.get(ph, 0) < 3:
                    raise UsageError("--compare", f"phases with >= 3 pairs in a {n}-layer model "
                                     f"({', '.join(f'{k}={v}' for k, v in counts.items())})", ph)
            layouts.append((n, args.compare[0], args.compare[1]))
        cells = [Cell(scenario(s), Layout.from_map(n, late, early, args.phases))
                 for s in (args.scenarios or [b.name for b in BANK])
                 for n, late, early in layouts]
    else:
        cells = bank_cells(args.scenarios, DEFAULT_LAYOUTS)
    for path, opt in ((args.output, "--output"), (args.json, "--json")):
        if path and os.path.isdir(path):
            raise UsageError(opt, "a file path", path)
    if args.boundary:
        return _boundary_study(args, cells)
    bar, advance = progress_bar("calibrating replicates", args.reps * len(cells))
    with bar:
        totals = calibrate(cells, methods, reps=args.reps, seed=args.seed, alpha=args.alpha,
                           power=args.power, margin_se=args.margin_se, jobs=args.jobs,
                           progress=advance, checkpoint=args.checkpoint)
    argv = ["gaugetest", "calibrate"] + _calibrate_options(args)
    md = to_markdown(cells, totals, methods, reps=args.reps, seed=args.seed, alpha=args.alpha,
                     power=args.power, margin_se=args.margin_se, command=shlex.join(argv))
    if args.json:
        import json
        settings = {"methods": list(methods), "reps": args.reps, "seed": args.seed,
                    "alpha": args.alpha, "power": args.power, "margin_se": args.margin_se,
                    "command": shlex.join(argv)}
        write_text(args.json, json.dumps(to_json(cells, totals, settings), indent=1,
                                         sort_keys=True) + "\n", "--json")
    if args.output:
        write_text(args.output, md, "--output")
    print(md)
    return EXIT_OK
