"""Closed forms of meta-analysis: combining K independent estimates d_k with variances v_k.

Every function is vectorised: ``d`` and ``v`` are (..., K) arrays (K models on the last axis,
any leading replicate axes), and the results have the leading shape. The tests compare them
with ``statsmodels.stats.meta_analysis.combine_effects`` (which does not truncate the
DerSimonian-Laird tau^2 at 0: see :func:`tau2_dl`) and with hand computations.

* Cochran's Q and the common-effect (inverse-variance) estimate;
* between-model variance tau^2: DerSimonian & Laird (1986), Paule & Mandel (1982), Hartung &
  Makambi (2003, a positive variant of DerSimonian-Laird);
* I^2 (Higgins & Thompson 2002);
* the Hartung-Knapp-Sidik-Jonkman variance (Hartung & Knapp 2001; Sidik & Jonkman 2002) and its
  modified form with the common-effect variance as a floor (Roever, Knapp & Friede 2015);
* the prediction interval for a new model (Higgins, Thompson & Spiegelhalter 2009);
* the Ibragimov-Mueller t statistic (equal weights, K - 1 df; Ibragimov & Mueller 2010).

Examples
--------
>>> import numpy as np
>>> d, v = np.array([0.1, 0.3, 0.2]), np.array([0.01, 0.02, 0.015])
>>> q, mu, w_total = q_statistic(d, v)
>>> round(float(q), 4), round(float(mu), 4)
(1.3846, 0.1769)
>>> float(tau2_dl(d, v))
0.0
"""
from __future__ import annotations

import numpy as np


def q_statistic(d, v):
    """Cochran's Q, the common-effect estimate and the total weight sum(1 / v)."""
    d, v = np.asarray(d, dtype=float), np.asarray(v, dtype=float)
    w = 1.0 / v
    W = w.sum(axis=-1)
    mu = (w * d).sum(axis=-1) / W
    q = (w * (d - mu[..., None]) ** 2).sum(axis=-1)
    return q, mu, W


def tau2_dl(d, v, truncate: bool = True):
    """DerSimonian & Laird (1986): (Q - (K - 1)) / (W - sum w^2 / W), truncated at 0
    (``truncate=False`` gives the untruncated moment estimate statsmodels reports)."""
    d, v = np.asarray(d, dtype=float), np.asarray(v, dtype=float)
    k = d.shape[-1]
    q, _, W = q_statistic(d, v)
    w = 1.0 / v
    c = W - (w ** 2).sum(axis=-1) / W
    t2 = (q - (k - 1)) / c
    return np.maximum(t2, 0.0) if truncate else t2


def tau2_hm(d, v):
    """Hartung & Makambi (2003): Q^2 / ((2 (K - 1) + Q) (W - sum w^2 / W)), always positive,
    so the random-effects variance never collapses to the common-effect one."""
    d, v = np.asarray(d, dtype=float), np.asarray(v, dtype=float)
    k = d.shape[-1]
    q, _, W = q_statistic(d, v)
    w = 1.0 / v
    c = W - (w ** 2).sum(axis=-1) / W
    return q ** 2 / ((2 * (k - 1) + q) * c)


def tau2_pm(d, v, tol: float = 1e-12, maxiter: int = 200):
    """Paule & Mandel (1982): the tau^2 >= 0 at which the generalised Q equals K - 1 (0 when
    Q < K - 1 at tau^2 = 0), by bisection on a bracket (the generalised Q decreases in tau^2)."""
    d, v = np.asarray(d, dtype=float), np.asarray(v, dtype=float)
    k = d.shape[-1]

    def excess(t2):
        w = 1.0 / (v + t2[..., None])
        mu = (w * d).sum(axis=-1) / w.sum(axis=-1)
        return (w * (d - mu[..., None]) ** 2).sum(axis=-1) - (k - 1)

    lo = np.zeros(d.shape[:-1])
    positive = excess(lo) > 0
    # Q(t2) <= sum (d - mean)^2 / t2 for every t2, so this bound has Q below K - 1
    hi = np.maximum(((d - d.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1) / max(k - 1, 1),
                    1e-300) * 2 + v.max(axis=-1)
    for _ in range(maxiter):
        mid = 0.5 * (lo + hi)
        up = excess(mid) > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
        if np.all(hi - lo <= tol * np.maximum(hi, 1e-300)):
            break
    return np.where(positive, 0.5 * (lo + hi), 0.0)


TAU2 = {"dl": tau2_dl, "pm": tau2_pm, "hm": tau2_hm}
TAU2_NAMES = {"dl": "DerSimonian-Laird", "pm": "Paule-Mandel", "hm": "Hartung-Makambi"}


def i_squared(q, k: int):
    """Higgins & Thompson's I^2 = max(0, (Q - (K - 1)) / Q): the share of the spread of the
    estimates beyond what their own variances explain (0 when Q = 0)."""
    q = np.asarray(q, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(q > 0, (q - (k - 1)) / q, 0.0)
    return np.maximum(out, 0.0)


def random_effects(d, v, tau2):
    """Random-effects estimate with weights 1 / (v + tau^2): (estimate, its variance
    1 / sum w, the relative weights)."""
    d, v = np.asarray(d, dtype=float), np.asarray(v, dtype=float)
    w = 1.0 / (v + np.asarray(tau2, dtype=float)[..., None])
    W = w.sum(axis=-1)
    c = w / W[..., None]
    return (c * d).sum(axis=-1), 1.0 / W, c


def hksj_variance(d, v, tau2, modified: bool = False):
    """The Hartung-Knapp-Sidik-Jonkman variance of the random-effects estimate,
    q / sum w with q = sum w (d - mu)^2 / (K - 1) (t with K - 1 df); ``modified``: q is at
    least 1, so the variance is never below the random-effects one (Roever et al. 2015)."""
    d = np.asarray(d, dtype=float)
    k = d.shape[-1]
    mu, var, c = random_effects(d, v, tau2)
    w = c / var[..., None]
    q = (w * (d - mu[..., None]) ** 2).sum(axis=-1) / (k - 1)
    if modified:
        q = np.maximum(q, 1.0)
    return mu, q * var


def ibragimov_mueller(d):
    """The t statistic of Ibragimov & Mueller (2010): the equal-weight mean of the K estimates
    and its standard error sd / sqrt(K), with K - 1 df (valid at alpha <= 0.083 whatever the
    estimates' variances; Bakirov & Szekely 2006)."""
    d = np.asarray(d, dtype=float)
    k = d.shape[-1]
    return d.mean(axis=-1), d.std(axis=-1, ddof=1) / np.sqrt(k)


def prediction_interval(mu, se, tau2, k: int, level: float):
    """Interval for the effect in a new model of the family, mu +- t_{K-2} sqrt(tau^2 + se^2)
    (Higgins, Thompson & Spiegelhalter 2009); (None, None) with fewer than 3 models."""
    from scipy.special import stdtrit

    if k < 3:
        return None, None
    h = float(stdtrit(k - 2, 0.5 + level / 2)) * float(np.sqrt(tau2 + se ** 2))
    return float(mu - h), float(mu + h)
