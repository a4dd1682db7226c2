"""The scenario bank and the calibration study (gaugetest.studies.scenarios, gaugetest.studies.calibration).

References: each scenario's stated covariance against the empirical covariance of 20000 of
its draws (the generator and the oracle must agree); exact means (0 in every phase) by
construction; seeds and chunking checked by rerunning.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from gaugetest.studies.calibration import (TOST_POWER, TOST_SIZE, Cell, Counts, bank_cells,
                                           calibrate)
from gaugetest.studies.calibration_report import to_json, to_markdown
from gaugetest.studies.scenarios import BANK, Layout, scenario


@pytest.mark.parametrize("name", [s.name for s in BANK])
def test_scenario_covariance_is_what_it_generates(name):
    """Empirical covariance of 20000 draws vs the covariance the oracle uses: within 6 Monte
    Carlo SE (SE of a covariance ~ sqrt((s_ii s_jj + s_ij^2) / N), Gaussian fourth moments;
    the outlier scenarios' fourth moments are far larger: 25 SE; t3 by batch medians)."""
    lay = Layout.from_map(36, "D", "C")
    sc = scenario(name)
    d = sc.draw(lay, 20000, np.random.default_rng(3))
    C = sc.covariance(lay)
    if name == "t3":
        # infinite fourth moment: sample variances converge too slowly to test; the
        # correlations (C has a unit diagonal) are checked by their median over 20 batches
        E = np.median([np.corrcoef(b.T) for b in d.y.reshape(20, 1000, -1)], axis=0)
        assert np.allclose(np.diag(C), 1.0) and np.all(np.abs(E - C) <= 0.05)
    else:
        E = np.cov(d.y.T)
        se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C ** 2) / 20000)
        k = 25.0 if name.startswith("outlier") else 6.0
        assert np.all(np.abs(E - C) <= k * se + 1e-9)
    # every phase's mean is exactly 0 in expectation
    for p in lay.phase_order:
        m = d.y[:, lay.rows(p)].mean(axis=1)
        assert abs(m.mean()) <= 6 * m.std() / np.sqrt(len(m)) + 1e-9
    if name == "ar1+wn":
        assert d.known_var is not None and np.all(d.known_var > 0)


def test_real_residuals_come_from_the_bundled_sweep():
    from gaugetest.studies.scenarios import _real_source, real_residuals
    res = real_residuals("excess")
    assert set(res) == {"A", "C", "D", "E"} and len(res["C"]) == 10
    for r in res.values():
        assert abs(r.mean()) < 1e-12
    src = _real_source("delta")
    assert src.phase_sd["A"] > 2 * src.phase_sd["C"]     # real heteroscedasticity is kept


def test_cells_do_not_depend_on_jobs_on_other_cells_or_on_resuming(tmp_path):
    cells = bank_cells(["ar1-0.5", "hetero-late"], [(36, "D", "C")])
    methods = ("reml-bma", "neff", "iid")
    a = calibrate(cells, methods, reps=120, seed=4, jobs=1)
    b = calibrate(cells, methods, reps=120, seed=4, jobs=2)
    c = calibrate(cells[1:], methods, reps=120, seed=4, jobs=1)
    assert {k: v.to_dict() for k, v in a.items()} == {k: v.to_dict() for k, v in b.items()}
    assert c[cells[1].key].to_dict() == a[cells[1].key].to_dict()
    # a checkpoint with part of the chunks: the rest is run, the total is the same
    ck = tmp_path / "ck.jsonl"
    calibrate(cells[:1], methods, reps=120, seed=4, checkpoint=str(ck))
    lines = ck.read_text().splitlines()
    ck.write_text("\n".join(lines[:1]) + "\n{broken")             # interrupted mid-line
    d = calibrate(cells[:1], methods, reps=120, seed=4, checkpoint=str(ck))
    assert d[cells[0].key].to_dict() == a[cells[0].key].to_dict()


def test_report_and_json():
    cells = bank_cells(["ar1-0.3"], [(28, "E", "C")])
    methods = ("reml-bma", "iid")
    tot = calibrate(cells, methods, reps=50, seed=1)
    md = to_markdown(cells, tot, methods, reps=50, seed=1, alpha=0.05, power=0.8,
                     margin_se=3.0, command="gaugetest calibrate ...")
    assert "## Ranking by worst case" in md and "## Where `reml-bma` misses a target" in md
    assert "28 layers, E (5 pairs) vs C (9 pairs)" in md
    doc = to_json(cells, tot, {"methods": list(methods)})
    json.dumps(doc)
    assert doc["cells"][0]["counts"]["iid"]["cover_early"] <= 50


def test_iid_fails_and_the_default_holds_on_a_dependent_cell():
    """The bank discriminates: on AR(1) 0.7 at 64 layers the iid t test's size is far above
    0.05 while the default's stays near it (300 replicates; Monte Carlo SE 0.013)."""
    cell = Cell(scenario("ar1-0.7"), Layout.from_map(64, "E", "C"))
    c = calibrate([cell], ("reml-bma", "iid"), reps=300, seed=21)[cell.key]
    assert c.rate("iid", "size") > 0.15
    assert c.rate("reml-bma", "size") < 0.09
    assert c.rate("reml-bma", "cover_late") > 0.9 > c.rate("iid", "cover_late")
    # the oracle's power is the target power (effect chosen for it), within Monte Carlo error
    assert abs(c.rate("reml-bma", "oracle_power") - 0.8) < 0.08


def _t_tost_rates(n: int, k: float = 3.0, alpha: float = 0.05) -> tuple[float, float]:
    """Exact TOST size (truth on the upper margin) and power (truth 0) of the one-sample t
    TOST with margins +-k true standard errors, iid normal data: given u = s / sigma
    (u^2 ~ chi2(n-1)/(n-1)), equivalence is declared when
    -k + t u < z_bar < k - t u (z_bar the mean in true-se units, t the 1 - alpha quantile of
    t(n-1)); integrated over u with scipy.integrate.quad."""
    from scipy import integrate, stats

    t = stats.t.ppf(1 - alpha, n - 1)
    chi = stats.chi2(n - 1)

    def over_u(f):
        # u = sqrt(q / (n - 1)), q ~ chi2(n-1); the integrand is 0 once t u > k
        qmax = (k / t) ** 2 * (n - 1)
        return integrate.quad(lambda q: f(np.sqrt(q / (n - 1))) * chi.pdf(q), 0, qmax,
                              epsabs=1e-12)[0]

    size = over_u(lambda u: stats.norm.cdf(-t * u) - stats.norm.cdf(-2 * k + t * u))
    power = over_u(lambda u: 2 * stats.norm.cdf(k - t * u) - 1)
    return size, power


def test_tost_size_and_power_of_the_t_test_match_the_closed_form():
    """White noise (AR(1) 0) at 64 layers: for the iid method the EARLY (C, 22 pairs) and LATE
    (E, 12 pairs) TOSTs are one-sample t TOSTs, so their simulated size on the upper margin and
    power at truth 0 must match the exact integrals of _t_tost_rates (4000 replicates: within
    4 Monte Carlo SE)."""
    cell = Cell(scenario("ar1-0"), Layout.from_map(64, "E", "C"))
    reps = 4000
    c = calibrate([cell], ("iid",), reps=reps, seed=5)[cell.key]
    for target, n in (("early", 22), ("late", 12)):
        size, power = _t_tost_rates(n)
        for got, want in ((c.rate("iid", f"tost_{target}_up"), size),
                          (c.rate("iid", f"tost_power_{target}"), power)):
            assert abs(got - want) <= 4 * np.sqrt(want * (1 - want) / reps) + 1e-3, \
                (target, got, want)


def test_tost_size_is_the_worst_case_after_adding_chunks():
    """TOST size is the largest rate over targets and margins of the summed counts, and TOST
    power the smallest: two chunks whose worst case sits on different margins give 10/200, not
    the 20/200 a worst case per chunk would add up to (counts by hand)."""
    base = dict.fromkeys(TOST_SIZE + TOST_POWER, 0)
    a = {**base, "tost_early_up": 10, **dict.fromkeys(TOST_POWER, 50), "tost_power_diff": 30}
    b = {**base, "tost_early_lo": 10, **dict.fromkeys(TOST_POWER, 50), "tost_power_late": 30}
    tot = Counts()
    tot.add(Counts(100, {"m": a}))
    tot.add(Counts(100, {"m": b}))
    assert tot.rate("m", "tost") == 10 / 200
    assert tot.rate("m", "tost_power") == 80 / 200


def test_conservative_tost_rules_on_the_worst_cell():
    """AR(1) 0.9 at 28 layers (E: 5 pairs), the cell where the default's TOST is least valid
    (docs/tost-study.md): 300 replicates (Monte Carlo SE 0.02 at 0.15). The default's TOST size
    is far above 0.05; the inflated-df rule brings it near 0.05 and the region rule below it,
    each at a cost in TOST power; the other numbers are the default's."""
    cell = Cell(scenario("ar1-0.9"), Layout.from_map(28, "E", "C"))
    methods = ("reml-bma", "reml-bma-tost-idf", "reml-bma-tost-region")
    c = calibrate([cell], methods, reps=300, seed=8)[cell.key]
    assert c.rate("reml-bma", "tost") > 0.10
    assert c.rate("reml-bma-tost-idf", "tost") <= 0.09
    assert c.rate("reml-bma-tost-region", "tost") <= 0.05
    assert (c.rate("reml-bma", "tost_power") > c.rate("reml-bma-tost-idf", "tost_power")
            > c.rate("reml-bma-tost-region", "tost_power"))
    for k in ("size", "cover_early", "cover_diff", "power"):
        assert c.rate("reml-bma-tost-idf", k) == c.rate("reml-bma", k)


# --------------------------------------------------------------------------- across models


def test_across_bank_is_reproducible_and_order_free():
    """The across-models bank (issue 18): counts do not depend on --jobs or on the order of
    the rules; the oracle rejects at the power its effect was set for."""
    from gaugetest.studies.across import across_cells, calibrate_across

    cells = across_cells(["ar1-0.5"], (2,))
    a = calibrate_across(cells, ("im", "fe"), reps=200, seed=3)
    b = calibrate_across(cells, ("fe", "im"), reps=200, seed=3, jobs=2)
    key = cells[0].key
    assert a[key].by_method == b[key].by_method
    # the oracle's effect gives it power 0.8 by construction (z test, known variances)
    assert abs(a[key].rate("im", "oracle_power") - 0.8) < 4 * (0.8 * 0.2 / 200) ** 0.5


def test_calibrate_across_command(tmp_path, capsys):
    from gaugetest.cli import main

    out, js = tmp_path / "a.md", tmp_path / "a.json"
    assert main(["calibrate", "--across", "--scenarios", "ar1-0.3", "mixed", "--ks", "2",
                 "--methods", "im", "re-hm-sw", "--reps", "20", "--output", str(out),
                 "--json", str(js)]) == 0
    text = out.read_text()
    assert "## Ranking" in text and "`im`" in text and "mixed processes" in text
    assert "--across --scenarios ar1-0.3 mixed --ks 2" in text
    doc = json.loads(js.read_text())
    assert {c["process"] for c in doc["cells"]} == {"ar1-0.3", "mixed"}
    assert main(["calibrate", "--across", "--ks", "1"]) == 2
