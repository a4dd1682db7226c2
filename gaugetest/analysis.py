"""``analyze``: from the two sweep files to tables, tests and a verdict.

Data flow: ``io`` (load, validate) -> ``phases`` -> ``deltas`` (join) ->
``bootstrap`` / ``permutation`` / ``equivalence`` -> ``verdict``.  The CLI is
a thin layer over :func:`analyze`; rendering lives in ``gaugetest.render``.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._util import json_number
from ._version import __version__
from .bootstrap import MeanCI, mean_ci
from .deltas import DeltaTable, Issue, build_deltas
from .equivalence import TostResult, tost_mean
from .errors import UsageError
from .io import Sweep, load_sweep
from .permutation import holm, n_splits, permutation_pvalue
from .render.formatting import fmt_p, p_phrase
from .phases import STANDARD_PHASES, PhaseMap, resolve_phase_map
from .settings import Settings, validate_settings
from .dependence import ROBUST_METHOD
from .robust import PowerSummary, RobustResult, power_summary, robust_analysis
from .verdict import Verdict, decide

POOLED = "pooled"


_num = json_number


# --------------------------------------------------------------------------- result rows


@dataclass(frozen=True)
class PhaseSummaryRow:
    phase: str
    family: str
    n: int
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    note: str = ""

    def to_dict(self) -> dict:
        return {"phase": self.phase, "family": self.family, "n": self.n,
                "mean_delta": _num(self.mean_delta), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "ci_method": self.ci_method, "note": self.note}


@dataclass(frozen=True)
class PermutationRow:
    family: str
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    exact: bool
    n_resamples: int

    def to_dict(self) -> dict:
        return {"family": self.family, "statistic": _num(self.statistic),
                "p_value": _num(self.p_value), "p_holm": _num(self.p_holm),
                "exact": self.exact, "n_resamples": self.n_resamples}


@dataclass(frozen=True)
class PermutationTest:
    """The LATE > EARLY test for every family and pooled, or why it could not run."""

    late: str
    early: str
    n_late: int
    n_early: int
    testable: bool
    reason: str
    rows: tuple[PermutationRow, ...] = ()
    n_splits: int = 0
    null_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def pooled(self) -> PermutationRow | None:
        return next((r for r in self.rows if r.family == POOLED), None)

    def to_dict(self) -> dict:
        return {"late": self.late, "early": self.early, "n_late": self.n_late,
                "n_early": self.n_early, "testable": self.testable, "reason": self.reason,
                "n_distinct_splits": self.n_splits}


@dataclass(frozen=True)
class EquivalenceRow:
    phase: str
    family: str
    n: int
    mean_delta: float | None
    margin_low: float
    margin_high: float
    p_lower: float | None
    p_upper: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    equivalent: bool | None
    min_margin: float | None
    note: str = ""

    @classmethod
    def from_tost(cls, phase: str, family: str, r: TostResult) -> "EquivalenceRow":
        return cls(phase, family, r.n, r.mean, r.margin_low, r.margin_high, r.p_lower,
                   r.p_upper, r.pvalue, r.ci_low, r.ci_high, r.equivalent, r.min_margin, r.note)

    def to_dict(self) -> dict:
        return {"phase": self.phase, "family": self.family, "n": self.n,
                "mean_delta": _num(self.mean_delta),
                "margin_low": self.margin_low, "margin_high": self.margin_high,
                "p_lower": _num(self.p_lower), "p_upper": _num(self.p_upper),
                "p_value": _num(self.p_value), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "equivalent": self.equivalent,
                "min_margin": _num(self.min_margin), "note": self.note}


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one run of ``gaugetest test`` computes.

    ``to_dict()`` is exactly the results JSON (see docs/json.md).
    """

    settings: Settings
    phase_map: PhaseMap
    table: DeltaTable
    inputs: dict
    phase_summary: tuple[PhaseSummaryRow, ...]
    permutation: PermutationTest
    equivalence: tuple[EquivalenceRow, ...]
    equivalence_everywhere: bool | None
    untestable_phases: tuple[str, ...]
    verdict: Verdict
    warnings: tuple[Issue, ...]
    robust: RobustResult | None = None
    power: PowerSummary | None = None
    gaussian_null: dict | None = None

    # -- convenient views -------------------------------------------------------------
    def summary(self, phase: str, family: str = POOLED) -> PhaseSummaryRow:
        return next(r for r in self.phase_summary if r.phase == phase and r.family == family)

    def equivalence_row(self, phase: str, family: str = POOLED) -> EquivalenceRow:
        return next(r for r in self.equivalence if r.phase == phase and r.family == family)

    def pair_rows(self) -> list[dict]:
        t, rows = self.table, []
        raw = t.raw if t.raw_cos is None else t.raw_cos
        for i, L in enumerate(t.layers):
            for j, f in enumerate(t.families):
                if not np.isnan(t.raw[i, j]):
                    row = {"L": int(L), "phase": t.phases[i], "family": f,
                           "raw": float(raw[i, j]), "aligned": float(t.aligned[i, j]),
                           "delta": float(t.aligned[i, j] - raw[i, j])}
                    if t.raw_cos is not None:
                        row["null_mean"] = float(t.raw[i, j])
                        row["excess"] = float(t.aligned[i, j] - t.raw[i, j])
                    rows.append(row)
        return rows

    def tidy_tables(self) -> dict[str, list[dict]]:
        """The tables of the CSV export as lists of rows (see ``render.tables``)."""
        from .render.tables import tidy_tables

        return tidy_tables(self.to_dict())

    def to_frames(self) -> dict:
        """Each tidy table as a pandas DataFrame (the same tables ``--csv`` writes).

        Examples
        --------
        >>> from gaugetest.synthetic import demo_sweeps
        >>> frames = analyze(*demo_sweeps(64), n_boot=200, n_perm=500).to_frames()
        >>> list(frames["permutation"].columns)[:3]
        ['family', 'statistic', 'p_value']
        """
        import pandas as pd

        return {k: pd.DataFrame(v) for k, v in self.tidy_tables().items()}

    def to_dict(self) -> dict:
        import scipy

        t = self.table
        return {
            "version": __version__,
            "tool": "gaugetest",
            "versions": {"gaugetest": __version__, "python": platform.python_version(),
                         "numpy": np.__version__, "scipy": scipy.__version__},
            "inputs": self.inputs,
            "settings": self.settings.to_dict(),
            "phase_map": {**self.phase_map.to_dict(), "description": self.phase_map.describe()},
            "data": {"num_layers": t.num_layers, "n_pairs": int(len(t.layers)),
                     "quantity": t.quantity_label,
                     "families": list(t.families),
                     "phases": {p: int(len(t.rows_of(p))) for p in t.present_phases}},
            "warnings": [w.to_dict() for w in self.warnings],
            "pairs": self.pair_rows(),
            "phase_summary": [r.to_dict() for r in self.phase_summary],
            "permutation_test": self.permutation.to_dict(),
            "permutation": [r.to_dict() for r in self.permutation.rows],
            "equivalence": [r.to_dict() for r in self.equivalence],
            "equivalence_everywhere": {"holds": self.equivalence_everywhere,
                                       "untestable_phases": list(self.untestable_phases)},
            "gaussian_null": self.gaussian_null,
            "robust": self.robust.to_dict() if self.robust else None,
            "power": self.power.to_dict() if self.power else None,
            "verdict": self.verdict.to_dict(),
        }


# --------------------------------------------------------------------------- the steps


def _column_groups(x: np.ndarray):
    """Group columns by which rows they have, so shared rows are resampled together."""
    valid = ~np.isnan(x)
    groups: dict[bytes, list[int]] = {}
    for j in range(x.shape[1]):
        groups.setdefault(valid[:, j].tobytes(), []).append(j)
    return [(valid[:, cols[0]], cols) for cols in groups.values()]


def phase_summary(table: DeltaTable, settings: Settings,
                  rng: np.random.Generator) -> tuple[PhaseSummaryRow, ...]:
    """Mean delta with a bootstrap CI for every phase x family, and pooled per phase."""
    cols = list(table.families) + [POOLED]
    x_all = table.with_pooled()
    rows = []
    for phase in table.present_phases:
        x = x_all[table.rows_of(phase)]
        cis: dict[int, MeanCI] = {}
        for mask, js in _column_groups(x):
            for j, r in zip(js, mean_ci(x[mask][:, js], n_resamples=settings.n_boot,
                                        confidence_level=1 - settings.alpha,
                                        method=settings.ci, rng=rng)):
                cis[j] = r
        for j, name in enumerate(cols):
            r = cis[j]
            rows.append(PhaseSummaryRow(phase, name, r.n, r.statistic if r.n else None,
                                        r.ci_low, r.ci_high, r.method, r.note))
    return tuple(rows)


def late_vs_early(table: DeltaTable, settings: Settings, phase_map: PhaseMap,
                  rng: np.random.Generator) -> PermutationTest:
    """One-sided permutation test of mean delta(LATE) > mean delta(EARLY), Holm across families."""
    late, early = settings.compare
    # a preset knows all standard names (the 36-layer map simply has no E);
    # a custom map knows only its own
    known = set(phase_map.phases) | (set(STANDARD_PHASES) if phase_map.preset else set())
    for p in (late, early):
        if p not in known:
            raise UsageError("--compare", f"a phase of the map ({', '.join(phase_map.phases)})", p)
    rl, re_ = table.rows_of(late), table.rows_of(early)
    if len(rl) < 2 or len(re_) < 2:
        empty = [f"{p} has {len(r)} pair(s)" for p, r in ((late, rl), (early, re_)) if len(r) < 2]
        why = ("; ".join(empty) + " (need >= 2 each)")
        if late not in phase_map.phases or early not in phase_map.phases:
            missing = [p for p in (late, early) if p not in phase_map.phases]
            why = (f"the phase map '{phase_map.name}' has no phase {' or '.join(missing)}")
        why += "; give phase boundaries with --phases FILE.toml or choose phases with --compare"
        return PermutationTest(late, early, len(rl), len(re_), False, why)
    x = table.with_pooled()
    res = permutation_pvalue(x[rl], x[re_], n_perm=settings.n_perm, rng=rng, keep_null=True)
    p_holm = holm(res.pvalue[:-1])
    names = list(table.families) + [POOLED]
    rows = []
    for j, name in enumerate(names):
        rows.append(PermutationRow(name, float(res.statistic[j]), float(res.pvalue[j]),
                                   float(p_holm[j]) if j < len(p_holm) else None,
                                   res.exact, res.n_resamples))
    return PermutationTest(late, early, len(rl), len(re_), True, "", tuple(rows),
                           n_splits(len(rl), len(re_)), res.null_distribution)


def equivalence(table: DeltaTable, settings: Settings) -> tuple[EquivalenceRow, ...]:
    """TOST of mean delta against the margin, every phase x family and pooled."""
    lo, hi = settings.margin
    x_all = table.with_pooled()
    names = list(table.families) + [POOLED]
    rows = []
    for phase in table.present_phases:
        res = tost_mean(x_all[table.rows_of(phase)], lo, hi, settings.alpha)
        rows.extend(EquivalenceRow.from_tost(phase, n, r) for n, r in zip(names, res))
    return tuple(rows)


def _q(settings: Settings) -> str:
    return "excess" if settings.baseline == "null" else "delta"


def _test_reason(settings: Settings, late: str, early: str, n_late: int, n_early: int,
                 statistic: float, p: float, kind: str, mode: str) -> tuple[bool, str]:
    a = settings.alpha
    sig = p < a
    return sig, (f"Pooled {late}>{early} test ({mode}): mean {_q(settings)} difference "
                 f"{statistic:+.4f} "
                 f"({n_late} vs {n_early} pairs), one-sided {kind} "
                 f"{'<' if sig else '>='} alpha = {a:g}: "
                 f"{'significant' if sig else 'not significant'}.")


def _equivalence_reasons(settings: Settings, eq_rows, eq_all, untestable, mode: str) -> list[str]:
    lo, hi = settings.margin
    margin = f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"
    pooled_eq = [r for r in eq_rows if r.family == POOLED and r.equivalent is not None]
    reasons = []
    if eq_all is None:
        reasons.append(f"Equivalence everywhere ({mode}) not testable: no phase has enough "
                       "complete pairs.")
    elif eq_all:
        worst = max(pooled_eq, key=lambda r: r.p_value)
        reasons.append(f"Pooled {_q(settings)} is equivalent to 0 within {margin} ({mode}) in all "
                       f"{len(pooled_eq)} testable phases (largest TOST p = "
                       f"{fmt_p(worst.p_value)}, phase {worst.phase}).")
    else:
        failed = [r for r in pooled_eq if not r.equivalent]
        shown = ", ".join(f"{r.phase} (mean {r.mean_delta:+.4f}, p = {fmt_p(r.p_value)}, "
                          f"would need margin {r.min_margin:.3g})" for r in failed[:6])
        reasons.append(f"Equivalence to 0 within {margin} ({mode}) fails in {len(failed)} of "
                       f"{len(pooled_eq)} testable phases: {shown}.")
    if untestable:
        reasons.append("Phases left out of 'everywhere' (too few complete pairs): "
                       + ", ".join(untestable) + ".")
    return reasons


def iid_decision(settings: Settings, perm: PermutationTest, eq_rows, eq_all, untestable):
    """(label, reasons) from the permutation test and the iid TOST."""
    reasons = []
    pooled = perm.pooled
    if perm.testable and pooled is not None:
        kind = "exact" if pooled.exact else f"Monte Carlo, {pooled.n_resamples} splits"
        sig, text = _test_reason(settings, perm.late, perm.early, perm.n_late, perm.n_early,
                                 pooled.statistic, pooled.p_value,
                                 f"{p_phrase(pooled.p_value, pooled.exact, pooled.n_resamples)} "
                                 f"({kind})", "iid permutation")
        reasons.append(text)
    else:
        sig = None
        reasons.append(f"{perm.late}>{perm.early} test not testable: {perm.reason}.")
    reasons += _equivalence_reasons(settings, eq_rows, eq_all, untestable, "iid t")
    return decide(sig, eq_all), reasons


def robust_decision(settings: Settings, perm: PermutationTest, rob):
    """(label, reasons) from the dependence-robust test and TOST."""
    reasons = []
    pooled = rob.pooled_test
    mode = f"robust, {rob.method}"
    if rob.late_vs_early_testable and pooled is not None:
        sig, text = _test_reason(settings, perm.late, perm.early, perm.n_late, perm.n_early,
                                 pooled.statistic, pooled.p_value,
                                 f"{p_phrase(pooled.p_value)} (Welch t, df {pooled.df:.1f})", mode)
        reasons.append(text)
    else:
        sig = None
        why = perm.reason or "a phase has fewer than 3 pairs"
        reasons.append(f"{perm.late}>{perm.early} test ({mode}) not testable: {why}.")
    untestable = tuple(r.phase for r in rob.equivalence
                       if r.family == POOLED and r.equivalent is None)
    reasons += _equivalence_reasons(settings, rob.equivalence, rob.equivalence_everywhere,
                                    untestable, mode)
    return decide(sig, rob.equivalence_everywhere), reasons


def analyze(null: Any, aligned: Any, **settings: Any) -> AnalysisResult:
    """Run the full analysis of a raw (null) sweep and an aligned sweep.

    Parameters
    ----------
    null, aligned : path, dict or Sweep
        The ``*-null.json`` (``pair_results``) and ``*-aligned.json``
        (``aligned_cos``) files, as paths or already-loaded dicts.
    **settings
        ``alpha`` (0.05), ``margin`` (0.02 or ``(low, high)``), ``n_boot``
        (10000), ``n_perm`` (100000), ``seed`` (0), ``ci`` ('bca' |
        'percentile' | 'basic'), ``phases`` (preset name, TOML path or
        ``{phase: last_L}``), ``compare`` (('E', 'C')), ``dependence``
        ('robust' | 'iid' | 'neff' | 'hac' | 'glsar' | 'block' | 'sieve'),
        ``baseline`` ('raw' | 'null'), ``shapes`` (a Qwen3 preset or None).

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> from gaugetest.synthetic import demo_sweeps
    >>> null, aligned = demo_sweeps(64)
    >>> res = analyze(null, aligned, n_boot=1000, n_perm=2000)
    >>> res.verdict.label in ('training-artifact', 'inconclusive', 'mixed',
    ...                       'real-specialization', 'not-testable')
    True
    """
    allowed = {"alpha", "margin", "n_boot", "n_perm", "seed", "ci", "phases", "compare",
               "dependence", "baseline", "shapes"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise UsageError(unknown[0], f"one of the settings {', '.join(sorted(allowed))}")
    phases_spec = settings.pop("phases", "auto")
    s = validate_settings(phases=phases_spec, **settings)
    null_s: Sweep = load_sweep(null, "null")
    ali_s: Sweep = load_sweep(aligned, "aligned")
    pmap = resolve_phase_map(phases_spec, ali_s.num_layers)
    table, issues = build_deltas(null_s, ali_s, pmap, s.baseline)

    boot_ss, perm_ss, dep_ss = np.random.SeedSequence(s.seed).spawn(3)
    summary = phase_summary(table, s, np.random.default_rng(boot_ss))
    perm = late_vs_early(table, s, pmap, np.random.default_rng(perm_ss))
    eq = equivalence(table, s)
    pooled_eq = [r for r in eq if r.family == POOLED]
    untestable = tuple(r.phase for r in pooled_eq if r.equivalent is None)
    testable = [r for r in pooled_eq if r.equivalent is not None]
    eq_all = all(r.equivalent for r in testable) if testable else None
    method = ROBUST_METHOD if s.dependence in ("robust", "iid") else s.dependence
    rob = robust_analysis(table, s, method, perm.testable, np.random.default_rng(dep_ss))
    iid_label, iid_reasons = iid_decision(s, perm, eq, eq_all, untestable)
    rob_label, rob_reasons = robust_decision(s, perm, rob)
    if s.dependence == "iid":
        label, reasons, other = iid_label, iid_reasons, ("robust", rob_label)
        power = power_summary(table, s, "iid", perm.testable)
    else:
        label, reasons, other = rob_label, rob_reasons, ("iid", iid_label)
        power = rob.power
    disagreement = ""
    if iid_label != rob_label:
        disagreement = (f"The iid and robust ({method}) analyses disagree at alpha = {s.alpha:g}: "
                        f"iid gives '{iid_label}', robust gives '{rob_label}'. The verdict "
                        f"follows --dependence {s.dependence}; the robust analysis accounts for "
                        "serial correlation along depth (docs/calibration.md).")
    if s.baseline == "null":
        reasons = [*reasons, "These results analyse the excess of the aligned cosine over its "
                   "spectrum-matched null mean (--baseline null), not delta."]
    verdict = Verdict(label, tuple(reasons), dependence=s.dependence if s.dependence != "robust"
                      else f"robust ({method})", disagreement=disagreement)

    inputs = {k: {"path": sw.source, "sha256": sw.sha256, **({"meta": sw.meta} if sw.meta else {})}
              for k, sw in (("null", null_s), ("aligned", ali_s))}
    gnull = None
    if s.shapes:
        from .shapes import gaussian_null_table
        obs = {f: float(np.nanmean(table.aligned[:, j])) for j, f in enumerate(table.families)}
        rows = [{**r, "observed_mean_aligned": obs.get(r["family"])}
                for r in gaussian_null_table(s.shapes)]
        gnull = {"preset": s.shapes, "side": "cols", "rows": rows,
                 "note": "large-size-limit aligned cosine of independent Gaussian matrices of "
                         "these shapes (input side rotated); real spectra differ, see "
                         "docs/measure.md"}
    return AnalysisResult(s, pmap, table, inputs, summary, perm, eq, eq_all, untestable,
                          verdict, tuple(issues), rob, power, gnull)
