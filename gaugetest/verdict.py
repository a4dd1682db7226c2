"""The verdict rule: which hypothesis the evidence supports, with its reasons.

The rule reads two pieces of evidence from the inference method that drives the verdict:

* the **difference test**: the one-sided test of LATE > EARLY on the pooled quantity. It counts
  only when it can run *and* can reach alpha (an exact permutation test over few pairs may have
  a smallest possible p above alpha: its "not significant" then says nothing). When it is
  significant, its (1 − 2 alpha) interval decides whether the difference is **negligible**
  (inside the equivalence margin).
* **equivalence**: the TOST of the pooled quantity against the margin in the *deciding phases*
  (by default the two compared phases, which the hypotheses name; the other phases are
  reported, not deciding). It counts only when the quantity can be equivalent to 0 at all
  (delta under full orthogonal alignment cannot) and every deciding phase can be tested.

=======================  =====================================================================
label                    rule
=======================  =====================================================================
training-artifact        difference significant, not negligible, and equivalence not shown
negligible-difference    difference significant but inside the margin (or the phases are each
                         equivalent to 0): real but smaller than what the margin calls relevant
real-specialization      difference not significant and equivalence shown in the deciding phases
inconclusive             difference not significant and equivalence not shown
equivalence-untestable   difference not significant and equivalence cannot be tested
difference-untestable    the difference test cannot run or cannot reach alpha
not-testable             neither can be tested
=======================  =====================================================================

A failed equivalence test ("not shown equivalent") is never evidence for either hypothesis: it
only keeps real-specialization from being claimed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .formatting import fmt_interval, fmt_level, fmt_num, p_phrase

LABELS = ("training-artifact", "negligible-difference", "real-specialization", "inconclusive",
          "equivalence-untestable", "difference-untestable", "not-testable")


@dataclass(frozen=True)
class Evidence:
    """What the rule reads (see the module docstring)."""

    difference: str        # "significant" | "not-significant" | "not-testable" | "cannot-reach-alpha"
    negligible: bool | None
    equivalence: str       # "shown" | "not-shown" | "untestable-quantity" | "untestable-phases"

    def to_dict(self) -> dict:
        return {"difference": self.difference, "negligible": self.negligible,
                "equivalence": self.equivalence}


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
    if e.difference == "significant":
        if e.negligible or e.equivalence == "shown":
            return "negligible-difference"
        return "training-artifact"
    if e.equivalence == "shown":
        return "real-specialization"
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

    eq, eq_reasons, head_eq = _equivalence(result, desc)
    reasons += eq_reasons
    evidence = Evidence(diff, negligible, eq)
    label = decide(evidence)
    headline = f"{head_diff}; {head_eq}."
    return evidence, reasons, headline


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
