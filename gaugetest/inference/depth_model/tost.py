"""The equivalence test (TOST) of a contrast on the depth model: the rules it may test on
(docs/tost-study.md) and its outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .distributions import REGION_DROP, Mixture, compress, mixture
from .fit import Batch

TOST_RULE_TEXT = {
    "mixture": "equivalence is two one-sided tests (Schuirmann 1987) on the same distribution.",
    "level": "equivalence is two one-sided tests (Schuirmann 1987) on the same distribution at "
             "half the level (the 1 - alpha interval inside the margin).",
    "quantile": "equivalence is two one-sided tests (Schuirmann 1987) on the model at the "
                "posterior 90% quantile of the standard error.",
    "region": "equivalence is two one-sided tests (Schuirmann 1987) on the model with the "
              "largest variance inside the 95% likelihood region.",
    "inflated-df": "equivalence is two one-sided tests (Schuirmann 1987) on the same mixture "
                   "with each component's degrees of freedom reduced to also count the "
                   "posterior spread of the variance (2/df' = 2/df + Var(log se^2)), a "
                   "conservative rule that keeps the equivalence test's size under strong "
                   "dependence.",
}


#: TOST rules compared in docs/tost-study.md; ``TOST_RULE`` is the one ``fit_depth`` uses
#: unless told otherwise (the mixture: every conservative rule that reaches the TOST-size
#: target costs most of the TOST's power, see docs/tost-study.md).
TOST_RULES = ("mixture", "level", "quantile", "region", "inflated-df")
TOST_RULE = "mixture"


def point(mix: Mixture, pick: np.ndarray) -> Mixture:
    """The single component ``pick`` (one per replicate) of a mixture, weight 1."""
    r = np.arange(len(mix.est))

    def f(a):
        return a[r, pick][:, None]

    return Mixture(mix.est, np.ones((len(pick), 1)), f(mix.se), f(mix.df), f(mix.a0),
                    f(mix.a2), mix.skew)


def tost_mixture(batch: Batch, weights: Mapping[str, float], rule: str, skew: bool = True,
                  cross: bool = True) -> tuple[Mixture, float] | None:
    """The distribution a TOST rule tests on, and the factor its level is multiplied by.

    * ``mixture``: the confidence distribution of every other number (the default);
    * ``level``: the same at half the level (the 1 - 2 alpha interval becomes 1 - alpha);
    * ``quantile``: the component at the posterior 90% quantile of the standard error;
    * ``region``: the component with the largest standard error inside the 95% likelihood
      region (what the model check's fallback uses), always;
    * ``inflated-df``: every component's df shrunk so that 2 / df also counts the posterior
      variance of the log variance, 2 / df' = 2 / df + Var_post(log se^2) (a Satterthwaite
      moment match of the variance's spread over the grid).

    Where the model check failed, every rule uses the fallback's distribution (as the default
    does)."""
    if rule not in TOST_RULES:
        raise ValueError(f"unknown TOST rule {rule!r}; one of {', '.join(TOST_RULES)}")
    base = mixture(batch, weights, skew, cross)
    if base is None or rule == "mixture":
        return None if base is None else (base, 1.0)
    if rule == "level":
        return base, 0.5
    full = mixture(batch, weights, skew, cross, raw=True)
    if rule == "quantile":
        order = np.argsort(full.se, axis=1, kind="stable")
        cw = np.cumsum(np.take_along_axis(full.w, order, axis=1), axis=1)
        j = np.minimum((cw < 0.9).sum(axis=1), full.w.shape[1] - 1)
        alt = point(full, order[np.arange(len(j)), j])
    elif rule == "region":
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        alt = point(full, np.where(inside, full.se, -np.inf).argmax(axis=1))
    else:
        lv = 2 * np.log(full.se)
        mean = np.sum(full.w * lv, axis=1, keepdims=True)
        spread = np.sum(full.w * (lv - mean) ** 2, axis=1, keepdims=True)
        alt = compress(Mixture(full.est, full.w, full.se, 2 / (2 / full.df + spread),
                                 full.a0, full.a2, skew))
    if not batch.fallback.any():
        return alt, 1.0
    # replicates whose check failed keep the fallback (a single component): pad to one shape
    fb = batch.fallback[:, None]
    K = max(alt.w.shape[1], base.w.shape[1])

    def pad(a, b, fill):
        out = []
        for x in (a, b):
            extra = K - x.shape[1]
            out.append(np.concatenate([x, np.full((x.shape[0], extra), fill)], axis=1)
                       if extra else x)
        return np.where(fb, out[1], out[0])

    return Mixture(base.est, pad(alt.w, base.w, 0.0), pad(alt.se, base.se, 1.0),
                    pad(alt.df, base.df, 1.0), pad(alt.a0, base.a0, 0.0),
                    pad(alt.a2, base.a2, 0.0), skew), 1.0


@dataclass(frozen=True)
class TostOutcome:
    """Two one-sided tests of low < contrast < high on the model's distribution."""

    low: float
    high: float
    alpha: float
    p_lower: float
    p_upper: float
    pvalue: float
    ci_low: float
    ci_high: float
    equivalent: bool
    ci_level: float | None = None     # level of (ci_low, ci_high); 1 - 2 alpha unless the rule
                                      # tests at a smaller level

    @property
    def p(self) -> float:
        """The TOST p-value, max(p_lower, p_upper)."""
        return self.pvalue

    @property
    def min_margin(self) -> float:
        """Smallest symmetric margin m for which (-m, m) holds the (1 - 2 alpha) interval."""
        return max(abs(self.ci_low), abs(self.ci_high))
