"""TOST against statsmodels (ttost_mean, ttost_paired, tconfint_mean) to 1e-10, edge cases,
and its size at the margin by simulation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from gaugetest.inference.equivalence import tost_mean

MARGINS = [(-0.02, 0.02), (-0.01, 0.03), (-0.05, 0.005), (0.001, 0.04)]


@pytest.mark.parametrize("low,high", MARGINS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_statsmodels_ttost_mean(low, high, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.004 * seed, 0.01, 5 + 7 * seed)
    r = tost_mean(x, low, high, alpha=0.05)[0]
    p, lower, upper = DescrStatsW(x).ttost_mean(low, high)
    assert r.pvalue == pytest.approx(p, abs=1e-10)
    assert r.p_lower == pytest.approx(lower[1], abs=1e-10)
    assert r.p_upper == pytest.approx(upper[1], abs=1e-10)
    lo, hi = DescrStatsW(x).tconfint_mean(alpha=0.10)
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))


@pytest.mark.parametrize("low,high", MARGINS)
def test_matches_statsmodels_ttost_paired(low, high):
    rng = np.random.default_rng(5)
    raw = rng.normal(0.03, 0.01, 22)
    aligned = raw + rng.normal(0.005, 0.008, 22)
    r = tost_mean(aligned - raw, low, high)[0]
    p, lower, upper = ttost_paired(aligned, raw, low, high)
    assert r.pvalue == pytest.approx(p, abs=1e-10)
    assert r.p_lower == pytest.approx(lower[1], abs=1e-10)
    assert r.p_upper == pytest.approx(upper[1], abs=1e-10)


def test_columns_and_missing_values():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.01, (15, 3))
    x[2, 1] = np.nan
    rs = tost_mean(x, -0.02, 0.02)
    for j, r in enumerate(rs):
        col = x[:, j][~np.isnan(x[:, j])]
        assert r.n == col.size
        assert r.pvalue == pytest.approx(DescrStatsW(col).ttost_mean(-0.02, 0.02)[0], abs=1e-10)


def test_min_margin_is_the_boundary():
    x = np.random.default_rng(8).normal(0.01, 0.01, 20)
    m = tost_mean(x, -0.02, 0.02)[0].min_margin
    assert tost_mean(x, -m * (1 + 1e-6), m * (1 + 1e-6))[0].equivalent
    assert not tost_mean(x, -m * (1 - 1e-6), m * (1 - 1e-6))[0].equivalent


def test_constant_and_tiny_samples():
    r = tost_mean(np.full(5, 0.001), -0.02, 0.02)[0]
    assert r.equivalent and r.pvalue == 0.0 and "constant" in r.note
    r = tost_mean(np.full(5, 0.5), -0.02, 0.02)[0]
    assert not r.equivalent and r.pvalue == 1.0
    r = tost_mean(np.array([0.001]), -0.02, 0.02)[0]
    assert r.equivalent is None and r.pvalue is None and "< 2" in r.note


def test_size_at_the_margin_by_simulation():
    # true mean exactly on the upper margin: TOST rejects with probability <= alpha
    # (close to alpha for a tight margin relative to the noise); 4000 reps, SE ~0.0035
    rng = np.random.default_rng(11)
    x = rng.normal(0.02, 0.002, (4000, 12))
    rej = sum(tost_mean(row, -0.02, 0.02)[0].equivalent for row in x)
    assert 0.035 <= rej / 4000 <= 0.062


def test_tost_robust_combines_t_and_bootstrap_t():
    """Each side's p-value is the larger of the t p-value (R t.test, stored in
    reference/r_boot_stud.json) and the bootstrap-t p-value; the interval is the union of the
    (1 - 2 alpha) t and bootstrap-t intervals (R boot's t* quantiles, 200000 resamples)."""
    import json
    from pathlib import Path

    from gaugetest.inference.equivalence import tost_robust
    ref = json.loads((Path(__file__).parent / "reference" / "r_boot_stud.json").read_text())
    for name, v in ref.items():
        x = np.array(v["x"])
        m, se = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
        r = tost_robust(x, -1e9, 0.0, 0.05, n_resamples=200_000, rng=2)[0]
        assert r.p_upper >= v["t_p_less_mean_0"] - 1e-12
        if v["t_p_less_mean_0"] > 1e-4:
            # the bootstrap p-value is within its Monte Carlo error of the t one or above it
            assert r.p_upper == pytest.approx(max(r.p_upper, v["t_p_less_mean_0"]))
        q05, q95 = v["tstar_q05_q95"]
        tq = stats.t.ppf(0.95, len(x) - 1)
        tol = 0.08 * v["bootstrap_se"]
        assert r.ci_low == pytest.approx(min(m - q95 * se, m - tq * se), abs=tol)
        assert r.ci_high == pytest.approx(max(m - q05 * se, m + tq * se), abs=tol)


@pytest.mark.parametrize("dist,bound", [("normal", 0.07), ("lognormal", 0.105)])
def test_tost_robust_size_under_skew(dist, bound):
    """Issue 13, defect 5 (iid part): with right-skewed deltas (lognormal, skewness 2.3) and the
    mean exactly on the upper margin, the t TOST declares equivalence 0.12 of the time at
    n = 12 (4000-replicate study; tost_robust: 0.084, normal data 0.039).  Reduced check, 800
    samples (Monte Carlo SE ~0.009): tost_robust below ``bound`` and below the t TOST."""
    from gaugetest.inference.equivalence import tost_robust
    rng = np.random.default_rng(15)
    z = rng.standard_normal((800, 12))
    x = z if dist == "normal" else np.exp(0.6 * z) - np.exp(0.18)
    t_rate = np.mean([tost_mean(r, -1e9, 0.0, 0.05)[0].equivalent for r in x])
    r_rate = np.mean([tost_robust(r, -1e9, 0.0, 0.05, n_resamples=999, rng=rng)[0].equivalent
                      for r in x])
    assert r_rate <= bound and r_rate <= t_rate
