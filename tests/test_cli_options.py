"""Each inference/output option of `gaugetest test` and `gaugetest power` has a test that it
does what its --help says."""
from __future__ import annotations

import json

import pytest

from conftest import write_json
from gaugetest.cli import main
from gaugetest.studies.synthetic import synthetic_sweeps
from helpers import assert_usage_error

FAST = ["--n-boot", "300", "--n-perm", "2000"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("opts")
    null, aligned = synthetic_sweeps(64, seed=21)
    return write_json(d / "n.json", null), write_json(d / "a.json", aligned)


def run_json(files, tmp_path, *args):
    out = tmp_path / "r.json"
    assert main(["test", str(files[0]), str(files[1]), *FAST, "--json", str(out), *args]) == 0
    return json.loads(out.read_text())


def test_shapes_adds_the_gaussian_null_caveat(files, tmp_path, capsys):
    doc = run_json(files, tmp_path, "--shapes", "qwen3-32b")
    got = {r["family"]: round(r["aligned_null"], 2) for r in doc["gaussian_null"]["rows"]}
    # SCIENCE.md: Qwen3-32B shapes, column side
    assert got == {"q_proj": 0.63, "k_proj": 0.95, "v_proj": 0.95, "o_proj": 0.84,
                   "gate_proj": 0.37, "up_proj": 0.37, "down_proj": 0.95}
    out = capsys.readouterr().out
    assert "Gaussian reference: the aligned cosine that unrelated Gaussian matrices" in out
    # the preset's shapes also feed the computed caveat (delta under orthogonal alignment)
    assert "0.37–0.95 (Gaussian reference)" in doc["verdict"]["caveat"]


def test_dependence_choice_drives_the_verdict(files, tmp_path, capsys):
    assert run_json(files, tmp_path, "--dependence", "iid")["verdict"]["dependence"] == "iid"
    d = run_json(files, tmp_path)
    assert d["verdict"]["dependence"] == "robust (reml-bma)" and d["robust"]["method"] == "reml-bma"
    assert run_json(files, tmp_path, "--dependence", "hac")["robust"]["method"] == "hac"


def test_ci_alpha_margin_compare_are_recorded_and_used(files, tmp_path, capsys):
    d = run_json(files, tmp_path, "--ci", "percentile", "--alpha", "0.1", "--margin",
                 "-0.01,0.03", "--compare", "D", "C", "--seed", "5")
    s = d["settings"]
    assert (s["ci_method"], s["alpha"], s["margin"], s["compare"], s["seed"]) == \
        ("percentile", 0.1, [-0.01, 0.03], ["D", "C"], 5)
    assert {r["ci_method"] for r in d["phase_summary"] if r["n"] >= 3} == {"percentile"}
    assert {(r["margin_low"], r["margin_high"]) for r in d["equivalence"]} == {(-0.01, 0.03)}
    assert d["permutation_test"]["late"] == "D"


def test_brief_leaves_out_the_pair_table(files, capsys):
    assert main(["test", str(files[0]), str(files[1]), *FAST, "--brief"]) == 0
    brief = capsys.readouterr().out
    assert main(["test", str(files[0]), str(files[1]), *FAST]) == 0
    full = capsys.readouterr().out
    assert "Per-pair raw / aligned" in full and "Per-pair raw / aligned" not in brief


def test_power_command(files, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["power", str(files[0]), str(files[1]), *FAST, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "detectable with 80%" in text
    doc = json.loads(out.read_text())
    pooled = next(r for r in doc["power"]["min_detectable_difference"] if r["family"] == "pooled")
    assert pooled["value"] > 0
    assert {r["phase"] for r in doc["power"]["tost_power_at_zero"]} >= {"C", "E"}


def test_demo_write_inputs(tmp_path, capsys):
    assert main(["demo", "--layers", "36", *FAST, "--write-inputs", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "synthetic-36-aligned.json").read_text())["synthetic"] is True
    assert main(["test", str(tmp_path / "synthetic-36-null.json"),
                 str(tmp_path / "synthetic-36-aligned.json"), *FAST]) == 0


def test_calibrate_command_writes_its_table(tmp_path, capsys):
    out, js = tmp_path / "cal.md", tmp_path / "cal.json"
    assert main(["calibrate", "--layers", "48", "--scenarios", "ar1-0.3", "ma1-shared",
                 "--methods", "reml-bma", "neff", "iid", "--reps", "20", "--power", "0.7",
                 "--margin-se", "2.5", "--seed", "2", "--output", str(out),
                 "--json", str(js)]) == 0
    text = out.read_text()
    assert "## Worst case across the bank" in text and "## `reml-bma` in every cell" in text
    assert "| `neff` |" in text and "--layers 48" in text and "--power 0.7" in text
    assert capsys.readouterr().out.startswith("# Calibration")
    import json
    doc = json.loads(js.read_text())
    assert [c["scenario"] for c in doc["cells"]] == ["ar1-0.3", "ma1-shared"]
    assert doc["cells"][0]["reps"] == 20 and doc["settings"]["methods"] == ["reml-bma", "neff",
                                                                             "iid"]


def test_calibrate_list(capsys):
    assert main(["calibrate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "ar2-0.2-0.5" in out and "reml-bma" in out


@pytest.mark.parametrize("args,expect", [
    (["--layers", "12", "--compare", "E", "C"], "--compare"),
    (["--reps", "5"], "--reps"),
    (["--power", "1.0"], "--power"),
    (["--margin-se", "0"], "--margin-se"),
    (["--scenarios", "nope"], "--scenarios"),
    (["--methods", "nope"], "--methods"),
    (["--jobs", "0"], "--jobs"),
])
def test_calibrate_bad_arguments(capsys, args, expect):
    assert_usage_error(capsys, ["calibrate", *args], expect)


def test_measure_side_rows_from_the_cli(tmp_path, capsys):
    np = pytest.importorskip("numpy")
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    st.save_file({f"model.layers.{i}.mlp.down_proj.weight":
                  rng.standard_normal((6, 10)).astype(np.float32) for i in range(3)},
                 str(tmp_path / "m.safetensors"))
    assert main(["measure", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m"),
                 "--side", "rows", "--null-draws", "2", "--seed", "3"]) == 0
    doc = json.loads((tmp_path / "m-aligned.json").read_text())
    assert doc["alignment_side"] == "rows" and set(doc["aligned_cos"]) == {"down_proj"}
