"""``gaugetest measure --gauge symmetry``: planted checkpoints through the CLI (HF safetensors with
config.json and Qwen3 q/k norms; a llama GGUF written with gguf.GGUFWriter, q/k rows permuted as
llama.cpp's converter does), the residual-rotation null shared by the attention and MLP tasks of
a pair, options and their exit-2 errors, --jobs / resume / torch agreement, and SmolLM2 end to
end (the tests fetch the GGUF into .cache/, or skip with the reason).

Reference sources: planted group elements (``random_group_element`` applied to layer L gives
layer L+1: the ground truth is cosine 1); for unrelated layers, Gaussian weights whose law is
invariant under a residual rotation (so the unrelated pair's aligned cosine is itself a draw
from the null's distribution); the full orthogonal Procrustes gauge of the same checkpoint
(``--gauge orthogonal``); the phase-1 functions ``align_pair`` / ``rotate_residual`` applied to the
whole layer with one rotation (the shared-rotation check); the numpy backend (for torch).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gaugetest.cli import main
from gaugetest.verdict import LABELS
from gaugetest.measure.architecture import Architecture, load_layer, read_architecture
from gaugetest.measure.gauges import Settings, null_rng
from gaugetest.measure.readers import detect_layout, open_checkpoint
from gaugetest.measure.symmetry import (ATTENTION_FAMILIES, FAMILIES, MLP_FAMILIES, align_pair,
                                        apply_group_element, random_group_element,
                                        rotate_residual, _haar_orthogonal)
from gaugetest.measure.sweep import measure_checkpoint
from helpers import assert_usage_error
from test_measure import planted_weights, write_checkpoint
from test_measure_resume import interrupt_after, outputs, saved_tasks
from test_symmetry import _planted_model, write_gguf, write_hf

pytest.importorskip("safetensors")

DATA = Path(__file__).parent / "data"
HEADS, KV, HD, HIDDEN, FF = 8, 2, 16, 96, 128
QWEN3_CONFIG = {"num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HD,
                "hidden_size": HIDDEN, "intermediate_size": FF}
PLANTED, UNRELATED = (0, 3), (1, 2)       # pairs of the 5-layer planted models


def planted_layers(rng, qk_norm):
    """Layers 0 -> 1 and 3 -> 4 planted (layer L+1 = g(layer L), g a random group element with
    the free RoPE pairs of the layer's q/k norms); layers 1, 2, 3 unrelated (independent
    Gaussian weights, a law a residual rotation leaves unchanged)."""
    arch = Architecture(HEADS, KV, HD, "half")
    first = _planted_model(arch, HIDDEN, FF, rng, qk_norm=qk_norm)          # 0, 1 = g(0), 2
    second = _planted_model(arch, HIDDEN, FF, rng, qk_norm=qk_norm)[:2]     # 3, 4 = g'(3)
    return first + second


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    rng = np.random.default_rng(41)
    return write_hf(tmp_path_factory.mktemp("q") / "qwen3", planted_layers(rng, True),
                    QWEN3_CONFIG)


@pytest.fixture(scope="module")
def qwen3_run(qwen3_dir, tmp_path_factory):
    """Both gauges on the planted Qwen3-style checkpoint, 6 null draws (the CLI)."""
    d = tmp_path_factory.mktemp("out")
    for gauge in ("symmetry", "orthogonal"):
        assert main(["measure", str(qwen3_dir), "-o", str(d / gauge), "--gauge", gauge,
                     "--null-draws", "6", "--seed", "3"]) == 0
    return {g: {k: json.loads(Path(f"{d / g}-{k}.json").read_text()) for k in ("null", "aligned")}
            for g in ("symmetry", "orthogonal")} | {"dir": d}


def family_entries(null_doc, L):
    return null_doc["pair_results"][L]["families"]


def test_planted_qwen3_checkpoint_aligns_to_one_and_unrelated_layers_sit_at_their_null(qwen3_run):
    sym, orth = qwen3_run["symmetry"], qwen3_run["orthogonal"]
    for L in PLANTED:
        for f in FAMILIES:
            assert sym["aligned"]["aligned_cos"][f][str(L)] >= 0.999, (L, f)
    for L in UNRELATED:
        for f in FAMILIES:
            e = family_entries(sym["null"], L)[f]
            aligned, m, sd = e["aligned_cos"], e["aligned_null_mean"], e["aligned_null_sd"]
            assert aligned == sym["aligned"]["aligned_cos"][f][str(L)]
            # the unrelated pair is one more draw of the null: within 5 sd of a 6-draw mean
            assert abs(aligned - m) < 5 * sd * np.sqrt(1 + 1 / 6), (L, f, aligned, m, sd)
            ortho = orth["aligned"]["aligned_cos"][f][str(L)]
            assert aligned < 0.5 * ortho, (L, f, aligned, ortho)
            assert aligned < 0.35                      # the symmetry null is small
    # aligned_null in the aligned file equals the null file's entries (gaugetest test reads both)
    for f in FAMILIES:
        for L in range(4):
            e = family_entries(sym["null"], L)[f]
            assert sym["aligned"]["aligned_null"][f][str(L)] == {
                "mean": e["aligned_null_mean"], "sd": e["aligned_null_sd"]}


def test_files_describe_the_gauge_its_null_and_the_architecture(qwen3_run):
    for doc in qwen3_run["symmetry"].values():
        assert doc["gauge"] == "symmetry" and doc["null_draws"] == 6 and doc["seed"] == 3
        assert "symmetry group" in doc["alignment"] and "RoPE" in doc["alignment"]
        assert doc["null"].startswith("residual-rotation null") and "Haar" in doc["null"]
        assert "spectrum-matched" not in doc["null"]
        assert doc["alignment_side"] is None
        assert doc["architecture"] == {"n_heads": 8, "n_kv_heads": 2, "head_dim": 16,
                                       "heads_from": "config.json", "rope_layout": "half",
                                       "rope_layout_from": "the file",
                                       "qk_norms": ["k_norm", "q_norm"]}
        assert doc["mlp_solver"]["used"] == "dense" and doc["mlp_solver"]["requested"] == "auto"
    assert qwen3_run["orthogonal"]["null"]["gauge"] == "orthogonal"
    assert "architecture" not in qwen3_run["orthogonal"]["null"]


def test_one_rotation_is_shared_by_the_attention_and_mlp_tasks_of_a_pair(qwen3_dir, qwen3_run):
    """Each draw's null for both tasks equals aligning the *whole* layer L+1 rotated by the
    single rotation of (seed, L, draw), with phase 1's align_pair / rotate_residual."""
    r = open_checkpoint(str(qwen3_dir))
    lay = detect_layout(r)
    arch = read_architecture(r, lay)
    settings = Settings(gauge="symmetry", seed=3, null_draws=6)
    L = 1
    A, B = load_layer(r, lay, arch, L), load_layer(r, lay, arch, L + 1)
    draws = {f: [] for f in FAMILIES}
    for d in range(6):
        H = _haar_orthogonal(HIDDEN, null_rng(settings, L, d))
        res = align_pair(A, rotate_residual(B, H), arch)
        for f in FAMILIES:
            draws[f].append(res.cosines[f])
    for f in FAMILIES:
        e = family_entries(qwen3_run["symmetry"]["null"], L)[f]
        assert e["aligned_null_mean"] == pytest.approx(np.mean(draws[f]), abs=1e-12), f
        assert e["aligned_null_sd"] == pytest.approx(np.std(draws[f], ddof=1), abs=1e-12), f


@pytest.mark.parametrize("arch_name,permute,layout", [("llama", True, "interleaved"),
                                                      ("qwen3", False, "half")])
def test_planted_gguf_through_the_cli(tmp_path, capsys, arch_name, permute, layout):
    """Planted in HF coordinates; the llama file's q/k rows are permuted as llama.cpp's
    converter does, so its RoPE pairs are interleaved (decided from the file)."""
    rng = np.random.default_rng(43)
    qk = arch_name == "qwen3"
    layers = planted_layers(rng, qk)
    path = write_gguf(tmp_path / "m.gguf", layers, arch_name, HEADS, KV, HIDDEN, FF,
                      permute=permute)
    prefix = tmp_path / "g"
    assert main(["measure", str(path), "-o", str(prefix), "--gauge", "symmetry",
                 "--null-draws", "2"]) == 0
    out = capsys.readouterr().out
    assert f"gauge symmetry (8 q / 2 KV heads of 16, {layout} RoPE pairs)" in out
    doc = json.loads(Path(f"{prefix}-aligned.json").read_text())
    assert doc["architecture"]["rope_layout"] == layout
    assert doc["architecture"]["heads_from"] == "GGUF metadata"
    assert doc["architecture"]["qk_norms"] == (["k_norm", "q_norm"] if qk else [])
    for L in PLANTED:
        for f in FAMILIES:
            assert doc["aligned_cos"][f][str(L)] >= 0.999, (L, f)
    for L in UNRELATED:
        assert max(doc["aligned_cos"][f][str(L)] for f in FAMILIES) < 0.4


# ------------------------------------------------------------------ runs: jobs, resume, Dask

def test_jobs_and_resume_give_byte_identical_files(qwen3_dir, tmp_path, capsys, monkeypatch):
    args = [str(qwen3_dir), "--gauge", "symmetry", "--null-draws", "2", "--seed", "1"]
    assert main(["measure", *args, "-o", str(tmp_path / "one")]) == 0
    ref = outputs(tmp_path / "one")
    assert main(["measure", *args, "-o", str(tmp_path / "two"), "--jobs", "2"]) == 0
    assert outputs(tmp_path / "two") == ref
    with monkeypatch.context() as m:                   # Ctrl-C after 3 of the 8 tasks
        interrupt_after(m, 3)
        assert main(["measure", *args, "-o", str(tmp_path / "run")]) == 130
    assert saved_tasks(Path(f"{tmp_path / 'run'}.partial")) == 3
    capsys.readouterr()
    assert main(["measure", *args, "-o", str(tmp_path / "run"), "--jobs", "2"]) == 0
    assert "resuming: 3 of 8 tasks already saved" in capsys.readouterr().err
    assert outputs(tmp_path / "run") == ref
    # another gauge option is another run: a clear error, not a mix of results
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        assert main(["measure", *args, "-o", str(tmp_path / "x")]) == 130
    capsys.readouterr()
    assert_usage_error(capsys, ["measure", *args, "-o", str(tmp_path / "x"), "--mlp-solver",
                                "sparse"], "mlp_solver is 'sparse' now, None in the saved run")


def test_mlp_solvers_agree(qwen3_dir, qwen3_run, tmp_path):
    """The exact sparse solver finds the dense assignment's optimum: the same raw and aligned
    cosines (1e-12). Its null rotates layer L by H^T instead of layer L+1 by H (the same
    cosines in exact arithmetic) and stores the rotated layer in the checkpoint's precision
    (float32 here), so null numbers agree to that rounding (1e-7)."""
    assert main(["measure", str(qwen3_dir), "-o", str(tmp_path / "s"), "--gauge", "symmetry",
                 "--null-draws", "6", "--seed", "3", "--mlp-solver", "sparse"]) == 0
    doc = json.loads(Path(f"{tmp_path / 's'}-null.json").read_text())
    assert doc["mlp_solver"]["used"] == "sparse"
    ref = qwen3_run["symmetry"]["null"]
    for a, b in zip(doc["pair_results"], ref["pair_results"]):
        for f in MLP_FAMILIES:
            for k in ("cos", "aligned_cos"):
                assert a["families"][f][k] == pytest.approx(b["families"][f][k], abs=1e-12)
            for k in ("aligned_null_mean", "aligned_null_sd"):
                assert a["families"][f][k] == pytest.approx(b["families"][f][k], abs=1e-7)
            cert = a["families"][f]["mlp_assignment"]
            assert cert["certified"] and cert["null_certified"] and cert["gap_bound"] < 1e-8


def test_gaugetest_test_reads_the_symmetry_files(qwen3_run, capsys, tmp_path):
    d = qwen3_run["dir"]
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["test", f"{d / 'symmetry'}-null.json", f"{d / 'symmetry'}-aligned.json",
                 "--n-boot", "200", "--n-perm", "200", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gauge symmetry" in text and "excess" in text
    q = json.loads(out.read_text())["analysis"]["quantity"]
    assert q["gauge"] == "symmetry" and q["key"] == "excess" and q["null_draws"] == 6


# ------------------------------------------------------------------ backends

def _numbers(doc):
    out = {}
    for p in doc["pair_results"]:
        for f, e in p["families"].items():
            for k, v in e.items():
                out[(p["L"], f, k)] = v
    return out


@pytest.mark.parametrize("native", [False, True])
def test_torch_backend_agrees_with_numpy(qwen3_dir, qwen3_run, monkeypatch, native):
    """float32 products choose the element, float64 refinement and cosines: every number
    within 1e-6 of numpy's (measured: 1e-15). ``native`` runs the device code (what --device
    cuda runs) on the CPU."""
    pytest.importorskip("torch")
    from gaugetest.measure import backends
    if native:
        monkeypatch.setattr(backends.BackendSpec, "create",
                            lambda self: backends.TorchBackend("cpu", native=True))
    null_doc, _ = measure_checkpoint(str(qwen3_dir), gauge="symmetry", null_draws=6, seed=3,
                                     backend="torch")
    assert null_doc["backend"].startswith("torch")
    got, ref = _numbers(null_doc), _numbers(qwen3_run["symmetry"]["null"])
    assert got.keys() == ref.keys()
    assert max(abs(got[k] - ref[k]) for k in ref) < 1e-6


def test_device_ops_equal_numpy_products():
    """The device code (TorchSymmetryOps, run on the CPU): every product against numpy's
    float64 one -- float32 products to float32 accuracy, the sparse solver's stream bounds
    against the float64 similarity, float64 steps (Haar rotation from the same random numbers,
    residual rotation) to 1e-12."""
    pytest.importorskip("torch")
    from gaugetest.measure import symmetry as sy
    from gaugetest.measure.backends import TorchBackend, TorchSymmetryOps
    ops = TorchBackend("cpu", native=True).symmetry_ops()
    assert isinstance(ops, TorchSymmetryOps) and not ops.exact
    assert not isinstance(TorchBackend("cpu").symmetry_ops(), TorchSymmetryOps)  # numpy f32
    rng = np.random.default_rng(8)
    arch = Architecture(6, 2, 8, "interleaved")
    A, B = (sy.random_layer(arch, 40, 36, rng) for _ in range(2))
    A = {f: v.astype(np.float32) for f, v in A.items()}
    ref, got = sy.mlp_similarity(A, B), ops.mlp_similarity(A, B)
    assert np.abs(got - ref).max() < 1e-6 * np.abs(ref).max()
    # the sparse solver's stream on the device: every kept upper bound is above the float64
    # similarity, every other entry of a row below the row's threshold (the certificate's
    # premises), and the solver's permutation is scipy's dense optimum
    from gaugetest.measure.symmetry.mlp import _mlp_features
    feats = _mlp_features(A, B)
    xs = [np.ascontiguousarray(a) for a, _, _ in feats]
    ys = [np.ascontiguousarray(b) for _, b, _ in feats]
    st = ops.mlp_stream(xs, ys, [w for _, _, w in feats], 6)
    n = ref.shape[0]
    assert np.all(ref[np.arange(n)[:, None], st.row_idx] <= st.row_ub)
    other = np.ones_like(ref, bool)
    other[np.arange(n)[:, None], st.row_idx] = False
    assert np.all(ref[other] <= np.broadcast_to(st.t_row[:, None], ref.shape)[other])
    perm, info = sy.solve_mlp_sparse(A, B, k=6, ops=ops)
    assert info["certified"] and np.array_equal(perm, sy.solve_mlp(A, B))
    X, Y = sy.attention_cross_terms(A, B, arch), ops.attention_cross_terms(A, B, arch)
    for part in ("v", "o", "q", "k"):
        r, g = getattr(X, part), getattr(Y, part)
        assert r.shape == g.shape and np.abs(g - r).max() < 1e-6 * np.abs(r).max(), part
    H = ops.haar(40, np.random.default_rng(4))
    np.testing.assert_allclose(H.numpy(), _haar_orthogonal(40, np.random.default_rng(4)),
                               rtol=0, atol=1e-12)
    for f, W in ops.rotate_residual(B, H).items():
        np.testing.assert_allclose(W, rotate_residual(B, H.numpy())[f], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ options and errors

def test_heads_override_and_errors(tmp_path, capsys):
    rng = np.random.default_rng(5)
    path = write_hf(tmp_path / "noconf", planted_layers(rng, False)[:3], QWEN3_CONFIG)
    os.remove(path / "config.json")
    prefix = str(tmp_path / "x")
    assert_usage_error(capsys, ["measure", str(path), "-o", prefix, "--gauge", "symmetry"],
                       "config.json", "--heads", absent=[Path(prefix + "-null.json")])
    for bad in ("8,3", "8", "a,b"):
        assert_usage_error(capsys, ["measure", str(path), "-o", prefix, "--gauge", "symmetry",
                                    "--heads", bad], "--heads")
    # 4 query / 2 KV heads: q rows 128 -> head_dim 32, so k_proj should have 64 rows
    assert_usage_error(capsys, ["measure", str(path), "-o", prefix, "--gauge", "symmetry",
                                "--heads", "4,2"], "k_proj.weight", "64 rows", "shape [32, 96]")
    assert main(["measure", str(path), "-o", prefix, "--gauge", "symmetry", "--heads", "8,2",
                 "--null-draws", "0"]) == 0
    doc = json.loads(Path(prefix + "-null.json").read_text())
    assert doc["architecture"]["heads_from"] == "--heads"
    assert doc["pair_results"][0]["families"]["q_proj"]["aligned_cos"] > 0.999
    assert "aligned_null_mean" not in doc["pair_results"][0]["families"]["q_proj"]
    # options of the other gauge, and of this one with the other gauge
    capsys.readouterr()
    assert_usage_error(capsys, ["measure", str(path), "-o", prefix, "--gauge", "symmetry",
                                "--heads", "8,2", "--side", "rows"], "--side", "symmetry")
    for opt, val in (("--heads", "8,2"), ("--rope-layout", "half"), ("--mlp-solver", "dense")):
        assert_usage_error(capsys, ["measure", str(path), "-o", prefix, opt, val],
                           f"no {opt} with --gauge orthogonal", "an option of --gauge symmetry")


def test_unknown_gguf_architecture_needs_rope_layout(tmp_path, capsys):
    rng = np.random.default_rng(6)
    path = write_gguf(tmp_path / "m.gguf", planted_layers(rng, False)[:2], "mamba", HEADS, KV,
                      HIDDEN, FF)
    prefix = str(tmp_path / "x")
    assert_usage_error(capsys, ["measure", str(path), "-o", prefix, "--gauge", "symmetry"],
                       "general.architecture", "known RoPE pair layout")
    assert main(["measure", str(path), "-o", prefix, "--gauge", "symmetry", "--rope-layout",
                 "half", "--null-draws", "0"]) == 0
    doc = json.loads(Path(prefix + "-aligned.json").read_text())
    assert doc["architecture"]["rope_layout_from"] == "--rope-layout"
    assert min(doc["aligned_cos"][f]["0"] for f in FAMILIES) > 0.999


def test_family_layouts(tmp_path, capsys):
    """Only the blocks present are measured (an MLP-only map needs no head counts); families
    the group does not know, or residual widths that differ, are exit-2 errors."""
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(2))       # no config.json
    mlp_map = tmp_path / "mlp.toml"
    mlp_map.write_text("[families]\n" + "".join(
        f'{f} = "model.layers.{{i}}.mlp.{f}.weight"\n' for f in MLP_FAMILIES))
    prefix = str(tmp_path / "m")
    assert main(["measure", str(ckpt), "-o", prefix, "--gauge", "symmetry", "--family-map",
                 str(mlp_map), "--null-draws", "2"]) == 0
    doc = json.loads(Path(prefix + "-aligned.json").read_text())
    assert sorted(doc["aligned_cos"]) == sorted(MLP_FAMILIES) and doc["architecture"] is None
    capsys.readouterr()
    other = tmp_path / "other.toml"
    other.write_text('[families]\nfc1 = "model.layers.{i}.mlp.up_proj.weight"\n')
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--gauge", "symmetry",
                                "--family-map", str(other)], "families", "fc1")
    mixed = tmp_path / "mixed.toml"      # up_proj (24, 12) with q_proj's (16, 12) as "down"
    mixed.write_text('[families]\nup_proj = "model.layers.{i}.mlp.up_proj.weight"\n'
                     'down_proj = "model.layers.{i}.self_attn.q_proj.weight"\n')
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", prefix, "--gauge", "symmetry",
                                "--family-map", str(mixed)], "residual width")


def test_a_zero_matrix_is_an_input_error(tmp_path, capsys):
    """Found when its pair runs (after other tasks' progress lines): exit 2, the last line
    names the tensor, no output file."""
    w = planted_weights(2)
    w["model.layers.2.mlp.up_proj.weight"] = np.zeros_like(w["model.layers.2.mlp.up_proj.weight"])
    ckpt = write_checkpoint(tmp_path / "c", w)
    assert main(["measure", str(ckpt), "-o", str(tmp_path / "x"), "--gauge", "symmetry",
                 "--heads", "2,1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "model.layers.2.mlp.up_proj.weight: expected a nonzero matrix" in \
        err.strip().splitlines()[-1]
    assert not (tmp_path / "x-null.json").exists()


# ------------------------------------------------------------------ SmolLM2 (real weights)

def test_smollm2_reduced_end_to_end(tmp_path, capsys, smollm2):
    """Reduced real run: the first 4 layers (3 pairs), 2 null draws; then gaugetest test on the
    files analyses the excess and names the gauge. The full run: docs/measure.md."""
    prefix = tmp_path / "smol"
    assert main(["measure", smollm2, "-o", str(prefix), "--gauge", "symmetry",
                 "--max-layers", "4", "--null-draws", "2"]) == 0
    null_doc = json.loads(Path(f"{prefix}-null.json").read_text())
    assert null_doc["gauge"] == "symmetry" and null_doc["pairs_measured"] == 3
    assert null_doc["architecture"]["rope_layout"] == "interleaved"
    assert (null_doc["architecture"]["n_heads"], null_doc["architecture"]["n_kv_heads"]) == (9, 3)
    for p in null_doc["pair_results"]:
        for f, e in p["families"].items():
            assert abs(e["cos"]) < 0.05 and e["aligned_cos"] < 0.5, (p["L"], f)
            assert 0 <= e["aligned_null_mean"] < 0.4
    for block in (ATTENTION_FAMILIES, MLP_FAMILIES):       # a block's sum never drops
        for p in null_doc["pair_results"]:
            fam = p["families"]
            assert sum(fam[f]["aligned_cos"] for f in block) >= \
                sum(fam[f]["cos"] for f in block) - 1e-12
    # the stored full run (tests/data) is what this code computes: raw and aligned cosines of
    # the first pairs do not depend on the number of null draws
    stored = json.loads((DATA / "smollm2-symmetry-null.json").read_text())
    for p, q in zip(null_doc["pair_results"], stored["pair_results"]):
        for f, e in p["families"].items():
            for k in ("cos", "aligned_cos"):
                assert e[k] == pytest.approx(q["families"][f][k], abs=1e-12), (p["L"], f, k)
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["test", f"{prefix}-null.json", f"{prefix}-aligned.json", "--n-boot", "200",
                 "--n-perm", "200", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    head = text.split("verdict")[0]
    assert "gauge symmetry" in head and "quantity  excess" in head
    q = json.loads(out.read_text())["analysis"]["quantity"]
    assert q["key"] == "excess" and q["gauge"] == "symmetry"


def test_stored_smollm2_symmetry_run_through_gaugetest_test(capsys, tmp_path):
    """The full SmolLM2 run (tests/data, provenance in its README): gaugetest test analyses the
    excess over the file's null, names the gauge in the headline and reaches a verdict; the
    symmetry null is far below the orthogonal gauge's on the same pairs."""
    n, a = DATA / "smollm2-symmetry-null.json", DATA / "smollm2-symmetry-aligned.json"
    out = tmp_path / "r.json"
    assert main(["test", str(n), str(a), "--n-boot", "200", "--n-perm", "500", "--seed", "1",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    head = text.split("Why")[0]
    assert "gauge symmetry" in head and "excess = aligned cosine" in head
    assert "mean delta" not in text
    doc = json.loads(out.read_text())
    assert doc["analysis"]["quantity"]["gauge"] == "symmetry"
    assert doc["data"]["quantity"] == "excess"
    assert doc["verdict"]["label"] in LABELS and doc["verdict"]["label"] != "not-testable"
    sym = json.loads(n.read_text())
    orth = json.loads((DATA / "smollm2-null.json").read_text())
    assert sym["pairs_measured"] == 29 and sym["null_draws"] == 8
    for ps, po in zip(sym["pair_results"], orth["pair_results"]):
        for f, e in ps["families"].items():
            assert e["aligned_null_mean"] < 0.5 * po["families"][f]["aligned_null_mean"], \
                (ps["L"], f)


def test_report_defines_the_null_the_file_carries(tmp_path):
    """The Methods sentence defines the null that was actually measured: the residual-rotation
    null for the symmetry files (its name from their metadata, null_name), the spectrum-matched
    null for the orthogonal 0.1.0 files — never the other one's definition."""
    runs = {"symmetry": ("smollm2-symmetry-null.json", "smollm2-symmetry-aligned.json"),
            "orthogonal": ("smollm2-null.json", "smollm2-aligned.json")}
    methods = {}
    for gauge, (n, a) in runs.items():
        rep, js = tmp_path / f"{gauge}.md", tmp_path / f"{gauge}.json"
        assert main(["test", str(DATA / n), str(DATA / a), "--n-boot", "200", "--n-perm", "500",
                     "--report", str(rep), "--json", str(js)]) == 0
        methods[gauge] = rep.read_text().split("## Results")[0]
        q = json.loads(js.read_text())["analysis"]["quantity"]
        assert q["null_definition"] and q["null_definition"] in methods[gauge]
    sym, orth = methods["symmetry"], methods["orthogonal"]
    assert "residual-rotation null" in sym and "Haar" in sym and "residual-stream side" in sym
    assert "same singular values" not in sym and "spectrum-matched" not in sym
    assert "spectrum-matched null is the aligned cosine of matrices with the same singular" in orth
    assert "residual-rotation" not in orth and "residual-stream" not in orth
    assert "(averaged over 8 draws per pair)" in sym and "(averaged over 8 draws per pair)" in orth
