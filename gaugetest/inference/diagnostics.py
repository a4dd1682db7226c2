"""Diagnostics of serial dependence along depth: the lag-1 autocorrelation and the Ljung–Box
portmanteau test of each phase's series (reported beside the results, never deciding them).

References
----------
Ljung, G. M. & Box, G. E. P. (1978). On a measure of lack of fit in time series
models. Biometrika 65, 297-303.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def autocorrelation(x: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations r_1..r_nlags (denominator n, as ``statsmodels.tsa.stattools.acf``;
    the lag-1 value is all the diagnostics show, and the tsa module's import would double the
    cost of a run for one dot product)."""
    x = np.asarray(x, dtype=float)
    e = x - x.mean()
    d = e @ e
    if d == 0:
        return np.zeros(nlags)
    return np.array([e[k:] @ e[:-k] / d for k in range(1, nlags + 1)])


def ljung_box(x: np.ndarray, lags: int | None = None) -> tuple[float, float, int]:
    """Ljung–Box Q and its chi-square p-value by ``statsmodels.stats.diagnostic.acorr_ljungbox``;
    ``lags`` defaults to min(10, n // 5) (>= 1)."""
    from statsmodels.stats.diagnostic import acorr_ljungbox

    n = len(x)
    h = lags if lags is not None else max(1, min(10, n // 5))
    res = acorr_ljungbox(np.asarray(x, dtype=float), lags=[h])
    return float(res["lb_stat"].iloc[0]), float(res["lb_pvalue"].iloc[0]), h


@dataclass(frozen=True)
class Diagnostic:
    phase: str
    family: str
    n: int
    lag1: float | None
    ljung_box_q: float | None
    ljung_box_p: float | None
    lags: int | None
    material: bool

    def to_dict(self) -> dict:
        from .._util import json_number as num

        return {"phase": self.phase, "family": self.family, "n": self.n, "lag1": num(self.lag1),
                "ljung_box_q": num(self.ljung_box_q), "ljung_box_p": num(self.ljung_box_p),
                "lags": self.lags, "material": self.material}


#: A lag-1 autocorrelation above this, or a Ljung–Box p below alpha, is flagged.
MATERIAL_LAG1 = 0.2


def diagnose(x: np.ndarray, phase: str, family: str, alpha: float) -> Diagnostic:
    """Lag-1 autocorrelation and Ljung–Box test of one series (needs n >= 5)."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 5 or np.ptp(x) == 0:
        return Diagnostic(phase, family, n, None, None, None, None, False)
    r1 = float(autocorrelation(x, 1)[0])
    q, p, h = ljung_box(x)
    return Diagnostic(phase, family, n, r1, q, p, h, bool(r1 > MATERIAL_LAG1 or p < alpha))
