"""How often each verdict label comes out when the truth is known: ``gaugetest calibrate
--verdict``.

Sweeps of 7 families are simulated with a matched null (so the excess is analysed, as
``gaugetest measure`` files are), a true excess per phase, and noise along depth; each replicate
runs :func:`gaugetest.analyze` with its defaults (the robust analysis drives the verdict; the
bootstrap and permutation draws of the iid analysis, shown beside it, are reduced because they
do not enter the robust verdict) and counts the labels of both analyses. Replicates are split into
chunks with their own seeds, so the counts do not depend on ``jobs``.

Scenarios (noise sd per family ``sd`` = half the margin unless said; correlation 0.5 between
families):

* ``zero`` — the excess is 0 in every phase (real specialization), AR(1) noise, rho 0.5;
* ``zero-ma1`` — the same truth with the dependence a shared layer gives, d_L = u_L + u_(L+1);
* ``inside`` — E − C = half the margin, the rest 0: a real difference too small to matter;
* ``artifact`` — E − C = twice the margin (training artifact), AR(1) noise;
* ``flat`` — the same excess, ``level``, in every phase (E − C = 0): no late excess, though the
  excess is not 0; AR(1) noise with sd ``small_sd``, which gives the robust (1 − 2 alpha)
  interval of E − C a half-width of about m_diff / 4 (the study reports the measured one);
* ``boundary`` — E − C = m_diff exactly (the margin's upper bound, the default), the rest at
  ``level``, the same noise: the non-superiority test's boundary, where ``no-late-excess`` must
  come out at most alpha of the time.

Besides the labels, the study counts how often each analysis's non-superiority test rejects
(its size at ``boundary``, its power elsewhere) and the mean half-width of the interval it
reads. Scenarios draw from their own seeds (seed, scenario index, chunk), so adding one leaves
the others' replicates unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..io import STANDARD_FAMILIES
from ..parallel import map_tasks
from ..phases import resolve_phase_map
from ..verdict import LABELS

SCENARIOS = ("zero", "zero-ma1", "inside", "artifact", "flat", "boundary")
#: Scenarios whose noise sd is ``small_sd`` (the others: half the margin).
SMALL_NOISE = ("flat", "boundary")
CHUNK = 25


@dataclass(frozen=True)
class StudySettings:
    num_layers: int = 64
    late: str = "E"
    early: str = "C"
    margin: float = 0.02
    rho: float = 0.5
    family_corr: float = 0.5
    tost_rule: str = "mixture"     # the robust TOST rule analyze() uses (docs/tost-study.md)
    level: float = 0.04            # the excess of every phase in ``flat`` and ``boundary``
    small_sd: float = 0.0042       # their noise sd per family (E − C half-width ~ m_diff / 4)


def _noise(n: int, k: int, kind: str, s: StudySettings, sd: float, rng) -> np.ndarray:
    c = np.full((k, k), s.family_corr)
    np.fill_diagonal(c, 1.0)
    chol = np.linalg.cholesky(c)
    if kind == "ma1":
        u = rng.standard_normal((n + 1, k)) @ chol.T
        return sd * (u[:-1] + u[1:]) / math.sqrt(2)
    eps = rng.standard_normal((n + 50, k)) @ chol.T
    out = np.empty_like(eps)
    out[0] = eps[0]
    for t in range(1, len(eps)):
        out[t] = s.rho * out[t - 1] + math.sqrt(1 - s.rho ** 2) * eps[t]
    return sd * out[50:]


def _sweeps(values: np.ndarray, num_layers: int, draws: int = 8, null_sd: float = 0.002):
    """Raw and aligned files whose excess is ``values`` (pairs x families)."""
    fams = STANDARD_FAMILIES
    raw, level = 0.03, 0.5
    null = {"model": "verdict-study", "num_layers": num_layers, "gauge": "orthogonal",
            "null_draws": draws, "pair_results": []}
    aligned = {"model": "verdict-study", "num_layers": num_layers,
               "aligned_cos": {f: {} for f in fams}}
    for L in range(values.shape[0]):
        fam = {}
        for j, f in enumerate(fams):
            fam[f] = {"cos": raw, "aligned_null_mean": raw + level, "aligned_null_sd": null_sd}
            aligned["aligned_cos"][f][str(L)] = raw + level + float(values[L, j])
        null["pair_results"].append({"L": L, "L_next": L + 1, "families": fam})
    return null, aligned


def _truth(scenario: str, phases, s: StudySettings) -> np.ndarray:
    mu = np.zeros(len(phases))
    late = np.asarray(phases) == s.late
    if scenario == "inside":
        mu[late] = s.margin / 2
    elif scenario == "artifact":
        mu[late] = 2 * s.margin
    elif scenario == "flat":
        mu[:] = s.level
    elif scenario == "boundary":
        mu[:] = s.level
        mu[late] = s.level + s.margin           # m_diff = the margin's upper bound (default)
    return mu


def run_chunk(task) -> tuple[str, int, dict, dict, dict]:
    from ..analysis import analyze

    scenario, chunk, reps, seed, s = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, SCENARIOS.index(scenario), chunk]))
    pmap = resolve_phase_map("auto", s.num_layers)
    phases = [pmap.phase_of(L, s.num_layers) for L in range(s.num_layers - 1)]
    mu = _truth(scenario, phases, s)
    robust = dict.fromkeys(LABELS, 0)
    iid = dict.fromkeys(LABELS, 0)
    ni = {"robust": 0, "iid": 0, "robust_half_width": 0.0, "iid_half_width": 0.0}
    sd = s.small_sd if scenario in SMALL_NOISE else s.margin / 2
    for _ in range(reps):
        e = _noise(len(phases), len(STANDARD_FAMILIES), "ma1" if scenario == "zero-ma1" else "ar1",
                   s, sd, rng)
        res = analyze(*_sweeps(mu[:, None] + e, s.num_layers), margin=s.margin,
                      compare=(s.late, s.early), n_boot=400, n_perm=2000,
                      seed=int(rng.integers(2 ** 31)), tost_rule=s.tost_rule)
        robust[res.verdict.label] += 1
        iid[res.verdict.other["label"]] += 1
        for key, result in (("robust", res.robust), ("iid", res.iid)):
            row = result.noninferiority_pooled
            if row is not None and row.p_value is not None:
                ni[key] += int(bool(row.rejected))
                ni[key + "_half_width"] += (row.ci_high - row.ci_low) / 2
    return scenario, reps, robust, iid, ni


def verdict_study(reps: int = 300, seed: int = 0, jobs: int = 1, progress=None,
                  settings: StudySettings = StudySettings()) -> dict:
    """{scenario: {"reps", "robust": counts, "iid": counts}}."""
    tasks = []
    for sc in SCENARIOS:
        for chunk in range(math.ceil(reps / CHUNK)):
            tasks.append((sc, chunk, min(CHUNK, reps - chunk * CHUNK), seed, settings))
    out = {sc: {"reps": 0, "robust": dict.fromkeys(LABELS, 0), "iid": dict.fromkeys(LABELS, 0),
                "noninferiority": {"robust": 0, "iid": 0, "robust_half_width": 0.0,
                                   "iid_half_width": 0.0}}
           for sc in SCENARIOS}

    def add(r):
        sc, n, rob, iid, ni = r
        out[sc]["reps"] += n
        for k in LABELS:
            out[sc]["robust"][k] += rob[k]
            out[sc]["iid"][k] += iid[k]
        for k, v in ni.items():
            out[sc]["noninferiority"][k] += v
        if progress:
            progress(n)

    for r in map_tasks(run_chunk, tasks, jobs):
        add(r)
    return out


def to_markdown(results: dict, *, reps: int, seed: int, command: str,
                settings: StudySettings = StudySettings()) -> str:
    m = settings.margin
    lines = ["# How often each verdict comes out when the truth is known", "",
             f"Reproduce: `{command}` (seeded; counts do not depend on `--jobs`).", "",
             f"{settings.num_layers} layers ({settings.late} vs {settings.early}), 7 families with "
             f"correlation {settings.family_corr:g}, a matched null in the input (the excess is "
             f"analysed), noise sd per family {m / 2:g} (half the margin ±{m:g}; "
             f"{settings.small_sd:g} in `flat` and `boundary`), {reps} replicates per scenario, "
             "`gaugetest.analyze` defaults (the robust analysis drives the verdict; the "
             f"non-superiority margin m_diff is the margin's upper bound, {m:g}). Rates ± their "
             "Monte Carlo standard error.", ""]
    desc = {"zero": "excess 0 in every phase, AR(1) ρ = 0.5 — real specialization",
            "zero-ma1": "excess 0 in every phase, MA(1) from a shared layer — real "
                        "specialization",
            "inside": f"E − C = {m / 2:g} (inside the margin), AR(1) ρ = 0.5",
            "artifact": f"E − C = {2 * m:g} (twice the margin), AR(1) ρ = 0.5",
            "flat": f"excess {settings.level:g} in every phase (E − C = 0), AR(1) ρ = 0.5 — no "
                    "late excess",
            "boundary": f"E − C = m_diff = {m:g} exactly (excess {settings.level:g} elsewhere), "
                        "AR(1) ρ = 0.5 — the non-superiority boundary"}

    def rate(k: int, n: int) -> str:
        p = k / n
        return f"{p:.3f} ± {math.sqrt(p * (1 - p) / n):.3f}" if p else "0"

    for analysis in ("robust", "iid"):
        lines += [f"## Labels of the {analysis} analysis", "",
                  "| scenario | " + " | ".join(LABELS) + " |",
                  "|---|" + "---|" * len(LABELS)]
        for sc in SCENARIOS:
            r = results[sc]
            cells = [rate(r[analysis][k], r["reps"]) for k in LABELS]
            lines.append(f"| {sc}: {desc[sc]} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["How to read the new label: `no-late-excess` is the non-superiority test's "
              f"rejection of E − C ≥ {m:g} while E − C is not significant and the deciding phases "
              "are not all equivalent to 0. It can only take replicates that would otherwise be "
              "`inconclusive` or `equivalence-untestable` (and keep a significant difference "
              "shown below m_diff from being `training-artifact`), so in `zero`, `zero-ma1`, "
              "`inside` and `artifact` every other rate is that of the rule without it, on the "
              "same replicates; in `zero` and `inside` — where E − C is in truth below "
              f"{m:g} — it is a correct answer. In `flat` it is the right label; in `boundary` "
              "it is an error, bounded by the test's size.", ""]
    lines += ["## The non-superiority test", "",
              f"How often H0: E − C ≥ {m:g} is rejected at alpha = 0.05 (its size in `boundary`, "
              "its power elsewhere), and the mean half-width of the (1 − 2 alpha) interval of "
              "E − C it reads.", "",
              "| scenario | robust: rejected | robust: half-width | iid: rejected | "
              "iid: half-width |", "|---|---|---|---|---|"]
    for sc in SCENARIOS:
        r, n = results[sc]["noninferiority"], results[sc]["reps"]
        lines.append(f"| {sc} | {rate(r['robust'], n)} | {r['robust_half_width'] / n:.4f} | "
                     f"{rate(r['iid'], n)} | {r['iid_half_width'] / n:.4f} |")
    lines.append("")
    return "\n".join(lines) + "\n"
