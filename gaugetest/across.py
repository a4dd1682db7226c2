"""The answer for a family of models: one cross-model test from several models' sweeps.

A multi-model run (``gaugetest test --model ... --model ...``, :func:`gaugetest.analyze_models`)

1. prepares every model (its own phase map, quantity and data; :func:`gaugetest.analysis.prepare`);
2. checks that the models can be pooled -- the same analysed quantity, gauge and (for the
   excess) null, and every model has the compared phases under its own map with >= 2 pairs;
   when they cannot, ``refused`` names the reason and the models, every model is analysed
   alone, and the run still succeeds;
3. fits one dependence model along depth to all of them, per column (each family, and the
   pooled mean): :mod:`gaugetest.inference.depth_model.shared`; every model's analysis then
   uses it (:func:`gaugetest.analysis.finish` with ``shared``) and says so;
4. combines the models' pooled E − C contrasts, and their levels of every deciding phase, into
   one confidence distribution per quantity (:mod:`gaugetest.inference.family`, the rule
   chosen on the across-models bank: docs/across-models.md), with heterogeneity (tau^2, I^2,
   Q), a prediction interval for a new model of the family, a model-based random-effects
   estimate beside it (more power, valid only for limited heterogeneity), a cross-model TOST
   of every deciding phase, and a verdict by the single-model rule
   (:func:`gaugetest.verdict.decide`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import json_number as _num
from .formatting import fmt_interval, fmt_level, fmt_num, p_phrase
from .inference.base import POOLED
from .verdict import Evidence, decide

#: The rule of combination of the family test (gaugetest.inference.family.METHODS), chosen on
#: the across-models bank by worst case, validity first (docs/across-models.md): the
#: Ibragimov-Mueller t test, valid whatever the heterogeneity between models and whatever
#: each model's dependence along depth.
ACROSS_METHOD = "im"
#: The analysis shown beside it: random effects on the shared depth model's standard errors
#: (more power; its size holds for limited heterogeneity only).
BESIDE_METHOD = "re-hm-sw"


# --------------------------------------------------------------------------- result rows


@dataclass(frozen=True)
class ModelEstimate:
    """One model's pooled E − C from the shared dependence model: estimate, its two-sided
    ``level`` interval, the one-sided p of H1 > 0, and its weight in the family estimate."""

    model: str
    num_layers: int
    n_late: int
    n_early: int
    statistic: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    level: float
    pvalue: float
    weight: float | None = None

    def to_dict(self) -> dict:
        return {"model": self.model, "num_layers": self.num_layers, "n_late": self.n_late,
                "n_early": self.n_early, "estimate": _num(self.statistic), "se": _num(self.se),
                "df": _num(self.df), "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high),
                "level": self.level, "p_value": _num(self.pvalue), "weight": _num(self.weight)}


@dataclass(frozen=True)
class FamilyDifference:
    """The cross-model LATE − EARLY difference: estimate with its two-sided ``level`` interval,
    the one-sided p of H1 > 0, the (1 − 2 alpha) interval the verdict reads, heterogeneity and
    the prediction interval for a new model of the family."""

    statistic: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    level: float
    pvalue: float
    k: int
    method: str
    method_name: str
    method_short: str
    tau2: float
    tau2_method: str
    i2: float
    q: float
    q_pvalue: float
    prediction_low: float | None
    prediction_high: float | None
    tost_ci_low: float
    tost_ci_high: float
    tost_level: float
    weights: tuple[float, ...]
    noninferiority: dict | None = None     # H0: LATE − EARLY >= m_diff, same distribution

    @property
    def confidence_interval(self) -> tuple[float, float]:
        return self.ci_low, self.ci_high

    def to_dict(self) -> dict:
        return {"estimate": _num(self.statistic), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "level": self.level,
                "p_value": _num(self.pvalue), "k": self.k, "method": self.method,
                "method_name": self.method_name, "method_short": self.method_short,
                "tau2": _num(self.tau2),
                "i2": _num(self.i2), "prediction_low": _num(self.prediction_low),
                "prediction_high": _num(self.prediction_high), "se": _num(self.se),
                "df": _num(self.df), "tau2_method": self.tau2_method, "q": _num(self.q),
                "q_df": self.k - 1, "q_p_value": _num(self.q_pvalue),
                "tost_ci_low": _num(self.tost_ci_low), "tost_ci_high": _num(self.tost_ci_high),
                "tost_level": self.tost_level, "weights": [_num(w) for w in self.weights],
                "noninferiority": self.noninferiority,
                "prediction_note": "" if self.prediction_low is not None else
                "a prediction interval needs at least 3 models (t with K - 2 df)"}


@dataclass(frozen=True)
class FamilyEquivalence:
    """The cross-model TOST of one phase's level of the pooled quantity against the margin."""

    phase: str
    k: int
    statistic: float | None
    margin_low: float
    margin_high: float
    p_lower: float | None
    p_upper: float | None
    pvalue: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    equivalent: bool | None
    method: str
    tau2: float | None = None
    i2: float | None = None
    note: str = ""

    @property
    def min_margin(self) -> float | None:
        if self.ci_low is None:
            return None
        return max(abs(self.ci_low), abs(self.ci_high))

    def to_dict(self) -> dict:
        return {"phase": self.phase, "k": self.k, "estimate": _num(self.statistic),
                "margin_low": self.margin_low, "margin_high": self.margin_high,
                "p_lower": _num(self.p_lower), "p_upper": _num(self.p_upper),
                "p_value": _num(self.pvalue), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "level": self.level,
                "equivalent": self.equivalent, "min_margin": _num(self.min_margin),
                "method": self.method, "tau2": _num(self.tau2), "i2": _num(self.i2),
                "note": self.note}


@dataclass(frozen=True)
class FamilyResult:
    """The across-models analysis of a run (the JSON's ``across_models``)."""

    models: tuple[str, ...]              # the models pooled (all of them unless refused)
    refused: str | None
    refused_models: tuple[str, ...]
    quantity: dict
    late: str
    early: str
    alpha: float
    margin: tuple[float, float]
    equivalence_phases: tuple[str, ...]
    difference: FamilyDifference | None = None
    per_model: tuple[ModelEstimate, ...] = ()
    equivalence: tuple[FamilyEquivalence, ...] = ()
    dependence: dict | None = None
    beside: dict | None = None
    verdict: dict | None = None
    notes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def contrast(self) -> str:
        s = self.quantity.get("symbol", "quantity")
        return f"{s}({self.late}) − {s}({self.early})"

    def to_dict(self) -> dict:
        return {
            "models": list(self.models), "refused": self.refused,
            "refused_models": list(self.refused_models),
            "quantity": self.quantity,
            "compare": {"late": self.late, "early": self.early, "contrast": self.contrast},
            "alpha": self.alpha, "ci_level": 1 - self.alpha, "tost_level": 1 - 2 * self.alpha,
            "margin": list(self.margin), "equivalence_phases": list(self.equivalence_phases),
            "difference": self.difference.to_dict() if self.difference else None,
            "per_model": [r.to_dict() for r in self.per_model],
            "equivalence": [r.to_dict() for r in self.equivalence],
            "dependence": self.dependence, "beside": self.beside, "verdict": self.verdict,
            "notes": list(self.notes)}


# --------------------------------------------------------------------------- pooling


def refusal(preps: list[tuple[str, Any]]) -> tuple[str | None, tuple[str, ...]]:
    """Why these models cannot be pooled (reason naming the models), or (None, ())."""
    if len(preps) < 2:
        return ("a family needs at least 2 models (this run has "
                f"{len(preps)})", tuple(n for n, _ in preps))
    reasons, who = [], []

    def differ(label, key):
        groups: dict[str, list[str]] = {}
        for n, p in preps:
            groups.setdefault(key(p), []).append(n)
        if len(groups) > 1:
            reasons.append(f"the models differ in {label}: " + "; ".join(
                f"{', '.join(ns)}: {v}" for v, ns in groups.items()))
            who.extend(n for ns in list(groups.values())[1:] for n in ns)

    differ("the analysed quantity", lambda p: p.quantity.key)
    differ("the gauge", lambda p: p.quantity.gauge)
    if all(p.quantity.key == "excess" for _, p in preps):
        differ("the null", lambda p: p.quantity.null_name or "unnamed null")
    seen: dict[bytes, str] = {}
    for n, p in preps:
        key = p.data.layers.tobytes() + np.nan_to_num(p.data.x, nan=np.inf).tobytes()
        if key in seen:
            reasons.append(f"models {seen[key]} and {n} have identical data (the same sweeps "
                           "given twice are not independent replications)")
            who.append(n)
        seen.setdefault(key, n)
    late, early = preps[0][1].settings.compare
    lack = []
    for n, p in preps:
        pooled = p.data.x[:, p.data.columns.index(POOLED)]
        counts = {ph: int(np.isfinite(pooled[p.data.rows_of(ph)]).sum()) for ph in (late, early)}
        short = [f"{ph} has {c} complete pair(s)" if ph in p.pmap.phases else
                 f"no phase {ph} in its {p.pmap.name} map" for ph, c in counts.items() if c < 2]
        if short:
            lack.append(f"{n} ({'; '.join(short)})")
            who.append(n)
    if lack:
        reasons.append(f"models lack the compared phases {late} and {early} (>= 2 complete "
                       f"pairs each) under their own map: {', '.join(lack)}; choose a phase "
                       "map that gives every model both phases (the fractional map, or your "
                       "own)")
    if not reasons:
        return None, ()
    return "; ".join(reasons), tuple(dict.fromkeys(who))


def shared_models(preps: list[tuple[str, Any]]) -> dict:
    """Column name -> the dependence model shared by every model that has that column."""
    from .inference.depth_model.shared import shared_dependence

    columns = list(dict.fromkeys(c for _, p in preps for c in p.data.columns))
    out = {}
    for col in columns:
        series = [(n, p.data.x[:, p.data.columns.index(col)], p.data.phases, p.data.layers)
                  for n, p in preps if col in p.data.columns]
        series = [s for s in series if np.isfinite(s[1]).sum() >= 2]
        if len(series) >= 2:
            out[col] = shared_dependence(series)
    return out


def _pooled_batch(p, shared):
    """The pooled column's fit of one model on the shared dependence model."""
    from .inference.depth_model import fit_depth

    j = p.data.columns.index(POOLED)
    kv = None if p.data.known_var is None else p.data.known_var[:, j]
    return fit_depth(p.data.x[:, j], p.data.phases, p.data.layers, known_var=kv,
                     tost_rule=p.settings.tost_rule, shared=shared)


def _contrast(comb, weights):
    from .inference.depth_model.contrast import Contrast

    return Contrast(tuple(weights.items()), float(comb.est[0]), float(comb.se_summary[0]),
                    float(comb.df_summary[0]), comb.mixture)


def _difference(names, fits, late, early, alpha, method, m_diff) -> tuple:
    from scipy.special import chdtrc

    from .inference import meta
    from .inference.family import METHODS, SHORT, combine

    w = {late: 1.0, early: -1.0}
    comps = _components(fits, w)
    comb = combine(comps, method)
    c = _contrast(comb, w)
    lo, hi = c.interval(1 - alpha)
    tlo, thi = c.interval(1 - 2 * alpha)
    k = len(fits)
    q = float(comb.q[0])
    tau2 = float(comb.tau2[0])
    plo, phi = meta.prediction_interval(c.estimate, c.se, tau2, k, 1 - alpha)
    p_ni = c.p_less(m_diff)
    nonsup = {"margin": m_diff, "p_value": _num(p_ni), "ci_high": _num(thi),
              "level": 1 - 2 * alpha, "rejected": bool(p_ni < alpha)}
    diff = FamilyDifference(c.estimate, c.se, c.df, lo, hi, 1 - alpha, c.p_greater(0.0), k,
                            method, METHODS[method][0], SHORT[method], tau2,
                            meta.TAU2_NAMES[comb.tau2_method],
                            float(comb.i2[0]), q, float(chdtrc(k - 1, q)), plo, phi, tlo, thi,
                            1 - 2 * alpha, tuple(float(x) for x in comb.weights[0]), nonsup)
    per = []
    for n, f, wk in zip(names, fits, comb.weights[0]):
        m = f.contrast(w)
        a, b = m.interval(1 - alpha)
        per.append(ModelEstimate(n, 0, f.n.get(late, 0), f.n.get(early, 0), m.estimate, m.se,
                                 m.df, a, b, 1 - alpha, m.p_greater(0.0), float(wk)))
    other = BESIDE_METHOD if method != BESIDE_METHOD else ACROSS_METHOD
    chk = combine(comps, other)
    cc = _contrast(chk, w)
    clo, chi = cc.interval(1 - alpha)
    check = {"method": other, "method_name": METHODS[other][0],
             "method_short": SHORT[other],
             "estimate": _num(cc.estimate), "ci_low": _num(clo), "ci_high": _num(chi),
             "level": 1 - alpha, "p_value": _num(cc.p_greater(0.0)), "df": _num(cc.df)}
    return diff, tuple(per), check


def _components(fits, weights):
    """Every model's contrast on the grid (None if a model cannot give it). Fits on their own
    dependence models (``share_dependence=False``) have no common grid: each model is then one
    point, its posterior mean variance with the df of its median component."""
    from .inference.family import Components, components

    comps = [components(f._batch, weights) for f in fits]
    if any(c is None for c in comps):
        return None
    if all(c.w.shape == comps[0].w.shape and np.allclose(c.w, comps[0].w) for c in comps):
        return comps
    out = []
    for c in comps:
        order = np.argsort(c.se[0])
        med = order[min(int(np.searchsorted(np.cumsum(c.w[0][order]), 0.5)), len(order) - 1)]
        out.append(Components(c.est, np.ones((1, 1)), np.sqrt(c.var)[:, None],
                              c.df[:, med:med + 1]))
    return out


def _equivalence(fits, phases, alpha, margin, method) -> tuple[FamilyEquivalence, ...]:
    from .inference.family import combine

    lo, hi = margin
    rows = []
    for ph in phases:
        comps = _components(fits, {ph: 1.0})
        if comps is None:
            rows.append(FamilyEquivalence(ph, len(fits), None, lo, hi, None, None, None, None,
                                          None, 1 - 2 * alpha, None, method,
                                          note=f"a model has < 2 pairs in {ph}: no test"))
            continue
        comb = combine(comps, method)
        c = _contrast(comb, {ph: 1.0})
        t = c.tost(lo, hi, alpha)
        rows.append(FamilyEquivalence(ph, len(fits), c.estimate, lo, hi, t.p_lower, t.p_upper,
                                      t.pvalue, t.ci_low, t.ci_high, t.ci_level or 1 - 2 * alpha,
                                      t.equivalent, method, float(comb.tau2[0]),
                                      float(comb.i2[0])))
    return tuple(rows)


def _margin_text(margin) -> str:
    lo, hi = margin
    return f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"


def family_verdict(fr: FamilyResult, testable_quantity: bool, equivalence_note: str) -> dict:
    """The family's label by the single-model rule (:func:`gaugetest.verdict.decide`), with
    its reasons."""
    d, alpha = fr.difference, fr.alpha
    contrast, sym = fr.contrast, fr.quantity.get("symbol", "")
    reasons = []
    sig = d.pvalue < alpha
    reasons.append(
        f"Family {contrast} = {fmt_num(d.statistic)}, {fmt_level(d.level)} CI "
        f"{fmt_interval(d.ci_low, d.ci_high)} ({d.method_name}, {d.k} models, "
        f"{d.df:g} df; one-sided {p_phrase(d.pvalue)}): "
        f"{'significant' if sig else 'not significant'} at alpha = {alpha:g}.")
    negligible = None
    if sig:
        negligible = bool(fr.margin[0] < d.tost_ci_low and d.tost_ci_high < fr.margin[1])
        reasons.append(f"Its {fmt_level(d.tost_level)} interval "
                       f"{fmt_interval(d.tost_ci_low, d.tost_ci_high)} "
                       + ("lies inside" if negligible else "is not inside")
                       + f" the margin {_margin_text(fr.margin)}: the difference is "
                       + ("real but negligible." if negligible else "not shown negligible."))
    pi = (f"{fmt_level(d.level)} prediction interval for a new model of the family "
          f"{fmt_interval(d.prediction_low, d.prediction_high)}" if d.prediction_low is not None
          else "no prediction interval (it needs at least 3 models)")
    reasons.append(f"Heterogeneity between models: tau² = {d.tau2:.3g} ({d.tau2_method}), "
                   f"I² = {100 * d.i2:.0f}%, Q = {d.q:.2f} on {d.k - 1} df "
                   f"({p_phrase(d.q_pvalue)}); {pi}.")
    rows = {r.phase: r for r in fr.equivalence}
    if not testable_quantity:
        eq = "untestable-quantity"
        reasons.append(f"Equivalence to 0 is not part of this verdict: {equivalence_note}.")
        head_eq = f"equivalence of {sym} to 0 untestable"
    elif any(rows.get(p) is None or rows[p].equivalent is None for p in fr.equivalence_phases):
        eq = "untestable-phases"
        miss = [p for p in fr.equivalence_phases if rows.get(p) is None
                or rows[p].equivalent is None]
        reasons.append(f"Equivalence of the family's pooled {sym} to 0 cannot be tested in "
                       f"{', '.join(miss)} (a model has too few pairs).")
        head_eq = f"equivalence untestable in {', '.join(miss)}"
    else:
        shown = all(rows[p].equivalent for p in fr.equivalence_phases)
        eq = "shown" if shown else "not-shown"
        parts = ", ".join(f"{p} {'yes' if rows[p].equivalent else 'no'} "
                          f"({fmt_level(rows[p].level)} CI "
                          f"{fmt_interval(rows[p].ci_low, rows[p].ci_high)}, "
                          f"{p_phrase(rows[p].pvalue)})" for p in fr.equivalence_phases)
        reasons.append(f"Equivalence of the family's pooled {sym} to 0 within "
                       f"{_margin_text(fr.margin)} (cross-model TOST, {d.method_name}) in the "
                       f"deciding phases: {parts}.")
        failed = [p for p in fr.equivalence_phases if not rows[p].equivalent]
        head_eq = (f"{sym} equivalent to 0 in {', '.join(fr.equivalence_phases)}" if shown
                   else f"{sym} not shown equivalent to 0 in {', '.join(failed)}")
    chk = fr.beside
    if chk and chk.get("p_value") is not None:
        agree = (chk["p_value"] < alpha) == sig
        reasons.append(f"Beside it, {chk['method_name']} on the shared depth model's standard "
                       f"errors: {fmt_level(chk['level'])} CI "
                       f"{fmt_interval(chk['ci_low'], chk['ci_high'])}, "
                       f"{p_phrase(chk['p_value'])}"
                       + (" -- it agrees." if agree else
                          " -- it disagrees: " + ("the family test is significant and this one "
                                                  "is not" if sig else "this one is significant "
                                                  "and the family test is not, but its size "
                                                  "holds only for limited heterogeneity "
                                                  "between models")
                          + "."))
    extra = {}
    ni = d.noninferiority
    if ni is not None and "noninferiority" in Evidence.__dataclass_fields__:
        # the non-superiority test of issue 21, on the family's distribution
        extra["noninferiority"] = "rejected" if ni["rejected"] else "not-rejected"
        reasons.append(
            f"Non-superiority of the family {contrast} against m_diff = {ni['margin']:g} (H0: "
            f"{contrast} ≥ {ni['margin']:g}; {d.method_name}): its "
            f"{fmt_level(ni['level'])} upper bound {fmt_num(ni['ci_high'])} is "
            f"{'below' if ni['rejected'] else 'not below'} {ni['margin']:g}, "
            f"{p_phrase(ni['p_value'])}.")
    evidence = Evidence("significant" if sig else "not-significant", negligible, eq, **extra)
    label = decide(evidence)
    late, early = fr.late, fr.early
    head_ni = ""
    if extra.get("noninferiority") == "rejected":
        head_ni = (f"; family {late} − {early} < {ni['margin']:g} shown "
                   f"({fmt_level(ni['level'])} upper bound {fmt_num(ni['ci_high'])})")
    if label == "no-late-excess":
        # as for one model (issue 21): the difference with its interval, and the level of the
        # pooled quantity in each deciding phase with its interval
        parts = [f"{sym} {fmt_num(rows[p].statistic)} "
                 f"{fmt_interval(rows[p].ci_low, rows[p].ci_high)} in {p}"
                 for p in fr.equivalence_phases if rows.get(p) is not None
                 and rows[p].statistic is not None]
        above = bool(parts) and all(rows[p].ci_low is not None and rows[p].ci_low > 0
                                    for p in fr.equivalence_phases if rows.get(p) is not None)
        where = (f"equivalence of the family's pooled {sym} to 0 is not part of this verdict"
                 if not testable_quantity else f"the family's pooled {sym} is "
                 + ("above 0 in every deciding phase" if above
                    else "not shown equivalent to 0 in all deciding phases"))
        level = fmt_level(next((r.level for r in rows.values()), d.tost_level))
        reasons.append(
            f"No late excess in the family: {contrast} = {fmt_num(d.statistic)}, "
            f"{fmt_level(d.tost_level)} CI {fmt_interval(d.tost_ci_low, d.tost_ci_high)}, below "
            f"m_diff = {ni['margin']:g}, while {where}"
            + (": " + ", ".join(parts) + f" ({level} intervals, cross-model TOST)" if parts
               else "") + ".")
    headline = (f"family {late} − {early} = {fmt_num(d.statistic)}, {p_phrase(d.pvalue)}"
                + (" (significant)" if sig else "") + f"{head_ni}; {head_eq}.")
    return {"label": label, "headline": headline, "reasons": reasons,
            "evidence": evidence.to_dict()}


def analyze_family(preps: list[tuple[str, Any]], method: str = ACROSS_METHOD,
                   share: bool = True) -> tuple[list, FamilyResult]:
    """Finish every prepared model (on the shared dependence model when they can be pooled)
    and analyse the family; returns ([(name, AnalysisResult)], FamilyResult)."""
    from .analysis import finish
    from .inference.family import METHODS

    if method not in METHODS:
        from .errors import UsageError
        raise UsageError("across_method", f"one of {', '.join(METHODS)}", method)
    first = preps[0][1]
    s = first.settings
    late, early = s.compare
    q = first.quantity
    reason, who = refusal(preps)
    quantity = {"key": q.key, "symbol": q.symbol, "name": q.name, "gauge": q.gauge,
                "null_name": q.null_name} if reason is None else {"symbol": q.symbol}
    eqp = tuple(first.eq_phases)
    for _, p in preps[1:]:
        eqp = tuple(x for x in eqp if x in p.eq_phases)
    base = dict(quantity=quantity, late=late, early=early, alpha=s.alpha, margin=s.margin,
                equivalence_phases=eqp)
    if reason is not None or not share:
        results = [(n, finish(p)) for n, p in preps]
        if reason is not None:
            return results, FamilyResult(tuple(n for n, _ in preps), reason, who, **base)
    notes = []
    fams = {n: tuple(p.table.families) for n, p in preps}
    if len(set(fams.values())) > 1:
        notes.append("the models carry different weight families, so each pooled mean averages "
                     "its own: " + "; ".join(f"{n}: {', '.join(f)}" for n, f in fams.items()))
    if share:
        shared = shared_models(preps)
        results = [(n, finish(p, shared)) for n, p in preps]
        pooled_shared = shared.get(POOLED)
    else:
        pooled_shared = None
    names = [n for n, _ in preps]
    fits = [_pooled_batch(p, pooled_shared) for _, p in preps]
    m_diff = getattr(s, "difference_margin", None)       # issue 21's setting, when present
    diff, per, beside = _difference(names, fits, late, early, s.alpha, method,
                                    s.margin[1] if m_diff is None else m_diff)
    per = tuple(ModelEstimate(r.model, p.table.num_layers, *[getattr(r, f) for f in (
        "n_late", "n_early", "statistic", "se", "df", "ci_low", "ci_high", "level", "pvalue",
        "weight")]) for r, (_, p) in zip(per, preps))
    eq = _equivalence(fits, eqp, s.alpha, s.margin, method)
    dep = None
    if pooled_shared is not None:
        dep = {**pooled_shared.summary(), "text": pooled_shared.text(),
               "columns": sorted(shared)}
    fr = FamilyResult(tuple(names), None, (), difference=diff, per_model=per, equivalence=eq,
                      dependence=dep, beside=beside, notes=tuple(notes), **base)
    verdict = family_verdict(fr, q.equivalence_testable, q.equivalence_note)
    import dataclasses

    return results, dataclasses.replace(fr, verdict=verdict)
