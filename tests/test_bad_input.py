"""The catalogue of malformed inputs and settings: each one exits 2 with one line naming the
file (or option), the field and what was expected; no traceback; no output file created."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from gaugetest.cli import main
from helpers import assert_usage_error, sweeps_from_deltas

BASE_NULL, BASE_ALIGNED = sweeps_from_deltas(np.full((7, 3), 0.01), 8,
                                             families=("q_proj", "k_proj", "v_proj"))


def edit(doc, fn):
    d = copy.deepcopy(doc)
    fn(d)
    return d


def setkey(path, value):
    def fn(d):
        *head, last = path
        for k in head:
            d = d[k]
        d[last] = value
    return fn


def delkey(*path):
    def fn(d):
        *head, last = path
        for k in head:
            d = d[k]
        del d[last]
    return fn


N, A = "null", "aligned"
# (id, which file, replacement: dict -> JSON, str -> raw text, bytes -> raw bytes, expected text)
FILE_CASES = [
    ("not-json", N, "{not json", "valid JSON"),
    ("empty-file", N, "", "an empty file"),
    ("whitespace-file", A, "  \n", "an empty file"),
    ("top-level-list", N, [], "$: expected a JSON object"),
    ("aligned-top-level-string", A, "\"x\"", "$: expected a JSON object"),
    ("missing-pair_results", N, edit(BASE_NULL, delkey("pair_results")), "pair_results"),
    ("pair_results-object", N, edit(BASE_NULL, setkey(["pair_results"], {})), "pair_results"),
    ("pair_results-empty", N, edit(BASE_NULL, setkey(["pair_results"], [])), "at least one"),
    ("missing-aligned_cos", A, edit(BASE_ALIGNED, delkey("aligned_cos")), "aligned_cos"),
    ("missing-num_layers", A, edit(BASE_ALIGNED, delkey("num_layers")), "num_layers"),
    ("num_layers-string", A, edit(BASE_ALIGNED, setkey(["num_layers"], "64")), "num_layers"),
    ("num_layers-zero", A, edit(BASE_ALIGNED, setkey(["num_layers"], 0)), "num_layers"),
    ("num_layers-float", N, edit(BASE_NULL, setkey(["num_layers"], 8.5)), "num_layers"),
    ("num_layers-too-small", A, edit(BASE_ALIGNED, setkey(["num_layers"], 4)), "num_layers - 2"),
    ("num_layers-mismatch", N, edit(BASE_NULL, setkey(["num_layers"], 9)), "num_layers"),
    ("L-float", N, edit(BASE_NULL, setkey(["pair_results", 2, "L"], 2.0)), "pair_results[2].L"),
    ("L-negative", N, edit(BASE_NULL, setkey(["pair_results", 0, "L"], -1)), "pair_results[0].L"),
    ("L-out-of-range", N, edit(BASE_NULL, setkey(["pair_results", 6, "L"], 7)), "pair_results[6].L"),
    ("L-missing", N, edit(BASE_NULL, delkey("pair_results", 1, "L")), "pair_results[1].L"),
    ("L_next-wrong", N, edit(BASE_NULL, setkey(["pair_results", 3, "L_next"], 5)),
     "pair_results[3].L_next"),
    ("duplicate-pair", N, edit(BASE_NULL, setkey(["pair_results", 3, "L"], 2)), "each pair once"),
    ("pair-not-object", N, edit(BASE_NULL, setkey(["pair_results", 1], 5)), "pair_results[1]"),
    ("families-missing", N, edit(BASE_NULL, delkey("pair_results", 1, "families")),
     "pair_results[1].families"),
    ("family-without-cos", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "q_proj"],
                                                     {"null_mean": 0.1})),
     "pair_results[1].families.q_proj.cos"),
    ("family-entry-list", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "q_proj"],
                                                    [0.1])), "families.q_proj"),
    ("cos-string", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "q_proj", "cos"],
                                             "0.1")), "families.q_proj.cos"),
    ("cos-null", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "k_proj", "cos"],
                                           None)), "families.k_proj.cos"),
    ("cos-bool", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "k_proj", "cos"],
                                           True)), "families.k_proj.cos"),
    ("cos-NaN", N, json.dumps(edit(BASE_NULL, setkey(["pair_results", 1, "families", "q_proj",
                                                      "cos"], float("nan")))), "finite"),
    ("cos-Infinity", N, json.dumps(edit(BASE_NULL, setkey(["pair_results", 1, "families",
                                                           "q_proj", "cos"], float("inf")))),
     "finite"),
    ("aligned-minus-Infinity", A, json.dumps(edit(BASE_ALIGNED, setkey(
        ["aligned_cos", "q_proj", "3"], float("-inf")))), "finite"),
    ("cos-above-1", N, edit(BASE_NULL, setkey(["pair_results", 1, "families", "q_proj", "cos"],
                                              1.5)), "[-1, 1]"),
    ("aligned-below-minus-1", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "q_proj", "3"],
                                                           -1.01)), "[-1, 1]"),
    ("aligned-key-not-integer", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "q_proj", "a"],
                                                             0.1)), "integer key"),
    ("aligned-key-float", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "q_proj", "1.5"], 0.1)),
     "integer key"),
    ("aligned-key-out-of-range", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "q_proj", "7"],
                                                              0.1)), "num_layers - 2"),
    ("aligned-family-list", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "q_proj"], [0.1, 0.2])),
     "aligned_cos.q_proj"),
    ("aligned_cos-empty", A, edit(BASE_ALIGNED, setkey(["aligned_cos"], {})), "at least one family"),
    ("aligned_cos-list", A, edit(BASE_ALIGNED, setkey(["aligned_cos"], [])), "aligned_cos"),
    ("no-overlap-pairs", "both", (edit(BASE_NULL, lambda d: d["pair_results"].pop()),
                                  {"num_layers": 8, "aligned_cos": {"q_proj": {"6": 0.1}}}),
     "at least one pair"),
    ("no-common-family", A, {"num_layers": 8, "aligned_cos": {"mlp_w1": {"1": 0.1}}},
     "a family also in"),
    ("non-utf8", N, b'{"pair_results": "\xff"}', "UTF-8"),
    # issue 22 defect 9: "pooled" names the mean over families in every output
    ("family-named-pooled", N, edit(BASE_NULL, setkey(["pair_results", 2, "families", "pooled"],
                                                      {"cos": 0.1})),
     "pair_results[2].families.pooled"),
    ("aligned-family-named-pooled", A, edit(BASE_ALIGNED, setkey(["aligned_cos", "pooled"],
                                                                 {"0": 0.1})),
     "aligned_cos.pooled"),
]


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))


def _check(capsys, argv, out, *expect):
    return assert_usage_error(capsys, argv, *expect, absent=[out])


@pytest.mark.parametrize("case", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_file(tmp_path, capsys, case):
    _, which, content, expect = case
    n, a = tmp_path / "sweep-null.json", tmp_path / "sweep-aligned.json"
    if which == "both":
        _write(n, content[0])
        _write(a, content[1])
    else:
        _write(n, content if which == N else BASE_NULL)
        _write(a, content if which == A else BASE_ALIGNED)
    out = tmp_path / "out.json"
    err = _check(capsys, ["test", str(n), str(a), "--json", str(out)], out, expect)
    # the message names the file at fault
    bad = {N: n, A: a}.get(which)
    if case[0] == "num_layers-mismatch":
        bad = n  # the optional num_layers of the raw file disagrees with the aligned one
    assert str(bad) in err if bad else (str(n) in err or str(a) in err)


def test_missing_path_and_directory(tmp_path, capsys):
    a = tmp_path / "a.json"
    _write(a, BASE_ALIGNED)
    out = tmp_path / "out.json"
    _check(capsys, ["test", str(tmp_path / "nope.json"), str(a), "--json", str(out)], out,
           "nope.json", "no such file")
    _check(capsys, ["test", str(tmp_path), str(a), "--json", str(out)], out, "a directory")


def test_unreadable_file(tmp_path, capsys, monkeypatch):
    # root ignores file modes, so simulate the OS refusing the read
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    _write(n, BASE_NULL)
    _write(a, BASE_ALIGNED)
    real_open = open

    def guarded(path, *args, **kw):
        if str(path) == str(n):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr("builtins.open", guarded)
    out = tmp_path / "out.json"
    _check(capsys, ["test", str(n), str(a), "--json", str(out)], out, "readable")


SETTING_CASES = [
    (["--margin", "0"], "--margin"),
    (["--margin", "-0.1"], "--margin"),
    (["--margin", "0.03,0.01"], "LOW < 0 < HIGH"),
    (["--margin", "0.02,0.02"], "LOW < 0 < HIGH"),
    (["--margin", "abc"], "--margin"),
    (["--alpha", "0.7"], "--alpha"),
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "x"], "--alpha"),
    (["--n-boot", "50"], "--n-boot"),
    (["--n-perm", "10"], "--n-perm"),
    (["--seed", "-1"], "--seed"),
    (["--compare", "E", "Z"], "--compare"),
    (["--compare", "C", "C"], "--compare"),
    (["--ci", "studentized"], "--ci"),
    (["--phases", "qwen3-99b"], "--phases"),
]


@pytest.mark.parametrize("args,expect", SETTING_CASES, ids=[" ".join(c[0]) for c in SETTING_CASES])
def test_bad_setting(tmp_path, capsys, args, expect):
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    _write(n, BASE_NULL)
    _write(a, BASE_ALIGNED)
    out = tmp_path / "out.json"
    _check(capsys, ["test", str(n), str(a), "--json", str(out), *args], out, expect)


TOML_CASES = [
    ("not-toml", "this is = = not toml", "valid TOML"),
    ("non-integer", "[phases]\nA = 2.5\n", "phases.A"),
    ("non-increasing", "[phases]\nA = 6\nB = 4\n", "phases.B"),
    ("named-twice", "[phases]\nA = 6\na = 9\n", "named once"),
    ("duplicate-key", "[phases]\nA = 6\nA = 9\n", "valid TOML"),
    ("no-table", "A = 6\n", "[phases]"),
]


@pytest.mark.parametrize("case", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_bad_phase_file(tmp_path, capsys, case):
    _, body, expect = case
    n, a, p = tmp_path / "n.json", tmp_path / "a.json", tmp_path / "phases.toml"
    _write(n, BASE_NULL)
    _write(a, BASE_ALIGNED)
    p.write_text(body)
    out = tmp_path / "out.json"
    _check(capsys, ["test", str(n), str(a), "--phases", str(p), "--json", str(out)], out,
           str(p), expect)


def test_subprocess_shows_no_traceback(tmp_path):
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    n.write_text("{oops")
    _write(a, BASE_ALIGNED)
    r = subprocess.run([sys.executable, "-m", "gaugetest", "test", str(n), str(a)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(n) in r.stderr and "valid JSON" in r.stderr


OUTPUT_CASES = [
    (["--csv", "{file}"], "--csv"),
    (["--json", "{missing}/r.json"], "--json"),
    (["--json", "{dir}"], "--json"),
    (["--markdown", "{missing}/r.md"], "--markdown"),
    (["--plot", "{file}"], "--plot"),
]


@pytest.mark.parametrize("args,expect", OUTPUT_CASES, ids=[c[1] for c in OUTPUT_CASES])
def test_bad_output_path(tmp_path, capsys, args, expect):
    n, a = tmp_path / "n.json", tmp_path / "a.json"
    _write(n, BASE_NULL)
    _write(a, BASE_ALIGNED)
    f = tmp_path / "plain-file"
    f.write_text("x")
    fill = {"file": str(f), "missing": str(tmp_path / "no" / "such"), "dir": str(tmp_path)}
    assert_usage_error(capsys, ["test", str(n), str(a), "--n-boot", "100", "--n-perm", "100",
                                *[x.format(**fill) for x in args]], expect)


MEASURE_CASES = [
    (["{nope}", "-o", "{out}"], "no such path"),
    (["{ckpt}", "-o", "{missing}/x"], "--output"),
    (["{ckpt}", "-o", "{out}", "--null-draws", "-1"], "--null-draws"),
    (["{ckpt}", "-o", "{out}", "--jobs", "0"], "--jobs"),
    (["{ckpt}", "-o", "{out}", "--max-layers", "1"], "--max-layers"),
    (["{notsafetensors}", "-o", "{out}"], "safetensors"),
]


@pytest.mark.parametrize("args,expect", MEASURE_CASES, ids=[c[1] for c in MEASURE_CASES])
def test_bad_measure_input(tmp_path, capsys, args, expect):
    pytest.importorskip("safetensors")
    ckpt = tmp_path / "m.safetensors"
    from safetensors.numpy import save_file
    save_file({f"model.layers.{i}.self_attn.q_proj.weight": np.eye(4, dtype=np.float32)
               for i in range(3)}, str(ckpt))
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    fill = {"nope": str(tmp_path / "nope.safetensors"), "out": str(tmp_path / "o"),
            "ckpt": str(ckpt), "missing": str(tmp_path / "no" / "dir"),
            "notsafetensors": str(bad)}
    assert_usage_error(capsys, ["measure", *[x.format(**fill) for x in args]], expect,
                       absent=[tmp_path / "o-null.json"])
