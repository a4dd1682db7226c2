"""The methods the calibration study compares, each as a batch adapter: simulated pooled
series (replicates x pairs) in, per target (EARLY, LATE, LATE - EARLY) a confidence
distribution out -- the iid t, the moment methods (neff, hac, ...) and the depth-model variants
(``reml-bma`` and its ablations, the TOST rules). ``METHODS`` maps a name to (runner,
description); ``DEFAULT_METHODS`` is what ``gaugetest calibrate`` compares by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scenarios import Layout


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


def clear_fit_cache() -> None:
    """Forget the cached batch fit (the depth-model variants of one chunk share one fit)."""
    _FIT_CACHE.clear()


def _depth_method(**options):
    robust = options.get("robust", True)
    check = options.get("check", True)
    mix_opts = {k: options[k] for k in ("skew", "cross") if k in options}
    families = options.get("families")
    tost_rule = options.get("tost_rule", "mixture")

    def run(Y, lay: Layout, known_var=None, **_):
        import dataclasses

        from ..inference.depth_model import FAMILIES, design_for, fit_batch, mixture, tost_mixture
        fams = tuple(families or FAMILIES)
        design = design_for(tuple(int(v) for v in lay.layers), lay.phases, fams)
        key = (id(Y), fams, robust)
        if key not in _FIT_CACHE:
            _FIT_CACHE.clear()
            _FIT_CACHE[key] = fit_batch(Y, design, known_var, robust=robust, check=True)
        batch = _FIT_CACHE[key]
        if not check:
            batch = dataclasses.replace(batch, fallback=np.zeros_like(batch.fallback))
        targets = {"early": {lay.early: 1.0}, "late": {lay.late: 1.0},
                   "diff": {lay.late: 1.0, lay.early: -1.0}}
        mix = {t: mixture(batch, w, **mix_opts) for t, w in targets.items()}
        tost = None
        if tost_rule != "mixture":
            tost = {t: tost_mixture(batch, w, tost_rule, **mix_opts) for t, w in targets.items()}
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
