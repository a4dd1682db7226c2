"""``analyze``: from the two sweep files to tables, tests and a verdict.

Data flow: ``io`` (load, validate) -> ``phases`` -> ``deltas`` (join) -> ``quantity`` and
``description`` (what is analysed, once) -> ``inference`` (the iid and the robust method, two
uses of one interface) -> ``verdict``. The CLI is a thin layer over :func:`analyze`; rendering
lives in ``gaugetest.render`` and is never imported here.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._version import __version__
from .deltas import DeltaTable, Issue, build_deltas
from .inference.diagnostics import Diagnostic, diagnose
from .description import AnalysisDescription, caveat
from .errors import UsageError
from .inference import get as get_method
from .inference.base import POOLED, InferenceInput, InferenceResult
from .inference.moments import depth_rho
from .io import Sweep, load_sweep
from .phases import STANDARD_PHASES, PhaseMap, resolve_phase_map
from .quantity import delta_quantity, excess_quantity, gauge_of, null_of, reference_levels
from .settings import Settings, validate_settings
from .verdict import LABELS, Verdict, make_verdict  # noqa: F401  (LABELS: for callers)


@dataclass(frozen=True)
class Diagnostics:
    """Serial dependence along depth: the per-phase lag-1 r and Ljung–Box (diagnostic only),
    and the depth-wide lag-1 correlation the robust analysis uses."""

    rows: tuple[Diagnostic, ...]
    depth_rho: dict            # column -> (rho or None, points used)

    def to_dict(self) -> dict:
        from ._util import json_number as num

        return {"rows": [d.to_dict() for d in self.rows],
                "depth_rho": [{"family": k, "rho": num(v[0]), "points": v[1]}
                              for k, v in self.depth_rho.items()]}


@dataclass(frozen=True, repr=False)
class AnalysisResult:
    """Everything one run of ``gaugetest test`` computes.

    ``description`` names what was analysed and how; ``iid`` and ``robust`` are the two
    inference results (same shape); ``verdict`` follows ``description.driving``.
    ``to_dict()`` is exactly the results JSON (see docs/json.md).
    """

    settings: Settings
    phase_map: PhaseMap
    table: DeltaTable
    inputs: dict
    description: AnalysisDescription
    iid: InferenceResult
    robust: InferenceResult
    verdict: Verdict
    warnings: tuple[Issue, ...]
    diagnostics: Diagnostics
    gaussian_null: dict | None = None
    _cache: dict = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        d, v = self.description, self.verdict
        row = self.driving.difference.pooled
        diff = "" if row is None or row.statistic is None else (
            f", {d.late}-{d.early}={row.statistic:+.4f}"
            + (f" [{row.ci_low:+.4f}, {row.ci_high:+.4f}]" if row.ci_low is not None else "")
            + (f" p={row.p_value:.3g}" if row.p_value is not None else ""))
        return (f"AnalysisResult(model={d.model!r}, quantity={d.quantity.symbol!r}, "
                f"pairs={d.n_pairs}{diff}, verdict={v.label!r} ({v.dependence}))")

    # -- convenient views -------------------------------------------------------------
    @property
    def driving(self) -> InferenceResult:
        """The inference result the verdict follows."""
        return self.iid if self.description.driving == "iid" else self.robust

    @property
    def power(self):
        return self.driving.power

    @property
    def permutation(self):
        """The iid LATE > EARLY permutation test (rows with intervals)."""
        return self.iid.difference

    @property
    def phase_summary(self):
        return self.iid.phase_summary

    @property
    def equivalence(self):
        return self.iid.equivalence

    def summary(self, phase: str, family: str = POOLED):
        """The iid phase estimate (mean with bootstrap interval) of ``phase`` x ``family``."""
        r = self.iid.estimate(phase, family)
        if r is None:
            raise KeyError((phase, family))
        return r

    def equivalence_row(self, phase: str, family: str = POOLED):
        return self.iid.equivalence_row(phase, family)

    def pair_rows(self) -> list[dict]:
        t, rows = self.table, []
        for i, L in enumerate(t.layers):
            for j, f in enumerate(t.families):
                if np.isnan(t.raw[i, j]):
                    continue
                row = {"L": int(L), "phase": t.phases[i], "family": f,
                       "raw": float(t.raw[i, j]), "aligned": float(t.aligned[i, j]),
                       "delta": float(t.aligned[i, j] - t.raw[i, j])}
                if t.null_mean is not None and not np.isnan(t.null_mean[i, j]):
                    row["null_mean"] = float(t.null_mean[i, j])
                    if t.null_var is not None:
                        row["null_mean_se"] = float(np.sqrt(t.null_var[i, j]))
                    row["excess"] = float(t.aligned[i, j] - t.null_mean[i, j])
                rows.append(row)
        return rows

    def tidy_tables(self) -> dict[str, list[dict]]:
        """The tables of the CSV export as lists of rows (see ``render.tables``)."""
        from .tidy import tidy_tables

        return tidy_tables(self.to_dict())

    def to_frames(self) -> dict:
        """Each tidy table as a pandas DataFrame (the same tables ``--csv`` writes).

        Examples
        --------
        >>> from gaugetest.studies.synthetic import demo_sweeps
        >>> frames = analyze(*demo_sweeps(64), n_boot=200, n_perm=500).to_frames()
        >>> list(frames["permutation"].columns)[:5]
        ['method', 'family', 'statistic', 'ci_low', 'ci_high']
        """
        import pandas as pd

        return {k: pd.DataFrame(v) for k, v in self.tidy_tables().items()}

    def to_dict(self) -> dict:
        if "doc" in self._cache:
            return self._cache["doc"]
        import scipy

        t = self.table
        iid = self.iid.to_dict()
        robust = self.robust.to_dict()
        q = self.description.quantity
        for rows in (iid["phase_summary"], robust["phase_summary"], iid["equivalence"],
                     robust["equivalence"]):
            for r in rows:   # flag intervals that leave the quantity's possible range
                r["outside_range"] = bool(q.outside(r["ci_low"], r["ci_high"]))
        doc = {
            "version": __version__,
            "tool": "gaugetest",
            "versions": {"gaugetest": __version__, "python": platform.python_version(),
                         "numpy": np.__version__, "scipy": scipy.__version__},
            "inputs": self.inputs,
            "settings": self.settings.to_dict(),
            "analysis": self.description.to_dict(),
            "phase_map": {**self.phase_map.to_dict(), "description": self.phase_map.describe()},
            "data": {"num_layers": t.num_layers, "n_pairs": int(len(t.layers)),
                     "quantity": self.description.quantity.symbol,
                     "families": list(t.families),
                     "phases": {p: int(len(t.rows_of(p))) for p in t.present_phases}},
            "warnings": [w.to_dict() for w in self.warnings],
            "pairs": self.pair_rows(),
            "phase_summary": iid["phase_summary"],
            "permutation_test": iid["difference_test"],
            "permutation": iid["late_vs_early"],
            "noninferiority": iid["noninferiority"],
            "equivalence": iid["equivalence"],
            "iid": {k: iid[k] for k in ("method", "name", "description", "interval_method",
                                        "power")},
            "robust": robust,
            "diagnostics": self.diagnostics.to_dict(),
            "gaussian_null": self.gaussian_null,
            "power": self.power.to_dict() if self.power else None,
            "verdict": self.verdict.to_dict(),
        }
        self._cache["doc"] = doc
        return doc


# --------------------------------------------------------------------------- the steps


def _model_name(explicit, null_s: Sweep, ali_s: Sweep) -> str:
    if explicit:
        return str(explicit)
    for s in (ali_s, null_s):
        m = s.meta.get("model")
        if isinstance(m, str) and m:
            return m
    src = ali_s.source
    return os.path.basename(src).removesuffix(".json").removesuffix("-aligned") \
        if not src.startswith("<") else "in-memory sweeps"


def _quantity(s: Settings, table: DeltaTable, null_s: Sweep, ali_s: Sweep):
    gauge, gauge_src = gauge_of(null_s.meta, ali_s.meta)
    shapes = ali_s.meta.get("shapes") or null_s.meta.get("shapes")
    if s.shapes and not shapes:
        from .shapes import preset_shapes
        shapes = {f: list(v) for f, v in preset_shapes(s.shapes).items()}
    side = ali_s.meta.get("alignment_side") or null_s.meta.get("alignment_side") or "cols"
    null_name, null_definition = null_of(null_s.meta)
    draws = null_s.meta.get("null_draws")
    draws = draws if isinstance(draws, int) and draws > 0 else None
    if table.quantity == "excess":
        reason = ("the raw file carries the matched null for every analysed value"
                  if s.baseline == "auto" else "requested")
        ref = reference_levels(table.families, table.raw, table.null_mean, shapes, side, "excess")
        return excess_quantity(gauge, gauge_src, s.baseline, reason, null_name, draws, ref,
                               null_definition)
    reason = ("the raw file carries no matched null" if table.null_mean is None
              else "the raw file lacks the matched null for some values") \
        if s.baseline == "auto" else "requested"
    ref = reference_levels(table.families, table.raw, table.null_mean,
                           shapes if gauge == "orthogonal" else None, side, "delta")
    return delta_quantity(gauge, gauge_src, s.baseline, reason, ref, s.margin, null_name, draws,
                          null_definition)


def _equivalence_phases(s: Settings, pmap: PhaseMap, table: DeltaTable) -> tuple[tuple, str]:
    spec = s.equivalence_phases
    if spec == "compared":
        return tuple(p for p in table.present_phases if p in s.compare) or tuple(s.compare), \
            "compared"
    if spec == "all":
        return table.present_phases, "all"
    names = tuple(p.strip() for p in spec.split(",") if p.strip())
    for p in names:
        if p not in pmap.phases:
            raise UsageError("--equivalence-phases",
                             f"compared, all or phases of the map ({', '.join(pmap.phases)})", p)
    return names, "custom"


def _diagnostics(data: InferenceInput) -> Diagnostics:
    rows = []
    for phase in data.phase_order:
        r = data.rows_of(phase)
        for j, name in enumerate(data.columns):
            rows.append(diagnose(data.x[r, j], phase, name, data.alpha))
    return Diagnostics(tuple(rows), depth_rho(data))


@dataclass(frozen=True)
class Prepared:
    """Everything an analysis knows before its inference runs: the loaded and validated inputs,
    the phase map, the analysed quantity and the data the inference methods see. A multi-model
    run prepares every model first, fits the dependence model they share, then finishes each
    (:func:`finish`)."""

    settings: Settings
    model: str
    null_s: Sweep
    ali_s: Sweep
    pmap: PhaseMap
    table: DeltaTable
    issues: tuple[Issue, ...]
    quantity: Any
    eq_phases: tuple
    eq_rule: str
    data: InferenceInput


def prepare(null: Any, aligned: Any, **settings: Any) -> Prepared:
    """Load, validate and describe one model's sweeps (the part of :func:`analyze` before any
    inference); the settings are those of :func:`analyze`."""
    allowed = {"alpha", "margin", "n_boot", "n_perm", "seed", "ci", "phases", "compare",
               "dependence", "baseline", "shapes", "equivalence_phases", "tost_rule",
               "difference_margin", "model"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise UsageError(unknown[0], f"one of the settings {', '.join(sorted(allowed))}")
    model = settings.pop("model", None)
    phases_spec = settings.pop("phases", "auto")
    s = validate_settings(phases=phases_spec, **settings)
    null_s: Sweep = load_sweep(null, "null")
    ali_s: Sweep = load_sweep(aligned, "aligned")
    pmap = resolve_phase_map(phases_spec, ali_s.num_layers)
    late, early = s.compare
    # a preset knows all standard names (the 36-layer map simply has no E); a custom map only its own
    known = set(pmap.phases) | (set(STANDARD_PHASES) if pmap.preset else set())
    for p in (late, early):
        if p not in known:
            raise UsageError("--compare", f"a phase of the map ({', '.join(pmap.phases)})", p)
    table, issues = build_deltas(null_s, ali_s, pmap, s.baseline)
    quantity = _quantity(s, table, null_s, ali_s)
    eq_phases, eq_rule = _equivalence_phases(s, pmap, table)

    data = InferenceInput(table.with_pooled(), tuple(table.families) + (POOLED,), table.layers,
                          table.phases, table.present_phases, table.known_var_with_pooled(),
                          late, early, s.alpha, s.margin, s.n_boot, s.n_perm, s.ci,
                          s.tost_rule, s.difference_margin)
    return Prepared(s, _model_name(model, null_s, ali_s), null_s, ali_s, pmap, table,
                    tuple(issues), quantity, eq_phases, eq_rule, data)


def finish(p: Prepared, shared: dict | None = None) -> AnalysisResult:
    """Run the inference and the verdict of a prepared model. ``shared``: column name -> the
    dependence model shared with the other models of a multi-model run
    (:func:`gaugetest.inference.depth_model.shared.shared_dependence`), used by the depth
    model instead of each column's own; None: this model alone."""
    import dataclasses

    s, pmap, table = p.settings, p.pmap, p.table
    null_s, ali_s = p.null_s, p.ali_s
    late, early = s.compare
    issues = list(p.issues)
    quantity, eq_phases, eq_rule = p.quantity, p.eq_phases, p.eq_rule
    data = p.data if shared is None else dataclasses.replace(p.data, shared=shared)
    boot_ss, dep_ss = np.random.SeedSequence(s.seed).spawn(2)
    iid = get_method("iid").run(data, np.random.default_rng(boot_ss), pmap.phases)
    robust_key = "robust" if s.dependence in ("robust", "iid") else s.dependence
    robust = get_method(robust_key).run(data, np.random.default_rng(dep_ss), pmap.phases)
    driving, other = (iid, robust) if s.dependence == "iid" else (robust, iid)
    failed = (robust.check or {}).get("columns_failed") or []
    if failed:
        issues.append(Issue("model-check",
                            f"the {robust.name} dependence model does not fit "
                            f"{', '.join(failed)} ({robust.check.get('message', '')}); those "
                            "columns use the most conservative variance the data allow"))

    desc = AnalysisDescription(
        p.model, quantity, late, early, s.alpha, s.margin, eq_phases,
        eq_rule, driving.method, driving.name, other.name, pmap.name, pmap.describe(),
        int(len(table.layers)), table.num_layers, tuple(table.families), s.difference_margin)
    null_se = None
    if table.null_var is not None:
        null_se = float(np.sqrt(np.nanmean(table.null_var)))
    verdict = make_verdict(driving, other, desc, caveat(quantity, null_se))

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
                         "these shapes (input side rotated): the Gaussian reference; real spectra "
                         "differ, see docs/measure.md"}
    return AnalysisResult(s, pmap, table, inputs, desc, iid, robust, verdict, tuple(issues),
                          _diagnostics(data), gnull)


def analyze(null: Any, aligned: Any, **settings: Any) -> AnalysisResult:
    """Run the full analysis of a raw sweep and an aligned sweep.

    Parameters
    ----------
    null, aligned : path, dict or Sweep
        The raw file (``*-null.json``: ``pair_results`` with raw cosines, and the matched null
        when ``gaugetest measure`` wrote it) and the aligned file (``aligned_cos``), as paths or
        already-loaded dicts.
    **settings
        ``alpha`` (0.05), ``margin`` (0.02 or ``(low, high)``), ``n_boot`` (10000), ``n_perm``
        (100000), ``seed`` (0), ``ci`` ('bca' | 'percentile' | 'basic'), ``phases`` (preset
        name, TOML path or ``{phase: last_L}``), ``compare`` (('E', 'C')),
        ``equivalence_phases`` ('compared' | 'all' | 'E,C,...'), ``dependence`` ('robust' |
        'iid' | 'neff' | 'hac' | 'glsar' | 'block' | 'sieve'), ``baseline`` ('auto' | 'raw' |
        'matched'), ``shapes`` (a Qwen3 preset or None), ``tost_rule`` ('mixture' |
        'inflated-df': the distribution the robust depth model's TOST uses; docs/tost-study.md),
        ``difference_margin`` (m_diff of the non-superiority test H0: LATE − EARLY ≥ m_diff;
        default the margin's upper bound), ``model`` (a name for the outputs).

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> from gaugetest.studies.synthetic import demo_sweeps
    >>> null, aligned = demo_sweeps(64)
    >>> res = analyze(null, aligned, n_boot=1000, n_perm=2000)
    >>> res.description.quantity.symbol, res.verdict.label in LABELS
    ('excess', True)
    """
    return finish(prepare(null, aligned, **settings))
