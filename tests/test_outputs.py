"""The results file: required keys, equality with the API, determinism, hashes, warnings, and
safe writing (atomic files; devices and FIFOs written straight through; Ctrl-C)."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

from gaugetest import analyze
from gaugetest.cli import main
from gaugetest.render.json_out import to_json
from gaugetest.studies.synthetic import synthetic_sweeps
from conftest import write_json
from helpers import sweeps_from_deltas

FAST = ["--n-boot", "300", "--n-perm", "3000"]


@pytest.fixture
def files(tmp_path):
    null, aligned = synthetic_sweeps(64, seed=3)
    return write_json(tmp_path / "m-null.json", null), write_json(tmp_path / "m-aligned.json", aligned)


def run_json(files, tmp_path, *extra, name="r.json"):
    out = tmp_path / name
    assert main(["test", str(files[0]), str(files[1]), "--json", str(out), *FAST, *extra]) == 0
    return out


def test_required_keys(files, tmp_path, capsys):
    doc = json.loads(run_json(files, tmp_path).read_text())
    capsys.readouterr()
    assert doc["version"]
    for k in ("null", "aligned"):
        assert set(doc["inputs"][k]) >= {"path", "sha256"}
    assert set(doc["settings"]) >= {"alpha", "margin", "n_boot", "n_perm", "seed", "ci_method",
                                    "phases", "compare"}
    assert set(doc["pairs"][0]) == {"L", "phase", "family", "raw", "aligned", "delta"}
    assert set(doc["phase_summary"][0]) >= {"phase", "family", "n", "mean", "ci_low",
                                            "ci_high"}
    assert set(doc["permutation"][0]) >= {"family", "statistic", "ci_low", "ci_high", "level",
                                          "p_value", "p_holm", "exact", "n_resamples"}
    assert set(doc["robust"]["late_vs_early"][0]) >= {"family", "statistic", "ci_low",
                                                      "ci_high", "level", "p_value", "se", "df",
                                                      "tost_ci_low", "tost_ci_high"}
    a = doc["analysis"]
    assert set(a) >= {"model", "quantity", "compare", "ci_level", "tost_level", "margin",
                      "equivalence_phases", "driving"}
    assert set(a["quantity"]) >= {"key", "symbol", "name", "definition", "baseline", "gauge",
                                  "range", "equivalence_testable"}
    assert set(doc["equivalence"][0]) >= {"phase", "family", "margin_low", "margin_high",
                                          "p_lower", "p_upper", "p_value", "ci_low", "ci_high",
                                          "equivalent"}
    assert set(doc["verdict"]) >= {"label", "headline", "reasons", "caveat", "evidence"}
    assert {r["family"] for r in doc["phase_summary"]} >= {"pooled", "q_proj"}
    assert doc["permutation"][-1]["family"] == "pooled"
    assert len(doc["pairs"]) == 63 * 7


def test_hashes_are_of_the_input_bytes(files, tmp_path, capsys):
    doc = json.loads(run_json(files, tmp_path).read_text())
    for k, p in zip(("null", "aligned"), files):
        assert doc["inputs"][k]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_cli_json_equals_api(files, tmp_path, capsys):
    text = run_json(files, tmp_path).read_text()
    res = analyze(str(files[0]), str(files[1]), n_boot=300, n_perm=3000)
    assert text == to_json(res)
    assert json.loads(text) == json.loads(json.dumps(res.to_dict()))


def test_same_seed_same_bytes_other_seed_differs(files, tmp_path, capsys):
    a = run_json(files, tmp_path, "--seed", "7", name="a.json").read_bytes()
    b = run_json(files, tmp_path, "--seed", "7", name="b.json").read_bytes()
    c = run_json(files, tmp_path, "--seed", "8", name="c.json").read_bytes()
    assert a == b and a != c


def test_same_bytes_across_processes(files, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"p{i}.json"
        subprocess.run([sys.executable, "-m", "gaugetest", "test", str(files[0]), str(files[1]),
                        "--json", str(out), *FAST], check=True, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_api_accepts_dicts_and_paths(files):
    null, aligned = (json.loads(p.read_text()) for p in files)
    a = analyze(null, aligned, n_boot=300, n_perm=3000).to_dict()
    b = analyze(str(files[0]), str(files[1]), n_boot=300, n_perm=3000).to_dict()
    for k in ("pairs", "phase_summary", "permutation", "equivalence", "verdict"):
        assert a[k] == b[k]


def test_json_to_stdout_only(files, capsys):
    assert main(["test", str(files[0]), str(files[1]), "--json", "-", *FAST]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"]["label"]


def test_plain_text_when_piped(files):
    r = subprocess.run([sys.executable, "-m", "gaugetest", "test", str(files[0]), str(files[1]),
                        *FAST], capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0 and "\x1b[" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 100
    assert r.stdout.isascii() or all(ord(c) < 0x2600 for c in r.stdout)


def test_warnings_are_listed_once_and_recorded(tmp_path, capsys):
    d = np.full((63, 3), 0.05)
    d[5, 1] = -0.01                         # negative delta
    null, aligned = sweeps_from_deltas(d, 64, families=("q_proj", "k_proj", "v_proj"))
    aligned["aligned_cos"]["o_proj"] = {"0": 0.5}            # family in the aligned file only
    for f in aligned["aligned_cos"].values():
        f.pop("40", None)                                    # a pair missing from aligned
    del null["pair_results"][10]["families"]["v_proj"]       # an incomplete pair
    n, a = write_json(tmp_path / "n.json", null), write_json(tmp_path / "a.json", aligned)
    out = tmp_path / "r.json"
    assert main(["test", str(n), str(a), "--json", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    codes = [w["code"] for w in json.loads(out.read_text())["warnings"]]
    assert sorted(codes) == sorted(["family-in-one-file", "pairs-missing-aligned",
                                    "incomplete-pairs", "negative-delta"])
    assert text.count("warning:") == 4
    assert "L=5 k_proj" in text


def test_incomplete_pairs_left_out_of_pooled_only(tmp_path):
    d = np.random.default_rng(0).normal(0.05, 0.01, (63, 3))
    null, aligned = sweeps_from_deltas(d, 64, families=("q_proj", "k_proj", "v_proj"))
    del aligned["aligned_cos"]["k_proj"]["12"]               # pair 12 is in phase C
    res = analyze(null, aligned, n_boot=300, n_perm=300)
    assert res.summary("C", "q_proj").n == 22
    assert res.summary("C", "k_proj").n == 21
    assert res.summary("C", "pooled").n == 21


# ----------------------------------------------------------------------------- safe writing

def test_dev_null_stays_a_device(files, capsys):
    assert main(["test", str(files[0]), str(files[1]), "--json", "/dev/null", *FAST]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_is_written_straight_through(files, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", open(fifo).read()))
    reader.start()
    assert main(["test", str(files[0]), str(files[1]), "--json", str(fifo), *FAST]) == 0
    reader.join(10)
    assert json.loads(got["text"])["verdict"]["label"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gaugetest")] == []


def test_existing_file_replaced_atomically(files, tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("old")
    run_json(files, tmp_path)
    assert json.loads(out.read_text())["version"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gaugetest")] == []


def test_interrupt_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.json"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)  # interrupted between writing and renaming
    code = main(["test", str(files[0]), str(files[1]), "--json", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gaugetest")] == []


def test_internal_error_exits_1(files, capsys, monkeypatch):
    import gaugetest.analysis as an

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(an, "make_verdict", broken)
    code = main(["test", str(files[0]), str(files[1]), *FAST])
    err = capsys.readouterr().err
    assert code == 1 and "internal error" in err and "Traceback" not in err


def test_csv_is_byte_identical_across_runs(files, tmp_path, capsys):
    dirs = []
    for k in range(2):
        d = tmp_path / f"csv{k}"
        assert main(["test", str(files[0]), str(files[1]), *FAST, "--csv", str(d)]) == 0
        dirs.append(d)
    names = sorted(p.name for p in dirs[0].iterdir())
    assert names == sorted(p.name for p in dirs[1].iterdir())
    for n in names:
        assert (dirs[0] / n).read_bytes() == (dirs[1] / n).read_bytes()
