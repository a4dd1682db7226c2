"""Eigenvalues of symmetric float64 matrices: LAPACK's fastest exact routine for the size.

Every nuclear norm and spectrum of ``gaugetest measure`` ends in the eigenvalues of a k x k
Gram matrix (k = 5120 at Qwen3-32B shapes: 50 of them per layer pair with 8 null draws).
LAPACK's ``syevd`` reduces the matrix to tridiagonal form with ``sytrd``, half of whose work is
matrix-vector products (memory-bound).  The two-stage reduction of LAPACK 3.7+
(``syevd_2stage``: to a band matrix with matrix-matrix products, then bulge chasing) does the
same job mostly in matrix-matrix products; eigenvalues only (``jobz = 'N'``) is the case it
supports, which is the one needed here.  Measured single-threaded on the project machine
(median of 3, CPU seconds): k = 2560: 1.72 (syevd) vs 1.60 (two-stage); k = 3072: 3.15 vs 2.57;
k = 4096: 7.5 vs 5.6; k = 5120: 14.8 vs 10.3; k = 2048 and below the one-stage routine is
faster (tests/benchmarks/measure_scale.py --eig).

scipy does not wrap ``syevd_2stage``, but the OpenBLAS bundled with scipy's wheels exports
LAPACKE's C interface to it (``scipy_LAPACKE_dsyevd_2stage``).  :func:`eigvalsh` calls it
through ctypes for ``k >= TWO_STAGE_MIN`` when that symbol is found in the very library scipy
already loaded (so thread limits set with threadpoolctl apply to it) and uses scipy's ``syevd``
otherwise.  Both are backward stable: eigenvalues agree to ~1e-14 relative (tested).

Examples
--------
>>> import numpy as np
>>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
>>> eigvalsh(G.copy()).round(12).tolist()
[1.0, 3.0]
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

#: Matrices at least this large use the two-stage routine when it is available.
TWO_STAGE_MIN = 3072
_ROUTINE: list = []       # [callable or None], filled on first use


def _find_two_stage():
    """``LAPACKE_dsyevd_2stage`` of the OpenBLAS that scipy loaded, or None."""
    try:
        import scipy
        import scipy.linalg  # noqa: F401  (loads the library whose handle is reused below)
    except ImportError:
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    here = os.path.dirname(os.path.abspath(scipy.__file__))
    candidates = (glob.glob(os.path.join(root, "scipy.libs", "*openblas*"))
                  + glob.glob(os.path.join(here, ".dylibs", "*openblas*")))
    for path in sorted(candidates):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol, int_t in (("scipy_LAPACKE_dsyevd_2stage", ctypes.c_int32),
                              ("scipy_LAPACKE_dsyevd_2stage64_", ctypes.c_int64)):
            fn = getattr(lib, symbol, None)
            if fn is None:
                continue
            fn.restype = ctypes.c_int32 if int_t is ctypes.c_int32 else ctypes.c_int64
            fn.argtypes = [ctypes.c_int, ctypes.c_char, ctypes.c_char, int_t, ctypes.c_void_p,
                           int_t, ctypes.c_void_p]
            return fn
    return None


def two_stage_routine():
    """The ctypes function of ``LAPACKE_dsyevd_2stage``, or None where it is not available."""
    if not _ROUTINE:
        try:
            _ROUTINE.append(_find_two_stage())
        except Exception:        # any loader problem: fall back to scipy's syevd
            _ROUTINE.append(None)
    return _ROUTINE[0]


def eigvalsh_two_stage(G: np.ndarray) -> np.ndarray | None:
    """Eigenvalues (ascending) by ``dsyevd_2stage``; None when the routine is unavailable or
    fails (the caller then uses ``syevd``).  Reads the upper triangle; ``G`` is overwritten
    when it is a Fortran- or C-contiguous float64 array (a symmetric matrix is both)."""
    fn = two_stage_routine()
    if fn is None:
        return None
    n = G.shape[0]
    a = G if G.dtype == np.float64 and G.flags.f_contiguous else np.array(G, np.float64,
                                                                           order="F")
    if not a.flags.f_contiguous:      # C-contiguous symmetric: its transpose is the same matrix
        a = a.T
    w = np.empty(n)
    info = fn(102, b"N", b"U", n, a.ctypes.data, n, w.ctypes.data)   # 102: column major
    return w if info == 0 else None


def eigvalsh(G: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a symmetric float64 matrix (upper triangle read; ``G`` may
    be overwritten): two-stage LAPACK for large matrices where available, else ``syevd``
    through scipy (measured 1.7x faster than ``numpy.linalg.eigvalsh`` in 0.2.0)."""
    from scipy.linalg import eigh

    if G.shape[0] >= TWO_STAGE_MIN:
        w = eigvalsh_two_stage(G if G.flags.c_contiguous or G.flags.f_contiguous
                               else np.ascontiguousarray(G))
        if w is not None:
            return w
    return eigh(G, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False)
