"""Dependence diagnostics and robust methods against statsmodels / arch / closed forms, the
robust mode in the analysis, and a small calibration run with tolerant bounds."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gaugetest import analyze
from gaugetest.inference.dependence import (ar1_variance_factor, common_lag1, newey_west_lag,
                                            politis_white_block_length, series_moments,
                                            welch_greater)
from gaugetest.inference.diagnostics import ljung_box
from gaugetest.inference.power import minimum_detectable_difference, one_sided_power, tost_power
from gaugetest.studies.synthetic import ar1_noise
from helpers import phase_vector, sweeps_from_deltas


def series(seed, n=22, rho=0.5):
    return ar1_noise(n, 1, rho, 0.0, np.random.default_rng(seed))[:, 0]


def test_ljung_box_closed_form():
    # x alternates +1, -1 (n = 10, mean 0): r1 = -9/10, r2 = 8/10; lags = min(10, n // 5) = 2;
    # Q = n (n + 2) (r1^2 / (n - 1) + r2^2 / (n - 2)) = 120 (0.09 + 0.08) = 20.4, and the
    # chi-square(2) tail is exp(-Q / 2)
    x = np.array([1.0, -1.0] * 5)
    q, p, h = ljung_box(x)
    assert h == 2
    assert q == pytest.approx(20.4, rel=1e-12)
    assert p == pytest.approx(np.exp(-10.2), rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_hac_closed_form(seed):
    # Newey-West (Bartlett weights 1 - k / (L + 1)) variance of a mean, written out
    x = series(seed, n=22 + 20 * seed)
    n, L = len(x), newey_west_lag(len(x))
    e = x - x.mean()
    s = e @ e / n + sum(2 * (1 - k / (L + 1)) * (e[k:] @ e[:-k]) / n for k in range(1, L + 1))
    assert series_moments(x, "hac").se == pytest.approx(np.sqrt(s / n), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_hac_matches_statsmodels(seed):
    import statsmodels.api as sm
    x = series(seed, n=22 + 20 * seed)
    m = series_moments(x, "hac")
    L = newey_west_lag(len(x))
    ref = sm.OLS(x, np.ones(len(x))).fit(cov_type="HAC",
                                         cov_kwds={"maxlags": L, "use_correction": False})
    assert m.se == pytest.approx(float(ref.bse[0]), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_block_length_matches_arch(seed):
    arch = pytest.importorskip("arch.bootstrap")
    x = series(seed, n=12 + 25 * seed, rho=0.6)
    ref = arch.optimal_block_length(x)
    b_sb, b_cb = politis_white_block_length(x)
    assert b_sb == pytest.approx(float(ref["stationary"].iloc[0]), rel=1e-10)
    assert b_cb == pytest.approx(float(ref["circular"].iloc[0]), rel=1e-10)


def test_glsar_is_statsmodels():
    from statsmodels.regression.linear_model import GLSAR
    x = series(1)
    m = series_moments(x, "glsar")
    ref = GLSAR(x, np.ones(len(x)), rho=1).iterative_fit(maxiter=10)
    assert m.mean == pytest.approx(float(ref.params[0])) and m.se == pytest.approx(float(ref.bse[0]))


@pytest.mark.parametrize("rho,n", [(0.0, 10), (0.5, 12), (0.7, 22), (0.3, 5)])
def test_ar1_variance_factor_closed_form(rho, n):
    # n Var(mean)/sigma^2 = 1' R 1 / n with R_ij = rho^|i-j|
    i = np.arange(n)
    R = rho ** np.abs(i[:, None] - i[None, :])
    assert ar1_variance_factor(rho, n) == pytest.approx(R.sum() / n, rel=1e-12)


def test_neff_with_given_rho_closed_form():
    x = series(3)
    n, rho = len(x), 0.4
    f = ar1_variance_factor(rho, n)
    m = series_moments(x, "neff", rho=rho)
    want = np.sqrt(x.var(ddof=1) * (n - 1) / (n - f) / (n / f))
    assert m.se == pytest.approx(want, rel=1e-12) and m.df == pytest.approx(n / f - 1)


def test_iid_moments_and_welch_match_scipy_ttest():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.3, 1, 12), rng.normal(0, 1.5, 22)
    d, t, df, p = welch_greater(series_moments(a, "iid"), series_moments(b, "iid"))
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert t == pytest.approx(ref.statistic, rel=1e-12) and p == pytest.approx(ref.pvalue, rel=1e-10)


def test_common_lag1_recovers_rho_on_long_series():
    x = ar1_noise(4000, 1, 0.5, 0.0, np.random.default_rng(0))[:, 0]
    groups = np.repeat([0, 1, 2, 3], 1000)
    x = x + groups * 5.0                       # phase levels differ; dependence does not
    rho, N = common_lag1(x, groups)
    assert N == 4000 and rho == pytest.approx(0.5, abs=0.04)


def test_power_matches_statsmodels():
    from statsmodels.stats.power import TTestPower
    n, se = 15, 0.01
    for delta in (0.005, 0.01, 0.03):
        ours = one_sided_power(delta, se, n - 1, 0.05)
        ref = TTestPower().power(effect_size=delta / (se * np.sqrt(n)), nobs=n, alpha=0.05,
                                 alternative="larger")
        assert ours == pytest.approx(ref, rel=1e-8)


def test_mdd_has_the_requested_power():
    m = series_moments(series(5), "iid")
    d = minimum_detectable_difference(m, m, 0.05)
    se = np.sqrt(2) * m.se
    assert one_sided_power(d, se, 2 * m.df, 0.05) == pytest.approx(0.8, abs=1e-6)


def test_tost_power_by_simulation():
    # 20 iid normal deltas, sd 0.02, true mean 0, margin +-0.015: the approximation
    # (known se) against 4000 simulated TOSTs (Monte Carlo SE ~0.008)
    from gaugetest.inference.dependence import Moments
    from gaugetest.inference.equivalence import tost_mean
    n, sd = 20, 0.02
    approx = tost_power(Moments(n, 0.0, sd / np.sqrt(n), n - 1.0, "iid"), -0.015, 0.015, 0.05)
    x = np.random.default_rng(6).normal(0, sd, (4000, n))
    sim = np.mean([tost_mean(r, -0.015, 0.015)[0].equivalent for r in x])
    assert approx == pytest.approx(sim, abs=0.05)


def _autocorrelated_sweep(seed=0, shift=0.004):
    rng = np.random.default_rng(seed)
    base = phase_vector(64, {"E": shift}, 0.0)
    d = 0.3 + base[:, None] + ar1_noise(63, 7, 0.9, 0.9, rng, 0.004)
    return sweeps_from_deltas(d, 64)


def test_robust_results_are_reported_and_can_disagree():
    # strongly autocorrelated deltas with a small E shift: find a seed where the iid
    # permutation test rejects and the robust test does not, and check the reporting
    for seed in range(40):
        res = analyze(*_autocorrelated_sweep(seed), n_boot=200, n_perm=2000)
        iid_p = res.permutation.pooled.p_value
        rob_p = res.robust.difference.pooled.p_value
        if iid_p < 0.05 <= rob_p:
            break
    else:
        pytest.fail("no disagreeing case in 40 seeds")
    assert res.verdict.dependence.startswith("robust")
    assert "the verdict follows the robust (reml-bma) analysis" in res.verdict.disagreement
    iid = analyze(*_autocorrelated_sweep(seed), n_boot=200, n_perm=2000, dependence="iid")
    assert iid.verdict.label != res.verdict.label
    d = res.to_dict()["robust"]
    assert d["method"] == "reml-bma"
    assert {"phase_summary", "late_vs_early", "equivalence", "detail", "check"} <= set(d)
    assert d["late_vs_early"][-1]["family"] == "pooled"
    assert any(x["material"] for x in res.to_dict()["diagnostics"]["rows"])


@pytest.mark.parametrize("method", ["hac", "glsar", "block", "sieve", "neff", "reml-bma"])
def test_expert_methods_drive_the_verdict(method):
    res = analyze(*_autocorrelated_sweep(1), n_boot=200, n_perm=500, dependence=method)
    assert res.robust.method == method
    assert res.verdict.dependence == f"robust ({method})"


def _old_common_lag1(x, groups, min_group=5):
    """gaugetest 0.1.0's estimator, literally (no clipping, phases of >= 5 pairs only): the
    reference the defect tests show failing."""
    x = np.asarray(x, dtype=float)
    g = np.asarray(groups, dtype=object)
    e = np.full_like(x, np.nan)
    k = 0
    for label in dict.fromkeys(g):
        m = g == label
        if m.sum() >= min_group:
            e[m] = x[m] - x[m].mean()
            k += 1
    use = ~np.isnan(e)
    N = int(use.sum())
    if N < 10:
        return None, N
    same = use[:-1] & use[1:] & (g[:-1] == g[1:])
    r1 = float(np.sum(e[:-1][same] * e[1:][same]) / np.nansum(e[use] ** 2))
    return float(np.clip((r1 + k / N) / (1 - 3 * k / N), 0.0, 0.95)), N


def test_one_outlier_no_longer_zeroes_rho():
    """Issue 13, defect 3: a single 10-sd pair in phase D (not compared) took the depth-wide
    rho to ~0 (size 0.14).  The spike is now clipped against its neighbours."""
    phases = phase_vector(64, {p: p for p in "ABCDE"}, "tail").astype(object)
    drops, old_drops = [], []
    for seed in range(30):
        x = ar1_noise(63, 1, 0.55, 0.0, np.random.default_rng(seed))[:, 0]
        y = x.copy()
        y[np.flatnonzero(phases == "D")[7]] += 10.0
        drops.append(common_lag1(x, phases)[0] - common_lag1(y, phases)[0])
        old_drops.append(_old_common_lag1(x, phases)[0] - _old_common_lag1(y, phases)[0])
    assert np.median(old_drops) > 0.3            # the defect, reproduced
    assert np.median(drops) < 0.05 and max(drops) < 0.15


def test_small_models_use_the_depth_not_a_phase():
    """Issue 13, defect 4: at 16 layers (C 5, D 4, E 3 pairs) phases of >= 5 pairs gave fewer
    than 10 points and neff silently used each phase's own 3-5 points.  Now phases of >= 3
    pairs feed the depth-wide rho, and neff without it is undefined (None), never a silent
    per-phase estimate."""
    phases = phase_vector(16, {p: p for p in "ABCDE"}, "tail").astype(object)
    x = ar1_noise(15, 1, 0.5, 0.0, np.random.default_rng(2))[:, 0]
    assert _old_common_lag1(x, phases)[0] is None
    rho, N = common_lag1(x, phases)
    assert rho is not None and N == 12
    assert series_moments(x[phases == "E"], "neff") is None
    assert series_moments(x[phases == "E"], "neff", rho=rho).detail.endswith(
        f"n_eff={series_moments(x[phases == 'E'], 'neff', rho=rho).n / ar1_variance_factor(rho, 3):.1f}")


def test_hampel_clip_leaves_gaussian_data_almost_alone_and_clips_a_spike():
    from gaugetest.inference.dependence import hampel_clip
    x = ar1_noise(2000, 1, 0.5, 0.0, np.random.default_rng(3))[:, 0]
    groups = np.repeat(np.arange(100), 20)
    z = hampel_clip(x, groups)
    assert np.mean(z != x) < 0.02 and np.max(np.abs(z - x)) < 3
    y = x.copy()
    y[505] += 20
    assert abs(hampel_clip(y, groups)[505] - x[505]) < 3
