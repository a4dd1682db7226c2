"""Descriptive tables equal the original script's printed numbers to 4 decimals.

The oracle is ../shared/original/analyze_aligned.py itself, run as a subprocess on
generated inputs; its printed per-pair table and per-phase mean table are parsed and
compared with gaugetest's values in the same format.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ORIGINAL, write_json
from gaugetest import analyze
from gaugetest.render.formatting import fmt_cos
from gaugetest.studies.synthetic import synthetic_sweeps

pytestmark = pytest.mark.skipif(not ORIGINAL.exists(), reason="shared/ not present")
NUM = r"[+-]\d+\.\d{4}|N/A|—"


def run_original(null_path, aligned_path):
    out = subprocess.run([sys.executable, str(ORIGINAL), str(null_path), str(aligned_path)],
                         capture_output=True, text=True, check=True).stdout
    pair_rows, phase_rows = {}, {}
    part = 0
    for line in out.splitlines():
        if line.startswith("=== Per-phase"):
            part = 1
        elif line.startswith("=== Interpretation"):
            part = 2
        toks = line.split()
        if part == 0 and len(toks) == 16 and toks[0].isdigit():
            pair_rows[int(toks[0])] = (toks[1], toks[2:])
        elif part == 1 and len(toks) == 8 and all(re.fullmatch(NUM, t) for t in toks[1:]):
            phase_rows[toks[0]] = toks[1:]
    return pair_rows, phase_rows


@pytest.mark.parametrize("num_layers,drop", [(64, ()), (36, ()), (28, ()), (64, (3, 40, 41)),
                                             (8, ())])
def test_tables_match_original(tmp_path, num_layers, drop):
    null, aligned = synthetic_sweeps(num_layers, seed=num_layers, rho=0.3)
    for fam in aligned["aligned_cos"].values():
        for L in drop:
            fam.pop(str(L), None)
    n_path = write_json(tmp_path / "n.json", null)
    a_path = write_json(tmp_path / "a.json", aligned)
    pair_rows, phase_rows = run_original(n_path, a_path)
    res = analyze(str(n_path), str(a_path), n_boot=200, n_perm=200)
    t = res.table
    assert sorted(pair_rows) == t.layers.tolist()
    for i, L in enumerate(t.layers):
        phase, cells = pair_rows[int(L)]
        assert phase == t.phases[i]
        ours = []
        for j in range(len(t.families)):
            ours += [fmt_cos(t.raw[i, j]), fmt_cos(t.aligned[i, j])]
        assert ours == cells, L
    assert sorted(phase_rows) == sorted(t.present_phases)
    for ph, cells in phase_rows.items():
        ours = [fmt_cos(res.summary(ph, f).mean) for f in t.families]
        assert ours == cells, ph


def test_text_output_shows_the_same_numbers(tmp_path, capsys):
    null, aligned = synthetic_sweeps(64, seed=5)
    n_path = write_json(tmp_path / "n.json", null)
    a_path = write_json(tmp_path / "a.json", aligned)
    _, phase_rows = run_original(n_path, a_path)
    from gaugetest.cli import main
    assert main(["test", str(n_path), str(a_path), "--n-boot", "200", "--n-perm", "200"]) == 0
    out = capsys.readouterr().out
    for ph, cells in phase_rows.items():
        line = next(li for li in out.splitlines() if li.split()[:1] == [ph] and len(li.split()) == 9)
        assert line.split()[1:8] == cells
