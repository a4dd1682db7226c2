"""--backend torch against the numpy reference: every written number within 1e-6 (float32
products, float64 Gram eigenvalues and sums), on planted checkpoints, on hard inputs and in
both branches of the null draw; files differ only in their numbers and in naming the backend.
Exit-2 errors for a missing torch or CUDA."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gaugetest.cli import main
from gaugetest.measure import kernels as K
from gaugetest.measure.sweep import measure_checkpoint
from helpers import assert_usage_error
from test_measure import planted_weights, write_checkpoint
from test_measure_kernels import HARD

torch = pytest.importorskip("torch")
TOL = 1e-6


@pytest.fixture(scope="module", params=["cpu", "native"])
def tb(request):
    """The CPU backend (float64 steps through numpy's kernels) and the device code run on the
    CPU (what --device cuda runs; CI has no GPU)."""
    from gaugetest.measure.backends import TorchBackend
    return TorchBackend("cpu", native=request.param == "native")


def numbers(doc, path=""):
    """Every number in a document, by its JSON path; everything else separately."""
    nums, other = {}, {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            n, o = numbers(v, f"{path}.{k}")
            nums.update(n)
            other.update(o)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            n, o = numbers(v, f"{path}[{i}]")
            nums.update(n)
            other.update(o)
    elif isinstance(doc, float):
        nums[path] = doc
    else:
        other[path] = doc
    return nums, other


@pytest.mark.parametrize("side", ["cols", "rows"])
def test_torch_files_agree_with_numpy_to_1e_6(tmp_path, side):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(8), "bf16")
    ref = measure_checkpoint(str(ckpt), side=side, null_draws=2, seed=3)
    got = measure_checkpoint(str(ckpt), side=side, null_draws=2, seed=3, backend="torch")
    for r, g in zip(ref, got):
        rn, ro = numbers(r)
        gn, go = numbers(g)
        assert rn.keys() == gn.keys()
        worst = max(abs(rn[k] - gn[k]) for k in rn)
        assert worst <= TOL, worst
        diff = {k for k in ro if ro[k] != go.get(k)} | (go.keys() - ro.keys())
        assert {d.split("[")[0].split(".")[1] for d in diff} <= {"backend", "versions"}, diff
        assert g["backend"].startswith("torch ") and r["backend"] == "numpy"


# the torch backend computes in float32, made for real weights: the 1e-150 "tiny-scale" inputs of
# the numpy kernels' tests are below float32's range and are not a case it claims to handle
TORCH_HARD = [h for h in HARD if h[0] != "tiny-scale"]


@pytest.mark.parametrize("name,A,B", TORCH_HARD, ids=[f"{h[0]}-{h[1].shape}" for h in TORCH_HARD])
def test_torch_kernels_on_hard_inputs(tb, name, A, B):
    for axis in (1, 0):
        X, Y = tb.matrix(A), tb.matrix(B)
        fa, fb = tb.layer_factor(X, axis), tb.layer_factor(Y, axis)
        A64, B64 = A.astype(np.float64), B.astype(np.float64)
        # reference on the float32-rounded inputs (the backend's input)
        A32, B32 = A.astype(np.float32).astype(np.float64), B.astype(np.float32).astype(np.float64)
        P = A32.T @ B32 if axis == 1 else A32 @ B32.T
        ref = np.linalg.svd(P, compute_uv=False).sum()
        scale = np.linalg.norm(A32) * np.linalg.norm(B32)
        assert abs(tb.aligned_nuclear(X, Y, fa, fb, axis) - ref) <= TOL * scale, name
        s_ref = np.linalg.svd(A32, compute_uv=False)
        np.testing.assert_allclose(fa.spectrum, s_ref, rtol=0, atol=TOL * s_ref[0])
        assert tb.inner(X, Y) == pytest.approx(np.vdot(A32, B32), abs=1e-12 * scale)
        assert fa.sq_norm == pytest.approx(np.vdot(A32, A32), rel=1e-12)
        del A64, B64


@pytest.mark.parametrize("m,ka,kb", [(200, 30, 30), (120, 30, 30), (60, 20, 40), (40, 40, 40),
                                     (40, 20, 40), (50, 30, 30), (45, 40, 40)])
def test_torch_null_draws_equal_numpy_in_every_sampler(tb, m, ka, kb):
    """Every sampler of haar.py: Bartlett (ka + kb <= m, the first three), Householder (m == kb,
    the next two) and Gram (the last two); the device code multiplies the same numpy random
    numbers out with torch, the CPU backend in float32 (Bartlett, Householder)."""
    rng = np.random.default_rng(m + ka)
    s_a = np.sort(rng.gamma(1.5, size=ka))[::-1]
    s_b = np.sort(rng.gamma(1.5, size=kb))[::-1] * np.logspace(0, -3, kb)
    ref = K.null_draws(s_a, s_b, m, 6, np.random.default_rng(9))
    got = tb.null_draws(s_a, s_b, m, 6, np.random.default_rng(9))
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


def test_backend_and_device_errors(tmp_path, capsys, monkeypatch):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(1))
    out = str(tmp_path / "o")
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", out, "--device", "cuda"],
                       "--device", absent=[tmp_path / "o-null.json"])
    if not torch.cuda.is_available():
        assert_usage_error(capsys, ["measure", str(ckpt), "-o", out, "--backend", "torch",
                                    "--device", "cuda"], "CUDA", absent=[tmp_path / "o-null.json"])
    monkeypatch.setitem(__import__("sys").modules, "torch", None)   # as if not installed
    assert_usage_error(capsys, ["measure", str(ckpt), "-o", out, "--backend", "torch"],
                       "gaugetest[torch]", absent=[tmp_path / "o-null.json"])


def test_cli_torch_run_writes_files(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(2), "bf16", 2)
    assert main(["measure", str(ckpt), "-o", str(tmp_path / "t"), "--backend", "torch",
                 "--null-draws", "2"]) == 0
    doc = json.loads((tmp_path / "t-null.json").read_text())
    assert doc["gauge"] == "orthogonal" and doc["backend"].startswith("torch")
    assert "torch" in doc["versions"]


def test_torch_eigenvalues_of_large_gram_matrices(monkeypatch, tmp_path):
    """On the CPU, eigenvalue problems of k >= TORCH_EIG_MIN (2048) go to torch's LAPACK; with
    the threshold lowered to 1 every one does, and the files still agree with numpy's."""
    from gaugetest.measure.backends import TorchBackend
    monkeypatch.setattr(TorchBackend, "TORCH_EIG_MIN", 1)
    ckpt = write_checkpoint(tmp_path / "c", planted_weights(5), "bf16")
    ref = measure_checkpoint(str(ckpt), null_draws=2, seed=1)
    got = measure_checkpoint(str(ckpt), null_draws=2, seed=1, backend="torch")
    rn, gn = numbers(ref[0])[0], numbers(got[0])[0]
    assert max(abs(rn[k] - gn[k]) for k in rn) <= TOL
