"""The robust default: every robust number from one model of the dependence along depth.

Each column (a family, or the pooled family mean) is fitted once with
:func:`gaugetest.inference.depth_model.fit_depth` — arithmetic phase means, a noise scale per phase, one
correlation function for the whole depth averaged over AR(1), MA(1), AR(2), ARMA(1,1) and
long-memory families by REML, the known variance of an estimated baseline (the matched null's
mean) as a floor — and the phase intervals, the LATE − EARLY test and its interval, the
per-family tests (Holm), the TOSTs and the power all come from contrasts of that one fit.
The model check of every fit is reported; where it fails the fit has already fallen back to the
largest variance the data allow, and the analysis adds a warning.
"""
from __future__ import annotations

import numpy as np

from . import noninferiority as ni
from .depth_model import METHOD, fit_depth
from .base import (POOLED, DifferenceRow, DifferenceTest, EquivalenceRow, InferenceInput,
                   InferenceResult, PhaseEstimate, PowerSummary, column_note, holm_adjust,
                   not_testable_reason)

TEST_NAME = "t test on the depth model"


class DepthModelMethod:
    """``reml-bma``: see :mod:`gaugetest.inference.depth_model` and docs/depth-model.md."""

    key = METHOD

    def run(self, data: InferenceInput, rng: np.random.Generator,
            phase_names_in_map=None) -> InferenceResult:
        alpha, (lo, hi) = data.alpha, data.margin
        level, tlevel = 1 - alpha, 1 - 2 * alpha
        kv = data.known_var
        shared = data.shared or {}
        fits = [fit_depth(data.x[:, j], data.phases, data.layers,
                          known_var=None if kv is None else kv[:, j],
                          tost_rule=data.tost_rule, shared=shared.get(name))
                for j, name in enumerate(data.columns)]
        summary, eq_rows = [], []
        tost_power = {}
        for phase in data.phase_order:
            rows = data.rows_of(phase)
            for j, name in enumerate(data.columns):
                col = data.x[rows, j]
                n = int(np.sum(~np.isnan(col)))
                mean = float(np.nanmean(col)) if n else None
                c = fits[j].contrast({phase: 1.0}) if n >= 2 else None
                if c is None:
                    summary.append(PhaseEstimate(phase, name, n, mean, None, None, level,
                                                 self.key, f"n = {n} < 2: no interval"))
                    eq_rows.append(EquivalenceRow.untestable(phase, name, n, mean, data.margin,
                                                             tlevel, f"n = {n} < 2: no test"))
                    if name == POOLED:
                        tost_power[phase] = None
                    continue
                ci = c.interval(level)
                summary.append(PhaseEstimate(phase, name, n, c.estimate, ci[0], ci[1], level,
                                             self.key))
                t = c.tost(lo, hi, alpha)
                eq_rows.append(EquivalenceRow(phase, name, n, c.estimate, lo, hi, t.p_lower,
                                              t.p_upper, t.pvalue, t.ci_low, t.ci_high, t.ci_level,
                                              t.equivalent, t.min_margin))
                if name == POOLED:
                    tost_power[phase] = c.tost_power(lo, hi, alpha)
        names = phase_names_in_map if phase_names_in_map is not None else data.phase_order
        why = not_testable_reason(data, names)
        rows: list[DifferenceRow] = []
        ni_rows = []
        ni_test = f"one-sided {TEST_NAME}" + (f" ({data.tost_rule} rule)"
                                              if data.tost_rule != "mixture" else "")
        mdd = {}
        if why is None:
            for j, name in enumerate(data.columns):
                short = column_note(data, j, 2)
                d = None if short else fits[j].contrast({data.late: 1.0, data.early: -1.0})
                if d is None:
                    rows.append(DifferenceRow(name, None, None, None, level, None,
                                              note=short or "not estimable: not testable"))
                    ni_rows.append(ni.untestable(data, name, ni_test, tlevel,
                                                 short or "not estimable: not testable"))
                    mdd[name] = None
                    continue
                ci = d.interval(level)
                td = d.tost(lo, hi, alpha)            # the TOST's interval (its own rule)
                tl, th = td.ci_low, td.ci_high
                rows.append(DifferenceRow(name, d.estimate, ci[0], ci[1], level,
                                          d.p_greater(0.0),
                                          detail={"se": d.se, "df": d.df, "tost_ci_low": tl,
                                                  "tost_ci_high": th}))
                ni_rows.append(ni.from_contrast(data, name, d, td, ni_test))
                mdd[name] = d.mdd(alpha, 0.8)
            adj = holm_adjust([r.p_value for r in rows[:-1]])
            rows = [DifferenceRow(r.family, r.statistic, r.ci_low, r.ci_high, r.level, r.p_value,
                                  adj[i] if i < len(adj) else None, r.detail, r.note)
                    for i, r in enumerate(rows)]
        test = DifferenceTest(data.late, data.early, len(data.rows_of(data.late)),
                              len(data.rows_of(data.early)), why is None, why or "", TEST_NAME,
                              tuple(rows) if why is None else ())
        pooled_fit = fits[-1]
        failed = [n for n, f in zip(data.columns, fits) if not f.check.passed]
        check = {**pooled_fit.check.to_dict(), "columns_failed": failed}
        detail = {**pooled_fit.detail, "known_variance": kv is not None,
                  "by_column": {n: {"summary": f.summary, "check_passed": f.check.passed}
                                for n, f in zip(data.columns, fits)}}
        power = PowerSummary(self.key, data.late, data.early, 0.8, mdd, tost_power)
        return InferenceResult(self.key, f"robust ({self.key})", pooled_fit.description,
                               "depth-model t mixture", test, tuple(summary), tuple(eq_rows),
                               power, detail, pooled_fit.summary, check,
                               ("patterson", "hoeting", "hampel", "hall", "schuirmann", "ljung"),
                               tost_rule=data.tost_rule,
                               noninferiority=ni.finish(ni_rows, alpha) if why is None else ())
