"""The symmetry gauge's MLP block at scale (issue 19): features stored in the checkpoint's
precision, the null draw that rotates layer L instead of layer L+1, the memory-lean reread of
layer L per draw, and the certificate in the output files.

Reference sources: 0.2.0's null (``align_pair`` with the dense scipy assignment on layer L+1
rotated by H in float64, ``rotate_residual``) on the same H; the identity
cos(g(A), B H) = cos(g(A) H^T, B); bit patterns of bfloat16 (its 16 bits are the high half of a
float32); an uninterrupted in-memory run of the same draws (bytes compared).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaugetest.cli import main
from gaugetest.measure.architecture import Architecture
from gaugetest.measure.symmetry import MLP_FAMILIES, align_pair, random_layer, rotate_residual
from gaugetest.measure.symmetry.group import _haar_orthogonal
from gaugetest.measure.symmetry.mlpblock import (align_mlp, align_mlp_with_null, compact,
                                                 mlp_features, rotate_features,
                                                 rotated_features_from)

ml_dtypes = pytest.importorskip("ml_dtypes")


def mlp_layer(rng, n=240, d=40, bf16=False):
    layer = {f: v.astype(np.float32) for f, v in
             random_layer(Architecture(1, 1, 2), d, n, rng).items() if f in MLP_FAMILIES}
    if bf16:
        layer = {f: v.astype(ml_dtypes.bfloat16).astype(np.float32) for f, v in layer.items()}
    return layer


def test_compact_keeps_exact_bfloat16_and_nothing_else():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 30)).astype(np.float32)
    assert compact(x) is x or compact(x).dtype == np.float32          # not exact: float32
    xb = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    c = compact(xb)
    assert c.dtype.name == "bfloat16" and c.nbytes == xb.nbytes // 2
    assert np.array_equal(c.astype(np.float32), xb)                    # exact round trip
    assert np.array_equal(c.view(np.uint16), (xb.view(np.uint32) >> 16).astype(np.uint16))


@pytest.mark.parametrize("bf16", [False, True])
def test_null_draw_on_layer_l_equals_0_2_0s_null_on_layer_l1(bf16):
    """Rotating layer L by H^T (features stored in float32) gives 0.2.0's null draw -- layer L+1
    rotated by H in float64, dense scipy assignment -- to float32 rounding of the rotated layer:
    the same permutation, and cosines within 1e-7 (rounding moves each rotated weight by at most
    2^-24 of itself, so by Cauchy-Schwarz a family's cosine by at most 2^-24 ~ 6e-8 for a given
    permutation)."""
    rng = np.random.default_rng(3 + bf16)
    A, B = mlp_layer(rng, bf16=bf16), mlp_layer(rng, bf16=bf16)
    fa, fb = mlp_features(A, compact_storage=True), mlp_features(B, compact_storage=True)
    assert all((x.dtype.name == "bfloat16") == bf16 for x in fa.x)
    for draw in range(3):
        H = _haar_orthogonal(40, np.random.default_rng(draw))
        ref = align_pair(A, rotate_residual(B, H), None)                # 0.2.0's draw
        rot = rotate_features(fa, H)
        assert all(x.dtype == np.float32 for x in rot.x)
        got = align_mlp(rot, fb, k=8)
        assert got.certificate["certified"]
        assert np.array_equal(got.perm, ref.element.neuron_perm)
        for f in MLP_FAMILIES:
            assert got.cosines[f] == pytest.approx(ref.cosines[f], abs=1e-7), (draw, f)
    # and the real pair: the same optimum as the dense solver
    real = align_mlp(fa, fb, k=8)
    dense = align_pair(A, B, None)
    assert np.array_equal(real.perm, dense.element.neuron_perm)
    for f in MLP_FAMILIES:
        assert real.cosines[f] == pytest.approx(dense.cosines[f], abs=1e-12)
        assert real.raw[f] == pytest.approx(dense.raw[f], abs=1e-12)


def test_rereading_layer_l_per_draw_gives_the_same_bytes():
    """gaugetest measure's memory-lean draws (layer L read afresh, gate/up rotated in place,
    down into its neuron-major copy) equal rotating the stored features: the same numbers."""
    rng = np.random.default_rng(9)
    A, B = mlp_layer(rng, bf16=True), mlp_layer(rng, bf16=True)
    fa, fb = mlp_features(A, compact_storage=True), mlp_features(B, compact_storage=True)

    def rngs(d):
        return np.random.default_rng(np.random.SeedSequence([1, d]))

    def reload(f):
        return A[f].copy()

    ref = align_mlp_with_null(fa, fb, 3, rngs)
    lean = align_mlp_with_null(fa, fb, 3, rngs, reload=reload)
    for f in MLP_FAMILIES:
        assert np.array_equal(ref[1][f], lean[1][f])
    H = _haar_orthogonal(40, rngs(0))
    x1 = rotate_features(fa, H).x
    x2 = rotated_features_from(reload, fa.families, fa.norms, H).x
    assert all(np.array_equal(a, b) for a, b in zip(x1, x2))


def _mlp_checkpoint(tmp_path, n=300, d=48, layers=3):
    from test_measure import write_checkpoint
    rng = np.random.default_rng(4)
    w = {}
    for L in range(layers):
        for f, shape in (("gate_proj", (n, d)), ("up_proj", (n, d)), ("down_proj", (d, n))):
            x = rng.standard_normal(shape).astype(ml_dtypes.bfloat16).astype(np.float32)
            w[f"model.layers.{L}.mlp.{f}.weight"] = np.ascontiguousarray(x)
    return write_checkpoint(tmp_path / "c", w)


@pytest.mark.parametrize("native", [False, True])
def test_torch_sparse_path_agrees_with_numpy(tmp_path, monkeypatch, native):
    """--backend torch with the sparse solver (bfloat16 stream, split float32 layer in the null;
    ``native``: the device code, what --device cuda runs, on the CPU) against --backend numpy
    (float32 stream): the same certified optimum, so aligned cosines to 1e-12 and null numbers
    to 1e-7 (the device rotates in float64 too; float32 storage rounding)."""
    pytest.importorskip("torch")
    from gaugetest.measure import backends
    from gaugetest.measure.sweep import measure_checkpoint
    ckpt = _mlp_checkpoint(tmp_path)
    kw = dict(gauge="symmetry", null_draws=2, seed=5, mlp_solver="sparse")
    ref, _ = measure_checkpoint(str(ckpt), **kw)
    if native:
        monkeypatch.setattr(backends.BackendSpec, "create",
                            lambda self: backends.TorchBackend("cpu", native=True))
    got, _ = measure_checkpoint(str(ckpt), backend="torch", **kw)
    for p, q in zip(got["pair_results"], ref["pair_results"]):
        for f in MLP_FAMILIES:
            a, b = p["families"][f], q["families"][f]
            assert a["mlp_assignment"]["certified"] and a["mlp_assignment"]["null_certified"]
            assert a["mlp_assignment"]["product"] == "bfloat16"
            assert b["mlp_assignment"]["product"] == "float32"
            for k in ("cos", "aligned_cos"):
                assert a[k] == pytest.approx(b[k], abs=1e-12)
            for k in ("aligned_null_mean", "aligned_null_sd"):
                assert a[k] == pytest.approx(b[k], abs=1e-7)


def test_measure_records_the_certificate(tmp_path):
    """Through the CLI with --mlp-solver sparse on a bf16 checkpoint: every MLP family entry
    carries the assignment's certificate (certified, gap bound, pruned pairs) for the pair and
    its null draws, and the files say how the null was drawn."""
    n = 300
    ckpt = _mlp_checkpoint(tmp_path, n=n)
    prefix = str(tmp_path / "o")
    assert main(["measure", str(ckpt), "-o", prefix, "--gauge", "symmetry", "--mlp-solver",
                 "sparse", "--null-draws", "2"]) == 0
    doc = json.loads(Path(prefix + "-null.json").read_text())
    assert doc["mlp_solver"]["used"] == "sparse" and "certified by LP duality" in \
        doc["mlp_solver"]["sparse"]
    assert "rotates layer L by H^T" in doc["null"]
    for p in doc["pair_results"]:
        for f in MLP_FAMILIES:
            c = p["families"][f]["mlp_assignment"]
            assert c["certified"] and c["null_certified"] and c["gap_bound"] < 1e-9
            assert c["pruned_pairs"] > 0.5 * n * n and c["value"] <= c["dual"] + c["gap_bound"]
            assert set(c) >= {"candidate_edges", "exact_edges", "priced", "k", "product"}


def test_device_rotation_equals_numpys():
    """The null's rotation on a torch device (run on the CPU: what --device cuda runs) against
    numpy's: both the float64 product rounded to float32, so equal to one float32 rounding."""
    pytest.importorskip("torch")
    from gaugetest.measure.backends import TorchBackend
    from gaugetest.measure.symmetry.mlpblock import rotate_rows
    rng = np.random.default_rng(12)
    x = rng.standard_normal((200, 48)).astype(ml_dtypes.bfloat16)
    H = _haar_orthogonal(48, rng)
    ops = TorchBackend("cpu", native=True).symmetry_ops()
    a, b = rotate_rows(x, H), ops.rotate_rows(x, H)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=2.0 ** -23, atol=0)
