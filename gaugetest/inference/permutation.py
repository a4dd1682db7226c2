"""One-sided two-sample permutation test of mean(LATE) > mean(EARLY), many columns at once.

Whole rows (layer pairs) are permuted between the two groups, so that all
families of a pair move together and the pooled column is tested with the
same splits.  Exact enumeration of all C(N, n_late) splits when that number is
at most ``n_perm``; otherwise ``n_perm`` random splits and the Monte Carlo
p-value ``(b + 1) / (m + 1)``, which is never zero (Phipson & Smyth 2010).
Ties are counted within 100 machine epsilons (relative to the larger of the
observed statistic and the data's magnitude), so results agree with
``scipy.stats.permutation_test`` and survive shifting all data by a constant.

Assumption: under H0 the pairs are exchangeable between the two phases.
Deltas of adjacent pairs are serially correlated (they share a layer), which
this test does not model; see ``gaugetest.inference.dependence``.

References
----------
Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero.
Stat. Appl. Genet. Mol. Biol. 9(1), Article 39.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scand. J. Statist. 6(2), 65-70.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

#: Elements of the split-indicator matrix per batch (bounds memory at ~16 MB).
_BATCH_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class PermutationResult:
    """Result of :func:`permutation_pvalue` for k columns.

    Attributes
    ----------
    statistic : ndarray (k,)
        Observed mean(LATE) - mean(EARLY) per column.
    pvalue : ndarray (k,)
        One-sided p-value for H1: LATE > EARLY; NaN for a column without a statistic (no
        value in one group).
    exact : bool
        True when every distinct split was enumerated.
    n_resamples : int
        Splits enumerated (exact) or random splits drawn (Monte Carlo).
    n_late, n_early : int
    null_distribution : ndarray or None
        Null statistics of the last column (kept for plots), if requested.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    exact: bool
    n_resamples: int
    n_late: int
    n_early: int
    null_distribution: np.ndarray | None = None


def n_splits(n_late: int, n_early: int) -> int:
    """Number of distinct ways to choose the LATE group: C(n_late + n_early, n_late)."""
    return math.comb(n_late + n_early, n_late)


def _split_stats(Z: np.ndarray, V: np.ndarray, M: np.ndarray, tot_v: np.ndarray,
                 tot_m: np.ndarray, complete: bool, n_late: int, n_all: int) -> np.ndarray:
    """Difference of means for each split (rows of the 0/1 matrix Z), per column."""
    s_late = Z @ V
    if complete:
        return s_late / n_late - (tot_v - s_late) / (n_all - n_late)
    c_late = Z @ M
    with np.errstate(invalid="ignore", divide="ignore"):
        return s_late / c_late - (tot_v - s_late) / (tot_m - c_late)


def _exact_batches(N: int, n_late: int, batch: int):
    """0/1 split indicators for every combination, in lexicographic order."""
    combos = itertools.combinations(range(N), n_late)
    while True:
        chunk = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, batch)),
                            dtype=np.intp)
        if chunk.size == 0:
            return
        idx = chunk.reshape(-1, n_late)
        Z = np.zeros((idx.shape[0], N))
        np.put_along_axis(Z, idx, 1.0, axis=1)
        yield Z


def _random_batches(N: int, n_late: int, m: int, batch: int, rng: np.random.Generator):
    """0/1 split indicators: each row a uniformly random arrangement of n_late ones."""
    template = np.zeros(N)
    template[:n_late] = 1.0
    for start in range(0, m, batch):
        b = min(batch, m - start)
        yield rng.permuted(np.broadcast_to(template, (b, N)), axis=1)


def permutation_pvalue(late: np.ndarray, early: np.ndarray, *, n_perm: int = 100_000,
                       rng: np.random.Generator | int | None = None,
                       keep_null: bool = False) -> PermutationResult:
    """One-sided permutation p-values for mean(late) > mean(early), column by column.

    Parameters
    ----------
    late, early : array_like, shape (n_late, k) and (n_early, k)
        Rows are layer pairs; NaN marks a value missing at a pair (that column's
        means then use the rows present).
    n_perm : int
        Enumerate exactly when C(n_late + n_early, n_late) <= n_perm, else draw
        ``n_perm`` random splits.
    rng : Generator or int, optional
    keep_null : bool
        Keep the null distribution of the last column.

    Returns
    -------
    PermutationResult

    Examples
    --------
    >>> r = permutation_pvalue([[3.0], [4.0]], [[1.0], [2.0]])
    >>> r.exact, float(r.pvalue[0])      # 1 of the C(4, 2) = 6 splits is as extreme
    (True, 0.16666666666666666)
    """
    late = np.asarray(late, dtype=float)
    early = np.asarray(early, dtype=float)
    if late.ndim == 1:
        late, early = late[:, None], early[:, None]
    x = np.vstack([late, early])
    N, k = x.shape
    n_late = late.shape[0]
    valid = ~np.isnan(x)
    complete = bool(valid.all())
    V = np.where(valid, x, 0.0)
    M = valid.astype(float)
    tot_v, tot_m = V.sum(axis=0), M.sum(axis=0)

    observed_Z = np.zeros((1, N))
    observed_Z[0, :n_late] = 1.0
    # the observed statistic goes through the same arithmetic as the null ones,
    # so that the identity split ties with itself exactly
    obs = _split_stats(observed_Z, V, M, tot_v, tot_m, complete, n_late, N)[0]
    # ties: scipy counts null statistics within 100 machine epsilons of |observed|; we take
    # the larger of |observed| and the data's magnitude as the scale, so that an observed
    # difference of exactly 0 (or a shift of all data) does not turn ties into misses
    scale = np.maximum(np.abs(obs), np.nanmax(np.abs(x), axis=0, initial=0.0))
    gamma = scale * (np.finfo(float).eps * 100)
    threshold = obs - gamma

    total = n_splits(n_late, N - n_late)
    exact = total <= n_perm
    batch = max(1, _BATCH_ELEMENTS // max(N, k))
    if exact:
        batches = _exact_batches(N, n_late, batch)
        m = total
    else:
        rng = np.random.default_rng(rng)
        batches = _random_batches(N, n_late, n_perm, batch, rng)
        m = n_perm
    count = np.zeros(k, dtype=np.int64)
    null_last = np.empty(m) if keep_null else None
    pos = 0
    for Z in batches:
        stats = _split_stats(Z, V, M, tot_v, tot_m, complete, n_late, N)
        count += np.count_nonzero(stats >= threshold, axis=0)
        if keep_null:
            null_last[pos:pos + len(stats)] = stats[:, -1]
        pos += len(stats)
    pvalue = count / m if exact else (count + 1) / (m + 1)
    # a column with no value in one group has no statistic; NaN compares false with every null
    # statistic, which would otherwise read as the most extreme result (the smallest p)
    pvalue = np.where(np.isnan(obs), np.nan, np.minimum(pvalue, 1.0))
    return PermutationResult(obs, pvalue, exact, m, n_late, N - n_late, null_last)
