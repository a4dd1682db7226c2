"""Where the heavy products of an alignment and of a null draw run: :class:`NumpyOps` (the
reference). ``backends.TorchSymmetryOps`` is the same interface on a torch device.

Examples
--------
>>> ops = NumpyOps(np.float32)
>>> ops.exact, ops.dtype.__name__
(False, 'float32')
"""
from __future__ import annotations

import numpy as np

from ..architecture import Architecture
from .attention import AttentionCross, attention_cross_terms
from .group import _haar_orthogonal, rotate_residual
from .mlp import mlp_similarity
from .mlpblock import rotate_rows
from .stream import stream_candidates


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

    def attention_cross_terms(self, A: dict, B: dict, arch: Architecture,
                              weights: dict | None = None) -> "AttentionCross":
        return attention_cross_terms(A, B, arch, self.dtype, weights)

    def haar(self, n: int, rng: np.random.Generator):
        return _haar_orthogonal(n, rng)

    def rotate_residual(self, layer: dict, H) -> dict:
        return rotate_residual(layer, H)

    def mlp_stream(self, xs: list, ys: list, weights: list, k: int):
        """The sparse MLP solver's similarity stream (``stream.stream_candidates``): float32
        products whatever ``dtype`` (the solver is exact either way; its bounds cover them)."""
        return stream_candidates(xs, ys, weights, k, dtype=np.float32)

    def rotate_rows(self, x: np.ndarray, H, out=None) -> np.ndarray:
        """``x @ H^T`` (the null's rotation of neuron features; ``mlpblock.rotate_rows``)."""
        return rotate_rows(x, np.asarray(H), out=out)

