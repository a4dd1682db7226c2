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
from .numerics import _cos, _lsa_max, _norm64


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


def solve_mlp_sparse(A: dict, B: dict, *, k: int = 32, block: int | None = None,
                     dtype=np.float32, ops=None, engine: str = "scipy"
                     ) -> tuple[np.ndarray, dict]:
    """The optimal neuron permutation without the n x n similarity (exact, certified).

    The similarity is streamed in row blocks in a cheap product precision with rigorous error
    bounds (each row's and column's k largest upper bounds become candidates), the exact
    matching on the candidates is found with lazily priced exact values, and LP dual
    potentials certify every other pair (``sparse.py``). ``dtype`` is the numpy stream's
    product precision (float32 or float64: the optimum is the same, only the work to certify
    it differs); ``ops.mlp_stream``, when ``ops`` is given, streams with that backend instead.

    Returns
    -------
    perm : ndarray
        A's neuron i goes to ``perm[i]`` (same convention as :func:`solve_mlp`).
    info : dict
        The certificate (``sparse.MlpSolution``): ``certified``, ``gap_bound`` (the summed
        similarity is within this of the optimum), ``priced`` (non-candidate pairs the
        certificate had to price exactly), ``candidate_edges``, ``exact_edges``, ``k``,
        ``product``, ``rounds``, timings.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = {f: rng.standard_normal((50, 8)) for f in ("gate_proj", "up_proj")}
    >>> B = {f: rng.standard_normal((50, 8)) for f in ("gate_proj", "up_proj")}
    >>> perm, info = solve_mlp_sparse(A, B, k=4)
    >>> info["certified"], bool(np.array_equal(perm, solve_mlp(A, B)))
    (True, True)
    """
    from .sparse import solve_features
    from .stream import stream_candidates

    feats = _mlp_features(A, B)
    xs = [np.ascontiguousarray(a) for a, _, _ in feats]
    ys = [np.ascontiguousarray(b) for _, b, _ in feats]
    weights = [w for _, _, w in feats]
    if ops is not None:
        stream = ops.mlp_stream
    else:
        def stream(xs, ys, weights, k):
            return stream_candidates(xs, ys, weights, k, dtype=dtype, block=block)
    sol = solve_features(xs, ys, weights, k=k, stream=stream, engine=engine)
    return np.asarray(sol.perm), sol.certificate
