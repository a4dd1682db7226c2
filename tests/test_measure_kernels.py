"""The exact kernels of the orthogonal gauge (gaugetest/measure/kernels.py) against LAPACK's SVD
and scipy.linalg.orthogonal_procrustes on hard inputs, the O(k^3) null sampler (haar.py) against
0.1.0's sampler, scipy's ortho_group and closed-form moments by simulation, each layer's
spectrum computed once, and whole runs against a copy of 0.1.0's computation."""
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


# ----------------------------------------------------------------------------- the null sampler
# (m, ka, kb, sampler): Bartlett (ka + kb <= m), Householder (m == kb), Gram (in between)
SAMPLER_CASES = [(40, 6, 6, "bartlett"), (25, 5, 8, "bartlett"), (12, 12, 12, "householder"),
                 (14, 6, 14, "householder"), (18, 6, 14, "gram"), (10, 7, 7, "gram")]


def _nuclear_values(sampler, m, ka, kb, n, seed, s_a, s_b):
    rng = np.random.default_rng(seed)
    return np.array([np.linalg.svd((s_a[:, None] * sampler(m, ka, kb, rng)) * s_b[None, :],
                                   compute_uv=False).sum() for _ in range(n)])


def _ortho_group_values(m, ka, kb, n, seed, s_a, s_b):
    """Brute force: top-left blocks of full Haar rotations (scipy.stats.ortho_group)."""
    from scipy.stats import ortho_group
    H = ortho_group.rvs(m, size=n, random_state=np.random.default_rng(seed))[:, :ka, :kb]
    return np.linalg.svd((s_a[:, None] * H) * s_b[None, :], compute_uv=False).sum(axis=1)


@pytest.mark.parametrize("m,ka,kb,kind", SAMPLER_CASES)
def test_haar_block_has_0_1_0s_distribution(m, ka, kb, kind):
    """The new sampler against 0.1.0's (procrustes.haar_block: Cholesky of a full Gaussian
    draw) and against brute force (a block of an ortho_group rotation), by simulation: the
    nuclear norm the null needs (two-sample KS tests and means within 4 standard errors),
    and the first two even moments of an entry against their closed forms for a Haar frame,
    E q^2 = 1/m and E q^4 = 3 / (m (m + 2))."""
    from scipy import stats
    from gaugetest.measure.haar import draw_haar, haar_block

    assert draw_haar(m, ka, kb, np.random.default_rng(0)).kind == kind
    rng = np.random.default_rng(m * 100 + ka)
    s_a = np.sort(rng.gamma(2, size=ka))[::-1]
    s_b = np.sort(rng.gamma(2, size=kb))[::-1]
    n = 2000
    new = _nuclear_values(haar_block, m, ka, kb, n, 1, s_a, s_b)
    old = _nuclear_values(P.haar_block, m, ka, kb, n, 2, s_a, s_b)
    brute = _ortho_group_values(m, ka, kb, n, 3, s_a, s_b)
    for ref in (old, brute):
        se = np.sqrt(new.var() / len(new) + ref.var() / len(ref))
        assert abs(new.mean() - ref.mean()) < 4 * se
        assert stats.ks_2samp(new, ref).pvalue > 1e-3
    q = np.concatenate([haar_block(m, ka, kb, rng).ravel() for _ in range(2000)])
    q2, q4 = q ** 2, q ** 4
    assert abs(q2.mean() - 1 / m) < 5 * q2.std() / np.sqrt(q2.size / (ka * kb))
    assert abs(q4.mean() - 3 / (m * (m + 2))) < 5 * q4.std() / np.sqrt(q4.size / (ka * kb))


def test_bartlett_root_is_wishart():
    """U U^T ~ Wishart_p(n, I): diagonal entries chi^2(n) (KS against scipy.stats.chi2),
    off-diagonal entries with mean 0 and variance n (closed forms), against the definition
    G^T G of an n x p Gaussian G by simulation."""
    from scipy import stats
    from gaugetest.measure.haar import bartlett_root

    n, p, reps = 9, 4, 6000
    rng = np.random.default_rng(8)
    W = np.array([(lambda U: U @ U.T)(bartlett_root(n, p, rng)) for _ in range(reps)])
    ref = np.array([(lambda G: G.T @ G)(rng.standard_normal((n, p))) for _ in range(reps)])
    for i in range(p):
        assert stats.kstest(W[:, i, i], stats.chi2(n).cdf).pvalue > 1e-3
    off = W[:, 0, 3]
    assert abs(off.mean()) < 4 * np.sqrt(n / reps)
    assert off.var() == pytest.approx(n, rel=0.1)
    for i, j in [(0, 1), (1, 3), (2, 2)]:
        assert stats.ks_2samp(W[:, i, j], ref[:, i, j]).pvalue > 1e-3
    with pytest.raises(ValueError):
        bartlett_root(3, 4, rng)


@pytest.mark.parametrize("m,k", [(30, 30), (45, 30), (80, 30)])
def test_haar_block_is_a_block_of_an_orthonormal_frame(m, k):
    """Householder draws are exact frames (Q^T Q = I); every block has singular values <= 1."""
    from gaugetest.measure.haar import haar_block, householder_reflectors, HaarDraw, \
        haar_block_from
    rng = np.random.default_rng(m)
    V, tau, signs = householder_reflectors(m, k, rng)
    Q = haar_block_from(HaarDraw("householder", m, m, k, V, tau=tau, signs=signs))
    np.testing.assert_allclose(Q.T @ Q, np.eye(k), atol=1e-13)
    assert np.linalg.svd(haar_block(m, k, k, rng), compute_uv=False).max() <= 1 + 1e-12


def test_gram_draws_are_0_1_0s_draws():
    """Between Bartlett and Householder (kb < m < ka + kb) the draw is 0.1.0's, with the same
    random numbers: the same values as procrustes.spectrum_null (0.1.0's kernel) to 1e-12; the
    blockwise draw is the same stream as one big draw."""
    from gaugetest.measure.haar import gaussian_gram
    rng = np.random.default_rng(0)
    for m, ka, kb in [(50, 30, 30), (40, 25, 25), (13, 8, 8)]:
        s_a = np.sort(rng.gamma(2, size=ka))[::-1]
        s_b = np.sort(rng.gamma(2, size=kb))[::-1]
        old = P.spectrum_null(s_a, s_b, m, 5, np.random.default_rng(7))
        new = K.null_draws(s_a, s_b, m, 5, np.random.default_rng(7))
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-12)
    head, W = gaussian_gram(37, 11, 6, np.random.default_rng(5), block_rows=4)
    G = np.random.default_rng(5).standard_normal((37, 6))
    np.testing.assert_array_equal(head, G[:11])
    np.testing.assert_allclose(np.triu(W), np.triu(G.T @ G), rtol=1e-13)


def test_null_draws_equal_an_svd_of_the_same_draws():
    """kernels.null_draws (Gram eigenvalues) equals an SVD nuclear norm of the very same Haar
    blocks (same seed) to 1e-12, in both sampler branches."""
    from gaugetest.measure.haar import haar_block
    rng = np.random.default_rng(0)
    for m, ka, kb in [(50, 12, 12), (30, 30, 30), (40, 25, 25), (64, 20, 20)]:
        s_a = np.sort(rng.gamma(2, size=ka))[::-1]
        s_b = np.sort(rng.gamma(2, size=kb))[::-1]
        got = K.null_draws(s_a, s_b, m, 5, np.random.default_rng(7))
        ref = _nuclear_values(haar_block, m, ka, kb, 5, 7, s_a, s_b)
        np.testing.assert_allclose(got, ref / (np.linalg.norm(s_a) * np.linalg.norm(s_b)),
                                   rtol=0, atol=1e-12)


def test_cholesky_failure_falls_back_to_a_householder_draw(monkeypatch):
    """A Bartlett Gram matrix that will not factor (not seen in practice: its condition number
    is at most ~34) must not crash the run: the draw is replaced by a Householder draw, which
    is always valid; the result stays deterministic."""
    from scipy.linalg import lapack
    from gaugetest.measure import haar as H

    s_a = np.linspace(2, 1, 8)
    real = lapack.dpotrf
    ok = K.null_draws(s_a, s_a, 40, 3, np.random.default_rng(1))
    monkeypatch.setattr(lapack, "dpotrf", lambda *a, **k: (real(*a, **k)[0], 1))
    K.STATS.cholesky_fallbacks = 0
    got = K.null_draws(s_a, s_a, 40, 3, np.random.default_rng(1))
    again = K.null_draws(s_a, s_a, 40, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(got, again)
    assert not np.allclose(got, ok) and np.all((got > 0) & (got <= 1))
    assert H.draw_haar(40, 8, 8, np.random.default_rng(0)).kind == "bartlett"


def old_measure(tensors, side, draws, seed, n_layers):
    """0.1.0's computation (procrustes.py, float64 SVDs) for every family and pair; the null
    from the same Haar blocks as 0.3.0's sampler (haar.haar_block, same seed), its nuclear
    norms by SVD (0.1.0's sampler draws other numbers: its distribution is compared above)."""
    from gaugetest.measure.haar import haar_block

    def svd_null(sa, sb, other, draws, rng):
        norm = np.linalg.norm(sa) * np.linalg.norm(sb)
        return _nuclear_values(lambda m, ka, kb, _: haar_block(m, ka, kb, rng), other,
                               len(sa), len(sb), draws, 0, sa, sb) / norm

    out = {}
    for k, fam in enumerate(SHAPES):
        for L in range(n_layers - 1):
            A = tensors[f"model.layers.{L}.{'self_attn' if fam[0] in 'qkvo' else 'mlp'}.{fam}.weight"]
            B = tensors[f"model.layers.{L + 1}.{'self_attn' if fam[0] in 'qkvo' else 'mlp'}.{fam}.weight"]
            sa, sb = P.singular_values(A), P.singular_values(B)
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, L]))
            other = A.shape[0] if side == "cols" else A.shape[1]
            nulls = svd_null(sa, sb, other, draws, rng)
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


def test_two_stage_eigenvalues_equal_syevd(monkeypatch, tmp_path):
    """LAPACK's two-stage eigensolver (eigen.py, used from k >= 3072) against scipy's syevd on
    a graded Gram matrix; with the threshold lowered to 1 a whole run still equals 0.1.0's SVD
    numbers (1e-12, as test_numbers_equal_0_1_0_within_1e_12)."""
    from gaugetest.measure import eigen
    if eigen.two_stage_routine() is None:
        pytest.skip("this LAPACK does not export dsyevd_2stage (syevd is used)")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 200)) * np.logspace(0, -4, 200)
    G = X.T @ X
    ref = sl.eigh(G, eigvals_only=True)
    for arr in (np.array(G, order="F"), np.ascontiguousarray(G)):
        np.testing.assert_allclose(eigen.eigvalsh_two_stage(arr), ref, rtol=0,
                                   atol=1e-13 * ref[-1])
    monkeypatch.setattr(eigen, "TWO_STAGE_MIN", 1)
    test_numbers_equal_0_1_0_within_1e_12(tmp_path, "cols")


@pytest.mark.parametrize("m,k", [(90, 30), (30, 30), (45, 30)])
def test_float32_haar_block_is_the_float64_one_to_rounding(m, k):
    """The torch backend multiplies the same random numbers out in float32 on the CPU: the
    block agrees with float64's to ~1e-6 and a null value to 1e-7 (tolerance of the backend:
    1e-6 on every written number)."""
    from gaugetest.measure.haar import draw_haar, haar_block_from
    rng = np.random.default_rng(m)
    s = np.sort(rng.gamma(1.5, size=k))[::-1] * np.logspace(0, -2, k)
    for seed in range(3):
        d = draw_haar(m, k, k, np.random.default_rng(seed))
        q64, q32 = haar_block_from(d), haar_block_from(d, np.float32)
        assert q32.dtype == np.float64 and np.abs(q64 - q32).max() < 2e-6
        v64, v32 = (K.nuclear_norm((s[:, None] * q) * s[None, :]) / (s @ s) for q in (q64, q32))
        assert abs(v64 - v32) < 1e-7
