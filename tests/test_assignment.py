"""The certified MLP assignment (issue 19): the similarity stream's rounding bounds, the sparse
solver and the torch auction, each against an independent reference.

Reference sources: ``scipy.optimize.linear_sum_assignment`` on the dense float64 matrix (the
optimum; compared by objective, and by permutation where the optimum is unique); the float64
similarity computed with numpy from the same weights (every bound must hold on every entry);
enumeration of all 8! permutations for a tiny case with exact ties; matrices built to be hard:
integer values with many exact ties, near-ties (differences 1e-13 relative), rank-deficient
similarities (rank 2 of 200), a planted permutation under noise, and bfloat16-stored weights.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from gaugetest.measure.symmetry.auction import auction_matching
from gaugetest.measure.symmetry.sparse import solve_features
from gaugetest.measure.symmetry.stream import stream_candidates

torch = pytest.importorskip("torch")


def dense_opt(V):
    r, c = linear_sum_assignment(-V)
    return c, V[r, c].sum()


def all_edges(V):
    r, c = np.nonzero(np.ones(V.shape, bool))
    return r, c, V[r, c]


def matrices():
    rng = np.random.default_rng(11)
    n = 60
    X = rng.standard_normal((n, 2)); Y = rng.standard_normal((n, 2))
    near = np.round(rng.standard_normal((n, n)), 2)
    near += rng.uniform(-1e-13, 1e-13, near.shape)   # near-ties around many exact ties
    perm = rng.permutation(n)
    planted = rng.standard_normal((n, n)) * 0.3
    planted[np.arange(n), perm] += 1.0
    return {"gaussian": rng.standard_normal((n, n)),
            "integer ties": rng.integers(0, 4, (n, n)).astype(float),
            "near ties": near,
            "rank 2": X @ Y.T,
            "planted": planted,
            "constant": np.ones((n, n))}


@pytest.mark.parametrize("name", list(matrices()))
def test_auction_finds_scipys_optimum(name):
    """Dense graphs: the auction + gap pruning + exact finish reaches scipy's objective (to
    float rounding); on the unique-optimum cases the same permutation."""
    V = matrices()[name]
    n = len(V)
    match, stats = auction_matching(n, *all_edges(V), shift=float(np.ptp(V)) + abs(V).max() + 1)
    ref, best = dense_opt(V)
    assert sorted(match.tolist()) == list(range(n))
    assert V[np.arange(n), match].sum() == pytest.approx(best, abs=1e-9 * (1 + abs(best)))
    assert stats["complete"] and stats["gap"] >= -1e-9
    assert stats["dual"] >= best - 1e-9 * (1 + abs(best))       # D(p) bounds the optimum
    if name in ("gaussian", "planted"):
        assert np.array_equal(match, ref)
        assert stats["pruned"] > 0.9 * n * n                    # the gap prunes almost all


def test_auction_on_a_sparse_graph_and_a_tie_case_by_enumeration():
    rng = np.random.default_rng(5)
    V = rng.integers(0, 3, (8, 8)).astype(float)
    best = max(sum(V[i, p[i]] for i in range(8)) for p in itertools.permutations(range(8)))
    match, _ = auction_matching(8, *all_edges(V), shift=10.0)
    assert V[np.arange(8), match].sum() == best
    # a sparse graph: the diagonal plus 5 random edges a row
    n = 300
    r = np.concatenate([np.arange(n), np.repeat(np.arange(n), 5)])
    c = np.concatenate([np.arange(n), rng.integers(0, n, 5 * n)])
    key = np.unique(r * n + c)
    r, c = key // n, key % n
    v = rng.standard_normal(len(r))
    match, stats = auction_matching(n, r, c, v, shift=20.0)
    D = np.full((n, n), -1e6)
    D[r, c] = v
    ref, best = dense_opt(D)
    assert D[np.arange(n), match].sum() == pytest.approx(best, abs=1e-9)


def _features(rng, n, d, dtype=np.float32):
    xs = [rng.standard_normal((n, d)).astype(dtype) for _ in range(3)]
    ys = [rng.standard_normal((n, d)).astype(dtype) for _ in range(3)]
    w = [1 / (np.linalg.norm(np.asarray(x, float)) * np.linalg.norm(np.asarray(y, float)))
         for x, y in zip(xs, ys)]
    S = sum(wi * (np.asarray(x, float) @ np.asarray(y, float).T) for x, y, wi in zip(xs, ys, w))
    return xs, ys, w, S


@pytest.mark.parametrize("product", ["numpy-float32", "numpy-float64", "torch-float32",
                                     "torch-bfloat16"])
def test_stream_bounds_hold_on_every_entry(product):
    """The certificate's premises, against the float64 similarity: every kept upper bound is
    >= the entry, every other entry of a row <= the row's threshold and of a column <= the
    column's; bfloat16 inputs exact (as a bf16 checkpoint) or rounded (float32 inputs)."""
    import ml_dtypes
    from gaugetest.measure.symmetry.stream_torch import torch_stream
    rng = np.random.default_rng(2)
    for store in (np.float32, ml_dtypes.bfloat16):
        xs, ys, w, S = _features(rng, 300, 200, store)
        lib, prec = product.split("-")
        st = (stream_candidates(xs, ys, w, 8, dtype=np.dtype(prec).type, block=64)
              if lib == "numpy" else torch_stream(xs, ys, w, 8, product=prec, block=64))
        n = len(S)
        ar = np.arange(n)
        assert np.all(S[ar[:, None], st.row_idx] <= st.row_ub)
        assert np.all(S[st.col_idx, ar[None, :]] <= st.col_ub)
        assert np.all(S[ar, ar] <= st.diag_ub)
        off = np.ones((n, n), bool)
        off[ar[:, None], st.row_idx] = False
        assert np.all(S[off] <= np.broadcast_to(st.t_row[:, None], S.shape)[off])
        off = np.ones((n, n), bool)
        off[st.col_idx, ar[None, :]] = False
        assert np.all(S[off] <= np.broadcast_to(st.s_col[None, :], S.shape)[off])
        # the bounds are rigorous, not vacuous: within a small fraction of the entries' spread
        assert st.max_delta < 0.3 * S.std()


CASES = [(e, c) for c in ("unrelated", "planted", "rank-deficient", "tiny-k", "bfloat16")
         for e in ("scipy", "auction")
         # the auction's own tie and rank-deficient cases are test_auction_finds_scipys_optimum;
         # here they would repeat it through many pricing rounds at minutes of CI time
         if not (e == "auction" and c in ("rank-deficient", "tiny-k"))]


@pytest.mark.parametrize("engine,case", CASES)
def test_sparse_solver_equals_dense_scipy(engine, case):
    """The certified sparse solver (both matching engines) returns scipy's dense optimum, with a
    certificate whose dual equals the primal to within its gap bound."""
    import ml_dtypes
    rng = np.random.default_rng({"unrelated": 1, "planted": 2, "rank-deficient": 3,
                                 "tiny-k": 4, "bfloat16": 5}[case])
    n, d = 200 if engine == "auction" else 400, 48
    store = ml_dtypes.bfloat16 if case == "bfloat16" else np.float32
    xs, ys, w, S = _features(rng, n, d, store)
    if case == "planted":
        perm = rng.permutation(n)
        ys = [(np.asarray(x, np.float32)[np.argsort(perm)] + 0.7 * y).astype(np.float32)
              for x, y in zip(xs, ys)]
    if case == "rank-deficient":
        basis = rng.standard_normal((2, d))
        xs = [(rng.standard_normal((n, 2)) @ basis).astype(np.float32) for _ in range(3)]
    if case in ("planted", "rank-deficient"):
        w = [1 / (np.linalg.norm(x.astype(float)) * np.linalg.norm(y.astype(float)))
             for x, y in zip(xs, ys)]
        S = sum(wi * (x.astype(float) @ y.astype(float).T) for x, y, wi in zip(xs, ys, w))
    stream = None
    if case == "bfloat16":
        from gaugetest.measure.symmetry.stream_torch import torch_stream

        def stream(xs, ys, w, k):
            return torch_stream(xs, ys, w, k, product="bfloat16", block=96)
    sol = solve_features(xs, ys, w, k=3 if case == "tiny-k" else 12, stream=stream,
                         engine=engine, block=96)
    ref, best = dense_opt(S)
    c = sol.certificate
    assert c["certified"] and c["engine"] == engine
    assert c["value"] == pytest.approx(best, abs=1e-12)
    assert abs(c["dual"] - c["value"]) <= c["gap_bound"] + 1e-15
    if case != "rank-deficient":          # rank 2: many optimal permutations
        assert np.array_equal(sol.perm, ref)
    # the families' parts are the exact float64 values of the matched pairs
    exact = [wi * np.einsum("ij,ij->i", np.asarray(x, float), np.asarray(y, float)[sol.perm])
             for x, y, wi in zip(xs, ys, w)]
    np.testing.assert_allclose(sol.parts, exact, rtol=0, atol=1e-15)
    if case == "tiny-k":
        assert c["priced"] > 0             # the certificate needed non-candidate pricing
