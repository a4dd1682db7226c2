"""The calibrated depth model ``reml-cal`` (issue 17): compact grid within the persistence
bound, design-exact calibration of the mixture's p-values, the held-out scenarios, the report's
target table.

References: the p-value map 1 - Phi(Phi^-1(1 - p) / lambda) against scipy.stats.norm; the
compact grid's lag-1 correlations against the families' closed forms (AR(1): phi; MA(1): theta;
AR(2): phi1 / (1 - phi2); ARMA(1,1): its rho_1 parameter; ARFIMA: d / (1 - d), Hosking 1981);
the calibration factor of a grid point against an independent simulation of the same statistic
(a different seed: the factor is a property of the design, not of the draw); size and coverage
by simulation with bounds of about 3 Monte Carlo SE beyond the targets; the bundled symmetry
sweep against tests/data byte for byte (sha256).
"""
from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest
from scipy import stats

from gaugetest.inference.depth_model import (PERSISTENCE_BOUND, CalibratedMixture,
                                             calibration_for, design_for, fit_batch, fit_depth,
                                             mixture, persistence_text)
from gaugetest.inference.depth_model.calibrate import layout_seed
from gaugetest.inference.depth_model.correlation import FAMILIES, family_params
from gaugetest.studies.scenarios import HELD_OUT, Layout, scenario

PHASES = ["A"] * 4 + ["C"] * 10 + ["D"] * 8 + ["E"] * 5      # 27 pairs, 28 layers-like


def test_calibrated_p_values_are_the_normal_scale_map():
    """p' = 1 - Phi(Phi^-1(1 - p) / lambda) per replicate (scipy.stats.norm), for both tails;
    lambda = 1 is the identity."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((3, 27))
    d = design_for(tuple(range(27)), tuple(PHASES), FAMILIES, True)
    b = fit_batch(y, d)
    base = mixture(b, {"E": 1.0, "C": -1.0})
    x = np.array([-0.3, 0.1, 0.4])
    lam = np.array([1.0, 0.8, 1.4])
    cm = CalibratedMixture(base, lam)
    for side in ("p_greater", "p_less"):
        p0 = getattr(base, side)(x)
        want = stats.norm.sf(stats.norm.isf(p0) / lam)
        assert np.allclose(getattr(cm, side)(x), want, rtol=1e-10, atol=1e-14)
    assert np.allclose(CalibratedMixture(base, np.ones(3)).p_greater(x), base.p_greater(x),
                       rtol=1e-12)


def test_compact_grid_lies_inside_the_persistence_bound():
    lag1 = {"ar1": lambda p: p[:, 0], "ma1": lambda p: p[:, 0],
            "ar2": lambda p: p[:, 0] / (1 - p[:, 1]), "arma11": lambda p: p[:, 1],
            "fd": lambda p: p[:, 0] / (1 - p[:, 0])}
    n = 0
    for f in FAMILIES:
        p = family_params(f, True)
        assert len(p) > 0
        assert np.all(lag1[f](p) <= PERSISTENCE_BOUND + 1e-12)
        n += len(p)
    assert n == len(design_for(tuple(range(27)), tuple(PHASES), FAMILIES, True).grid.log_prior)
    assert f"{PERSISTENCE_BOUND:g}" in persistence_text()


def test_calibration_is_a_property_of_the_design():
    """Same layout, same calibration (seeded from the layout, not from --seed); another layout,
    another seed; the factor of a white-noise grid point agrees with an independent simulation
    of the same statistic (400 sweeps, other seed) within the Monte Carlo error of both."""
    d = design_for(tuple(range(27)), tuple(PHASES), FAMILIES, True)
    d2 = design_for(tuple(range(28)), tuple(PHASES + ["E"]), FAMILIES, True)
    assert layout_seed(d).entropy == layout_seed(d).entropy
    assert layout_seed(d).spawn_key == layout_seed(d2).spawn_key == ()
    assert layout_seed(d).entropy != layout_seed(d2).entropy
    cal = calibration_for(d)
    lam = cal.factors({"E": 1.0, "C": -1.0})
    assert lam.shape == (len(d.grid.log_prior),) and np.all(lam > 0)
    # the grid point of white noise (ARFIMA d = 0: every correlation 0)
    g0 = int(np.flatnonzero(np.all(np.abs(d.grid.acf[:, 1:]) < 1e-12, axis=1))[0])
    y = np.random.default_rng(99).standard_normal((400, 27))
    b = fit_batch(y, d)
    m = mixture(b, {"E": 1.0, "C": -1.0})
    z = stats.norm.isf(np.clip(m.p_greater(np.zeros(400)), 1e-300, 1))
    z2 = (np.clip(z, -5, 5) ** 2 + np.clip(stats.norm.isf(np.clip(m.p_less(np.zeros(400)),
                                                                   1e-300, 1)), -5, 5) ** 2) / 2
    ref = np.sqrt(z2.mean())
    # SE of an rms scale from n draws ~ lam / sqrt(2 n): 24 draws (cal) and 400 (ref)
    se = ref * np.sqrt(1 / (2 * cal.reps) + 1 / 800)
    assert abs(lam[g0] - ref) <= 4 * se


def test_fit_depth_reml_cal_is_deterministic_and_names_its_bound():
    rng = np.random.default_rng(1)
    y = rng.standard_normal(27) * 0.01
    a = fit_depth(y, PHASES, np.arange(27), method="reml-cal")
    b = fit_depth(y, PHASES, np.arange(27), method="reml-cal", rng=np.random.default_rng(5))
    ca, cb = a.contrast({"E": 1, "C": -1}), b.contrast({"E": 1, "C": -1})
    assert ca.interval(0.95) == cb.interval(0.95) and ca.p_greater(0) == cb.p_greater(0)
    assert a.method == "reml-cal"
    assert a.detail["persistence_bound"]["lag1_max"] == PERSISTENCE_BOUND
    assert persistence_text() in a.description
    # the API of Contrast holds (issue 21 reads p_less and the upper bound)
    lo, hi = ca.interval(0.90)
    assert abs(ca.p_less(hi) - 0.05) < 1e-8 and abs(ca.p_greater(lo) - 0.05) < 1e-8
    t = ca.tost(-0.05, 0.05, 0.05)
    assert t.ci_low == pytest.approx(lo) and t.ci_high == pytest.approx(hi)
    assert ca.mdd(0.05) > 0 and 0 <= ca.tost_power(-0.05, 0.05, 0.05) <= 1
    with pytest.raises(ValueError):
        fit_depth(y, PHASES, np.arange(27), method="nope")


@pytest.mark.parametrize("name,n_layers", [("ar1-0", 64), ("ar1-0.7", 28)])
def test_reduced_calibration_of_reml_cal(name, n_layers):
    """300 replicates (Monte Carlo SE 0.013 for a size of 0.05): size <= 0.09, coverage of
    every interval >= 0.90, TOST size <= 0.09, and on white noise at 64 layers the size is
    not wasted (>= 0.01, the 0.2.0 default's was 0.013-0.021 there) -- loose bounds about 3 SE
    beyond the targets; the full study is docs/calibration.md."""
    from gaugetest.studies.calibration import Cell, calibrate
    cell = Cell(scenario(name), Layout.from_map(n_layers, "E", "C"))
    c = calibrate([cell], ("reml-cal",), reps=300, seed=17)[cell.key]
    assert c.rate("reml-cal", "size") <= 0.09
    assert min(c.rate("reml-cal", k) for k in ("cover_early", "cover_late", "cover_diff")) >= 0.9
    assert c.rate("reml-cal", "tost") <= 0.09
    if name == "ar1-0":
        assert c.rate("reml-cal", "size") >= 0.01


@pytest.mark.parametrize("name", [s.name for s in HELD_OUT])
def test_held_out_scenarios_generate_their_covariance(name):
    """As the bank's test: the empirical covariance of 20000 draws against the stated one
    (6 Monte Carlo SE; 25 with the outlier pair, whose fourth moments are large; t3 with the
    outlier by batch medians of the correlations); phase means 0."""
    lay = Layout.from_map(36, "D", "C")
    sc = scenario(name)
    d = sc.draw(lay, 20000, np.random.default_rng(3))
    C = sc.covariance(lay)
    if name == "t3-outlier":
        # infinite fourth moments: compare averages over positions -- the mean square (AR(1)
        # unit variance + 10^2 / n from the outlier pair) and the lag-1, lag-2 products
        n = lay.n
        assert abs(np.mean(d.y ** 2) - np.mean(np.diag(C))) <= 0.25
        for k in (1, 2):
            emp = np.mean(d.y[:, k:] * d.y[:, :-k])
            assert abs(emp - np.mean(np.diag(C, k))) <= 0.05
        assert np.isclose(np.mean(np.diag(C)), 1 + 100 / n)
    else:
        E = np.cov(d.y.T)
        se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C ** 2) / 20000)
        assert np.all(np.abs(E - C) <= 6 * se + 1e-9)
    for p in lay.phase_order:
        m = d.y[:, lay.rows(p)].mean(axis=1)
        assert abs(m.mean()) <= 6 * m.std() / np.sqrt(len(m)) + 1e-9


def test_bundled_symmetry_sweep_is_the_test_data(repo_root=None):
    from pathlib import Path
    tests = Path(__file__).resolve().parent / "data"
    for kind in ("null", "aligned"):
        packaged = resources.files("gaugetest").joinpath(
            "data", f"smollm2-135m-symmetry-{kind}.json").read_bytes()
        stored = (tests / f"smollm2-symmetry-{kind}.json").read_bytes()
        assert hashlib.sha256(packaged).hexdigest() == hashlib.sha256(stored).hexdigest()
    from gaugetest.studies.real_residuals import real_residuals
    res = real_residuals("excess", "symmetry")
    assert set(res) == {"A", "C", "D", "E"} and len(res["E"]) == 5
    assert all(abs(r.mean()) < 1e-12 for r in res.values())


def test_target_table_counts_by_hand():
    """targets(): max/min size, coverage range, TOST size, power ratios from hand-made counts."""
    from gaugetest.studies.calibration import METRICS, Cell, Counts
    from gaugetest.studies.calibration_report import targets

    cells = [Cell(scenario("ar1-0"), Layout.from_map(28, "E", "C")),
             Cell(scenario("ar1-0.5"), Layout.from_map(28, "E", "C"))]
    tot = {}
    for cell, size, cov, pw in zip(cells, (2, 7), (95, 99), (60, 40)):
        d = dict.fromkeys(METRICS, 0)
        d.update(size=size, cover_early=cov, cover_late=96, cover_diff=97, power=pw,
                 oracle_power=80, mean_oracle_power=80, tost_power_early=70,
                 tost_power_late=65, tost_power_diff=75, tost_early_up=3)
        tot[cell.key] = Counts(100, {"m": d})
    t = targets(cells, tot, "m", 0.05)
    assert t["max_size"] == 0.07 and t["min_size"] == 0.02
    assert t["min_cov"] == 0.95 and t["max_cov"] == 0.99
    assert t["median_ratio"] == pytest.approx((0.75 + 0.5) / 2) and t["min_ratio"] == 0.5
    assert t["median_tost_power"] == 0.65 and t["max_tost"] == 0.03
    assert t["met"] == {"max_size": False, "min_size": False, "coverage": False,
                        "max_tost": True, "median_ratio": False, "min_ratio": True,
                        "median_tost_power": True}


def test_every_output_states_the_persistence_bound(tmp_path, capsys):
    """Text method line, JSON robust object, report Methods, LaTeX/Markdown captions: each
    states the bound, from the one source (PERSISTENCE_BOUND / persistence_text())."""
    import json
    from pathlib import Path

    from gaugetest.cli import main
    data = Path(__file__).resolve().parent / "data"
    argv = ["test", str(data / "smollm2-symmetry-null.json"),
            str(data / "smollm2-symmetry-aligned.json"), "--n-boot", "300", "--n-perm", "2000",
            "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.md"),
            "--latex", str(tmp_path / "t.tex"), "--markdown", str(tmp_path / "t.md")]
    assert main(argv) == 0
    bound = f"lag-1 correlation at most {PERSISTENCE_BOUND:g}"
    assert bound in " ".join(capsys.readouterr().out.split())
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["robust"]["method"] == "reml-cal"
    assert doc["robust"]["detail"]["persistence_bound"] == {"lag1_max": PERSISTENCE_BOUND,
                                                             "text": persistence_text()}
    assert bound in doc["robust"]["interval_method"]
    assert persistence_text() in (tmp_path / "r.md").read_text()
    tex = (tmp_path / "t.tex").read_text()
    assert f"lag-1 correlation at most ${PERSISTENCE_BOUND:g}$" in tex
    assert bound in (tmp_path / "t.md").read_text()
    # the 0.2.0 default names no bound it does not have
    argv[argv.index("--json") + 1] = str(tmp_path / "old.json")
    assert main(argv + ["--dependence", "reml-bma"]) == 0
    old = json.loads((tmp_path / "old.json").read_text())
    assert "persistence_bound" not in old["robust"]["detail"]
