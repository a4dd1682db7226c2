"""Closed forms of meta-analysis (gaugetest.inference.meta) and the family combination
(gaugetest.inference.family) against statsmodels' combine_effects, hand computations from the
papers' formulas, scipy's one-sample t test, and simulation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gaugetest.inference import meta
from gaugetest.inference.family import Components, combine

sm = pytest.importorskip("statsmodels.stats.meta_analysis")

# three hand-checkable studies, and one heterogeneous set (Q > K - 1)
D3, V3 = np.array([0.1, 0.3, 0.2]), np.array([0.01, 0.02, 0.015])
DH = np.array([0.02, 0.31, -0.05, 0.18, 0.40, 0.09])
VH = np.array([0.004, 0.010, 0.006, 0.003, 0.012, 0.008])


def test_q_and_common_effect_by_hand():
    # w = 100, 50, 66.67; mu = (10 + 15 + 13.33) / 216.67
    w = 1 / V3
    mu = (w * D3).sum() / w.sum()
    q, est, W = meta.q_statistic(D3, V3)
    assert est == pytest.approx(mu, abs=1e-15) and W == pytest.approx(w.sum())
    assert q == pytest.approx((w * (D3 - mu) ** 2).sum(), abs=1e-14)
    assert mu == pytest.approx(38.333333333333336 / 216.66666666666666, abs=1e-12)


@pytest.mark.parametrize("d,v", [(D3, V3), (DH, VH)])
def test_against_statsmodels_combine_effects(d, v):
    r = sm.combine_effects(d, v, method_re="dl", use_t=True)
    q, mu, W = meta.q_statistic(d, v)
    assert q == pytest.approx(r.q, rel=1e-12)
    assert mu == pytest.approx(r.mean_effect_fe, rel=1e-12)
    assert 1 / W == pytest.approx(r.var_eff_w_fe, rel=1e-12)
    # statsmodels does not truncate the DerSimonian-Laird moment estimate at 0
    assert meta.tau2_dl(d, v, truncate=False) == pytest.approx(r.tau2, rel=1e-12)
    assert meta.tau2_dl(d, v) == pytest.approx(max(r.tau2, 0.0), rel=1e-12, abs=1e-300)
    if r.tau2 >= 0:          # then I^2 is statsmodels' too (it does not truncate it either)
        assert meta.i_squared(q, len(d)) == pytest.approx(r.i2, rel=1e-10)
        re, var, _ = meta.random_effects(d, v, meta.tau2_dl(d, v))
        assert re == pytest.approx(r.mean_effect_re, rel=1e-12)
        assert var == pytest.approx(r.var_eff_w_re, rel=1e-12)
        mu2, vh = meta.hksj_variance(d, v, meta.tau2_dl(d, v))
        assert vh == pytest.approx(r.var_hksj_re, rel=1e-12)
        # the HKSJ interval: t with K - 1 df on that variance
        lo, hi = r.conf_int(alpha=0.05, use_t=True)[3]
        h = stats.t.isf(0.025, len(d) - 1) * np.sqrt(vh)
        assert (mu2 - h, mu2 + h) == pytest.approx((lo, hi), rel=1e-12)


@pytest.mark.parametrize("d,v", [(D3, V3), (DH, VH)])
def test_paule_mandel_against_statsmodels(d, v):
    r = sm.combine_effects(d, v, method_re="iterated", atol=1e-14, maxiter=500)
    t2 = meta.tau2_pm(d, v)
    assert t2 == pytest.approx(r.tau2, abs=1e-10)
    # at the PM estimate the generalised Q equals K - 1 (its defining equation), or tau^2 = 0
    w = 1 / (v + t2)
    mu = (w * d).sum() / w.sum()
    qg = (w * (d - mu) ** 2).sum()
    assert t2 == 0 or qg == pytest.approx(len(d) - 1, rel=1e-8)
    # with the PM tau^2 the HKSJ scale is 1 (statsmodels: "the estimated scale is 1")
    if t2 > 0:
        _, vh = meta.hksj_variance(d, v, t2)
        _, var, _ = meta.random_effects(d, v, t2)
        assert vh == pytest.approx(var, rel=1e-7)


def test_hartung_makambi_and_modified_hksj_by_hand():
    q, _, W = meta.q_statistic(DH, VH)
    w = 1 / VH
    c = W - (w ** 2).sum() / W
    k = len(DH)
    # Hartung & Makambi (2003), eq. for the positive estimator
    assert meta.tau2_hm(DH, VH) == pytest.approx(q ** 2 / ((2 * (k - 1) + q) * c), rel=1e-14)
    assert meta.tau2_hm(D3, V3) > 0          # positive even where DL truncates to 0
    # Roever, Knapp & Friede (2015): max(q*, 1); here q* < 1 so the modified one is the RE var
    _, vh = meta.hksj_variance(D3, V3, 0.0)
    _, vm = meta.hksj_variance(D3, V3, 0.0, modified=True)
    _, var, _ = meta.random_effects(D3, V3, 0.0)
    assert vh < var and vm == pytest.approx(var, rel=1e-14)


def test_ibragimov_mueller_is_the_one_sample_t_test():
    mu, se = meta.ibragimov_mueller(DH)
    t = stats.ttest_1samp(DH, 0.0, alternative="greater")
    assert mu / se == pytest.approx(t.statistic, rel=1e-12)


def test_prediction_interval_by_hand():
    lo, hi = meta.prediction_interval(0.1, 0.02, 0.0009, 6, 0.95)
    h = stats.t.ppf(0.975, 4) * np.sqrt(0.0009 + 0.02 ** 2)
    assert (lo, hi) == pytest.approx((0.1 - h, 0.1 + h), rel=1e-12)
    assert meta.prediction_interval(0.1, 0.02, 0.0, 2, 0.95) == (None, None)


def test_vectorised_over_replicates():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((5, 4))
    v = rng.uniform(0.5, 2, (5, 4))
    for f in (meta.tau2_dl, meta.tau2_hm, meta.tau2_pm):
        got = f(d, v)
        assert got.shape == (5,)
        assert got == pytest.approx([float(f(d[i], v[i])) for i in range(5)], rel=1e-9,
                                    abs=1e-12)


def _points(d, v, df=None):
    """One-component models (a fixed standard error each), R = 1."""
    return [Components(np.array([x]), np.ones((1, 1)), np.array([[np.sqrt(s)]]),
                       np.array([[np.inf if df is None else df[i]]]))
            for i, (x, s) in enumerate(zip(d, v))]


def test_combine_fe_and_hksj_equal_the_closed_forms():
    fe = combine(_points(DH, VH), "fe")
    q, mu, W = meta.q_statistic(DH, VH)
    assert fe.est[0] == pytest.approx(mu, rel=1e-14)
    assert fe.mixture.se[0] == pytest.approx([np.sqrt(1 / W)], rel=1e-12)
    hk = combine(_points(DH, VH), "hksj")
    r = sm.combine_effects(DH, VH, method_re="iterated", atol=1e-14, maxiter=500, use_t=True)
    from gaugetest.inference.depth_model.contrast import Contrast
    c = Contrast((), float(hk.est[0]), float(hk.se_summary[0]), float(hk.df_summary[0]),
                 hk.mixture)
    lo, hi = c.interval(0.95)
    ref = r.conf_int(alpha=0.05, use_t=True)[3]
    assert (lo, hi) == pytest.approx(tuple(ref), abs=1e-8)
    im = combine(_points(DH, VH), "im")
    t = stats.ttest_1samp(DH, 0.0, alternative="greater")
    ci = Contrast((), float(im.est[0]), float(im.se_summary[0]), 5.0, im.mixture)
    assert ci.p_greater(0.0) == pytest.approx(t.pvalue, rel=1e-8)


def test_combine_fe_satterthwaite_df_by_hand():
    df = np.array([4.0, 10.0, 20.0, 8.0, 6.0, 30.0])
    fe = combine(_points(DH, VH, df), "fe")
    w = 1 / VH
    c = w / w.sum()
    terms = c ** 2 * VH
    assert fe.df_summary[0] == pytest.approx(terms.sum() ** 2 / (terms ** 2 / df).sum(),
                                             rel=1e-12)


def test_combine_refuses_models_on_different_grids():
    a = Components(np.array([0.0]), np.array([[0.5, 0.5]]), np.ones((1, 2)), np.ones((1, 2)))
    b = Components(np.array([0.0]), np.array([[0.3, 0.7]]), np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="share one dependence model"):
        combine([a, b], "fe")
    with pytest.raises(ValueError, match="at least 2"):
        combine([a], "fe")


def _simulated(tau, R, seed):
    rng = np.random.default_rng(seed)
    v = np.array([0.002, 0.004, 0.001, 0.006, 0.003, 0.002])
    d = 0.1 + rng.standard_normal((R, 6)) * tau + rng.standard_normal((R, 6)) * np.sqrt(v)
    comps = [Components(d[:, i], np.ones((R, 1)), np.full((R, 1), np.sqrt(v[i])),
                        np.full((R, 1), np.inf)) for i in range(6)]
    return d, v, comps


@pytest.mark.parametrize("method,tau,exact", [("fe", 0.0, True), ("re-dl", 0.0, False),
                                              ("im", 0.1, False)])
def test_coverage_by_simulation(method, tau, exact):
    """Planted truth mu = 0.1, K = 6 unequal known variances (4000 replicates; 4 Monte Carlo
    SE = 0.014): the common-effect interval with known variances is exact at tau = 0; the
    random-effects one is at least nominal there (tau^2 >= 0 only widens it); the
    Ibragimov-Mueller t covers at least at its level whatever the variances (Bakirov &
    Szekely 2006)."""
    R = 4000
    _, _, comps = _simulated(tau, R, 7)
    mix = combine(comps, method).mixture
    cover = (mix.p_greater(np.full(R, 0.1)) >= 0.025) & (mix.p_less(np.full(R, 0.1)) >= 0.025)
    if exact:
        assert abs(cover.mean() - 0.95) < 0.014
    else:
        assert cover.mean() > 0.95 - 0.014


def _gen_q(d, v, t2):
    w = 1 / (v + t2)
    mu = (w * d).sum() / w.sum()
    return (w * (d - mu) ** 2).sum()


def test_hksj_equals_statsmodels_replicate_by_replicate():
    """HKSJ with the Paule-Mandel tau^2 has no exact coverage to test against (it is below
    nominal with unequal variances and small tau, Roever et al. 2015); every replicate's
    interval equals statsmodels' wherever statsmodels' tau^2 solves the Paule-Mandel equation.
    Where it does not (its Newton iteration overshoots below Q = K - 1 and then returns 0
    unconverged, although Q(0) > K - 1), ours does, and the test says how often."""
    from gaugetest.inference.depth_model.contrast import Contrast

    d, v, comps = _simulated(0.05, 60, 11)
    hk = combine(comps, "hksj")
    same = 0
    for i in range(len(d)):
        r = sm.combine_effects(d[i], v, method_re="iterated")
        ours = float(hk.tau2[i])
        assert ours == 0 or _gen_q(d[i], v, ours) == pytest.approx(5, rel=1e-8)
        sm_solves = (r.tau2 == 0 and _gen_q(d[i], v, 0.0) <= 5) or (
            r.tau2 > 0 and abs(_gen_q(d[i], v, r.tau2) - 5) < 1e-3)
        if not sm_solves:
            assert r.tau2 == 0 and _gen_q(d[i], v, 0.0) > 5 and ours > 0
            continue
        same += 1
        mix = type(hk.mixture)(hk.mixture.est[i:i + 1], hk.mixture.w[i:i + 1],
                               hk.mixture.se[i:i + 1], hk.mixture.df[i:i + 1],
                               hk.mixture.a0[i:i + 1], hk.mixture.a2[i:i + 1], False)
        c = Contrast((), float(hk.est[i]), float(hk.se_summary[i]), 5.0, mix)
        assert c.interval(0.95) == pytest.approx(tuple(r.conf_int(0.05, use_t=True)[3]),
                                                 rel=1e-4)
    assert same >= 30


@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_ibragimov_mueller_one_sided_size_under_unequal_variances(k):
    """The family test's validity claim (Ibragimov & Mueller 2010; Bakirov & Szekely 2006):
    the one-sided 5% t test on K independent mean-zero normal estimates of unequal variances
    rejects at most 5% of the time. Least favourable configurations: m of the K variances
    equal, the others vanishing (m = K gives exactly 5%); 100000 draws each, 4 Monte Carlo SE
    = 0.0028."""
    rng = np.random.default_rng(k)
    c = stats.t.isf(0.05, k - 1)
    for m in range(1, k + 1):
        s = np.r_[np.ones(m), np.full(k - m, 1e-6)]
        y = rng.standard_normal((100_000, k)) * s
        mu, se = meta.ibragimov_mueller(y)
        assert np.mean(mu / se > c) <= 0.05 + 0.0028
    # and one draw of widely unequal variances
    y = rng.standard_normal((100_000, k)) * np.geomspace(0.1, 10, k)
    mu, se = meta.ibragimov_mueller(y)
    assert np.mean(mu / se > c) <= 0.05 + 0.0028
