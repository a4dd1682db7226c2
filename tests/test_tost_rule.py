"""``--tost-rule``: the user's choice of the distribution the robust (reml-bma) equivalence test
uses (docs/tost-study.md compares the rules on the scenario bank).

The rule itself is checked against scipy.stats.t in tests/test_depth_model.py; here: the option
reaches the analysis, the conservative rule is conservative on real data (its TOST intervals
contain the default's, from the construction 2/df' = 2/df + Var(log se^2) >= 2/df), and every
output that names the robust TOST names the rule."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaugetest import analyze
from gaugetest.inference.depth_model import TOST_RULES
from gaugetest.errors import UsageError
from gaugetest.settings import TOST_RULE_CHOICES
from helpers import assert_usage_error

DATA = Path(__file__).parent / "data"
N, A = DATA / "smollm2-null.json", DATA / "smollm2-aligned.json"
FAST = dict(n_boot=300, n_perm=2000)


def test_choices_are_rules_of_the_depth_model():
    assert set(TOST_RULE_CHOICES) <= set(TOST_RULES) and TOST_RULE_CHOICES[0] == "mixture"


def test_default_is_the_mixture_and_the_conservative_rule_widens_every_tost_interval():
    base = analyze(N, A, phases="fractional", **FAST)
    idf = analyze(N, A, phases="fractional", tost_rule="inflated-df", **FAST)
    assert base.robust.tost_rule == "mixture" and idf.robust.tost_rule == "inflated-df"
    assert idf.to_dict()["settings"]["tost_rule"] == "inflated-df"
    # everything but the TOST is the same model
    assert [r.ci_low for r in base.robust.phase_summary] == \
        [r.ci_low for r in idf.robust.phase_summary]
    assert base.robust.difference.rows[-1].p_value == idf.robust.difference.rows[-1].p_value
    pairs = [(b, i) for b, i in zip(base.robust.equivalence, idf.robust.equivalence)
             if b.ci_low is not None]
    assert len(pairs) >= 30
    wider = 0
    for b, i in pairs:
        assert (b.phase, b.family) == (i.phase, i.family)
        assert i.ci_low <= b.ci_low + 1e-12 and i.ci_high >= b.ci_high - 1e-12, (b.phase,
                                                                                  b.family)
        wider += (i.ci_high - i.ci_low) > (b.ci_high - b.ci_low) * (1 + 1e-9)
        if b.equivalent is False:
            assert i.equivalent is False          # a stricter test never gains equivalence
    assert wider >= len(pairs) // 2
    # the iid analysis does not depend on the rule
    assert [r.p_value for r in base.iid.equivalence] == [r.p_value for r in idf.iid.equivalence]


def test_every_output_names_the_rule(tmp_path, capsys):
    from gaugetest.cli import main

    argv = ["test", str(N), str(A), "--phases", "fractional", "--n-boot", "300", "--n-perm",
            "2000", "--tost-rule", "inflated-df", "--json", str(tmp_path / "r.json"),
            "--report", str(tmp_path / "r.md"), "--latex", str(tmp_path / "t.tex"),
            "--csv", str(tmp_path / "csv"), "--full"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    head = text.split("Why")[0]
    assert "TOST (inflated-df rule)" in " ".join(head.split())
    assert "(inflated-df rule)" in text.split("Why")[1]          # the verdict's reasons
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["robust"]["tost_name"] == "robust (reml-bma) TOST (inflated-df rule)"
    rep = (tmp_path / "r.md").read_text()
    assert "degrees of freedom reduced" in rep and "on the same distribution" not in rep
    assert "inflated-df rule" in (tmp_path / "t.tex").read_text()
    csv = (tmp_path / "csv" / "robust_equivalence.csv").read_text().splitlines()
    assert csv[0].split(",")[1] == "tost_rule" and csv[1].split(",")[1] == "inflated-df"


def test_default_outputs_do_not_mention_a_rule(tmp_path, capsys):
    from gaugetest.cli import main

    assert main(["test", str(N), str(A), "--n-boot", "300", "--n-perm", "2000",
                 "--report", str(tmp_path / "r.md")]) == 0
    assert " rule)" not in capsys.readouterr().out
    assert "on the same distribution" in (tmp_path / "r.md").read_text()


def test_bad_rule_or_a_rule_for_another_method_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(UsageError, match="--tost-rule"):
        analyze(N, A, tost_rule="level", **FAST)
    assert_usage_error(capsys, ["test", str(N), str(A), "--dependence", "neff", "--tost-rule",
                                "inflated-df", "--json", str(tmp_path / "x.json")],
                       "--tost-rule", "reml-bma", absent=[tmp_path / "x.json"])
