"""Power and sensitivity for the observed layout and dependence.

* :func:`minimum_detectable_difference`: the smallest LATE - EARLY difference the
  one-sided Welch-type test detects with the requested power at alpha, given
  each phase's standard error and degrees of freedom (noncentral t).
* :func:`tost_power`: the probability that the TOST declares equivalence when the
  true mean is ``true_mean``, for the observed standard error (the usual
  noncentral-t approximation P(T1 > t_c) + P(T2 < -t_c) - 1, floored at 0).

Both condition on the estimated standard errors, so they describe the design as
observed, not a new experiment with unknown variance.
"""
from __future__ import annotations

import numpy as np

from .dependence import Moments


def _welch_se_df(late: Moments, early: Moments) -> tuple[float, float]:
    v1, v2 = late.se ** 2, early.se ** 2
    se = float(np.sqrt(v1 + v2))
    df = (v1 + v2) ** 2 / (v1 ** 2 / late.df + v2 ** 2 / early.df) if v1 + v2 > 0 else 1.0
    return se, float(df)


def one_sided_power(delta: float, se: float, df: float, alpha: float) -> float:
    """Power of the one-sided t test of H1: difference > 0 at true difference ``delta``:
    ``statsmodels.stats.power.ttest_power`` with noncentrality delta / se and ``df`` degrees of
    freedom (effect size delta / se per observation, one observation)."""
    from statsmodels.stats.power import ttest_power

    return float(ttest_power(delta / se, nobs=1, alpha=alpha, df=df, alternative="larger"))


def minimum_detectable_difference(late: Moments, early: Moments, alpha: float,
                                  power: float = 0.8) -> float | None:
    """Smallest true difference detected with probability ``power`` (the root of the
    noncentral-t power in the difference, by ``scipy.optimize.brentq`` to 1e-12 of the
    standard error); None when a standard error is zero or missing.

    Examples
    --------
    >>> from gaugetest.inference.dependence import Moments
    >>> m = Moments(20, 0.0, 0.01, 19.0, "iid")
    >>> round(minimum_detectable_difference(m, m, 0.05), 4)
    0.0358
    """
    se, df = _welch_se_df(late, early)
    if not se > 0:
        return None
    from scipy.optimize import brentq

    lo, hi = 0.0, se
    while one_sided_power(hi, se, df, alpha) < power:
        lo, hi = hi, 2 * hi
    return float(brentq(lambda d: one_sided_power(d, se, df, alpha) - power, lo, hi,
                        xtol=1e-12 * se, rtol=4 * np.finfo(float).eps))


def tost_power(m: Moments, low: float, high: float, alpha: float, true_mean: float = 0.0) -> float | None:
    """Approximate probability that TOST at ``alpha`` declares equivalence at ``true_mean``
    (statsmodels has no TOST power; the noncentral t from scipy, tested against simulation)."""
    from scipy.special import nctdtr, stdtrit

    if not m.se > 0:
        return None
    tc = float(stdtrit(m.df, 1 - alpha))
    p1 = 1 - nctdtr(m.df, (true_mean - low) / m.se, tc)
    p2 = nctdtr(m.df, (true_mean - high) / m.se, -tc)
    return float(max(0.0, p1 + p2 - 1))
