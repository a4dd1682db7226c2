"""Calibration study: every method on the scenario bank (``gaugetest calibrate``).

For each scenario of :mod:`gaugetest.studies.scenarios` and each layout (layer count, LATE and EARLY
phases), replicate sweeps are simulated with no effect anywhere; every method is applied to
the pooled series and the study counts

* **coverage** of the 1 - alpha interval for the EARLY mean, the LATE mean and LATE - EARLY
  (the truth is 0);
* **size** of the one-sided LATE > EARLY test (rejections with no difference);
* **TOST size**: how often equivalence is declared when the truth sits exactly on a margin,
  worst of the upper and lower margin and of EARLY, LATE and LATE - EARLY; the margin is
  ``margin_se`` true standard errors of the arithmetic-mean estimate, so one side alone
  decides and the rate is the size of that one-sided test;
* **TOST power**: how often equivalence is declared when the truth is 0, with the same margins
  (``margin_se`` true standard errors), for EARLY, LATE and LATE - EARLY; the report shows the
  lowest of the three;
* **power** of the LATE > EARLY test when LATE is higher by the effect that gives the
  *GLS oracle* power 0.80 -- GLS with phase levels that knows the true covariance -- and the
  ratio of the method's power to the oracle's on the same data; the ratio to the
  *mean oracle* (the arithmetic-mean contrast with its true variance, z test) separates what
  the estimand costs from what estimating the dependence costs.

Each rate comes with its Monte Carlo standard error sqrt(p (1 - p) / reps).  Replicates run
in chunks with their own seeds (derived from the seed, the scenario name, the layout and the
chunk number), so a cell's numbers do not depend on ``jobs`` or on which other cells run; a
checkpoint file lets an interrupted run resume.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..parallel import map_tasks
from .methods import DEFAULT_METHODS, METHODS, clear_fit_cache
from .scenarios import BANK, DEFAULT_LAYOUTS, Layout, Scenario, scenario

CHUNK = 100
TARGETS = ("early", "late", "diff")
#: TOST counts per target and margin (truth on the upper / lower margin) and at truth 0.
TOST_SIZE = tuple(f"tost_{t}_{side}" for t in TARGETS for side in ("up", "lo"))
TOST_POWER = tuple(f"tost_power_{t}" for t in TARGETS)
METRICS = ("cover_early", "cover_late", "cover_diff", "size", "power", "oracle_power",
           "mean_oracle_power", "check_failed") + TOST_SIZE + TOST_POWER

#: The default of ``--dependence robust`` (gaugetest.inference.depth_model).
DEFAULT_METHOD = "reml-bma"


# --------------------------------------------------------------------------- oracles


def _oracle_weights(cov: np.ndarray, lay: Layout) -> dict:
    """GLS with phase levels and the true covariance: weights of the LATE - EARLY estimate."""
    ph = lay.phase_order
    X = np.stack([np.asarray(lay.phases) == p for p in ph], axis=1).astype(float)
    Si = np.linalg.inv(cov)
    A = np.linalg.inv(X.T @ Si @ X)
    W = A @ X.T @ Si
    return W[ph.index(lay.late)] - W[ph.index(lay.early)]


def _mean_weights(lay: Layout) -> dict:
    out = {}
    for t, ph in (("early", lay.early), ("late", lay.late)):
        r = lay.rows(ph)
        a = np.zeros(lay.n)
        a[r] = 1.0 / len(r)
        out[t] = a
    out["diff"] = out["late"] - out["early"]
    return out


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    layout: Layout

    @property
    def key(self) -> str:
        return f"{self.scenario.name}|{self.layout.num_layers}:{self.layout.late}:" \
               f"{self.layout.early}:{self.layout.phase_map}"


@dataclass
class Counts:
    reps: int = 0
    by_method: dict = field(default_factory=dict)   # method -> metric -> count

    def add(self, other: "Counts") -> None:
        self.reps += other.reps
        for m, d in other.by_method.items():
            mine = self.by_method.setdefault(m, dict.fromkeys(METRICS, 0) if all(
                k in METRICS for k in d) else {})
            for k, v in d.items():
                mine[k] = mine.get(k, 0) + v

    def rate(self, method: str, metric: str) -> float:
        """A rate; ``tost`` is the largest TOST size over targets and margins and
        ``tost_power`` the smallest TOST power over targets, each taken after the counts of
        all chunks are added (a worst case per chunk, added up, would be biased away from the
        truth and depend on the chunk size)."""
        d = self.by_method[method]
        if metric == "tost":
            return max(d[k] for k in TOST_SIZE) / self.reps
        if metric == "tost_power":
            return min(d[k] for k in TOST_POWER) / self.reps
        return d[metric] / self.reps

    def to_dict(self) -> dict:
        return {"reps": self.reps, "counts": self.by_method}


def _chunk_seed(seed: int, cell: Cell, chunk: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(cell.key.encode()), chunk])


def run_chunk(task) -> tuple[str, int, dict, int]:
    """One chunk of one cell: (cell key, chunk, counts by method, reps)."""
    cell, chunk, reps, seed, methods, alpha, power, margin_se = task
    from scipy.special import ndtri

    rng = np.random.default_rng(_chunk_seed(seed, cell, chunk))
    lay = cell.layout
    draw = cell.scenario.draw(lay, reps, rng)
    cov = cell.scenario.covariance(lay)
    w_gls = _oracle_weights(cov, lay)
    sd_gls = math.sqrt(w_gls @ cov @ w_gls)
    effect = (ndtri(1 - alpha) + ndtri(power)) * sd_gls
    aw = _mean_weights(lay)
    sd_mean = {t: math.sqrt(a @ cov @ a) for t, a in aw.items()}
    margin = {t: margin_se * s for t, s in sd_mean.items()}
    zc = ndtri(1 - alpha)
    # oracles on the same data, LATE shifted by the effect
    gls_est = draw.y @ w_gls + effect
    mean_est = draw.y @ aw["diff"] + effect
    base = {"oracle_power": int(np.sum(gls_est / sd_gls > zc)),
            "mean_oracle_power": int(np.sum(mean_est / sd_mean["diff"] > zc))}
    out = {}
    clear_fit_cache()
    for name in methods:
        runner = METHODS[name][0]
        res, fallback = runner(draw.y, lay, draw.known_var, rng=rng)
        c = dict.fromkeys(METRICS, 0)
        c.update(base)
        z = np.zeros(reps)
        for t in ("early", "late", "diff"):
            pg, pl = res.p_greater(t, z), res.p_less(t, z)
            c["cover_" + t] = int(np.sum((pg >= alpha / 2) & (pl >= alpha / 2)))
        c["size"] = int(np.sum(res.p_greater("diff", z) < alpha))
        c["power"] = int(np.sum(res.p_greater("diff", z - effect) < alpha))
        # the TOST may use a distribution of its own (a more conservative one)
        tg = getattr(res, "tost_p_greater", res.p_greater)
        tl = getattr(res, "tost_p_less", res.p_less)
        for t in ("early", "late", "diff"):
            m = margin[t]
            # truth at +m: data + m; p_lower at -m -> original at -2m, p_upper at +m -> at 0
            c[f"tost_{t}_up"] = int(np.sum((tg(t, z - 2 * m) < alpha) & (tl(t, z) < alpha)))
            c[f"tost_{t}_lo"] = int(np.sum((tg(t, z) < alpha) & (tl(t, z + 2 * m) < alpha)))
            # truth 0: declared when both one-sided tests reject at -m and +m
            c["tost_power_" + t] = int(np.sum((tg(t, z - m) < alpha) & (tl(t, z + m) < alpha)))
        c["check_failed"] = int(fallback.sum()) if fallback is not None else 0
        out[name] = c
    clear_fit_cache()
    return cell.key, chunk, out, reps


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def calibrate(cells, methods=DEFAULT_METHODS, *, reps: int = 2000, seed: int = 0,
              alpha: float = 0.05, power: float = 0.8, margin_se: float = 3.0, jobs: int = 1,
              progress=None, checkpoint: str | None = None, runner=None,
              metrics=METRICS) -> dict:
    """Run the study; returns {cell key: Counts}.

    ``checkpoint``: a JSON-lines file; finished chunks are appended to it and, when it
    already holds chunks of the same settings, those are not run again. ``runner`` and
    ``metrics``: another study's chunk function and counts (the across-models bank,
    :mod:`gaugetest.studies.across`), run with the same chunks, seeds and checkpoints.
    """
    methods = tuple(methods)
    runner = runner or run_chunk
    settings = {"methods": methods, "reps": reps, "seed": seed, "alpha": alpha, "power": power,
                "margin_se": margin_se, "chunk": CHUNK, "cells": [c.key for c in cells],
                "metrics": list(metrics)}
    tag = settings_hash(settings)
    done = {}
    if checkpoint and os.path.exists(checkpoint):
        with open(checkpoint) as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue          # a line cut by an interruption
                if rec.get("settings") == tag:
                    done[(rec["cell"], rec["chunk"])] = (rec["counts"], rec["reps"])
    tasks = []
    for cell in cells:
        for chunk in range(math.ceil(reps / CHUNK)):
            r = min(CHUNK, reps - chunk * CHUNK)
            if (cell.key, chunk) not in done:
                tasks.append((cell, chunk, r, seed, methods, alpha, power, margin_se))
    totals = {c.key: Counts() for c in cells}
    for (key, _), (counts, r) in done.items():
        if key in totals:
            totals[key].add(Counts(r, counts))
            if progress:
                progress(r)
    sink = open(checkpoint, "a") if checkpoint else None

    def collect(result):
        key, chunk, counts, r = result
        totals[key].add(Counts(r, counts))
        if sink:
            sink.write(json.dumps({"settings": tag, "cell": key, "chunk": chunk, "reps": r,
                                   "counts": counts}) + "\n")
            sink.flush()
        if progress:
            progress(r)

    try:
        for result in map_tasks(runner, tasks, jobs):
            collect(result)
    finally:
        if sink:
            sink.close()
    return totals


def bank_cells(scenarios=None, layouts=DEFAULT_LAYOUTS, phase_map: str = "auto") -> list[Cell]:
    names = scenarios or [s.name for s in BANK]
    lays = [Layout.from_map(n, late, early, phase_map) for n, late, early in layouts]
    return [Cell(scenario(s), lay) for s in names for lay in lays]
