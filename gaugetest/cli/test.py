"""``gaugetest test``: analyse a raw sweep and an aligned sweep, or several models."""
from __future__ import annotations

import argparse

from ..errors import UsageError
from .common import EXIT_OK, add_analysis_options, analysis_settings, check_outputs
from .emit import emit, emit_many


def add_parser(sub) -> None:
    t = sub.add_parser("test", help="analyse a raw (null) sweep and an aligned sweep",
                       description="Analyse RAW_JSON (pair_results: raw cosines) against "
                                   "ALIGNED_JSON (aligned_cos) and print a headline, the verdict "
                                   "with its reasons, and the tables.")
    t.add_argument("null_json", nargs="?", metavar="RAW_JSON",
                   help="the raw file (*-null.json: raw cosines, and the matched null when "
                        "'gaugetest measure' wrote it)")
    t.add_argument("aligned_json", nargs="?", metavar="ALIGNED_JSON",
                   help="the aligned file (*-aligned.json: aligned cosines)")
    m = t.add_argument_group("several models")
    m.add_argument("--model", action="append", metavar="NAME=NULL.json,ALIGNED.json",
                   help="analyse a named model; repeat for several models: one cross-model test "
                        "of the family first (a shared dependence model, a family verdict), "
                        "then a verdict per model; a model column in JSON/CSV")
    m.add_argument("--manifest", metavar="FILE.toml",
                   help="models from a TOML file: [models.NAME] null = ..., aligned = ...")
    add_analysis_options(t)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze

    check_outputs(args)
    models = []
    if args.model or args.manifest:
        from ..multi import load_manifest, parse_model_option
        if args.null_json or args.aligned_json:
            raise UsageError("NULL_JSON ALIGNED_JSON", "no positional files together with "
                             "--model/--manifest (name that pair with --model too)")
        models = [parse_model_option(v) for v in args.model or []]
        if args.manifest:
            models += load_manifest(args.manifest)
    elif not (args.null_json and args.aligned_json):
        raise UsageError("NULL_JSON ALIGNED_JSON", "two input files (or --model / --manifest)")
    if models:
        from ..multi import analyze_models
        emit_many(analyze_models(models, **analysis_settings(args)), args)
        return EXIT_OK
    res = analyze(args.null_json, args.aligned_json, **analysis_settings(args))
    emit(res, args)
    return EXIT_OK
