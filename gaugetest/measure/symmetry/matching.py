"""Exact maximum-weight perfect matching on a sparse edge list, and its LP dual potentials:
the two exact steps the sparse MLP solver (``sparse.py``) and the auction's finish
(``auction.py``) share.

Examples
--------
>>> rows, cols = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
>>> vals = np.array([1.0, 3.0, 2.0, 1.0])
>>> m = max_matching(2, rows, cols, vals, shift=10.0)
>>> m.tolist()
[1, 0]
>>> a, b, _ = dual_potentials(2, rows, cols, vals, m, 1e-12)
>>> bool(np.all(vals <= a[rows] + b[cols] + 1e-12)), float(a.sum() + b.sum())
(True, 5.0)
"""
from __future__ import annotations

import numpy as np


def max_matching(n: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                 shift: float) -> np.ndarray:
    """The column of each row in a maximum-weight perfect matching of the listed edges (scipy's
    LAPJVsp on cost ``shift - vals``, positive so that no edge weighs 0)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    g = csr_matrix((shift - vals, (rows, cols)), shape=(n, n))
    r, c = min_weight_full_bipartite_matching(g)
    match = np.empty(n, np.int64)
    match[r] = c
    return match


def dual_potentials(n, rows, cols, vals, match, tol, max_sweeps: int | None = None,
                    start=None):
    """``(a, b)`` with ``vals_ij <= a_i + b_j + tol`` on every listed edge and equality on the
    matching: Bellman-Ford on the alternating graph (a column j reached from row i's matched
    column at cost ``V[i, m(i)] - V[i, j]``), vectorised over edges. A decrease still possible
    after n sweeps would be a negative cycle: the matching was not optimal. With
    ``max_sweeps``, ``None`` is returned after that many sweeps instead (the caller then solves
    again: a matching found on part of the edges need not be optimal on all of them).
    ``start`` (column potentials of a nearby problem) starts the sweeps there instead of at 0:
    any fixed point is feasible and tight, and one near the start is reached in a few sweeps."""
    on = cols == match[rows]
    v_match = np.empty(n)
    v_match[rows[on]] = vals[on]
    src, wt = match[rows], v_match[rows] - vals
    order = np.argsort(cols, kind="stable")
    src, wt, dst = src[order], wt[order], cols[order]
    starts = np.flatnonzero(np.r_[True, dst[1:] != dst[:-1]])
    heads = dst[starts]
    dist = np.zeros(n) if start is None else -np.asarray(start, np.float64)
    limit = n + 1 if max_sweeps is None else min(n + 1, max_sweeps)
    for sweep in range(limit):
        best = np.minimum.reduceat(dist[src] + wt, starts)
        better = best < dist[heads] - tol
        if not better.any():
            break
        dist[heads[better]] = best[better]
    else:
        if max_sweeps is not None:
            return None
        raise RuntimeError("negative cycle: the matching is not optimal on its edges")
    b = -dist                       # column potentials
    a = v_match - b[match]          # row potentials, tight on the matching
    return a, b, sweep
