"""The attention block: KV-group and head matchings, per-group v/o rotation and RoPE angles.

:func:`attention_cross_terms` is the heavy product (every head-by-head cross block);
:func:`solve_attention` chooses the element from it (alternation per group pair, then one
assignment over groups); :func:`refine_attention` recomputes the continuous parts in float64
from the matched blocks when the products were rounded.

Examples
--------
>>> from gaugetest.measure.symmetry.group import (apply_group_element, random_group_element,
...                                              random_layer)
>>> arch = Architecture(4, 2, 8)
>>> rng = np.random.default_rng(0)
>>> A = random_layer(arch, hidden=16, n_neurons=4, rng=rng)
>>> g = random_group_element(arch, rng)
>>> B = apply_group_element(A, g, arch)
>>> found, rounds = solve_attention(attention_cross_terms(A, B, arch), arch,
...                                 np.ones(arch.n_pairs, bool))
>>> bool(np.array_equal(found.kv_perm, g.kv_perm))
True
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..architecture import Architecture
from .group import ATTENTION_FAMILIES, GroupElement
from .numerics import _lsa_max, _norm64, _polar


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


def attention_cross_terms(A: dict, B: dict, arch: Architecture, dtype=np.float64,
                          weights: dict | None = None) -> AttentionCross:
    """The heavy step of the attention alignment: every head-by-head cross product.

    Cost: o (nh hd)^2 d, v (nkv hd)^2 d, q (nh 2)^2 (hd/2) d, k (nkv 2)^2 (hd/2) d
    multiply-adds; memory (nh hd)^2 for o.
    """
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    np_ = arch.n_pairs

    def w(f):
        return weights[f] if weights is not None else 1.0 / (_norm64(A[f]) * _norm64(B[f]))

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


def refine_attention(A: dict, B: dict, arch: Architecture, g: GroupElement,
                     free: np.ndarray, weights: dict | None = None) -> GroupElement:
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
        return weights[f] if weights is not None else 1.0 / (_norm64(A[f]) * _norm64(B[f]))

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
