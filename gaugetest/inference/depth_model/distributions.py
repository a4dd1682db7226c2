"""The confidence distribution of a contrast of phase means: a mixture over the grid of
Welch-Satterthwaite t distributions, each corrected for skewness by Hall's (1992) transformation,
with the model check's conservative fallback; and the root finder its intervals use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

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

    def _h(self, x: np.ndarray, corrected: bool) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        # a point mass (constant data, se ~ 0) sends t to +-inf: its cdf is then 0 or 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            t = (self.est - x)[:, None] / self.se
            if corrected:
                t = hall(t, self.a0, self.a2)
        return np.sum(self.w * (1 - t_cdf(self.df, t)), axis=1)

    def p_greater(self, x) -> np.ndarray:
        """P-value of H1: contrast > x (the larger of the corrected/uncorrected ones)."""
        p = self._h(x, False)
        return np.maximum(p, self._h(x, True)) if self.skew else p

    def p_less(self, x) -> np.ndarray:
        p = 1 - self._h(x, False)
        return np.maximum(p, 1 - self._h(x, True)) if self.skew else p


def mixture(batch: Batch, weights: Mapping[str, float], skew: bool = True,
             cross: bool = True, raw: bool = False) -> Mixture | None:
    """The confidence distribution of a contrast: the mixture over the kept grid points
    (``raw``: every kept point with its posterior weight, before the check's fallback and
    before merging components)."""
    d = batch.design
    phases = [p for p, c in weights.items() if c != 0]
    if not phases or any(p not in batch.s2 for p in phases):
        return None
    R, K = batch.w.shape
    est = sum(weights[p] * batch.means[p] for p in phases)
    comp = {p: weights[p] ** 2 * batch.s2[p] * batch.v[p] for p in phases}   # (R, K)
    var = sum(comp.values())
    grad = {p: weights[p] ** 2 * batch.v[p] for p in phases}                 # d var / d s2_p
    if cross:
        for i, p in enumerate(phases):
            for q in phases[i + 1:]:
                cpq = batch.take(d.cross(p, q))
                sp, sq = np.sqrt(batch.s2[p]), np.sqrt(batch.s2[q])
                term = 2 * weights[p] * weights[q] * sp * sq * cpq
                widen = term > 0          # counted only where it widens the interval
                var = var + np.where(widen, term, 0.0)
                # a phase without spread has s2 = 0 and no term (widen is False there)
                with np.errstate(invalid="ignore", divide="ignore"):
                    grad[p] = grad[p] + np.where(widen, term / (2 * batch.s2[p]), 0.0)
                    grad[q] = grad[q] + np.where(widen, term / (2 * batch.s2[q]), 0.0)
    if batch.known_floor:
        floor = sum(weights[p] ** 2 * batch.known_floor[p] for p in phases)[:, None]
        var = np.maximum(var, floor)
    var = np.maximum(var, 1e-300)
    nu = {p: d.block(p).m - 1 for p in phases}
    vv = sum((grad[p] * batch.s2[p]) ** 2 * 2 / nu[p] for p in phases)
    df = np.clip(2 * var ** 2 / np.maximum(vv, 1e-300), 1.0, None)
    se = np.sqrt(var)
    # skewness (Hall 1992, generalised to a linear process with whitened residuals)
    sdv = se
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a, b = skew_terms(weights, phases, batch, d, comp, var, nu, sdv)
    # a phase without spread (constant data) has no skewness to correct: 0/0 there is 0
    a0, a2 = np.nan_to_num(a / 6), np.nan_to_num(b / 2 - a / 6)
    w = batch.w
    if raw:
        return Mixture(est, w, se, df, a0, a2, skew)
    if batch.fallback.any():
        # most conservative answer inside the 95% likelihood region
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        pick = np.where(inside, se, -np.inf).argmax(axis=1)
        alt = np.zeros_like(w)
        alt[np.arange(R), pick] = 1.0
        w = np.where(batch.fallback[:, None], alt, w)
    return compress(Mixture(est, w, se, df, a0, a2, skew))


def skew_terms(weights, phases, batch, d, comp, var, nu, sdv):
    """Hall's a and b coefficients of a contrast's skewness."""
    a = sum(weights[p] ** 3 * batch.s2[p] ** 1.5 * batch.take(d.block(p).s3)
            for p in phases) * batch.gamma / sdv ** 3
    b = sum(comp[p] / var * weights[p] * np.sqrt(batch.s2[p]) * batch.take(d.block(p).sb)
            / nu[p] for p in phases) * batch.gamma / sdv
    return a, b


#: Components whose standard errors agree within this factor are merged.
MERGE_BINS = 64


def compress(mix: Mixture) -> Mixture:
    """Merge mixture components with nearly equal standard errors: MERGE_BINS bins of equal
    width in log(se) per replicate (width <= 1/64 of the log range, i.e. a few percent);
    weights add up, se, df and the Hall coefficients are weight-averaged within a bin."""
    R, K = mix.w.shape
    if K <= MERGE_BINS:
        return mix
    ls = np.log(mix.se)
    lo, hi = ls.min(axis=1, keepdims=True), ls.max(axis=1, keepdims=True)
    b = np.minimum(((ls - lo) / np.maximum(hi - lo, 1e-12) * MERGE_BINS).astype(int),
                   MERGE_BINS - 1)
    flat = (np.arange(R)[:, None] * MERGE_BINS + b).ravel()

    def acc(x):
        out = np.zeros(R * MERGE_BINS)
        np.add.at(out, flat, (mix.w * x).ravel())
        return out.reshape(R, MERGE_BINS)

    W = acc(np.ones_like(mix.w))
    safe = np.where(W > 0, W, 1.0)
    se = np.sqrt(acc(mix.se ** 2) / safe)
    se = np.where(W > 0, se, 1.0)
    df = np.where(W > 0, acc(mix.df) / safe, 1.0)
    a0 = acc(mix.a0) / safe
    a2 = acc(mix.a2) / safe
    return Mixture(mix.est, W, se, df, a0, a2, mix.skew)


def root_in_bracket(g, a: float, b: float, ga: float, gb: float, xtol: float,
                     maxiter: int = 200) -> float:
    """Root of an increasing g on [a, b] with g(a) < 0 < g(b): regula falsi with the Illinois
    modification (Dowell & Jarratt 1971; superlinear, never leaves the bracket), stopped when
    the bracket or the step is below ``xtol``."""
    side = 0
    c_prev = None
    for _ in range(maxiter):
        c = (a * gb - b * ga) / (gb - ga)
        if not a < c < b:
            c = 0.5 * (a + b)
        gc = g(c)
        if gc == 0 or b - a < xtol or (c_prev is not None and abs(c - c_prev) < xtol):
            return float(c)
        c_prev = c
        if gc < 0:
            a, ga = c, gc
            if side == -1:
                gb *= 0.5
            side = -1
        else:
            b, gb = c, gc
            if side == 1:
                ga *= 0.5
            side = 1
    return float(0.5 * (a + b))
