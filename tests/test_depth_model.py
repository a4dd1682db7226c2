"""gaugetest.inference.depth_model: the robust default.

Reference values: R nlme::gls with corARMA + varIdent (REML log-likelihood, per-phase sd, GLS
levels, correlation matrices; tests/reference/r_nlme_depth.R wrote r_nlme_depth.json),
statsmodels (arma_acf; GLS whitened residual sum of squares), the ARFIMA autocorrelation in
gamma functions (Hosking 1981), closed forms (1'R1/n^2), and simulation with planted truth.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from gaugetest.inference import depth_model as dm
from gaugetest.inference.depth_model import fit_depth, profile_reml
from gaugetest.studies.scenarios import Layout, scenario

REF = Path(__file__).parent / "reference"
PH64 = Layout.from_map(64, "E", "C").phases


def _ref_acf(name, value, maxlag):
    v = np.asarray(value, dtype=float)
    if name == "ar1":
        return dm.correlation._acf_ar1(v[None, :], maxlag)[0]
    if name == "ar2":
        return dm.correlation._acf_ar2(v[None, :], maxlag)[0]
    if name == "ma1":
        return dm.correlation._acf_ma1(np.array([[v[0] / (1 + v[0] ** 2)]]), maxlag)[0]
    phi, theta = v
    r1 = (1 + phi * theta) * (phi + theta) / (1 + 2 * phi * theta + theta ** 2)
    return dm.correlation._acf_arma11(np.array([[phi, r1]]), maxlag)[0]


# --------------------------------------------------------------------------- references

@pytest.mark.parametrize("name", ["ar1", "ar2", "ma1", "arma11"])
def test_reml_matches_nlme_gls(name):
    """REML log-likelihood, per-phase sd and GLS levels equal nlme::gls(corARMA(fixed),
    varIdent) -- the depth model at one grid point (the script is r_nlme_depth.R)."""
    ref = json.loads((REF / "r_nlme_depth.json").read_text())
    y, ph, L = np.array(ref["y"]), ref["phase"], np.array(ref["L"], dtype=int)
    m = ref["models"][name]
    acf = _ref_acf(name, m["value"], int(L.max() - L.min()))
    got = profile_reml(y, ph, L, acf)
    assert got["loglik"] == pytest.approx(m["reml_loglik"], abs=1e-8)
    for p in ("A", "C", "E"):
        # nlme estimates the varIdent ratios by optimisation (tolerance ~1e-7)
        assert got["sd"][p] == pytest.approx(m["sd"][p], rel=1e-6)
    assert [got["level"][p] for p in ("A", "C", "E")] == pytest.approx(m["levels"], abs=1e-10)
    # the correlation matrix of phase C (12 pairs with a gap in L) is nlme's
    rows = np.flatnonzero(np.asarray(ph) == "C")
    lag = np.abs(L[rows][:, None] - L[rows][None, :])
    assert acf[lag] == pytest.approx(np.array(m["corr_C"]), abs=1e-12)


@pytest.mark.parametrize("ar,ma", [([0.5], []), ([0.3, 0.2], []), ([], [0.6]),
                                   ([0.7], [-0.3]), ([0.2, 0.5], []), ([-0.4], [])])
def test_autocorrelations_match_statsmodels(ar, ma):
    from statsmodels.tsa.arima_process import arma_acf
    ref = arma_acf(np.r_[1, -np.array(ar)], np.r_[1, np.array(ma)], lags=30)
    if not ma:
        name, val = ("ar1", ar) if len(ar) == 1 else ("ar2", ar)
    elif not ar:
        name, val = "ma1", ma
    else:
        name, val = "arma11", ar + ma
    assert _ref_acf(name, val, 29) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("d", [0.1, 0.3, 0.45])
def test_fractional_noise_acf_closed_form(d):
    # Hosking (1981): rho_k = Gamma(k + d) Gamma(1 - d) / (Gamma(k - d + 1) Gamma(d))
    k = np.arange(1, 40)
    ref = np.exp(special.gammaln(k + d) + special.gammaln(1 - d) - special.gammaln(k - d + 1)
                 - special.gammaln(d))
    got = dm.correlation._acf_fd(np.array([[d]]), 39)[0]
    assert got[0] == 1 and got[1:] == pytest.approx(ref, rel=1e-10)


def test_whitening_is_statsmodels_gls():
    """y'P y and the GLS level of one block equal statsmodels GLS with sigma = R."""
    import statsmodels.api as sm
    rng = np.random.default_rng(1)
    layers = np.array([0, 1, 2, 4, 5, 6, 7, 9, 10, 11])
    y = rng.standard_normal(10)
    grid = dm.correlation.correlation_grid(("ar2",), 11)
    b = dm.fit.build_block("X", np.arange(10), layers, grid)
    wy, mu, q = dm.fit.whiten(y[None, :], b)
    for g in (0, 37, 200, 255):
        R = grid.acf[g][np.abs(layers[:, None] - layers[None, :])]
        res = sm.GLS(y, np.ones(10), sigma=R).fit()
        # (the 1e-10 jitter on the diagonal of R moves ill-conditioned grid points by ~1e-8)
        assert q[0, g] == pytest.approx(res.ssr, rel=1e-6)
        assert mu[0, g] == pytest.approx(res.params[0], rel=1e-6)
        # Var(arithmetic mean) / sigma^2 = 1'R1 / n^2
        assert b.v[g] == pytest.approx(R.sum() / 100, rel=1e-8)   # (1e-10 diagonal jitter)


# --------------------------------------------------------------------------- behaviour


def _sweep(seed=0, rho=0.5, shift=0.0, n_layers=64):
    lay = Layout.from_map(n_layers, "E" if n_layers != 36 else "D", "C")
    y = scenario(f"ar1-{rho:g}").draw(lay, 1, np.random.default_rng(seed)).y[0]
    y = y + shift * (np.asarray(lay.phases) == lay.late)
    return y, lay


def test_contrast_api_is_consistent():
    y, lay = _sweep(3, shift=4.0)
    fit = fit_depth(y, lay.phases, lay.layers)
    c = fit.contrast({"E": 1, "C": -1})
    assert c.estimate == pytest.approx(y[lay.rows("E")].mean() - y[lay.rows("C")].mean())
    lo, hi = c.interval(0.95)
    assert lo < c.estimate < hi
    # the bounds are where the one-sided p-values equal 0.025
    assert c.p_greater(lo) == pytest.approx(0.025, abs=1e-9)
    assert c.p_less(hi) == pytest.approx(0.025, abs=1e-9)
    assert c.p_greater(0.0) < 0.05 and c.p_less(0.0) > 0.5
    t = c.tost(-0.1, 0.1, 0.05)
    assert not t.equivalent and t.pvalue == max(t.p_lower, t.p_upper)
    wide = c.tost(lo - 1, hi + 1, 0.05)
    assert wide.equivalent and wide.ci_low > lo and wide.ci_high < hi   # 90% inside 95%
    # the smallest detectable difference grows with the power asked for
    assert 0 < c.mdd(0.05, 0.5) < c.mdd(0.05, 0.8) < c.mdd(0.05, 0.95)
    # TOST power at 0 for margins far out is ~1, for margins inside the noise ~0
    assert c.tost_power(-50 * c.se, 50 * c.se, 0.05) > 0.99
    assert c.tost_power(-0.1 * c.se, 0.1 * c.se, 0.05) == 0.0
    assert fit.contrast({"E": 1, "B": 0}) is not None
    assert fit.contrast({"nope": 1}) is None


def test_phase_mean_contrast_and_report_fields():
    y, lay = _sweep(4)
    fit = fit_depth(y, lay.phases, lay.layers)
    assert fit.method == "reml-bma" and fit.phases == ("A", "B", "C", "D", "E", "tail")
    assert fit.n == {"A": 7, "B": 3, "C": 22, "D": 15, "E": 12, "tail": 4}
    assert fit.mean["C"] == pytest.approx(y[lay.rows("C")].mean())
    json.dumps(fit.detail)                                  # JSON-able
    assert sum(fit.detail["families"].values()) == pytest.approx(1.0)
    assert "lag-1 corr" in fit.summary and "n_eff" in fit.summary
    assert fit.check.passed and "Ljung-Box" in fit.check.message
    assert all(r.startswith(("Patterson", "Hoeting", "Hosking", "Barndorff", "Hampel",
                             "Satterthwaite", "Hall", "Schuirmann", "Ljung"))
               for r in fit.references)


def test_same_data_same_numbers_and_no_randomness():
    y, lay = _sweep(5)
    a = fit_depth(y, lay.phases, lay.layers, rng=np.random.default_rng(1))
    b = fit_depth(y.copy(), list(lay.phases), lay.layers, rng=7)
    ca, cb = a.contrast({"E": 1, "C": -1}), b.contrast({"E": 1, "C": -1})
    assert ca.interval(0.95) == cb.interval(0.95) and a.detail == b.detail


def test_missing_pairs_and_gaps():
    """A NaN pair is left out and the correlation uses the distance in L across the gap:
    same fit as giving the remaining pairs with their L."""
    y, lay = _sweep(6)
    y2 = y.copy()
    y2[30] = np.nan
    keep = np.arange(len(y)) != 30
    a = fit_depth(y2, lay.phases, lay.layers)
    b = fit_depth(y[keep], np.asarray(lay.phases)[keep], lay.layers[keep])
    assert a.n["C"] == 21
    assert a.contrast({"E": 1, "C": -1}).interval(0.9) == b.contrast({"E": 1, "C": -1}).interval(0.9)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="same length"):
        fit_depth(np.zeros(5), ["A"] * 4, np.arange(5))
    with pytest.raises(ValueError, match="increasing"):
        fit_depth(np.zeros(3), ["A"] * 3, [0, 2, 1])
    with pytest.raises(ValueError, match="known_var"):
        fit_depth(np.zeros(3), ["A"] * 3, [0, 1, 2], known_var=[-1, 0, 0])


def test_known_variance_is_a_floor():
    """With constant-ish data the estimated variance is tiny; the known measurement
    variance keeps each phase mean's variance at least mean(known_var) / n."""
    y, lay = _sweep(7)
    y = y * 1e-6
    kv = np.full(len(y), 0.04)
    c = fit_depth(y, lay.phases, lay.layers, known_var=kv).contrast({"E": 1})
    assert c.se == pytest.approx(math.sqrt(0.04 / 12), rel=1e-9)


def test_one_outlier_does_not_decide_the_dependence():
    """Issue 13, defect 3 for the new default: a 10-sd pair in phase D (not compared) must not
    pull the lag-1 correlation to 0 and shrink the E - C interval."""
    lay = Layout.from_map(64, "E", "C")
    ys = scenario("ar1-0.7").draw(lay, 20, np.random.default_rng(8)).y
    drop, ratio = [], []
    for y in ys:
        a = fit_depth(y, lay.phases, lay.layers)
        z = y.copy()
        z[lay.rows("D")[7]] += 10.0
        b = fit_depth(z, lay.phases, lay.layers)
        drop.append(a.detail["lag1"] - b.detail["lag1"])
        ratio.append(b.contrast({"E": 1, "C": -1}).se / a.contrast({"E": 1, "C": -1}).se)
    assert np.median(drop) < 0.05 and np.median(ratio) > 0.95 and min(ratio) > 0.75


def test_model_check_fails_and_falls_back_on_a_misfit():
    """A period-4 pattern (correlation -1 at lag 2, +1 at lag 4) fits none of the families:
    the Ljung-Box check rejects and the fallback widens the interval."""
    lay = Layout.from_map(64, "E", "C")
    rng = np.random.default_rng(9)
    y = np.tile([1.0, 0.0, -1.0, 0.0], 16)[:63] + 0.2 * rng.standard_normal(63)
    fit = fit_depth(y, lay.phases, lay.layers)
    assert not fit.check.passed and fit.check.fallback and fit.check.pvalue < dm.CHECK_LEVEL
    plain = fit_depth(y, lay.phases, lay.layers, check=False)
    assert (fit.contrast({"E": 1, "C": -1}).interval(0.95)[1]
            > plain.contrast({"E": 1, "C": -1}).interval(0.95)[1])


def test_skew_correction_widens_towards_the_long_tail():
    """Right-skewed data: the skewness-corrected bound moves the upper end of the interval up
    (Hall 1992) and the union keeps the uncorrected lower end."""
    lay = Layout.from_map(64, "E", "C")
    z = scenario("skewed").draw(lay, 1, np.random.default_rng(10)).y[0]
    a = fit_depth(z, lay.phases, lay.layers).contrast({"E": 1})
    b = fit_depth(z, lay.phases, lay.layers, skew=False).contrast({"E": 1})
    (alo, ahi), (blo, bhi) = a.interval(0.95), b.interval(0.95)
    assert ahi >= bhi and alo <= blo + 1e-12


def test_hall_transformation_is_monotone():
    t = np.linspace(-50, 50, 10001)
    for a0, a2 in ((0.1, 0.3), (-0.2, -0.5), (0.0, 1.0)):
        assert np.all(np.diff(dm.distributions.hall(t, a0, a2)) >= 0)


# --------------------------------------------------------------------------- reduced simulation


@pytest.mark.parametrize("name,n_layers", [("ar1-0.5", 64), ("ma1-shared", 36),
                                           ("hetero-late", 28), ("outlier-other", 64)])
def test_reduced_calibration(name, n_layers):
    """200 replicates of one bank cell (Monte Carlo SE 0.015 for a size of 0.05): size <= 0.10,
    coverage of the E - C interval >= 0.90 -- loose bounds, about 3 SE beyond the targets;
    the full study is `gaugetest calibrate` (docs/calibration.md)."""
    from gaugetest.studies.calibration import Cell, calibrate
    late = "D" if n_layers == 36 else "E"
    cell = Cell(scenario(name), Layout.from_map(n_layers, late, "C"))
    c = calibrate([cell], ("reml-bma", "iid"), reps=200, seed=13)[cell.key]
    assert c.rate("reml-bma", "size") <= 0.10
    assert c.rate("reml-bma", "cover_diff") >= 0.90
    assert c.rate("reml-bma", "tost") <= 0.10
    assert c.rate("reml-bma", "power") > 0.2


def test_interval_bounds_equal_brentq_roots():
    """The interval bounds are roots of the monotone one-sided p-value functions: the bound's
    own bracketing (around the t approximation) finds the root that scipy's brentq finds on a
    bracket of +-5 standard errors set here, to 1e-9 standard errors, and the one-sided
    p-value at each bound is the tail probability asked for."""
    from scipy.optimize import brentq

    rng = np.random.default_rng(11)
    lay = Layout.from_map(64, "E", "C")
    for _ in range(5):
        y = rng.gamma(1.0, 0.01, 63) + 0.005 * rng.standard_normal(63)
        fit = fit_depth(y, lay.phases, lay.layers)
        for w in ({"E": 1, "C": -1}, {"C": 1}):
            c = fit.contrast(w)
            for level in (0.9, 0.95):
                a = (1 - level) / 2
                lo, hi = c.interval(level)
                rlo = brentq(lambda x: c.p_greater(x) - a, lo - 5 * c.se, lo + 5 * c.se,
                             xtol=1e-15, rtol=1e-15)
                rhi = brentq(lambda x: c.p_less(x) - a, hi - 5 * c.se, hi + 5 * c.se,
                             xtol=1e-15, rtol=1e-15)
                assert abs(lo - rlo) < 1e-9 * c.se and abs(hi - rhi) < 1e-9 * c.se
                assert c.p_greater(lo) == pytest.approx(a, rel=1e-8)
                assert c.p_less(hi) == pytest.approx(a, rel=1e-8)


# --------------------------------------------------------------------------- TOST rules


@pytest.mark.parametrize("check", [True, False])
def test_tost_rules_against_a_direct_computation(check):
    """The TOST rules of docs/tost-study.md on one fit (AR(1) 0.9, 28 layers), no skewness
    correction, for the E mean (one phase: every grid point's df is n_E - 1): each rule's
    p-value against scipy.stats.t on the grid points computed here from the fit's posterior
    weights, scales and variance factors -- the largest standard error inside the 95%
    likelihood region ("region"), the posterior 90% quantile of the standard error
    ("quantile"), the df shrunk by the posterior variance of log se^2 ("inflated-df"),
    the same mixture at half the level ("level"). With ``check`` the fit is forced through the
    model check's fallback, which every rule keeps."""
    import dataclasses

    from scipy import stats

    lay = Layout.from_map(28, "E", "C")
    y = scenario("ar1-0.9").draw(lay, 1, np.random.default_rng(31)).y[0]
    batch = fit_depth(y, lay.phases, lay.layers)._batch
    if check:
        batch = dataclasses.replace(batch, fallback=np.ones(1, dtype=bool))
    m = len(lay.rows("E"))
    est = y[lay.rows("E")].mean()
    w, ll = batch.w[0], batch.ll[0]
    se = np.sqrt(batch.s2["E"][0] * batch.v["E"][0])
    inside = ll >= ll.max() - dm.REGION_DROP
    region = se[np.where(inside, se, -np.inf).argmax()]
    order = np.argsort(se, kind="stable")
    quant = se[order][min(np.searchsorted(np.cumsum(w[order]), 0.9), len(se) - 1)]
    lv = np.log(se ** 2)
    df_inf = 2 / (2 / (m - 1) + np.sum(w * (lv - np.sum(w * lv)) ** 2))
    for x in (est - 2 * region, est - region, est + 0.5 * region):
        def p_point(s, df=m - 1):
            return stats.t.sf((est - x) / s, df)
        want = {"region": p_point(region), "quantile": p_point(quant),
                "inflated-df": float(np.sum(w * stats.t.sf((est - x) / se, df_inf))),
                "level": 2 * float(np.sum(w * stats.t.sf((est - x) / se, m - 1)))}
        if check:           # the fallback's point, whatever the rule
            want = dict.fromkeys(want, p_point(region))
            want["level"] *= 2
        for rule, ref in want.items():
            mix, factor = dm.tost_mixture(batch, {"E": 1.0}, rule, skew=False)
            got = float(mix.p_greater(np.array([x]))[0]) / factor
            # merged components (se within a few percent, _compress) for the mixtures
            tol = 2e-3 if rule in ("inflated-df", "level") and not check else 1e-10
            assert got == pytest.approx(ref, rel=tol, abs=1e-12), (rule, x, got, ref)
    with pytest.raises(ValueError, match="unknown TOST rule"):
        dm.tost_mixture(batch, {"E": 1.0}, "nope")


def test_tost_rule_through_fit_depth():
    """fit_depth(tost_rule=...) reaches Contrast.tost: with the region rule (no skewness
    correction) the TOST interval is the t interval of the largest-variance grid point inside
    the 95% likelihood region, est +- t_{0.95, n_E - 1} se (scipy.stats.t, se computed here);
    the level rule reports its (1 - alpha) interval as such; the test's own interval and
    p-values do not change with the rule; an unknown rule is a ValueError."""
    from scipy import stats

    lay = Layout.from_map(28, "E", "C")
    y = scenario("ar1-0.9").draw(lay, 1, np.random.default_rng(32)).y[0]
    base = fit_depth(y, lay.phases, lay.layers, skew=False)
    region = fit_depth(y, lay.phases, lay.layers, skew=False, tost_rule="region")
    b = region._batch
    se = np.sqrt(b.s2["E"][0] * b.v["E"][0])
    inside = b.ll[0] >= b.ll[0].max() - dm.REGION_DROP
    s_max = se[np.where(inside, se, -np.inf).argmax()]
    m = len(lay.rows("E"))
    est = y[lay.rows("E")].mean()
    t = region.contrast({"E": 1.0}).tost(-0.5, 0.5, 0.05)
    half = stats.t.ppf(0.95, m - 1) * s_max
    assert (t.ci_low, t.ci_high) == pytest.approx((est - half, est + half), rel=1e-8)
    assert t.ci_level == pytest.approx(0.9)
    assert t.p_lower == pytest.approx(stats.t.sf((est + 0.5) / s_max, m - 1), rel=1e-9)
    c0, c1 = base.contrast({"E": 1.0}), region.contrast({"E": 1.0})
    assert c0.interval(0.95) == c1.interval(0.95) and c0.p_greater(0.1) == c1.p_greater(0.1)
    lvl = fit_depth(y, lay.phases, lay.layers, tost_rule="level").contrast({"E": 1.0})
    tl = lvl.tost(-0.5, 0.5, 0.05)
    assert tl.ci_level == pytest.approx(0.95)
    assert (tl.ci_low, tl.ci_high) == pytest.approx(lvl.interval(0.95), rel=1e-12)
    assert fit_depth(y, lay.phases, lay.layers).contrast({"E": 1.0}).tost(-0.5, 0.5, 0.05) \
        == fit_depth(y, lay.phases, lay.layers, tost_rule="mixture").contrast({"E": 1.0}).tost(
            -0.5, 0.5, 0.05)
    with pytest.raises(ValueError, match="unknown TOST rule"):
        fit_depth(y, lay.phases, lay.layers, tost_rule="nope")
