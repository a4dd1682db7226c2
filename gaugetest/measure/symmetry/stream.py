"""The MLP similarity streamed in row blocks: candidate edges and rigorous bounds, never n x n.

For the neuron assignment, ``S[i, j] = sum_f w_f <x_f,i, y_f,j>`` (``x``: layer A's neuron
features, ``y``: layer B's; gate and up rows, down columns; ``w_f = 1 / (|A_f| |B_f|)``). The
stream computes ``S`` one block of rows at a time in a *product precision* (float64, float32 or
bfloat16 inputs with float32 accumulation) and keeps, per block:

* every entry's **upper bound** ``U = S~ + delta`` with ``delta`` a rigorous bound of the
  rounding error of the computed ``S~`` (input rounding, accumulation, output rounding; below);
* each row's k largest ``U`` (candidate edges) and the k-th largest, ``t_i``: every other entry
  of the row has ``S_ij <= U_ij <= t_i``;
* each column's k largest ``U`` over all rows and the k-th largest ``s_j`` (same argument);
* the diagonal (the identity pairs, so that the candidate graph has a perfect matching).

Error bound of one family's product ``P = x.y`` computed as ``P^`` (Higham 2002, Thm 3.5 and
the triangle inequality; ``x^``, ``y^`` the inputs rounded to the product's input type):

    |P^ - P| <= ||x - x^|| ||y^|| + ||x|| ||y - y^||          (input rounding)
              + gamma_d ||x^|| ||y^||                           (accumulation, d terms, any order)
              + 2^-8 |P^|                                       (bfloat16 output only)

with ``gamma_d = d u / (1 - d u)`` for the accumulation's unit roundoff ``u``. The weighting and
the sum over families add ``(F + 3) u`` relative, folded into the ``gamma`` term; everything is
inflated by a safety factor. The bound holds for any summation order the BLAS or device chooses,
provided products accumulate in float32 (no TF32 and no reduced-precision reductions: the torch
backend switches them off).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = [rng.standard_normal((40, 8))]; y = [rng.standard_normal((40, 8))]
>>> st = stream_candidates(x, y, [1.0], k=4, dtype=np.float32)
>>> S = x[0] @ y[0].T
>>> bool(np.all(S[np.arange(40), st.row_idx[:, 0]] <= st.row_ub[:, 0]))
True
>>> off = np.ones_like(S, bool); off[np.arange(40)[:, None], st.row_idx] = False
>>> bool(np.all(S[off] <= np.repeat(st.t_row, 40).reshape(40, 40)[off]))
True
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: bytes of one (block x n) float32 working array of the stream (four live at once in torch)
STREAM_BLOCK_BYTES = 32 << 20
#: relative inflation of every error bound (covers the bound's own float32 arithmetic)
BOUND_SAFETY = 1.0 + 1e-3

UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "bfloat16": 2.0 ** -24}


@dataclass(frozen=True)
class Stream:
    """What the stream keeps of an n x n similarity (module docstring).

    Attributes
    ----------
    row_idx, row_val, row_ub : (n, k) arrays
        Each row's k candidate columns (largest upper bounds), the computed value ``S~`` and its
        upper bound ``U`` there.
    t_row : (n,) float64
        ``S_ij <= t_row[i]`` for every column j not in ``row_idx[i]``.
    col_idx, col_val, col_ub : (k, n) arrays
        The same per column (rows with the k largest upper bounds).
    s_col : (n,) float64
        ``S_ij <= s_col[j]`` for every row i not in ``col_idx[:, j]``.
    diag_val, diag_ub : (n,) arrays
        ``S~`` and ``U`` of the identity pairs.
    product : str
        The product precision (``float64``, ``float32`` or ``bfloat16``).
    max_delta : float
        The largest error bound of any entry (how loose the bounds are).
    """

    row_idx: np.ndarray
    row_val: np.ndarray
    row_ub: np.ndarray
    t_row: np.ndarray
    col_idx: np.ndarray
    col_val: np.ndarray
    col_ub: np.ndarray
    s_col: np.ndarray
    diag_val: np.ndarray
    diag_ub: np.ndarray
    product: str
    max_delta: float


def row_norms64(x) -> np.ndarray:
    """Euclidean norm of every row of a float32/float64/bfloat16 array, in float64 blocks."""
    n, d = x.shape
    step = max(1, (32 << 20) // (8 * max(1, d)))
    return np.concatenate([np.linalg.norm(np.asarray(x[i:i + step], np.float64), axis=1)
                           for i in range(0, n, step)]) if n else np.zeros(0)


def split_bf16(x32):
    """``x`` (float32) as ``hi + lo``, both bfloat16 (round to nearest even, as torch rounds):
    16 significant bits, so a float32 matrix times a bfloat16 one costs two bfloat16
    products and keeps ~2^-17 relative accuracy on the float32 side."""
    bf = _bf16()
    hi = x32.astype(bf)
    lo = (x32 - hi.astype(np.float32)).astype(bf)
    return hi, lo


def rounding_residual_norms(x, product: str, split: bool = False) -> np.ndarray:
    """``||x_i - round(x_i)||`` per row, for the rounding of ``x`` to the product's input type
    (0 where ``x`` is already exact in it, e.g. bfloat16 weights for bfloat16 products);
    ``split``: the residual of the two-term bfloat16 split of ``x`` (:func:`split_bf16`)."""
    n, d = x.shape
    if product == "float64" or (product == "float32" and x.dtype != np.float64):
        return np.zeros(n)
    if product == "bfloat16" and x.dtype.name == "bfloat16":
        return np.zeros(n)
    if split:
        # |x - hi| <= 2^-8 |x| and |(x - hi) - lo| <= 2^-8 |x - hi| elementwise (round to
        # nearest, 8 significant bits), plus bfloat16's smallest normal for flushed subnormals
        return row_norms64(x) * 2.0 ** -16 + np.sqrt(d) * 2.0 ** -126
    step = max(1, (32 << 20) // (8 * max(1, d)))
    out = np.empty(n)
    for i in range(0, n, step):
        blk = np.asarray(x[i:i + step], np.float64)
        if product == "float32":
            approx = np.asarray(blk.astype(np.float32), np.float64)
        elif split:
            hi, lo = split_bf16(blk.astype(np.float32))
            approx = np.asarray(hi, np.float64) + np.asarray(lo, np.float64)
        else:
            approx = np.asarray(blk.astype(_bf16()), np.float64)
        out[i:i + step] = np.linalg.norm(blk - approx, axis=1)
    return out


def _bf16():
    import ml_dtypes
    return ml_dtypes.bfloat16


def bound_factors(xs: list, ys: list, weights: list, product: str):
    """``(R, C)`` with ``delta_norm[i, j] = (R @ C.T)[i, j]`` the norm part of every entry's
    error bound (module docstring); R is (n, 3F) for layer A's neurons, C (n, 3F) for B's.
    With bfloat16 products, A-side features not stored in bfloat16 are split into two
    bfloat16 terms (:func:`split_bf16`): two products, each accumulated in float32."""
    u = UNIT_ROUNDOFF[product]
    F = len(xs)
    R, C = [], []
    for x, y, w in zip(xs, ys, weights):
        d = x.shape[1]
        split = product == "bfloat16" and x.dtype.name != "bfloat16"
        gamma = (d * u / (1 - d * u)) * (1.01 if split else 1.0) + (F + 5) * u
        nx, ny = row_norms64(x), row_norms64(y)
        rx = rounding_residual_norms(x, product, split=split)
        ry = rounding_residual_norms(y, product)
        # ||x^|| <= ||x|| + ||x - x^||
        R += [w * gamma * (nx + rx), w * rx, w * nx]
        C += [ny + ry, ny + ry, ry]
    return (np.stack(R, axis=1) * BOUND_SAFETY, np.stack(C, axis=1))


def default_block(n: int) -> int:
    return int(max(16, min(n, STREAM_BLOCK_BYTES // (4 * max(1, n)))))


def _first_k_per_group(group, value, k):
    """Positions of each group's k largest values (groups given as sorted-by-group order is not
    required): lexsort by (group, -value), then the first k of every group."""
    order = np.lexsort((-value, group))
    g = group[order]
    start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    rank = np.arange(len(g)) - np.repeat(start, np.diff(np.r_[start, len(g)]))
    return order[rank < k]


def row_topk(U: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest entries (any order within the k).

    ``np.argpartition`` costs ~50 ns an entry; instead a threshold from a strided sample keeps
    about 3k entries a row (one comparison each), and the k largest are selected among those
    (a padded (rows, hits) array). Rows where the sample's threshold kept fewer than k, or far
    more than expected, fall back to ``argpartition``."""
    b, n = U.shape
    if n <= 8 * k:
        return np.argpartition(U, -k, axis=1)[:, -k:]
    step = max(1, n // (16 * k))
    sample = U[:, ::step]
    m = sample.shape[1]
    r = min(m, int(np.ceil(3 * k * m / n)) + 2)
    tau = np.partition(sample, m - r, axis=1)[:, m - r]
    hit_r, hit_c = np.nonzero(U >= tau[:, None])        # row-major: rows ascending
    counts = np.bincount(hit_r, minlength=b)
    odd = (counts < k) | (counts > 32 * k)
    if odd.any():
        keep = ~odd[hit_r]
        hit_r, hit_c = hit_r[keep], hit_c[keep]
        counts = np.where(odd, 0, counts)
    out = np.empty((b, k), np.int64)
    if len(hit_r):
        width = int(counts.max())
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(len(hit_r)) - start[hit_r]
        vals = np.full((b, width), -np.inf, U.dtype)
        cols = np.zeros((b, width), np.int64)
        vals[hit_r, pos] = U[hit_r, hit_c]
        cols[hit_r, pos] = hit_c
        sel = np.argpartition(vals, width - k, axis=1)[:, -k:]
        out[:] = np.take_along_axis(cols, sel, axis=1)
    if odd.any():
        out[odd] = np.argpartition(U[odd], -k, axis=1)[:, -k:]
    return out


class ColumnTopK:
    """Each column's k largest upper bounds over the blocks streamed so far (with the row index
    and the computed value): a block's entries are merged only where they beat the column's
    current k-th largest."""

    def __init__(self, n: int, k: int, dtype):
        self.k = k
        self.ub = np.full((k, n), -np.inf, dtype)
        self.val = np.zeros((k, n), dtype)
        self.idx = np.zeros((k, n), np.int64)

    def add(self, U: np.ndarray, S: np.ndarray, i0: int):
        k = self.k
        if U.shape[0] >= k and np.isneginf(self.ub[0, 0]) and np.isneginf(self.ub).all():
            # the first block: a row selection on its transpose (argpartition along axis 0
            # of a C-ordered block is several times slower)
            top = row_topk(np.ascontiguousarray(U.T), k).T
            self.ub = np.take_along_axis(U, top, axis=0)
            self.val = np.take_along_axis(S, top, axis=0)
            self.idx = top + i0
            return
        hit_r, hit_c = np.nonzero(U > self.ub.min(axis=0)[None, :])
        if len(hit_r) == 0:
            return
        cols = np.unique(hit_c)
        # the running entries of the touched columns, then the block's hits
        run_r = np.repeat(np.arange(k), len(cols))
        run_c = np.tile(cols, k)
        grp = np.concatenate([run_c, hit_c])
        ub = np.concatenate([self.ub[run_r, run_c], U[hit_r, hit_c]])
        val = np.concatenate([self.val[run_r, run_c], S[hit_r, hit_c]])
        idx = np.concatenate([self.idx[run_r, run_c], hit_r + i0])
        sel = _first_k_per_group(grp, ub, k)       # k per touched column (k running ones)
        g = grp[sel]
        slot = np.arange(len(sel)) - np.searchsorted(g, g)   # 0..k-1 within each column
        self.ub[slot, g], self.val[slot, g], self.idx[slot, g] = ub[sel], val[sel], idx[sel]


def stream_candidates(xs: list, ys: list, weights: list, k: int = 32, *, dtype=np.float32,
                      block: int | None = None) -> Stream:
    """Stream ``S = sum_f w_f x_f y_f^T`` (numpy products in ``dtype``: float32 or float64).

    Parameters
    ----------
    xs, ys : list of (n, d_f) arrays
        Per family, layer A's and layer B's neuron features (rows); float32, float64 or
        bfloat16 (``ml_dtypes``) storage.
    weights : list of float
        Per family ``w_f``.
    k : int
        Candidates kept per row and per column.
    dtype : numpy dtype
        Precision of the products (float32: numpy's sgemm; the bound covers its rounding).
    block : int, optional
        Rows per block (default: a 32 MB float32 working array).
    """
    product = np.dtype(dtype).name
    n = xs[0].shape[0]
    k = min(k, n)
    block = block or default_block(n)
    R, C = bound_factors(xs, ys, weights, product)
    # B's features in the product type: used as they are, or converted a tile at a time when
    # stored otherwise (bfloat16), so that no converted copy of a whole layer exists
    tile = n if all(y.dtype == np.dtype(dtype) for y in ys) else max(
        1, (32 << 20) // (np.dtype(dtype).itemsize * max(y.shape[1] for y in ys)))
    wd = [dtype(w) for w in weights]
    row_idx = np.empty((n, k), np.int64)
    row_val = np.empty((n, k), dtype)
    row_ub = np.empty((n, k), dtype)
    t_row = np.empty(n)
    columns = ColumnTopK(n, k, dtype)
    diag_val = np.empty(n, dtype)
    diag_ub = np.empty(n, dtype)
    max_delta = 0.0
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        S = np.zeros((i1 - i0, n), dtype)
        for x, y, w in zip(xs, ys, wd):
            xb = np.asarray(x[i0:i1], dtype) * w
            for j0 in range(0, n, tile):
                S[:, j0:j0 + tile] += xb @ np.asarray(y[j0:j0 + tile], dtype).T
        delta = (R[i0:i1] @ C.T).astype(dtype)
        delta += np.abs(S) * dtype(4 * UNIT_ROUNDOFF[product])   # the addition S + delta
        max_delta = max(max_delta, float(delta.max()))
        U = S + delta
        del delta
        top = row_topk(U, k)
        row_idx[i0:i1] = top
        row_ub[i0:i1] = np.take_along_axis(U, top, axis=1)
        row_val[i0:i1] = np.take_along_axis(S, top, axis=1)
        t_row[i0:i1] = row_ub[i0:i1].min(axis=1)
        rows = np.arange(i0, i1)
        diag_val[i0:i1] = S[rows - i0, rows]
        diag_ub[i0:i1] = U[rows - i0, rows]
        columns.add(U, S, i0)
        del S, U
    return Stream(row_idx, row_val, row_ub, t_row, columns.idx, columns.val, columns.ub,
                  columns.ub.min(axis=0).astype(np.float64), diag_val, diag_ub, product,
                  max_delta)
