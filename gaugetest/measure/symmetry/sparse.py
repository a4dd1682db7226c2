"""The exact MLP neuron assignment without the n x n similarity, with an optimality certificate.

1. **Candidates.** The similarity is streamed once in row blocks in a cheap product precision
   (``stream.py``): each row's and each column's k largest *upper bounds* and the identity pairs
   become candidate edges; ``t_i`` / ``s_j`` bound every other entry of row i / column j.
2. **Lazy exact values.** An edge's value is used as its upper bound until it matters; edges a
   matching uses are then priced exactly (float64 dot products of the stored weights).
3. **Exact matching on the candidates**, iterated until the optimum uses only exactly priced
   edges: then it is optimal for the candidate graph with exact values (it is optimal for a
   relaxation, each unpriced edge counted at an upper bound, and its value is exact). The
   matching engine is scipy's ``min_weight_full_bipartite_matching`` (LAPJVsp) or, with
   ``engine="auction"``, the torch auction of ``auction.py`` with its duality-gap pruning and
   the same exact finish.
4. **Certificate.** LP dual potentials of that matching (Bellman-Ford on the alternating graph,
   feasible on every candidate, tight on the matching). A non-candidate pair can only violate
   its dual constraint if its bound ``min(t_i, s_j)`` exceeds ``a_i + b_j``; such pairs are
   priced exactly and, if one really violates it, joins the candidates and steps 3-4 repeat.
   When none is left the potentials are a feasible dual of the *dense* problem whose value
   equals the matching's, so the matching is optimal (LP duality), to within ``n * tol``.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> xs = [rng.standard_normal((60, 8)) for _ in range(2)]
>>> ys = [rng.standard_normal((60, 8)) for _ in range(2)]
>>> res = solve_features(xs, ys, [1.0, 1.0], k=4)
>>> from scipy.optimize import linear_sum_assignment
>>> S = xs[0] @ ys[0].T + xs[1] @ ys[1].T
>>> bool(np.array_equal(res.perm, linear_sum_assignment(-S)[1])), res.certificate["certified"]
(True, True)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .matching import dual_potentials, max_matching
from .stream import Stream, stream_candidates

#: bytes of the float64 gathers of one pricing chunk
PRICE_CHUNK_BYTES = 32 << 20
#: dual tolerance relative to the spread of the values (as 0.2.0's sparse solver)
DUAL_TOL = 1e-10
#: Bellman-Ford sweeps before a matching found on the near-tight edges is declared not optimal
#: on all candidates (optimal ones needed 80-200 at Qwen3 shapes): then it is solved on all
DUAL_SWEEPS = 2000


@dataclass(frozen=True)
class MlpSolution:
    """The optimal neuron permutation and what proves it.

    Attributes
    ----------
    perm : (n,) int array
        A's neuron i goes to ``perm[i]``.
    parts : (F, n) float64 array
        ``w_f <x_f,i, y_f,perm[i]>`` for each family: a family's aligned cosine is its row sum.
    certificate : dict
        ``certified``, ``gap_bound`` (the summed similarity is within this of the optimum),
        ``value`` and ``dual`` (primal and dual objective), ``k``, ``product``, ``max_delta``,
        ``candidate_edges``, ``exact_edges``, ``pruned_pairs`` (pairs never priced: bounded),
        ``priced`` (non-candidate pairs priced by the certificate), ``rounds``, ``engine`` and
        timings.
    """

    perm: np.ndarray
    parts: np.ndarray = field(repr=False)
    certificate: dict

    def cosines(self) -> list:
        return [float(p.sum()) for p in self.parts]


class EdgePricer:
    """Exact values ``sum_f w_f <x_f,i, y_f,j>`` (float64) of listed pairs, and each family's
    part. Gathers float32/bfloat16 rows in chunks, accumulates in float64."""

    def __init__(self, xs: list, ys: list, weights: list):
        self.xs, self.ys, self.w = xs, ys, [float(w) for w in weights]
        self.count = 0

    def __call__(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = len(i)
        parts = np.zeros((len(self.xs), m))
        self.count += m
        for f, (x, y, w) in enumerate(zip(self.xs, self.ys, self.w)):
            step = max(1, PRICE_CHUNK_BYTES // (16 * x.shape[1]))
            for s in range(0, m, step):
                a = np.asarray(x[i[s:s + step]], np.float64)
                b = np.asarray(y[j[s:s + step]], np.float64)
                parts[f, s:s + step] = w * np.einsum("ij,ij->i", a, b)
        return parts.sum(axis=0), parts


def find_suspects(a, b, t_row, s_col, cand_keys, tol, budget=1 << 21):
    """Pairs (i, j) outside the candidates whose bound ``min(t_i, s_j)`` exceeds
    ``a_i + b_j + tol``: only these can violate a dual constraint. With the columns sorted by
    ``b``, row i's suspects lie in the prefix ``b_j < t_i - a_i - tol``; each prefix is then
    checked against ``s_j - b_j > a_i + tol``."""
    n = len(a)
    order = np.argsort(b, kind="stable")
    b_sorted = b[order]
    s_minus_b = (s_col - b)[order]
    m = np.searchsorted(b_sorted, t_row - a - tol, side="left")
    out_i, out_j = [], []
    i0 = 0
    while i0 < n:
        # rows i0..i1 whose prefixes together stay within the budget
        csum = np.cumsum(m[i0:])
        i1 = i0 + max(1, int(np.searchsorted(csum, budget, side="right")))
        rows = np.arange(i0, i1)
        lens = m[i0:i1]
        total = int(lens.sum())
        if total:
            ii = np.repeat(rows, lens)
            pos = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
            hit = s_minus_b[pos] > a[ii] + tol
            out_i.append(ii[hit])
            out_j.append(order[pos[hit]])
        i0 = i1
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    si, sj = np.concatenate(out_i), np.concatenate(out_j)
    keys = si * n + sj
    fresh = ~_isin_sorted(keys, cand_keys)
    return si[fresh], sj[fresh]


def _isin_sorted(keys, sorted_keys):
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), bool)
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def candidate_edges(st: Stream):
    """Unique candidate edges (row-major order): rows, cols, computed value, upper bound."""
    n, k = st.row_idx.shape
    ar = np.arange(n)
    rows = np.concatenate([np.repeat(ar, k), st.col_idx.reshape(-1), ar])
    cols = np.concatenate([st.row_idx.reshape(-1), np.tile(ar, st.col_idx.shape[0]), ar])
    val = np.concatenate([st.row_val.reshape(-1), st.col_val.reshape(-1), st.diag_val])
    ub = np.concatenate([st.row_ub.reshape(-1), st.col_ub.reshape(-1), st.diag_ub])
    keys, first = np.unique(rows * n + cols, return_index=True)
    return (keys // n, keys % n, val[first].astype(np.float64), ub[first].astype(np.float64),
            keys)


def certify(st: Stream, price: EdgePricer, *, engine: str = "scipy", max_rounds: int = 50,
            auction_options: dict | None = None) -> MlpSolution:
    """Steps 2-4 of the module docstring on a stream's candidates."""
    t0 = time.perf_counter()
    n = st.t_row.shape[0]
    F = len(price.xs)
    rows, cols, approx, ub, keys = candidate_edges(st)
    exact = np.full(len(rows), np.nan)
    parts = np.full((F, len(rows)), np.nan)
    top = max(float(ub.max()), float(st.t_row.max()), float(st.s_col.max()))
    spread = max(top - float(approx.min()), abs(top), np.finfo(float).tiny)
    shift = top + spread                     # matching costs in [spread, 2 spread]
    tol = DUAL_TOL * spread
    info = {"engine": engine, "k": st.row_idx.shape[1], "product": st.product,
            "max_delta": st.max_delta, "rounds": 0, "priced": 0, "suspects": 0,
            "t_match": 0.0, "t_price": 0.0, "t_duals": 0.0, "log": []}
    auction_stats = []

    def price_edges(idx):
        t = time.perf_counter()
        todo = idx[np.isnan(exact[idx])]
        if len(todo):
            exact[todo], parts[:, todo] = price(rows[todo], cols[todo])
        info["t_price"] += time.perf_counter() - t

    def solve(values, mask=None, potentials=None):
        """A maximum matching of ``values`` on the (masked) candidates. With ``potentials``
        (a, b) the values are first replaced by minus their reduced costs ``V - a_i - b_j``:
        every perfect matching changes by the same constant, so the optimum is the same, and
        with near-optimal potentials LAPJVsp's initial reductions are almost the answer."""
        t = time.perf_counter()
        r, c, v = (rows, cols, values) if mask is None else (rows[mask], cols[mask], values[mask])
        if potentials is not None:
            v = v - potentials[0][r] - potentials[1][c]
        shift_v = shift if potentials is None else float(v.max()) + spread
        if engine == "auction":
            from .auction import auction_matching
            match, stats = auction_matching(n, r, c, v, shift=shift_v, **(auction_options or {}))
            auction_stats.append(stats)
        else:
            match = max_matching(n, r, c, v, shift_v)
        info["t_match"] += time.perf_counter() - t
        info["log"].append(("match", len(r), round(time.perf_counter() - t, 2)))
        return match

    def matched_edges(match):
        return np.searchsorted(keys, np.arange(n) * n + match)

    # first matching on the computed values, and its dual potentials: the edges whose reduced
    # cost is within the rounding bounds of 0 are those a matching on exact values may use
    match = solve(approx)
    t = time.perf_counter()
    a0, b0, _ = dual_potentials(n, rows, cols, approx, match, tol)
    slack0 = a0[rows] + b0[cols] - approx
    near = np.flatnonzero(slack0 <= 4 * (ub - approx) + tol)
    # the matchings below are solved on the edges near tightness only (fast), and their
    # optimality on all candidates is then proved by dual potentials on all of them
    solve_on = slack0 <= 16 * (ub - approx) + tol
    solve_on[matched_edges(match)] = True
    info["t_duals"] += time.perf_counter() - t
    price_edges(np.union1d(matched_edges(match), near))
    certified = False
    a = b = sweeps = None
    while info["rounds"] < max_rounds:
        info["rounds"] += 1
        values = np.where(np.isnan(exact), ub, exact)
        match = solve(values, solve_on, potentials=(a0, b0))
        edges = matched_edges(match)
        if np.isnan(exact[edges]).any():
            info["log"].append(("lazy", int(np.isnan(exact[edges]).sum())))
            price_edges(edges)
            continue
        t = time.perf_counter()
        duals = dual_potentials(n, rows, cols, values, match, tol, start=b0,
                                max_sweeps=None if solve_on.all() else DUAL_SWEEPS)
        if duals is None:                  # not optimal on all candidates: solve on all
            info["t_duals"] += time.perf_counter() - t
            info["log"].append(("full", 0))
            solve_on[:] = True
            continue
        a, b, sweeps = duals
        b0 = b                             # the next round starts from these
        si, sj = find_suspects(a, b, st.t_row, st.s_col, keys, tol)
        info["t_duals"] += time.perf_counter() - t
        if len(si) == 0:
            certified = True
            break
        # price the suspects; all join the candidates (exactly priced)
        t = time.perf_counter()
        sv, sp = price(si, sj)
        info["t_price"] += time.perf_counter() - t
        info["priced"] += len(si)
        violated = bool((sv > a[si] + b[sj] + tol).any())
        info["log"].append(("suspects", len(si), int((sv > a[si] + b[sj] + tol).sum())))
        new_keys = si * n + sj
        order = np.argsort(np.concatenate([keys, new_keys]), kind="stable")
        keys = np.concatenate([keys, new_keys])[order]
        rows, cols = keys // n, keys % n
        approx = np.concatenate([approx, sv])[order]
        ub = np.concatenate([ub, sv])[order]
        exact = np.concatenate([exact, sv])[order]
        parts = np.concatenate([parts, sp], axis=1)[:, order]
        solve_on = np.concatenate([solve_on, np.ones(len(sv), bool)])[order]
        if not violated:
            certified = True       # every priced pair satisfies its dual constraint
            break
    edges = matched_edges(match)
    value = float(exact[edges].sum())
    info.update(certified=certified, value=value,
                dual=float(a.sum() + b.sum()) if a is not None else float("nan"), gap_bound=n * tol, candidate_edges=len(rows),
                exact_edges=int(np.count_nonzero(~np.isnan(exact))),
                pruned_pairs=n * n - int(np.count_nonzero(~np.isnan(exact))),
                sweeps=sweeps, t_total=time.perf_counter() - t0)
    if auction_stats:
        info["auction"] = auction_stats[-1]
    return MlpSolution(match, parts[:, edges], info)


def solve_features(xs: list, ys: list, weights: list, *, k: int = 32, dtype=np.float32,
                   block: int | None = None, stream=None, engine: str = "scipy",
                   auction_options: dict | None = None) -> MlpSolution:
    """The certified optimal assignment of ``S = sum_f w_f x_f y_f^T`` (module docstring).

    ``stream(xs, ys, weights, k)``, when given, replaces the numpy stream (another backend's
    device products); ``dtype`` is the numpy stream's product precision.
    """
    t = time.perf_counter()
    st = (stream_candidates(xs, ys, weights, k, dtype=dtype, block=block) if stream is None
          else stream(xs, ys, weights, k))
    t_stream = time.perf_counter() - t
    sol = certify(st, EdgePricer(xs, ys, weights), engine=engine,
                  auction_options=auction_options)
    sol.certificate["t_stream"] = t_stream
    return sol
