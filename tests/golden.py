"""Golden results documents: the --json output of fixed inputs, stored so that a change of layout
or of code that must not change behaviour is checked to leave every number, label and sentence
byte-identical.

The inputs are the demo sweeps (64 layers with the matched null, 36 layers without) and the stored
SmolLM2-135M runs of both gauges (tests/data). Only the fields that depend on the machine are
masked: library versions and the input paths (the sha256 of each input stays).

A change that is *meant* to change results regenerates the files, in a commit that says why::

    python tests/golden.py --update
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "golden"
DATA = HERE / "data"


def cases() -> dict:
    from gaugetest.studies.synthetic import demo_sweeps

    out = {f"demo-{n}": demo_sweeps(n) for n in (64, 36)}
    for name, prefix in (("smollm2-orthogonal", "smollm2"),
                         ("smollm2-symmetry", "smollm2-symmetry")):
        out[name] = (str(DATA / f"{prefix}-null.json"), str(DATA / f"{prefix}-aligned.json"))
    return out


def document(null, aligned) -> str:
    """The results JSON of a default run (seed 0), machine-dependent fields masked."""
    import gaugetest
    from gaugetest.render.json_out import to_json

    doc = json.loads(to_json(gaugetest.analyze(null, aligned, seed=0)))
    doc["versions"] = "masked"
    for v in doc["inputs"].values():
        v["path"] = Path(v["path"]).name if not v["path"].startswith("<") else v["path"]
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main(argv) -> int:
    if argv != ["--update"]:
        print(__doc__)
        return 2
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, (null, aligned) in cases().items():
        (GOLDEN / f"{name}.json").write_text(document(null, aligned))
        print("wrote", GOLDEN / f"{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
