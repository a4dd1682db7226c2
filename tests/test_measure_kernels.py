"""The exact kernels of the orthogonal gauge (gaugetest/measure/kernels.py) against LAPACK's SVD
and scipy.linalg.orthogonal_procrustes on hard inputs, the null draws against 0.1.0's
(procrustes.spectrum_null: the same numbers), each layer's spectrum computed once, and whole
runs against a copy of 0.1.0's computation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg as sl

from gaugetest.measure import kernels as K
from gaugetest.measure import procrustes as P
from gaugetest.measure.sweep import measure_checkpoint
from test_measure import SHAPES, planted_weights, stored, write_checkpoint


def with_spectrum(rng, shape, s):
    """A matrix with singular values s (padded with zeros) and Haar singular vectors."""
    m, n = shape
    U = sl.qr(rng.standard_normal((m, m)))[0][:, :len(s)]
    V = sl.qr(rng.standard_normal((n, n)))[0][:, :len(s)]
    return (U * s) @ V.T


def hard_inputs():
    """(name, A, B): ill-conditioned (cond 1e8, 1e12), rank-deficient, graded, equal,
    near-zero scale and float32-stored inputs, in both aspect ratios."""
    rng = np.random.default_rng(11)
    out = []
    for shape in [(40, 24), (24, 40), (30, 30)]:
        k = min(shape)
        out.append(("gaussian", rng.standard_normal(shape), rng.standard_normal(shape)))
        out.append(("cond1e8", with_spectrum(rng, shape, np.logspace(0, -8, k)),
                    with_spectrum(rng, shape, np.logspace(0, -8, k))))
        out.append(("cond1e12", with_spectrum(rng, shape, np.logspace(0, -12, k)),
                    rng.standard_normal(shape)))
        out.append(("rank5", with_spectrum(rng, shape, np.linspace(3, 1, 5)),
                    with_spectrum(rng, shape, np.linspace(2, 1, 5))))
        out.append(("rank1-vs-full", with_spectrum(rng, shape, [1.0]), rng.standard_normal(shape)))
        A = rng.standard_normal(shape)
        out.append(("equal", A, A.copy()))
        out.append(("tiny-scale", 1e-150 * rng.standard_normal(shape),
                    1e150 * rng.standard_normal(shape)))
        graded = rng.standard_normal(shape) * np.logspace(0, -6, shape[1])
        out.append(("graded-columns", graded, rng.standard_normal(shape)))
        out.append(("float32-stored", rng.standard_normal(shape).astype(np.float32),
                    rng.standard_normal(shape).astype(np.float32)))
    return out


HARD = hard_inputs()


@pytest.mark.parametrize("name,A,B", HARD, ids=[f"{h[0]}-{h[1].shape}" for h in HARD])
@pytest.mark.parametrize("axis", [1, 0])
def test_aligned_nuclear_equals_scipy_procrustes(name, A, B, axis):
    fa, fb = K.layer_factor(A, axis), K.layer_factor(B, axis)
    ours = K.aligned_nuclear(A, B, fa, fb, axis)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    X, Y = (A64, B64) if axis == 1 else (A64.T, B64.T)
    R = sl.orthogonal_procrustes(X, Y)[0]            # the rotation itself, applied literally
    ref = np.vdot(X @ R, Y)
    svd_ref = np.linalg.svd(X.T @ Y, compute_uv=False).sum()
    scale = np.linalg.norm(A64) * np.linalg.norm(B64)
    # both references agree to rounding; ours is within 1e-10 of them relative to |A||B| (the
    # cosine scale; measured worst 3e-11 here, 1e-15 on real weights): the SVD fallback and
    # the QR root catch the rank-deficient and extremely ill-conditioned cases
    assert abs(ref - svd_ref) <= 1e-12 * scale
    assert abs(ours - svd_ref) <= 1e-10 * scale, (name, ours, svd_ref)
    assert fa.sq_norm == pytest.approx(np.vdot(A64, A64), rel=1e-14)


@pytest.mark.parametrize("name,A,B", HARD, ids=[f"{h[0]}-{h[1].shape}" for h in HARD])
def test_spectrum_equals_lapack_svd(name, A, B):
    """Singular values from a Gram matrix are accurate to about eps * s_max^2 / s_i (absolute):
    tiny ones of an ill-conditioned matrix lose relative digits (here <= 2e-10 s_max).  What
    the spectrum feeds is checked too: the von Neumann bound to 1e-12 and the null draws to
    1e-10 (4e-11 measured on the graded input, cond ~1e7; a null sd is ~1e-4)."""
    s_ref = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    s_b = np.linalg.svd(B.astype(np.float64), compute_uv=False)
    for axis in (1, 0):
        s = K.layer_factor(A, axis).spectrum
        assert s.shape == s_ref.shape
        np.testing.assert_allclose(s, s_ref, rtol=0, atol=1e-9 * s_ref[0])
        assert s.sum() == pytest.approx(s_ref.sum(), rel=1e-9)
        assert P.von_neumann_bound(s, s_b) == pytest.approx(P.von_neumann_bound(s_ref, s_b),
                                                            abs=1e-12)
        m = A.shape[0] if axis == 1 else A.shape[1]
        got = K.null_draws(s, s_b, m, 2, np.random.default_rng(0))
        ref = K.null_draws(s_ref, s_b, m, 2, np.random.default_rng(0))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_fallbacks_are_taken_on_rank_deficient_inputs_only():
    rng = np.random.default_rng(3)
    K.STATS.svd_fallbacks = 0
    A = rng.standard_normal((60, 40)) * np.linspace(2, 0.5, 40)
    B = rng.standard_normal((60, 40))
    K.aligned_nuclear(A, B, K.layer_factor(A, 1), K.layer_factor(B, 1), 1)
    assert K.STATS.svd_fallbacks == 0
    D = with_spectrum(rng, (60, 40), np.ones(10))        # rank 10 of 40
    K.aligned_nuclear(D, B, K.layer_factor(D, 1), K.layer_factor(B, 1), 1)
    assert K.STATS.svd_fallbacks >= 1


def test_null_draws_are_0_1_0s_draws():
    """Same seed -> the same numbers as procrustes.spectrum_null (0.1.0's kernel) to 1e-12, in
    the tall (first rows of a frame), square and blockwise-drawn cases."""
    rng = np.random.default_rng(0)
    for m, ka, kb in [(50, 12, 12), (30, 30, 30), (40, 10, 25), (64, 20, 20)]:
        s_a = np.sort(rng.gamma(2, size=ka))[::-1]
        s_b = np.sort(rng.gamma(2, size=kb))[::-1]
        old = P.spectrum_null(s_a, s_b, m, 5, np.random.default_rng(7))
        new = K.null_draws(s_a, s_b, m, 5, np.random.default_rng(7))
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-12)
    # the blockwise draw is the same stream as one big draw
    head, W = K.gaussian_rows(np.random.default_rng(5), 37, 6, 11, block_rows=4)
    G = np.random.default_rng(5).standard_normal((37, 6))
    np.testing.assert_array_equal(head, G[:11])
    np.testing.assert_allclose(W, G.T @ G, rtol=1e-13)


def test_cholesky_failure_falls_back_to_qr_of_the_same_draw(monkeypatch):
    """A numerically singular Gaussian Gram (rare) must not crash the run: the same draw is
    orthonormalised by QR, which has the same Q (Haar, distribution checked against the brute
    force construction in test_measure.py)."""
    s_a = np.linspace(2, 1, 8)
    ref = K.null_draws(s_a, s_a, 8, 3, np.random.default_rng(1))

    def failing(_):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(np.linalg, "cholesky", failing)
    got = K.null_draws(s_a, s_a, 8, 3, np.random.default_rng(1))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def old_measure(tensors, side, draws, seed, n_layers):
    """0.1.0's computation (procrustes.py, float64 SVDs) for every family and pair."""
    out = {}
    for k, fam in enumerate(SHAPES):
        for L in range(n_layers - 1):
            A = tensors[f"model.layers.{L}.{'self_attn' if fam[0] in 'qkvo' else 'mlp'}.{fam}.weight"]
            B = tensors[f"model.layers.{L + 1}.{'self_attn' if fam[0] in 'qkvo' else 'mlp'}.{fam}.weight"]
            sa, sb = P.singular_values(A), P.singular_values(B)
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, L]))
            other = A.shape[0] if side == "cols" else A.shape[1]
            nulls = P.spectrum_null(sa, sb, other, draws, rng)
            out[(fam, L)] = (P.raw_cosine(A, B), P.aligned_cosine(A, B, side), nulls.mean(),
                             nulls.std(ddof=1), P.von_neumann_bound(sa, sb))
    return out


@pytest.mark.parametrize("side", ["cols", "rows"])
def test_numbers_equal_0_1_0_within_1e_12(tmp_path, side):
    tensors = planted_weights(4)
    ckpt = write_checkpoint(tmp_path / "c", tensors, "bf16")
    null_doc, _ = measure_checkpoint(str(ckpt), side=side, null_draws=3, seed=2)
    ref = old_measure(stored(tensors, "bf16"), side, 3, 2, 5)
    worst = 0.0
    for pr in null_doc["pair_results"]:
        for fam, e in pr["families"].items():
            r = ref[(fam, pr["L"])]
            got = (e["cos"], e["aligned_cos"], e["aligned_null_mean"], e["aligned_null_sd"],
                   e["von_neumann_bound"])
            worst = max(worst, max(abs(a - b) for a, b in zip(got, r)))
    assert worst <= 1e-12, worst


def test_each_layer_is_factored_once(tmp_path, monkeypatch):
    """Count spectrum computations: one per (family, layer) in one chain per family; with the
    chains of a 2-worker plan, one more per cut (0.1.0's workers: two per pair)."""
    from gaugetest.measure.gauges import OrthogonalGauge, Settings
    from gaugetest.measure.runners import Job, run_serial
    from gaugetest.measure.backends import BackendSpec
    from gaugetest.measure.sweep import inspect_checkpoint

    ckpt_path = write_checkpoint(tmp_path / "c", planted_weights(5))
    calls = []
    real = K.layer_factor
    monkeypatch.setattr(K, "layer_factor", lambda X, axis=1: calls.append(X.shape) or real(X, axis))
    whole = measure_checkpoint(str(ckpt_path), null_draws=1)
    assert len(calls) == len(SHAPES) * 5                   # 7 families x 5 layers, each once

    _, ckpt = inspect_checkpoint(str(ckpt_path))
    g, st = OrthogonalGauge(), Settings(null_draws=1)
    tasks = g.tasks(ckpt, st)
    for workers in (2, 3, 8):
        chains = g.chains(tasks, workers)
        assert sorted(t.key for c in chains for t in c) == sorted(t.key for t in tasks)
        for c in chains:                                   # consecutive pairs of one family
            assert len({t.families for t in c}) == 1
            assert [t.pair for t in c] == list(range(c[0].pair, c[0].pair + len(c)))
        calls.clear()
        results = {}
        run_serial(Job(ckpt, g, st, BackendSpec()), chains, lambda t, r: results.update({t.key: r}))
        assert len(calls) == sum(len(c) + 1 for c in chains)   # layers of each chain, once
        assert len(calls) - len(SHAPES) * 5 == len(chains) - len(SHAPES)  # cuts only
        # cut chains give the very same numbers (a recomputed layer is computed identically)
        for pr in whole[0]["pair_results"]:
            for fam, e in pr["families"].items():
                assert results[f"{fam}@{pr['L']}"][fam] == e


@pytest.mark.parametrize("over", [0, 1])
def test_blockwise_products_equal_direct(monkeypatch, over):
    """float32 matrices are upcast block by block and accumulated in place with BLAS syrk/gemm
    (many blocks here): equal to the float64 product of the whole matrices."""
    monkeypatch.setattr(K, "BLOCK_BYTES", 8 * 40 * 3)      # 3 rows/columns of 40 per block
    rng = np.random.default_rng(4)
    A = rng.standard_normal((40, 40)).astype(np.float32)[:37, :33]
    B = rng.standard_normal((37, 33)).astype(np.float32)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    ref_ab = A64.T @ B64 if over == 0 else A64 @ B64.T
    ref_aa = A64.T @ A64 if over == 0 else A64 @ A64.T
    np.testing.assert_allclose(K.contract(A, B, over), ref_ab, rtol=0, atol=1e-12)
    got = K.contract(A, A, over)
    np.testing.assert_allclose(got, ref_aa, rtol=0, atol=1e-12)
    assert np.array_equal(got, got.T) and got.flags.c_contiguous
    assert K.sq_norm(A) == pytest.approx(np.vdot(A64, A64), rel=1e-14)
    assert K.inner(A, B) == pytest.approx(np.vdot(A64, B64), rel=1e-13)
