"""Regressions of the eleven defects of the independent audit of 0.2.0 (issue 22). Each test
rebuilds the reviewer's case; the reference values come from the construction of the data, a
closed form or scipy, as each test says."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gaugetest import analyze
from gaugetest.cli import main
from gaugetest.errors import InputError, UsageError
from gaugetest.inference.permutation import permutation_pvalue
from helpers import assert_usage_error, phase_vector, sweeps_from_deltas

FAST = dict(n_boot=200, n_perm=2000)
SMALL = ["--n-boot", "200", "--n-perm", "500"]


def symmetry(null, aligned):
    """Mark both files as measured under the symmetry gauge (delta ~ 0 is then testable)."""
    null["gauge"] = aligned["gauge"] = "symmetry"
    return null, aligned


def all_p_values(doc):
    """Every number under a key that names a p-value, anywhere in a results document."""
    out = []

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, float) and (key.startswith("p_") or key in ("pvalue", "min_p")):
            out.append((key, x))

    walk(doc)
    return out


# --------------------------------------------------------------------------- defect 1


@pytest.mark.parametrize("option,name", [("--latex", "x.tex"), ("--markdown", "x.md"),
                                         ("--report", "x-report.md")])
def test_1_iid_driving_analysis_renders_every_document(tmp_path, capsys, option, name):
    """`--dependence iid` with --latex/--markdown ended in KeyError 'tost_name' (exit 1) after
    the JSON had been written. Every export now names the iid TOST."""
    out = tmp_path / name
    code = main(["demo", "--layers", "64", "--dependence", "iid", option, str(out),
                 "--json", str(tmp_path / "r.json")] + SMALL)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = out.read_text()
    assert "iid TOST" in text or option == "--report"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["iid"]["tost_name"] == "iid TOST"


def test_1_iid_driving_analysis_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code = main(["demo", "--layers", "64", "--dependence", "iid", "--plot",
                 str(tmp_path / "plots")] + SMALL)
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "plots" / "forest.pdf").exists()


def test_1_a_failing_export_leaves_no_file(tmp_path, capsys, monkeypatch):
    """Nothing is half-written: every document is rendered before the first file is written,
    so an export that fails leaves neither the JSON nor the CSV behind."""
    import gaugetest.render.documents as documents

    def broken(doc, model=None):
        raise KeyError("boom")

    monkeypatch.setattr(documents, "latex_document", broken)
    code = main(["demo", "--layers", "64", "--json", str(tmp_path / "r.json"), "--csv",
                 str(tmp_path / "csv"), "--latex", str(tmp_path / "x.tex")] + SMALL)
    capsys.readouterr()
    assert code == 1
    assert not (tmp_path / "r.json").exists()
    assert not (tmp_path / "csv").exists() or not any((tmp_path / "csv").iterdir())


# --------------------------------------------------------------------------- defect 2


@pytest.mark.parametrize("margin", ["0.01,0.05", "-0.05,-0.01", "0,0.05", "-0.05,0"])
def test_2_margin_must_contain_zero(tmp_path, capsys, sweep_files, margin):
    null, aligned = sweep_files(*sweeps_from_deltas(np.full((63, 3), 0.03), 64,
                                                    families=("q_proj", "k_proj", "v_proj")))
    assert_usage_error(capsys, ["test", str(null), str(aligned), "--margin", margin,
                                "--json", str(tmp_path / "r.json")],
                       "--margin", "LOW < 0 < HIGH", absent=[tmp_path / "r.json"])
    with pytest.raises(UsageError):
        analyze(str(null), str(aligned), margin=tuple(float(v) for v in margin.split(",")))


def test_2_excess_of_0030_is_not_real_specialization_under_an_uneven_margin():
    # the reviewer's data: excess 0.030 everywhere; a margin that contains 0 but not 0.03
    x = 0.03 + 0.001 * np.random.default_rng(0).standard_normal((63, 7))
    res = analyze(*sweeps_from_deltas(x, 64, null_level=0.4), margin=(-0.01, 0.02), **FAST)
    assert res.verdict.label != "real-specialization"


# --------------------------------------------------------------------------- defect 3


def constant_run(dependence="robust", value=0.01, **kw):
    null, aligned = symmetry(*sweeps_from_deltas(np.full((63, 7), value), 64))
    return analyze(null, aligned, dependence=dependence, **FAST, **kw)


def test_3_constant_values_are_known_exactly_under_the_depth_model():
    """A constant delta of 0.01: given the data model each phase mean is known exactly, so the
    TOST interval is the point 0.01 inside the margin (equivalent, p = 0), the E - C test
    compares two equal known means (p = 1, not NaN), the TOST power is 1, and the label is the
    one every other analysis gives."""
    res = constant_run()
    for phase in ("C", "E"):
        e = res.robust.equivalence_row(phase)
        assert e.ci_low == pytest.approx(0.01, abs=1e-15)
        assert e.ci_high == pytest.approx(0.01, abs=1e-15)
        assert e.p_value == 0.0 and e.equivalent is True
        assert res.power.tost[phase] == 1.0
    d = res.robust.difference.pooled
    assert d.p_value == 1.0
    assert d.ci_low <= d.statistic <= d.ci_high
    assert res.verdict.evidence.difference == "not-significant"
    assert res.verdict.label == "real-specialization"
    for dep in ("iid", "neff", "hac"):
        assert constant_run(dep).verdict.label == "real-specialization", dep


def test_3_constant_up_to_rounding_is_constant():
    """The same 0.01 as aligned - raw of varying cosines: the values differ by rounding
    (~1e-17), which is no spread (inference.spread); every analysis says the same."""
    raw = np.random.default_rng(30).uniform(0.1, 0.9, (63, 7))
    null, aligned = symmetry(*sweeps_from_deltas(np.full((63, 7), 0.01), 64, raw=raw))
    vals = analyze(null, aligned, **FAST).table.values
    assert np.ptp(vals) > 0                       # the rounding is there
    for dep in ("robust", "iid", "neff"):
        res = analyze(null, aligned, dependence=dep, **FAST)
        assert res.verdict.label == "real-specialization", dep
        assert res.driving.equivalence_row("C").p_value == 0.0, dep


def test_3_constant_phase_outside_the_margin_is_not_equivalent():
    res = constant_run(value=0.03)
    e = res.robust.equivalence_row("C")
    assert e.equivalent is False and e.p_value == 1.0
    # E - C is known to be 0, below m_diff: the late excess is ruled out (issue 21's label)
    assert res.verdict.evidence.noninferiority == "rejected"
    assert res.verdict.label == "no-late-excess"


def test_3_one_constant_deciding_phase():
    """Only C constant; E noisy and small: C is known exactly, E gets an ordinary interval,
    and no number is NaN."""
    x = phase_vector(64, {"C": 0.01}, 0.0, "auto")[:, None] + np.zeros((63, 7))
    rng = np.random.default_rng(3)
    E = np.array([48 <= L + 1 <= 59 for L in range(63)])
    x[E] = 0.002 + 0.001 * rng.standard_normal((E.sum(), 7))
    res = analyze(*symmetry(*sweeps_from_deltas(x, 64)), **FAST)
    c, e = res.robust.equivalence_row("C"), res.robust.equivalence_row("E")
    assert c.ci_low == pytest.approx(0.01, abs=1e-15) and c.equivalent is True
    assert e.ci_low < e.mean < e.ci_high and e.equivalent is True
    d = res.robust.difference.pooled
    assert d.p_value is not None and 0 <= d.p_value <= 1
    assert d.ci_low < d.statistic < d.ci_high
    assert res.verdict.label in ("real-specialization", "negligible-difference")


def test_3_constant_values_power_and_plot(tmp_path, capsys, sweep_files):
    null, aligned = sweep_files(*symmetry(*sweeps_from_deltas(np.full((63, 7), 0.01), 64)))
    code = main(["power", str(null), str(aligned), "--json", str(tmp_path / "p.json")] + SMALL)
    assert code == 0, capsys.readouterr().err
    tost = json.loads((tmp_path / "p.json").read_text())["power"]["tost_power_at_zero"]
    assert {r["phase"]: r["value"] for r in tost}["C"] == 1.0
    pytest.importorskip("matplotlib")
    code = main(["test", str(null), str(aligned), "--plot", str(tmp_path / "plots")] + SMALL)
    assert code == 0, capsys.readouterr().err


# --------------------------------------------------------------------------- defect 4


def test_4_permutation_uses_only_rows_with_a_value():
    """The reviewer's case: 1 late value and 2 early values among NaN rows. The exact test on
    the three values has C(3, 1) = 3 splits (enumerated here; scipy.stats.permutation_test
    refuses a one-value sample), 2 of them (0.5 and 0.6 late) at least as large as the
    observed 0: p = 2/3, not 0.473. With two late values scipy's exact test is the reference."""
    from scipy.stats import permutation_test

    late = np.array([0.5] + [np.nan] * 11)
    early = np.array([0.4, 0.6] + [np.nan] * 20)
    r = permutation_pvalue(late, early)
    vals = [0.5, 0.4, 0.6]
    stats = [vals[i] - np.mean(vals[:i] + vals[i + 1:]) for i in range(3)]
    assert r.pvalue[0] == pytest.approx(np.mean(np.array(stats) >= -1e-12), abs=1e-12)
    assert r.pvalue[0] == pytest.approx(2 / 3, abs=1e-12)
    assert r.n_late_by_column[0] == 1 and r.n_early_by_column[0] == 2
    assert r.min_p[0] == pytest.approx(1 / 3)
    late[3] = 0.7
    r = permutation_pvalue(late, early)
    ref = permutation_test(([0.5, 0.7], [0.4, 0.6]), lambda a, b: np.mean(a) - np.mean(b),
                           permutation_type="independent", alternative="greater",
                           n_resamples=np.inf)
    assert r.pvalue[0] == pytest.approx(ref.pvalue, abs=1e-12)


def test_4_pooled_test_on_incomplete_pairs_reports_its_true_n():
    """q_proj on 2 E and 3 C pairs only: the pooled column has 5 complete pairs, so the exact
    test has C(5, 2) = 10 splits and cannot go below 0.1 (enumeration): it cannot reach alpha,
    and the label says the difference test is missing."""
    x = phase_vector(64, {"E": 0.05}, 0.0, "auto")[:, None] + \
        0.002 * np.random.default_rng(4).standard_normal((63, 7))
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4)
    keep = {12, 13, 14, 50, 51}          # C: 12, 13, 14; E: 50, 51
    for L in range(63):
        if L not in keep:
            del aligned["aligned_cos"]["q_proj"][str(L)]
    res = analyze(null, aligned, dependence="iid", **FAST)
    t = res.iid.difference
    assert (t.n_late, t.n_early) == (2, 3)
    assert t.min_p == pytest.approx(0.1)
    assert t.pooled.p_value >= 0.1
    assert res.verdict.evidence.difference == "cannot-reach-alpha"
    assert res.verdict.label in ("difference-untestable", "not-testable")
    k = next(r for r in t.rows if r.family == "k_proj")
    assert (k.detail["n_late"], k.detail["n_early"]) == (12, 22)


# --------------------------------------------------------------------------- defect 5


def test_5_compared_phase_absent_from_the_data_is_not_testable():
    """36 layers under the auto map (no phase E): the difference cannot be tested, and
    equivalence cannot be tested in E either, so the verdict is not-testable; E stays a
    deciding phase instead of being dropped silently."""
    x = 0.0005 * np.random.default_rng(5).standard_normal((35, 7))
    res = analyze(*sweeps_from_deltas(x, 36, null_level=0.4), **FAST)
    assert res.description.equivalence_phases == ("C", "E")
    assert res.verdict.evidence.equivalence == "untestable-phases"
    assert res.verdict.label == "not-testable"


def test_5_one_pair_of_a_compared_phase_is_not_testable_too():
    x = 0.0005 * np.random.default_rng(5).standard_normal((63, 7))
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4)
    for f in aligned["aligned_cos"]:
        for L in range(48, 59):         # E is L 47..58: keep only L = 47
            del aligned["aligned_cos"][f][str(L)]
    res = analyze(null, aligned, **FAST)
    assert res.verdict.label == "not-testable"


def test_5_all_phases_of_a_partial_sweep_include_the_unmeasured_ones():
    """The same class: --equivalence-phases all on a sweep measured up to L = 40 of 64 took
    'all' as the measured phases and could show equivalence 'in every phase' without E or tail.
    All is every phase the map gives this model; unmeasured ones are untestable."""
    x = 0.0005 * np.random.default_rng(51).standard_normal((41, 7))
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4, layers=range(41))
    res = analyze(null, aligned, compare=("D", "C"), equivalence_phases="all", **FAST)
    assert res.description.equivalence_phases == ("A", "B", "C", "D", "E", "tail")
    assert res.verdict.evidence.equivalence == "untestable-phases"
    # D - C is known to within the difference margin, so issue 21's rule answers what the data
    # rule out (no late excess) rather than real-specialization, which E and tail cannot show
    assert res.verdict.evidence.noninferiority == "rejected"
    assert res.verdict.label == "no-late-excess"
    assert any("cannot be tested in E, tail" in r for r in res.verdict.reasons)
    compared = analyze(null, aligned, compare=("D", "C"), **FAST)
    assert compared.verdict.label == "real-specialization"


# --------------------------------------------------------------------------- defect 6


def test_6_iid_tost_that_cannot_reach_alpha_is_not_a_no():
    """alpha 0.005 with 100 bootstrap resamples: the bootstrap p of the iid TOST is at least
    1/101 = 0.0099 > alpha, whatever the data. The rows say so and the verdict does not count
    them as 'not equivalent'."""
    x = 0.0002 * np.random.default_rng(6).standard_normal((63, 7))
    res = analyze(*sweeps_from_deltas(x, 64, null_level=0.4), dependence="iid", alpha=0.005,
                  n_boot=100, n_perm=2000)
    row = res.iid.equivalence_row("C")
    assert row.min_p == pytest.approx(1 / 101)
    assert row.equivalent is None and "cannot reach alpha" in row.note
    assert res.verdict.evidence.equivalence == "untestable-phases"
    assert any("cannot reach alpha" in r for r in res.verdict.reasons)
    # the iid non-superiority test reads the same bootstrap: it cannot reach alpha either, and
    # says so instead of falling back to Welch's t alone (the class of defect 6)
    ni = res.iid.noninferiority_pooled
    assert ni.min_p == pytest.approx(1 / 101) and ni.rejected is None
    assert ni.p_value >= 1 / 101 and "cannot reach alpha" in ni.note
    assert res.verdict.evidence.noninferiority == "not-testable"
    assert res.verdict.label == "equivalence-untestable"


# --------------------------------------------------------------------------- defect 7


def _null_sd_run(edit=None, dependence="robust"):
    x = 0.0002 * np.random.default_rng(7).standard_normal((63, 7))
    null, aligned = sweeps_from_deltas(x, 64, null_level=0.4, null_sd=0.05, null_draws=2)
    if edit:
        edit(null)
    return analyze(null, aligned, dependence=dependence, **FAST)


def _half_width(res):
    d = res.robust.difference.pooled
    return (d.ci_high - d.ci_low) / 2


def test_7_known_variance_is_kept_where_it_is_given():
    """null sd 0.05 over 2 draws: each value's baseline has variance 0.05^2 / 2. The pooled
    E - C variance is at least (0.05^2/2)/7 * (1/12 + 1/22) (closed form: 7 families, 12 E and
    22 C pairs), so the 95% interval is at least 1.96 of that sd wide on each side (+-0.0094);
    one missing sd must not drop it (it shrank to +-0.0006)."""
    floor_sd = math.sqrt(0.05 ** 2 / 2 / 7 * (1 / 12 + 1 / 22))
    full = _half_width(_null_sd_run())
    assert full >= 1.959 * floor_sd

    def drop_one(null):
        del null["pair_results"][5]["families"]["q_proj"]["aligned_null_sd"]

    res = _null_sd_run(drop_one)
    assert _half_width(res) >= 0.99 * 1.959 * floor_sd
    assert any(w.code == "null-variance-missing" and "L=5" in w.message for w in res.warnings)

    def null_sd(null):
        null["pair_results"][5]["families"]["q_proj"]["aligned_null_sd"] = None

    res = _null_sd_run(null_sd)
    assert _half_width(res) >= 0.99 * 1.959 * floor_sd


@pytest.mark.parametrize("draws", [1, 2.5, "2", None])
def test_7_unusable_null_draws_warn(draws):
    def set_draws(null):
        if draws is None:
            del null["null_draws"]
        else:
            null["null_draws"] = draws

    res = _null_sd_run(set_draws)
    if draws == 1:
        # one draw: the file's sd is the sd of that one value, so its variance is sd^2 / 1
        floor_sd = math.sqrt(0.05 ** 2 / 7 * (1 / 12 + 1 / 22))
        assert _half_width(res) >= 1.959 * floor_sd
        assert not any(w.code == "null-variance-missing" for w in res.warnings)
    else:
        assert any(w.code == "null-variance-missing" and "null_draws" in w.message
                   for w in res.warnings)


def test_7_integral_float_null_draws_counts_as_an_integer():
    def set_draws(null):
        null["null_draws"] = 2.0

    res = _null_sd_run(set_draws)
    assert _half_width(res) >= 1.959 * math.sqrt(0.05 ** 2 / 2 / 7 * (1 / 12 + 1 / 22))
    assert res.description.quantity.null_draws == 2


# --------------------------------------------------------------------------- defect 8


def test_8_testability_of_delta_is_judged_on_the_pooled_column():
    """Symmetry gauge, delta analysed on purpose: q_proj's null level is 0.014 (inside the 0.02
    margin) but the pooled no-structure level is (0.014 + 6 x 0.1) / 7 = 0.0877 (closed form),
    far outside: equivalence of the pooled delta to 0 cannot be shown by any data, so it is
    untestable."""
    levels = np.array([0.014] + [0.1] * 6)
    x = np.repeat(levels[None, :], 63, axis=0) + \
        0.0005 * np.random.default_rng(8).standard_normal((63, 7))
    null, aligned = sweeps_from_deltas(x, 64)
    for pr in null["pair_results"]:
        for j, (f, e) in enumerate(pr["families"].items()):
            e["aligned_null_mean"] = e["cos"] + levels[j]
            e["aligned_null_sd"] = 0.001
    null["null_draws"] = 8
    res = analyze(*symmetry(null, aligned), baseline="raw", **FAST)
    q = res.description.quantity
    assert not q.equivalence_testable
    assert "0.088" in q.equivalence_note
    assert res.verdict.evidence.equivalence == "untestable-quantity"


# --------------------------------------------------------------------------- defect 9


@pytest.mark.parametrize("where", ["null", "aligned"])
def test_9_a_family_named_pooled_is_refused(tmp_path, capsys, sweep_files, where):
    null, aligned = sweeps_from_deltas(np.full((7, 2), 0.01), 8, families=("pooled", "k_proj"))
    if where == "null":
        aligned["aligned_cos"].pop("pooled")
    else:
        for pr in null["pair_results"]:
            pr["families"].pop("pooled")
    n, a = sweep_files(null, aligned)
    assert_usage_error(capsys, ["test", str(n), str(a), "--json", str(tmp_path / "r.json")],
                       "pooled", "reserved", absent=[tmp_path / "r.json"])
    with pytest.raises(InputError):
        analyze(null, aligned, **FAST)


# --------------------------------------------------------------------------- defect 10


@pytest.mark.parametrize("margin", [5.0, 0.5, 1e-6])
def test_10_every_p_is_in_the_unit_interval(tmp_path, capsys, margin):
    code = main(["demo", "--margin", str(margin), "--json", str(tmp_path / "r.json"),
                 "--csv", str(tmp_path / "csv")] + SMALL)
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "r.json").read_text())
    ps = all_p_values(doc)
    assert ps and all(0.0 <= p <= 1.0 for _, p in ps), [kp for kp in ps if not 0 <= kp[1] <= 1]
    import csv
    for path in (tmp_path / "csv").glob("*.csv"):
        for row in csv.DictReader(path.open()):
            for k, v in row.items():
                if (k.startswith("p_") or k == "min_p") and v not in ("", None):
                    assert 0.0 <= float(v) <= 1.0, (path.name, k, v)


# --------------------------------------------------------------------------- defect 11


def test_11_model_names_cannot_leave_the_plot_folder(tmp_path, capsys, sweep_files):
    """Names with '../', an absolute path and backslashes, in one run of three models:
    every figure lands under --plot, each model in its own folder."""
    pytest.importorskip("matplotlib")
    x = 0.01 + 0.001 * np.random.default_rng(11).standard_normal((8, 2))
    n, a = sweep_files(*sweeps_from_deltas(x, 9, families=("q_proj", "k_proj")))
    work = tmp_path / "dir"
    work.mkdir()
    names = ["a/../../esc", "/abs", "x\\..\\y"]
    before = set(tmp_path.rglob("*"))
    code = main(["test", *(f"--model={m}={n},{a}" for m in names), "--plot",
                 str(work / "plots")] + SMALL)
    assert code == 0, capsys.readouterr().err
    new = set(tmp_path.rglob("*")) - before
    plots = work / "plots"
    assert new and all(p == plots or plots in p.parents for p in new), sorted(map(str, new))
    assert sorted(p.name for p in plots.iterdir()) == ["a_.._.._esc", "abs", "x_.._y"]


def test_11_names_that_collide_as_folders_are_refused(tmp_path, capsys, sweep_files):
    n, a = sweep_files(*sweeps_from_deltas(np.full((63, 3), 0.01), 64,
                                           families=("q_proj", "k_proj", "v_proj")))
    assert_usage_error(capsys, ["test", "--model", f"a/b={n},{a}", "--model", f"a_b={n},{a}",
                                "--plot", str(tmp_path / "plots")] + SMALL,
                       "--model", absent=[tmp_path / "plots"])


# --------------------------------------------------------------------------- found by the invariants
# (tests/test_invariants.py found each of these; the regressions pin the minimal case)


def test_iid_difference_is_the_difference_of_the_phase_means():
    """Constant phases: the iid difference came from the permutation's own sums (-3.5e-18)
    while its zero-width interval sat at 0, so the interval missed its estimate. The reported
    difference is mean(LATE) - mean(EARLY) of the phase means, inside its interval."""
    res = constant_run("iid")
    row = res.iid.difference.pooled
    assert row.ci_low <= row.statistic <= row.ci_high
    est = {p: res.iid.estimate(p).mean for p in ("E", "C")}
    assert row.statistic == est["E"] - est["C"]


@pytest.mark.parametrize("alpha,n_boot", [(0.005, 200), (0.05, 199), (0.05, 100), (0.2, 100)])
def test_iid_tost_is_equivalent_exactly_when_its_interval_is_inside(alpha, n_boot):
    """The iid TOST's bootstrap-t bounds were interpolated quantiles while its p counted
    resamples, so at alpha 0.005 with 200 resamples an interval inside the margin came with
    p >= alpha. Its interval now inverts the counts: for margins just inside and just outside
    each bound the decision follows the interval (the definition of a test's interval)."""
    from gaugetest.inference.equivalence import tost_robust

    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.normal(0.01, 0.01, int(rng.integers(6, 30)))
        r = tost_robust(x, -1.0, 1.0, alpha, n_resamples=n_boot, rng=2)[0]
        for lo_eps in (-1e-9, 1e-9):
            for hi_eps in (-1e-9, 1e-9):
                lo, hi = r.ci_low + lo_eps, r.ci_high + hi_eps
                t = tost_robust(x, lo, hi, alpha, n_resamples=n_boot, rng=2)[0]
                assert (t.ci_low, t.ci_high) == (r.ci_low, r.ci_high)
                assert t.equivalent == (lo < t.ci_low and t.ci_high < hi)


def test_neff_with_phases_of_three_pairs_does_not_divide_by_zero():
    """Four phases of exactly three pairs each (12 points, 4 means): the bias correction of
    the depth-wide rho divides by 1 - 3k/N = 0 (ZeroDivisionError, exit 1). It is undefined
    there, so neff has no depth-wide rho, as with too few points."""
    from gaugetest.inference.dependence import common_lag1

    x = np.random.default_rng(0).standard_normal(12)
    assert common_lag1(x, [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3) == (None, 12)


def test_latex_and_csv_carry_the_verdict(tmp_path, capsys):
    code = main(["demo", "--layers", "64", "--latex", str(tmp_path / "t.tex"), "--csv",
                 str(tmp_path / "csv"), "--json", str(tmp_path / "r.json")] + SMALL)
    assert code == 0, capsys.readouterr().err
    label = json.loads((tmp_path / "r.json").read_text())["verdict"]["label"]
    assert f"% verdict: {label} " in (tmp_path / "t.tex").read_text()
    assert f"\n{label}," in (tmp_path / "csv" / "verdict.csv").read_text()


def test_difference_figure_without_an_interval_in_its_first_row(tmp_path):
    """q_proj with one E value has no interval: the figure named no analysis in its legend and
    matplotlib warned on standard error."""
    import warnings

    pytest.importorskip("matplotlib")
    from gaugetest.render.plots import difference, forest

    x = phase_vector(64, {"E": 0.02}, 0.0, "auto")[:, None] + \
        0.002 * np.random.default_rng(12).standard_normal((63, 3))
    null, aligned = sweeps_from_deltas(x, 64, families=("q_proj", "k_proj", "v_proj"))
    for L in range(48, 59):
        del aligned["aligned_cos"]["q_proj"][str(L)]
    res = analyze(null, aligned, **FAST)
    figures = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        difference(res.to_dict(), figures)
        forest(res.to_dict(), figures)
    assert "difference.pdf" in figures and "forest.pdf" in figures


def test_names_with_latex_and_markdown_specials_stay_text(tmp_path, capsys, sweep_files):
    """A model name from the file may hold any string: '$', braces, '^', '~' and a line break
    reached the LaTeX unescaped (a broken document, or a line that is LaTeX code), and a '|'
    or a line break split a Markdown table."""
    x = 0.002 * np.random.default_rng(13).standard_normal((63, 2))
    null, aligned = sweeps_from_deltas(x, 64, families=("q_proj", "w|$1{x}^~"))
    aligned["model"] = "m$1 {a}^~\n\\end{document}"
    n, a = sweep_files(null, aligned)
    code = main(["test", str(n), str(a), "--latex", str(tmp_path / "t.tex"), "--markdown",
                 str(tmp_path / "t.md"), "--report", str(tmp_path / "r.md")] + SMALL)
    assert code == 0, capsys.readouterr().err
    tex = (tmp_path / "t.tex").read_text()
    # the name's line break stays inside the comment line, and in captions it is text
    assert not any(line.startswith("\\end{document}") for line in tex.splitlines())
    assert "m\\$1 \\{a\\}" in tex
    assert "w$|$\\$1\\{x\\}\\textasciicircum{}\\textasciitilde{}" in tex
    for line in (tmp_path / "t.md").read_text().splitlines():
        if line.startswith("| ") and "w" in line and "1{x}" in line:
            assert line.count(" | ") + 2 == line.count("|") - line.count("\\|")

