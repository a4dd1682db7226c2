"""A linear contrast of phase means (e.g. E - C) with its confidence distribution: p-values,
intervals, the TOST and power."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .distributions import Mixture  # noqa: F401
from .tost import TostOutcome

@dataclass(frozen=True)
class Contrast:
    """A linear contrast of phase means (e.g. E - C) with its confidence distribution.

    ``estimate`` is the contrast of arithmetic means; ``se`` and ``df`` summarise the mixture
    (posterior-weighted root-mean-square standard error, and the df of the component closest to
    the median); intervals, p-values and the TOST use the full mixture.
    """

    weights: tuple[tuple[str, float], ...]
    estimate: float
    se: float
    df: float
    _mix: Mixture = field(repr=False, compare=False)
    # the TOST rule's distribution and level factor (None: the mixture itself)
    _tost: tuple | None = field(repr=False, compare=False, default=None)

    def p_greater(self, value: float = 0.0) -> float:
        """P-value of H1: contrast > value."""
        return float(self._mix.p_greater(np.array([value]))[0])

    def p_less(self, value: float = 0.0) -> float:
        """P-value of H1: contrast < value."""
        return float(self._mix.p_less(np.array([value]))[0])

    def _bound(self, side: str, target: float) -> float:
        """The value x where the one-sided p-value equals ``target``: p_greater(x) = target
        ("lower") or p_less(x) = target ("upper").  Both are monotone in x: a bracket around the
        t approximation, then Brent's method (``scipy.optimize.brentq``; statsmodels, which
        every run imports, has already imported scipy.optimize)."""
        from scipy.optimize import brentq
        from scipy.special import stdtrit

        if not self.se > 1e-12 * abs(self.estimate):
            # no spread at the precision of the estimate (constant data): a point
            return self.estimate
        f = self._mix.p_greater if side == "lower" else self._mix.p_less
        sgn = 1.0 if side == "lower" else -1.0      # g(x) increases with x

        def g(x: float) -> float:
            return sgn * (float(f(np.array([x]))[0]) - target)

        x0 = self.estimate - sgn * self.se * float(stdtrit(max(self.df, 1.0), 1 - target))
        step = self.se
        a, b = x0 - step, x0 + step
        ga, gb = g(a), g(b)
        for _ in range(60):
            if ga <= 0 <= gb:
                break
            step *= 2
            if ga > 0:
                a, b, gb = a - step, a, ga
                ga = g(a)
            else:
                a, b, ga = b, b + step, gb
                gb = g(b)
        if ga == 0:
            return float(a)
        if gb == 0:
            return float(b)
        if not ga <= 0 <= gb:      # no bracket (a degenerate mixture): the t approximation
            return float(x0)
        return float(brentq(g, a, b, xtol=1e-11 * self.se, rtol=4 * np.finfo(float).eps))

    def interval(self, level: float) -> tuple[float, float]:
        """Two-sided interval: every value not rejected by either one-sided test at
        (1 - level) / 2."""
        a = (1 - level) / 2
        return self._bound("lower", a), self._bound("upper", a)

    def _tost_contrast(self) -> tuple["Contrast", float]:
        """The contrast on the TOST rule's distribution, and the rule's level factor."""
        if self._tost is None:
            return self, 1.0
        mix, factor = self._tost
        return Contrast(self.weights, self.estimate, self.se, self.df, mix), factor

    def tost(self, low: float, high: float, alpha: float) -> TostOutcome:
        """Two one-sided tests of low < contrast < high at level ``alpha``, on the TOST rule's
        distribution (``fit_depth(tost_rule=...)``; by default the mixture of every other
        number); ``ci_low``/``ci_high`` is the interval that must lie inside the margins."""
        c, factor = self._tost_contrast()
        p_lo = min(1.0, c.p_greater(low) / factor)
        p_hi = min(1.0, c.p_less(high) / factor)
        lo, hi = c.interval(1 - 2 * alpha * factor)
        p = max(p_lo, p_hi)
        return TostOutcome(low, high, alpha, p_lo, p_hi, p, lo, hi, bool(p < alpha),
                           1 - 2 * alpha * factor)

    def mdd(self, alpha: float, power: float = 0.8) -> float:
        """Smallest true contrast the one-sided test (H1: > 0) detects with ``power``, if the
        estimate's sampling distribution is the fitted one shifted to the truth."""
        lo, _ = self.interval(1 - 2 * alpha)
        crit = self.estimate - lo                  # reject when estimate > crit
        _, q = self.interval(2 * power - 1)        # power quantile of the fitted spread
        return float(crit + (q - self.estimate))

    def tost_power(self, low: float, high: float, alpha: float, true_value: float = 0.0) -> float:
        """Probability that the TOST declares equivalence when the contrast is ``true_value``,
        with the fitted spread (conditional on the observed scale)."""
        c, factor = self._tost_contrast()
        lo, hi = c.interval(1 - 2 * alpha * factor)
        d_lo, d_hi = self.estimate - lo, hi - self.estimate
        # declared when low + d_lo < estimate < high - d_hi; estimate ~ true + fitted spread
        shifted = self._shift(true_value)
        a = shifted.p_greater(low + d_lo)          # P(estimate < low + d_lo) ... via symmetry
        b = shifted.p_greater(high - d_hi)
        return float(max(0.0, b - a))

    def _shift(self, value: float) -> "Contrast":
        return Contrast(self.weights, value, self.se, self.df, self._mix.shifted(value))
