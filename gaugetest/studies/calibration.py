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


# --------------------------------------------------------------------------- method adapters


@dataclass(frozen=True)
class _TBatch:
    """t-based confidence distributions: est, se, df per target, arrays (R,)."""

    est: dict
    se: dict
    df: dict

    def p_greater(self, target: str, x) -> np.ndarray:
        from scipy.special import stdtr
        se = self.se[target]
        z = (x - self.est[target]) / np.where(se > 0, se, np.nan)
        return np.nan_to_num(stdtr(self.df[target], z), nan=1.0)

    def p_less(self, target: str, x) -> np.ndarray:
        from scipy.special import stdtr
        se = self.se[target]
        z = (self.est[target] - x) / np.where(se > 0, se, np.nan)
        return np.nan_to_num(stdtr(self.df[target], z), nan=1.0)


def _welch(est, se, df):
    v1, v2 = se["late"] ** 2, se["early"] ** 2
    est["diff"] = est["late"] - est["early"]
    se["diff"] = np.sqrt(v1 + v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["diff"] = (v1 + v2) ** 2 / (v1 ** 2 / df["late"] + v2 ** 2 / df["early"])


def _iid(Y, lay: Layout, known_var=None, **_):
    est, se, df = {}, {}, {}
    for t, ph in (("early", lay.early), ("late", lay.late)):
        y = Y[:, lay.rows(ph)]
        n = y.shape[1]
        est[t], se[t] = y.mean(1), y.std(1, ddof=1) / math.sqrt(n)
        df[t] = np.full(len(Y), n - 1.0)
    _welch(est, se, df)
    return _TBatch(est, se, df), None


def _moment_method(name):
    def run(Y, lay: Layout, known_var=None, rng=None, **_):
        from ..inference.dependence import common_lag1, series_moments
        R = len(Y)
        est = {t: np.empty(R) for t in ("early", "late")}
        se = {t: np.empty(R) for t in est}
        df = {t: np.empty(R) for t in est}
        seg = _segments(lay)
        for i in range(R):
            rho = common_lag1(Y[i], seg)[0] if name == "neff" else None
            for t, ph in (("early", lay.early), ("late", lay.late)):
                m = series_moments(Y[i, lay.rows(ph)], name, rng, rho=rho)
                est[t][i], se[t][i], df[t][i] = m.mean, m.se, m.df
        _welch(est, se, df)
        return _TBatch(est, se, df), None
    return run


def _segments(lay: Layout) -> list:
    return list(lay.phases)


@dataclass(frozen=True)
class _MixBatch:
    mix: dict
    tost: dict | None = None      # target -> (mixture, level factor) of the TOST rule

    def p_greater(self, target, x):
        return self.mix[target].p_greater(x)

    def p_less(self, target, x):
        return self.mix[target].p_less(x)

    # the TOST's p-values, divided by the rule's level factor so they compare with alpha
    def tost_p_greater(self, target, x):
        if self.tost is None:
            return self.p_greater(target, x)
        mix, f = self.tost[target]
        return mix.p_greater(x) / f

    def tost_p_less(self, target, x):
        if self.tost is None:
            return self.p_less(target, x)
        mix, f = self.tost[target]
        return mix.p_less(x) / f


#: Fits shared by the depth-model variants within one chunk (same data, same families).
_FIT_CACHE: dict = {}


def _depth_method(**options):
    robust = options.get("robust", True)
    check = options.get("check", True)
    mix_opts = {k: options[k] for k in ("skew", "cross") if k in options}
    families = options.get("families")
    tost_rule = options.get("tost_rule", "mixture")

    def run(Y, lay: Layout, known_var=None, **_):
        import dataclasses

        from ..inference.depth_model import FAMILIES, _design_cached, _fit_batch, _mixture, _tost_mixture
        fams = tuple(families or FAMILIES)
        design = _design_cached(tuple(int(v) for v in lay.layers), lay.phases, fams)
        key = (id(Y), fams, robust)
        if key not in _FIT_CACHE:
            _FIT_CACHE.clear()
            _FIT_CACHE[key] = _fit_batch(Y, design, known_var, robust=robust, check=True)
        batch = _FIT_CACHE[key]
        if not check:
            batch = dataclasses.replace(batch, fallback=np.zeros_like(batch.fallback))
        targets = {"early": {lay.early: 1.0}, "late": {lay.late: 1.0},
                   "diff": {lay.late: 1.0, lay.early: -1.0}}
        mix = {t: _mixture(batch, w, **mix_opts) for t, w in targets.items()}
        tost = None
        if tost_rule != "mixture":
            tost = {t: _tost_mixture(batch, w, tost_rule, **mix_opts) for t, w in targets.items()}
        return _MixBatch(mix, tost), batch.fallback
    return run


#: Every method the study can run: name -> (runner, description).
METHODS = {
    "reml-bma": (_depth_method(),
                 "the default: arithmetic means, per-phase scale, AR(1)/MA(1)/AR(2)/ARMA(1,1)/"
                 "ARFIMA correlation averaged by REML, skewness-corrected t mixture, model "
                 "check with fallback (gaugetest.inference.depth_model)"),
    "reml-bma-short": (_depth_method(families=("ar1", "ma1", "ar2", "arma11")),
                       "as reml-bma without the long-memory (ARFIMA) family"),
    "reml-ar1": (_depth_method(families=("ar1",)),
                 "as reml-bma with AR(1) correlation only"),
    "reml-bma-noskew": (_depth_method(skew=False),
                        "as reml-bma without the skewness correction"),
    "reml-bma-nocheck": (_depth_method(check=False),
                         "as reml-bma without the model check and its fallback"),
    "reml-bma-tost-level": (_depth_method(tost_rule="level"),
                            "as reml-bma, the TOST at half the level (equivalence when the "
                            "1 - alpha interval, not the 1 - 2 alpha one, lies inside the "
                            "margins)"),
    "reml-bma-tost-q90": (_depth_method(tost_rule="quantile"),
                          "as reml-bma, the TOST on the grid point at the posterior 90% quantile "
                          "of the standard error"),
    "reml-bma-tost-region": (_depth_method(tost_rule="region"),
                             "as reml-bma, the TOST always on the largest variance inside the 95% "
                             "likelihood region (the model check's fallback)"),
    "reml-bma-tost-idf": (_depth_method(tost_rule="inflated-df"),
                          "as reml-bma, the TOST with every component's df shrunk by the posterior "
                          "variance of the log variance (2/df' = 2/df + Var(log se^2))"),
    "neff": (_moment_method("neff"), "effective sample size of an AR(1) with a depth-wide "
                                     "rho (the 0.1.0 robust default, with defects 3-4 fixed)"),
    "hac": (_moment_method("hac"), "Newey-West standard error per phase, n - 1 df"),
    "glsar": (_moment_method("glsar"), "statsmodels GLSAR AR(1) per phase"),
    "block": (_moment_method("block"), "circular block bootstrap standard error per phase"),
    "sieve": (_moment_method("sieve"), "AR-sieve bootstrap standard error per phase"),
    "iid": (_iid, "independent pairs: s / sqrt(n), Welch t (what the iid analysis assumes)"),
}

DEFAULT_METHODS = ("reml-bma", "reml-bma-short", "reml-ar1", "reml-bma-noskew",
                   "reml-bma-nocheck", "neff", "hac", "iid")


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
            mine = self.by_method.setdefault(m, dict.fromkeys(METRICS, 0))
            for k, v in d.items():
                mine[k] += v

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
    _FIT_CACHE.clear()
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
    _FIT_CACHE.clear()
    return cell.key, chunk, out, reps


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def calibrate(cells, methods=DEFAULT_METHODS, *, reps: int = 2000, seed: int = 0,
              alpha: float = 0.05, power: float = 0.8, margin_se: float = 3.0, jobs: int = 1,
              progress=None, checkpoint: str | None = None) -> dict:
    """Run the study; returns {cell key: Counts}.

    ``checkpoint``: a JSON-lines file; finished chunks are appended to it and, when it
    already holds chunks of the same settings, those are not run again.
    """
    methods = tuple(methods)
    settings = {"methods": methods, "reps": reps, "seed": seed, "alpha": alpha, "power": power,
                "margin_se": margin_se, "chunk": CHUNK, "cells": [c.key for c in cells],
                "metrics": list(METRICS)}
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
        for result in map_tasks(run_chunk, tasks, jobs):
            collect(result)
    finally:
        if sink:
            sink.close()
    return totals


def bank_cells(scenarios=None, layouts=DEFAULT_LAYOUTS, phase_map: str = "auto") -> list[Cell]:
    names = scenarios or [s.name for s in BANK]
    lays = [Layout.from_map(n, late, early, phase_map) for n, late, early in layouts]
    return [Cell(scenario(s), lay) for s in names for lay in lays]


# --------------------------------------------------------------------------- reporting


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def summarize(cells, totals: dict, methods) -> dict:
    """Per method: the worst value of each criterion across cells, with where it happens."""
    out = {}
    for m in methods:
        worst = {"size": (-1, None), "coverage": (2, None), "tost": (-1, None),
                 "tost_power": (2, None), "ratio": (9, None), "ratio_mean": (9, None)}
        for cell in cells:
            c = totals[cell.key]
            if m not in c.by_method:
                continue
            size, tost = c.rate(m, "size"), c.rate(m, "tost")
            cov = min(c.rate(m, k) for k in ("cover_early", "cover_late", "cover_diff"))
            op, mp = c.rate(m, "oracle_power"), c.rate(m, "mean_oracle_power")
            pw = c.rate(m, "power")
            ratio = pw / op if op > 0 else float("nan")
            rmean = pw / mp if mp > 0 else float("nan")
            if size > worst["size"][0]:
                worst["size"] = (size, cell.key)
            if cov < worst["coverage"][0]:
                worst["coverage"] = (cov, cell.key)
            if tost > worst["tost"][0]:
                worst["tost"] = (tost, cell.key)
            tpow = c.rate(m, "tost_power")
            if tpow < worst["tost_power"][0]:
                worst["tost_power"] = (tpow, cell.key)
            if ratio < worst["ratio"][0]:
                worst["ratio"] = (ratio, cell.key)
            if rmean < worst["ratio_mean"][0]:
                worst["ratio_mean"] = (rmean, cell.key)
        out[m] = worst
    return out


def to_json(cells, totals: dict, settings: dict) -> dict:
    from .._version import __version__
    import platform

    import scipy
    return {"generator": f"gaugetest calibrate {__version__}", "settings": settings,
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__},
            "cells": [{"scenario": c.scenario.name, "num_layers": c.layout.num_layers,
                       "late": c.layout.late, "early": c.layout.early,
                       "phase_map": c.layout.phase_map, **totals[c.key].to_dict()}
                      for c in cells]}


def _layouts_text(cells) -> str:
    seen = {}
    for c in cells:
        lay = c.layout
        seen.setdefault((lay.num_layers, lay.late, lay.early),
                        f"{lay.num_layers} layers, {lay.late} ({len(lay.rows(lay.late))} pairs) "
                        f"vs {lay.early} ({len(lay.rows(lay.early))} pairs)")
    return "; ".join(seen.values())


def shortfall(totals: dict, cells, method: str, alpha: float) -> dict:
    """How far a method misses the validity targets, worst cell: size - (alpha + 0.01),
    0.93 - coverage, TOST size - (alpha + 0.01); each floored at 0."""
    out = {"size": 0.0, "coverage": 0.0, "tost": 0.0}
    for cell in cells:
        c = totals[cell.key]
        cov = min(c.rate(method, k) for k in ("cover_early", "cover_late", "cover_diff"))
        out["size"] = max(out["size"], c.rate(method, "size") - (alpha + 0.01))
        out["coverage"] = max(out["coverage"], 0.93 - cov)
        out["tost"] = max(out["tost"], c.rate(method, "tost") - (alpha + 0.01))
    return out


def _ranking(cells, totals, methods, alpha) -> list[str]:
    rows = []
    for m in methods:
        sf = shortfall(totals, cells, m, alpha)
        ratios = [totals[c.key].rate(m, "power") / max(totals[c.key].rate(m, "oracle_power"),
                                                         1e-12) for c in cells]
        tpow = float(np.median([totals[c.key].rate(m, "tost_power") for c in cells]))
        rows.append((max(sf["size"], sf["coverage"]), sf["tost"], -float(np.median(ratios)), m,
                     sf, float(np.median(ratios)), float(min(ratios)), tpow))
    # ties (methods that differ only in their TOST) are broken by the TOST's power
    rows.sort(key=lambda r: (round(r[0], 3), round(r[1], 3), r[2], -r[7]))
    lines = ["| rank | method | worst size excess | worst coverage shortfall | worst TOST size "
             "excess | median power ratio | min power ratio | median TOST power |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        sf = r[4]
        lines.append(f"| {i} | `{r[3]}` | {sf['size']:.3f} | {sf['coverage']:.3f} | "
                     f"{sf['tost']:.3f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.3f} |")
    return lines


def _misses(cells, totals, methods, alpha) -> list[str]:
    """Every cell where the first method misses a validity target, with the best any method
    reached there."""
    main = methods[0]
    lines = ["| scenario | layers | criterion | target | `" + main + "` | best of all methods |",
             "|---|---|---|---|---|---|"]
    crit = (("size", lambda c, m: c.rate(m, "size"), alpha + 0.01, max),
            ("coverage", lambda c, m: min(c.rate(m, k) for k in ("cover_early", "cover_late",
                                                                  "cover_diff")), 0.93, min),
            ("TOST size", lambda c, m: c.rate(m, "tost"), alpha + 0.01, max))
    n = 0
    for cell in cells:
        c = totals[cell.key]
        for name, fn, target, worse in crit:
            v = fn(c, main)
            miss = v > target if worse is max else v < target
            if not miss:
                continue
            vals = {m: fn(c, m) for m in methods}
            best = (min if worse is max else max)(vals, key=vals.get)
            op = "<=" if worse is max else ">="
            lines.append(f"| {cell.scenario.label} | {cell.layout.num_layers} | {name} | "
                         f"{op} {target:.2f} | {v:.3f} ± {_se(v, c.reps):.3f} | "
                         f"{vals[best]:.3f} (`{best}`) |")
            n += 1
    if n == 0:
        lines.append("| (none) | | | | | |")
    return lines


def _cell_name(cell: Cell) -> str:
    lay = cell.layout
    return (f"{cell.scenario.label} | {lay.num_layers}: {lay.late} {len(lay.rows(lay.late))} vs "
            f"{lay.early} {len(lay.rows(lay.early))}")


def _short_key(key: str, cells) -> str:
    for c in cells:
        if c.key == key:
            return f"{c.scenario.label}, {c.layout.num_layers} layers"
    return key


def to_markdown(cells, totals: dict, methods, *, reps: int, seed: int, alpha: float,
                power: float, margin_se: float, command: str) -> str:
    lvl = f"{100 * (1 - alpha):g}%"
    lines = [
        "# Calibration: size, coverage, TOST size and power on the scenario bank",
        "",
        f"Reproduce: `{command}` (seeded; the numbers of a cell do not depend on `--jobs` or on "
        "which other cells run).",
        "",
        f"Every cell simulates {reps} sweeps of the pooled delta series with no effect anywhere "
        f"(scenario bank: `gaugetest.studies.scenarios`; layouts: {_layouts_text(cells)}) and applies "
        "every method to the same data. Rates are shown ± their Monte Carlo standard error "
        f"(about {_se(alpha, reps):.3f} for a size of {alpha:g}).",
        "",
        f"- **size**: rejection rate of the one-sided LATE > EARLY test at alpha = {alpha:g} "
        f"(target <= {alpha + 0.01:g});",
        f"- **coverage**: of the {lvl} interval for the EARLY mean, the LATE mean and LATE - "
        "EARLY (target >= 0.93); *min cov* is the smallest of the three;",
        f"- **TOST size**: rate of declaring equivalence when the truth sits on a margin of "
        f"{margin_se:g} true standard errors (worst of both margins and the three targets; "
        f"target <= {alpha + 0.01:g}); **TOST power**: rate of declaring equivalence when the "
        "truth is 0, with the same margins (lowest of the three targets); the depth model's "
        "TOST rules (`--tost-rule`) are compared in [tost-study](tost-study.md);",
        f"- **power**: rejection rate when LATE is higher by the effect that gives the GLS "
        f"oracle (phase levels, true covariance, z test) power {power:g}; **ratio** = power / "
        "the GLS oracle's power on the same data (aim >= 0.85); **ratio (mean)** = power / the "
        "power of the arithmetic-mean contrast with its true variance (the best any method for "
        "this estimand can do);",
        "- **check** (depth-model methods): how often the model check failed and the fallback "
        "was used.",
        "",
        "The ± of a power ratio treats the method's and the oracle's rejections as independent; "
        "they are positively correlated (same data), so it overstates the Monte Carlo error.",
        "",
        "Methods:",
        "",
    ]
    for m in methods:
        lines.append(f"- `{m}`: {METHODS[m][1]}")
    summ = summarize(cells, totals, methods)
    lines += ["", "## Ranking by worst case", "",
              "Validity first -- the larger of the worst size excess over "
              f"{alpha + 0.01:g} and the worst coverage shortfall below 0.93, then the worst TOST "
              "size excess -- and power second (median ratio to the GLS oracle, then median TOST "
              "power). The first "
              "method of `--methods` is the one reported cell by cell below.", ""]
    lines += _ranking(cells, totals, methods, alpha)
    lines += ["", f"## Where `{methods[0]}` misses a target", "",
              "Each miss with the best value any compared method reached in that cell (a method "
              "that reaches it may fail elsewhere; see the ranking).", ""]
    lines += _misses(cells, totals, methods, alpha)
    lines += ["", "## Worst case across the bank", "",
              "| method | max size | min coverage | max TOST size | min TOST power | "
              "median TOST power | min power ratio | min ratio (mean) |",
              "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        w = summ[m]
        lines.append(f"| `{m}` | {w['size'][0]:.3f} ({_short_key(w['size'][1], cells)}) | "
                     f"{w['coverage'][0]:.3f} ({_short_key(w['coverage'][1], cells)}) | "
                     f"{w['tost'][0]:.3f} ({_short_key(w['tost'][1], cells)}) | "
                     f"{w['tost_power'][0]:.3f} ({_short_key(w['tost_power'][1], cells)}) | "
                     f"{np.median([totals[c.key].rate(m, 'tost_power') for c in cells]):.3f} | "
                     f"{w['ratio'][0]:.2f} ({_short_key(w['ratio'][1], cells)}) | "
                     f"{w['ratio_mean'][0]:.2f} ({_short_key(w['ratio_mean'][1], cells)}) |")
    lines.append("")
    # the default in full
    main = methods[0]
    lines += [f"## `{main}` in every cell", "",
              "| scenario | layers | size | cover EARLY | cover LATE | cover diff | TOST size | "
              "TOST power | power | ratio | ratio (mean) | check |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        c = totals[cell.key]
        n = c.reps

        def r(k):
            p = c.rate(main, k)
            return f"{p:.3f} ± {_se(p, n):.3f}"
        op, mp, pw = (c.rate(main, "oracle_power"), c.rate(main, "mean_oracle_power"),
                      c.rate(main, "power"))
        # delta-method SE of power / oracle power, counting the two as independent (they are
        # positively correlated on the same data, so this overstates the error)
        r_se = math.sqrt(_se(pw, n) ** 2 / op ** 2 + pw ** 2 * _se(op, n) ** 2 / op ** 4) \
            if op > 0 else float("nan")
        lay = cell.layout
        tp = c.rate(main, "tost_power")
        lines.append(f"| {cell.scenario.label} | {lay.num_layers} ({lay.late} "
                     f"{len(lay.rows(lay.late))} vs {lay.early} {len(lay.rows(lay.early))}) | "
                     f"{r('size')} | {r('cover_early')} | {r('cover_late')} | {r('cover_diff')} | "
                     f"{r('tost')} | {tp:.3f} ± {_se(tp, n):.3f} | {r('power')} | "
                     f"{pw / op:.2f} ± {r_se:.2f} | {pw / mp:.2f} | "
                     f"{c.rate(main, 'check_failed'):.3f} |")
    lines.append("")
    # comparison tables
    for title, fn, fmt in (
            ("Size of LATE > EARLY", lambda c, m: c.rate(m, "size"), "{:.3f}"),
            ("Smallest coverage (EARLY, LATE, difference)",
             lambda c, m: min(c.rate(m, k) for k in ("cover_early", "cover_late", "cover_diff")),
             "{:.3f}"),
            ("TOST size", lambda c, m: c.rate(m, "tost"), "{:.3f}"),
            ("TOST power (lowest of EARLY, LATE, difference)",
             lambda c, m: c.rate(m, "tost_power"), "{:.3f}"),
            ("Power ratio to the GLS oracle",
             lambda c, m: c.rate(m, "power") / max(c.rate(m, "oracle_power"), 1e-12), "{:.2f}")):
        lines += [f"## {title}, every method", "",
                  "| scenario | layers | " + " | ".join(f"`{m}`" for m in methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for cell in cells:
            c = totals[cell.key]
            lines.append(f"| {cell.scenario.label} | {cell.layout.num_layers} | "
                         + " | ".join(fmt.format(fn(c, m)) for m in methods) + " |")
        lines.append("")
    lines += ["## Scenarios", ""]
    seen = set()
    for cell in cells:
        s = cell.scenario
        if s.name not in seen:
            seen.add(s.name)
            lines.append(f"- **{s.label}** (`{s.name}`): {s.description}")
    return "\n".join(lines) + "\n"
