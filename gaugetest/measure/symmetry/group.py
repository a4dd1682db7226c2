"""The symmetry group's elements and the residual basis change (the lowest layer of the package).

A :class:`GroupElement` maps layer A onto B's coordinates; :func:`apply_group_element` applies it,
:func:`random_group_element` draws one, :func:`free_rope_pairs` says which RoPE pairs may rotate.
:func:`rotate_residual` is *not* a group element: it changes a layer's residual-stream basis,
what the null does to layer B (``null.py``).

Examples
--------
>>> import numpy as np
>>> arch = Architecture(4, 2, 8)
>>> rng = np.random.default_rng(0)
>>> A = random_layer(arch, hidden=16, n_neurons=24, rng=rng)
>>> B = apply_group_element(A, random_group_element(arch, rng, n_neurons=24), arch)
>>> sorted(B) == sorted(A), residual_size(A)
(True, 16)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..architecture import Architecture


ATTENTION_FAMILIES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_FAMILIES = ("gate_proj", "up_proj", "down_proj")
FAMILIES = ATTENTION_FAMILIES + MLP_FAMILIES
# which side of each family lives in the residual stream (for the null's rotation)
RESIDUAL_INPUT = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
RESIDUAL_OUTPUT = ("o_proj", "down_proj")


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
            # float64 before the product: numpy's mixed float64 @ float32 matmul skips BLAS
            q = np.asarray(layer["q_proj"], np.float64).reshape(nkv, G, hd, d)
            q = np.matmul(R[:, None], q).reshape(nkv * G, hd, d)     # R_a q_h (BLAS)
            new = np.empty_like(q)
            new[dest] = q
            out["q_proj"] = new.reshape(-1, d)
        if "k_proj" in layer:
            d = layer["k_proj"].shape[1]
            k = np.matmul(R, np.asarray(layer["k_proj"], np.float64).reshape(nkv, hd, d))
            new = np.empty_like(k)
            new[g.kv_perm] = k
            out["k_proj"] = new.reshape(-1, d)
        if "v_proj" in layer:
            d = layer["v_proj"].shape[1]
            v = np.matmul(g.v_rot, np.asarray(layer["v_proj"], np.float64).reshape(nkv, hd, d))
            new = np.empty_like(v)
            new[g.kv_perm] = v
            out["v_proj"] = new.reshape(-1, d)
        if "o_proj" in layer:
            d = layer["o_proj"].shape[0]
            o = np.asarray(layer["o_proj"], np.float64).reshape(d, nkv, G, hd)
            o = np.matmul(o.transpose(1, 2, 0, 3), g.v_rot.transpose(0, 2, 1)[:, None])
            o = o.transpose(2, 0, 1, 3).reshape(d, nkv * G, hd)                   # o_h M^T
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

