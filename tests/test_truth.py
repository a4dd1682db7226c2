"""Every output tells the truth about what it analysed (issue 10's checks), on the demo and on
SmolLM2-135M as measured by `gaugetest measure` (tests/data/smollm2-*.json; provenance in
tests/data/README.md):

- under the matched baseline no output calls the quantity "mean delta" or "delta", and every
  figure differs from its raw-baseline twin;
- every "min margin" equals max(|low|, |high|) of the interval printed beside it;
- the pooled E − C rows carry ci_low <= statistic <= ci_high, iid and robust;
- no line is wider than 80 columns or cut with "…" at 80 columns (and at 120), and the verdict
  label is in the first 30 lines (the headline is at most 15 lines);
- the report has no command-line option, no file path and no "p = 1".
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from conftest import write_json
from gaugetest import analyze
from gaugetest.cli import main
from gaugetest.render.text import headline_lines, render_text
from gaugetest.studies.synthetic import demo_sweeps

DATA = Path(__file__).parent / "data"
FAST = ["--n-boot", "400", "--n-perm", "3000"]


def _inputs(tmp, which):
    if which == "demo":
        null, aligned = demo_sweeps(64)
        return (write_json(tmp / "demo-null.json", null),
                write_json(tmp / "demo-aligned.json", aligned), [])
    n, a = DATA / "smollm2-null.json", DATA / "smollm2-aligned.json"
    if not n.exists():
        pytest.skip("tests/data/smollm2-*.json not present")
    return n, a, ["--phases", "fractional"]


@pytest.fixture(scope="module", params=["demo", "smollm2"])
def runs(request, tmp_path_factory):
    """Each input analysed twice (matched baseline, raw baseline) with every export."""
    tmp = tmp_path_factory.mktemp(request.param)
    n, a, extra = _inputs(tmp, request.param)
    out = {}
    for base in ("matched", "raw"):
        d = tmp / base
        d.mkdir()
        argv = ["test", str(n), str(a), *FAST, *extra, "--baseline", base,
                "--json", str(d / "r.json"), "--csv", str(d / "csv"), "--markdown",
                str(d / "r.md"), "--latex", str(d / "r.tex"), "--report", str(d / "report.md"),
                "--plot", str(d / "fig")]
        assert main(argv) == 0
        doc = json.loads((d / "r.json").read_text())
        res = analyze(str(n), str(a), n_boot=400, n_perm=3000, baseline=base,
                      phases=extra[1] if extra else "auto")
        out[base] = (d, doc, res)
    return request.param, out


def _texts(d: Path) -> dict[str, str]:
    t = {p.name: p.read_text() for p in (d / "r.md", d / "r.tex", d / "report.md")}
    for p in (d / "csv").iterdir():
        t[f"csv/{p.name}"] = p.read_text()
    return t


def test_matched_baseline_never_says_delta(runs, capsys):
    _, out = runs
    d, doc, res = out["matched"]
    assert doc["analysis"]["quantity"]["key"] == "excess"
    for name, text in _texts(d).items():
        assert "mean delta" not in text.lower(), name
        assert "mean_delta" not in text, name
        assert not re.search(r"\bdelta\(", text), name
    for width in (80, 120):
        buf = io.StringIO()
        render_text(res, buf, width=width)
        body = buf.getvalue()
        # the per-pair table shows raw and aligned cosines; nothing calls the analysed mean delta
        assert "mean delta" not in body.lower() and "delta(" not in body
    # CSV rows say what their mean is
    rows = list(csv.DictReader((d / "csv" / "robust_late_vs_early.csv").open()))
    assert {r["quantity"] for r in rows} == {"excess"}
    # the raw-baseline twin does call it delta
    d_raw, doc_raw, _ = out["raw"]
    assert doc_raw["analysis"]["quantity"]["key"] == "delta"
    assert "delta(E) − delta(C)" in (d_raw / "report.md").read_text()


def test_every_figure_differs_from_its_raw_baseline_twin(runs):
    _, out = runs
    fm, fr = out["matched"][0] / "fig", out["raw"][0] / "fig"
    assert (fm / "excess_by_layer.png").exists() and not (fm / "delta_by_layer.png").exists()
    assert (fr / "delta_by_layer.png").exists()
    assert (fm / "excess_by_layer.png").read_bytes() != (fr / "delta_by_layer.png").read_bytes()
    for name in ("forest", "difference", "permutation_null"):
        assert (fm / f"{name}.png").read_bytes() != (fr / f"{name}.png").read_bytes(), name


def _float(cell):
    return float(cell.replace("−", "-"))


def test_min_margin_equals_the_interval_beside_it(runs):
    _, out = runs
    for base in ("matched", "raw"):
        d, doc, res = out[base]
        for width in (80, 120):
            buf = io.StringIO()
            render_text(res, buf, width=width, full=True)
            lines = buf.getvalue().splitlines()
            checked = 0
            for i, line in enumerate(lines):
                if not re.match(r"^\s*phase\s+(family\s+)?n\s+mean\s+low\s+high\s+TOST p\s+"
                                r"equiv\.\s+margin", line):
                    continue
                # the header's first line names the interval's level: 90% CI
                assert "90% CI" in lines[i - 1]
                for row in lines[i + 2:]:
                    if not row.strip() or row.startswith(" "):
                        continue            # a gap between phases, or a wrapped note
                    if not re.match(r"^\S+\s+(\S+\s+)?\d+\s+[+-]\d", row):
                        break               # the table ended
                    cells = row.split()
                    k = 3 if cells[1].isdigit() else 4     # phase [family] n mean low high
                    if cells[k] in ("—", "-"):
                        continue                            # no interval (too few pairs)
                    low, high = _float(cells[k]), _float(cells[k + 1])
                    mm = cells[k + 4]
                    if mm == "—" or mm == "-":
                        continue
                    assert float(mm) == pytest.approx(max(abs(low), abs(high)), abs=1.5e-4)
                    checked += 1
            assert checked >= 10
        # Markdown: "[low, high]" then p, yes/no, min margin
        md = (d / "r.md").read_text()
        rows = re.findall(r"\| \[([^,]+), ([^\]]+)\] \| [^|]+ \| (yes|no|—) \| ([0-9.]+) \|", md)
        assert rows
        for low, high, _, mm in rows:
            assert float(mm) == pytest.approx(max(abs(_float(low)), abs(_float(high))), abs=1.5e-4)


def test_pooled_difference_rows_carry_their_interval(runs):
    _, out = runs
    for base in ("matched", "raw"):
        _, doc, _ = out[base]
        for rows in (doc["permutation"], doc["robust"]["late_vs_early"]):
            pooled = rows[-1]
            assert pooled["family"] == "pooled"
            assert pooled["ci_low"] <= pooled["statistic"] <= pooled["ci_high"]
            assert pooled["level"] == doc["analysis"]["ci_level"]
            for r in rows:
                if r["ci_low"] is not None:
                    assert r["ci_low"] <= r["statistic"] <= r["ci_high"]


@pytest.mark.parametrize("width", [80, 120])
def test_nothing_is_cut_and_the_verdict_comes_first(runs, width):
    _, out = runs
    for base in ("matched", "raw"):
        _, doc, res = out[base]
        for ascii_mode in ("1", "0"):
            buf = io.StringIO()
            import os
            old = os.environ.get("GAUGETEST_ASCII")
            os.environ["GAUGETEST_ASCII"] = ascii_mode
            try:
                render_text(res, buf, width=width, full=True)
            finally:
                if old is None:
                    os.environ.pop("GAUGETEST_ASCII")
                else:
                    os.environ["GAUGETEST_ASCII"] = old
            lines = buf.getvalue().splitlines()
            assert max(len(ln) for ln in lines) <= width
            assert not any("…" in ln for ln in lines)
            label = doc["verdict"]["label"]
            assert any(label.upper() in ln for ln in lines[:30])
            if ascii_mode == "1":
                assert all(ln.isascii() for ln in lines)
                # every symbol has a spelled-out ASCII form: nothing fell back to '?'
                assert not any("?" in ln for ln in lines)
        rows = headline_lines(res)
        buf = io.StringIO()
        from gaugetest.render.text import _headline
        from gaugetest.render.layout import Page
        _headline(res, Page(buf, width))
        assert len(buf.getvalue().splitlines()) <= 15
        assert rows[0][0] == "model"


def test_report_can_be_pasted(runs):
    _, out = runs
    for base in ("matched", "raw"):
        d, doc, _ = out[base]
        rep = (d / "report.md").read_text()
        assert not re.search(r"(^|\s)--[a-z]", rep), "a command-line option in the report"
        assert "docs/" not in rep and ".json" not in rep and "/tmp" not in rep
        for k in ("null", "aligned"):
            assert doc["inputs"][k]["path"] not in rep
        assert not re.search(r"p = 1(\.0+)?\b", rep) and "p = 0.000" not in rep
        rob = doc["robust"]
        # the robust method is stated with its levels and, for neff, rho and n_eff
        assert "95% confidence interval" in rep or "95% CI" in rep
        if rob["method"] == "neff" and rob["detail"].get("rho") is not None:
            assert "ρ = " in rep and "effective sample sizes" in rep
        first = rep.split("## Results")[1].split("\n\n")[1].split(". ")[0]
        assert "minus that in phase" in first or "could not be run" in first
        # the first sentence names the difference, its interval and its p
        assert "could not be run" in first or ("CI [" in first and "p " in first)


def test_several_models_get_distinct_captions_and_labels(tmp_path):
    paths = []
    for n in (64, 36):
        null, aligned = demo_sweeps(n)
        paths.append((write_json(tmp_path / f"{n}-n.json", null),
                      write_json(tmp_path / f"{n}-a.json", aligned)))
    argv = ["test", *FAST, "--latex", str(tmp_path / "t.tex"), "--markdown",
            str(tmp_path / "t.md"), "--model", f"big={paths[0][0]},{paths[0][1]}",
            "--model", f"small={paths[1][0]},{paths[1][1]}"]
    assert main(argv) == 0
    tex = (tmp_path / "t.tex").read_text()
    captions = re.findall(r"\\caption\{(.*)\}", tex)
    labels = re.findall(r"\\label\{(.*)\}", tex)
    assert len(captions) == len(set(captions)) and len(labels) == len(set(labels))
    assert any(c.startswith("big:") for c in captions) and any(c.startswith("small:")
                                                               for c in captions)
    md = (tmp_path / "t.md").read_text()
    assert "# gaugetest results: big" in md and "# gaugetest results: small" in md


def test_loose_ends(tmp_path, capsys):
    import gaugetest
    assert {"analyze", "analyze_many", "AnalysisResult", "LABELS"} <= set(dir(gaugetest))
    res = analyze(*demo_sweeps(64), n_boot=200, n_perm=500)
    r = repr(res)
    assert len(r) < 300 and "verdict=" in r and "excess" in r
    # the demo header names its inputs, not '<aligned dict>'
    buf = io.StringIO()
    render_text(res, buf, width=80)
    assert "dict>" not in buf.getvalue() and "synthetic-64" in buf.getvalue()
    # demo --write-inputs creates its directory
    target = tmp_path / "new" / "inputs"
    assert main(["demo", "--layers", "64", "--brief", "--n-boot", "200", "--n-perm", "500",
                 "--write-inputs", str(target)]) == 0
    assert (target / "synthetic-64-null.json").exists()
    capsys.readouterr()
    # power lists only the options it honours, and its --help has no '%%'
    with pytest.raises(SystemExit):
        main(["power", "--help"])
    help_text = capsys.readouterr().out
    assert "%%" not in help_text and "--report" not in help_text and "--json" in help_text


@pytest.mark.skipif(__import__("shutil").which("script") is None, reason="needs util-linux script")
@pytest.mark.parametrize("env", ["NO_COLOR=1 ", ""])
def test_demo_on_a_real_80_column_terminal(env):
    """The demo in a pseudo-terminal of 80 columns (util-linux `script`): no line wider than 80
    characters, none cut with '…'; with NO_COLOR (plain ASCII) none wider than 80 bytes."""
    import subprocess
    import sys
    cmd = (f"stty cols 80 rows 60; {env}{sys.executable} -m gaugetest demo --n-boot 300 "
           "--n-perm 1000")
    raw = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                         timeout=120).stdout
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", raw).replace(b"\r", b"")
    lines = text.split(b"\n")
    assert len(lines) > 100
    assert max(len(ln.decode("utf-8")) for ln in lines) <= 80
    assert not any("…".encode() in ln for ln in lines)
    if env:
        assert max(len(ln) for ln in lines) <= 80
    assert b"TRAINING-ARTIFACT" in b"\n".join(lines[:40])
