"""One contrast across the models of a family: the per-model estimates from the shared depth
model, combined into one confidence distribution.

Each model k gives a linear contrast of its arithmetic phase means (E − C, or one phase's
level) with, at every grid point theta of the shared dependence model, a standard error
se_k(theta) and Welch–Satterthwaite df_k(theta) (:func:`gaugetest.inference.depth_model
.distributions.mixture`). All models share the posterior weights over the grid, so the
family's confidence distribution is again a mixture over the same grid points. The candidate
rules of combination (:data:`METHODS`; chosen by simulation in docs/across-models.md):

* ``fe`` -- common effect: weights 1 / v_k (v_k: the posterior mean of se_k^2); at every theta
  the variance sum c_k^2 se_k(theta)^2 with its Satterthwaite df;
* ``re-dl``, ``re-hm`` -- random effects: weights 1 / (v_k + tau^2), variance
  sum c_k^2 (se_k(theta)^2 + tau^2), tau^2 by DerSimonian–Laird or Hartung–Makambi;
  ``re-hm-sw`` also counts the uncertainty of tau^2 in the df (Satterthwaite, K - 1 df for the
  tau^2 term);
* ``hksj``, ``mhksj`` -- random effects (Paule–Mandel tau^2) with the Hartung–Knapp–
  Sidik–Jonkman variance, or its modified form (Röver et al. 2015), t with K - 1 df;
* ``im`` -- the Ibragimov–Müller t test: equal weights, the spread of the K estimates,
  K - 1 df; needs no standard error from any model.

Everything is vectorised over R replicate families (the calibration fits thousands at once).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import meta
from .depth_model.distributions import REGION_DROP, Mixture, compress, mixture

#: Rules of combination: key -> (name for outputs, tau^2 estimator or None).
METHODS = {
    "fe": ("common effect (inverse-variance weights)", None),
    "re-dl": ("random effects (DerSimonian-Laird tau^2)", "dl"),
    "re-hm": ("random effects (Hartung-Makambi tau^2)", "hm"),
    "re-hm-sw": ("random effects (Hartung-Makambi tau^2, Satterthwaite df)", "hm"),
    "hksj": ("random effects, Hartung-Knapp-Sidik-Jonkman variance (Paule-Mandel tau^2)", "pm"),
    "mhksj": ("random effects, modified Hartung-Knapp-Sidik-Jonkman variance (Paule-Mandel "
              "tau^2)", "pm"),
    "im": ("Ibragimov–Müller t test across models (equal weights)", None),
}
#: Short names for the headline.
SHORT = {"fe": "common effect", "re-dl": "random effects, DL", "re-hm": "random effects, HM",
         "re-hm-sw": "random effects, HM, Satterthwaite df", "hksj": "random effects, HKSJ",
         "mhksj": "random effects, modified HKSJ", "im": "Ibragimov–Müller t"}
#: tau^2 reported for heterogeneity by rules that have none of their own.
REPORT_TAU2 = "pm"


@dataclass(frozen=True)
class Components:
    """One model's contrast on the shared grid, for R replicates: estimate (R,), and per kept
    grid point (R, G') the posterior weight, standard error and df."""

    est: np.ndarray
    w: np.ndarray
    se: np.ndarray
    df: np.ndarray

    @property
    def var(self) -> np.ndarray:
        """The posterior mean of the variance, (R,): the model's weight in the family is built
        from it."""
        return np.sum(self.w * self.se ** 2, axis=1)


def components(batch, weights) -> Components | None:
    """A model's contrast on its fit (``Batch`` from the shared dependence model): every kept
    grid point with its posterior weight, no merging; where the model check failed, every
    point carries the most conservative standard error inside the 95% likelihood region (the
    single-model fallback)."""
    mix = mixture(batch, weights, raw=True)
    if mix is None:
        return None
    se, df = mix.se, mix.df
    if batch.fallback.any():
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        pick = np.where(inside, se, -np.inf).argmax(axis=1)
        r = np.arange(len(pick))
        fb = batch.fallback[:, None]
        se = np.where(fb, se[r, pick][:, None], se)
        df = np.where(fb, df[r, pick][:, None], df)
    return Components(mix.est, mix.w, se, df)


@dataclass(frozen=True)
class Combined:
    """The family's confidence distribution of one contrast under one rule, for R replicates,
    with the heterogeneity statistics. ``mixture`` is what the Contrast class reads."""

    method: str
    mixture: Mixture
    weights: np.ndarray        # (R, K) relative weights of the models in the estimate
    tau2: np.ndarray           # (R,)
    tau2_method: str
    q: np.ndarray              # (R,)
    i2: np.ndarray             # (R,)
    k: int
    est: np.ndarray            # (R,) per-model estimates are in ``d``
    d: np.ndarray              # (R, K)
    v: np.ndarray              # (R, K)
    se_summary: np.ndarray     # (R,) root of the posterior mean variance of the estimate
    df_summary: np.ndarray     # (R,)


def combine(models: list[Components], method: str) -> Combined:
    """Combine K >= 2 models' contrasts under ``method`` (a key of :data:`METHODS`).

    Examples
    --------
    Three models, each one point (standard error 0.01, known): the Ibragimov-Mueller estimate
    is their mean, its standard error their spread over sqrt(K).

    >>> import numpy as np
    >>> pts = [Components(np.array([d]), np.ones((1, 1)), np.full((1, 1), 0.01),
    ...                   np.full((1, 1), np.inf)) for d in (0.01, 0.03, 0.02)]
    >>> c = combine(pts, "im")
    >>> round(float(c.est[0]), 4), round(float(c.se_summary[0]), 4), int(c.df_summary[0])
    (0.02, 0.0058, 2)
    """
    if method not in METHODS:
        raise ValueError(f"unknown combination {method!r}; one of {', '.join(METHODS)}")
    k = len(models)
    if k < 2:
        raise ValueError("a family needs at least 2 models")
    w = models[0].w
    for m in models[1:]:
        if m.w.shape != w.shape or not np.allclose(m.w, w, rtol=1e-9, atol=1e-12):
            raise ValueError("the models' fits do not share one dependence model")
    d = np.stack([m.est for m in models], axis=1)                 # (R, K)
    v = np.stack([m.var for m in models], axis=1)                 # (R, K)
    se = np.stack([m.se for m in models], axis=2)                 # (R, G, K)
    df = np.stack([m.df for m in models], axis=2)
    q, _, _ = meta.q_statistic(d, v)
    i2 = meta.i_squared(q, k)
    est_name = METHODS[method][1]
    t2_key = est_name or REPORT_TAU2
    tau2 = meta.TAU2[t2_key](d, v)
    R = d.shape[0]
    if method in ("hksj", "mhksj", "im"):
        if method == "im":
            mu, s = meta.ibragimov_mueller(d)
            c = np.full((R, k), 1.0 / k)
        else:
            mu, var = meta.hksj_variance(d, v, tau2, modified=method == "mhksj")
            s = np.sqrt(var)
            _, _, c = meta.random_effects(d, v, tau2)
        one = np.ones((R, 1))
        mix = Mixture(mu, one, s[:, None], np.full((R, 1), k - 1.0), 0 * one, 0 * one,
                      skew=False)
        return Combined(method, mix, c, tau2, t2_key, q, i2, k, mu, d, v, s,
                        np.full(R, k - 1.0))
    t2 = np.zeros(R) if est_name is None else tau2
    mu, _, c = meta.random_effects(d, v, t2)
    within = (c[:, None, :] ** 2) * se ** 2                       # (R, G, K)
    between = (c ** 2).sum(axis=1)[:, None] * t2[:, None]         # (R, 1)
    var = within.sum(axis=2) + between                            # (R, G)
    den = (within ** 2 / df).sum(axis=2)
    if method == "re-hm-sw":
        den = den + between ** 2 / (k - 1)
    dfc = np.clip(var ** 2 / np.maximum(den, 1e-300), 1.0, None)
    mix = compress(Mixture(mu, w, np.sqrt(var), dfc, np.zeros_like(var), np.zeros_like(var),
                           skew=False))
    se_sum = np.sqrt(np.sum(w * var, axis=1))
    order = np.argsort(var, axis=1)
    cw = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1)
    med = order[np.arange(R), np.minimum((cw < 0.5).sum(axis=1), w.shape[1] - 1)]
    return Combined(method, mix, c, tau2, t2_key, q, i2, k, mu, d, v, se_sum,
                    dfc[np.arange(R), med])
