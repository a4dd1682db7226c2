"""The non-superiority test of the compared difference, H0: LATE − EARLY >= m_diff
(gaugetest.inference.noninferiority), and --difference-margin.

References: scipy.stats.ttest_ind(equal_var=False, alternative="less") on LATE − m_diff against
EARLY (the Welch component, and the moment methods' t test); a plain loop over the same
resample indices with the statistics module (the studentized-bootstrap component);
``Contrast.p_less(m_diff)`` of a separate fit_depth of the pooled column (the depth model);
statsmodels' Holm; consistency of every p-value with its (1 − 2 alpha) interval (p < alpha
exactly when the upper end is below m_diff) on normal, skewed, heavy-tailed, tiny and tied
samples; size at the boundary LATE − EARLY = m_diff by simulation (iid normal and lognormal
phases; AR(1) 0.5 along 64 layers for the depth model).
"""
from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import scipy.stats as st

from gaugetest import analyze
from gaugetest.errors import UsageError
from gaugetest.inference.base import InferenceInput
from gaugetest.inference.depth_model import fit_depth
from gaugetest.inference.noninferiority import from_contrast, from_t, welch_bootstrap
from gaugetest.verdict import LABELS as LABELS_
from helpers import assert_usage_error, phase_vector, sweeps_from_deltas

FAST = dict(n_boot=300, n_perm=2000)
ALPHA = 0.05


def _input(m_diff, late="E", early="C", alpha=ALPHA):
    return InferenceInput(np.zeros((1, 1)), ("pooled",), np.arange(1), ("C",), ("C",), None,
                          late, early, alpha, (-0.02, 0.02), difference_margin=m_diff)


def _lognormal(rng, size, s=0.6):
    z = rng.standard_normal(size)
    return (np.exp(s * z) - np.exp(s * s / 2)) / np.sqrt((np.exp(s * s) - 1) * np.exp(s * s))


# --------------------------------------------------------------------------- reference values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iid_welch_component_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.gamma(2.0, 0.01, 12), rng.normal(0.02, 0.015, 22)
    m = 0.02
    r = welch_bootstrap(a[:, None], b[:, None], m, ALPHA, 999, np.random.default_rng(7))[0]
    ref = st.ttest_ind(a - m, b, equal_var=False, alternative="less")
    assert r["p_t"] == pytest.approx(ref.pvalue, abs=1e-12)
    # the (1 - 2 alpha) two-sided Welch interval is the one-sided test's bound
    hi = st.ttest_ind(a, b, equal_var=False).confidence_interval(1 - 2 * ALPHA).high
    assert r["ci_high"] >= hi - 1e-12
    assert r["p_value"] == max(r["p_t"], r["p_boot"])
    assert r["statistic"] == pytest.approx(a.mean() - b.mean(), abs=1e-15)


def test_iid_bootstrap_component_by_a_plain_loop():
    """(#{t* <= (d − m)/se} + 1) / (B + 1), t* = (d* − d) / se* from each sample resampled on
    its own: the same generator gives the same indices (all of LATE's, then EARLY's)."""
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0, 0.8, 9), rng.normal(1.0, 0.5, 14)
    m, B = 0.5, 400
    r = welch_bootstrap(a[:, None], b[:, None], m, ALPHA, B, np.random.default_rng(11))[0]
    g = np.random.default_rng(11)
    ia, ib = g.integers(0, len(a), (B, len(a))), g.integers(0, len(b), (B, len(b)))
    d = statistics.fmean(a) - statistics.fmean(b)
    se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    u = (d - m) / se
    count = 0
    for k in range(B):
        ra, rb = [float(a[i]) for i in ia[k]], [float(b[i]) for i in ib[k]]
        se_k = (statistics.variance(ra) / len(ra) + statistics.variance(rb) / len(rb)) ** 0.5
        count += ((statistics.fmean(ra) - statistics.fmean(rb)) - d) / se_k <= u
    assert r["p_boot"] == pytest.approx((count + 1) / (B + 1), abs=1e-12)


def test_moment_methods_use_welch_t():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.01, 0.02, 12), rng.normal(0.0, 0.01, 22)
    se = np.hypot(a.std(ddof=1) / np.sqrt(12), b.std(ddof=1) / np.sqrt(22))
    va, vb = a.var(ddof=1) / 12, b.var(ddof=1) / 22
    df = (va + vb) ** 2 / (va ** 2 / 11 + vb ** 2 / 21)
    row = from_t(_input(0.03), "pooled", a.mean() - b.mean(), se, df)
    ref = st.ttest_ind(a - 0.03, b, equal_var=False, alternative="less")
    assert row.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    ci = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.9)
    assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert row.level == pytest.approx(0.9) and row.margin == 0.03


def _ar1_excess(seed, diff, rho=0.5, sd=0.01, n=64):
    rng = np.random.default_rng(seed)
    e = np.empty((n - 1, 7))
    e[0] = rng.standard_normal(7)
    for t in range(1, n - 1):
        e[t] = rho * e[t - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(7)
    return phase_vector(n, {"E": 0.04 + diff}, 0.04)[:, None] + sd * e


@pytest.mark.parametrize("m_diff,rule", [(None, "mixture"), (0.035, "mixture"),
                                         (None, "inflated-df")])
def test_depth_model_row_is_the_contrast_on_its_tost_distribution(m_diff, rule):
    """The robust row's p is Contrast.p_less(m_diff) of the pooled column's own fit (default
    rule) and its upper bound is the (1 − 2 alpha) bound the difference row records
    (tost_ci_high), for any m_diff; with inflated-df it is the TOST's one-sided p."""
    x = _ar1_excess(5, 0.0)
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4)
    res = analyze(null, aligned, difference_margin=m_diff, tost_rule=rule, **FAST)
    row = res.robust.noninferiority_pooled
    m = 0.02 if m_diff is None else m_diff
    assert row.margin == m == res.description.m_diff
    table = res.table
    pooled = table.with_pooled()[:, -1]
    fit = fit_depth(pooled, table.phases, table.layers,
                    known_var=table.known_var_with_pooled()[:, -1], tost_rule=rule)
    c = fit.contrast({"E": 1.0, "C": -1.0})
    if rule == "mixture":
        assert row.p_value == pytest.approx(c.p_less(m), abs=1e-12)
        assert row.ci_high == pytest.approx(c.interval(1 - 2 * ALPHA)[1], abs=1e-10)
    else:
        t = c.tost(-0.02, m, ALPHA)
        assert row.p_value == pytest.approx(t.p_upper, abs=1e-12)
        assert row.p_value >= c.p_less(m) - 1e-12          # the conservative rule
    diff = res.robust.difference.pooled
    assert row.ci_high == pytest.approx(diff.detail["tost_ci_high"], abs=1e-12)
    assert row.statistic == pytest.approx(diff.statistic, abs=1e-15)


def test_holm_across_families_like_the_difference_test():
    from statsmodels.stats.multitest import multipletests

    x = _ar1_excess(6, 0.0) + np.linspace(-0.01, 0.01, 7)[None, :]
    res = analyze(*sweeps_from_deltas(x, 64, null_level=0.4), **FAST)
    for result in (res.iid, res.robust):
        fam = [r for r in result.noninferiority if r.family != "pooled"]
        ref = multipletests([r.p_value for r in fam], method="holm")[1]
        assert [r.p_holm for r in fam] == pytest.approx(list(ref), abs=1e-12)
        assert all(r.rejected == (r.p_holm < ALPHA) for r in fam)
        pooled = result.noninferiority_pooled
        assert pooled.p_holm is None and pooled.rejected == (pooled.p_value < ALPHA)
        assert [r.family for r in result.noninferiority] == \
            [r.family for r in result.difference.rows]


# --------------------------------------------------------------------------- consistency


def _samples():
    rng = np.random.default_rng(8)
    yield rng.normal(0, 1, 12), rng.normal(0, 1, 22)
    yield _lognormal(rng, 12, 1.0), _lognormal(rng, 22, 1.0)
    yield rng.standard_t(3, 12), rng.standard_t(3, 22)
    yield rng.normal(0, 1, 3), rng.normal(0, 1, 4)              # bootstrap-t may be undefined
    yield np.array([0.0, 0.0, 1.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0])   # ties
    yield np.full(5, 0.3), np.full(6, 0.1)                      # no spread


def test_iid_p_rejects_exactly_when_the_upper_bound_is_below_m():
    for a, b in _samples():
        r0 = welch_bootstrap(a[:, None], b[:, None], 0.0, ALPHA, 999, np.random.default_rng(1))
        hi = r0[0]["ci_high"]
        for m in np.concatenate([hi + np.linspace(-1, 1, 41), [hi + 1e-9, hi - 1e-9]]):
            r = welch_bootstrap(a[:, None], b[:, None], m, ALPHA, 999,
                                np.random.default_rng(1))[0]
            assert r["ci_high"] == hi                 # the interval does not depend on m
            assert (r["p_value"] < ALPHA) == (r["ci_high"] < m), (a, b, m, r)


def test_depth_and_moment_p_reject_exactly_when_the_upper_bound_is_below_m():
    """Up to the tolerance of the depth model's root finder (1e-11 se): m within 1e-9 of the
    bound, on both sides, still decides as the bound says."""
    phases = ["C"] * 22 + ["D"] * 15 + ["E"] * 12
    for seed in range(4):
        rng = np.random.default_rng(seed)
        y = rng.standard_normal(49) * 0.01
        c = fit_depth(y, phases, np.arange(49)).contrast({"E": 1, "C": -1})
        t = c.tost(-0.02, 0.02, ALPHA)
        offsets = np.concatenate([np.linspace(-0.01, 0.01, 40), [-1e-9, 1e-9]])
        for m in t.ci_high + offsets:
            row = from_contrast(_input(float(m)), "pooled", c, t, "t")
            assert (row.p_value < ALPHA) == (row.ci_high < m)
            mom = from_t(_input(float(m)), "pooled", c.estimate, c.se, c.df)
            assert (mom.p_value < ALPHA) == (mom.ci_high < m)


# --------------------------------------------------------------------------- size and power


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_iid_size_at_the_boundary(kind):
    """LATE − EARLY = m_diff exactly, iid phases of 12 and 22 pairs, 400 replicates (MC SE 0.011
    at 0.05): the larger-p test keeps its size; Welch's t alone reaches 0.067 under this skew
    (2.3; 20000 replicates of scipy's test, docs/methodology.md)."""
    rng = np.random.default_rng(12)
    m, hits = 0.5, 0
    for _ in range(400):
        if kind == "normal":
            a, b = rng.normal(m, 1, 12), rng.normal(0, 1, 22)
        else:
            a, b = _lognormal(rng, 12) + m, _lognormal(rng, 22)
        hits += welch_bootstrap(a[:, None], b[:, None], m, ALPHA, 499, rng)[0]["p_value"] < ALPHA
    assert hits / 400 <= ALPHA + 3 * 0.011


def test_depth_model_size_at_the_boundary_and_power_at_zero():
    """AR(1) 0.5 along 64 layers (the bank's generator), E − C = m_diff exactly: the depth
    model's non-superiority test rejects at most alpha (400 replicates); at E − C = 0 with m_diff
    6 true standard errors away (the model's 90% interval is about 2.5 true standard errors
    wide on each side here) it rejects at least 0.9 of the time (0.96 seen)."""
    from gaugetest.studies.methods import METHODS, clear_fit_cache
    from gaugetest.studies.scenarios import Layout, scenario

    lay = Layout.from_map(64, "E", "C")
    rng = np.random.default_rng(13)
    y = scenario("ar1-0.5").draw(lay, 400, rng).y
    late = np.asarray(lay.phases) == "E"
    m = 1.0
    clear_fit_cache()
    res, _ = METHODS["reml-bma"][0](y + m * late, lay)
    size = float(np.mean(res.p_less("diff", np.full(400, m)) < ALPHA))
    clear_fit_cache()
    res0, _ = METHODS["reml-bma"][0](y, lay)
    ph = np.asarray(lay.phases)
    w = (ph == "E") / np.sum(ph == "E") - (ph == "C") / np.sum(ph == "C")
    sd = float(np.sqrt(w @ scenario("ar1-0.5").covariance(lay) @ w))   # true sd of E − C
    power = float(np.mean(res0.p_less("diff", np.full(400, 6 * sd)) < ALPHA))
    clear_fit_cache()
    assert size <= ALPHA + 3 * 0.011
    assert power >= 0.9


# --------------------------------------------------------------------------- the option


def test_difference_margin_defaults_to_the_margin_and_is_recorded(tmp_path, capsys):
    from gaugetest.cli import main

    x = _ar1_excess(7, 0.0)
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4)
    assert analyze(null, aligned, **FAST).settings.difference_margin == 0.02
    assert analyze(null, aligned, margin="-0.01,0.03", **FAST).description.m_diff == 0.03
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    n.write_text(json.dumps(null))
    a.write_text(json.dumps(aligned))
    assert main(["test", str(n), str(a), *"--n-boot 300 --n-perm 2000".split(),
                 "--difference-margin", "0.035", "--json", str(tmp_path / "r.json"),
                 "--csv", str(tmp_path / "csv"), "--markdown", str(tmp_path / "r.md"),
                 "--report", str(tmp_path / "rep.md")]) == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["settings"]["difference_margin"] == 0.035
    assert doc["analysis"]["difference_margin"] == 0.035
    assert doc["analysis"]["noninferiority"]["null"] == "excess(E) − excess(C) ≥ 0.035"
    for rows in (doc["noninferiority"], doc["robust"]["noninferiority"]):
        assert {r["margin"] for r in rows} == {0.035}
        assert rows[-1]["family"] == "pooled" and rows[-1]["level"] == pytest.approx(0.9)
    # every output that states the result names m_diff, the level and the test
    # (piped: plain ASCII)
    assert "H0: excess(E) - excess(C) >= 0.035" in " ".join(out.split())
    assert "< 0.035" in out and "non-superiority" in out
    assert doc["verdict"]["evidence"]["noninferiority"] in ("rejected", "not-rejected")
    assert any("m_diff = 0.035" in r and "90% upper bound" in r
               for r in doc["verdict"]["reasons"])
    md = (tmp_path / "r.md").read_text()
    assert "H0: E − C ≥ 0.035" in md and "90% CI" in md and "t test on the depth model" in md
    rep = (tmp_path / "rep.md").read_text()
    assert "H0: E − C ≥ 0.035" in rep and "90% intervals" in rep
    csv = (tmp_path / "csv" / "robust_noninferiority.csv").read_text().splitlines()
    head = csv[0].split(",")
    assert {"method", "quantity", "margin", "p_value", "ci_high", "rejected", "test"} <= set(head)
    assert (tmp_path / "csv" / "noninferiority.csv").exists()


@pytest.mark.parametrize("value", ["0", "-0.01", "abc", "nan", "inf"])
def test_bad_difference_margin_is_one_line_exit_2(tmp_path, capsys, value):
    null, aligned = sweeps_from_deltas(_ar1_excess(7, 0.0), 64, null_level=0.4)
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    n.write_text(json.dumps(null))
    a.write_text(json.dumps(aligned))
    assert_usage_error(capsys, ["test", str(n), str(a), "--difference-margin", value, "--json",
                                str(tmp_path / "x.json")], "--difference-margin", "a number > 0",
                       absent=[tmp_path / "x.json"])
    with pytest.raises(UsageError, match="--difference-margin"):
        analyze(null, aligned, difference_margin=value, **FAST)


# --------------------------------------------------------------------------- the studies


def test_verdict_study_new_truths_and_report():
    """``flat`` (excess 0.04 everywhere) and ``boundary`` (E − C = m_diff): a few replicates of
    the whole analysis, seeded; the report gains their rows and the non-superiority table."""
    from gaugetest.studies.verdict_study import SCENARIOS, run_chunk, to_markdown, StudySettings

    assert SCENARIOS[:4] == ("zero", "zero-ma1", "inside", "artifact")   # their seeds unchanged
    s = StudySettings()
    results = {}
    for sc in SCENARIOS:
        if sc in ("flat", "boundary"):
            _, n, rob, iid, ni = run_chunk((sc, 0, 3, 0, s))
        else:
            n, rob, iid = 1, {"inconclusive": 1}, {"inconclusive": 1}
            ni = {"robust": 0, "iid": 0, "robust_half_width": 0.0, "iid_half_width": 0.0}
        results[sc] = {"reps": n, "robust": {k: rob.get(k, 0) for k in LABELS_},
                       "iid": {k: iid.get(k, 0) for k in LABELS_}, "noninferiority": ni}
    assert results["flat"]["robust"]["no-late-excess"] == 3
    assert results["flat"]["noninferiority"]["robust"] == 3
    assert results["boundary"]["robust"]["no-late-excess"] == 0
    assert 0 < results["flat"]["noninferiority"]["robust_half_width"] / 3 < s.margin / 2
    md = to_markdown(results, reps=3, seed=0, command="x")
    assert "| flat: excess 0.04 in every phase (E − C = 0)" in md
    assert "## The non-superiority test" in md and "| boundary |" in md
    assert "| no-late-excess | inconclusive |" in md


def test_calibrate_boundary_command(tmp_path, capsys):
    from gaugetest.cli import main

    out, js = tmp_path / "b.md", tmp_path / "b.json"
    assert main(["calibrate", "--boundary", "--scenarios", "ar1-0.5", "--layers", "64",
                 "--reps", "20", "--seed", "3", "--output", str(out), "--json", str(js)]) == 0
    text = out.read_text()
    assert text.startswith("# Size of the non-superiority test at its boundary")
    assert "calibrate --boundary --layers 64 --scenarios ar1-0.5 --reps 20 --seed 3" in text
    assert "| AR(1) 0.5 |" in text and "64 layers E vs C: reml-bma-idf" in text
    doc = json.loads(js.read_text())
    (cell,) = doc["cells"].values()
    assert cell["reps"] == 20 and set(cell) == {"reps", "reml-bma", "reml-bma-idf", "iid"}
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ar1-0.5", "ma1-shared", "t3", "skewed", "ar2-0.2-0.5"])
def test_depth_model_size_at_the_boundary_per_process(name):
    """The robust default at E − C = m_diff on the bank's processes at 64 layers: size at most
    alpha + 3 Monte Carlo SE (1000 replicates, SE 0.007)."""
    from gaugetest.studies.boundary import boundary_study
    from gaugetest.studies.calibration import Cell
    from gaugetest.studies.scenarios import Layout, scenario

    cell = Cell(scenario(name), Layout.from_map(64, "E", "C"))
    r = boundary_study([cell], reps=1000, seed=1)[cell.key]
    assert r["reml-bma"] / 1000 <= ALPHA + 3 * 0.007
    assert r["reml-bma-idf"] <= r["reml-bma"]


def test_family_verdict_applies_the_same_rule():
    """A family of three models (28, 40, 64 layers) with the same excess, 0.04, at every depth:
    the cross-model E − C is bounded below m_diff, so the family verdict — decide() on the
    family's evidence — is no-late-excess, with the family difference's interval and the levels
    of the deciding phases in its reasons."""
    from gaugetest import analyze_models
    from gaugetest.verdict import Evidence, decide

    rng = np.random.default_rng(21)
    models = {f"m{n}": sweeps_from_deltas(0.04 + 0.004 * rng.standard_normal((n - 1, 7)), n,
                                          null_level=0.4) for n in (28, 40, 64)}
    a = analyze_models(models, **FAST).to_dict()["across_models"]
    ev, ni = a["verdict"]["evidence"], a["difference"]["noninferiority"]
    assert ev["difference"] == "not-significant" and ev["equivalence"] == "not-shown"
    assert ev["noninferiority"] == "rejected" and ni["ci_high"] < ni["margin"] == 0.02
    assert a["verdict"]["label"] == decide(Evidence(**ev)) == "no-late-excess"
    last = a["verdict"]["reasons"][-1]
    assert last.startswith("No late excess in the family")
    d = a["difference"]
    assert f"[{d['tost_ci_low']:+.4f}, {d['tost_ci_high']:+.4f}]" in last
    for r in a["equivalence"]:
        assert f"excess {r['estimate']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] in " \
               f"{r['phase']}" in last
    assert "E − C < 0.02 shown" in a["verdict"]["headline"]
