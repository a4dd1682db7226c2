"""Property tests (hypothesis) on the loaders and the inference engines."""
from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaugetest import analyze
from gaugetest.verdict import LABELS
from gaugetest.inference.bootstrap import mean_ci
from gaugetest.io import STANDARD_FAMILIES
from gaugetest.inference.permutation import permutation_pvalue

FAST = dict(n_boot=100, n_perm=100)
cos = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def valid_sweeps(draw):
    n = draw(st.integers(2, 70))
    fams = draw(st.lists(st.sampled_from(STANDARD_FAMILIES + ("w1", "w2")), min_size=1,
                         max_size=5, unique=True))
    Ls = draw(st.lists(st.integers(0, n - 2), min_size=1, max_size=n - 1, unique=True))
    null = {"pair_results": [{"L": L, "L_next": L + 1,
                              "families": {f: {"cos": draw(cos)} for f in fams}} for L in Ls]}
    if draw(st.booleans()):
        null["num_layers"] = n
    ali_Ls = draw(st.lists(st.sampled_from(Ls), min_size=1, unique=True))
    aligned = {"num_layers": n,
               "aligned_cos": {f: {str(L): draw(cos) for L in ali_Ls} for f in fams}}
    return null, aligned


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_sweeps(), st.sampled_from(["bca", "percentile", "basic"]))
def test_random_valid_sweeps_never_crash(sweeps, ci):
    res = analyze(*sweeps, ci=ci, **FAST)
    doc = res.to_dict()
    assert doc["verdict"]["label"] in LABELS
    for r in doc["permutation"]:
        assert r["p_value"] is None or 0 < r["p_value"] <= 1
        if r["ci_low"] is not None and r["statistic"] is not None and r["ci_method"] == "percentile":
            assert r["ci_low"] - 1e-12 <= r["statistic"] <= r["ci_high"] + 1e-12
    for r in doc["phase_summary"]:
        if r["ci_low"] is not None and r["ci_method"] == "percentile":
            assert r["ci_low"] - 1e-12 <= r["mean"] <= r["ci_high"] + 1e-12


samples = st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=30)


@settings(max_examples=80, deadline=None)
@given(samples, st.integers(0, 2**32 - 1))
def test_percentile_interval_contains_the_mean(x, seed):
    r = mean_ci(np.array(x), n_resamples=200, method="percentile", rng=seed)[0]
    assert r.ci_low - 1e-12 <= r.statistic <= r.ci_high + 1e-12


@settings(max_examples=80, deadline=None)
@given(samples, st.floats(-0.5, 0.5, allow_nan=False), st.integers(0, 2**32 - 1))
def test_shift_moves_mean_and_percentile_ci(x, c, seed):
    x = np.array(x)
    a = mean_ci(x, n_resamples=200, method="percentile", rng=seed)[0]
    b = mean_ci(x + c, n_resamples=200, method="percentile", rng=seed)[0]
    assert abs((b.statistic - a.statistic) - c) < 1e-9
    assert abs((b.ci_low - a.ci_low) - c) < 1e-9 and abs((b.ci_high - a.ci_high) - c) < 1e-9


two_groups = st.tuples(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=6),
                       st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=6))


@settings(max_examples=100, deadline=None)
@given(two_groups, st.floats(-0.5, 0.5, allow_nan=False))
def test_shift_leaves_permutation_p_unchanged(groups, c):
    late, early = (np.array(g)[:, None] for g in groups)
    # values on a coarse grid keep the shift exact enough that ties stay ties
    late, early = np.round(late, 3), np.round(early, 3)
    c = round(c, 3)
    p0 = permutation_pvalue(late, early).pvalue
    p1 = permutation_pvalue(late + c, early + c).pvalue
    assert np.array_equal(p0, p1)


def _prob_equal(late, early, tol):
    x = np.vstack([late, early])
    N, n1 = len(x), len(late)
    obs = late.mean() - early.mean()
    eq = total = 0
    for combo in itertools.combinations(range(N), n1):
        m = np.zeros(N, bool)
        m[list(combo)] = True
        eq += abs((x[m].mean() - x[~m].mean()) - obs) <= tol
        total += 1
    return eq / total


@settings(max_examples=100, deadline=None)
@given(two_groups)
def test_swapping_groups_gives_one_minus_p_plus_ties(groups):
    late, early = (np.round(np.array(g), 2)[:, None] for g in groups)
    p = permutation_pvalue(late, early).pvalue[0]
    q = permutation_pvalue(early, late).pvalue[0]
    tol = 100 * np.finfo(float).eps * max(1.0, np.abs(np.vstack([late, early])).max())
    assert abs(q - (1 - p + _prob_equal(late, early, tol))) < 1e-12
