"""Calibration study: size, coverage and power of every method under serial dependence.

Simulates sweeps of deltas with a real layout (phase map, pair counts), seven
families with equicorrelated noise, and AR(1) dependence along depth; applies
every method to the pooled series and counts how often

* the 1 - alpha interval for the EARLY and LATE phase means covers the truth,
* the one-sided LATE > EARLY test rejects when there is no difference (size)
  and when LATE is larger by ``effect`` noise standard deviations (power),
* the TOST declares equivalence when the true mean sits exactly on the margin
  (its size).

Each rate comes with its Monte Carlo standard error sqrt(p (1 - p) / reps).
Replicates are split into fixed chunks with their own seeds, so results do not
depend on ``jobs``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .dependence import METHODS, ROBUST_METHOD, common_lag1, series_moments, t_interval, welch_greater
from .equivalence import tost_from_moments
from .phases import resolve_phase_map
from .synthetic import ar1_noise

#: The iid-resampling procedures of `gaugetest test` (BCa CI, permutation test, t TOST).
RESAMPLING = "iid-resampling"
ALL_METHODS = (RESAMPLING,) + METHODS
CHUNK = 50


@dataclass(frozen=True)
class Condition:
    num_layers: int
    late: str
    early: str
    rho: float
    phases: str = "auto"

    def label(self) -> str:
        return f"{self.num_layers} layers, {self.late} vs {self.early}, rho={self.rho:g}"


@dataclass
class Counts:
    reps: int = 0
    cover_early: dict = field(default_factory=lambda: dict.fromkeys(ALL_METHODS, 0))
    cover_late: dict = field(default_factory=lambda: dict.fromkeys(ALL_METHODS, 0))
    size_test: dict = field(default_factory=lambda: dict.fromkeys(ALL_METHODS, 0))
    power_test: dict = field(default_factory=lambda: dict.fromkeys(ALL_METHODS, 0))
    size_tost: dict = field(default_factory=lambda: dict.fromkeys(ALL_METHODS, 0))

    def add(self, other: "Counts") -> None:
        self.reps += other.reps
        for name in ("cover_early", "cover_late", "size_test", "power_test", "size_tost"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for k in mine:
                mine[k] += theirs[k]


def _one_replicate(cond: Condition, rows_late, rows_early, phases, n_pairs, effect,
                   family_corr, alpha, margin, n_resamples, rng, counts: Counts) -> None:
    from .bootstrap import mean_ci
    from .permutation import permutation_pvalue

    noise = ar1_noise(n_pairs, 7, cond.rho, family_corr, rng).mean(axis=1)
    late0, early = noise[rows_late], noise[rows_early]
    rho_depth = common_lag1(noise, phases)[0]
    late1 = late0 + effect
    counts.reps += 1
    for method in ALL_METHODS:
        if method == RESAMPLING:
            ci_e = mean_ci(early, n_resamples=n_resamples, confidence_level=1 - alpha, rng=rng)[0]
            ci_l = mean_ci(late0, n_resamples=n_resamples, confidence_level=1 - alpha, rng=rng)[0]
            cover_e = ci_e.ci_low <= 0 <= ci_e.ci_high
            cover_l = ci_l.ci_low <= 0 <= ci_l.ci_high
            p0 = permutation_pvalue(late0, early, n_perm=n_resamples, rng=rng).pvalue[0]
            p1 = permutation_pvalue(late1, early, n_perm=n_resamples, rng=rng).pvalue[0]
            m_shift = series_moments(early + margin, "iid")
        else:
            rho = rho_depth if method == "neff" else None
            me = series_moments(early, method, rng, rho)
            ml = series_moments(late0, method, rng, rho)
            lo, hi = t_interval(me, alpha)
            cover_e = lo <= 0 <= hi
            lo, hi = t_interval(ml, alpha)
            cover_l = lo <= 0 <= hi
            p0 = welch_greater(ml, me)[3]
            ml1 = series_moments(late1, method, rng, rho)
            p1 = welch_greater(ml1, me)[3]
            m_shift = series_moments(early + margin, method, rng, rho)
        tost = tost_from_moments([m_shift.mean], [m_shift.se], [m_shift.df], -margin, margin,
                                 alpha, [m_shift.n])[0]
        counts.cover_early[method] += bool(cover_e)
        counts.cover_late[method] += bool(cover_l)
        counts.size_test[method] += bool(p0 < alpha)
        counts.power_test[method] += bool(p1 < alpha)
        counts.size_tost[method] += bool(tost.equivalent)


def run_chunk(args) -> tuple[int, Counts]:
    (ci, cond, reps, seed, chunk, effect, family_corr, alpha, margin, n_resamples) = args
    pmap = resolve_phase_map(cond.phases, cond.num_layers)
    n_pairs = cond.num_layers - 1
    phases = np.array([pmap.phase_of(L, cond.num_layers) for L in range(n_pairs)])
    rows_late = np.flatnonzero(phases == cond.late)
    rows_early = np.flatnonzero(phases == cond.early)
    rng = np.random.default_rng(np.random.SeedSequence([seed, ci, chunk]))
    counts = Counts()
    for _ in range(reps):
        _one_replicate(cond, rows_late, rows_early, phases, n_pairs, effect, family_corr, alpha,
                       margin, n_resamples, rng, counts)
    return ci, counts


def default_conditions(rhos=(0.0, 0.3, 0.5, 0.7)) -> list[Condition]:
    """The real layouts: 64 layers (E 12 vs C 22 pairs) and 36 layers (no E: D 10 vs C 14)."""
    return [Condition(64, "E", "C", r) for r in rhos] + [Condition(36, "D", "C", r) for r in rhos]


def calibrate(conditions, *, reps: int = 2000, seed: int = 0, effect: float = 1.0,
              family_corr: float = 0.5, alpha: float = 0.05, margin: float = 0.5,
              n_resamples: int = 999, jobs: int = 1, progress=None) -> dict:
    """Run the study; returns {condition: Counts}. ``effect`` and ``margin`` are in units of
    the per-family noise standard deviation."""
    tasks = []
    for ci, cond in enumerate(conditions):
        for chunk in range(math.ceil(reps / CHUNK)):
            r = min(CHUNK, reps - chunk * CHUNK)
            tasks.append((ci, cond, r, seed, chunk, effect, family_corr, alpha, margin,
                          n_resamples))
    totals = {ci: Counts() for ci in range(len(conditions))}
    if jobs > 1:
        from .parallel import process_pool, single_threaded_workers
        with single_threaded_workers(), process_pool(jobs) as ex:
            for ci, counts in ex.map(run_chunk, tasks):
                totals[ci].add(counts)
                if progress:
                    progress(counts.reps)
    else:
        for t in tasks:
            ci, counts = run_chunk(t)
            totals[ci].add(counts)
            if progress:
                progress(counts.reps)
    return {conditions[ci]: c for ci, c in totals.items()}


def _rate(k: int, n: int) -> str:
    p = k / n
    return f"{p:.3f} ± {math.sqrt(p * (1 - p) / n):.3f}"


def to_markdown(results: dict, *, reps: int, seed: int, effect: float, family_corr: float,
                alpha: float, margin: float, n_resamples: int, command: str) -> str:
    lines = [
        "# Calibration of gaugetest's tests and intervals under serial dependence",
        "",
        f"Reproduce: `{command}` (seeded; results do not depend on `--jobs`).",
        "",
        f"Simulation: deltas of 7 families with equicorrelation {family_corr:g} between families "
        "and AR(1) dependence along depth with lag-1 correlation rho; the pooled (family-mean) "
        f"series of each phase is analysed. {reps} replicates per condition; every rate is shown "
        "± its Monte Carlo standard error. Columns:",
        "",
        f"- **cover EARLY / LATE**: coverage of the {100 * (1 - alpha):g}% interval for the phase "
        "mean (target 0.95);",
        f"- **size LATE>EARLY**: rejection rate of the one-sided test at alpha = {alpha:g} with no "
        "difference (target 0.05);",
        f"- **power**: its rejection rate when LATE is higher by {effect:g} per-family noise sd;",
        f"- **size TOST**: rate of declaring equivalence within ±{margin:g} sd when the true mean "
        f"is exactly on the margin (must be <= {alpha:g}).",
        "",
        f"`{RESAMPLING}` is what `gaugetest test` does under `--dependence iid`: BCa bootstrap "
        f"interval and permutation test ({n_resamples} resamples each here), t-based TOST. The "
        "other rows are the (mean, se, df) methods of `gaugetest.dependence` with t intervals, a "
        "Welch-type test and a TOST on their standard error.",
        "",
    ]
    lines += ["## Summary across conditions", "",
              "| method | worst coverage | worst abs(coverage - 0.95) | worst size LATE>EARLY "
              "| worst size TOST | mean power |", "|---|---|---|---|---|---|"]
    for m in ALL_METHODS:
        cov = [getattr(c, k)[m] / c.reps for c in results.values()
               for k in ("cover_early", "cover_late")]
        size = [c.size_test[m] / c.reps for c in results.values()]
        tost = [c.size_tost[m] / c.reps for c in results.values()]
        pw = [c.power_test[m] / c.reps for c in results.values()]
        lines.append(f"| {m} | {min(cov):.3f} | {max(abs(v - (1 - alpha)) for v in cov):.3f} | "
                     f"{max(size):.3f} | {max(tost):.3f} | {np.mean(pw):.3f} |")
    lines += ["", f"gaugetest's `--dependence robust` uses `{ROBUST_METHOD}`: the method whose "
              "worst-case coverage and size stay closest to nominal over these conditions "
              "(see docs/methodology.md, 'Serial dependence').", ""]
    for cond, c in results.items():
        pm = resolve_phase_map(cond.phases, cond.num_layers)
        cnt = [sum(pm.phase_of(L, cond.num_layers) == p for L in range(cond.num_layers - 1))
               for p in (cond.early, cond.late)]
        lines += [f"## {cond.label()} ({cond.early}: {cnt[0]} pairs, {cond.late}: {cnt[1]} pairs; "
                  f"`{cond.phases}` map)", "",
                  "| method | cover EARLY | cover LATE | size LATE>EARLY | power | size TOST |",
                  "|---|---|---|---|---|---|"]
        for m in ALL_METHODS:
            lines.append(f"| {m} | {_rate(c.cover_early[m], c.reps)} | "
                         f"{_rate(c.cover_late[m], c.reps)} | {_rate(c.size_test[m], c.reps)} | "
                         f"{_rate(c.power_test[m], c.reps)} | {_rate(c.size_tost[m], c.reps)} |")
        lines.append("")
    return "\n".join(lines) + "\n"
