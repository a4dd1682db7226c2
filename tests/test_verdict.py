"""The verdict rule on constructed sweeps, one case per label (rule: gaugetest.verdict)."""
from __future__ import annotations

import numpy as np
import pytest

from gaugetest import analyze
from gaugetest.verdict import decide
from helpers import phase_vector, sweeps_from_deltas

FAST = dict(n_boot=300, n_perm=2000)


def noisy(mean_by_phase, default, sd, seed, n=64):
    rng = np.random.default_rng(seed)
    base = phase_vector(n, mean_by_phase, default)
    return np.abs(base[:, None] + rng.normal(0, sd, (n - 1, 7)))


def test_training_artifact():
    res = analyze(*sweeps_from_deltas(noisy({"E": 0.35}, 0.30, 0.005, 1), 64), **FAST)
    assert res.verdict.label == "training-artifact"
    assert res.permutation.pooled.p_value < 0.05
    assert res.equivalence_everywhere is False


def test_real_specialization():
    d = noisy({"E": 0.0005}, 0.001, 0.0002, 2)
    res = analyze(*sweeps_from_deltas(d, 64), **FAST)
    assert res.permutation.pooled.p_value >= 0.05
    assert res.equivalence_everywhere is True
    assert res.verdict.label == "real-specialization"


def test_mixed():
    d = noisy({"E": 0.006}, 0.001, 0.0005, 3)
    res = analyze(*sweeps_from_deltas(d, 64), **FAST)
    assert res.permutation.pooled.p_value < 0.05 and res.equivalence_everywhere
    assert res.verdict.label == "mixed"


def test_inconclusive():
    d = noisy({"E": 0.29}, 0.30, 0.01, 4)
    res = analyze(*sweeps_from_deltas(d, 64), **FAST)
    assert res.permutation.pooled.p_value >= 0.05 and res.equivalence_everywhere is False
    assert res.verdict.label == "inconclusive"


def test_not_testable():
    # one pair only: no phase has two pairs and the 36-layer map has no E
    null, aligned = sweeps_from_deltas(np.full((1, 7), 0.01), 36, layers=[12])
    res = analyze(null, aligned, **FAST)
    assert not res.permutation.testable
    assert res.equivalence_everywhere is None
    assert res.verdict.label == "not-testable"
    assert any("not testable" in r for r in res.verdict.reasons)


def test_36_layers_reports_missing_E_and_still_decides():
    d = np.abs(np.random.default_rng(5).normal(0.001, 0.0002, (35, 7)))
    res = analyze(*sweeps_from_deltas(d, 36), **FAST)
    assert not res.permutation.testable
    assert "no phase E" in res.permutation.reason and "--phases" in res.permutation.reason
    assert res.verdict.label == "real-specialization"


def test_custom_phases_make_E_testable_on_36_layers(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text("[phases]\nA = 6\nB = 9\nC = 23\nD = 28\nE = 33\n")
    d = noisy({}, 0.3, 0.01, 6, n=36)
    res = analyze(*sweeps_from_deltas(d, 36), phases=str(toml), **FAST)
    assert res.permutation.testable and res.permutation.n_late == 5


@pytest.mark.parametrize("sig,eq,label", [(True, False, "training-artifact"),
                                          (False, True, "real-specialization"),
                                          (True, True, "mixed"), (False, False, "inconclusive"),
                                          (None, None, "not-testable"),
                                          (None, True, "real-specialization"),
                                          (True, None, "training-artifact")])
def test_decide_table(sig, eq, label):
    assert decide(sig, eq) == label


def test_reasons_carry_numbers_and_caveat():
    res = analyze(*sweeps_from_deltas(noisy({"E": 0.35}, 0.30, 0.005, 1), 64), **FAST)
    text = " ".join(res.verdict.reasons)
    assert "p = " in text and "alpha = 0.05" in text
    assert "0.37-0.95" in res.verdict.caveat
