"""Issue 17, round 2: a filtered spike counted once, the GLS estimand (``--estimand gls``) and
the exact-design size of the calibrated rule at every grid point (``studies.exact_size``).

References: the Hampel filter's output and ``profile_reml`` (an independent whitening of the
filtered data) for the spike-once scale; ``statsmodels.GLS`` with the grid point's correlation
matrix for a GLS phase level and its variance, and ``numpy.linalg.solve`` for the covariance of
two phases' GLS levels; plain Monte Carlo counting (0/1 rejections of the full test on the
simulated data, a different seed) for the Rao-Blackwellised size of a grid point, within 4
Monte Carlo SE; the independence of c'beta_GLS and c'(ybar - beta_GLS) (Basu's theorem) by
their sample correlation.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from gaugetest.inference.dependence import hampel_clip
from gaugetest.inference.depth_model import (design_for, fit_batch, fit_depth, mixture,
                                             profile_reml)
from gaugetest.inference.depth_model.correlation import FAMILIES

PHASES = ("A",) * 6 + ("C",) * 14 + ("E",) * 10
N = len(PHASES)


def _design():
    return design_for(tuple(range(N)), PHASES, FAMILIES, True)


def test_spike_counts_once():
    """With spikes_once the phase scale is the filtered data's (profile_reml on the filtered
    column at the same grid point) and the spike adds (y - filtered)^2 / m^2 once to the
    variance of its phase mean; the mean keeps the spike."""
    rng = np.random.default_rng(4)
    y = rng.standard_normal(N)
    y[12] += 12.0                                  # one wild pair in C
    d = _design()
    b = fit_batch(y[None, :], d, spikes_once=True)
    yh = hampel_clip(y, PHASES, c=4.0)
    assert yh[12] != y[12] and np.sum(yh != y) == 1
    rows = np.flatnonzero(np.asarray(PHASES) == "C")
    assert b.spike["C"][0] == pytest.approx((y[12] - yh[12]) ** 2 / len(rows) ** 2, rel=1e-12)
    assert b.spike["E"][0] == 0.0
    g = int(b.idx[0, 0])
    ref = profile_reml(yh, PHASES, np.arange(N), d.grid.acf[g])
    assert np.sqrt(b.s2["C"][0, 0]) == pytest.approx(ref["sd"]["C"], rel=1e-9)
    assert b.means["C"][0] == pytest.approx(y[rows].mean(), rel=1e-12)
    # the contrast's variance at the top grid point: s2 v + spike, nothing else for one phase
    mix = mixture(b, {"C": 1.0}, raw=True)
    want = b.s2["C"][0, 0] * b.v["C"][0, 0] + b.spike["C"][0]
    assert mix.se[0, 0] ** 2 == pytest.approx(want, rel=1e-9)
    # without the option the spike sits in the scale, which the variance factor multiplies
    b0 = fit_batch(y[None, :], d)
    assert not b0.spike and b0.s2["C"][0, 0] > 5 * b.s2["C"][0, 0]


def test_gls_level_against_statsmodels():
    """A phase's GLS level at a grid point and its variance factor 1 / 1'R^-1 1 are those of
    statsmodels.GLS(y, 1, sigma=R); the covariance factor of two phases' levels is
    a_P' R_PQ a_Q with a = R^-1 1 / 1'R^-1 1 (numpy.linalg.solve)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(5)
    y = rng.standard_normal(N) + np.repeat([0.0, 1.0, 2.0], [6, 14, 10])
    d = _design()
    b = fit_batch(y[None, :], d)
    acf = d.grid.acf
    for k in range(3):
        g = int(b.idx[0, k])
        for p in ("C", "E"):
            rows = np.flatnonzero(np.asarray(PHASES) == p)
            R = acf[g][np.abs(rows[:, None] - rows[None, :])]
            fit = sm.GLS(y[rows], np.ones(len(rows)), sigma=R).fit()
            assert b.gls[p][0, k] == pytest.approx(fit.params[0], abs=1e-9)
            blk = d.block(p)
            xtx = float(np.ones(len(rows)) @ np.linalg.solve(R, np.ones(len(rows))))
            assert blk.vg[g] == pytest.approx(1 / xtx, rel=1e-8)
        rc = np.flatnonzero(np.asarray(PHASES) == "C")
        re_ = np.flatnonzero(np.asarray(PHASES) == "E")
        Rc = acf[g][np.abs(rc[:, None] - rc[None, :])]
        Re = acf[g][np.abs(re_[:, None] - re_[None, :])]
        ac = np.linalg.solve(Rc, np.ones(len(rc)))
        ae = np.linalg.solve(Re, np.ones(len(re_)))
        ac, ae = ac / ac.sum(), ae / ae.sum()
        want = ac @ acf[g][np.abs(rc[:, None] - re_[None, :])] @ ae
        assert d.cross("C", "E", "gls")[g] == pytest.approx(want, rel=1e-8, abs=1e-12)


def test_gls_estimand_fit_depth():
    """The GLS contrast's estimate is the posterior mean of the grid points' GLS contrasts;
    the arithmetic-mean fit is unchanged by the option's existence; a bad estimand fails."""
    rng = np.random.default_rng(6)
    y = rng.standard_normal(N) * 0.1
    fm = fit_depth(y, PHASES, np.arange(N), method="reml-cal")
    fg = fit_depth(y, PHASES, np.arange(N), method="reml-cal", estimand="gls")
    cm, cg = fm.contrast({"E": 1, "C": -1}), fg.contrast({"E": 1, "C": -1})
    rows_e = np.flatnonzero(np.asarray(PHASES) == "E")
    rows_c = np.flatnonzero(np.asarray(PHASES) == "C")
    assert cm.estimate == pytest.approx(y[rows_e].mean() - y[rows_c].mean(), rel=1e-12)
    b = fg._batch
    want = float(np.sum(b.w[0] * (b.gls["E"][0] - b.gls["C"][0])))
    assert cg.estimate == pytest.approx(want, rel=1e-10)
    lo, hi = cg.interval(0.95)
    assert lo < cg.estimate < hi
    with pytest.raises(ValueError):
        fit_depth(y, PHASES, np.arange(N), estimand="median")


def test_estimand_option_names_every_output(tmp_path):
    """--estimand gls: the analysis is named 'robust (reml-cal, GLS levels)' in the headline
    and the JSON (robust.name, robust.estimand, settings.estimand, the description); the
    default names nothing new; only the depth model takes it."""
    from gaugetest.cli import main
    from gaugetest.errors import UsageError
    from gaugetest.settings import validate_settings
    from gaugetest.studies.synthetic import demo_sweeps
    null, aligned = demo_sweeps(36)
    paths = []
    for name, obj in (("null", null), ("aligned", aligned)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(obj))
        paths.append(str(p))
    out = tmp_path / "r.json"
    rep = tmp_path / "r.md"
    assert main(["test", *paths, "--estimand", "gls", "--json", str(out), "--report", str(rep),
                 "--n-boot", "200", "--n-perm", "500"]) == 0
    doc = json.loads(out.read_text())
    assert doc["settings"]["estimand"] == "gls"
    assert doc["robust"]["estimand"] == "gls"
    assert doc["robust"]["name"] == "robust (reml-cal, GLS levels)"
    assert doc["robust"]["description"].startswith("Phase levels are GLS estimates")
    assert "GLS phase levels" in doc["robust"]["interval_method"]
    assert "GLS levels" in rep.read_text()
    with pytest.raises(UsageError):
        validate_settings(dependence="neff", estimand="gls")
    with pytest.raises(UsageError):
        validate_settings(estimand="trimmed")


def test_rao_blackwell_size_matches_counting():
    """The Rao-Blackwellised size of the calibrated rule at one grid point (AR(1) 0.53 of the
    compact grid) agrees with counting the full test's rejections on the same kind of data
    (a different seed), within 4 Monte Carlo SE of the count; c'beta_GLS is uncorrelated with
    m = c'(ybar - beta_GLS) (Basu)."""
    from gaugetest.inference.depth_model import CalibratedMixture
    from gaugetest.inference.depth_model.calibrate import (calibration_for, null_sweeps,
                                                           power_mean)
    from gaugetest.studies import exact_size as ex
    d = _design()
    w = {"E": 1.0, "C": -1.0}
    g = 8                                             # AR(1), lag-1 0.533
    reps = 600
    rng = np.random.default_rng(11)
    L = d.layers
    C = np.linalg.cholesky(d.grid.acf[g][np.abs(L[:, None] - L[None, :])] + 1e-10 * np.eye(N))
    Y = rng.standard_normal((reps, N)) @ C.T
    b = fit_batch(Y, d, spikes_once=True)
    mix = mixture(b, w, bins=16)
    cal = calibration_for(d, spikes_once=True)
    lam = power_mean(b.w, b.idx, cal.factors(w), 8.0)
    m, s = ex.gls_parts(d, g, w, Y)
    one = ex.GridSims(1, reps, m, np.full(reps, s), ex.critical_distances(mix, "up"),
                      ex.critical_distances(mix, "lo"), b.w, b.idx, cal.factors(w))
    _, size_rb, _ = ex.rates(one, lam)
    # plain counting with the full (calibrated) test on independent data
    Y2 = np.random.default_rng(12).standard_normal((4000, N)) @ C.T
    b2 = fit_batch(Y2, d, spikes_once=True)
    cm = CalibratedMixture(mixture(b2, w, bins=16),
                           power_mean(b2.w, b2.idx, cal.factors(w), 8.0))
    count = float(np.mean(cm.p_greater(np.zeros(4000)) < 0.05))
    se = np.sqrt(count * (1 - count) / 4000) + np.sqrt(0.05 * 0.95 / reps) / 2
    assert abs(size_rb[0] - count) < 4 * se
    est = Y2 @ np.array([(np.asarray(PHASES) == "E") / 10 - (np.asarray(PHASES) == "C") / 14]).T
    m2, s2 = ex.gls_parts(d, g, w, Y2)
    gls_part = est[:, 0] - m2
    assert abs(np.corrcoef(gls_part, m2)[0, 1]) < 4 / np.sqrt(4000)
    assert np.std(gls_part) == pytest.approx(s2, rel=4 / np.sqrt(2 * 4000))


def test_shared_dependence_fit_is_named_by_what_it_is():
    """A column fitted on issue 18's shared dependence model (full grid, not calibrated) is
    reml-bma's fit whatever method is asked, and says so (DepthFit.method, the description has
    no calibration sentence); without ``shared`` reml-cal is calibrated and names its bound."""
    from gaugetest.inference.depth_model.shared import shared_dependence
    rng = np.random.default_rng(8)
    series = [(f"m{k}", rng.standard_normal(N), PHASES, np.arange(N)) for k in range(2)]
    shared = shared_dependence(series)
    y = series[0][1]
    sh = fit_depth(y, PHASES, np.arange(N), method="reml-cal", shared=shared)
    own = fit_depth(y, PHASES, np.arange(N), method="reml-cal")
    assert sh.method == "reml-bma" and "shared" in sh.detail
    assert "calibrated for the exact layout" not in sh.description
    assert own.method == "reml-cal" and "persistence_bound" in own.detail
    assert "calibrated for the exact layout" in own.description
