"""The verdict rule: which hypothesis the evidence supports, with its reasons.

The rule reads three pieces of evidence from the inference method that drives the verdict:

* the **difference test**: the one-sided test of LATE > EARLY on the pooled quantity. It counts
  only when it can run *and* can reach alpha (an exact permutation test over few pairs may have
  a smallest possible p above alpha: its "not significant" then says nothing). When it is
  significant, its (1 − 2 alpha) interval decides whether the difference is **negligible**
  (inside the equivalence margin).
* the **non-superiority test** of the same difference: H0: LATE − EARLY ≥ m_diff against
  H1: LATE − EARLY < m_diff (``--difference-margin``, default the margin's upper bound), from
  the same inference result (``gaugetest.inference.noninferiority``): rejected exactly when
  the upper end of the (1 − 2 alpha) interval of the difference lies below m_diff. It answers
  "is there a relevant late excess?", which "not significant" alone cannot.
* **equivalence**: the TOST of the pooled quantity against the margin in the *deciding phases*
  (by default the two compared phases, which the hypotheses name; the other phases are
  reported, not deciding). It counts only when the quantity can be equivalent to 0 at all
  (delta under full orthogonal alignment cannot) and every deciding phase can be tested.

=======================  =====================================================================
label                    rule
=======================  =====================================================================
training-artifact        difference significant, not negligible, E − C ≥ m_diff not rejected,
                         and equivalence not shown
negligible-difference    difference significant, and inside the margin, or shown below m_diff
                         (non-superiority rejected), or the phases are each equivalent to 0:
                         real but smaller than what the margins call relevant
real-specialization      difference not significant and equivalence shown in the deciding phases
no-late-excess           difference not significant, non-superiority rejected (LATE − EARLY <
                         m_diff), equivalence not shown or untestable: no relevant late excess,
                         though the levels are not shown to be 0
inconclusive             difference not significant, non-superiority not rejected, equivalence
                         not shown
equivalence-untestable   difference not significant, non-superiority not rejected, and
                         equivalence cannot be tested
difference-untestable    the difference test cannot run or cannot reach alpha
not-testable             neither can be tested
=======================  =====================================================================

docs/methodology.md has the same rule as a table over every combination of the evidence
(tests/test_verdict.py checks :func:`decide` against it). A failed equivalence test ("not shown
equivalent") is never evidence for either hypothesis: it only keeps real-specialization from
being claimed. :func:`decide` is a plain function of :class:`Evidence`, so an analysis of
several models can apply the same rule to evidence it gathers for a family.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .formatting import fmt_interval, fmt_level, fmt_num, p_phrase

LABELS = ("training-artifact", "negligible-difference", "real-specialization", "no-late-excess",
          "inconclusive", "equivalence-untestable", "difference-untestable", "not-testable")

#: The values each piece of evidence can take (``negligible`` is None unless the difference
#: is significant).
DIFFERENCE = ("significant", "not-significant", "not-testable", "cannot-reach-alpha")
EQUIVALENCE = ("shown", "not-shown", "untestable-quantity", "untestable-phases")
NONINFERIORITY = ("rejected", "not-rejected", "not-testable")


@dataclass(frozen=True)
class Evidence:
    """What the rule reads (see the module docstring)."""

    difference: str        # "significant" | "not-significant" | "not-testable" | "cannot-reach-alpha"
    negligible: bool | None
    equivalence: str       # "shown" | "not-shown" | "untestable-quantity" | "untestable-phases"
    # the non-superiority test H0: LATE − EARLY >= m_diff: "rejected" | "not-rejected" |
    # "not-testable" (the default: evidence gathered without it decides as before)
    noninferiority: str = "not-testable"

    def to_dict(self) -> dict:
        return {"difference": self.difference, "negligible": self.negligible,
                "equivalence": self.equivalence, "noninferiority": self.noninferiority}


def decide(e: Evidence) -> str:
    """Apply the rule.

    Examples
    --------
    >>> decide(Evidence("significant", False, "not-shown"))
    'training-artifact'
    >>> decide(Evidence("significant", True, "not-shown"))
    'negligible-difference'
    >>> decide(Evidence("not-significant", None, "shown"))
    'real-specialization'
    >>> decide(Evidence("not-significant", None, "not-shown", "rejected"))
    'no-late-excess'
    >>> decide(Evidence("not-significant", None, "not-shown", "not-rejected"))
    'inconclusive'
    >>> decide(Evidence("not-significant", None, "untestable-quantity"))
    'equivalence-untestable'
    >>> decide(Evidence("cannot-reach-alpha", None, "shown"))
    'difference-untestable'
    """
    diff_ok = e.difference in ("significant", "not-significant")
    eq_ok = e.equivalence in ("shown", "not-shown")
    if not diff_ok and not eq_ok:
        return "not-testable"
    if not diff_ok:
        return "difference-untestable"
    below = e.noninferiority == "rejected"        # LATE − EARLY < m_diff shown
    if e.difference == "significant":
        if e.negligible or e.equivalence == "shown" or below:
            return "negligible-difference"
        return "training-artifact"
    if e.equivalence == "shown":
        return "real-specialization"
    if below:
        return "no-late-excess"
    if not eq_ok:
        return "equivalence-untestable"
    return "inconclusive"


@dataclass(frozen=True)
class Verdict:
    label: str
    reasons: tuple[str, ...]
    headline: str                     # the one-line reason
    caveat: str
    dependence: str                   # name of the analysis that drives it
    evidence: Evidence
    disagreement: str = ""
    other: dict = field(default_factory=dict)   # {"analysis": "iid", "label": ...}

    def to_dict(self) -> dict:
        d = {"label": self.label, "headline": self.headline, "reasons": list(self.reasons),
             "caveat": self.caveat, "dependence": self.dependence,
             "evidence": self.evidence.to_dict(), "other": self.other}
        if self.disagreement:
            d["disagreement"] = self.disagreement
        return d


def _margin_text(margin) -> str:
    lo, hi = margin
    return f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"


def weigh(result, desc) -> tuple[Evidence, list[str], str]:
    """(evidence, reasons, headline) from one inference result and the analysis description."""
    q, alpha = desc.quantity, desc.alpha
    late, early = desc.late, desc.early
    contrast = q.contrast(late, early)
    reasons: list[str] = []
    test = result.difference
    pooled = test.pooled
    negligible = None
    if not test.testable or pooled is None or pooled.p_value is None:
        diff = "not-testable"
        why = test.reason or (pooled.note if pooled is not None and pooled.note
                              else "no pooled statistic")
        reasons.append(f"The test of {contrast} > 0 ({result.name}) cannot run: {why}.")
        head_diff = f"{late} − {early} test cannot run"
    elif not test.reaches(alpha):
        diff = "cannot-reach-alpha"
        reasons.append(
            f"The {test.test} of {contrast} > 0 ({result.name}) cannot reach alpha = {alpha:g} "
            f"on {test.n_late} vs {test.n_early} pairs: its smallest possible p is "
            f"{test.min_p:.3g}, so 'not significant' would say nothing (observed difference "
            f"{fmt_num(pooled.statistic)}, {p_phrase(pooled.p_value)}).")
        head_diff = f"{late} − {early} test cannot reach alpha (smallest p {test.min_p:.3g})"
    else:
        sig = pooled.p_value < alpha
        diff = "significant" if sig else "not-significant"
        ci = ""
        if pooled.ci_low is not None:
            ci = f", {fmt_level(pooled.level)} CI {fmt_interval(pooled.ci_low, pooled.ci_high)}"
        reasons.append(
            f"Pooled {contrast} = {fmt_num(pooled.statistic)}{ci} ({test.n_late} vs "
            f"{test.n_early} pairs; one-sided {test.test}, {result.name} analysis: "
            f"{p_phrase(pooled.p_value)}): {'significant' if sig else 'not significant'} at "
            f"alpha = {alpha:g}.")
        head_diff = (f"{late} − {early} = {fmt_num(pooled.statistic)}, "
                     f"{p_phrase(pooled.p_value)}" + (" (significant)" if sig else ""))
        if sig:
            lo90, hi90 = _tost_interval_of_difference(pooled, alpha)
            if lo90 is not None:
                m_lo, m_hi = desc.margin
                negligible = bool(m_lo < lo90 and hi90 < m_hi)
                reasons.append(
                    f"Its {fmt_level(1 - 2 * alpha)} interval {fmt_interval(lo90, hi90)} "
                    + ("lies inside" if negligible else "is not inside")
                    + f" the margin {_margin_text(desc.margin)}: the difference is "
                    + ("real but negligible." if negligible else "not shown negligible."))

    nonsup, ni_reasons, head_ni = _noninferiority(result, desc)
    reasons += ni_reasons
    eq, eq_reasons, head_eq = _equivalence(result, desc)
    reasons += eq_reasons
    evidence = Evidence(diff, negligible, eq, nonsup)
    if decide(evidence) == "no-late-excess":
        reasons.append(_no_late_excess(result, desc))
    # the non-superiority result joins the one-line reason when it is evidence for the label
    # (rejected); "not shown" is in the reasons
    parts = (head_diff, head_ni if nonsup == "rejected" else "", head_eq)
    headline = "; ".join(x for x in parts if x) + "."
    return evidence, reasons, headline


def _noninferiority(result, desc) -> tuple[str, list[str], str]:
    """The non-superiority evidence: H0: LATE − EARLY >= m_diff on the pooled quantity."""
    row = result.noninferiority_pooled
    contrast, m = desc.contrast, desc.m_diff
    if not result.difference.testable:
        return "not-testable", [], ""           # the difference test's reason says why
    if row is None or row.p_value is None:
        why = row.note if row is not None and row.note else "no pooled statistic"
        return "not-testable", [f"The non-superiority test of H0: {contrast} ≥ {m:g} "
                                f"({result.name}) cannot run: {why}."], ""
    if row.min_p is not None and not row.min_p < desc.alpha:    # it cannot reach alpha
        return "not-testable", [f"The non-superiority test of H0: {contrast} ≥ {m:g} "
                                f"({result.name}) cannot decide: {row.note}."], ""
    rejected = row.p_value < desc.alpha
    level = fmt_level(row.level)
    reason = (f"Non-superiority of the pooled {contrast} against m_diff = {m:g} (H0: "
              f"{contrast} ≥ {m:g}; {row.test}, {result.name} analysis): its {level} upper "
              f"bound {fmt_num(row.ci_high)} is {'below' if rejected else 'not below'} {m:g}, "
              f"{p_phrase(row.p_value)}: "
              + (f"rejected at alpha = {desc.alpha:g}, a late excess of {m:g} or more is ruled "
                 "out." if rejected else
                 f"not rejected, a late excess of {m:g} or more is not ruled out."))
    head = (f"{desc.late} − {desc.early} < {m:g} {'shown' if rejected else 'not shown'} "
            f"({level} upper bound {fmt_num(row.ci_high)})")
    return ("rejected" if rejected else "not-rejected"), [reason], head


def _no_late_excess(result, desc) -> str:
    """The reason of a no-late-excess verdict: the difference with its interval, and the
    level of the quantity in the deciding phases with theirs."""
    q = desc.quantity
    row = result.noninferiority_pooled
    rows = {r.phase: r for r in result.equivalence if r.family == "pooled"}
    parts, above = [], True
    for p in desc.equivalence_phases:
        r = rows.get(p)
        if r is None or r.mean is None:
            parts.append(f"{q.symbol} — in {p}")
            above = False
            continue
        parts.append(f"{q.symbol} {fmt_num(r.mean)} {fmt_interval(r.ci_low, r.ci_high)} in {p}")
        above = above and r.ci_low is not None and r.ci_low > 0
    level = fmt_level(next((r.level for r in rows.values()), 1 - 2 * desc.alpha))
    if not q.equivalence_testable:
        where = f"equivalence of the pooled {q.symbol} to 0 is not part of this verdict"
    else:
        where = f"the pooled {q.symbol} is " + ("above 0 in every deciding phase" if above else
                                                 "not shown equivalent to 0 in all deciding "
                                                 "phases")
    return (f"No late excess: {desc.contrast} = {fmt_num(row.statistic)}, {fmt_level(row.level)} "
            f"CI {fmt_interval(row.ci_low, row.ci_high)}, below m_diff = {desc.m_diff:g}, "
            f"while {where}: " + ", ".join(parts)
            + f" ({level} intervals, {result.tost_name}).")


def _tost_interval_of_difference(row, alpha):
    """The (1 − 2 alpha) interval of the difference: the method's own when it records one
    (``tost_ci_low``/``tost_ci_high``), else the t interval from its standard error and df."""
    d = row.detail
    if d.get("tost_ci_low") is not None:
        return d["tost_ci_low"], d["tost_ci_high"]
    if d.get("se") is not None and d.get("df"):
        from .inference.moments import difference_interval

        return difference_interval(row.statistic, d["se"], d["df"], 1 - 2 * alpha)
    return None, None


def _equivalence(result, desc) -> tuple[str, list[str], str]:
    q = desc.quantity
    margin = _margin_text(desc.margin)
    rows = {r.phase: r for r in result.equivalence if r.family == "pooled"}
    deciding = [p for p in desc.equivalence_phases]
    level = fmt_level(1 - 2 * desc.alpha)
    reasons = []
    if not q.equivalence_testable:
        reasons.append(f"Equivalence to 0 is not part of this verdict: {q.equivalence_note}. "
                       f"The TOST table is kept for reference.")
        return "untestable-quantity", reasons, f"equivalence of {q.symbol} to 0 untestable"
    missing = [p for p in deciding if p not in rows or rows[p].equivalent is None]
    if missing:
        why = "; ".join(f"{p}: " + ("no pair of this phase in the data" if p not in rows
                                    else rows[p].note or "too few complete pairs")
                        for p in missing)
        reasons.append(f"Equivalence of the pooled {q.symbol} to 0 within {margin} cannot be "
                       f"tested in {', '.join(missing)} ({why}).")
        return "untestable-phases", reasons, f"equivalence untestable in {', '.join(missing)}"
    shown = all(rows[p].equivalent for p in deciding)
    parts = ", ".join(f"{p} {'yes' if rows[p].equivalent else 'no'} ({level} CI "
                      f"{fmt_interval(rows[p].ci_low, rows[p].ci_high)}, "
                      f"{p_phrase(rows[p].p_value)})" for p in deciding)
    reasons.append(f"Equivalence of the pooled {q.symbol} to 0 within {margin} "
                   f"({result.tost_name}) in the deciding phases: {parts}.")
    others = [p for p in rows if p not in deciding]
    if others:
        rep = ", ".join(f"{p} {'—' if rows[p].equivalent is None else ('yes' if rows[p].equivalent else 'no')}"
                        for p in others)
        reasons.append(f"Other phases, reported but not deciding: {rep}.")
    if shown:
        head = f"{q.symbol} equivalent to 0 in {', '.join(deciding)}"
    else:
        failed = [p for p in deciding if not rows[p].equivalent]
        head = f"{q.symbol} not shown equivalent to 0 in {', '.join(failed)}"
    return ("shown" if shown else "not-shown"), reasons, head


def make_verdict(driving, other, desc, caveat: str) -> Verdict:
    """The verdict from the driving analysis, with the other analysis's label beside it."""
    evidence, reasons, headline = weigh(driving, desc)
    label = decide(evidence)
    o_evidence, _, _ = weigh(other, desc)
    o_label = decide(o_evidence)
    disagreement = ""
    if o_label != label:
        disagreement = (f"The {other.name} analysis gives '{o_label}' where the {driving.name} "
                        f"analysis gives '{label}'; the verdict follows the {driving.name} "
                        "analysis" + (", which accounts for the serial correlation of adjacent "
                                      "pairs (they share a layer)." if driving.method != "iid"
                                      else ", as requested."))
    return Verdict(label, tuple(reasons), headline, caveat, driving.name, evidence, disagreement,
                   {"analysis": other.name, "label": o_label})
