"""The interface every inference method implements, and the result rows they all return.

An inference method turns the analysed values (pairs x families, plus the pooled column) into
the same four things: a two-sided interval for every phase x family mean, the one-sided test of
LATE > EARLY with a two-sided interval for the difference, a TOST of every phase mean against
the margin, and a power summary. The iid analysis (bootstrap, permutation test, t TOST) and the
dependence-robust analyses are uses of this one interface, so the verdict and every renderer
read them the same way, and a new method is one file in this package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .._util import json_number as _num

POOLED = "pooled"


def p_or_none(p) -> float | None:
    """A p-value as result rows carry it: None when there is none (None or NaN: a NaN must
    never be read as 'not significant'), else clipped to [0, 1] (a sum of probabilities can
    end an ulp outside)."""
    if p is None:
        return None
    p = float(p)
    return None if p != p else min(1.0, max(0.0, p))


def _clip_p(row, names) -> None:
    for name in names:
        object.__setattr__(row, name, p_or_none(getattr(row, name)))


# --------------------------------------------------------------------------- what a method sees


@dataclass(frozen=True)
class InferenceInput:
    """The data and settings an inference method needs (built once per analysis).

    Attributes
    ----------
    x : ndarray (n_pairs, F + 1)
        Analysed values per pair, the families then the pooled column; NaN where missing.
    columns : tuple of str
        Family names and ``"pooled"`` last.
    layers : ndarray of int
        Pair index L of each row.
    phases : tuple of str
        Phase of each row.
    phase_order : tuple of str
        Phases present, in depth order.
    known_var : ndarray or None
        Variance each value carries from an estimated baseline (the matched null's mean).
    late, early : str
        The compared phases.
    alpha : float
    margin : tuple of float
    n_boot, n_perm : int
    ci : str
        Bootstrap interval method (iid).
    tost_rule : str
        The distribution the depth model's TOST uses (``gaugetest.inference.depth_model.TOST_RULES``);
        other methods ignore it.
    difference_margin : float or None
        m_diff of the non-superiority test H0: LATE − EARLY ≥ m_diff; None means the upper
        bound of ``margin`` (:attr:`m_diff`).
    estimand : str
        What the depth model's phase levels estimate: "mean" (arithmetic means) or "gls"
        (GLS levels); other methods ignore it.
    shared : dict or None
        Column name -> the dependence model shared with the other models of a multi-model run
        (``gaugetest.inference.depth_model.shared.SharedDependence``); the depth model uses it
        instead of the column's own. None (a single-model run): every column alone.
    """

    x: np.ndarray
    columns: tuple[str, ...]
    layers: np.ndarray
    phases: tuple[str, ...]
    phase_order: tuple[str, ...]
    known_var: np.ndarray | None
    late: str
    early: str
    alpha: float
    margin: tuple[float, float]
    n_boot: int = 10_000
    n_perm: int = 100_000
    ci: str = "t-union"
    tost_rule: str = "mixture"
    difference_margin: float | None = None
    estimand: str = "mean"

    @property
    def m_diff(self) -> float:
        """The non-superiority margin of LATE − EARLY (default: the margin's upper bound)."""
        return self.margin[1] if self.difference_margin is None else self.difference_margin
    shared: dict | None = None

    def rows_of(self, phase: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.phases, dtype=object) == phase)

    @property
    def families(self) -> tuple[str, ...]:
        return self.columns[:-1]


class InferenceMethod(Protocol):
    """What ``gaugetest.inference.get(name)`` returns."""

    key: str

    def run(self, data: InferenceInput, rng: np.random.Generator) -> "InferenceResult":
        ...


# --------------------------------------------------------------------------- result rows


@dataclass(frozen=True)
class PhaseEstimate:
    """Mean of one phase x family (or pooled) with its two-sided ``level`` interval."""

    phase: str
    family: str
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    method: str
    note: str = ""

    def to_dict(self) -> dict:
        return {"phase": self.phase, "family": self.family, "n": self.n, "mean": _num(self.mean),
                "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high), "level": self.level,
                "ci_method": self.method, "note": self.note}


@dataclass(frozen=True)
class DifferenceRow:
    """mean(LATE) − mean(EARLY) for one family (or pooled): the one-sided test of H1 > 0 and
    a two-sided ``level`` interval for the difference."""

    family: str
    statistic: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    p_value: float | None
    p_holm: float | None = None
    detail: dict = field(default_factory=dict)
    note: str = ""

    def __post_init__(self):
        _clip_p(self, ("p_value", "p_holm"))

    def to_dict(self) -> dict:
        d = {"family": self.family, "statistic": _num(self.statistic),
             "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high), "level": self.level,
             "p_value": _num(self.p_value), "p_holm": _num(self.p_holm)}
        d.update({k: (_num(v) if isinstance(v, float) else v) for k, v in self.detail.items()})
        d["note"] = self.note
        return d


@dataclass(frozen=True)
class DifferenceTest:
    """The LATE > EARLY test for every family and pooled, or why it cannot run.

    ``min_p`` is the smallest p-value the test can give on this layout (1 / number of splits for
    an exact permutation test); when it is not below alpha the test cannot reject whatever the
    data, and the verdict must not read its "not significant" as evidence.
    """

    late: str
    early: str
    n_late: int
    n_early: int
    testable: bool
    reason: str
    test: str                       # e.g. "one-sided permutation test"
    rows: tuple[DifferenceRow, ...] = ()
    min_p: float | None = None
    detail: dict = field(default_factory=dict)

    @property
    def pooled(self) -> DifferenceRow | None:
        return next((r for r in self.rows if r.family == POOLED), None)

    def reaches(self, alpha: float) -> bool:
        """Can this test give a p-value below ``alpha`` at all?"""
        return self.min_p is None or self.min_p < alpha

    def to_dict(self) -> dict:
        return {"late": self.late, "early": self.early, "n_late": self.n_late,
                "n_early": self.n_early, "testable": self.testable, "reason": self.reason,
                "test": self.test, "min_p": _num(self.min_p), **self.detail}


@dataclass(frozen=True)
class NoninferiorityRow:
    """The one-sided non-superiority test of LATE − EARLY for one family (or pooled):
    H0: LATE − EARLY ≥ ``margin`` (m_diff) against H1: LATE − EARLY < m_diff.

    It is read from the same result as the LATE > EARLY test, and ``p_value`` < alpha exactly
    when ``ci_high``, the upper end of the (1 − 2 alpha) interval ``[ci_low, ci_high]`` of the
    difference (``level``), lies below m_diff. ``p_holm`` adjusts the family rows across
    families (Holm); ``rejected`` is ``p_value`` < alpha for the pooled row and ``p_holm`` <
    alpha for a family row. ``min_p`` is the smallest p the test can give (the iid test's
    bootstrap p: 1 / (B + 1)); when it is not below alpha the test cannot decide, ``rejected``
    is None and the note says so. (Called ``noninferiority`` in the JSON: a non-inferiority
    test in the direction of smaller differences.)"""

    late: str
    early: str
    family: str
    statistic: float | None
    margin: float
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    test: str
    p_holm: float | None = None
    rejected: bool | None = None
    note: str = ""
    min_p: float | None = None

    def to_dict(self) -> dict:
        return {"late": self.late, "early": self.early, "family": self.family,
                "statistic": _num(self.statistic), "margin": self.margin,
                "p_value": _num(self.p_value), "p_holm": _num(self.p_holm),
                "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high),
                "level": self.level, "rejected": self.rejected, "test": self.test,
                "min_p": _num(self.min_p), "note": self.note}


@dataclass(frozen=True)
class EquivalenceRow:
    """TOST of one phase x family mean against (margin_low, margin_high); the interval is the
    (1 − 2 alpha) one whose inclusion in the margin is the test, and ``min_margin`` =
    max(|ci_low|, |ci_high|) is the smallest symmetric margin that interval fits in.
    ``min_p`` is the smallest p the test can give (a bootstrap p: 1 / (B + 1)); when it is not
    below alpha the test cannot decide and ``equivalent`` is None, with a note."""

    phase: str
    family: str
    n: int
    mean: float | None
    margin_low: float
    margin_high: float
    p_lower: float | None
    p_upper: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    equivalent: bool | None
    min_margin: float | None
    note: str = ""
    min_p: float | None = None         # smallest p the test can give; >= alpha: undecided

    def __post_init__(self):
        _clip_p(self, ("p_lower", "p_upper", "p_value"))

    @classmethod
    def from_tost(cls, phase: str, family: str, r, level: float) -> "EquivalenceRow":
        return cls(phase, family, r.n, r.mean, r.margin_low, r.margin_high, r.p_lower,
                   r.p_upper, r.pvalue, r.ci_low, r.ci_high, level, r.equivalent, r.min_margin,
                   r.note, r.min_p)

    @classmethod
    def untestable(cls, phase: str, family: str, n: int, mean, margin, level: float,
                   note: str) -> "EquivalenceRow":
        return cls(phase, family, n, mean, margin[0], margin[1], None, None, None, None, None,
                   level, None, None, note)

    def to_dict(self) -> dict:
        return {"phase": self.phase, "family": self.family, "n": self.n, "mean": _num(self.mean),
                "margin_low": self.margin_low, "margin_high": self.margin_high,
                "p_lower": _num(self.p_lower), "p_upper": _num(self.p_upper),
                "p_value": _num(self.p_value), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "level": self.level,
                "equivalent": self.equivalent, "min_margin": _num(self.min_margin),
                "min_p": _num(self.min_p), "note": self.note}


@dataclass(frozen=True)
class PowerSummary:
    """Smallest LATE − EARLY difference detectable with ``power`` (per family and pooled), and
    the TOST's power at a true mean of 0 (pooled, per phase), for this method's standard errors."""

    method: str
    late: str
    early: str
    power: float
    mdd: dict            # family -> value or None
    tost: dict           # phase -> value or None

    def to_dict(self) -> dict:
        return {"method": self.method, "target_power": self.power,
                "late": self.late, "early": self.early,
                "min_detectable_difference": [{"family": k, "value": _num(v)}
                                              for k, v in self.mdd.items()],
                "tost_power_at_zero": [{"phase": k, "value": _num(v)}
                                       for k, v in self.tost.items()]}


@dataclass(frozen=True)
class InferenceResult:
    """Everything one inference method computes for one analysis."""

    method: str                        # registry key: "iid", "neff", ...
    name: str                          # how outputs name it: "iid", "robust (neff)"
    description: str                   # one or two sentences for a Methods section
    interval_method: str               # how phase intervals are made ("BCa bootstrap", "t")
    difference: DifferenceTest
    phase_summary: tuple[PhaseEstimate, ...]
    equivalence: tuple[EquivalenceRow, ...]
    power: PowerSummary | None = None
    detail: dict = field(default_factory=dict)
    summary: str = ""                  # one short line: "rho 0.52 (depth-wide); n_eff C 9.1, E 5.3"
    check: dict | None = None          # model check, when the method has a model
    references: tuple[str, ...] = ()   # keys of render.documents.REFERENCES
    null_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)
    tost_rule: str = ""                # the depth model's TOST rule; '' for other methods
    noninferiority: tuple[NoninferiorityRow, ...] = ()   # H0: LATE − EARLY >= m_diff
    estimand: str = ""                 # the depth model's estimand ("mean" | "gls"); ''
                                       # for other methods (arithmetic means)

    @property
    def tost_name(self) -> str:
        """How outputs name this analysis's TOST: 'robust (reml-bma) TOST', with the rule
        when it is not the default mixture."""
        rule = f" ({self.tost_rule} rule)" if self.tost_rule not in ("", "mixture") else ""
        return f"{self.name} TOST{rule}"

    def estimate(self, phase: str, family: str = POOLED) -> PhaseEstimate | None:
        return next((r for r in self.phase_summary if r.phase == phase and r.family == family),
                    None)

    def equivalence_row(self, phase: str, family: str = POOLED) -> EquivalenceRow | None:
        return next((r for r in self.equivalence if r.phase == phase and r.family == family),
                    None)

    @property
    def noninferiority_pooled(self) -> NoninferiorityRow | None:
        return next((r for r in self.noninferiority if r.family == POOLED), None)

    def to_dict(self) -> dict:
        return {"method": self.method, "name": self.name, "description": self.description,
                "interval_method": self.interval_method, "summary": self.summary,
                "detail": self.detail, "check": self.check,
                "references": list(self.references),
                "phase_summary": [r.to_dict() for r in self.phase_summary],
                "difference_test": self.difference.to_dict(),
                "late_vs_early": [r.to_dict() for r in self.difference.rows],
                "noninferiority": [r.to_dict() for r in self.noninferiority],
                "equivalence": [r.to_dict() for r in self.equivalence],
                "power": self.power.to_dict() if self.power else None,
                "tost_rule": self.tost_rule or None, "tost_name": self.tost_name,
                "estimand": self.estimand or None}


def holm_adjust(p_family) -> list[float | None]:
    """Holm-adjusted p-values over the families whose p exists (None stays None), by
    ``statsmodels.stats.multitest.multipletests(method="holm")``."""
    import gc

    from statsmodels.stats.multitest import multipletests

    p = np.array([np.nan if v is None else v for v in p_family], dtype=float)
    ok = ~np.isnan(p)
    adj = np.full(p.shape, np.nan)
    if ok.any():
        # statsmodels' Holm branch ends in gc.collect(): with scipy and pandas loaded a full
        # collection costs 0.1-0.4 s a call. Freezing what exists leaves it only this call's
        # objects to scan; unfreezing restores the collector exactly as it was.
        gc.freeze()
        try:
            adj[ok] = multipletests(p[ok], method="holm")[1]
        finally:
            gc.unfreeze()
    return [float(a) if np.isfinite(a) else None for a in adj]


def not_testable_reason(data: InferenceInput, phase_names_in_map) -> str | None:
    """Why the LATE > EARLY test cannot run at all on this layout, or None.

    A phase absent from the map, or with fewer than 2 pairs, stops the whole test. A column
    without values in a phase (one family missing on every pair, which leaves the pooled
    column without a complete pair) only makes that column's row not testable: the methods
    report it there, with a note, and never turn a missing statistic into a p-value.
    """
    late, early = data.late, data.early
    missing = [p for p in (late, early) if p not in phase_names_in_map]
    if missing:
        return f"the phase map has no phase {' or '.join(missing)}"
    short = [f"{p} has {len(data.rows_of(p))} pair(s)" for p in (late, early)
             if len(data.rows_of(p)) < 2]
    if short:
        return "; ".join(short) + " (need >= 2 each)"
    return None


def compared_counts(data: InferenceInput, j: int = -1) -> tuple[int, int]:
    """Pairs with a value in column ``j`` (default: the pooled one, whose test the verdict
    reads) in LATE and in EARLY: the n that column's test really has."""
    return tuple(int(np.sum(~np.isnan(data.x[data.rows_of(p), j])))
                 for p in (data.late, data.early))


def column_note(data: InferenceInput, j: int, need: int) -> str:
    """'' when column j has at least ``need`` values in both compared phases, else why not."""
    out = []
    for p in (data.late, data.early):
        k = int(np.sum(~np.isnan(data.x[data.rows_of(p), j])))
        if k < need:
            what = ("complete pair(s) (a family is missing on the others)"
                    if data.columns[j] == POOLED else "value(s)")
            out.append(f"{p} has {k} {what}")
    return "; ".join(out) + (f": need >= {need}, not testable" if out else "")
