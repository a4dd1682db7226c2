"""Permutation test: exact p against brute-force enumeration and scipy; Monte Carlo p within
Monte Carlo error of scipy's; type-I error by simulation; Holm against statsmodels."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from gaugetest.inference.base import holm_adjust
from gaugetest.inference.permutation import permutation_pvalue


def brute_force_p(late, early):
    """Enumerate every split with plain numpy means (independent of the engine's algebra)."""
    x = np.vstack([late, early])
    N, n1 = len(x), len(late)
    obs = np.nanmean(late, axis=0) - np.nanmean(early, axis=0)
    ge, total = np.zeros(x.shape[1]), 0
    for combo in itertools.combinations(range(N), n1):
        mask = np.zeros(N, bool)
        mask[list(combo)] = True
        with np.errstate(invalid="ignore"):
            stat = np.nanmean(x[mask], axis=0) - np.nanmean(x[~mask], axis=0)
        ge += stat >= obs - 1e-12
        total += 1
    return ge / total


def scipy_p(late, early, n_resamples, rng=None):
    return stats.permutation_test(
        (late, early), lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
        permutation_type="independent", alternative="greater", vectorized=True, axis=0,
        n_resamples=n_resamples, rng=rng).pvalue


@pytest.mark.parametrize("n1,n2,shift", [(4, 6, 0.0), (5, 7, 0.8), (3, 9, -0.5), (6, 6, 0.3)])
def test_exact_matches_enumeration_and_scipy(n1, n2, shift):
    rng = np.random.default_rng(n1 * 10 + n2)
    late, early = rng.normal(shift, 1, (n1, 3)), rng.normal(0, 1, (n2, 3))
    r = permutation_pvalue(late, early, n_perm=100_000)
    assert r.exact
    np.testing.assert_allclose(r.pvalue, brute_force_p(late, early), atol=1e-12)
    np.testing.assert_allclose(r.pvalue, scipy_p(late, early, np.inf), atol=1e-12)


def test_exact_with_ties():
    # integer-valued data: many splits tie with the observed statistic
    late = np.array([[1.0], [2.0], [2.0]])
    early = np.array([[1.0], [1.0], [2.0], [0.0]])
    r = permutation_pvalue(late, early)
    np.testing.assert_allclose(r.pvalue, brute_force_p(late, early), atol=1e-12)
    np.testing.assert_allclose(r.pvalue, scipy_p(late, early, np.inf), atol=1e-12)


def test_exact_with_missing_values():
    rng = np.random.default_rng(9)
    late, early = rng.normal(0.5, 1, (4, 2)), rng.normal(0, 1, (6, 2))
    late[1, 0] = np.nan
    early[3, 0] = np.nan
    r = permutation_pvalue(late, early)
    np.testing.assert_allclose(r.pvalue, brute_force_p(late, early), atol=1e-12)


@pytest.mark.parametrize("seed,shift", [(1, 0.0), (2, 0.5), (3, 1.0)])
def test_monte_carlo_agrees_with_scipy(seed, shift):
    rng = np.random.default_rng(seed)
    late, early = rng.normal(shift, 1, (12, 2)), rng.normal(0, 1, (22, 2))
    m = 20_000
    ours = permutation_pvalue(late, early, n_perm=m, rng=seed).pvalue
    ref = scipy_p(late, early, m, rng=np.random.default_rng(seed + 100))
    se = np.sqrt(np.maximum(ref * (1 - ref), 1 / m) / m)
    assert np.all(np.abs(ours - ref) <= 5 * np.sqrt(2) * se + 1e-4)


def test_monte_carlo_p_never_zero():
    late, early = np.full((12, 1), 10.0) + np.arange(12)[:, None], np.zeros((22, 1))
    r = permutation_pvalue(late, early, n_perm=1000, rng=0)
    assert not r.exact and r.pvalue[0] == pytest.approx(1 / 1001)


def test_type_one_error_by_simulation():
    # iid null: rejection rate at alpha = 0.05 should be 0.05 (SE ~0.005 with 2000 reps)
    rng = np.random.default_rng(77)
    rej = 0
    reps = 2000
    for _ in range(reps):
        x = rng.normal(0, 1, (34, 1))
        rej += permutation_pvalue(x[:12], x[12:], n_perm=499, rng=rng).pvalue[0] <= 0.05
    assert 0.035 <= rej / reps <= 0.065


def test_holm_adjust_by_hand_and_skips_missing_families():
    # Holm (1979) by hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04, running
    # maximum 0.03, 0.06, 0.06; a family without a p (None) is not counted in m
    assert holm_adjust([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm_adjust([None, None]) == [None, None]
    assert holm_adjust([0.7, 0.6]) == pytest.approx([1.0, 1.0])      # capped at 1
