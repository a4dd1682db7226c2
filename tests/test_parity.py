"""Descriptive tables equal the original script's printed numbers to 4 decimals.

The oracle is ../shared/original/analyze_aligned.py itself: its printed per-pair table and
per-phase mean table for five inputs (tests/data/original/parity-*: the inputs and the script's
output, made by ``python tests/original.py --update``) are parsed and compared with gaugetest's
values in the same format. Where the script sits beside the repository, the stored outputs are
also checked against a live run.
"""
from __future__ import annotations

import re

import pytest

from gaugetest import analyze
from gaugetest.render.formatting import fmt_cos
from original import DATA, PARITY_CASES, load_original, run_original

NUM = r"[+-]\d+\.\d{4}|N/A|—"


def parse_original(out: str):
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


def case_files(name: str):
    return (DATA / f"parity-{name}-null.json", DATA / f"parity-{name}-aligned.json",
            DATA / f"parity-{name}.out")


@pytest.mark.parametrize("name", [c[0] for c in PARITY_CASES])
def test_tables_match_original(name):
    n_path, a_path, out = case_files(name)
    pair_rows, phase_rows = parse_original(out.read_text())
    assert pair_rows and phase_rows, "the stored output has no tables"
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


def test_stored_outputs_equal_a_live_run_of_the_original():
    if load_original() is None:
        pytest.skip("the original script is not beside the repository; the stored outputs stand")
    for name, _, _ in PARITY_CASES:
        n_path, a_path, out = case_files(name)
        assert run_original(n_path, a_path) == out.read_text(), name


def test_text_output_shows_the_same_numbers(capsys):
    n_path, a_path, out = case_files("64")
    _, phase_rows = parse_original(out.read_text())
    from gaugetest.cli import main
    assert main(["test", str(n_path), str(a_path), "--n-boot", "200", "--n-perm", "200"]) == 0
    text = capsys.readouterr().out
    for ph, cells in phase_rows.items():
        line = next(li for li in text.splitlines() if li.split()[:1] == [ph] and len(li.split()) == 9)
        assert line.split()[1:8] == cells
