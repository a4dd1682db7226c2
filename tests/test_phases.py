"""Phase maps against the original script's ``phase_of`` (run from ../shared as the oracle)."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import ORIGINAL
from gaugetest.errors import InputError, UsageError
from gaugetest.phases import load_phase_toml, resolve_phase_map


@pytest.fixture(scope="module")
def original():
    if not ORIGINAL.exists():
        pytest.skip("shared/original/analyze_aligned.py not present")
    spec = importlib.util.spec_from_file_location("analyze_aligned", ORIGINAL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("n", range(2, 129))
def test_auto_equals_original_phase_of(original, n):
    pmap = resolve_phase_map("auto", n)
    for L in range(n - 1):
        assert pmap.phase_of(L, n) == original.phase_of(L, n), (n, L)


@pytest.mark.parametrize("preset,n_orig", [("qwen3-32b", 64), ("qwen3-4b", 36)])
def test_named_presets_force_their_map(original, preset, n_orig):
    # a named preset applies its map whatever num_layers says (here 80)
    pmap = resolve_phase_map(preset, 80)
    for L in range(n_orig - 1):
        assert pmap.phase_of(L, 80) == original.phase_of(L, n_orig)


def test_fractional_preset_on_64_layers(original):
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
