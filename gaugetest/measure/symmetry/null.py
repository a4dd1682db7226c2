"""The residual-rotation null: layer B's residual side rotated by one Haar rotation per draw,
then the same alignment (:func:`null_draw`, :func:`symmetry_null`)."""
from __future__ import annotations

import numpy as np

from ..architecture import Architecture
from .align import _check_layers, align_pair
from .group import residual_size
from .ops import NumpyOps


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
    >>> from gaugetest.measure.symmetry import random_layer
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
