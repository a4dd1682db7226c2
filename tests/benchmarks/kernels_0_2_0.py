# A verbatim copy of gaugetest 0.2.0's gaugetest/measure/kernels.py (commit 1e8a6d7), frozen as the
# 0.2.0 reference of tests/benchmarks/measure_scale.py.  Do not edit.
"""Exact float64 kernels of the orthogonal gauge (the numpy backend, and the reference).

Singular values come from the eigenvalues of the smaller Gram matrix instead of an SVD, and the
aligned nuclear norm from the eigenvalues of the Gram matrix of the small cross product; both
are several times faster than LAPACK's SVD (``docs/performance.md``).  Squaring a matrix squares
its condition number, so every result carries an a-posteriori error bound from Weyl's theorem,
and an input on which the bound is not small enough (rank-deficient or extremely ill-conditioned
matrices) is recomputed with the SVD:

* eigenvalue errors of a symmetric k x k eigenproblem are about ``delta = C sqrt(k) eps
  lambda_max`` (backward stability of the eigensolver and of forming the Gram matrix, Weyl's
  theorem; sqrt(k) is the usual growth of rounding errors, k the worst case);
* so the singular value ``sqrt(lambda_i)`` is off by at most
  ``min(sqrt(delta), delta / (2 sqrt(lambda_i)))``, and the sum of these bounds the error of the
  nuclear norm.  Above ``RTOL`` times the norm, the SVD decides.

Matrices may be stored as float32 (exact for bf16/fp16/fp32 checkpoints, half the memory of
float64); products and Gram matrices are then accumulated in float64 over row or column
blocks of at most ``BLOCK_BYTES``, so no float64 copy of a whole 25600 x 5120 matrix is made.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A, B = rng.standard_normal((50, 20)), rng.standard_normal((50, 20))
>>> s = spectrum(A)
>>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False), rtol=1e-12))
True
>>> fa, fb = layer_factor(A, axis=1), layer_factor(B, axis=1)
>>> ours = aligned_nuclear(A, B, fa, fb, axis=1)
>>> bool(np.isclose(ours, np.linalg.svd(A.T @ B, compute_uv=False).sum(), rtol=1e-12))
True
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS64 = float(np.finfo(np.float64).eps)
RTOL = 1e-7           # largest accepted error bound, relative to the nuclear norm (the bound is
#                       pessimistic: measured errors on real weights are ~1e-15 when it says 1e-8)
BOUND_C = 4.0         # the constant C of the eigenvalue error bound
ROOT_MIN_RATIO = 1e-10  # lambda_min / lambda_max below which the Cholesky root is not trusted
#                         (its error is about eps * cond(X) relative: <= 1e-11 above it)
BLOCK_BYTES = 64 << 20  # float64 bytes per block when a float32 matrix is upcast blockwise


@dataclass
class KernelStats:
    """How often each path was taken (tests and benchmarks read it)."""

    layer_factors: int = 0
    svd_fallbacks: int = 0
    qr_roots: int = 0
    cholesky_fallbacks: int = 0
    extra: dict = field(default_factory=dict)


STATS = KernelStats()


@dataclass(frozen=True)
class LayerFactor:
    """What a layer contributes to every pair it is in: computed once per layer.

    Attributes
    ----------
    spectrum : ndarray
        Singular values, descending, float64 (``min(out, in)`` of them).
    sq_norm : float
        Squared Frobenius norm, accumulated in float64.
    root : ndarray or None
        When the rotated side is at least as large as the other side: an upper-triangular
        ``R`` (other x other) with ``R^T R = X X^T`` (X oriented other x rotated), so the
        aligned nuclear norm of a pair is ``|R_A R_B^T|_*`` (an other x other problem).
        ``None`` when the rotated side is the smaller one (the pair then forms ``A^T B``).
    """

    spectrum: np.ndarray
    sq_norm: float
    root: object | None = None


# ----------------------------------------------------------------------------- blockwise products

def _blocks(n: int, other: int) -> list[slice]:
    step = max(1, BLOCK_BYTES // (8 * max(other, 1)))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _accumulate(acc, a, b, over: int):
    """acc += a^T b (over=0) or a b^T (over=1), in place with BLAS (beta = 1): no temporary
    product per block (at 32B shapes the temporaries cost 20% of a null draw).  ``acc`` is
    Fortran-ordered; for ``b is a`` only its upper triangle is updated (syrk)."""
    from scipy.linalg import blas

    # a C-ordered (r x c) block is the Fortran-ordered (c x r) matrix a.T, and vice versa
    if b is a:
        if over == 0:   # a^T a = (a.T)(a.T)^T
            return blas.dsyrk(1.0, a.T, beta=1.0, c=acc, trans=0, lower=0, overwrite_c=1)
        return blas.dsyrk(1.0, a.T, beta=1.0, c=acc, trans=1, lower=0, overwrite_c=1)
    if over == 0:       # a^T b = (a.T) (b.T)^T
        return blas.dgemm(1.0, a.T, b.T, beta=1.0, c=acc, trans_b=1, overwrite_c=1)
    return blas.dgemm(1.0, a.T, b.T, beta=1.0, c=acc, trans_a=1, overwrite_c=1)


def _symmetrize_upper(G: np.ndarray) -> np.ndarray:
    """Fill the lower triangle from the upper one (after syrk)."""
    il = np.tril_indices(G.shape[0], -1)
    G[il] = G.T[il]
    return G


def contract(A: np.ndarray, B: np.ndarray, over: int) -> np.ndarray:
    """``A^T B`` (``over=0``: sum over rows) or ``A B^T`` (``over=1``), in float64.

    Float64 inputs are multiplied directly (``A.T @ A`` is a BLAS ``syrk``); float32 inputs are
    upcast block by block along the summed axis and accumulated in place.
    """
    same = B is A
    if A.dtype == np.float64 and B.dtype == np.float64:
        return A.T @ (A if same else B) if over == 0 else A @ (A if same else B).T
    n, other = A.shape[over], A.shape[1 - over]
    out = np.zeros((other, B.shape[1 - over]), order="F")
    for s in _blocks(n, other):
        a = np.ascontiguousarray(A[s] if over == 0 else A[:, s], dtype=np.float64)
        b = a if same else np.ascontiguousarray(B[s] if over == 0 else B[:, s], dtype=np.float64)
        out = _accumulate(out, a, b, over)
    return np.ascontiguousarray(_symmetrize_upper(out) if same else out)


def sq_norm(X: np.ndarray) -> float:
    """Squared Frobenius norm accumulated in float64."""
    if X.dtype == np.float64:
        return float(np.vdot(X, X))
    return float(sum(np.vdot(b, b) for b in (np.asarray(X[s], np.float64)
                                               for s in _blocks(X.shape[0], X.shape[1]))))


def inner(A: np.ndarray, B: np.ndarray) -> float:
    """Frobenius inner product accumulated in float64."""
    if A.dtype == np.float64 and B.dtype == np.float64:
        return float(np.vdot(A, B))
    return float(sum(np.vdot(np.asarray(A[s], np.float64), np.asarray(B[s], np.float64))
                     for s in _blocks(A.shape[0], A.shape[1])))


# ----------------------------------------------------------------------------- eigenvalue paths

def eigvalsh(G: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a symmetric float64 matrix; LAPACK ``syevd`` through scipy
    (measured 1.7x faster than ``numpy.linalg.eigvalsh`` here).  ``G`` is overwritten."""
    from scipy.linalg import eigh

    return eigh(G, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False)


def sqrt_sum_bound(lam: np.ndarray, k: int, eps: float = EPS64) -> tuple[np.ndarray, float]:
    """Square roots of Gram eigenvalues (descending) and a bound on the error of their sum.

    ``lam`` are computed eigenvalues of a k x k Gram matrix; the bound follows the module
    docstring (Weyl's theorem with ``delta = BOUND_C * sqrt(k) * eps * max(lam)``).
    """
    lam = np.clip(np.asarray(lam, dtype=np.float64)[::-1], 0.0, None)
    s = np.sqrt(lam)
    top = float(lam[0]) if lam.size else 0.0
    if top == 0.0:
        return s, 0.0
    delta = BOUND_C * np.sqrt(k) * eps * top
    with np.errstate(divide="ignore"):
        per = np.where(s > 0, delta / (2 * np.where(s > 0, s, 1.0)), np.inf)
    return s, float(np.minimum(per, np.sqrt(delta)).sum())


def nuclear_norm(M: np.ndarray) -> float:
    """Sum of singular values of a float64 matrix: Gram + ``eigvalsh``, or the SVD when the
    error bound exceeds ``RTOL`` of the result."""
    G = M.T @ M if M.shape[1] <= M.shape[0] else M @ M.T
    s, bound = sqrt_sum_bound(eigvalsh(G), G.shape[0])
    total = float(s.sum())
    if bound > RTOL * total:
        STATS.svd_fallbacks += 1
        return float(np.linalg.svd(M, compute_uv=False).sum())
    return total


def _spectrum_from_gram(G: np.ndarray, X: np.ndarray) -> np.ndarray:
    s, bound = sqrt_sum_bound(eigvalsh(G), G.shape[0])
    if bound > RTOL * s.sum():
        STATS.svd_fallbacks += 1
        return np.linalg.svd(np.asarray(X, dtype=np.float64), compute_uv=False)
    return s


def spectrum(X: np.ndarray) -> np.ndarray:
    """Singular values (descending, float64) from the smaller Gram matrix."""
    over = 0 if X.shape[0] >= X.shape[1] else 1
    return _spectrum_from_gram(contract(X, X, over), X)


# ----------------------------------------------------------------------------- the orthogonal gauge

def _oriented(X: np.ndarray, axis: int) -> np.ndarray:
    """X as (other side) x (rotated side): the rotated side is the columns for ``axis=1``."""
    return X if axis == 1 else X.T


def layer_factor(X: np.ndarray, axis: int = 1) -> LayerFactor:
    """Spectrum, squared norm and (rotated side >= other side) the triangular root of one layer.

    ``axis`` is the rotated side of the stored (out x in) matrix: 1 = input (columns), 0 = output.
    """
    STATS.layer_factors += 1
    Xo = _oriented(X, axis)
    other, rot = Xo.shape
    nrm = sq_norm(X)
    if rot < other:
        return LayerFactor(_spectrum_from_gram(contract(Xo, Xo, 0), X), nrm, None)
    G = contract(Xo, Xo, 1)                      # other x other = X X^T, the smaller Gram
    lam = eigvalsh(G.copy())
    s, bound = sqrt_sum_bound(lam, other)
    if bound > RTOL * s.sum():
        STATS.svd_fallbacks += 1
        s = np.linalg.svd(np.asarray(X, dtype=np.float64), compute_uv=False)
    root = None
    if lam[0] > ROOT_MIN_RATIO * lam[-1]:
        try:
            root = np.linalg.cholesky(G).T       # R = L^T, R^T R = X X^T
        except np.linalg.LinAlgError:
            STATS.cholesky_fallbacks += 1
    if root is None:                             # (nearly) rank-deficient: a backward-stable QR
        STATS.qr_roots += 1
        root = np.linalg.qr(np.asarray(Xo, dtype=np.float64).T, mode="r")
    return LayerFactor(s, nrm, root)


def aligned_nuclear(A: np.ndarray, B: np.ndarray, fa: LayerFactor, fb: LayerFactor,
                    axis: int = 1) -> float:
    """``max_R <A R, B>`` over orthogonal R on the rotated side: ``|A^T B|_*`` (axis 1) or
    ``|A B^T|_*`` (axis 0), from the layers' roots when the rotated side is the larger one."""
    if fa.root is not None and fb.root is not None:
        return nuclear_norm(fa.root @ fb.root.T)
    return nuclear_norm(contract(A, B, 1 - axis))


# ----------------------------------------------------------------------------- the null

def gaussian_rows(rng: np.random.Generator, m: int, k: int, keep: int,
                  block_rows: int | None = None):
    """Draw an m x k standard normal matrix row block by row block (the same numbers as
    ``rng.standard_normal((m, k))``); returns (its first ``keep`` rows, G^T G)."""
    step = block_rows or max(1, BLOCK_BYTES // (8 * k))
    head = np.empty((keep, k))
    W = np.zeros((k, k), order="F")
    for i in range(0, m, step):
        g = rng.standard_normal((min(step, m - i), k))
        if i < keep:
            head[i:min(keep, i + len(g))] = g[:keep - i]
        W = _accumulate(W, g, g, 0)
    return head, np.ascontiguousarray(_symmetrize_upper(W))


def haar_head(m: int, ka: int, kb: int, rng: np.random.Generator) -> np.ndarray:
    """First ``ka`` rows of an m x kb Haar frame: G[:ka] L^-T with G^T G = L L^T.

    The draws equal ``procrustes.haar_block`` (0.1.0) number for number; G is never held whole,
    and a Cholesky failure (a numerically singular Gaussian Gram, probability ~1e-4 at square
    sizes in the thousands) falls back to a QR of the same draw, which has the same Q.
    """
    from scipy.linalg import solve_triangular

    if ka < m:
        head, W = gaussian_rows(rng, m, kb, ka)
    else:
        head = rng.standard_normal((m, kb))
        W = head.T @ head
    try:
        L = np.linalg.cholesky(W)
    except np.linalg.LinAlgError:
        STATS.cholesky_fallbacks += 1
        raise _NeedsQR() from None
    return solve_triangular(L, head.T, lower=True, check_finite=False).T


class _NeedsQR(Exception):
    pass


def null_draws(s_a: np.ndarray, s_b: np.ndarray, other_dim: int, draws: int,
               rng: np.random.Generator) -> np.ndarray:
    """Spectrum-matched null: aligned cosines of matrices with spectra s_a, s_b and independent
    Haar singular vectors on the non-aligned side (``procrustes.spectrum_null``, exact kernels).
    """
    ka, kb = len(s_a), len(s_b)
    norm = np.linalg.norm(s_a) * np.linalg.norm(s_b)
    out = np.empty(draws)
    for d in range(draws):
        state = rng.bit_generator.state
        try:
            block = haar_head(other_dim, ka, kb, rng)
        except _NeedsQR:
            rng.bit_generator.state = state      # same draw, orthonormalised by QR instead
            G = rng.standard_normal((other_dim, kb))
            q, r = np.linalg.qr(G)
            block = (q * np.sign(np.diag(r)))[:ka]
        out[d] = nuclear_norm((s_a[:, None] * block) * s_b[None, :]) / norm
    return out
