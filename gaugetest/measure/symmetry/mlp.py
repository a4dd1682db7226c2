"""The MLP block: one neuron permutation maximising the summed gate/up/down cosine.

:func:`mlp_similarity` is the heavy product (n^2 x 3d multiply-adds); :func:`solve_mlp` the
dense exact assignment on it; :func:`solve_mlp_sparse` the same optimum without the n x n
matrix, with an LP-duality certificate.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> A = {f: rng.standard_normal((6, 4)) for f in ("gate_proj", "up_proj")}
>>> perm = solve_mlp(A, A)
>>> perm.tolist(), round(mlp_objective(A, A, perm), 12)
([0, 1, 2, 3, 4, 5], 2.0)
"""
from __future__ import annotations

import numpy as np

from .group import MLP_FAMILIES
from .numerics import _cos, _lsa_max, _norm64, _row_norms64


def mlp_similarity(A: dict, B: dict, dtype=np.float64) -> np.ndarray:
    """Summed cosine similarity of neurons: ``S[i, j] = sum_f <A_f[i], B_f[j]> / (|A_f||B_f|)``
    over gate/up rows and down columns present. The heavy step (n^2 x 3d multiply-adds).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = {"up_proj": rng.standard_normal((3, 4))}
    >>> S = mlp_similarity(A, A)
    >>> bool(np.isclose(np.trace(S), 1.0))
    True
    """
    fams = [f for f in MLP_FAMILIES if f in A and f in B]
    n = (A[fams[0]].shape[0] if fams[0] != "down_proj" else A[fams[0]].shape[1])
    S = np.zeros((n, n), dtype=dtype)
    for f in fams:
        w = 1.0 / (_norm64(A[f]) * _norm64(B[f]))
        a = np.asarray(A[f], dtype=dtype)
        b = np.asarray(B[f], dtype=dtype)
        if f == "down_proj":
            S += (a.T * dtype(w)) @ b
        else:
            S += (a * dtype(w)) @ b.T
    return S


def mlp_objective(A: dict, B: dict, neuron_perm: np.ndarray) -> float:
    """Sum of the MLP families' cosines after moving A's neuron i to ``neuron_perm[i]``
    (float64; what :func:`solve_mlp` maximises)."""
    inv = np.argsort(neuron_perm)  # B's neuron j faces A's neuron inv[j]
    total = 0.0
    for f in MLP_FAMILIES:
        if f in A and f in B:
            a = np.asarray(A[f], np.float64)
            b = np.asarray(B[f], np.float64)
            moved = a[:, inv] if f == "down_proj" else a[inv]
            total += _cos(moved, b)
    return total


def solve_mlp(A: dict, B: dict, dtype=np.float64) -> np.ndarray:
    """The neuron permutation maximising the summed cosine (one exact linear assignment)."""
    return _lsa_max(mlp_similarity(A, B, dtype))


def _mlp_features(A: dict, B: dict):
    """Per family: (A side (n, d) scaled by the cosine weight, B side (n, d)) as views/copies."""
    out = []
    for f in MLP_FAMILIES:
        if f in A and f in B:
            w = 1.0 / (_norm64(A[f]) * _norm64(B[f]))
            a, b = (A[f].T, B[f].T) if f == "down_proj" else (A[f], B[f])
            out.append((a, b, w))
    return out


def _pair_values(feats, i: np.ndarray, j: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Exact S[i, j] for listed pairs (float64)."""
    vals = np.zeros(len(i))
    for s in range(0, len(i), chunk):
        ii, jj = i[s:s + chunk], j[s:s + chunk]
        for a, b, w in feats:
            vals[s:s + chunk] += w * np.einsum("kd,kd->k", np.asarray(a[ii], np.float64),
                                               np.asarray(b[jj], np.float64))
    return vals


def _duals(n, rows, cols, cost, match, tol):
    """Dual potentials (u, v) of a min-cost perfect matching on a sparse edge list.

    With v the shortest distances (from a virtual source at 0) in the graph on columns with an
    edge match[i] -> j of weight cost[i, j] - cost[i, match[i]] for every edge (i, j) (an
    alternating path), and u_i = cost[i, match[i]] - v[match[i]]: u_i + v_j <= cost_ij on
    every edge, with equality on the matching. Bellman-Ford; a decrease larger than ``tol``
    after n rounds would be a negative cycle (the matching not optimal on these edges)."""
    c_match = np.empty(n)
    on = cols == match[rows]
    c_match[rows[on]] = cost[on]
    src, wt = match[rows], cost - c_match[rows]
    order = np.argsort(cols, kind="stable")
    src, wt, dst = src[order], wt[order], cols[order]
    starts = np.flatnonzero(np.r_[True, dst[1:] != dst[:-1]])
    heads = dst[starts]
    d = np.zeros(n)
    for _ in range(n + 1):
        best = np.minimum.reduceat(d[src] + wt, starts)
        improve = best < d[heads] - tol
        if not improve.any():
            break
        d[heads[improve]] = best[improve]
    else:
        raise RuntimeError("negative cycle: the sparse matching is not optimal")
    return c_match - d[match], d


def solve_mlp_sparse(A: dict, B: dict, *, k: int = 32, block: int = 1024, dtype=np.float64,
                     max_pricing: int = 20, rows=None) -> tuple[np.ndarray, dict]:
    """The optimal neuron permutation without storing the n x n similarity (exact, certified).

    1. Stream the similarity in row blocks; keep each row's and each column's ``k`` largest
       entries (candidate edges) and the k-th largest value of every row (t_i) and column
       (s_j), raised by a rounding-error bound of the streamed products: any other entry
       S_ij <= min(t_i, s_j). The identity pairs join the candidates so that a perfect
       matching always exists. Candidate values are exact float64 (recomputed when the
       stream used float32).
    2. Max-weight perfect matching on the candidates
       (``scipy.sparse.csgraph.min_weight_full_bipartite_matching``).
    3. Its LP dual (u, v) (Bellman-Ford on the alternating graph), feasible on the candidates
       and tight on the matching.
    4. Certificate: every non-candidate pair with ``u_i + v_j`` above the bound from
       ``min(t_i, s_j)`` is priced exactly; pairs that really violate the dual constraint join
       the candidates and steps 2-4 repeat. When none is left, (u, v) is a feasible dual of
       the *dense* problem with the matching's value, so the matching is optimal (LP duality).

    ``rows(i0, i1)``, when given, returns rows i0..i1 of the similarity in ``dtype`` (another
    backend's product, e.g. on a GPU); by default they are numpy products.

    Memory: O(n k + block n) instead of n^2; the multiply-adds are those of the dense
    similarity, once. Stream in float64 (the default): a float32 stream is valid too, but
    the rigorous rounding margin it needs (gamma_d |a| |b|, d = hidden) is wide enough at
    large d that most rows must be priced exactly, which costs more than it saves.

    Returns
    -------
    perm : ndarray
        A's neuron i goes to ``perm[i]`` (same convention as :func:`solve_mlp`).
    info : dict
        ``certified`` (bool), ``gap_bound`` (the certificate proves the summed similarity is
        within this of the optimum: n times the dual tolerance, ~1e-10 relative), ``rounds``,
        ``edges``, ``priced`` (pairs priced exactly), ``k``, ``t_match`` (seconds in the
        matching and dual steps).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = {f: rng.standard_normal((50, 8)) for f in ("gate_proj", "up_proj")}
    >>> B = {f: rng.standard_normal((50, 8)) for f in ("gate_proj", "up_proj")}
    >>> perm, info = solve_mlp_sparse(A, B, k=4)
    >>> info["certified"], bool(np.array_equal(perm, solve_mlp(A, B)))
    (True, True)
    """
    import time

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    feats = _mlp_features(A, B)
    n = feats[0][0].shape[0]
    k = min(k, n)
    row_idx = np.empty((n, k), np.int64)
    row_val = np.empty((n, k))
    col_val = np.full((k, n), -np.inf)
    col_idx = np.zeros((k, n), np.int64)
    bT = None
    if rows is None:
        bT = [(np.asarray(b, dtype).T, dtype(w)) for _, b, w in feats]

        def rows(i0, i1):
            S = np.zeros((i1 - i0, n), dtype)
            for (a, _, _), (bt, w) in zip(feats, bT):
                S += (np.asarray(a[i0:i1], dtype) * w) @ bt
            return S
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        S = rows(i0, i1)
        top = np.argpartition(S, -k, axis=1)[:, -k:]
        row_idx[i0:i1] = top
        row_val[i0:i1] = np.take_along_axis(S, top, axis=1)
        both = np.concatenate([col_val, S], axis=0)
        both_idx = np.concatenate([col_idx, np.broadcast_to(np.arange(i0, i1)[:, None],
                                                            (i1 - i0, n))], axis=0)
        sel = np.argpartition(both, -k, axis=0)[-k:]
        col_val = np.take_along_axis(both, sel, axis=0)
        col_idx = np.take_along_axis(both_idx, sel, axis=0)
        del S, both, both_idx
    rows = bT = None   # frees the float64 copy of B's features
    # thresholds from rounded products: inflate by the dot-product error bound
    # |fl(a.b) - a.b| <= gamma_d sum|a_k b_k| <= gamma_d |a| |b| (Higham, Thm 3.5), per family
    margin = 0.0
    for a, b, w in feats:
        d = a.shape[1]
        gamma = d * np.finfo(dtype).eps / (1 - d * np.finfo(dtype).eps)
        margin += w * gamma * _row_norms64(a).max() * _row_norms64(b).max()
    t_row, s_col = row_val.min(axis=1) + 2 * margin, col_val.min(axis=0) + 2 * margin
    # the identity pairs (priced exactly) guarantee that a perfect matching exists
    ident = np.arange(n)
    rows = np.concatenate([np.repeat(ident, k), col_idx.reshape(-1), ident])
    cols = np.concatenate([row_idx.reshape(-1), np.tile(ident, k), ident])
    vals = np.concatenate([row_val.reshape(-1), col_val.reshape(-1), _pair_values(feats, ident, ident)])
    key, first = np.unique(rows * n + cols, return_index=True)
    rows, cols = rows[first], cols[first]
    vals = _pair_values(feats, rows, cols) if dtype != np.float64 else vals[first]
    del row_idx, row_val, col_val, col_idx
    top_val = max(vals.max(), t_row.max(), s_col.max())
    spread = max(top_val - vals.min(), abs(top_val), np.finfo(float).tiny)
    # cost = K - S in [spread, 2 spread] on candidates: a constant shift changes no perfect
    # matching, and keeps the costs positive and on the scale of S (so tol is relative)
    K = top_val + spread
    bound_cost_row, bound_cost_col = K - t_row, K - s_col   # cost of any non-candidate >= max
    tol = 1e-10 * spread
    t_match = 0.0
    priced = 0
    certified = False
    rounds = 0
    for rounds in range(1, max_pricing + 1):
        t = time.perf_counter()
        cost = K - vals
        g = coo_matrix((cost, (rows, cols)), shape=(n, n)).tocsr()
        r_ind, c_ind = min_weight_full_bipartite_matching(g)
        match = np.empty(n, np.int64)
        match[r_ind] = c_ind
        u, v = _duals(n, rows, cols, cost, match, tol)
        t_match += time.perf_counter() - t
        # pairs whose bound cannot rule out a violated dual constraint u_i + v_j <= cost_ij
        vmax = v.max()
        suspects = np.flatnonzero(u + vmax > bound_cost_row + tol)
        new_i, new_j = [], []
        for s0 in range(0, len(suspects), 256):
            ii = suspects[s0:s0 + 256]
            lhs = u[ii, None] + v[None, :]
            bound = np.maximum(bound_cost_row[ii, None], bound_cost_col[None, :])
            bi, bj = np.nonzero(lhs > bound + tol)
            new_i.append(ii[bi])
            new_j.append(bj)
        new_i = np.concatenate(new_i) if new_i else np.empty(0, np.int64)
        new_j = np.concatenate(new_j) if new_j else np.empty(0, np.int64)
        fresh = ~np.isin(new_i * n + new_j, key)
        new_i, new_j = new_i[fresh], new_j[fresh]
        if len(new_i) == 0:
            certified = True
            break
        new_v = _pair_values(feats, new_i, new_j)
        priced += len(new_i)
        bad = u[new_i] + v[new_j] > (K - new_v) + tol
        rows, cols = np.concatenate([rows, new_i]), np.concatenate([cols, new_j])
        vals = np.concatenate([vals, new_v])
        key = np.sort(rows * n + cols)
        if not bad.any():
            certified = True
            # the matching is still optimal: every priced pair satisfies its dual constraint
            break
    # dual constraints hold to tol each, so the matching is optimal to within n * tol
    return np.asarray(match), {"certified": certified, "rounds": rounds, "edges": len(rows),
                               "priced": priced, "k": k, "t_match": t_match,
                               "gap_bound": n * tol}
