"""Exports: CSV numbers equal the JSON's exactly; Markdown, LaTeX and the report show the
JSON's numbers in their stated formats; plots render headless; several models in one run."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import write_json
from gaugetest import analyze
from gaugetest.cli import main
from gaugetest.formatting import fmt_interval, fmt_num, fmt_p, p_phrase
from gaugetest.studies.synthetic import synthetic_sweeps
from helpers import assert_usage_error

FAST = ["--n-boot", "300", "--n-perm", "3000"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("exports")
    null, aligned = synthetic_sweeps(64, seed=11, effect=0.02)
    n, a = write_json(d / "n.json", null), write_json(d / "a.json", aligned)
    argv = ["test", str(n), str(a), *FAST, "--json", str(d / "r.json"), "--csv", str(d / "csv"),
            "--markdown", str(d / "r.md"), "--latex", str(d / "r.tex"), "--report",
            str(d / "report.md"), "--plot", str(d / "plots")]
    assert main(argv) == 0
    return d, json.loads((d / "r.json").read_text()), (n, a)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _same(cell, value):
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, (int, float)):
        return float(cell) == float(value)
    return cell == str(value)


@pytest.mark.parametrize("table,key", [("pairs", ("pairs",)), ("phase_summary", ("phase_summary",)),
                                       ("permutation", ("permutation",)),
                                       ("equivalence", ("equivalence",)),
                                       ("robust_late_vs_early", ("robust", "late_vs_early")),
                                       ("diagnostics", ("diagnostics", "rows"))])
def test_csv_numbers_equal_json(outputs, table, key):
    d, doc, _ = outputs
    rows = read_csv(d / "csv" / f"{table}.csv")
    ref = doc
    for k in key:
        ref = ref[k]
    assert len(rows) == len(ref)
    for got, want in zip(rows, ref):
        for k, v in want.items():
            assert _same(got[k], v), (table, k, got[k], v)


def test_frames_equal_csv(outputs):
    d, doc, (n, a) = outputs
    res = analyze(str(n), str(a), n_boot=300, n_perm=3000)
    frames = res.to_frames()
    for name in ("permutation", "equivalence", "phase_summary", "robust_equivalence"):
        rows = read_csv(d / "csv" / f"{name}.csv")
        df = frames[name]
        assert list(df.columns) == list(rows[0].keys())
        assert len(df) == len(rows)


def test_markdown_and_latex_show_json_numbers(outputs):
    d, doc, _ = outputs
    md, tex = (d / "r.md").read_text(), (d / "r.tex").read_text()
    for block in (doc["permutation"], doc["robust"]["late_vs_early"]):
        for r in block:
            row = (f"| {r['family']} | {fmt_num(r['statistic'])} | "
                   f"{fmt_interval(r['ci_low'], r['ci_high'])} | {fmt_p(r['p_value'])} |")
            assert row in md, row
            # LaTeX: the same numbers, signed numbers in math mode (true minus signs)
            tex_row = f"{r['family'].replace('_', chr(92) + '_')} & ${fmt_num(r['statistic'])}$ &"
            assert tex_row in tex, tex_row
    for r in doc["phase_summary"]:
        assert (f"| {r['phase']} | {r['family']} | {r['n']} | {fmt_num(r['mean'])} | "
                f"{fmt_interval(r['ci_low'], r['ci_high'])} |") in md
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and "_proj" not in tex.replace(r"\_proj", "")
    assert tex.count(r"\label{tab:gaugetest-") == tex.count(r"\begin{table}")
    assert "$-" in tex or "$+" in tex


def test_report_numbers_equal_json(outputs):
    d, doc, _ = outputs
    rep = (d / "report.md").read_text()
    a = doc["analysis"]
    rob = doc["robust"]["late_vs_early"][-1]
    perm = doc["permutation"][-1]
    results = rep.split("## Results")[1]
    first = results.split("\n\n")[1].split(". ")[0]
    # the first results sentence leads with the compared difference and its interval
    assert fmt_num(rob["statistic"]) in first
    assert fmt_interval(rob["ci_low"], rob["ci_high"]) in first
    assert p_phrase(rob["p_value"]) in first
    assert fmt_interval(perm["ci_low"], perm["ci_high"]) in results
    summ = {(r["phase"], r["family"]): r for r in doc["robust"]["phase_summary"]}
    for ph in doc["settings"]["compare"]:
        r = summ[(ph, "pooled")]
        assert fmt_interval(r["ci_low"], r["ci_high"]) in rep
    detail = doc["robust"]["detail"]
    assert f"ρ = {detail['lag1']:.2f}" in rep and "effective sample sizes" in rep
    assert f"seed {doc['settings']['seed']}" in rep
    assert f"**{doc['verdict']['label']}**" in rep
    assert a["quantity"]["definition"] in rep
    for ref in ("Efron", "Phipson", "Schuirmann", "Holm", "Patterson", "Hoeting", "Hall"):
        assert ref in rep.split("## References")[1]


def test_p_values_print_as_journals_print_them(tmp_path):
    null, aligned = synthetic_sweeps(64, seed=2, effect=0.2)
    n, a = write_json(tmp_path / "n.json", null), write_json(tmp_path / "a.json", aligned)
    assert main(["test", str(n), str(a), "--n-boot", "200", "--n-perm", "1000",
                 "--markdown", str(tmp_path / "r.md"), "--report", str(tmp_path / "rep.md")]) == 0
    md, rep = (tmp_path / "r.md").read_text(), (tmp_path / "rep.md").read_text()
    assert "<0.001" in md and "0.000999" not in md
    assert "p < 0.001" in rep
    assert "p = 1" not in rep and "p = 0.000" not in rep


def test_plots_render_headless(outputs):
    d, _, _ = outputs
    for name in ("delta_by_layer", "forest", "difference", "permutation_null"):
        png = (d / "plots" / f"{name}.png").read_bytes()
        pdf = (d / "plots" / f"{name}.pdf").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and pdf[:5] == b"%PDF-"
        width = int.from_bytes(png[16:20], "big")
        assert width <= 3.6 * 300          # single-column width at 300 dpi


def test_several_models_in_one_run(tmp_path, capsys):
    paths = {}
    for name, seed in (("m1", 1), ("m2", 2)):
        null, aligned = synthetic_sweeps(64, seed=seed)
        paths[name] = (write_json(tmp_path / f"{name}-n.json", null),
                       write_json(tmp_path / f"{name}-a.json", aligned))
    out = tmp_path / "multi.json"
    argv = ["test", *FAST, "--json", str(out), "--csv", str(tmp_path / "csv")]
    for name, (n, a) in paths.items():
        argv += ["--model", f"{name}={n},{a}"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Summary: one verdict per model" in text
    doc = json.loads(out.read_text())
    assert [m["model"] for m in doc["models"]] == ["m1", "m2"]
    assert [r["model"] for r in doc["summary"]] == ["m1", "m2"]
    single = analyze(str(paths["m2"][0]), str(paths["m2"][1]), n_boot=300, n_perm=3000).to_dict()
    # the iid analysis is the model's own; the robust one uses the dependence model the two
    # models share (issue 18), and says so
    assert doc["models"][1]["permutation"] == single["permutation"]
    assert doc["models"][1]["robust"]["detail"]["shared"]["models"] == ["m1", "m2"]
    assert "across_models" in doc
    from gaugetest import analyze_models
    alone = analyze_models({k: tuple(map(str, v)) for k, v in paths.items()}, n_boot=300,
                           n_perm=3000, share_dependence=False).to_dict()
    assert alone["models"][1]["verdict"] == single["verdict"]
    rows = read_csv(tmp_path / "csv" / "permutation.csv")
    assert {r["model"] for r in rows} == {"m1", "m2"}
    # the same models from a manifest give the same combined file
    man = tmp_path / "models.toml"
    man.write_text("".join(f'[models.{k}]\nnull = "{v[0].name}"\naligned = "{v[1].name}"\n'
                           for k, v in paths.items()))
    out2 = tmp_path / "multi2.json"
    assert main(["test", *FAST, "--json", str(out2), "--manifest", str(man)]) == 0
    doc2 = json.loads(out2.read_text())
    assert doc2["summary"] == doc["summary"]


@pytest.mark.parametrize("argv,expect", [
    (["--model", "noequals"], "--model"),
    (["--model", "a=only-one.json"], "--model"),
])
def test_bad_model_option(capsys, argv, expect):
    assert_usage_error(capsys, ["test", *argv], expect)


def test_demo_writes_every_export(tmp_path, capsys):
    argv = ["demo", "--layers", "all", "--n-boot", "200", "--n-perm", "500",
            "--json", str(tmp_path / "d.json"),
            "--csv", str(tmp_path / "csv"), "--report", str(tmp_path / "rep.md"),
            "--markdown", str(tmp_path / "d.md"), "--latex", str(tmp_path / "d.tex"),
            "--plot", str(tmp_path / "plots")]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert [m["model"] for m in doc["models"]] == ["synthetic-64", "synthetic-36"]
    assert (tmp_path / "plots" / "synthetic-64" / "forest.pdf").exists()
    # the 64-layer demo carries a matched null: the excess is analysed and plotted as such
    assert (tmp_path / "plots" / "synthetic-64" / "excess_by_layer.png").exists()
    assert (tmp_path / "plots" / "synthetic-36" / "delta_by_layer.png").exists()
    assert (tmp_path / "csv" / "summary.csv").exists()
