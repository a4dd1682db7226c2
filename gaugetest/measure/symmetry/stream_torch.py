"""The MLP similarity stream of ``stream.py`` with torch products (CPU or CUDA), same result type.

The products run in bfloat16 (layer B's features stored in bfloat16; layer A's in bfloat16 or,
for a null draw's rotated float32 layer, split into two bfloat16 terms: ``stream.split_bf16``;
float32 accumulation, bfloat16 output) or in float32, on the device; selection (each row's k
largest upper bounds, the running column top-k) runs on the device too, so only the candidates
travel back. The rigorous error bound is ``stream.py``'s, with the bfloat16 output term
``2^-7 sum_f w_f |P^_f|`` (twice the unit roundoff 2^-8, for the bound's own rounding).

Precision flags that would void the bound (TF32 for float32 products, reduced-precision
reductions inside bfloat16 products) are switched off for the duration of the stream.

Examples
--------
>>> import numpy as np
>>> from gaugetest.measure.symmetry.stream import stream_candidates
>>> rng = np.random.default_rng(0)
>>> x = [rng.standard_normal((50, 16)).astype(np.float32)]
>>> y = [rng.standard_normal((50, 16)).astype(np.float32)]
>>> a = stream_candidates(x, y, [0.5], k=4)
>>> b = torch_stream(x, y, [0.5], k=4, device="cpu", product="float32")
>>> bool(np.array_equal(np.sort(a.row_idx, 1), np.sort(b.row_idx, 1)))
True
"""
from __future__ import annotations

import contextlib

import numpy as np

from .stream import (BOUND_SAFETY, UNIT_ROUNDOFF, Stream, bound_factors, default_block)


def bf16_supported(device: str) -> bool:
    """Whether bfloat16 products are fast here: CUDA, or a CPU with native bfloat16 (oneDNN)."""
    import torch
    if device.startswith("cuda"):
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def stream_product(xs: list, ys: list, preferred: str) -> str:
    """bfloat16 products only when layer B's features are stored in bfloat16 (exact inputs on
    that side); layer A's are then bfloat16 too, or split into two bfloat16 terms (a null
    draw's rotated float32 layer: ``stream.split_bf16``). Rounding float32 inputs to a single
    bfloat16 would loosen every bound to ~0.2 sd of the similarity, and the certificate would
    then price most candidate pairs exactly (measured at Qwen3-4B shapes: 0.9 million pairs,
    168 s, against 10,563 with exact inputs)."""
    if preferred == "bfloat16" and all(a.dtype.name == "bfloat16" for a in ys):
        return "bfloat16"
    return "float32"


@contextlib.contextmanager
def exact_accumulation():
    """float32 accumulation in every product (what the error bound assumes), restored after."""
    import torch
    cuda = torch.backends.cuda.matmul
    saved = (cuda.allow_tf32, cuda.allow_bf16_reduced_precision_reduction,
             torch.get_float32_matmul_precision())
    cuda.allow_tf32 = False
    cuda.allow_bf16_reduced_precision_reduction = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        cuda.allow_tf32, cuda.allow_bf16_reduced_precision_reduction = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def to_device(x: np.ndarray, dtype, device):
    """A host array (float32/float64 or ``ml_dtypes.bfloat16``) as a torch tensor of ``dtype``;
    bfloat16 storage is viewed without a copy."""
    import torch
    if x.dtype.name == "bfloat16":
        t = torch.from_numpy(np.ascontiguousarray(x).view(np.uint16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(np.ascontiguousarray(x))
    return t.to(device=device, dtype=dtype)


def _merge_columns(col_ub, col_val, col_idx, U, S, i0, k):
    """Each column's k largest upper bounds over the running ones and a new block. Only a
    block's entries above their column's current k-th largest can enter: after the first
    blocks they are few, so they are merged by one sort instead of a column-wise top-k over
    the block (slow along dim 0 on a CPU)."""
    import torch
    if bool(torch.isinf(col_ub[0]).all()) or U.shape[0] < k:
        kb = min(k, U.shape[0])
        bub, btop = torch.topk(U, kb, dim=0)
        both_ub = torch.cat([col_ub, bub])
        both_val = torch.cat([col_val, S.gather(0, btop)])
        both_idx = torch.cat([col_idx, btop + i0])
        ub, sel = torch.topk(both_ub, k, dim=0)
        return ub, both_val.gather(0, sel), both_idx.gather(0, sel)
    hr, hc = torch.nonzero(U > col_ub.min(dim=0).values, as_tuple=True)
    if len(hr) == 0:
        return col_ub, col_val, col_idx
    cols = torch.unique(hc)
    rr = torch.arange(k, device=U.device).repeat_interleave(len(cols))
    rc = cols.repeat(k)
    grp = torch.cat([rc, hc])
    ub = torch.cat([col_ub[rr, rc], U[hr, hc]])
    val = torch.cat([col_val[rr, rc], S[hr, hc]])
    idx = torch.cat([col_idx[rr, rc], hr + i0])
    order = torch.argsort(ub, descending=True, stable=True)
    order = order[torch.argsort(grp[order], stable=True)]     # by column, largest first
    g = grp[order]
    start = torch.searchsorted(g, g, right=False)
    rank = torch.arange(len(g), device=U.device) - start
    keep = order[rank < k]
    slot = rank[rank < k]
    gk = grp[keep]
    col_ub, col_val, col_idx = col_ub.clone(), col_val.clone(), col_idx.clone()
    col_ub[slot, gk], col_val[slot, gk], col_idx[slot, gk] = ub[keep], val[keep], idx[keep]
    return col_ub, col_val, col_idx


def torch_stream(xs: list, ys: list, weights: list, k: int = 32, *, device: str = "cpu",
                 product: str = "bfloat16", block: int | None = None) -> Stream:
    """:func:`stream.stream_candidates` with torch products in ``product`` precision."""
    import torch

    n = xs[0].shape[0]
    k = min(k, n)
    block = block or default_block(n)
    pdt = {"bfloat16": torch.bfloat16, "float32": torch.float32}[product]
    R, C = bound_factors(xs, ys, weights, product)
    u = UNIT_ROUNDOFF[product]
    with torch.no_grad(), exact_accumulation():
        Rt = torch.from_numpy(R).to(device=device, dtype=torch.float32)
        Ct = torch.from_numpy(C).to(device=device, dtype=torch.float32)
        Y = [to_device(y, pdt, device) for y in ys]
        w32 = [float(np.float32(w)) for w in weights]
        row_idx = torch.empty((n, k), dtype=torch.long, device=device)
        row_val = torch.empty((n, k), dtype=torch.float32, device=device)
        row_ub = torch.empty((n, k), dtype=torch.float32, device=device)
        col_ub = torch.full((k, n), -float("inf"), dtype=torch.float32, device=device)
        col_val = torch.zeros((k, n), dtype=torch.float32, device=device)
        col_idx = torch.zeros((k, n), dtype=torch.long, device=device)
        diag_val = torch.empty(n, dtype=torch.float32, device=device)
        diag_ub = torch.empty(n, dtype=torch.float32, device=device)
        max_delta = torch.zeros((), dtype=torch.float32, device=device)
        for i0 in range(0, n, block):
            i1 = min(n, i0 + block)
            S = torch.zeros((i1 - i0, n), dtype=torch.float32, device=device)
            E = torch.zeros_like(S) if product == "bfloat16" else None
            for x, y, w in zip(xs, Y, w32):
                if product == "bfloat16" and x.dtype.name != "bfloat16":
                    # A side not exact in bfloat16: two bfloat16 terms (stream.split_bf16)
                    xf = to_device(x[i0:i1], torch.float32, device)
                    hi = xf.to(torch.bfloat16)
                    parts = (hi, (xf - hi.float()).to(torch.bfloat16))
                    del xf
                else:
                    parts = (to_device(x[i0:i1], pdt, device),)
                for xp in parts:
                    P = xp @ y.T                    # bfloat16 or float32 output
                    S.add_(P, alpha=w)              # promoted to float32 on the fly
                    if E is not None:
                        E.add_(P.abs_(), alpha=w)
                    del P
            delta = Rt[i0:i1] @ Ct.T
            delta.mul_(BOUND_SAFETY)
            delta.add_(S.abs(), alpha=4 * u)
            if E is not None:
                delta.add_(E, alpha=2.0 ** -7)
                del E
            max_delta = torch.maximum(max_delta, delta.max())
            U = delta.add_(S)
            ub, top = torch.topk(U, k, dim=1)
            row_idx[i0:i1], row_ub[i0:i1] = top, ub
            row_val[i0:i1] = S.gather(1, top)
            r = torch.arange(i1 - i0, device=device)
            diag_val[i0:i1], diag_ub[i0:i1] = S[r, r + i0], U[r, r + i0]
            col_ub, col_val, col_idx = _merge_columns(col_ub, col_val, col_idx, U, S, i0, k)
            del S, U, delta
        host = {name: t.cpu().numpy() for name, t in (
            ("row_idx", row_idx), ("row_val", row_val), ("row_ub", row_ub),
            ("col_idx", col_idx), ("col_val", col_val), ("col_ub", col_ub),
            ("diag_val", diag_val), ("diag_ub", diag_ub))}
        md = float(max_delta.item())
    return Stream(host["row_idx"], host["row_val"], host["row_ub"],
                  host["row_ub"].min(axis=1).astype(np.float64), host["col_idx"],
                  host["col_val"], host["col_ub"], host["col_ub"].min(axis=0).astype(np.float64),
                  host["diag_val"], host["diag_ub"], product, md)
