"""Phase maps against the original script's ``phase_of``.

The boundaries are facts, stored in tests/data/original/phase_boundaries.json (made from the
original script by ``python tests/original.py --update``), so the maps are tested on any clone;
where the script sits beside the repository, the stored table is also checked against it.
"""
from __future__ import annotations

import json

import pytest

from gaugetest.errors import InputError, UsageError
from gaugetest.phases import load_phase_toml, resolve_phase_map
from original import PHASE_TABLE, load_original, phase_runs, phase_table

TABLE = json.loads(PHASE_TABLE.read_text())["phases"]


@pytest.mark.parametrize("n", range(2, 129))
def test_auto_equals_original_phase_of(n):
    pmap = resolve_phase_map("auto", n)
    assert phase_runs(pmap.phase_of, n) == TABLE[str(n)]


@pytest.mark.parametrize("preset,n_orig", [("qwen3-32b", 64), ("qwen3-4b", 36)])
def test_named_presets_force_their_map(preset, n_orig):
    # a named preset applies its map whatever num_layers says (here 80)
    pmap = resolve_phase_map(preset, 80)
    got = phase_runs(lambda L, n: pmap.phase_of(L, 80), n_orig)
    assert got == TABLE[str(n_orig)]


def test_stored_table_equals_the_original_script():
    mod = load_original()
    if mod is None:
        pytest.skip("the original script is not beside the repository; the stored table stands")
    assert phase_table(mod.phase_of) == TABLE


def test_fractional_preset_on_64_layers():
    pmap = resolve_phase_map("fractional", 64)
    # the original applies the fractional rule to any n other than 64/36; 65 layers uses it,
    # and L/64 vs L/65 differ, so compare with the rule written out
    for L in range(63):
        f = L / 64
        want = ("A" if f < .11 else "B" if f < .15 else "C" if f < .5 else "D" if f < .75
                else "E" if f < .92 else "tail")
        assert pmap.phase_of(L, 64) == want


def test_36_layer_map_has_no_E():
    assert "E" not in resolve_phase_map("auto", 36).phases


def test_toml_map(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text("[phases]\nearly = 10\nmid = 20\nlate = 30\n")
    pmap = resolve_phase_map(str(p), 40)
    assert pmap.phases == ("early", "mid", "late", "tail")
    assert [pmap.phase_of(L, 40) for L in (0, 10, 11, 20, 30, 31)] == \
        ["early", "early", "mid", "mid", "late", "tail"]


@pytest.mark.parametrize("body,field", [
    ("not toml [", "$"),
    ("[other]\na = 1\n", "phases"),
    ("[phases]\nA = 1.5\n", "phases.A"),
    ("[phases]\nA = 5\nB = 5\n", "phases.B"),
    ("[phases]\nA = 5\nB = 3\n", "phases.B"),
    ("[phases]\nA = 5\na = 9\n", "phases.a"),
    ("[phases]\nA = -1\n", "phases.A"),
    ("[phases]\nA = \"x\"\n", "phases.A"),
    ("[phases]\ntail = 4\n", "phases.tail"),
    ("[phases]\n", "phases"),
])
def test_bad_toml(tmp_path, body, field):
    p = tmp_path / "p.toml"
    p.write_text(body)
    with pytest.raises(InputError) as e:
        load_phase_toml(str(p))
    assert e.value.field == field


def test_unknown_preset():
    with pytest.raises(UsageError):
        resolve_phase_map("qwen3-99b", 64)
