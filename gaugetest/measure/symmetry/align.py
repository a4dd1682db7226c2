"""``align_pair``: the symmetry-aligned cosine of every family shared by two layers.

It checks the layers (``_check_layers``), runs the attention block (``attention.py``) and the
MLP block (``mlp.py``) through an ops object (``ops.py``), and recomputes every cosine in
float64 from the element found.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..architecture import Architecture
from .attention import refine_attention, solve_attention
from .group import ATTENTION_FAMILIES, FAMILIES, MLP_FAMILIES, GroupElement, \
    apply_group_element, free_rope_pairs
from .mlp import solve_mlp_sparse
from .numerics import _dot64, _lsa_max, _norm64
from .ops import NumpyOps


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
    mlp_certificate : dict or None
        The sparse MLP solver's optimality certificate (``sparse.MlpSolution``), None with the
        dense solver.
    """

    cosines: dict
    raw: dict
    element: GroupElement
    iterations: int = 0
    free_pairs: np.ndarray | None = field(default=None, repr=False)
    mlp_certificate: dict | None = field(default=None, repr=False)


def _check_layers(A: dict, B: dict, arch: Architecture | None, norms: dict | None = None
                  ) -> list[str]:
    """The families shared by A and B, checked; ``norms``, when given, receives every shared
    family's (|A_f|, |B_f|) (computed once per alignment: they are needed four times)."""
    fams = [f for f in FAMILIES if f in A and f in B]
    if not fams:
        raise ValueError("the two layers share none of the families " + ", ".join(FAMILIES))
    for f in fams:
        if A[f].shape != B[f].shape:
            raise ValueError(f"{f}: shapes differ, {A[f].shape} vs {B[f].shape}")
        na, nb = _norm64(A[f]), _norm64(B[f])
        if not na > 0 or not nb > 0:
            raise ValueError(f"{f}: a zero matrix has no cosine")
        if norms is not None:
            norms[f] = (na, nb)
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
    >>> from gaugetest.measure.symmetry import random_layer
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
    norms = {}
    fams = _check_layers(layer_a, layer_b, arch, norms)
    weights = {f: 1.0 / (na * nb) for f, (na, nb) in norms.items()}
    attention = any(f in fams for f in ATTENTION_FAMILIES)
    free = free_rope_pairs(arch, layer_a, layer_b) if attention else None
    kv_perm = head_perm = v_rot = angles = neuron_perm = certificate = None
    rounds = 0
    if attention:
        X = ops.attention_cross_terms(layer_a, layer_b, arch, weights=weights)
        att, rounds = solve_attention(X, arch, free, max_iter)
        del X
        if not ops.exact:
            att = refine_attention(layer_a, layer_b, arch, att, free, weights=weights)
        kv_perm, head_perm, v_rot, angles = att.kv_perm, att.head_perm, att.v_rot, att.rope_angles
    if any(f in fams for f in MLP_FAMILIES):
        if mlp_solver == "sparse":
            neuron_perm, certificate = solve_mlp_sparse(layer_a, layer_b, ops=ops)
        else:
            neuron_perm = _lsa_max(ops.mlp_similarity(layer_a, layer_b))
    g = GroupElement(kv_perm, head_perm, v_rot, angles, neuron_perm)
    moved = apply_group_element({f: layer_a[f] for f in fams}, g, arch)
    # a group element is an isometry of every family: |g(A)_f| = |A_f|
    return SymmetryAlignment(cosines={f: _dot64(moved[f], layer_b[f]) * weights[f] for f in fams},
                             raw={f: _dot64(layer_a[f], layer_b[f]) * weights[f] for f in fams},
                             element=g, iterations=rounds, free_pairs=free,
                             mlp_certificate=certificate)

