"""``gaugetest demo``: the full test on the bundled synthetic sweeps."""
from __future__ import annotations

import argparse
import os

from .common import EXIT_OK, add_analysis_options, analysis_settings, check_outputs
from .emit import emit, emit_many


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="run the full test on bundled synthetic sweeps (64 and 36 layers)",
                       description="Run 'gaugetest test' on synthetic sweeps made by a documented, "
                                   "seeded generator (gaugetest.studies.synthetic): a 64-layer model with a "
                                   "planted E > C effect and a 36-layer model (no phase E).")
    d.add_argument("--layers", choices=("64", "36", "all"), default="all",
                   help="which demo model to run (default all: both, as a two-model run)")
    d.add_argument("--write-inputs", metavar="DIR",
                   help="also write the demo input files (synthetic-N-null.json, "
                        "synthetic-N-aligned.json) to DIR")
    add_analysis_options(d)


def run(args: argparse.Namespace) -> int:
    import json

    from ..analysis import analyze
    from ..render.files import write_text
    from ..studies.synthetic import demo_sweeps

    check_outputs(args)
    layers = (64, 36) if args.layers == "all" else (int(args.layers),)
    if args.write_inputs:
        from ..render.files import make_dir
        make_dir(args.write_inputs, "--write-inputs")
    models = []
    for n in layers:
        null, aligned = demo_sweeps(n)
        if args.write_inputs:
            base = os.path.join(args.write_inputs, f"synthetic-{n}")
            write_text(base + "-null.json", json.dumps(null, indent=1) + "\n", "--write-inputs")
            write_text(base + "-aligned.json", json.dumps(aligned, indent=1) + "\n",
                       "--write-inputs")
        models.append((f"synthetic-{n}", null, aligned))
    if len(models) == 1:
        emit(analyze(models[0][1], models[0][2], **analysis_settings(args)), args)
    else:
        from ..multi import analyze_many
        emit_many(analyze_many(models, **analysis_settings(args)), args)
    return EXIT_OK
