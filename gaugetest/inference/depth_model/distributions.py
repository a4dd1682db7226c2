"""The confidence distribution of a contrast of phase means: a mixture over the grid of
Welch-Satterthwaite t distributions, each corrected for skewness by Hall's (1992) transformation,
with the model check's conservative fallback; and the root finder its intervals use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..spread import ZERO_SPREAD
from .fit import Batch

#: Half the chi-square(2) 95% quantile: the likelihood region of the fallback.
REGION_DROP = 2.995732273553991


def t_cdf(df, x):
    from scipy.special import stdtr
    return stdtr(df, x)


def hall(t, a0, a2):
    """Hall's (1992) monotone transformation t + a0 + a2 t^2 + a2^2 t^3 / 3."""
    return t + a0 + a2 * t * t + a2 * a2 * t ** 3 / 3


@dataclass(frozen=True)
class Mixture:
    """Confidence distribution(s) of a contrast for R replicates: estimate, and per kept grid
    point a weight, standard error, df and Hall coefficients."""

    est: np.ndarray     # (R,)
    w: np.ndarray       # (R, K)
    se: np.ndarray      # (R, K)
    df: np.ndarray      # (R, K)
    a0: np.ndarray      # (R, K)
    a2: np.ndarray      # (R, K)
    skew: bool = True
    # per-component estimate minus ``est`` (the GLS estimand: every grid point has its own
    # GLS levels; ``est`` is their posterior mean); None: one estimate for every component
    off: np.ndarray | None = None

    def _h(self, x: np.ndarray, corrected: bool) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        # a point mass (constant data, se ~ 0) sends t to +-inf: its cdf is then 0 or 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            d = (self.est - x)[:, None]
            if self.off is not None:
                d = d + self.off
            t = d / self.se
            if corrected:
                t = hall(t, self.a0, self.a2)
        return np.sum(self.w * (1 - t_cdf(self.df, t)), axis=1)

    def p_greater(self, x) -> np.ndarray:
        """P-value of H1: contrast > x (the larger of the corrected/uncorrected ones)."""
        p = self._h(x, False)
        p = np.maximum(p, self._h(x, True)) if self.skew else p
        return self._exact(p, x, greater=True)

    def p_less(self, x) -> np.ndarray:
        p = 1 - self._h(x, False)
        p = np.maximum(p, 1 - self._h(x, True)) if self.skew else p
        return self._exact(p, x, greater=False)

    def _exact(self, p: np.ndarray, x, greater: bool) -> np.ndarray:
        """p clipped to [0, 1] (a sum of weighted probabilities may end an ulp outside), and
        the answer of a contrast without spread (every component's se is 0: each phase in it
        is constant, and no known variance): its value is known exactly, so H1 is either
        certain (p = 0) or not supported at all (p = 1). A value within rounding
        (``ZERO_SPREAD``) of x is a tie, which never rejects."""
        point = ~((self.se > 0) & (self.w > 0)).any(axis=1)
        if point.any():
            est, x = np.broadcast_arrays(self.est, np.asarray(x, dtype=float))
            tol = ZERO_SPREAD * np.maximum(1.0, np.maximum(np.abs(est), np.abs(x)))
            d = est - x
            step = np.where(d > tol, 0.0, 1.0) if greater else np.where(d < -tol, 0.0, 1.0)
            p = np.where(point, step, p)
        return np.clip(p, 0.0, 1.0)

    def shifted(self, value: float) -> "Mixture":
        """The same spread around ``value`` (one replicate): what power calculations use."""
        return Mixture(np.array([value]), self.w, self.se, self.df, self.a0, self.a2,
                       self.skew, self.off)


#: The estimands of a phase level: the arithmetic mean of its pairs, or the GLS level at each
#: grid point of the dependence model (mixed over the posterior like the variance).
ESTIMANDS = ("mean", "gls")


def mixture(batch: Batch, weights: Mapping[str, float], skew: bool = True,
             cross: bool = True, raw: bool = False, bins: int | None = None,
             estimand: str = "mean") -> Mixture | None:
    """The confidence distribution of a contrast: the mixture over the kept grid points
    (``raw``: every kept point with its posterior weight, before the check's fallback and
    before merging components).  ``estimand``: "mean" (contrast of arithmetic phase means)
    or "gls" (contrast of GLS phase levels, each grid point's own, mixed over the
    posterior)."""
    if estimand not in ESTIMANDS:
        raise ValueError(f"unknown estimand {estimand!r}; one of {', '.join(ESTIMANDS)}")
    d = batch.design
    phases = [p for p, c in weights.items() if c != 0]
    if not phases or any(p not in batch.s2 for p in phases):
        return None
    R, K = batch.w.shape
    gls = estimand == "gls"
    off = None
    if gls:
        est_k = sum(weights[p] * batch.gls[p] for p in phases)                # (R, K)
        est = np.sum(batch.w * est_k, axis=1)
        off = est_k - est[:, None]
        vfac = {p: batch.take(d.block(p).vg) for p in phases}
    else:
        est = sum(weights[p] * batch.means[p] for p in phases)
        vfac = batch.v
    comp = {p: weights[p] ** 2 * batch.s2[p] * vfac[p] for p in phases}      # (R, K)
    var = sum(comp.values())
    grad = {p: weights[p] ** 2 * vfac[p] for p in phases}                    # d var / d s2_p
    if cross:
        for i, p in enumerate(phases):
            for q in phases[i + 1:]:
                cpq = batch.take(d.cross(p, q, estimand))
                sp, sq = np.sqrt(batch.s2[p]), np.sqrt(batch.s2[q])
                term = 2 * weights[p] * weights[q] * sp * sq * cpq
                widen = term > 0          # counted only where it widens the interval
                var = var + np.where(widen, term, 0.0)
                # a phase without spread has s2 = 0 and no term (widen is False there)
                with np.errstate(invalid="ignore", divide="ignore"):
                    grad[p] = grad[p] + np.where(widen, term / (2 * batch.s2[p]), 0.0)
                    grad[q] = grad[q] + np.where(widen, term / (2 * batch.s2[q]), 0.0)
    if batch.spike:
        # filtered spikes count once (their own square), not times the dependence's factor;
        # they are not part of the scale's sampling spread (no df)
        if gls:
            var = var + sum(weights[p] ** 2 * batch.spike_gls[p] for p in phases)
        else:
            var = var + sum(weights[p] ** 2 * batch.spike[p] for p in phases)[:, None]
    if batch.known_floor:
        floor = sum(weights[p] ** 2 * batch.known_floor[p] for p in phases)[:, None]
        var = np.maximum(var, floor)
    # a contrast of phases without spread (and no known variance) has variance 0 exactly: a
    # point mass, which Mixture answers exactly (no 1e-150 floor for the skewness transform to
    # turn into 0 * inf)
    var = np.maximum(var, 0.0)
    nu = {p: d.block(p).m - 1 for p in phases}
    vv = sum((grad[p] * batch.s2[p]) ** 2 * 2 / nu[p] for p in phases)
    df = np.clip(2 * var ** 2 / np.maximum(vv, 1e-300), 1.0, None)
    se = np.sqrt(var)
    # skewness (Hall 1992, generalised to a linear process with whitened residuals)
    sdv = se
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a, b = skew_terms(weights, phases, batch, d, comp, var, nu, sdv, gls)
    # a phase without spread (constant data) has no skewness to correct: 0/0 there is 0
    a0, a2 = np.nan_to_num(a / 6), np.nan_to_num(b / 2 - a / 6)
    w = batch.w
    if raw:
        return Mixture(est, w, se, df, a0, a2, skew, off)
    if batch.fallback.any():
        # most conservative answer inside the 95% likelihood region
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        pick = np.where(inside, se, -np.inf).argmax(axis=1)
        alt = np.zeros_like(w)
        alt[np.arange(R), pick] = 1.0
        w = np.where(batch.fallback[:, None], alt, w)
        if gls:
            est = np.sum(w * est_k, axis=1)
            off = est_k - est[:, None]
    return compress(Mixture(est, w, se, df, a0, a2, skew, off), bins or MERGE_BINS)


def skew_terms(weights, phases, batch, d, comp, var, nu, sdv, gls: bool = False):
    """Hall's a and b coefficients of a contrast's skewness (the estimate's innovation
    coefficients: C'1/m for an arithmetic mean, u/u'u for a GLS level)."""
    s3 = {p: d.block(p).s3g if gls else d.block(p).s3 for p in phases}
    sb = {p: d.block(p).sbg if gls else d.block(p).sb for p in phases}
    a = sum(weights[p] ** 3 * batch.s2[p] ** 1.5 * batch.take(s3[p])
            for p in phases) * batch.gamma / sdv ** 3
    b = sum(comp[p] / var * weights[p] * np.sqrt(batch.s2[p]) * batch.take(sb[p])
            / nu[p] for p in phases) * batch.gamma / sdv
    return a, b


#: Components whose standard errors agree within this factor are merged.
MERGE_BINS = 64


def compress(mix: Mixture, bins: int = MERGE_BINS) -> Mixture:
    """Merge mixture components with nearly equal standard errors: MERGE_BINS bins of equal
    width in log(se) per replicate (width <= 1/64 of the log range, i.e. a few percent);
    weights add up, se, df and the Hall coefficients are weight-averaged within a bin."""
    R, K = mix.w.shape
    if K <= bins:
        return mix
    ls = np.log(np.where(mix.se > 0, mix.se, 1.0))      # a point mass: one bin
    lo, hi = ls.min(axis=1, keepdims=True), ls.max(axis=1, keepdims=True)
    b = np.minimum(((ls - lo) / np.maximum(hi - lo, 1e-12) * bins).astype(int), bins - 1)
    flat = (np.arange(R)[:, None] * bins + b).ravel()

    def acc(x):
        out = np.zeros(R * bins)
        np.add.at(out, flat, (mix.w * x).ravel())
        return out.reshape(R, bins)

    W = acc(np.ones_like(mix.w))
    safe = np.where(W > 0, W, 1.0)
    se = np.sqrt(acc(mix.se ** 2) / safe)
    se = np.where(W > 0, se, 1.0)
    df = np.where(W > 0, acc(mix.df) / safe, 1.0)
    a0 = acc(mix.a0) / safe
    a2 = acc(mix.a2) / safe
    off = None if mix.off is None else acc(mix.off) / safe
    return Mixture(mix.est, W, se, df, a0, a2, mix.skew, off)
