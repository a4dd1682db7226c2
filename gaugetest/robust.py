"""Dependence-robust results: the same tables as the iid analysis, computed from each phase
series' (mean, se, df) under a serial-dependence model (``gaugetest.dependence``), plus the
diagnostics and the power section."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import json_number
from .deltas import DeltaTable
from .dependence import (Diagnostic, Moments, common_lag1, diagnose, series_moments, t_interval,
                         welch_greater)
from .equivalence import tost_from_moments
from .permutation import holm
from .power import minimum_detectable_difference, tost_power

POOLED = "pooled"


_num = json_number


@dataclass(frozen=True)
class RobustTestRow:
    family: str
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    t: float | None
    df: float | None

    def to_dict(self) -> dict:
        return {"family": self.family, "statistic": _num(self.statistic),
                "p_value": _num(self.p_value), "p_holm": _num(self.p_holm), "t": _num(self.t),
                "df": _num(self.df)}


@dataclass(frozen=True)
class PowerSummary:
    method: str
    late: str
    early: str
    power: float
    mdd: dict            # family -> smallest detectable LATE - EARLY difference (or None)
    tost: dict           # phase -> TOST power at true mean 0 (pooled), or None

    def to_dict(self) -> dict:
        return {"method": self.method, "target_power": self.power,
                "late": self.late, "early": self.early,
                "min_detectable_difference": [{"family": k, "value": _num(v)}
                                              for k, v in self.mdd.items()],
                "tost_power_at_zero": [{"phase": k, "value": _num(v)}
                                       for k, v in self.tost.items()]}


@dataclass(frozen=True)
class RobustResult:
    method: str
    phase_summary: tuple      # PhaseSummaryRow
    late_vs_early: tuple[RobustTestRow, ...]
    late_vs_early_testable: bool
    equivalence: tuple        # EquivalenceRow
    equivalence_everywhere: bool | None
    diagnostics: tuple[Diagnostic, ...]
    power: PowerSummary | None

    @property
    def pooled_test(self) -> RobustTestRow | None:
        return next((r for r in self.late_vs_early if r.family == POOLED), None)

    def to_dict(self) -> dict:
        return {"method": self.method,
                "phase_summary": [r.to_dict() for r in self.phase_summary],
                "late_vs_early": [r.to_dict() for r in self.late_vs_early],
                "equivalence": [r.to_dict() for r in self.equivalence],
                "equivalence_everywhere": self.equivalence_everywhere,
                "diagnostics": [d.to_dict() for d in self.diagnostics],
                "power": self.power.to_dict() if self.power else None}


def depth_rho(table: DeltaTable) -> dict:
    """Common lag-1 correlation along depth for each column (see dependence.common_lag1).

    Pairs must be adjacent in L to count as neighbours; a gap breaks the series.
    """
    x = table.with_pooled()
    names = list(table.families) + [POOLED]
    # segment label = phase, split wherever consecutive analysed pairs are not adjacent
    seg, k = [], 0
    for i, L in enumerate(table.layers):
        if i and (L != table.layers[i - 1] + 1 or table.phases[i] != table.phases[i - 1]):
            k += 1
        seg.append(k)
    return {name: common_lag1(x[:, j], seg)[0] for j, name in enumerate(names)}


def phase_moments(table: DeltaTable, method: str, rng) -> dict:
    """{(phase, column): Moments or None} for every phase x (families + pooled)."""
    x = table.with_pooled()
    names = list(table.families) + [POOLED]
    rhos = depth_rho(table) if method == "neff" else {}
    out = {}
    for phase in table.present_phases:
        rows = table.rows_of(phase)
        for j, name in enumerate(names):
            out[(phase, name)] = series_moments(x[rows, j], method, rng, rho=rhos.get(name))
    return out


def robust_analysis(table: DeltaTable, settings, method: str, late_early_testable: bool,
                    rng: np.random.Generator):
    from .analysis import EquivalenceRow, PhaseSummaryRow  # result row types live there

    names = list(table.families) + [POOLED]
    mom = phase_moments(table, method, rng)
    x = table.with_pooled()
    summary, eq_rows, diags = [], [], []
    lo, hi = settings.margin
    for phase in table.present_phases:
        rows = table.rows_of(phase)
        for j, name in enumerate(names):
            m: Moments | None = mom[(phase, name)]
            col = x[rows, j]
            n = int(np.sum(~np.isnan(col)))
            if m is None:
                mean = float(np.nanmean(col)) if n else None
                summary.append(PhaseSummaryRow(phase, name, n, mean, None, None, method,
                                               f"n = {n} < 3: no interval"))
                eq_rows.append(EquivalenceRow(phase, name, n, mean, lo, hi, None, None, None,
                                              None, None, None, None, f"n = {n} < 3: no test"))
            else:
                ci = t_interval(m, settings.alpha)
                summary.append(PhaseSummaryRow(phase, name, m.n, m.mean, ci[0], ci[1], method,
                                               m.detail))
                t = tost_from_moments([m.mean], [m.se], [m.df], lo, hi, settings.alpha, [m.n])[0]
                eq_rows.append(EquivalenceRow.from_tost(phase, name, t))
            diags.append(diagnose(col, phase, name, settings.alpha))
    tests: list[RobustTestRow] = []
    late, early = settings.compare
    testable = late_early_testable
    if testable:
        ps = []
        for name in names:
            ml, me = mom.get((late, name)), mom.get((early, name))
            if ml is None or me is None:
                tests.append(RobustTestRow(name, None, None, None, None, None))
                ps.append(np.nan)
                continue
            d, t, df, p = welch_greater(ml, me)
            tests.append(RobustTestRow(name, d, p, None, t, df))
            ps.append(p)
        fam_p = np.array(ps[:-1])
        ok = ~np.isnan(fam_p)
        adj = np.full(fam_p.shape, np.nan)
        adj[ok] = holm(fam_p[ok])
        tests = [RobustTestRow(r.family, r.statistic, r.p_value,
                               float(adj[i]) if i < len(adj) and np.isfinite(adj[i]) else None,
                               r.t, r.df) for i, r in enumerate(tests)]
        testable = tests[-1].p_value is not None
    pooled_eq = [r for r in eq_rows if r.family == POOLED and r.equivalent is not None]
    eq_all = all(r.equivalent for r in pooled_eq) if pooled_eq else None

    power = _power_from(mom, table, settings, method, late_early_testable)
    return RobustResult(method, tuple(summary), tuple(tests), testable, tuple(eq_rows), eq_all,
                        tuple(diags), power)


def _power_from(mom: dict, table: DeltaTable, settings, method: str,
                testable: bool) -> PowerSummary:
    late, early = settings.compare
    lo, hi = settings.margin
    names = list(table.families) + [POOLED]
    mdd = {}
    if testable:
        for name in names:
            ml, me = mom.get((late, name)), mom.get((early, name))
            mdd[name] = (minimum_detectable_difference(ml, me, settings.alpha)
                         if ml and me else None)
    tp = {}
    for phase in table.present_phases:
        m = mom[(phase, POOLED)]
        tp[phase] = tost_power(m, lo, hi, settings.alpha) if m else None
    return PowerSummary(method, late, early, 0.8, mdd, tp)


def power_summary(table: DeltaTable, settings, method: str, testable: bool,
                  rng: np.random.Generator | None = None) -> PowerSummary:
    """Smallest detectable LATE - EARLY difference (80% power) and TOST power at 0, per the
    standard errors of ``method`` on the observed data."""
    return _power_from(phase_moments(table, method, rng), table, settings, method, testable)
