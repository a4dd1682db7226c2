"""Robust methods that summarise each phase series by (mean, standard error, df).

``neff``, ``hac``, ``glsar``, ``block`` and ``sieve`` (see ``gaugetest.inference.dependence``) each give a
phase mean's standard error and degrees of freedom under their dependence model; from these
follow a t interval per phase, a Welch-type one-sided test of LATE > EARLY with a two-sided
interval for the difference, a TOST on the same standard error, and the power summary.
"""
from __future__ import annotations

import numpy as np

from . import noninferiority as ni
from .dependence import Moments, common_lag1, series_moments, t_interval, welch_greater
from .equivalence import tost_from_moments
from .power import minimum_detectable_difference, tost_power
from .base import (POOLED, DifferenceRow, DifferenceTest, EquivalenceRow, InferenceInput,
                   InferenceResult, PhaseEstimate, PowerSummary, column_note, holm_adjust,
                   not_testable_reason)

_DESCRIPTION = {
    "neff": ("effective-sample-size t intervals and Welch t tests, with one lag-1 "
             "autocorrelation estimated along the whole depth (phase means removed, "
             "bias-corrected; Marriott & Pope 1954)", ("marriott",)),
    "hac": ("Newey–West (HAC) standard errors with Welch t tests (Newey & West 1987)",
            ("newey",)),
    "glsar": ("feasible GLS with AR(1) errors per phase (statsmodels GLSAR) and Welch t tests",
              ()),
    "block": ("circular block bootstrap standard errors with the Politis–White block length "
              "and Welch t tests (Politis & White 2004)", ("politis",)),
    "sieve": ("AR-sieve bootstrap standard errors and Welch t tests (Bühlmann 1997)",
              ("buhlmann",)),
    "iid": ("t intervals and Welch t tests on s/√n", ()),
}


def segments(layers, phases) -> list[int]:
    """Segment label per pair: a new segment at every phase change and every gap in L."""
    seg, k = [], 0
    for i, L in enumerate(layers):
        if i and (L != layers[i - 1] + 1 or phases[i] != phases[i - 1]):
            k += 1
        seg.append(k)
    return seg


def depth_rho(data: InferenceInput) -> dict:
    """{column: (rho or None, points used)}: the lag-1 correlation along the whole depth."""
    seg = segments(data.layers, data.phases)
    return {name: common_lag1(data.x[:, j], seg) for j, name in enumerate(data.columns)}


def phase_moments(data: InferenceInput, method: str, rng) -> tuple[dict, dict]:
    """({(phase, column): Moments or None}, {column: depth rho}) for ``method``."""
    rhos = {k: v[0] for k, v in depth_rho(data).items()} if method == "neff" else {}
    out = {}
    for phase in data.phase_order:
        rows = data.rows_of(phase)
        for j, name in enumerate(data.columns):
            out[(phase, name)] = series_moments(data.x[rows, j], method, rng, rho=rhos.get(name))
    return out, rhos


def difference_interval(diff: float, se: float, df: float, level: float) -> tuple[float, float]:
    """Two-sided t interval for a difference from its standard error and df."""
    from scipy.special import stdtrit

    if not (se > 0 and df > 0):
        return diff, diff
    q = float(stdtrit(df, 0.5 + level / 2))
    return diff - q * se, diff + q * se


def power_from_moments(mom: dict, data: InferenceInput, method: str,
                       testable: bool) -> PowerSummary:
    lo, hi = data.margin
    mdd = {}
    if testable:
        for name in data.columns:
            ml, me = mom.get((data.late, name)), mom.get((data.early, name))
            mdd[name] = minimum_detectable_difference(ml, me, data.alpha) if ml and me else None
    tp = {}
    for phase in data.phase_order:
        m = mom[(phase, POOLED)]
        tp[phase] = tost_power(m, lo, hi, data.alpha) if m else None
    return PowerSummary(method, data.late, data.early, 0.8, mdd, tp)


class MomentsMethod:
    """A (mean, se, df) robust method; ``key`` is one of ``dependence.METHODS``."""

    def __init__(self, key: str):
        self.key = key

    def run(self, data: InferenceInput, rng: np.random.Generator,
            phase_names_in_map=None) -> InferenceResult:
        alpha, (lo, hi) = data.alpha, data.margin
        level, tlevel = 1 - alpha, 1 - 2 * alpha
        mom, rhos = phase_moments(data, self.key, rng)
        summary, eq_rows = [], []
        for phase in data.phase_order:
            rows = data.rows_of(phase)
            for j, name in enumerate(data.columns):
                m: Moments | None = mom[(phase, name)]
                col = data.x[rows, j]
                n = int(np.sum(~np.isnan(col)))
                if m is None:
                    mean = float(np.nanmean(col)) if n else None
                    summary.append(PhaseEstimate(phase, name, n, mean, None, None, level,
                                                 self.key, f"n = {n} < 3: no interval"))
                    eq_rows.append(EquivalenceRow.untestable(phase, name, n, mean, data.margin,
                                                             tlevel, f"n = {n} < 3: no test"))
                    continue
                ci = t_interval(m, alpha)
                summary.append(PhaseEstimate(phase, name, m.n, m.mean, ci[0], ci[1], level,
                                             self.key, m.detail))
                t = tost_from_moments([m.mean], [m.se], [m.df], lo, hi, alpha, [m.n])[0]
                eq_rows.append(EquivalenceRow.from_tost(phase, name, t, tlevel))
        names = phase_names_in_map if phase_names_in_map is not None else data.phase_order
        why = not_testable_reason(data, names)
        rows: list[DifferenceRow] = []
        ni_rows = []
        if why is None:
            for j, name in enumerate(data.columns):
                ml, me = mom.get((data.late, name)), mom.get((data.early, name))
                if ml is None or me is None:
                    note = column_note(data, j, 3) or "fewer than 3 values: not testable"
                    rows.append(DifferenceRow(name, None, None, None, level, None, note=note))
                    ni_rows.append(ni.untestable(data, name, ni.MOMENTS_TEST, tlevel, note))
                    continue
                d, t, df, p = welch_greater(ml, me)
                se = float(np.hypot(ml.se, me.se))
                ci = difference_interval(d, se, df, level)
                rows.append(DifferenceRow(name, d, ci[0], ci[1], level, p,
                                          detail={"t": t, "df": df, "se": se}))
                ni_rows.append(ni.from_t(data, name, d, se, df))
            adj = holm_adjust([r.p_value for r in rows[:-1]])
            rows = [DifferenceRow(r.family, r.statistic, r.ci_low, r.ci_high, r.level, r.p_value,
                                  adj[i] if i < len(adj) else None, r.detail, r.note)
                    for i, r in enumerate(rows)]
        n_late = len(data.rows_of(data.late))
        n_early = len(data.rows_of(data.early))
        test = DifferenceTest(data.late, data.early, n_late, n_early, why is None, why or "",
                              "Welch t test on dependence-adjusted standard errors",
                              tuple(rows) if why is None else ())
        desc, refs = _DESCRIPTION[self.key]
        detail, summary_line = self._detail(rhos, mom, data)
        power = power_from_moments(mom, data, self.key, why is None)
        return InferenceResult(self.key, f"robust ({self.key})" if self.key != "iid" else "iid t",
                               desc, "t", test, tuple(summary), tuple(eq_rows), power, detail,
                               summary_line, None, refs,
                               noninferiority=ni.finish(ni_rows, alpha) if why is None else ())

    def _detail(self, rhos: dict, mom: dict, data: InferenceInput) -> tuple[dict, str]:
        if self.key != "neff":
            return {}, ""
        rho = rhos.get(POOLED)
        n_eff = {}
        for phase in data.phase_order:
            m = mom.get((phase, POOLED))
            if m is not None and m.se > 0:
                # n_eff = n / factor with factor the AR(1) variance inflation
                from .dependence import ar1_variance_factor
                r = rho if rho is not None else None
                if r is not None:
                    n_eff[phase] = m.n / ar1_variance_factor(r, m.n)
        clipped = rho is not None and (rho <= 0.0 or rho >= 0.95)
        detail = {"rho": rho, "rho_source": "depth" if rho is not None else "per phase",
                  "rho_clipped": bool(clipped), "n_eff": n_eff,
                  "rho_by_column": {k: v for k, v in rhos.items()}}
        if rho is None:
            line = "ρ estimated per phase (too few pairs for a depth-wide estimate)"
        else:
            line = (f"ρ = {rho:.2f} along the whole depth"
                    + (" (at its clip)" if clipped else "") + "; n_eff "
                    + ", ".join(f"{p} {v:.1f}" for p, v in n_eff.items()
                                if p in (data.late, data.early)))
        return detail, line
