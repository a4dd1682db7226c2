"""One-sided two-sample permutation test of mean(LATE) > mean(EARLY), many columns at once.

Whole rows (layer pairs) are permuted between the two groups, so that all
families of a pair move together: columns with values on the same rows are
tested with the same splits.  Only rows that have a value in a column are
permuted for it (a family missing on some pairs, and the pooled column, which
exists only on complete pairs): a split whose late group has no value has no
statistic, and counting it as "not extreme" made p too small (issue 22 defect
4).  Exact enumeration of all C(n, n_late) splits of the n rows with a value
when that number is at most ``n_perm``; otherwise ``n_perm`` random splits and
the Monte Carlo p-value ``(b + 1) / (m + 1)``, which is never zero (Phipson &
Smyth 2010).  Each column reports its own n and the smallest p it can reach.
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
        Observed mean(LATE) - mean(EARLY) per column, over the rows with a value.
    pvalue : ndarray (k,)
        One-sided p-value for H1: LATE > EARLY; NaN for a column without a statistic (no
        value in one group).
    exact, n_resamples, n_late, n_early : bool, int, int, int
        Those of the last column (the pooled one in an analysis): every distinct split
        enumerated, the splits enumerated or drawn, the rows with a value in each group.
    null_distribution : ndarray or None
        Null statistics of the last column (kept for plots), if requested.
    n_late_by_column, n_early_by_column : ndarray of int (k,)
        Rows with a value in each group, per column: the n each test really has.
    exact_by_column : ndarray of bool (k,)
    n_resamples_by_column : ndarray of int (k,)
    min_p : ndarray (k,)
        The smallest p-value each column's test can give: 1 / C(n_late + n_early, n_late)
        when exact, 1 / (n_perm + 1) otherwise; NaN without a statistic.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    exact: bool
    n_resamples: int
    n_late: int
    n_early: int
    null_distribution: np.ndarray | None = None
    n_late_by_column: np.ndarray | None = None
    n_early_by_column: np.ndarray | None = None
    exact_by_column: np.ndarray | None = None
    n_resamples_by_column: np.ndarray | None = None
    min_p: np.ndarray | None = None


def n_splits(n_late: int, n_early: int) -> int:
    """Number of distinct ways to choose the LATE group: C(n_late + n_early, n_late)."""
    return math.comb(n_late + n_early, n_late)


def _split_stats(Z: np.ndarray, V: np.ndarray, n_late: int, n_all: int) -> np.ndarray:
    """Difference of means for each split (rows of the 0/1 matrix Z), per column."""
    s_late = Z @ V
    return s_late / n_late - (V.sum(axis=0) - s_late) / (n_all - n_late)


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


@dataclass(frozen=True)
class _GroupResult:
    statistic: np.ndarray
    pvalue: np.ndarray
    exact: bool
    m: int
    min_p: float
    null_last: np.ndarray | None


def _complete_test(x: np.ndarray, n_late: int, n_perm: int, rng_of, keep_null: bool):
    """The test on a complete block (rows with a value in every column): the first
    ``n_late`` rows are the late group."""
    N, k = x.shape
    observed_Z = np.zeros((1, N))
    observed_Z[0, :n_late] = 1.0
    # the observed statistic goes through the same arithmetic as the null ones,
    # so that the identity split ties with itself exactly
    obs = _split_stats(observed_Z, x, n_late, N)[0]
    # ties: scipy counts null statistics within 100 machine epsilons of |observed|; we take
    # the larger of |observed| and the data's magnitude as the scale, so that an observed
    # difference of exactly 0 (or a shift of all data) does not turn ties into misses
    scale = np.maximum(np.abs(obs), np.max(np.abs(x), axis=0, initial=0.0))
    threshold = obs - scale * (np.finfo(float).eps * 100)
    total = n_splits(n_late, N - n_late)
    exact = total <= n_perm
    batch = max(1, _BATCH_ELEMENTS // max(N, k))
    if exact:
        batches, m = _exact_batches(N, n_late, batch), total
    else:
        batches, m = _random_batches(N, n_late, n_perm, batch, rng_of()), n_perm
    count = np.zeros(k, dtype=np.int64)
    null_last = np.empty(m) if keep_null else None
    pos = 0
    for Z in batches:
        stats = _split_stats(Z, x, n_late, N)
        count += np.count_nonzero(stats >= threshold, axis=0)
        if keep_null:
            null_last[pos:pos + len(stats)] = stats[:, -1]
        pos += len(stats)
    pvalue = np.minimum(count / m if exact else (count + 1) / (m + 1), 1.0)
    return _GroupResult(obs, pvalue, exact, m, 1.0 / total if exact else 1.0 / (m + 1),
                        null_last)


def permutation_pvalue(late: np.ndarray, early: np.ndarray, *, n_perm: int = 100_000,
                       rng: np.random.Generator | int | None = None,
                       keep_null: bool = False) -> PermutationResult:
    """One-sided permutation p-values for mean(late) > mean(early), column by column.

    Parameters
    ----------
    late, early : array_like, shape (n_late, k) and (n_early, k)
        Rows are layer pairs; NaN marks a value missing at a pair. Each column is tested on
        its rows with a value only; columns with values on the same rows share the splits.
    n_perm : int
        Enumerate exactly when C(n_late + n_early, n_late) <= n_perm (counted on the rows
        with a value), else draw ``n_perm`` random splits.
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
    >>> r = permutation_pvalue([0.5, np.nan, np.nan], [0.4, 0.6, np.nan])
    >>> float(r.pvalue[0]), int(r.n_late), int(r.n_early)   # 2 of the C(3, 1) = 3 splits
    (0.6666666666666666, 1, 2)
    """
    late = np.asarray(late, dtype=float)
    early = np.asarray(early, dtype=float)
    if late.ndim == 1:
        late, early = late[:, None], early[:, None]
    k = late.shape[1]
    vl, ve = ~np.isnan(late), ~np.isnan(early)
    stat, pval, min_p = (np.full(k, np.nan) for _ in range(3))
    n_l = vl.sum(axis=0)
    n_e = ve.sum(axis=0)
    exact_c = np.zeros(k, dtype=bool)
    m_c = np.zeros(k, dtype=np.int64)
    null_last = None
    state = {"rng": None}

    def rng_of():
        if state["rng"] is None:
            state["rng"] = np.random.default_rng(rng)
        return state["rng"]

    groups: dict[bytes, list[int]] = {}
    for j in range(k):
        groups.setdefault(vl[:, j].tobytes() + b"|" + ve[:, j].tobytes(), []).append(j)
    for js in groups.values():
        a, b = late[vl[:, js[0]]][:, js], early[ve[:, js[0]]][:, js]
        if len(a) == 0 or len(b) == 0:
            continue                    # no statistic: NaN p (never the smallest p)
        g = _complete_test(np.vstack([a, b]), len(a), n_perm, rng_of,
                           keep_null and js[-1] == k - 1)
        stat[js], pval[js], min_p[js] = g.statistic, g.pvalue, g.min_p
        exact_c[js], m_c[js] = g.exact, g.m
        if g.null_last is not None:
            null_last = g.null_last
    last = k - 1
    return PermutationResult(stat, pval, bool(exact_c[last]), int(m_c[last]), int(n_l[last]),
                             int(n_e[last]), null_last, n_l, n_e, exact_c, m_c, min_p)
