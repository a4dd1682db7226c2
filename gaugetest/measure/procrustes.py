"""Raw and Procrustes-aligned cosines between two weight matrices, and their null.

These are the plain, SVD-based definitions (0.1.0's kernels), kept as the readable reference
that tests compare against; ``gaugetest measure`` runs the faster exact kernels of
``kernels.py`` (Gram matrices and symmetric eigenvalues, error-bounded) through a backend.

For A, B of shape (out, in):

* raw cosine ``<A, B>_F / (|A| |B|)``;
* aligned on the input (column) side, scipy's convention
  ``R = scipy.linalg.orthogonal_procrustes(A, B)[0]``:
  ``max_R <A R, B> = |A^T B|_*`` (nuclear norm);
* aligned on the output (row) side: ``|A B^T|_*``.

The nuclear norm is computed on the small side: when the rotated side is the
larger one, thin QR of the transposes gives ``|A^T B|_* = |R_A R_B^T|_*`` (an
m x m problem), so no 25600 x 25600 product is ever formed.

The **spectrum-matched null** keeps the singular values of A and B and makes
their singular vectors on the non-aligned side independent and Haar-random.
Then ``|A^T B|_* = |S_A (U_A^T H U_B) S_B|_*`` where ``U_A^T H U_B`` is
distributed as the first k_A rows of a Haar-random m x k_B frame (m = size of
the non-aligned side), so a draw needs only the singular values and one thin QR
of an m x k_B Gaussian matrix.
"""
from __future__ import annotations

import numpy as np

SIDES = ("cols", "rows")


def raw_cosine(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.vdot(A, B) / (np.linalg.norm(A) * np.linalg.norm(B)))


def _nuclear_cross(A: np.ndarray, B: np.ndarray) -> float:
    """|A^T B|_* for A, B (out x in), reduced to the smaller dimension."""
    out, inn = A.shape
    if inn > out:
        # A^T = Q_A R_A (in x out, R_A out x out): |A^T B|_* = |R_A R_B^T|_*
        ra = np.linalg.qr(A.T, mode="r")
        rb = np.linalg.qr(B.T, mode="r")
        M = ra @ rb.T
    else:
        M = A.T @ B
    return float(np.linalg.svd(M, compute_uv=False).sum())


def aligned_cosine(A: np.ndarray, B: np.ndarray, side: str = "cols") -> float:
    """Cosine after the best orthogonal rotation of the given side of A."""
    if side == "rows":
        A, B = A.T, B.T
    return _nuclear_cross(A, B) / (np.linalg.norm(A) * np.linalg.norm(B))


def singular_values(A: np.ndarray) -> np.ndarray:
    return np.linalg.svd(A, compute_uv=False)


def haar_frame(m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """An m x k matrix with Haar-distributed orthonormal columns (QR with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((m, k)))
    return q * np.sign(np.diag(r))


def haar_block(m: int, ka: int, kb: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``ka`` rows of an m x kb Haar frame, without forming the frame.

    With G ~ N(0, 1)^(m x kb) and G^T G = L L^T (Cholesky), Q = G L^-T has Haar
    columns (it is the Q of G's QR with a positive-diagonal R), so its first rows are
    G[:ka] L^-T: one Gram product, one Cholesky and one triangular solve, about a
    tenth of a full QR with Q formed.
    """
    from scipy.linalg import solve_triangular

    G = rng.standard_normal((m, kb))
    L = np.linalg.cholesky(G.T @ G)
    return solve_triangular(L, G[:ka].T, lower=True).T


def _nuclear_fast(M: np.ndarray) -> float:
    # sum of singular values from the eigenvalues of the smaller Gram matrix
    g = M.T @ M if M.shape[1] <= M.shape[0] else M @ M.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(g), 0.0, None)).sum())


def spectrum_null(s_a: np.ndarray, s_b: np.ndarray, other_dim: int, draws: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Aligned cosines of matrices with spectra s_a, s_b and independent Haar singular vectors
    on the non-aligned side (size ``other_dim``); ``draws`` values."""
    ka, kb = len(s_a), len(s_b)
    norm = np.linalg.norm(s_a) * np.linalg.norm(s_b)
    out = np.empty(draws)
    for d in range(draws):
        block = haar_block(other_dim, ka, kb, rng)
        M = (s_a[:, None] * block) * s_b[None, :]
        out[d] = _nuclear_fast(M) / norm
    return out


def von_neumann_bound(s_a: np.ndarray, s_b: np.ndarray) -> float:
    """Largest cosine any rotation can reach: <s_A, s_B> / (|s_A| |s_B|) (sorted spectra)."""
    k = min(len(s_a), len(s_b))
    return float(np.sort(s_a)[::-1][:k] @ np.sort(s_b)[::-1][:k]
                 / (np.linalg.norm(s_a) * np.linalg.norm(s_b)))


