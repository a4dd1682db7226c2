"""The block of a Haar-random frame that the spectrum-matched null needs, in O(k^3).

The null of the orthogonal gauge (``kernels.null_draws``, ``docs/measure.md``) needs, per draw,
``Q11``: the first ``ka`` rows of an m x kb matrix with Haar-distributed orthonormal columns
(m = size of the non-aligned side, ka = kb = k = the smaller side of the weights).  0.1.0 drew
the whole m x kb Gaussian matrix G and used ``Q11 = G[:ka] L^-T`` with ``G^T G = L L^T``:
``m kb^2 / 2`` multiply-adds and ``m kb`` random numbers per draw (25600 x 5120 at a Qwen3-32B
gate_proj).  :func:`sampler_kind` picks one of three exact samplers; all give Q11 that
distribution:

* **Bartlett** (``ka + kb <= m``).  Split G into its first ka rows G1 and the rest G2.  Q11 is
  ``G1 R^-1`` with ``R^T R = G1^T G1 + G2^T G2``, so it depends on G2 only through
  ``G2^T G2 ~ Wishart_kb(m - ka, I)``, independent of G1.  Bartlett's decomposition draws that
  Wishart matrix as ``U U^T`` with U upper triangular, ``U_ii^2 ~ chi^2(m - ka - kb + i)``
  (i = 1..kb) and N(0, 1) above the diagonal -- the reversed-index form of the usual lower
  ``T T^T`` with ``T_ii^2 ~ chi^2(n - i + 1)``, so that LAPACK's ``lauum`` forms it.  Cost:
  ``ka kb + kb^2 / 2`` random numbers and about ``(ka/2 + 5 kb/6) kb^2`` multiply-adds,
  independent of m.
* **Householder** (``m == kb``: a square rotation).  The Q of a Householder QR of an m x kb
  Gaussian matrix, with the signs of R's diagonal made positive, is a Haar frame (Mezzadri
  2007); its j-th reflector is built from column j of the partly reduced matrix, which is a
  fresh standard normal vector of length ``m - j`` independent of the earlier reflectors
  (rotation invariance; Stewart 1980).  So the reflectors are drawn directly and multiplied out
  with LAPACK's ``orgqr``: ``2/3 k^3`` multiply-adds for a square draw, against ``7/6 k^3`` for
  0.1.0's Gram, Cholesky and triangular solve (1.15x per draw measured, with the nuclear norm).
* **Gram** (``kb < m < ka + kb``: q_proj at Qwen3 4B/32B shapes, 1.6 k x k): 0.1.0's own draw,
  with the same random numbers, its Gram matrix accumulated over row blocks.  Here it costs
  ``(m / 2k + 2/3) k^3`` multiply-adds against Householder's ``(m/k - 1/3) k^3``, which
  ``orgqr`` runs at about 2/3 of ``syrk``'s speed: measured no faster at 4096 x 2560.

:func:`draw_haar` draws the random numbers (numpy's generator, so every backend uses the same
ones) and :func:`haar_block` multiplies them out in float64; the torch backend multiplies the
same numbers out on its device.  Tests compare the distribution with 0.1.0's sampler and with
``scipy.stats.ortho_group`` (tests/test_measure_kernels.py).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Q = haar_block(9, 9, 9, rng)                 # square: a Haar rotation
>>> bool(np.allclose(Q.T @ Q, np.eye(9)))
True
>>> d = draw_haar(50, 4, 4, rng)                 # tall: Bartlett
>>> d.kind, haar_block_from(d).shape
('bartlett', (4, 4))
>>> sampler_kind(12, 8, 8), sampler_kind(8, 8, 8)
('gram', 'householder')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HaarDraw:
    """The random numbers of one draw of Q11 (the first ``ka`` rows of an m x kb Haar frame).

    Attributes
    ----------
    kind : {"bartlett", "householder", "gram"}
    m, ka, kb : int
    head : ndarray
        Bartlett and Gram: G1, the (ka x kb) Gaussian top rows (Fortran order).  Householder:
        the (m x kb) reflector matrix in LAPACK's ``geqrf`` form (unit lower trapezoid,
        Fortran order).
    root : ndarray or None
        Bartlett: U (kb x kb, upper triangular, Fortran order), ``U U^T ~ Wishart_kb(m - ka)``.
        Gram: ``G^T G`` of the whole draw (upper triangle, Fortran order).
    tau : ndarray or None
        Householder: the reflectors' scalar factors.
    signs : ndarray or None
        Householder: sign(R_jj), applied to the columns of Q for a positive-diagonal R.
    """

    kind: str
    m: int
    ka: int
    kb: int
    head: np.ndarray
    root: np.ndarray | None = None
    tau: np.ndarray | None = None
    signs: np.ndarray | None = None


def bartlett_root(n: int, p: int, rng: np.random.Generator) -> np.ndarray:
    """Upper-triangular U (p x p, Fortran order) with ``U U^T ~ Wishart_p(n, I)``, n >= p.

    Draws ``U_ii^2 ~ chi^2(n - p + i)`` for i = 1..p first, then the entries above the
    diagonal column by column (p(p-1)/2 standard normals).

    Examples
    --------
    >>> import numpy as np
    >>> U = bartlett_root(10, 3, np.random.default_rng(0))
    >>> bool(np.all(np.tril(U, -1) == 0) and np.all(np.diag(U) > 0))
    True
    """
    if n < p:
        raise ValueError(f"Bartlett needs n >= p (a nonsingular Wishart), got n={n}, p={p}")
    U = np.zeros((p, p), order="F")
    U[np.diag_indices(p)] = np.sqrt(rng.chisquare(n - p + 1 + np.arange(p)))
    above = rng.standard_normal(p * (p - 1) // 2)
    at = 0
    for j in range(1, p):                  # column j of a Fortran array is contiguous
        U[:j, j] = above[at:at + j]
        at += j
    return U


def householder_reflectors(m: int, kb: int, rng: np.random.Generator):
    """Reflectors (LAPACK ``geqrf`` form), their tau and sign(R_jj) for an m x kb Haar frame.

    Column j is a fresh N(0, I_{m-j}) vector x at rows j..m-1, turned into the reflector that
    maps it to ``beta e_j`` as LAPACK's ``dlarfg`` does: ``beta = -sign(x_0) |x|``,
    ``tau = (beta - x_0) / beta``, ``v = x / (x_0 - beta)`` with ``v_0 = 1``.
    """
    V = np.zeros((m, kb), order="F")
    for j in range(kb):
        V[j:, j] = rng.standard_normal(m - j)
    diag = np.arange(kb)
    x0 = V[diag, diag].copy()
    norm = np.sqrt(np.einsum("ij,ij->j", V, V))
    beta = -np.copysign(norm, x0)
    tau = (beta - x0) / beta
    V /= (x0 - beta)[None, :]
    V[diag, diag] = 1.0
    return V, tau, np.sign(beta)


#: float64 bytes per row block of a Gram draw (its m x kb matrix is never held whole)
BLOCK_BYTES = 64 << 20


def sampler_kind(m: int, ka: int, kb: int) -> str:
    """Which exact sampler draws Q11: "bartlett" (``ka + kb <= m``), "householder" (``m == kb``,
    a square rotation) or "gram" (in between: 0.1.0's draw)."""
    if not (1 <= ka <= m and 1 <= kb <= m):
        raise ValueError(f"need 1 <= ka, kb <= m, got m={m}, ka={ka}, kb={kb}")
    if ka + kb <= m:
        return "bartlett"
    return "householder" if m == kb else "gram"


def gaussian_blocks(m: int, kb: int, rng: np.random.Generator, block_rows: int | None = None):
    """Row blocks of an m x kb standard normal matrix: together the same numbers as
    ``rng.standard_normal((m, kb))`` (0.1.0's draw), never the whole matrix at once."""
    step = block_rows or max(1, BLOCK_BYTES // (8 * kb))
    for i in range(0, m, step):
        yield i, rng.standard_normal((min(step, m - i), kb))


def gaussian_gram(m: int, ka: int, kb: int, rng: np.random.Generator,
                  block_rows: int | None = None):
    """(first ka rows in Fortran order, upper triangle of G^T G in Fortran order) of an m x kb
    standard normal draw G, accumulated in place with BLAS ``syrk`` block by block."""
    from scipy.linalg import blas

    head = np.empty((ka, kb), order="F")
    W = np.zeros((kb, kb), order="F")
    for i, g in gaussian_blocks(m, kb, rng, block_rows):
        if i < ka:
            head[i:min(ka, i + len(g))] = g[:ka - i]
        # g (C order) is the Fortran matrix g^T: g^T g = (g^T)(g^T)^T
        W = blas.dsyrk(1.0, g.T, beta=1.0, c=W, trans=0, lower=0, overwrite_c=1)
    return head, W


def draw_haar(m: int, ka: int, kb: int, rng: np.random.Generator) -> HaarDraw:
    """The random numbers of one Q11 draw, by :func:`sampler_kind` (a Gram draw carries its
    Gram matrix instead of the whole m x kb matrix)."""
    kind = sampler_kind(m, ka, kb)
    if kind == "gram":
        head, W = gaussian_gram(m, ka, kb, rng)
        return HaarDraw("gram", m, ka, kb, head, root=W)
    if kind == "bartlett":
        # drawn as the C-ordered (kb x ka) matrix G1^T: G1 itself in Fortran order, which BLAS
        # takes without a copy (the same distribution as any other filling order)
        head = rng.standard_normal((kb, ka)).T
        return HaarDraw("bartlett", m, ka, kb, head, root=bartlett_root(m - ka, kb, rng))
    V, tau, signs = householder_reflectors(m, kb, rng)
    return HaarDraw("householder", m, ka, kb, V, tau=tau, signs=signs)


def haar_block_from(d: HaarDraw, dtype=np.float64, overwrite: bool = False) -> np.ndarray:
    """Q11 (ka x kb, float64) from a draw: LAPACK in ``dtype`` (float64, or float32 for the
    torch backend on the CPU).

    Bartlett: ``W = U U^T + G1^T G1`` (``lauum`` and ``syrk``), ``W = R^T R`` (``potrf``),
    ``Q11 = G1 R^-1`` (``trsm``); W's condition number is at most about
    ``((sqrt(m) + sqrt(kb)) / (sqrt(m) - sqrt(kb)))^2`` (34 at m = 2 kb), so the Cholesky
    factor is accurate, in float32 too.  Should it fail anyway the caller draws again with
    Householder (:class:`numpy.linalg.LinAlgError`).  Householder: ``orgqr`` (backward
    stable), then the column signs.  In float32 both put at most ~1e-7 into an entry of Q11 and
    ~3e-9 into a null value (measured at k = 1024, decaying spectra).  Gram: ``potrf`` and
    ``trsm`` of the draw's own Gram matrix, in float64 whatever ``dtype``.

    ``overwrite``: the draw's arrays may be overwritten (no k x k copies: at Qwen3-32B shapes
    each is 210 MB); ``haar_block`` draws and consumes its own.
    """
    from scipy.linalg import blas, lapack

    x = "s" if np.dtype(dtype) == np.float32 else "d"

    def fortran(a, dt=dtype):   # the LAPACK operand: a itself only when it may be overwritten
        f = np.asfortranarray(a, dtype=dt)
        return f.copy(order="F") if f is a and not overwrite else f

    if d.kind == "gram":
        # float64 always: W's condition number grows as m approaches kb (~300 at m = 1.25 kb)
        head, W = fortran(d.head, np.float64), fortran(d.root, np.float64)
        R, info = lapack.dpotrf(W, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("Gram matrix of the draw not positive definite")
        return blas.dtrsm(1.0, R, head, side=1, lower=0, overwrite_b=1)
    if d.kind == "bartlett":
        head, root = fortran(d.head), fortran(d.root)
        W, info = getattr(lapack, x + "lauum")(root, lower=0, overwrite_c=1)  # U U^T, upper
        if info != 0:
            raise RuntimeError(f"lauum failed (info {info})")
        # head is G1 in Fortran order: G1^T G1 is syrk with trans=1
        W = getattr(blas, x + "syrk")(1.0, head, beta=1.0, c=W, trans=1, lower=0,
                                      overwrite_c=1)
        R, info = getattr(lapack, x + "potrf")(W, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("Bartlett Gram matrix not positive definite")
        # X R = G1  <=>  X = G1 R^-1  (side=1: right; upper, not transposed), in place
        Q = getattr(blas, x + "trsm")(1.0, R, head, side=1, lower=0, overwrite_b=1)
        return np.asarray(Q, dtype=np.float64)
    V = fortran(d.head)
    Q, _, info = getattr(lapack, x + "orgqr")(V, d.tau.astype(dtype), lwork=max(1, 64 * d.kb),
                                              overwrite_a=1)
    if info != 0:
        raise RuntimeError(f"orgqr failed (info {info})")
    Q = np.asarray(Q[:d.ka], dtype=np.float64)
    Q *= d.signs[None, :]
    return Q


def haar_block(m: int, ka: int, kb: int, rng: np.random.Generator,
               dtype=np.float64) -> np.ndarray:
    """The first ``ka`` rows of an m x kb Haar frame (float64), drawn in O((ka + kb) kb^2).

    Parameters
    ----------
    m : int
        Rows of the frame (the non-aligned side of the weights).
    ka, kb : int
        Rows kept and columns, each at most m.
    rng : numpy.random.Generator
    dtype : float64 or float32
        Precision of the linear algebra (``haar_block_from``); the random numbers are the same.

    Returns
    -------
    ndarray, shape (ka, kb)
    """
    d = draw_haar(m, ka, kb, rng)
    try:
        return haar_block_from(d, dtype, overwrite=True)
    except np.linalg.LinAlgError:
        # not seen in practice (W is well conditioned); a Householder draw is always valid
        V, tau, signs = householder_reflectors(m, kb, rng)
        return haar_block_from(HaarDraw("householder", m, ka, kb, V, tau=tau, signs=signs),
                               dtype, overwrite=True)
