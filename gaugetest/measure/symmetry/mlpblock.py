"""The MLP block at scale: neuron-major features in the checkpoint's precision, the certified
sparse assignment, and the null draw that rotates layer L's features.

``gaugetest measure --gauge symmetry`` holds each layer's MLP as :class:`MlpFeatures`: gate and
up rows and down *columns* as (n, d) arrays, in bfloat16 when the weights are exactly bfloat16
(what a bf16 checkpoint stores: half the memory of float32, read without rounding) and float32
otherwise. :func:`align_mlp` is the alignment (``sparse.py``: exact optimum with a certificate;
cosines summed from the exactly priced matched pairs, float64). :func:`rotate_features` is the
null's rotation: the residual-rotation null rotates layer L+1 by ``H``; since
``cos(g(A), B H) = cos(g(A) H^T, B)`` for every group element g (the group acts on neurons and
heads, H on the residual side), rotating layer L by ``H^T`` gives the same statistic, and it is
layer L's features that stream in blocks. The rotated features are the float64 rotation
rounded to float32 (:func:`rotated_dtype`); with bfloat16 products they enter the stream as
two bfloat16 terms (``stream.split_bf16``), layer B staying in bfloat16.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> A = {"up_proj": rng.standard_normal((30, 8)), "down_proj": rng.standard_normal((8, 30))}
>>> fa = mlp_features(A)
>>> fa.families, fa.x[1].shape, fa.n
(('up_proj', 'down_proj'), (30, 8), 30)
>>> res = align_mlp(fa, fa, k=4)
>>> [round(c, 12) for c in res.cosines.values()], res.certificate["certified"]
([1.0, 1.0], True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .group import MLP_FAMILIES
from .numerics import _dot64, _norm64
from .sparse import MlpSolution, solve_features


@dataclass(frozen=True)
class MlpFeatures:
    """One layer's MLP as neuron features (rows): gate/up rows, down columns.

    Attributes
    ----------
    families : tuple of str
        The MLP families present, in ``MLP_FAMILIES`` order.
    x : tuple of (n, d) arrays
        Per family; float32/float64, or ``ml_dtypes.bfloat16`` when exact.
    norms : tuple of float
        Frobenius norms (float64), those of the un-rotated layer for a rotated copy.
    """

    families: tuple
    x: tuple
    norms: tuple

    @property
    def n(self) -> int:
        return self.x[0].shape[0]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.x)


@dataclass(frozen=True)
class MlpAlignment:
    """Result of :func:`align_mlp`: per family aligned and raw cosines, the permutation (A's
    neuron i goes to ``perm[i]``) and the assignment's certificate."""

    cosines: dict
    raw: dict
    perm: np.ndarray
    certificate: dict


def compact(x: np.ndarray) -> np.ndarray:
    """``x`` as ``ml_dtypes.bfloat16`` when every value is exactly a bfloat16 (the low 16 bits
    of each float32 are zero), else float32 (float64 kept). Halves the memory of bf16 weights."""
    if x.dtype == np.float64 or x.dtype.name == "bfloat16":
        return x
    x = np.ascontiguousarray(x, np.float32)
    bits = x.view(np.uint32).reshape(x.shape[0], -1)
    step = max(1, (64 << 20) // (4 * max(1, bits.shape[1])))
    if any(np.any(bits[i:i + step] & 0xFFFF) for i in range(0, x.shape[0], step)):
        return x
    import ml_dtypes
    out = np.empty(bits.shape, np.uint16)
    for i in range(0, x.shape[0], step):
        out[i:i + step] = bits[i:i + step] >> 16
    return out.reshape(x.shape).view(ml_dtypes.bfloat16)


def mlp_features(layer: dict, *, compact_storage: bool = False) -> MlpFeatures:
    """A layer's MLP families as neuron-major features (down transposed into a contiguous
    copy); ``compact_storage`` stores exact bfloat16 values as bfloat16 (:func:`compact`)."""
    fams = tuple(f for f in MLP_FAMILIES if f in layer)
    xs, norms = [], []
    for f in fams:
        W = layer[f]
        norms.append(_norm64(W))
        x = np.ascontiguousarray(W.T) if f == "down_proj" else W
        xs.append(compact(x) if compact_storage else x)
    return MlpFeatures(fams, tuple(xs), tuple(norms))


def rotate_features(fa: MlpFeatures, H, ops=None) -> MlpFeatures:
    """The features of layer A seen through residual rotation ``H^T`` (each neuron's feature
    ``x -> H x``; module docstring) as float32 (:func:`rotate_rows`). Norms are those of ``fa``
    (a rotation keeps them)."""
    if ops is not None and hasattr(ops, "rotate_rows"):
        rot = [ops.rotate_rows(x, H) for x in fa.x]
    else:
        rot = [rotate_rows(x, np.asarray(H)) for x in fa.x]
    return MlpFeatures(fa.families, tuple(rot), fa.norms)


def rotated_dtype(x: np.ndarray):
    """A rotated layer is stored in float32 (float64 kept): the float64 rotation rounded once.
    Not in bfloat16 even for a bf16 checkpoint: rounding the rotated weights to bfloat16 moved
    single null cosines by up to 3e-4 (the optimal permutation changes), float32 by 5e-11."""
    return np.float64 if x.dtype == np.float64 else np.float32


def rotate_rows(x: np.ndarray, H: np.ndarray, block_bytes: int = 64 << 20,
                out: np.ndarray | None = None) -> np.ndarray:
    """``x @ H^T`` in row blocks, float64 products, stored in :func:`rotated_dtype` (``out``
    may be ``x`` itself when it is float32: the rotation is then done in place)."""
    if out is None:
        out = np.empty(x.shape, rotated_dtype(x))
    Ht = np.ascontiguousarray(np.asarray(H, np.float64).T)
    step = max(1, block_bytes // (8 * max(1, x.shape[1])))
    for i in range(0, x.shape[0], step):
        out[i:i + step] = np.asarray(x[i:i + step], np.float64) @ Ht
    return out


def rotated_features_from(load, families: tuple, norms: tuple, H, ops=None) -> MlpFeatures:
    """:func:`rotate_features` of a layer read afresh, one matrix at a time (``load(f)`` returns
    family f's (out, in) matrix as a new float32 array): gate/up rows are rotated in place and
    down is rotated into its neuron-major copy, read first, so that the rotated layer and one
    matrix are all that exists of it (``gaugetest measure``'s null draws at Qwen3-32B shapes)."""
    rotate = ops.rotate_rows if ops is not None and hasattr(ops, "rotate_rows") else \
        (lambda x, H, out=None: rotate_rows(x, np.asarray(H), out=out))
    rot = {}
    for f in sorted(families, key=lambda f: f != "down_proj"):
        W = load(f)
        if f == "down_proj":
            rot[f] = rotate(W.T, H)                   # (H W)^T = W^T H^T, neuron-major
        elif W.dtype == np.float32 and W.flags.writeable and W.flags.c_contiguous:
            rot[f] = rotate(W, H, out=W)
        else:
            rot[f] = rotate(W, H)
        del W
    return MlpFeatures(tuple(families), tuple(rot[f] for f in families), tuple(norms))


def align_mlp(fa: MlpFeatures, fb: MlpFeatures, *, ops=None, k: int = 32,
              engine: str = "scipy") -> MlpAlignment:
    """The certified optimal neuron permutation and each family's cosine after it.

    ``ops.mlp_stream`` (a backend's products) streams the similarity when given; otherwise
    numpy float32 products. Raw cosines are computed from the features (float64 sums).
    """
    if fa.families != fb.families:
        raise ValueError(f"MLP families differ: {fa.families} vs {fb.families}")
    weights = [1.0 / (na * nb) for na, nb in zip(fa.norms, fb.norms)]
    stream = getattr(ops, "mlp_stream", None) if ops is not None else None
    sol: MlpSolution = solve_features(list(fa.x), list(fb.x), weights, k=k, stream=stream,
                                      engine=engine)
    cos = dict(zip(fa.families, sol.cosines()))
    raw = {f: _dot64(a, b) * w for f, a, b, w in zip(fa.families, fa.x, fb.x, weights)}
    return MlpAlignment(cos, raw, sol.perm, sol.certificate)


def certificate_summary(cert: dict) -> dict:
    """The deterministic part of a certificate, as the output files record it (no timings)."""
    keys = ("certified", "gap_bound", "value", "dual", "k", "product", "candidate_edges",
            "exact_edges", "pruned_pairs", "priced", "rounds", "engine")
    return {key: cert[key] for key in keys if key in cert}


def align_mlp_with_null(fa: MlpFeatures, fb: MlpFeatures, draws: int, rng_of_draw, *,
                        ops=None, k: int = 32, engine: str = "scipy", reload=None):
    """The MLP block of one pair and its residual-rotation null, as ``gaugetest measure`` runs
    it: the alignment, then per draw d the Haar rotation from ``rng_of_draw(d)`` (the same
    numbers as :func:`null.null_draw`'s) applied to layer A's features (module docstring) and
    the same certified alignment.

    Returns
    -------
    (MlpAlignment, dict, dict)
        The real pair's alignment, family -> array of ``draws`` null cosines, and the null's
        certificate summary (``certified`` for every draw, the largest ``gap_bound``, the total
        pairs priced).

    ``reload(f)``, when given, reads layer A's family f afresh (a new float32 (out, in)
    array): the draws then rotate matrices read one at a time (:func:`rotated_features_from`)
    instead of ``fa``, which the caller may drop after the alignment. Same numbers.
    """
    from .group import _haar_orthogonal

    res = align_mlp(fa, fb, ops=ops, k=k, engine=engine)
    families, norms, width = fa.families, fa.norms, fa.x[0].shape[1]
    if reload is not None:
        fa = None                       # the draws read layer A afresh
    nulls = {f: np.empty(draws) for f in families}
    summary = {"certified": True, "gap_bound": 0.0, "priced": 0}
    haar = ops.haar if ops is not None else _haar_orthogonal
    for d in range(draws):
        H = haar(width, rng_of_draw(d))
        if reload is None:
            rotated = rotate_features(fa, H, ops)
        else:
            rotated = rotated_features_from(reload, families, norms, H, ops)
        del H                          # d x d float64 (200 MiB at 32B): not needed any more
        r = align_mlp(rotated, fb, ops=ops, k=k, engine=engine)
        del rotated
        for f in families:
            nulls[f][d] = r.cosines[f]
        c = r.certificate
        summary["certified"] &= bool(c["certified"])
        summary["gap_bound"] = max(summary["gap_bound"], float(c["gap_bound"]))
        summary["priced"] += int(c["priced"])
    return res, nulls, summary
