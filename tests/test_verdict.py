"""The verdict rule (gaugetest.verdict) on constructed sweeps: one case per label, each built so
that the label follows from the rule by construction, and the regressions of issue 13's
defects 1 and 2 (each of these failed before the rule was rewritten)."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from gaugetest import analyze
from gaugetest.verdict import (DIFFERENCE, EQUIVALENCE, LABELS, NONINFERIORITY, Evidence,
                               decide)
from helpers import phase_vector, sweeps_from_deltas

FAST = dict(n_boot=300, n_perm=2000)


def values(mean_by_phase, default, sd, seed, n=64, phases="auto"):
    """Per pair x family values: the phase's mean plus N(0, sd) noise (no abs: an excess may
    be negative)."""
    rng = np.random.default_rng(seed)
    base = phase_vector(n, mean_by_phase, default, phases)
    return base[:, None] + rng.normal(0, sd, (n - 1, 7))


def excess_sweeps(x, n=64, **kw):
    """Sweeps whose raw file carries a matched null, so the analysed quantity is the excess
    and equals ``x``."""
    return sweeps_from_deltas(x, n, null_level=0.4, **kw)


def test_training_artifact():
    res = analyze(*excess_sweeps(values({"E": 0.05}, 0.0, 0.002, 1)), **FAST)
    assert res.description.quantity.key == "excess"
    assert res.driving.difference.pooled.p_value < 0.05
    assert res.verdict.evidence.negligible is False
    assert res.verdict.evidence.equivalence == "not-shown"
    assert res.verdict.label == "training-artifact"


def test_real_specialization():
    res = analyze(*excess_sweeps(values({"E": 0.0005}, 0.001, 0.0002, 2)), **FAST)
    assert res.driving.difference.pooled.p_value >= 0.05
    assert res.verdict.evidence.equivalence == "shown"
    assert res.verdict.label == "real-specialization"


def test_negligible_difference_when_both_phases_are_equivalent():
    # E - C = 0.005 with tiny noise: significant, but E and C are each inside +-0.02
    res = analyze(*excess_sweeps(values({"E": 0.006}, 0.001, 0.0005, 3)), **FAST)
    assert res.driving.difference.pooled.p_value < 0.05
    assert res.verdict.label == "negligible-difference"


def test_negligible_difference_inside_the_margin_without_equivalence():
    # every phase sits at 0.05 (not equivalent to 0), E at 0.056: the difference is significant
    # and its 90% interval lies inside +-0.02
    res = analyze(*excess_sweeps(values({"E": 0.056}, 0.05, 0.0005, 4)), **FAST)
    assert res.driving.difference.pooled.p_value < 0.05
    assert res.verdict.evidence.equivalence == "not-shown"
    assert res.verdict.evidence.negligible is True
    assert res.verdict.label == "negligible-difference"


def test_inconclusive():
    # E − C = +0.01 with noise sd 0.03 per family: neither E > C nor E − C < 0.02 is shown
    res = analyze(*excess_sweeps(values({"E": 0.31}, 0.30, 0.03, 5)), **FAST)
    assert res.driving.difference.pooled.p_value >= 0.05
    assert res.verdict.evidence.equivalence == "not-shown"
    assert res.verdict.evidence.noninferiority == "not-rejected"
    assert res.driving.noninferiority_pooled.ci_high >= 0.02
    assert res.verdict.label == "inconclusive"


def test_no_late_excess():
    """Every phase at +0.30, E at +0.29, noise sd 0.01: E − C is not significant, its 90%
    interval lies below m_diff = 0.02 (the margin's upper bound), and the levels are far from
    0: the training-artifact prediction is rejected, and the reasons give the difference with
    its interval and the level of each deciding phase with its interval."""
    res = analyze(*excess_sweeps(values({"E": 0.29}, 0.30, 0.01, 5)), **FAST)
    ev = res.verdict.evidence
    assert res.driving.difference.pooled.p_value >= 0.05
    assert ev.equivalence == "not-shown" and ev.noninferiority == "rejected"
    assert res.verdict.label == "no-late-excess"
    ni = res.driving.noninferiority_pooled
    assert ni.margin == 0.02 and ni.ci_high < 0.02 and ni.p_value < 0.05
    last = res.verdict.reasons[-1]
    assert last.startswith("No late excess")
    assert f"[{ni.ci_low:+.4f}, {ni.ci_high:+.4f}]" in last
    for p in ("C", "E"):
        eq = res.driving.equivalence_row(p)
        assert f"excess {eq.mean:+.4f} [{eq.ci_low:+.4f}, {eq.ci_high:+.4f}] in {p}" in last
    assert "above 0 in every deciding phase" in last
    assert "E − C < 0.02 shown" in res.verdict.headline
    # the same excess of 0.30 at every depth (E − C = 0 in truth): bounded below the default
    # m_diff, but not below a --difference-margin under the interval's upper end
    flat = analyze(*excess_sweeps(values({}, 0.30, 0.01, 5)), **FAST)
    strict = analyze(*excess_sweeps(values({}, 0.30, 0.01, 5)), difference_margin=0.002, **FAST)
    assert flat.verdict.label == "no-late-excess"
    row = strict.driving.noninferiority_pooled
    assert strict.description.m_diff == row.margin == 0.002
    assert row.ci_high == flat.driving.noninferiority_pooled.ci_high >= 0.002
    assert strict.verdict.evidence.noninferiority == "not-rejected"
    assert strict.verdict.label == "inconclusive"


def test_real_specialization_is_kept_over_no_late_excess():
    """All levels equivalent to 0 and the difference bounded: the stronger label stays."""
    res = analyze(*excess_sweeps(values({"E": 0.0005}, 0.001, 0.0002, 2)), **FAST)
    assert res.verdict.evidence.noninferiority == "rejected"
    assert res.verdict.evidence.equivalence == "shown"
    assert res.verdict.label == "real-specialization"


def test_delta_under_orthogonal_alignment_cannot_be_equivalent():
    # a delta sweep without metadata: FORMATS.md's orthogonal Procrustes is assumed, so a
    # failed TOST is not counted as evidence; the label says what is missing
    res = analyze(*sweeps_from_deltas(values({"E": 0.31}, 0.30, 0.03, 5), 64), **FAST)
    q = res.description.quantity
    assert q.key == "delta" and not q.equivalence_testable
    assert res.verdict.evidence.equivalence == "untestable-quantity"
    assert res.verdict.evidence.noninferiority == "not-rejected"
    assert res.verdict.label == "equivalence-untestable"
    assert any("untestable" in r for r in res.verdict.reasons)
    # a bounded difference of delta is no late excess; equivalence stays out of the verdict
    bounded = analyze(*sweeps_from_deltas(values({"E": 0.29}, 0.30, 0.01, 5), 64), **FAST)
    assert bounded.verdict.evidence.equivalence == "untestable-quantity"
    assert bounded.verdict.label == "no-late-excess"
    assert any("not part of this verdict" in r for r in bounded.verdict.reasons)
    assert "not part of this verdict: delta +0.3" in bounded.verdict.reasons[-1]


def test_small_late_phase_cannot_reach_alpha():
    """Defect 2: a 2-pair late phase (C(6, 2) = 15 splits, smallest p 1/15 > alpha) 15 noise sd
    above the early one was labelled real-specialization. Now the test is reported as unable
    to reach alpha and the label says the difference test is missing."""
    phases = {"C": 3, "E": 5}                  # C: L 0-3, E: L 4-5, tail: L 6
    x = values({"E": 0.03, "C": 0.0}, 0.0, 0.002, 6, n=8, phases=phases)
    res = analyze(*excess_sweeps(x, 8), phases=phases, dependence="iid", **FAST)
    t = res.iid.difference
    assert t.testable and t.min_p == pytest.approx(1 / 15)
    assert not t.reaches(0.05)
    assert res.verdict.evidence.difference == "cannot-reach-alpha"
    assert res.verdict.label == "difference-untestable"
    assert any("cannot reach alpha" in r for r in res.verdict.reasons)
    # the robust depth model borrows the dependence from the whole depth and can test 2 vs 4
    # pairs (its smallest p is not bounded by a split count): E, 15 sd above C, is significant
    rob = analyze(*excess_sweeps(x, 8), phases=phases, **FAST)
    assert rob.robust.difference.pooled.p_value < 0.05
    assert rob.verdict.label == "training-artifact"


def test_nan_pooled_statistic_is_not_significant():
    """Defect 1: with one family missing on every E pair, pooled E has no complete pair; the
    NaN difference used to get the smallest p-value and a training-artifact verdict."""
    null, aligned = sweeps_from_deltas(values({"E": 0.30}, 0.30, 0.01, 7), 64)
    for L in range(47, 59):          # phase E of the 64-layer map
        del aligned["aligned_cos"]["q_proj"][str(L)]
    for result in (analyze(null, aligned, dependence="iid", **FAST),
                   analyze(null, aligned, **FAST)):
        pooled = result.driving.difference.pooled
        assert pooled.statistic is None and pooled.p_value is None
        assert result.verdict.evidence.difference == "not-testable"
        assert result.verdict.label in ("difference-untestable", "not-testable")
        # the other families are still tested
        fam = [r for r in result.driving.difference.rows if r.family == "k_proj"][0]
        assert fam.p_value is not None


def test_not_testable():
    # one pair only: no phase has two pairs and the 36-layer map has no E
    null, aligned = sweeps_from_deltas(np.full((1, 7), 0.01), 36, layers=[12])
    res = analyze(null, aligned, **FAST)
    assert not res.permutation.testable
    assert res.verdict.label == "not-testable"
    assert any("cannot run" in r for r in res.verdict.reasons)


def test_36_layers_reports_missing_E():
    d = np.abs(np.random.default_rng(5).normal(0.001, 0.0002, (35, 7)))
    res = analyze(*excess_sweeps(d, 36), **FAST)
    assert not res.permutation.testable
    assert "no phase E" in res.permutation.reason
    assert res.verdict.label == "difference-untestable"


def test_custom_phases_make_E_testable_on_36_layers(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text("[phases]\nA = 6\nB = 9\nC = 23\nD = 28\nE = 33\n")
    d = values({}, 0.3, 0.01, 6, n=36)
    res = analyze(*sweeps_from_deltas(d, 36), phases=str(toml), **FAST)
    assert res.permutation.testable and res.permutation.n_late == 5


def test_edge_phases_report_but_do_not_decide():
    # C and E tiny and equivalent; the small edge phases A, B and tail are far from 0
    x = values({"C": 0.001, "E": 0.001, "D": 0.001}, 0.08, 0.0003, 8)
    res = analyze(*excess_sweeps(x), **FAST)
    assert res.description.equivalence_phases == ("C", "E")
    assert res.verdict.label == "real-specialization"
    assert any("reported but not deciding" in r for r in res.verdict.reasons)
    every = analyze(*excess_sweeps(x), equivalence_phases="all", **FAST)
    # with every phase deciding, the edge phases (0.08) fail equivalence: real specialization is
    # not claimed, and the bounded E − C makes it no late excess (inconclusive before issue 21)
    assert every.verdict.evidence.equivalence == "not-shown"
    assert every.verdict.evidence.noninferiority == "rejected"
    assert every.verdict.label == "no-late-excess"


@pytest.mark.parametrize("diff,negl,eq,label", [
    ("significant", False, "not-shown", "training-artifact"),
    ("significant", False, "untestable-quantity", "training-artifact"),
    ("significant", True, "not-shown", "negligible-difference"),
    ("significant", False, "shown", "negligible-difference"),
    ("not-significant", None, "shown", "real-specialization"),
    ("not-significant", None, "not-shown", "inconclusive"),
    ("not-significant", None, "untestable-quantity", "equivalence-untestable"),
    ("not-significant", None, "untestable-phases", "equivalence-untestable"),
    ("cannot-reach-alpha", None, "shown", "difference-untestable"),
    ("not-testable", None, "not-shown", "difference-untestable"),
    ("not-testable", None, "untestable-phases", "not-testable"),
])
def test_decide_without_the_noninferiority_evidence_is_the_old_rule(diff, negl, eq, label):
    """Evidence gathered without the non-superiority test (its default 'not-testable') decides
    as the rule did before it existed (0.2.0's table, kept literally)."""
    assert decide(Evidence(diff, negl, eq)) == label


def documented_table() -> list[tuple[tuple[set, set, set, set], str]]:
    """The evidence -> label table of docs/methodology.md, each cell expanded to its values."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "methodology.md").read_text()
    head = "| difference | negligible | equivalence | non-superiority | label |"
    lines = text[text.index(head):].splitlines()[2:]
    values = {"yes": True, "no": False, "—": None}
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        diff, negl, eq, ni = ({v.strip() for v in c.split(",")} for c in cells[:4])
        expand = {0: DIFFERENCE, 2: EQUIVALENCE, 3: NONINFERIORITY}
        sets = []
        for i, cell in enumerate((diff, negl, eq, ni)):
            if i == 1:
                sets.append({values[v] for v in cell} if cell != {"any"} else {True, False, None})
            else:
                sets.append(set(expand[i]) if cell == {"any"} else cell)
        rows.append((tuple(sets), cells[4].strip("`")))
    return rows


def test_decide_equals_the_documented_table_for_every_combination():
    """The label is a function of the evidence: every combination the rule can meet (negligible
    exists only for a significant difference) matches exactly one row of the documented table,
    and decide() gives that row's label."""
    table = documented_table()
    assert len(table) == 10
    for row, label in table:
        assert label in LABELS
        for cell, allowed in zip(row, (DIFFERENCE, None, EQUIVALENCE, NONINFERIORITY)):
            assert allowed is None or cell <= set(allowed), (row, cell)
    seen = set()
    for diff, eq, ni in itertools.product(DIFFERENCE, EQUIVALENCE, NONINFERIORITY):
        for negl in ((True, False, None) if diff == "significant" else (None,)):
            hits = [label for (d, n, e, i), label in table
                    if diff in d and negl in n and eq in e and ni in i]
            assert len(hits) == 1, (diff, negl, eq, ni, hits)
            assert decide(Evidence(diff, negl, eq, ni)) == hits[0], (diff, negl, eq, ni)
            seen.add(hits[0])
    assert seen == set(LABELS)        # every label is reachable


def test_reasons_carry_numbers_and_the_caveat_comes_from_the_input():
    x = values({"E": 0.35}, 0.30, 0.005, 1)
    res = analyze(*sweeps_from_deltas(x, 64), **FAST)
    text = " ".join(res.verdict.reasons)
    assert "p " in text and "alpha = 0.05" in text and "95% CI" in text
    # no shapes, no matched null in this input: the caveat says so instead of quoting Qwen3
    assert "records neither" in res.verdict.caveat and "0.37" not in res.verdict.caveat
    # with shapes in the metadata the caveat quotes the Gaussian reference at those shapes
    null, aligned = sweeps_from_deltas(x, 64)
    aligned["shapes"] = {"q_proj": [8192, 5120], "gate_proj": [25600, 5120]}
    res = analyze(null, aligned, **FAST)
    assert "0.37–0.63" in res.verdict.caveat and "Gaussian reference" in res.verdict.caveat
    # with a matched null (analysing delta on purpose) it quotes the measured null level
    res = analyze(*sweeps_from_deltas(x, 64, null_level=0.4), baseline="raw", **FAST)
    assert "matched null of this input" in res.verdict.caveat
    assert "0.43" in res.verdict.caveat            # raw 0.03 + null level 0.4


def test_a_failed_model_check_is_a_warning_and_the_fallback_is_used():
    """A period-4 pattern along depth fits none of the depth model's correlation families
    (tests/test_depth_model.py shows its Ljung-Box check rejects): the analysis says so in its
    warnings and the robust result records the failed check."""
    rng = np.random.default_rng(9)
    y = np.tile([1.0, 0.0, -1.0, 0.0], 16)[:63] * 0.01 + 0.002 * rng.standard_normal(63)
    res = analyze(*excess_sweeps(np.repeat(y[:, None], 7, axis=1)), **FAST)
    assert not res.robust.check["passed"] and "pooled" in res.robust.check["columns_failed"]
    codes = [w.code for w in res.warnings]
    assert "model-check" in codes
    assert "most conservative variance" in next(w.message for w in res.warnings
                                                 if w.code == "model-check")
