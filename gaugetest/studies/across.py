"""The across-models bank of ``gaugetest calibrate --across``: families of K models with no
effect, a common effect and heterogeneous effects, and every rule of combining them.

A cell is a dependence process of the scenario bank (:mod:`gaugetest.studies.scenarios`; or
``mixed``: every model of the family a different process) and a family size K (2, 3, 4, 6).
Each chunk of replicates draws its family's design once -- the depth of every model from
{28, 36, 40, 64} layers (phases by the fractional map, which gives every depth a phase E; E vs
C), and every model's noise scale log-uniformly in [0.5, 2] -- so a cell averages over many
families of unequal depth and precision. Per replicate, every model's pooled series is drawn
from the process, and

* the shared dependence model is fitted (one correlation function for the family, each model
  with its own levels and scales; :mod:`gaugetest.inference.depth_model.shared`), and each
  rule of :mod:`gaugetest.inference.family` combines the models' E − C contrasts and their C
  and E levels; rules ending in ``-own`` fit every model's dependence alone (no sharing);
* the **oracle** knows every model's covariance: per-model GLS phase levels combined by
  inverse variance, a z test; the **mean oracle** does the same with the arithmetic-mean
  contrasts (the estimand of the depth model);
* the common effect that gives the oracle power ``power`` is added to every model's E;
* heterogeneous effects: every model's E is shifted by u_k ~ N(0, tau^2), tau = h x the median
  of the models' true standard errors of their E − C mean contrast (h in :data:`HETERO`), and
  the family mean stays 0: the test's size and coverage for the **family mean** (what a new
  model of the family would show on average), and its size for the inverse-variance mean of
  *these* models' effects (``cond``).

Counts per method: ``size``, ``cover_diff``, ``power`` (common effect), ``cover_early``,
``cover_late`` and the TOST counts of the levels and of the difference at ``margin_se`` true
standard errors, and per h: ``size_h``, ``cover_h``, ``size_cond_h``.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from .calibration import TARGETS, _mean_weights, _oracle_weights
from .scenarios import BANK, Layout, scenario

#: Family sizes and depths of the bank.
KS = (2, 3, 4, 6)
DEPTHS = (28, 36, 40, 64)
PHASES = "fractional"
LATE, EARLY = "E", "C"
#: Per-model noise sd, log-uniform on this range.
SCALES = (0.5, 2.0)
#: Heterogeneity: tau as a multiple of the median per-model true se of E − C.
HETERO = (0.5, 1.0)
#: The processes the ``mixed`` cell cycles through, one per model.
MIXED = ("ar1-0.3", "ar1-0.7", "ma1-shared", "ar2-0.5-0.3", "arfima-0.3", "t3")

TOST_SIZE = tuple(f"tost_{t}_{side}" for t in TARGETS for side in ("up", "lo"))
TOST_POWER = tuple(f"tost_power_{t}" for t in TARGETS)
METRICS = (("cover_early", "cover_late", "cover_diff", "size", "power", "oracle_power",
            "mean_oracle_power", "check_failed") + TOST_SIZE + TOST_POWER
           + tuple(f"{m}_h{h:g}" for h in HETERO for m in ("size", "cover", "size_cond")))

#: Rules compared (gaugetest.inference.family.METHODS, and the same without sharing).
RULES = ("im", "re-hm-sw", "re-hm", "re-dl", "fe", "hksj", "mhksj")
OWN = ("fe-own", "re-hm-sw-own")
DEFAULT_ACROSS_METHODS = RULES + OWN


@dataclass(frozen=True)
class AcrossCell:
    """One process (or ``mixed``) and one family size."""

    name: str
    k: int

    @property
    def key(self) -> str:
        return f"across|{self.name}|K{self.k}"

    def process(self, i: int):
        return scenario(MIXED[i % len(MIXED)] if self.name == "mixed" else self.name)

    @property
    def label(self) -> str:
        if self.name == "mixed":
            return "mixed processes"
        return scenario(self.name).label

    @property
    def description(self) -> str:
        if self.name == "mixed":
            return ("every model a different process (" + ", ".join(
                scenario(n).label for n in MIXED) + "): the shared dependence model is wrong "
                "for all of them")
        return scenario(self.name).description


def across_cells(names=None, ks=KS) -> list[AcrossCell]:
    names = list(names) if names else [s.name for s in BANK] + ["mixed"]
    return [AcrossCell(n, k) for n in names for k in ks]


def _seed(seed: int, cell: AcrossCell, chunk: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(cell.key.encode()), chunk])


def _family(cell: AcrossCell, reps: int, rng):
    """Draw one chunk's family design and its series: per model (layout, Y, known_var,
    covariance)."""
    depths = rng.choice(DEPTHS, size=cell.k)
    scales = np.exp(rng.uniform(math.log(SCALES[0]), math.log(SCALES[1]), cell.k))
    out = []
    for i, (n, s) in enumerate(zip(depths, scales)):
        lay = Layout.from_map(int(n), LATE, EARLY, PHASES)
        proc = cell.process(i)
        draw = proc.draw(lay, reps, rng)
        kv = None if draw.known_var is None else s ** 2 * draw.known_var
        out.append((lay, s * draw.y, kv, s ** 2 * proc.covariance(lay)))
    return out


def run_across_chunk(task):
    """One chunk of one cell: (cell key, chunk, counts by method, reps)."""
    from scipy.special import ndtri

    from ..inference.depth_model import FAMILIES, design_for, fit_batch
    from ..inference.depth_model.fit import likelihood
    from ..inference.depth_model.shared import shared_log_posterior
    from ..inference.family import Components, combine, components

    cell, chunk, reps, seed, methods, alpha, power, margin_se = task
    rng = np.random.default_rng(_seed(seed, cell, chunk))
    fam = _family(cell, reps, rng)
    zc = ndtri(1 - alpha)
    # oracles
    inv_gls, est_gls, inv_mean, est_mean, var_mean = [], [], [], [], []
    for lay, Y, _, cov in fam:
        w = _oracle_weights(cov, lay)
        inv_gls.append(1 / (w @ cov @ w))
        est_gls.append(Y @ w)
        a = _mean_weights(lay)
        var_mean.append({t: float(a[t] @ cov @ a[t]) for t in TARGETS})
        inv_mean.append(1 / var_mean[-1]["diff"])
        est_mean.append(Y @ a["diff"])
    inv_gls, inv_mean = np.array(inv_gls), np.array(inv_mean)
    se_or = 1 / math.sqrt(inv_gls.sum())
    effect = (zc + ndtri(power)) * se_or
    or_est = (inv_gls @ np.array(est_gls)) / inv_gls.sum() + effect
    mo_est = (inv_mean @ np.array(est_mean)) / inv_mean.sum() + effect
    base = {"oracle_power": int(np.sum(or_est / se_or > zc)),
            "mean_oracle_power": int(np.sum(mo_est * math.sqrt(inv_mean.sum()) > zc))}
    margin = {t: margin_se / math.sqrt(sum(1 / v[t] for v in var_mean)) for t in TARGETS}
    # heterogeneous effects: one draw per replicate and model, shared by every method
    sd_diff = np.sqrt([v["diff"] for v in var_mean])
    het = {h: rng.standard_normal((reps, cell.k)) * h * float(np.median(sd_diff))
           for h in HETERO}
    cond_w = inv_mean / inv_mean.sum()
    # fits: one likelihood per model; the shared posterior, and each model alone
    designs = [design_for(tuple(int(v) for v in lay.layers), lay.phases, FAMILIES)
               for lay, *_ in fam]
    liks = [likelihood(Y, d) for (_, Y, _, _), d in zip(fam, designs)]
    lp = shared_log_posterior([Y for _, Y, _, _ in fam], designs, liks=liks)
    shared = [fit_batch(Y, d, kv, log_post=lp, lik=lk)
              for (_, Y, kv, _), d, lk in zip(fam, designs, liks)]
    own = None
    if any(m.endswith("-own") for m in methods):
        own = [fit_batch(Y, d, kv, lik=lk) for (_, Y, kv, _), d, lk in zip(fam, designs, liks)]
    targets = {"early": {EARLY: 1.0}, "late": {LATE: 1.0}, "diff": {LATE: 1.0, EARLY: -1.0}}
    comps = {t: [components(b, w) for b in shared] for t, w in targets.items()}
    comps_own = None
    if own is not None:
        comps_own = {}
        for t, w in targets.items():
            cs = []
            for b in own:
                c = components(b, w)
                ones = np.ones((reps, 1))
                order = np.argsort(c.se, axis=1)
                cw = np.cumsum(np.take_along_axis(c.w, order, axis=1), axis=1)
                med = order[np.arange(reps), np.minimum((cw < 0.5).sum(axis=1),
                                                        c.w.shape[1] - 1)]
                cs.append(Components(c.est, ones, np.sqrt(c.var)[:, None],
                                     c.df[np.arange(reps), med][:, None]))
            comps_own[t] = cs
    failed = np.any([b.fallback for b in shared], axis=0)
    z = np.zeros(reps)
    out = {}
    for name in methods:
        rule = name.removesuffix("-own")
        cs = comps_own if name.endswith("-own") else comps
        mix = {t: combine(cs[t], rule).mixture for t in TARGETS}
        c = dict.fromkeys(METRICS, 0)
        c.update(base)
        for t in TARGETS:
            pg, pl = mix[t].p_greater(z), mix[t].p_less(z)
            c["cover_" + t] = int(np.sum((pg >= alpha / 2) & (pl >= alpha / 2)))
        c["size"] = int(np.sum(mix["diff"].p_greater(z) < alpha))
        c["power"] = int(np.sum(mix["diff"].p_greater(z - effect) < alpha))
        for t in TARGETS:
            m = margin[t]
            pg, pl = mix[t].p_greater, mix[t].p_less
            c[f"tost_{t}_up"] = int(np.sum((pg(z - 2 * m) < alpha) & (pl(z) < alpha)))
            c[f"tost_{t}_lo"] = int(np.sum((pg(z) < alpha) & (pl(z + 2 * m) < alpha)))
            c["tost_power_" + t] = int(np.sum((pg(z - m) < alpha) & (pl(z + m) < alpha)))
        for h, u in het.items():
            shifted = [Components(x.est + u[:, i], x.w, x.se, x.df)
                       for i, x in enumerate(cs["diff"])]
            mh = combine(shifted, rule).mixture
            pg, pl = mh.p_greater(z), mh.p_less(z)
            c[f"size_h{h:g}"] = int(np.sum(pg < alpha))
            c[f"cover_h{h:g}"] = int(np.sum((pg >= alpha / 2) & (pl >= alpha / 2)))
            c[f"size_cond_h{h:g}"] = int(np.sum(mh.p_greater(u @ cond_w) < alpha))
        c["check_failed"] = int(failed.sum())
        out[name] = c
    return cell.key, chunk, out, reps


def calibrate_across(cells, methods=DEFAULT_ACROSS_METHODS, **kw) -> dict:
    """Run the across-models bank (same chunks, seeds and checkpoints as the single-model
    bank, :func:`gaugetest.studies.calibration.calibrate`); returns {cell key: Counts}."""
    from .calibration import calibrate

    # no rule draws random numbers, so the counts do not depend on the order of the rules: the
    # chunks (and a checkpoint) are shared by every order
    return calibrate(cells, tuple(sorted(methods)), runner=run_across_chunk, metrics=METRICS,
                     **kw)
