"""``gaugetest power``: detectable differences and TOST power for a sweep's layout."""
from __future__ import annotations

import argparse

from .._version import __version__
from .common import EXIT_OK, add_analysis_options, analysis_settings, check_outputs


def add_parser(sub) -> None:
    pw = sub.add_parser("power", help="smallest detectable LATE-EARLY difference and TOST power "
                                      "for a sweep's layout and dependence",
                        description="Power and sensitivity for the observed layout and "
                                    "dependence: the smallest LATE-EARLY difference detectable "
                                    "with 80 percent power at alpha (per family and pooled), and "
                                    "the TOST power at the margin if the true mean of the "
                                    "analysed quantity were 0.")
    pw.add_argument("null_json", metavar="RAW_JSON", help="the raw file (*-null.json)")
    pw.add_argument("aligned_json", metavar="ALIGNED_JSON", help="the aligned file")
    add_analysis_options(pw, outputs="power")


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..render.files import write_text
    from ..render.text import render_power

    check_outputs(args)
    res = analyze(args.null_json, args.aligned_json, **analysis_settings(args))
    if args.json:
        import json
        doc = {"version": __version__, "inputs": res.inputs,
               "settings": res.settings.to_dict(), "analysis": res.description.to_dict(),
               "power": res.power.to_dict()}
        write_text(args.json, json.dumps(doc, indent=2, allow_nan=False) + "\n", "--json")
    if args.json != "-":
        render_power(res)
    return EXIT_OK
