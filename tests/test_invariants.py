"""Invariants of whole analyses over generated sweeps (hypothesis; issue 22, "the class, not the
case").

The sweeps are small and odd (3 to 64 layers, gaps in L), with constant, rounded-constant,
sparse and trending families, a matched null that may lack sds or carry unusable null_draws,
both gauges, symmetric and uneven margins, every --dependence, --ci and --tost-rule, and alpha
from 0.001 to 0.49. Every result must satisfy, whatever the data:

* every p-value lies in [0, 1];
* every interval contains its estimate;
* "equivalent" holds if and only if the (1 - 2 alpha) interval lies inside the margin;
* Holm-adjusted p >= raw p;
* the verdict's label follows from its evidence, and its evidence from the rows;
* text, JSON, CSV, Markdown, LaTeX and the report give the same label and numbers;
* no input the format allows ends in exit 1 (an internal error);
* nothing is written outside the files and folders named on the command line.

The references are the definitions above; no number is compared with a stored value.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gaugetest import analyze
from gaugetest.formatting import fmt_num
from gaugetest.verdict import Evidence, decide

FAMILIES = ("q_proj", "k_proj", "v_proj", "gate_proj", "w1")
# two thirds realistic layer counts, a third small and odd ones (most of which cannot test)
_REALISTIC = st.sampled_from((64, 28, 30, 36, 23))
LAYERS = st.one_of(_REALISTIC, _REALISTIC, st.sampled_from((17, 13, 11, 9, 7, 5, 4, 3, 2)))
DEPENDENCE = ("robust", "iid", "reml-bma", "neff", "hac", "glsar", "block", "sieve")
CI = ("t-union", "bca", "percentile", "basic", "bootstrap-t")
ALPHA = (0.05, 0.001, 0.005, 0.2, 0.49)
MARGINS = ("0.02", "0.005", "0.1", "-0.01,0.03", "-0.05,0.002")


# --------------------------------------------------------------------------- generated sweeps


@st.composite
def sweeps(draw):
    """(null, aligned) documents of a valid sweep, and a short description for failures."""
    n = draw(LAYERS)
    fams = draw(st.lists(st.sampled_from(FAMILIES), min_size=1, max_size=4, unique=True))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    Ls = list(range(n - 1))
    if n > 5 and draw(st.booleans()):                   # gaps along depth
        Ls = sorted(rng.choice(Ls, size=max(2, int(len(Ls) * 0.7)), replace=False).tolist())
    m = len(Ls)
    depth = np.array(Ls) / max(n - 2, 1)
    modes = [draw(st.sampled_from(("noise", "late", "trend", "constant", "rounded", "edge")))
             for _ in fams]
    # at most one family missing on many pairs (any more and the pooled column, which needs
    # complete pairs, is nearly always untestable)
    sparse = draw(st.sampled_from((None, "sparse", "rare")))
    if sparse:
        modes[draw(st.integers(0, len(fams) - 1))] = sparse
    x = np.empty((m, len(fams)))
    raw = np.full((m, len(fams)), 0.03)
    for j, mode in enumerate(modes):
        level = draw(st.sampled_from((0.004, 0.0, 0.013, 0.05, -0.006)))
        sd = draw(st.sampled_from((0.003, 0.0005, 0.02)))
        if mode in ("constant", "rounded"):
            x[:, j] = level
            if mode == "rounded":                        # equal up to rounding only
                raw[:, j] = rng.uniform(0.05, 0.5, m)
        elif mode == "trend":
            x[:, j] = level + 0.04 * depth + sd * rng.standard_normal(m)
        elif mode == "late":
            x[:, j] = level + 0.03 * (depth > 0.75) + sd * rng.standard_normal(m)
        elif mode == "edge":                             # cosines near +-1, deltas near 0
            raw[:, j] = rng.choice([-0.99, 0.98], m)
            x[:, j] = np.abs(sd * rng.standard_normal(m)) * 0.5
        else:
            x[:, j] = level + sd * rng.standard_normal(m)
    null_kind = draw(st.sampled_from(("full", "none", "sd-missing", "draws-1", "draws-odd")))
    null_level = 0.3
    pairs = []
    for i, L in enumerate(Ls):
        fam_entries = {}
        for j, f in enumerate(fams):
            e = {"cos": float(raw[i, j])}
            if null_kind != "none":
                e["aligned_null_mean"] = float(raw[i, j] + null_level)
                if not (null_kind == "sd-missing" and rng.random() < 0.2):
                    e["aligned_null_sd"] = float(draw(st.sampled_from((0.0, 0.001, 0.05))))
            fam_entries[f] = e
        pairs.append({"L": L, "L_next": L + 1, "families": fam_entries})
    null = {"num_layers": n, "pair_results": pairs}
    if null_kind != "none":
        null["null_draws"] = {"draws-1": 1, "draws-odd": draw(st.sampled_from((2.5, "8", 4.0)))
                              }.get(null_kind, 8)
    base = raw + (null_level if null_kind != "none" else 0.0)
    aligned = {"num_layers": n, "aligned_cos": {
        f: {str(L): float(np.clip(base[i, j] + x[i, j], -1, 1)) for i, L in enumerate(Ls)
            if not (modes[j] == "sparse" and rng.random() < 0.6)
            and not (modes[j] == "rare" and rng.random() < 0.9)}
        for j, f in enumerate(fams)}}
    aligned["aligned_cos"] = {f: v for f, v in aligned["aligned_cos"].items() if v}
    assume(aligned["aligned_cos"])
    gauge = draw(st.sampled_from(("symmetry", "orthogonal", None)))
    if gauge:
        null["gauge"] = aligned["gauge"] = gauge
    return null, aligned, f"n={n} fams={fams} modes={modes} null={null_kind} gauge={gauge}"


@st.composite
def options(draw):
    """Analysis settings: every --dependence, --ci and --tost-rule, extreme alpha, uneven
    margins; few resamples (the invariants hold whatever their number)."""
    dep = draw(st.sampled_from(DEPENDENCE))      # robust first
    rule = draw(st.sampled_from(("mixture", "inflated-df"))) \
        if dep in ("robust", "iid", "reml-bma") else "mixture"
    out = dict(dependence=dep, ci=draw(st.sampled_from(CI)), tost_rule=rule,
               alpha=draw(st.sampled_from(ALPHA)), margin=draw(st.sampled_from(MARGINS)),
               n_boot=draw(st.sampled_from((100, 200))),
               n_perm=draw(st.sampled_from((100, 2000, 100_000))),
               seed=draw(st.integers(0, 3)),
               equivalence_phases=draw(st.sampled_from(("compared", "all", "C,tail", "A"))),
               compare=draw(st.one_of(st.just(("E", "C")),
                                      st.sampled_from((("D", "C"), ("tail", "A"))))),
               baseline=draw(st.sampled_from(("auto", "auto", "raw"))))
    if draw(st.booleans()):
        out["shapes"] = draw(st.sampled_from(("qwen3-0.6b", "qwen3-32b")))
    if draw(st.integers(0, 3)) == 0:
        # a custom map: A, C, D, E with increasing inclusive bounds (B absent, tail the rest)
        b = sorted(draw(st.lists(st.integers(0, 70), min_size=4, max_size=4, unique=True)))
        out["phases"] = dict(zip("ACDE", b))
        if "B" in out["equivalence_phases"] or out["compare"] == ("tail", "A"):
            out["compare"] = ("E", "C")
    return out


# --------------------------------------------------------------------------- the invariants


def p_values(doc):
    """(where, value) of every number under a key that names a p-value."""
    out = []

    def walk(x, where):
        if isinstance(x, dict):
            for k, v in x.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and \
                        (k.startswith("p_") or k.endswith("_p") or k in ("p", "pvalue")):
                    out.append((f"{where}.{k}", v))
                else:
                    walk(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]")

    walk(doc, "")
    return out


def blocks(doc):
    """(name, phase rows, difference rows, equivalence rows) of both analyses."""
    rob = doc["robust"]
    return [("iid", doc["phase_summary"], doc["permutation"], doc["equivalence"]),
            ("robust", rob["phase_summary"], rob["late_vs_early"], rob["equivalence"])]


def contains(lo, est, hi):
    return lo is None or hi is None or est is None or lo <= est <= hi


def check_document(doc, why=""):
    for where, p in p_values(doc):
        assert 0.0 <= p <= 1.0, (why, where, p)
    for name, phase_rows, diff_rows, eq_rows in blocks(doc):
        for r in phase_rows:
            assert contains(r["ci_low"], r["mean"], r["ci_high"]), (why, name, r)
        for r in diff_rows:
            assert contains(r["ci_low"], r["statistic"], r["ci_high"]), (why, name, r)
            assert contains(r.get("tost_ci_low"), r["statistic"], r.get("tost_ci_high")), \
                (why, name, r)
            if r["p_holm"] is not None:
                assert r["p_holm"] >= r["p_value"], (why, name, r)
        for r in eq_rows:
            assert contains(r["ci_low"], r["mean"], r["ci_high"]), (why, name, r)
            if r["equivalent"] is not None:
                inside = r["margin_low"] < r["ci_low"] and r["ci_high"] < r["margin_high"]
                assert r["equivalent"] == inside, (why, name, r)
                assert r["equivalent"] == (r["p_value"] < doc["analysis"]["alpha"]), \
                    (why, name, r)
    for block in (doc["power"], doc["iid"]["power"], doc["robust"]["power"]):
        for r in (block or {}).get("tost_power_at_zero", []):
            assert r["value"] is None or 0.0 <= r["value"] <= 1.0, (why, r)
        for r in (block or {}).get("min_detectable_difference", []):
            assert r["value"] is None or r["value"] >= 0.0, (why, r)
    check_verdict(doc, why)


def check_verdict(doc, why=""):
    """The label follows from the evidence, and the evidence from the driving rows."""
    v, a = doc["verdict"], doc["analysis"]
    ev = v["evidence"]
    assert decide(Evidence(**ev)) == v["label"]
    drv = doc["robust"] if a["driving"]["method"] != "iid" else {
        "equivalence": doc["equivalence"], "late_vs_early": doc["permutation"],
        "difference_test": doc["permutation_test"]}
    eq = {r["phase"]: r for r in drv["equivalence"] if r["family"] == "pooled"}
    deciding = a["equivalence_phases"]
    if ev["equivalence"] in ("shown", "not-shown"):
        assert all(p in eq and eq[p]["equivalent"] is not None for p in deciding), why
        assert (ev["equivalence"] == "shown") == all(eq[p]["equivalent"] for p in deciding), why
    if ev["equivalence"] == "untestable-phases":
        assert any(p not in eq or eq[p]["equivalent"] is None for p in deciding), why
    pooled = next((r for r in drv["late_vs_early"] if r["family"] == "pooled"), None)
    if ev["difference"] in ("significant", "not-significant"):
        assert pooled is not None and pooled["p_value"] is not None, why
        assert (ev["difference"] == "significant") == (pooled["p_value"] < a["alpha"]), why
        min_p = drv["difference_test"]["min_p"]
        assert min_p is None or min_p < a["alpha"], why


def check_family(doc, why=""):
    """The invariants of a several-model document: every p in [0, 1], the family's intervals
    contain their estimates, its TOST is equivalent exactly inside the margin, and its label
    follows from its evidence."""
    for where, p in p_values(doc):
        assert 0.0 <= p <= 1.0, (why, where, p)
    fam = doc["across_models"]
    if fam["refused"]:
        return
    d = fam["difference"]
    assert contains(d["ci_low"], d["estimate"], d["ci_high"]), (why, d)
    assert contains(d["tost_ci_low"], d["estimate"], d["tost_ci_high"]), (why, d)
    for r in fam["per_model"]:
        assert contains(r["ci_low"], r["estimate"], r["ci_high"]), (why, r)
    for r in fam["equivalence"]:
        assert contains(r["ci_low"], r["estimate"], r["ci_high"]), (why, r)
        if r["equivalent"] is not None:
            inside = r["margin_low"] < r["ci_low"] and r["ci_high"] < r["margin_high"]
            assert r["equivalent"] == inside, (why, r)
    ev = fam["verdict"]["evidence"]
    assert decide(Evidence(**ev)) == \
        fam["verdict"]["label"], why


# --------------------------------------------------------------------------- the API


HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much,
          HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=HEALTH)
@given(sweeps(), options())
def test_invariants_of_every_analysis(case, opts):
    analysis_invariants(case, opts)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=HEALTH)
@given(sweeps(), options())
def test_invariants_of_every_analysis_long(case, opts):
    analysis_invariants(case, opts)


def analysis_invariants(case, opts):
    """One analysis: no exception, the invariants, no NaN, and the same bytes twice."""
    from gaugetest.render.json_out import to_json

    null, aligned, why = case

    res = analyze(null, aligned, **opts)             # any exception fails: no exit 1
    doc = res.to_dict()
    event(f"label {doc['verdict']['label']}")    # --hypothesis-show-statistics: the coverage
    check_document(doc, f"{why} {opts}")
    text = to_json(doc)
    assert "NaN" not in text and "Infinity" not in text
    if opts["seed"] == 0:                            # same inputs and seed: the same bytes
        assert to_json(analyze(null, aligned, **opts).to_dict()) == text


# --------------------------------------------------------------------------- the command line


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _num(s):
    return None if s in ("", None) else float(s)


def check_exports(doc, text, out, why):
    """Text, Markdown, LaTeX and the report carry the JSON's label and its pooled difference
    and equivalence numbers (as each prints them); the CSV carries the JSON's numbers exactly."""
    label = doc["verdict"]["label"]
    md, tex, rep = ((out / f).read_text() for f in ("r.md", "r.tex", "report.md"))
    for what, body in (("text", text), ("markdown", md), ("latex", tex), ("report", rep)):
        assert label in body or label.upper() in body, (why, what)
    drv = doc["robust"] if doc["analysis"]["driving"]["method"] != "iid" else \
        {"late_vs_early": doc["permutation"], "equivalence": doc["equivalence"]}
    pooled = next((r for r in drv["late_vs_early"] if r["family"] == "pooled"), None)
    if pooled is not None and pooled["statistic"] is not None:
        s = fmt_num(pooled["statistic"])
        for what, body in (("text", text), ("markdown", md), ("latex", tex), ("report", rep)):
            assert s in body, (why, what, s)
    for r in drv["equivalence"]:
        if r["family"] == "pooled" and r["ci_low"] is not None:
            assert fmt_num(r["ci_low"]) in md and fmt_num(r["ci_high"]) in md, (why, r)
    verdict = _csv_rows(out / "csv" / "verdict.csv")
    assert [r["label"] for r in verdict] == [label], why
    # CSV: the same rows, the same numbers, exactly
    for table, rows in (("permutation", doc["permutation"]),
                        ("robust_late_vs_early", doc["robust"]["late_vs_early"]),
                        ("equivalence", doc["equivalence"]),
                        ("robust_equivalence", doc["robust"]["equivalence"])):
        got = _csv_rows(out / "csv" / f"{table}.csv")
        assert len(got) == len(rows), (why, table)
        for g, r in zip(got, rows):
            for k in ("statistic", "p_value", "ci_low", "ci_high", "mean", "p_holm"):
                if k in r:
                    assert _num(g[k]) == r[k], (why, table, k, g[k], r[k])


def _argv(opts, folder):
    """The options as command-line arguments (a custom phase map as a TOML file in folder)."""
    out = []
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, dict):
            path = folder / "phases.toml"
            path.write_text("[phases]\n" + "".join(f"{p} = {b}\n" for p, b in v.items()))
            v = str(path)
        out += [flag, *v] if isinstance(v, tuple) else [flag, str(v)]
    return out


NAMES = ("m", "../esc", "a/b", "..", "x y", "/abs", "ü")


# figures in a third of the runs (matplotlib is most of a run's time)
RUNS = (sweeps(), options(), st.sampled_from((None,) + NAMES),
        st.sampled_from((False, True, False)), st.sampled_from(((), ("--full",), ("--brief",))))


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=HEALTH)
@given(*RUNS)
def test_command_line_exports_agree_and_stay_in_their_folders(tmp_path_factory, capsys, case,
                                                              opts, name, plot, text_option):
    command_line_invariants(tmp_path_factory, capsys, case, opts, name, plot, text_option)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=HEALTH)
@given(*RUNS)
def test_command_line_exports_agree_and_stay_in_their_folders_long(
        tmp_path_factory, capsys, case, opts, name, plot, text_option):
    command_line_invariants(tmp_path_factory, capsys, case, opts, name, plot, text_option)


def command_line_invariants(tmp_path_factory, capsys, case, opts, name, plot, text_option):
    """One run of `gaugetest test` with every export (and `gaugetest power`): exit 0, the
    invariants on its JSON, the exports agree, and nothing is written elsewhere."""
    from gaugetest.cli import main

    if plot:
        pytest.importorskip("matplotlib")
    null, aligned, why = case
    root = tmp_path_factory.mktemp("run")
    inputs = root / "in"
    inputs.mkdir()
    (inputs / "n.json").write_text(json.dumps(null))
    (inputs / "a.json").write_text(json.dumps(aligned))
    out = root / "out"
    out.mkdir()
    named = [out / "r.json", out / "csv", out / "r.md", out / "r.tex", out / "report.md"]
    argv = ["test"]
    if name:
        # a family of two: this sweep, and a second model with the same layout and other data
        rng = np.random.default_rng(len(why))
        other = {**aligned, "aligned_cos": {
            f: {L: float(np.clip(v + 0.002 * rng.standard_normal(), -1, 1))
                for L, v in vals.items()} for f, vals in aligned["aligned_cos"].items()}}
        (inputs / "a2.json").write_text(json.dumps(other))
        argv += [f"--model={name}={inputs / 'n.json'},{inputs / 'a.json'}",
                 f"--model=second={inputs / 'n.json'},{inputs / 'a2.json'}"]
    else:
        argv += [str(inputs / "n.json"), str(inputs / "a.json")]
    argv += _argv(opts, inputs) + ["--json", str(named[0]), "--csv", str(named[1]), "--markdown",
                           str(named[2]), "--latex", str(named[3]), "--report", str(named[4])]
    if plot:
        named.append(out / "plots")
        argv += ["--plot", str(named[-1])]
    argv += list(text_option)
    before = set(root.rglob("*"))
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, (why, opts, captured.err)
    written = set(root.rglob("*")) - before
    assert all(any(p == n or n in p.parents for n in named) for p in written), \
        (why, sorted(map(str, written)))
    doc = json.loads(named[0].read_text())
    if name:
        check_family(doc, why)
        for d in doc["models"]:
            check_document(d, why)
        doc = doc["models"][0]
    check_document(doc, why)
    if not name:
        check_exports(doc, captured.out, out, why)
    # `gaugetest power` on the same input and settings: exit 0, the same power numbers
    code = main(["power", str(inputs / "n.json"), str(inputs / "a.json"), *_argv(opts, inputs),
                 "--json", str(out / "power.json")])
    captured = capsys.readouterr()
    assert code == 0, (why, opts, captured.err)
    if not name:        # (in a family run each model's robust analysis shares the dependence)
        assert json.loads((out / "power.json").read_text())["power"] == doc["power"], why
