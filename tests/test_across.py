"""The family of models (issue 18): the shared dependence model, analyze_models, refusal,
the family verdict and every output of a family run.

References: the REML log-likelihood of ``profile_reml`` (itself tested against R's nlme::gls)
summed over models; ``fit_depth`` of each model alone; the JSON written by the same run; the
single-model rule ``verdict.decide``; planted effects."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from conftest import write_json
from gaugetest import analyze, analyze_models
from gaugetest.cli import main
from gaugetest.inference.depth_model import fit_depth, profile_reml
from gaugetest.inference.depth_model.correlation import correlation_grid
from gaugetest.inference.depth_model.shared import shared_dependence
from gaugetest.studies.synthetic import demo_sweeps, family_sweeps, synthetic_sweeps
from gaugetest.verdict import Evidence, decide

FAST = dict(n_boot=200, n_perm=500)
CLI_FAST = ["--n-boot", "200", "--n-perm", "500"]


def _series(k, n=40, seed=0):
    rng = np.random.default_rng(seed)
    ph = ["C"] * (n // 2) + ["E"] * (n - n // 2)
    out = []
    for i in range(k):
        e = np.empty(n)
        e[0] = rng.standard_normal()
        for t in range(1, n):
            e[t] = 0.6 * e[t - 1] + 0.8 * rng.standard_normal()
        out.append((f"m{i}", (1 + i) * e + np.repeat([0.0, 0.3], [n // 2, n - n // 2]), ph,
                    np.arange(n)))
    return out


# --------------------------------------------------------------------------- shared model


def test_shared_log_likelihood_is_the_sum_of_the_models_reml():
    """At any two grid points, the shared log posterior differs by the sum over models of
    their REML log-likelihood differences (profile_reml, tested against nlme::gls)."""
    series = _series(3)
    shared = shared_dependence(series)
    grid = correlation_grid(shared.families, 39)
    for a, b in ((0, 500), (30, 900), (120, 700)):
        ref = sum(profile_reml(y, ph, L, grid.acf[a])["loglik"]
                  - profile_reml(y, ph, L, grid.acf[b])["loglik"] for _, y, ph, L in series)
        got = (shared.log_post[a] - grid.log_prior[a]) - (shared.log_post[b] - grid.log_prior[b])
        assert got == pytest.approx(ref, rel=1e-8, abs=1e-8)


def test_one_model_shared_with_itself_is_its_own_fit():
    (name, y, ph, L), = _series(1)
    own = fit_depth(y, ph, L)
    sh = fit_depth(y, ph, L, shared=shared_dependence([(name, y, ph, L)]))
    a, b = own.contrast({"E": 1, "C": -1}), sh.contrast({"E": 1, "C": -1})
    assert a.interval(0.95) == pytest.approx(b.interval(0.95), rel=1e-12)
    assert sh.detail["shared"]["models"] == ["m0"] and "shared by 1 models" in sh.summary


def test_shared_fit_keeps_each_models_levels_and_scales():
    series = _series(3)
    shared = shared_dependence(series)
    for name, y, ph, L in series:
        fit = fit_depth(y, ph, L, shared=shared)
        # levels: the model's own arithmetic means
        assert fit.mean["E"] == pytest.approx(float(np.mean(y[np.array(ph) == "E"])))
        # weights: the shared posterior, the same for every model
        w = shared.weights()
        assert fit._batch.w[0] == pytest.approx(w[fit._batch.idx[0]] / w[fit._batch.idx[0]].sum(),
                                                rel=1e-9)
    # scales differ as the models' noise does (model i has (1 + i) x the noise sd)
    sc = [fit_depth(y, ph, L, shared=shared).detail["scale"]["C"] for _, y, ph, L in series]
    assert sc[0] < sc[1] < sc[2]


def test_sharing_concentrates_the_dependence_posterior():
    """Six models of the same AR(1) 0.6 process: the shared posterior is narrower around the
    truth than one model's (planted truth)."""
    series = _series(6, n=60, seed=3)
    grid = correlation_grid(("ar1", "ma1", "ar2", "arma11", "fd"), 59)
    one = shared_dependence(series[:1]).weights()
    six = shared_dependence(series).weights()
    lag1 = grid.acf[:, 1]
    sd = [np.sqrt(np.sum(w * (lag1 - np.sum(w * lag1)) ** 2)) for w in (one, six)]
    assert sd[1] < sd[0]
    assert abs(np.sum(six * lag1) - 0.6) < 0.15


# --------------------------------------------------------------------------- analyze_models


@pytest.fixture(scope="module")
def family():
    fam = {f"m{n}": synthetic_sweeps(n, seed=100 + n, matched_null=True, effect=0.03)
           for n in (28, 40, 64)}
    return fam, analyze_models(fam, phases="fractional", **FAST)


def test_family_estimate_and_outputs(family):
    fam, m = family
    a = m.to_dict()["across_models"]
    assert a["refused"] is None and a["models"] == ["m28", "m40", "m64"]
    d = a["difference"]
    assert d["k"] == 3 and d["ci_low"] < 0.03 < d["ci_high"]     # planted common effect 0.03
    assert d["p_value"] < 0.05 and d["prediction_low"] <= d["ci_low"]
    for key in ("estimate", "ci_low", "ci_high", "level", "p_value", "k", "method", "tau2",
                "i2", "prediction_low", "prediction_high"):
        assert key in d
    assert a["verdict"]["label"] in ("training-artifact", "negligible-difference")
    ev = a["verdict"]["evidence"]
    assert a["verdict"]["label"] == decide(Evidence(ev["difference"], ev["negligible"],
                                                    ev["equivalence"]))
    assert {r["phase"] for r in a["equivalence"]} == {"C", "E"}
    assert a["dependence"]["models"] == ["m28", "m40", "m64"]


def test_per_model_rows_are_the_models_own_robust_rows(family):
    """Each model's E − C in the family table is its robust pooled row of the same run."""
    _, m = family
    doc = m.to_dict()
    for row, md in zip(doc["across_models"]["per_model"], doc["models"]):
        rob = md["robust"]["late_vs_early"][-1]
        assert row["estimate"] == rob["statistic"]
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((rob["ci_low"], rob["ci_high"]),
                                                                rel=1e-12)
        assert row["p_value"] == pytest.approx(rob["p_value"], rel=1e-12)
        # and every model says its dependence model is shared
        assert md["robust"]["detail"]["shared"]["models"] == ["m28", "m40", "m64"]
        assert "shared by 3 models" in md["robust"]["summary"]
        assert "shared by the 3 models" in md["robust"]["description"]


def test_single_model_run_is_unchanged():
    null, aligned = demo_sweeps(64)
    a = analyze(null, aligned, **FAST).to_dict()
    assert "shared" not in a["robust"]["detail"]
    assert "shared" not in a["robust"]["summary"]


def test_api_equals_the_cli_json(tmp_path, family):
    fam, m = family
    args = []
    for name, (null, aligned) in fam.items():
        p = (write_json(tmp_path / f"{name}-n.json", null),
             write_json(tmp_path / f"{name}-a.json", aligned))
        args += ["--model", f"{name}={p[0]},{p[1]}"]
    out = tmp_path / "r.json"
    assert main(["test", *args, "--phases", "fractional", *CLI_FAST, "--json", str(out)]) == 0
    cli = json.loads(out.read_text())
    api = analyze_models({n: (str(tmp_path / f"{n}-n.json"), str(tmp_path / f"{n}-a.json"))
                          for n in fam}, phases="fractional", **FAST).to_dict()
    assert json.loads(json.dumps(api)) == cli
    assert list(cli)[:3] == ["version", "tool", "across_models"]


def test_same_seed_same_bytes(tmp_path):
    fam = {f"m{n}": synthetic_sweeps(n, seed=n, matched_null=True) for n in (28, 40)}
    from gaugetest.render.json_out import to_json
    a = to_json(analyze_models(fam, phases="fractional", seed=3, **FAST).to_dict())
    b = to_json(analyze_models(fam, phases="fractional", seed=3, **FAST).to_dict())
    assert a == b


# --------------------------------------------------------------------------- refusal


def test_refused_when_quantities_differ_and_exit_is_0(tmp_path, capsys):
    """delta (no null) beside an excess: not pooled, the reason names both; per-model results
    are those of each model alone."""
    n64, a64 = demo_sweeps(64)                       # excess
    n40, a40 = synthetic_sweeps(40, seed=5)          # no matched null: delta
    m = analyze_models({"big": (n64, a64), "small": (n40, a40)}, phases="fractional", **FAST)
    a = m.across.to_dict()
    assert "analysed quantity" in a["refused"] and "big: excess" in a["refused"]
    assert "small: delta" in a["refused"] and a["refused_models"] == ["small"]
    assert a["difference"] is None and a["verdict"] is None
    alone = analyze(n40, a40, phases="fractional", model="small", **FAST).to_dict()
    assert m.to_dict()["models"][1]["robust"] == alone["robust"]
    paths = []
    for name, (n, al) in (("big", (n64, a64)), ("small", (n40, a40))):
        paths.append(f"{name}={write_json(tmp_path / f'{name}-n.json', n)},"
                     f"{write_json(tmp_path / f'{name}-a.json', al)}")
    rc = main(["test", "--model", paths[0], "--model", paths[1], "--phases", "fractional",
               *CLI_FAST, "--brief"])
    out = capsys.readouterr().out
    assert rc == 0 and "not pooled" in out and "refused" in out


def test_refused_when_a_model_lacks_the_compared_phase():
    """The 36-layer model under the auto map (Qwen3-4B's boundaries) has no E."""
    m = analyze_models({"m64": demo_sweeps(64),
                        "m36": synthetic_sweeps(36, seed=2, matched_null=True)}, **FAST)
    a = m.across.to_dict()
    assert "m36 (no phase E in its auto (qwen3-4b) map)" in a["refused"]
    assert a["refused_models"] == ["m36"]
    assert "fractional map" in a["refused"]


def test_refused_with_one_model_different_gauges_or_the_same_data_twice():
    m = analyze_models({"only": demo_sweeps(64)}, **FAST)
    assert "at least 2 models" in m.across.refused
    # the same sweeps twice are not two replications (their spread would be 0)
    m = analyze_models({"a": demo_sweeps(64), "b": demo_sweeps(64)}, **FAST)
    assert "models a and b have identical data" in m.across.refused
    n1, a1 = synthetic_sweeps(40, seed=1, matched_null=True)
    n2, a2 = synthetic_sweeps(40, seed=2, matched_null=True)
    n2 = {**n2, "gauge": "symmetry"}
    a2 = {**a2, "gauge": "symmetry"}
    m = analyze_models({"o": (n1, a1), "s": (n2, a2)}, **FAST)
    assert "the gauge" in m.across.refused


# --------------------------------------------------------------------------- outputs


def test_text_headline_first_short_and_narrow(tmp_path, capsys):
    assert main(["demo", *CLI_FAST]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("gaugetest") and "family of 3 models" in lines[0]
    head = lines[:lines.index("")]
    assert len(head) <= 15
    assert max(len(ln) for ln in lines) <= 80
    assert "verdict" in "\n".join(head) and "I^2" in "\n".join(head)
    # then the per-model summary table
    assert "Summary: one verdict per model" in out.split("\n\n", 2)[1]


def test_every_export_of_a_family_run(tmp_path):
    argv = ["demo", *CLI_FAST, "--json", str(tmp_path / "d.json"), "--csv", str(tmp_path / "csv"),
            "--report", str(tmp_path / "rep.md"), "--markdown", str(tmp_path / "d.md"),
            "--latex", str(tmp_path / "d.tex"), "--plot", str(tmp_path / "plots")]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    a = doc["across_models"]
    d = a["difference"]
    import csv
    rows = list(csv.DictReader(open(tmp_path / "csv" / "across_difference.csv")))
    assert float(rows[0]["estimate"]) == d["estimate"] and rows[0]["method"] == d["method"]
    per = list(csv.DictReader(open(tmp_path / "csv" / "across_per_model.csv")))
    assert [r["model"] for r in per] == a["models"]
    eq = list(csv.DictReader(open(tmp_path / "csv" / "across_equivalence.csv")))
    assert {r["phase"] for r in eq} == set(a["equivalence_phases"])
    md = (tmp_path / "d.md").read_text()
    assert md.startswith("# gaugetest results: family of 3 models")
    assert f"**Verdict for the family: {a['verdict']['label']}**" in md
    tex = (tmp_path / "d.tex").read_text()
    assert "tab:gaugetest-family" in tex
    assert len(set(re.findall(r"\\label\{(.*)\}", tex))) == len(re.findall(r"\\label\{", tex))
    rep = (tmp_path / "rep.md").read_text()
    assert rep.startswith("## Methods (family of 3 models)")
    assert "Hartung" in rep and "Ibragimov" in rep and not re.search(r"(^|\s)--[a-z]", rep)
    from gaugetest.formatting import fmt_interval
    assert fmt_interval(d["ci_low"], d["ci_high"]) in rep
    assert (tmp_path / "plots" / "family_forest.png").exists()
    assert (tmp_path / "plots" / "family_forest.pdf").exists()
    assert (tmp_path / "plots" / "synthetic-64" / "forest.pdf").exists()


def test_family_text_names_method_level_and_quantity():
    from gaugetest.render.across import render_family, render_family_reasons
    m = analyze_models({f"s{n}": family_sweeps(n) for n in (28, 40)}, alpha=0.1, **FAST)
    a = m.across.to_dict()
    buf = io.StringIO()
    render_family(a, buf, width=80)
    render_family_reasons(a, buf, width=80)
    text = buf.getvalue()
    assert "90% CI" in text and "95%" not in text           # the level follows alpha
    assert "excess(E) − excess(C)" in text or "excess(E) - excess(C)" in text
    from gaugetest.render.layout import to_ascii     # a StringIO page is plain ASCII
    assert to_ascii(a["difference"]["method_short"]) in text.replace("\n            ", " ")


def test_family_test_is_the_one_sample_t_on_the_models_estimates(family):
    """The family test (Ibragimov-Mueller) on the per-model estimates equals scipy's one-sample
    t test: its p of E − C > 0, its interval, and the non-superiority p of H0: E − C >= m_diff
    (issue 21's test, computed on the same distribution; m_diff = the margin)."""
    from scipy import stats

    _, m = family
    a = m.to_dict()["across_models"]
    d = np.array([r["estimate"] for r in a["per_model"]])
    t = stats.ttest_1samp(d, 0.0, alternative="greater")
    assert a["difference"]["method"] == "im"
    assert a["difference"]["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (a["difference"]["ci_low"], a["difference"]["ci_high"]) == pytest.approx(
        (ci.low, ci.high), rel=1e-9)
    ni = a["difference"]["noninferiority"]
    ref = stats.ttest_1samp(d, 0.02, alternative="less").pvalue
    assert ni["margin"] == 0.02 and ni["p_value"] == pytest.approx(ref, rel=1e-9)
    assert ni["rejected"] == (ni["ci_high"] < 0.02)
    assert a["difference"]["weights"] == pytest.approx([1 / 3] * 3)
