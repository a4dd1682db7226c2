"""``gaugetest demo``: the full test on the bundled synthetic sweeps."""
from __future__ import annotations

import argparse
import os

from .common import EXIT_OK, add_analysis_options, analysis_settings, check_outputs
from .emit import emit, emit_many


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="run the full test on bundled synthetic sweeps (a family "
                                    "of 28, 40 and 64 layers)",
                       description="Run 'gaugetest test' on synthetic sweeps made by a documented, "
                                   "seeded generator (gaugetest.studies.synthetic): by default a "
                                   "family of three models (28, 40 and 64 layers) with a planted "
                                   "E > C effect and a matched null, analysed as one family and "
                                   "model by model.")
    d.add_argument("--layers", choices=("family", "all", "64", "36"), default="family",
                   help="which demo models to run: family (default: 28, 40 and 64 layers, one "
                        "cross-model test), all (the 64-layer model and a 36-layer one without a "
                        "null and without phase E: the family is refused, each model analysed "
                        "alone), 64 or 36 (one model)")
    d.add_argument("--write-inputs", metavar="DIR",
                   help="also write the demo input files (synthetic-N-null.json, "
                        "synthetic-N-aligned.json) to DIR")
    add_analysis_options(d)


def run(args: argparse.Namespace) -> int:
    import json

    from ..analysis import analyze
    from ..render.files import write_text
    from ..studies.synthetic import FAMILY_DEPTHS, demo_sweeps, family_sweeps

    check_outputs(args)
    layers = {"all": (64, 36), "family": FAMILY_DEPTHS}.get(args.layers) or (int(args.layers),)
    make = family_sweeps if args.layers == "family" else demo_sweeps
    if args.write_inputs:
        from ..render.files import make_dir
        make_dir(args.write_inputs, "--write-inputs")
    models = []
    for n in layers:
        null, aligned = make(n)
        if args.write_inputs:
            base = os.path.join(args.write_inputs, f"synthetic-{n}")
            write_text(base + "-null.json", json.dumps(null, indent=1) + "\n", "--write-inputs")
            write_text(base + "-aligned.json", json.dumps(aligned, indent=1) + "\n",
                       "--write-inputs")
        models.append((f"synthetic-{n}", null, aligned))
    if len(models) == 1:
        emit(analyze(models[0][1], models[0][2], **analysis_settings(args)), args)
    else:
        from ..multi import analyze_models
        emit_many(analyze_models(models, **analysis_settings(args)), args)
    return EXIT_OK
