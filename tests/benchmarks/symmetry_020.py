"""FROZEN COPY of gaugetest 0.2.0's ``gaugetest/measure/symmetry.py`` (git main at 1e8a6d7), for
the benchmarks' ratios against 0.2.0 measured in the same run (tests/benchmarks/symmetry.py
``--pair``). Only the relative import of ``Architecture`` was made absolute; do not edit.

0.2.0 ran ``--backend numpy`` with ``NumpyOps()`` (float64 products) and ``--backend torch`` on
the CPU with ``NumpyOps(np.float32)`` (float32 products, float64 refinement); its null rotated
layer L+1 by a Haar H (``null_draw``) and re-aligned.
"""
from __future__ import annotations

_ORIGINAL_DOC = """Alignment of adjacent layers under the transformer block's real symmetry group.

A Llama/Qwen3-style block computes the same function after any element of this group
(HF (out, in) layout; ``G`` query heads per key/value group):

* **MLP**: one permutation of the intermediate neurons, applied to the rows of gate_proj and
  up_proj and to the columns of down_proj.
* **Attention**:

  - a permutation of the key/value groups (k and v rows of a group, and the q rows and
    o columns of its ``G`` query heads, move together);
  - a permutation of the query heads inside each group (q rows and o columns);
  - per group an orthogonal ``M`` (head_dim x head_dim) on the group's v rows,
    ``v -> M v``, undone on the o columns of each of its query heads, ``o_h -> o_h M^T``;
  - per group a 2 x 2 rotation (``SO(2)``: RoPE's own rotations commute with it, a reflection
    does not) of every RoPE pair of rows, on the q rows of the group's heads and on its k
    rows. With q/k RMSNorm (Qwen3) only pairs whose ``q_norm`` weights and whose ``k_norm``
    weights are equal on both rows stay free; models without these norms free every pair.

The residual stream basis is *not* in the group: it is one rotation shared by every layer,
so it cannot differ between adjacent layers.

Alignment of layer A to layer B maximises, over the group, the sum of the family cosines of
each block (the attention block q, k, v, o; the MLP block gate, up, down), then reports each
family's cosine after the element found:

* MLP: one ``scipy.optimize.linear_sum_assignment`` on the summed cosine similarity of the
  neurons (exact maximum).
* Attention: for every (group a of A, group b of B), the head matching, ``M`` and the RoPE
  angles by alternation (given the matching, ``M`` is an orthogonal Procrustes solution and
  each angle has a closed form; given those, the matching is an assignment), started from a
  matching on similarities that the group cannot change (``||A_o,h^T B_o,h'||_F^2`` and the
  per-pair q blocks' Frobenius norms); then one assignment over the groups. On a planted
  transform this is exact (the invariant matching is the true one by Cauchy-Schwarz, and the
  alternation then returns the true element); on unrelated layers it is a local maximum,
  i.e. a lower bound of the group maximum, and the null below uses the same algorithm.

The **null** rotates layer B's residual side by one Haar rotation ``H`` shared by all its
families (inputs of q, k, v, gate, up: ``W H``; outputs of o, down: ``H^T W``), which keeps
everything inside B (spectra, head structure) but removes whatever B shares with A through
the residual basis, then runs the same alignment.

Heavy steps are separate functions (``mlp_similarity``, ``attention_cross_terms``) so that
another backend can replace them; everything is float64. float32 is safe for those two
products, which only *choose* the element (the cosines are recomputed in float64 from it):
pass ``dtype=np.float32``.

Examples
--------
>>> import numpy as np
>>> from gaugetest.measure.symmetry import (Architecture, random_layer, random_group_element,
...                                         apply_group_element, align_pair)
>>> arch = Architecture(n_heads=4, n_kv_heads=2, head_dim=8)
>>> rng = np.random.default_rng(0)
>>> A = random_layer(arch, hidden=16, n_neurons=24, rng=rng)
>>> B = apply_group_element(A, random_group_element(arch, rng, n_neurons=24), arch)
>>> res = align_pair(A, B, arch)
>>> all(c > 0.999999 for c in res.cosines.values())
True
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from gaugetest.measure.architecture import Architecture

ATTENTION_FAMILIES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_FAMILIES = ("gate_proj", "up_proj", "down_proj")
FAMILIES = ATTENTION_FAMILIES + MLP_FAMILIES
# which side of each family lives in the residual stream (for the null's rotation)
RESIDUAL_INPUT = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
RESIDUAL_OUTPUT = ("o_proj", "down_proj")

__all__ = ["Architecture", "GroupElement", "SymmetryAlignment", "align_pair",
           "apply_group_element", "random_group_element", "symmetry_null", "null_draw",
           "free_rope_pairs", "mlp_similarity", "solve_mlp", "solve_mlp_sparse", "mlp_objective",
           "attention_cross_terms", "solve_attention", "refine_attention", "NumpyOps",
           "rotate_residual", "residual_size", "random_layer", "FAMILIES"]


# --------------------------------------------------------------------------- group elements

@dataclass(frozen=True)
class GroupElement:
    """One element of the block's symmetry group (maps layer A onto B's coordinates).

    Attributes
    ----------
    kv_perm : (n_kv,) int array or None
        Key/value group ``a`` of A becomes group ``kv_perm[a]``.
    head_perm : (n_kv, G) int array or None
        Query head ``j`` of A's group ``a`` becomes head ``head_perm[a, j]`` of group
        ``kv_perm[a]``.
    v_rot : (n_kv, head_dim, head_dim) array or None
        ``M_a``: v rows of A's group ``a`` become ``M_a v``; o columns of its heads ``o M_a^T``.
    rope_angles : (n_kv, head_dim/2) array or None
        Rotation angle of each RoPE pair of rows of A's group ``a`` (q rows of its heads and
        its k rows); 0 on pairs that are not free.
    neuron_perm : (n_neurons,) int array or None
        MLP neuron ``i`` of A becomes neuron ``neuron_perm[i]``.
    """

    kv_perm: np.ndarray | None = None
    head_perm: np.ndarray | None = None
    v_rot: np.ndarray | None = None
    rope_angles: np.ndarray | None = None
    neuron_perm: np.ndarray | None = None


@dataclass(frozen=True)
class SymmetryAlignment:
    """Result of :func:`align_pair`.

    Attributes
    ----------
    cosines : dict
        Family -> cosine between ``g(A)`` and ``B`` for the element ``g`` found.
    raw : dict
        Family -> cosine between ``A`` and ``B`` (no alignment).
    element : GroupElement
        The element found.
    iterations : int
        Largest number of alternation rounds any group pair needed (0 without attention).
    free_pairs : (head_dim/2,) bool array or None
        RoPE pairs that were free to rotate.
    """

    cosines: dict
    raw: dict
    element: GroupElement
    iterations: int = 0
    free_pairs: np.ndarray | None = field(default=None, repr=False)


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # Haar on O(n) (Mezzadri 2007)


def free_rope_pairs(arch: Architecture, *layers: dict) -> np.ndarray:
    """Which RoPE pairs may rotate: equal ``q_norm`` and equal ``k_norm`` weights on both rows,
    in every given layer. Without norms every pair is free.

    Examples
    --------
    >>> arch = Architecture(2, 1, 4)
    >>> free_rope_pairs(arch, {"q_norm": np.array([1., 2., 1., 3.])}).tolist()
    [True, False]
    """
    pairs = arch.rope_pairs()
    free = np.ones(len(pairs), dtype=bool)
    for layer in layers:
        for key in ("q_norm", "k_norm"):
            w = layer.get(key)
            if w is not None:
                w = np.asarray(w).reshape(-1)
                free &= w[pairs[:, 0]] == w[pairs[:, 1]]
    return free


def random_group_element(arch: Architecture, rng: np.random.Generator, *,
                         n_neurons: int | None = None,
                         free_pairs: np.ndarray | None = None) -> GroupElement:
    """A random element: uniform permutations, Haar ``M``, uniform angles on free pairs.

    Examples
    --------
    >>> g = random_group_element(Architecture(4, 2, 8), np.random.default_rng(1), n_neurons=6)
    >>> g.head_perm.shape, g.v_rot.shape, sorted(g.neuron_perm.tolist())
    ((2, 2), (2, 8, 8), [0, 1, 2, 3, 4, 5])
    """
    nkv, G, hd = arch.n_kv_heads, arch.group_size, arch.head_dim
    free = np.ones(arch.n_pairs, bool) if free_pairs is None else np.asarray(free_pairs, bool)
    angles = rng.uniform(0, 2 * np.pi, (nkv, arch.n_pairs)) * free
    return GroupElement(
        kv_perm=rng.permutation(nkv),
        head_perm=np.stack([rng.permutation(G) for _ in range(nkv)]),
        v_rot=np.stack([_haar_orthogonal(hd, rng) for _ in range(nkv)]),
        rope_angles=angles,
        neuron_perm=None if n_neurons is None else rng.permutation(n_neurons))


def _rope_rotation(arch: Architecture, angles: np.ndarray) -> np.ndarray:
    """The head_dim x head_dim block rotation with the given angle on each RoPE pair."""
    R = np.eye(arch.head_dim)
    p = arch.rope_pairs()
    c, s = np.cos(angles), np.sin(angles)
    R[p[:, 0], p[:, 0]] = c
    R[p[:, 0], p[:, 1]] = -s
    R[p[:, 1], p[:, 0]] = s
    R[p[:, 1], p[:, 1]] = c
    return R


def apply_group_element(layer: dict, g: GroupElement, arch: Architecture) -> dict:
    """``g(layer)``: the same block function in other head/neuron coordinates.

    Families absent from ``layer`` are skipped; other keys (``q_norm``, ``k_norm``...) are
    copied unchanged (the group leaves them alone: it only rotates free RoPE pairs).

    Examples
    --------
    >>> arch = Architecture(4, 2, 8)
    >>> rng = np.random.default_rng(0)
    >>> A = random_layer(arch, hidden=16, n_neurons=24, rng=rng)
    >>> B = apply_group_element(A, random_group_element(arch, rng, n_neurons=24), arch)
    >>> bool(np.isclose(np.linalg.norm(B["o_proj"]), np.linalg.norm(A["o_proj"])))
    True
    """
    out = dict(layer)
    if g.kv_perm is not None and any(f in layer for f in ATTENTION_FAMILIES):
        nkv, G, hd = arch.n_kv_heads, arch.group_size, arch.head_dim
        R = np.stack([_rope_rotation(arch, g.rope_angles[a]) for a in range(nkv)])
        # destination head index of A's head a*G + j
        dest = (g.kv_perm[:, None] * G + g.head_perm).reshape(-1)
        if "q_proj" in layer:
            d = layer["q_proj"].shape[1]
            q = layer["q_proj"].reshape(nkv, G, hd, d)
            q = np.einsum("akl,agld->agkd", R, q).reshape(nkv * G, hd, d)
            new = np.empty_like(q)
            new[dest] = q
            out["q_proj"] = new.reshape(-1, d)
        if "k_proj" in layer:
            d = layer["k_proj"].shape[1]
            k = np.einsum("akl,ald->akd", R, layer["k_proj"].reshape(nkv, hd, d))
            new = np.empty_like(k)
            new[g.kv_perm] = k
            out["k_proj"] = new.reshape(-1, d)
        if "v_proj" in layer:
            d = layer["v_proj"].shape[1]
            v = np.einsum("akl,ald->akd", g.v_rot, layer["v_proj"].reshape(nkv, hd, d))
            new = np.empty_like(v)
            new[g.kv_perm] = v
            out["v_proj"] = new.reshape(-1, d)
        if "o_proj" in layer:
            d = layer["o_proj"].shape[0]
            o = layer["o_proj"].reshape(d, nkv, G, hd)
            o = np.einsum("dagl,akl->dagk", o, g.v_rot).reshape(d, nkv * G, hd)  # o_h M^T
            new = np.empty_like(o)
            new[:, dest] = o
            out["o_proj"] = new.reshape(d, -1)
    if g.neuron_perm is not None:
        for f in ("gate_proj", "up_proj"):
            if f in layer:
                new = np.empty_like(layer[f])
                new[g.neuron_perm] = layer[f]
                out[f] = new
        if "down_proj" in layer:
            new = np.empty_like(layer["down_proj"])
            new[:, g.neuron_perm] = layer["down_proj"]
            out["down_proj"] = new
    return out


def random_layer(arch: Architecture, hidden: int, n_neurons: int, rng: np.random.Generator,
                 decay: float = 1.0) -> dict:
    """A random layer of the given geometry, with decaying column scales (for tests/docs)."""
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    shapes = {"q_proj": (nh * hd, hidden), "k_proj": (nkv * hd, hidden),
              "v_proj": (nkv * hd, hidden), "o_proj": (hidden, nh * hd),
              "gate_proj": (n_neurons, hidden), "up_proj": (n_neurons, hidden),
              "down_proj": (hidden, n_neurons)}
    return {f: rng.standard_normal(s) / np.arange(1, s[1] + 1) ** (decay / 2)
            for f, s in shapes.items()}


# --------------------------------------------------------------------------- helpers

_BLOCK_BYTES = 64 << 20   # float64 working block of the float32-input reductions


def _dot64(a: np.ndarray, b: np.ndarray) -> float:
    """<a, b>_F accumulated in float64. float64 inputs: one ``np.vdot`` (what
    ``np.linalg.norm`` does too). Other inputs (float32 weights as the readers return them)
    are upcast exactly in row blocks, so no float64 copy of a whole matrix is made and no
    float32 accumulation happens."""
    if a.dtype == np.float64 and b.dtype == np.float64:
        return float(np.vdot(a, b))
    a2 = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
    b2 = b.reshape(b.shape[0], -1) if b.ndim else b.reshape(1, 1)
    step = max(1, _BLOCK_BYTES // (8 * max(1, a2.shape[1])))
    return float(sum(np.vdot(np.asarray(a2[i:i + step], np.float64),
                             np.asarray(b2[i:i + step], np.float64))
                     for i in range(0, a2.shape[0], step)))


def _norm64(a: np.ndarray) -> float:
    """Frobenius norm accumulated in float64 (equal to ``np.linalg.norm`` on float64 input)."""
    return float(np.sqrt(_dot64(a, a)))


def _row_norms64(a: np.ndarray) -> np.ndarray:
    """Euclidean norm of every row, accumulated in float64."""
    if a.dtype == np.float64:
        return np.linalg.norm(a, axis=1)
    step = max(1, _BLOCK_BYTES // (8 * max(1, a.shape[1])))
    return np.concatenate([np.linalg.norm(np.asarray(a[i:i + step], np.float64), axis=1)
                           for i in range(0, a.shape[0], step)])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return _dot64(a, b) / (_norm64(a) * _norm64(b))


def _lsa_max(score: np.ndarray) -> np.ndarray:
    """Column assigned to each row, maximising the total score (scipy's exact solver).
    ``score`` is consumed (negated in place) to avoid a copy of a large matrix."""
    np.negative(score, out=score)
    rows, cols = linear_sum_assignment(score)
    return cols


def _polar(X: np.ndarray) -> tuple[np.ndarray, float]:
    """argmax over orthogonal M of <M, X> and the maximum (nuclear norm): Procrustes."""
    U, s, Vt = np.linalg.svd(X)
    return U @ Vt, float(s.sum())


# --------------------------------------------------------------------------- MLP

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


# --------------------------------------------------------------------------- attention

@dataclass(frozen=True)
class AttentionCross:
    """Cross products of layers A and B that the attention alignment needs (all weighted by
    1 / (|A_f| |B_f|) so that the objective is the sum of family cosines).

    ``v[a, b]`` = B_v,b A_v,a^T (hd x hd); ``o[h, :, h', :]`` = A_o,h^T B_o,h' (hd x hd);
    ``q[p, h', :, h, :]`` = B_q,h'[pair p] A_q,h[pair p]^T (2 x 2); ``k`` likewise per group.
    Missing families are None.
    """

    v: np.ndarray | None
    o: np.ndarray | None
    q: np.ndarray | None
    k: np.ndarray | None


def _pair_rows(W: np.ndarray, n: int, arch: Architecture) -> np.ndarray:
    """(pairs, n*2, d): the two rows of each RoPE pair of every head, pair-major."""
    d = W.shape[1]
    p = arch.rope_pairs()
    return np.ascontiguousarray(W.reshape(n, arch.head_dim, d)[:, p, :].transpose(1, 0, 2, 3)
                                ).reshape(len(p), n * 2, d)


def attention_cross_terms(A: dict, B: dict, arch: Architecture, dtype=np.float64
                          ) -> AttentionCross:
    """The heavy step of the attention alignment: every head-by-head cross product.

    Cost: o (nh hd)^2 d, v (nkv hd)^2 d, q (nh 2)^2 (hd/2) d, k (nkv 2)^2 (hd/2) d
    multiply-adds; memory (nh hd)^2 for o.
    """
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    np_ = arch.n_pairs

    def w(f):
        return 1.0 / (_norm64(A[f]) * _norm64(B[f]))

    def has(f):
        return f in A and f in B

    v = o = q = k = None
    if has("v_proj"):
        full = (np.asarray(B["v_proj"], dtype) * dtype(w("v_proj"))) @ np.asarray(A["v_proj"], dtype).T
        v = full.reshape(nkv, hd, nkv, hd).transpose(2, 0, 1, 3)  # [a, b, k, l]
    if has("o_proj"):
        full = (np.asarray(A["o_proj"], dtype).T * dtype(w("o_proj"))) @ np.asarray(B["o_proj"], dtype)
        o = full.reshape(nh, hd, nh, hd)
    if has("q_proj"):
        qa, qb = _pair_rows(np.asarray(A["q_proj"], dtype), nh, arch), \
            _pair_rows(np.asarray(B["q_proj"], dtype), nh, arch)
        q = np.matmul(qb * dtype(w("q_proj")), qa.transpose(0, 2, 1)).reshape(np_, nh, 2, nh, 2)
    if has("k_proj"):
        ka, kb = _pair_rows(np.asarray(A["k_proj"], dtype), nkv, arch), \
            _pair_rows(np.asarray(B["k_proj"], dtype), nkv, arch)
        k = np.matmul(kb * dtype(w("k_proj")), ka.transpose(0, 2, 1)).reshape(np_, nkv, 2, nkv, 2)
    return AttentionCross(v, o, q, k)


def _best_angles(Y: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float]:
    """Per pair: the SO(2) rotation maximising <R_p, Y_p> (closed form), identity if not free."""
    tr = Y[:, 0, 0] + Y[:, 1, 1]
    skew = Y[:, 1, 0] - Y[:, 0, 1]
    theta = np.where(free, np.arctan2(skew, tr), 0.0)
    value = np.where(free, np.hypot(tr, skew), tr)
    return theta, float(value.sum())


def _rot2(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (p, 2, 2)


def _align_groups(X: AttentionCross, arch: Architecture, a: int, b: int, free: np.ndarray,
                  max_iter: int):
    """Best (head matching, M, angles) between A's group a and B's group b, by alternation
    from two starts. Returns (value, sigma, M, theta, rounds)."""
    G, hd = arch.group_size, arch.head_dim
    ha, hb = slice(a * G, (a + 1) * G), slice(b * G, (b + 1) * G)
    # per head pair blocks (views): o[j, j'] = A_o,j^T B_o,j'   q[j, j', p] = B_q,j'[p] A_q,j[p]^T
    o = X.o[ha, :, hb, :].transpose(0, 2, 1, 3) if X.o is not None else None     # (G, G, hd, hd)
    q = X.q[:, hb, :, ha, :].transpose(3, 1, 0, 2, 4) if X.q is not None else None  # (G,G,p,2,2)
    v = X.v[a, b] if X.v is not None else np.zeros((hd, hd))
    k = X.k[:, b, :, a, :] if X.k is not None else np.zeros((arch.n_pairs, 2, 2))

    # start 1: a matching on quantities no group element changes (exact on planted layers);
    # start 2: the identity matching (so that, with the identity on groups, the result is
    # never below the raw cosines' sum). The better end point wins.
    S0 = np.zeros((G, G))
    if o is not None:
        S0 += np.einsum("jJkl,jJkl->jJ", o, o)
    if q is not None:
        S0 += np.einsum("jJpkl,jJpkl->jJ", q, q)
    starts = [_lsa_max(S0) if G > 1 else np.zeros(1, int), np.arange(G)]
    best = None
    total_rounds = 0
    for sigma in starts:
        if best is not None and np.array_equal(sigma, starts[0]):
            continue
        res = _alternate(o, q, v, k, free, sigma, G, max_iter)
        total_rounds = max(total_rounds, res[-1])
        if best is None or res[0] > best[0] + 1e-12:
            best = res
    return (*best[:-1], total_rounds)


def _alternate(o, q, v, k, free, sigma, G, max_iter):
    """Alternate (M, angles | matching) and (matching | M, angles) until the matching repeats."""
    rounds = 0
    while True:
        rounds += 1
        idx = np.arange(G)
        Xm = v + (o[idx, sigma].sum(0).T if o is not None else 0)
        M, _ = _polar(Xm)
        Y = k + (q[idx, sigma].sum(0) if q is not None else 0)
        theta, _ = _best_angles(Y, free)
        R = _rot2(theta)
        S = np.zeros((G, G))
        if q is not None:
            S += np.einsum("pkl,jJpkl->jJ", R, q)
        if o is not None:
            S += np.einsum("kl,jJlk->jJ", M, o)
        value_heads = S[idx, sigma].sum()
        new = _lsa_max(S.copy()) if G > 1 else sigma
        if np.array_equal(new, sigma) or rounds >= max_iter:
            break
        sigma = new
    value = float(np.vdot(M, v) + np.einsum("pkl,pkl->", R, k) + value_heads)
    return value, sigma, M, theta, rounds


def solve_attention(X: AttentionCross, arch: Architecture, free: np.ndarray,
                    max_iter: int = 100) -> tuple[GroupElement, int]:
    """The attention part of the element from the cross terms: every group pair by
    alternation, then one assignment over groups. Returns (element, rounds)."""
    nkv = arch.n_kv_heads
    J = np.empty((nkv, nkv))
    found = {}
    rounds = 0
    for a in range(nkv):
        for b in range(nkv):
            val, sigma, M, theta, r = _align_groups(X, arch, a, b, free, max_iter)
            J[a, b] = val
            found[a, b] = (sigma, M, theta)
            rounds = max(rounds, r)
    pi = _lsa_max(J) if nkv > 1 else np.zeros(1, int)
    parts = [found[a, int(pi[a])] for a in range(nkv)]
    return GroupElement(kv_perm=np.asarray(pi),
                        head_perm=np.stack([p[0] for p in parts]),
                        v_rot=np.stack([p[1] for p in parts]),
                        rope_angles=np.stack([p[2] for p in parts])), rounds


# --------------------------------------------------------------------------- public API

def _check_layers(A: dict, B: dict, arch: Architecture | None) -> list[str]:
    fams = [f for f in FAMILIES if f in A and f in B]
    if not fams:
        raise ValueError("the two layers share none of the families " + ", ".join(FAMILIES))
    for f in fams:
        if A[f].shape != B[f].shape:
            raise ValueError(f"{f}: shapes differ, {A[f].shape} vs {B[f].shape}")
        if not _norm64(A[f]) > 0 or not _norm64(B[f]) > 0:
            raise ValueError(f"{f}: a zero matrix has no cosine")
    mlp = [f for f in MLP_FAMILIES if f in fams]
    widths = {f: A[f].shape[1 if f == "down_proj" else 0] for f in mlp}
    if len(set(widths.values())) > 1:
        raise ValueError(f"MLP widths differ between families: {widths}")
    if not any(f in fams for f in ATTENTION_FAMILIES):
        return fams
    if arch is None:
        raise ValueError("attention families need the head geometry (arch)")
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    want = {"q_proj": (0, nh * hd), "k_proj": (0, nkv * hd), "v_proj": (0, nkv * hd),
            "o_proj": (1, nh * hd)}
    for f, (ax, n) in want.items():
        if f in fams and A[f].shape[ax] != n:
            raise ValueError(f"{f}: expected {n} {'rows' if ax == 0 else 'columns'} for "
                             f"{arch}, got shape {A[f].shape}")
    return fams


# --------------------------------------------------------------------------- where products run

class NumpyOps:
    """The heavy steps of an alignment and of a null draw, in numpy (the reference).

    Another backend (``backends.TorchBackend.symmetry_ops``) supplies an object with the same
    methods that runs them on its device; everything else (the element's choice from the
    products, the cosines) stays here in float64.

    Attributes
    ----------
    exact : bool
        The products are float64 numpy products: the continuous parts of the element (M and
        the RoPE angles) chosen from them need no float64 refinement.
    """

    def __init__(self, dtype=np.float64):
        self.dtype = dtype
        self.exact = dtype == np.float64

    def mlp_similarity(self, A: dict, B: dict) -> np.ndarray:
        return mlp_similarity(A, B, self.dtype)

    def attention_cross_terms(self, A: dict, B: dict, arch: Architecture) -> "AttentionCross":
        return attention_cross_terms(A, B, arch, self.dtype)

    def similarity_rows(self, A: dict, B: dict):
        """``rows(i0, i1)`` for :func:`solve_mlp_sparse`, or None for its numpy default."""
        return None

    def haar(self, n: int, rng: np.random.Generator):
        return _haar_orthogonal(n, rng)

    def rotate_residual(self, layer: dict, H) -> dict:
        return rotate_residual(layer, H)


def refine_attention(A: dict, B: dict, arch: Architecture, g: GroupElement,
                     free: np.ndarray) -> GroupElement:
    """``g`` with M and the RoPE angles recomputed in float64 from the matched blocks alone.

    The alternation ends with M and the angles solved in closed form for its final head
    matching (``_alternate``), so given the discrete part of ``g`` (group assignment and head
    matchings) they are the Procrustes solution of the matched v/o blocks and the per-pair
    angle of the matched q/k blocks. Recomputing them here in float64 makes an element chosen
    from rounded (float32, other-device) cross products equal to the float64 reference's
    whenever the discrete choice agrees. Cost: nh hd^2 d multiply-adds, 1/nh of the o cross
    product.
    """
    nkv, G, hd = arch.n_kv_heads, arch.group_size, arch.head_dim
    pairs = arch.rope_pairs()

    def has(f):
        return f in A and f in B

    def weight(f):
        return 1.0 / (_norm64(A[f]) * _norm64(B[f]))

    def f64(x):
        return np.asarray(x, np.float64)

    def head_pairs(W, h):   # (pairs, 2, d): the two rows of each RoPE pair of head h
        return f64(W[h * hd:(h + 1) * hd][pairs])

    w = {f: weight(f) for f in ATTENTION_FAMILIES if has(f)}
    v_rot = np.empty((nkv, hd, hd))
    angles = np.empty((nkv, arch.n_pairs))
    for a in range(nkv):
        b = int(g.kv_perm[a])
        sigma = g.head_perm[a]
        Xm = np.zeros((hd, hd))
        Y = np.zeros((arch.n_pairs, 2, 2))
        if "v_proj" in w:
            Xm += (f64(B["v_proj"][b * hd:(b + 1) * hd]) * w["v_proj"]) @ \
                f64(A["v_proj"][a * hd:(a + 1) * hd]).T
        if "k_proj" in w:
            Y += np.matmul(head_pairs(B["k_proj"], b) * w["k_proj"],
                           head_pairs(A["k_proj"], a).transpose(0, 2, 1))
        for j in range(G):
            ha, hb = a * G + j, b * G + int(sigma[j])
            if "o_proj" in w:
                Xm += (f64(B["o_proj"][:, hb * hd:(hb + 1) * hd]).T * w["o_proj"]) @ \
                    f64(A["o_proj"][:, ha * hd:(ha + 1) * hd])
            if "q_proj" in w:
                Y += np.matmul(head_pairs(B["q_proj"], hb) * w["q_proj"],
                               head_pairs(A["q_proj"], ha).transpose(0, 2, 1))
        v_rot[a] = _polar(Xm)[0]
        angles[a] = _best_angles(Y, free)[0]
    return GroupElement(g.kv_perm, g.head_perm, v_rot, angles, g.neuron_perm)


# --------------------------------------------------------------------------- public API

MLP_SOLVERS = ("dense", "sparse")


def align_pair(layer_a: dict, layer_b: dict, arch: Architecture | None, *, dtype=np.float64,
               max_iter: int = 100, mlp_solver: str = "dense", ops=None) -> SymmetryAlignment:
    """Symmetry-aligned cosine of every family shared by two layers.

    Parameters
    ----------
    layer_a, layer_b : dict
        Family name -> (out, in) float matrix (HF layout) for any of q_proj, k_proj, v_proj,
        o_proj, gate_proj, up_proj, down_proj; optional ``q_norm``/``k_norm`` vectors
        (length head_dim) restrict the free RoPE pairs. float32 matrices are fine: every
        reduction that yields a reported number accumulates in float64.
    arch : Architecture or None
        The head geometry (None only when no attention family is given).
    dtype : numpy dtype
        Precision of the two heavy products that choose the element (float32 is safe there);
        the reported cosines are always float64.
    max_iter : int
        Cap on alternation rounds per group pair.
    mlp_solver : {"dense", "sparse"}
        The MLP assignment: scipy on the dense similarity, or :func:`solve_mlp_sparse` (same
        optimum, certified, without the n x n matrix; for very wide MLPs).
    ops : NumpyOps-like, optional
        Where the heavy products run (default ``NumpyOps(dtype)``). When its products are
        not float64 numpy products (``ops.exact`` false), M and the RoPE angles are
        recomputed in float64 from the matched blocks (:func:`refine_attention`).

    Returns
    -------
    SymmetryAlignment
        ``.cosines[f]`` = cos(g(A)_f, B_f) for the element ``g`` found (``.element``).

    Examples
    --------
    >>> arch = Architecture(4, 2, 8)
    >>> rng = np.random.default_rng(3)
    >>> A = random_layer(arch, 16, 24, rng)
    >>> B = random_layer(arch, 16, 24, rng)
    >>> res = align_pair(A, B, arch)
    >>> all(res.cosines[f] >= res.raw[f] - 1e-12 for f in ("gate_proj", "down_proj"))
    True
    """
    if mlp_solver not in MLP_SOLVERS:
        raise ValueError(f"mlp_solver must be 'dense' or 'sparse', got {mlp_solver!r}")
    ops = NumpyOps(dtype) if ops is None else ops
    fams = _check_layers(layer_a, layer_b, arch)
    attention = any(f in fams for f in ATTENTION_FAMILIES)
    free = free_rope_pairs(arch, layer_a, layer_b) if attention else None
    kv_perm = head_perm = v_rot = angles = neuron_perm = None
    rounds = 0
    if attention:
        X = ops.attention_cross_terms(layer_a, layer_b, arch)
        att, rounds = solve_attention(X, arch, free, max_iter)
        del X
        if not ops.exact:
            att = refine_attention(layer_a, layer_b, arch, att, free)
        kv_perm, head_perm, v_rot, angles = att.kv_perm, att.head_perm, att.v_rot, att.rope_angles
    if any(f in fams for f in MLP_FAMILIES):
        if mlp_solver == "sparse":
            neuron_perm = solve_mlp_sparse(layer_a, layer_b, dtype=dtype,
                                           rows=ops.similarity_rows(layer_a, layer_b))[0]
        else:
            neuron_perm = _lsa_max(ops.mlp_similarity(layer_a, layer_b))
    g = GroupElement(kv_perm, head_perm, v_rot, angles, neuron_perm)
    moved = apply_group_element({f: layer_a[f] for f in fams}, g, arch)
    return SymmetryAlignment(cosines={f: _cos(moved[f], layer_b[f]) for f in fams},
                             raw={f: _cos(layer_a[f], layer_b[f]) for f in fams},
                             element=g, iterations=rounds, free_pairs=free)


def rotate_residual(layer: dict, H: np.ndarray) -> dict:
    """The layer seen through residual basis change ``H``: ``W H`` on the input side of
    q/k/v/gate/up, ``H^T W`` on the output side of o/down (other keys unchanged)."""
    out = dict(layer)
    for f in RESIDUAL_INPUT:
        if f in layer:
            out[f] = layer[f] @ H
    for f in RESIDUAL_OUTPUT:
        if f in layer:
            out[f] = H.T @ layer[f]
    return out


def residual_size(layer: dict) -> int:
    """The residual-stream width of a layer's families (the size of the null's rotation)."""
    f = next(f for f in FAMILIES if f in layer)
    return layer[f].shape[1 if f in RESIDUAL_INPUT else 0]


def null_draw(layer_a: dict, layer_b: dict, arch: Architecture | None,
              rng: np.random.Generator, *, dtype=np.float64, max_iter: int = 100,
              mlp_solver: str = "dense", ops=None) -> dict[str, float]:
    """One draw of the null: a Haar rotation ``H`` of B's residual side (from ``rng``; see
    :func:`rotate_residual`), then :func:`align_pair`. Family -> cosine.

    The rotation depends only on ``rng`` and the residual width, so two calls with equally
    seeded generators rotate by the same ``H`` whichever families they are given (the
    attention and MLP blocks of one pair share it in ``gaugetest measure``)."""
    ops = NumpyOps(dtype) if ops is None else ops
    H = ops.haar(residual_size(layer_b), rng)
    res = align_pair(layer_a, ops.rotate_residual(layer_b, H), arch, dtype=dtype,
                     max_iter=max_iter, mlp_solver=mlp_solver, ops=ops)
    return res.cosines


def symmetry_null(layer_a: dict, layer_b: dict, arch: Architecture, draws: int,
                  rng: np.random.Generator, *, dtype=np.float64, max_iter: int = 100,
                  mlp_solver: str = "dense", ops=None) -> dict[str, np.ndarray]:
    """Symmetry-aligned cosines after a Haar rotation of B's residual side, ``draws`` times.

    One Haar ``H`` (hidden x hidden) per draw, shared by all of B's families (see
    :func:`rotate_residual`), then :func:`align_pair` as for the real pair
    (:func:`null_draw`, ``draws`` times from one generator).

    Returns
    -------
    dict
        Family -> array of ``draws`` cosines.

    Examples
    --------
    >>> arch = Architecture(4, 2, 8)
    >>> rng = np.random.default_rng(4)
    >>> A = random_layer(arch, 16, 24, rng)
    >>> null = symmetry_null(A, A, arch, draws=3, rng=rng)
    >>> null["q_proj"].shape
    (3,)
    """
    fams = _check_layers(layer_a, layer_b, arch)
    out = {f: np.empty(draws) for f in fams}
    for d in range(draws):
        cos = null_draw(layer_a, layer_b, arch, rng, dtype=dtype, max_iter=max_iter,
                        mlp_solver=mlp_solver, ops=ops)
        for f in fams:
            out[f][d] = cos[f]
    return out
