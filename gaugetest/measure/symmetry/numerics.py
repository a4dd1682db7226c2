"""float64-accumulating reductions of float32 (or float64) weights, and two small solvers.

Every number an alignment reports is a cosine computed here in float64, whatever the storage
precision of the weights: float32 input is upcast in row blocks (no float64 copy of a whole
matrix, no float32 accumulation). ``_lsa_max`` is scipy's exact assignment, maximising;
``_polar`` the orthogonal Procrustes solution.

Examples
--------
>>> import numpy as np
>>> a = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> _dot64(a, a) == float(np.vdot(a.astype(np.float64), a.astype(np.float64)))
True
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


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
