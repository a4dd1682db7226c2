"""Facts from the original analysis script, kept in the repository so the tests need no sibling
folder: its phase boundaries, and its printed tables for the parity inputs.

The script (``shared/original/analyze_aligned.py``, beside the repository on developer machines,
not part of it) is the source of both; with it present, the tests also check that the stored
facts still equal what it gives, and this file regenerates them::

    python tests/original.py --update
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from conftest import ORIGINAL

DATA = Path(__file__).resolve().parent / "data" / "original"
PHASE_TABLE = DATA / "phase_boundaries.json"

#: Parity inputs: (name, num_layers, pairs dropped from the aligned file).
PARITY_CASES = (("64", 64, ()), ("36", 36, ()), ("28", 28, ()), ("64-gaps", 64, (3, 40, 41)),
                ("8", 8, ()))


def load_original():
    """The original script as a module (None when it is not beside the repository)."""
    if not ORIGINAL.exists():
        return None
    spec = importlib.util.spec_from_file_location("analyze_aligned", ORIGINAL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def phase_runs(phase_of, n: int) -> list:
    """[[phase, first L, last L], ...] of ``phase_of(L, n)`` over the pairs L = 0 .. n - 2."""
    runs: list = []
    for L in range(n - 1):
        p = phase_of(L, n)
        if runs and runs[-1][0] == p:
            runs[-1][2] = L
        else:
            runs.append([p, L, L])
    return runs


def phase_table(phase_of) -> dict:
    return {str(n): phase_runs(phase_of, n) for n in range(2, 129)}


def parity_inputs(name: str, num_layers: int, drop) -> tuple[dict, dict]:
    from gaugetest.studies.synthetic import synthetic_sweeps

    null, aligned = synthetic_sweeps(num_layers, seed=num_layers, rho=0.3)
    for fam in aligned["aligned_cos"].values():
        for L in drop:
            fam.pop(str(L), None)
    return null, aligned


def run_original(null_path, aligned_path) -> str:
    """The script's printed output for two files of one folder, run from that folder with bare
    file names (it prints the path it was given, which must not depend on the clone's place)."""
    null_path, aligned_path = Path(null_path), Path(aligned_path)
    return subprocess.run([sys.executable, str(ORIGINAL), null_path.name, aligned_path.name],
                          cwd=aligned_path.parent, capture_output=True, text=True,
                          check=True).stdout


def update() -> None:
    mod = load_original()
    if mod is None:
        raise SystemExit(f"the original script is not at {ORIGINAL}")
    DATA.mkdir(parents=True, exist_ok=True)
    PHASE_TABLE.write_text(json.dumps(
        {"source": "phase_of(L, num_layers) of shared/original/analyze_aligned.py for every pair "
                   "L = 0 .. num_layers - 2, num_layers = 2 .. 128",
         "format": "num_layers -> [[phase, first L, last L], ...] in depth order",
         "made_by": "python tests/original.py --update",
         "phases": phase_table(mod.phase_of)}, separators=(",", ":")) + "\n")
    for name, n, drop in PARITY_CASES:
        null, aligned = parity_inputs(name, n, drop)
        npath, apath = DATA / f"parity-{name}-null.json", DATA / f"parity-{name}-aligned.json"
        npath.write_text(json.dumps(null, separators=(",", ":")) + "\n")
        apath.write_text(json.dumps(aligned, separators=(",", ":")) + "\n")
        (DATA / f"parity-{name}.out").write_text(run_original(npath, apath))
    print(f"wrote {DATA}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        print(__doc__)
        raise SystemExit(2)
    update()
