"""The iid analysis: bootstrap intervals, the permutation test, t TOST.

Treats layer pairs as independent draws (families of one pair move together). Adjacent pairs
share a layer, so this is not the analysis that should drive a verdict on real sweeps; it is
always computed and shown beside the robust one.
"""
from __future__ import annotations

import numpy as np

from .bootstrap import MeanCI, difference_ci, mean_ci
from .dependence import series_moments, welch_greater
from .equivalence import tost_mean, tost_robust
from .permutation import n_splits, permutation_pvalue
from .base import (DifferenceRow, DifferenceTest, EquivalenceRow, InferenceInput, InferenceResult,
                   PhaseEstimate, column_note, holm_adjust, not_testable_reason)
from .moments import power_from_moments
from .noninferiority import iid_rows

_CI_NAME = {"bca": "BCa bootstrap", "percentile": "percentile bootstrap",
            "basic": "basic bootstrap", "bootstrap-t": "studentized bootstrap",
            "t-union": "union of t and studentized-bootstrap"}


def column_groups(x: np.ndarray):
    """Group columns by which rows they have, so shared rows are resampled together."""
    valid = ~np.isnan(x)
    groups: dict[bytes, list[int]] = {}
    for j in range(x.shape[1]):
        groups.setdefault(valid[:, j].tobytes(), []).append(j)
    return [(valid[:, cols[0]], cols) for cols in groups.values()]


def _phase_summary(data: InferenceInput, rng) -> list[PhaseEstimate]:
    level = 1 - data.alpha
    out = []
    for phase in data.phase_order:
        x = data.x[data.rows_of(phase)]
        cis: dict[int, MeanCI] = {}
        for mask, js in column_groups(x):
            for j, r in zip(js, mean_ci(x[mask][:, js], n_resamples=data.n_boot,
                                        confidence_level=level, method=data.ci, rng=rng)):
                cis[j] = r
        for j, name in enumerate(data.columns):
            r = cis[j]
            out.append(PhaseEstimate(phase, name, r.n, r.statistic if r.n else None, r.ci_low,
                                     r.ci_high, level, r.method, r.note))
    return out


def _difference(data: InferenceInput, rng, phase_names_in_map) -> DifferenceTest:
    late, early = data.late, data.early
    rl, re_ = data.rows_of(late), data.rows_of(early)
    why = not_testable_reason(data, phase_names_in_map)
    test_name = "permutation test"
    if why is not None:
        return DifferenceTest(late, early, len(rl), len(re_), False, why, test_name), None
    xl, xe = data.x[rl], data.x[re_]
    res = permutation_pvalue(xl, xe, n_perm=data.n_perm, rng=rng, keep_null=True)
    level = 1 - data.alpha
    cis = difference_ci(xl, xe, n_resamples=data.n_boot, confidence_level=level,
                        method=data.ci, rng=rng)
    p_holm = holm_adjust([None if np.isnan(p) else float(p) for p in res.pvalue[:-1]])
    rows = []
    for j, name in enumerate(data.columns):
        p = float(res.pvalue[j])
        stat = float(res.statistic[j])
        c = cis[j]
        note = c.note
        detail = {"exact": res.exact, "n_resamples": res.n_resamples, "ci_method": c.method}
        short = column_note(data, j, 1)
        if np.isnan(stat) or short:
            note, stat, p = short or f"no value in {late} or {early}: not testable", np.nan, np.nan
        else:
            # Welch's t on s/sqrt(n): the (1 - 2 alpha) interval that says whether a
            # significant difference is negligible (inside the margin)
            ml = series_moments(xl[:, j], "iid")
            me = series_moments(xe[:, j], "iid")
            if ml is not None and me is not None:
                _, _, df, _ = welch_greater(ml, me)
                detail.update({"se": float(np.hypot(ml.se, me.se)), "df": df})
        rows.append(DifferenceRow(name, None if np.isnan(stat) else stat, c.ci_low, c.ci_high,
                                  level, None if np.isnan(p) else p,
                                  p_holm[j] if j < len(p_holm) else None, detail, note))
    total = n_splits(len(rl), len(re_))
    min_p = 1.0 / total if res.exact else 1.0 / (res.n_resamples + 1)
    kind = (f"exact, all {total} splits" if res.exact
            else f"Monte Carlo, {res.n_resamples} random splits")
    return DifferenceTest(late, early, len(rl), len(re_), True, "", test_name, tuple(rows), min_p,
                          {"n_distinct_splits": total, "exact": res.exact, "kind": kind,
                           "difference_ci": f"{_CI_NAME[data.ci]} of pairs within each phase"}), \
        res.null_distribution


def _equivalence(data: InferenceInput, rng) -> list[EquivalenceRow]:
    """TOST per phase x column: each side's p is the larger of the t and the studentized
    bootstrap p (``tost_robust``: valid under the right skew of delta, issue 13 defect 5);
    columns that share rows share the resamples. Phases of 2 pairs get the plain t TOST."""
    lo, hi = data.margin
    level = 1 - 2 * data.alpha
    out = []
    for phase in data.phase_order:
        x = data.x[data.rows_of(phase)]
        res = {}
        for mask, js in column_groups(x):
            sub = x[mask][:, js]
            rows = (tost_robust(sub, lo, hi, data.alpha, n_resamples=data.n_boot, rng=rng)
                    if mask.sum() >= 3 else tost_mean(sub, lo, hi, data.alpha))
            res.update(zip(js, rows))
        out.extend(EquivalenceRow.from_tost(phase, name, res[j], level)
                   for j, name in enumerate(data.columns))
    return out


class IIDMethod:
    """Bootstrap of pairs (BCa by default), permutation test of whole pairs, t TOST."""

    key = "iid"

    def run(self, data: InferenceInput, rng: np.random.Generator,
            phase_names_in_map=None) -> InferenceResult:
        names = phase_names_in_map if phase_names_in_map is not None else data.phase_order
        summary = _phase_summary(data, rng)
        diff, null = _difference(data, rng, names)
        eq = _equivalence(data, rng)
        # after every other draw, so the numbers above do not depend on it
        ni = iid_rows(data, rng) if diff.testable else ()
        mom = {(p, name): series_moments(data.x[data.rows_of(p), j], "iid")
               for p in data.phase_order for j, name in enumerate(data.columns)}
        power = power_from_moments(mom, data, "iid", diff.testable)
        ci_name = _CI_NAME[data.ci]
        desc = (f"{ci_name} intervals ({data.n_boot} resamples of layer pairs, families "
                f"resampled together), a one-sided permutation test of whole pairs, and TOSTs "
                f"whose one-sided p-values are the larger of the t and the studentized-bootstrap "
                f"p-value, all treating pairs as independent")
        return InferenceResult("iid", "iid", desc, ci_name, diff, tuple(summary), tuple(eq), power,
                               {}, "", None, ("efron", "hall88", "phipson", "schuirmann"), null,
                               noninferiority=ni)
