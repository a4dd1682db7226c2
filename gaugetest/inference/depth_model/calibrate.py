"""Design-exact calibration of the depth model's p-values (the ``reml-cal`` method).

The REML model average (``fit``, ``distributions``) is a Bayesian answer: its confidence
distribution mixes the t distributions of every correlation function the data allow.  Its
frequentist size is therefore not alpha: with the flat grid prior the mixture is conservative
where the dependence is weak (posterior mass on long-memory and near-unit-root points inflates
the variance 2-5 fold) and liberal where it is strong and the phases are short (the posterior
sits below the truth).  docs/depth-model.md measures both.

This module spends alpha where the data live.  For one layout (the exact pairs and phases) it
simulates null sweeps from *every* correlation function of the grid -- the persistence bound
``PERSISTENCE_BOUND`` on the lag-1 correlation -- fits each with the same model, and records for
every contrast how the mixture's p-values are distributed: on the normal scale,
``z = Phi^-1(1 - p)`` is N(0, lambda_theta^2) when the dependence is theta (lambda > 1: the
mixture is too liberal there, < 1: too conservative).  For observed data the calibration factor
is the posterior power mean ``lambda = (sum_theta w_theta lambda_theta^q)^(1/q)`` (q =
``CAL_POWER``; q = 2 is the posterior root-mean-square, q -> infinity the largest lambda the
data allow) and every p-value becomes ``1 - Phi(Phi^-1(1 - p) / lambda)``: intervals, tests and
the TOST follow, since the map is monotone.  This is the parametric-bootstrap idea (Beran 1988,
prepivoting) with the critical value depending on the estimated dependence (McCloskey 2017),
computed for the exact design as Potscher & Preinerstorfer (2016) ask, and averaged over the
posterior instead of maximised over a confidence set (the maximum is far more conservative:
docs/depth-model.md).

The simulation is seeded from the layout alone (pairs, phases, grid), not from ``--seed``: the
same design always gets the same calibration, so a p-value cannot be changed by trying seeds,
and the numbers do not depend on the number of workers.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .distributions import Mixture, mixture
from .fit import Design, fit_batch

#: Simulated null sweeps per grid point.
CAL_REPS = 24
#: Exponent of the posterior power mean of the calibration factors.
CAL_POWER = 8.0
#: Base of the calibration seed (with a hash of the layout).
CAL_SEED = 17
#: Mixture components merged into this many bins of log(se) when the factors are estimated
#: (the simulated fits are many; the factor is a smooth summary of them).
CAL_BINS = 16
#: Normal scores beyond this are clipped when the factors are estimated (p-values of 0).
Z_CLIP = 5.0


def null_sweeps(design: Design, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` Gaussian null sweeps (mean 0, unit scale) of ``design`` from every grid point
    of its correlation grid, grid point after grid point: (G * reps, n)."""
    grid = design.grid
    L = design.layers
    lag = np.abs(L[:, None] - L[None, :])
    n, G = len(L), len(grid.log_prior)
    Y = np.empty((G * reps, n))
    for g in range(G):
        C = np.linalg.cholesky(grid.acf[g][lag] + 1e-10 * np.eye(n))
        Y[g * reps:(g + 1) * reps] = rng.standard_normal((reps, n)) @ C.T
    return Y


def factors_from_pvalues(p_greater: np.ndarray, p_less: np.ndarray, G: int,
                         reps: int) -> np.ndarray:
    """Calibration factors from null p-values at the truth, grid point after grid point:
    lambda_theta = rms of the normal scores Phi^-1(1 - p) of both one-sided p-values (clipped
    at Z_CLIP), (G,)."""
    from scipy.special import ndtri
    z_hi = np.clip(ndtri(np.clip(1 - p_greater, 1e-300, 1.0)), -Z_CLIP, Z_CLIP)
    z_lo = np.clip(ndtri(np.clip(1 - p_less, 1e-300, 1.0)), -Z_CLIP, Z_CLIP)
    return np.sqrt(((z_hi ** 2 + z_lo ** 2) / 2).reshape(G, reps).mean(axis=1))


def joint_factors(designs, statistic, reps: int = CAL_REPS,
                  seed: np.random.SeedSequence | None = None) -> np.ndarray:
    """Calibration factors of any statistic of several series that share one dependence
    (issue 18: one dependence model fitted jointly to several models of a family).

    ``designs``: the designs of the series, built on the same compact grid (``design_for(...,
    compact=True)`` with the same families: the grid points are the same for every layout).
    For every grid point theta, ``reps`` null sweeps of *every* design are drawn from theta;
    ``statistic(Ys)`` gets the list of (G * reps, n_i) arrays and returns the one-sided
    p-values at the truth (p_greater, p_less), each (G * reps,).  Returns lambda_theta, (G,):
    apply it with :func:`power_mean` over the joint posterior and
    :class:`CalibratedMixture`.  Seeded from the layouts unless ``seed`` is given."""
    G = len(designs[0].grid.log_prior)
    if any(len(d.grid.log_prior) != G for d in designs):
        raise ValueError("the designs must share one correlation grid")
    if seed is None:
        seed = np.random.SeedSequence([CAL_SEED] + [int(layout_seed(d).entropy % 2 ** 32)
                                                     for d in designs])
    rngs = [np.random.default_rng(s) for s in seed.spawn(len(designs))]
    Ys = [null_sweeps(d, reps, r) for d, r in zip(designs, rngs)]
    pg, pl = statistic(Ys)
    return factors_from_pvalues(np.asarray(pg), np.asarray(pl), G, reps)


def power_mean(w: np.ndarray, idx: np.ndarray, lam: np.ndarray,
               power: float = CAL_POWER) -> np.ndarray:
    """Posterior power mean of calibration factors per replicate: (sum_k w_k lam[idx_k]^q)^(1/q)
    (``w``, ``idx``: (R, K) posterior weights and grid indices; q = inf: the largest factor
    with positive weight)."""
    lk = lam[idx]
    if math.isinf(power):
        return np.where(w > 0, lk, 0.0).max(axis=1)
    return np.sum(w * lk ** power, axis=1) ** (1.0 / power)


@dataclass
class Calibration:
    """Simulated null fits of one design: ``batch`` holds ``reps`` replicates of every grid
    point in grid order; ``factors(weights)`` the calibration factor of a contrast at every
    grid point (cached)."""

    design: Design
    batch: object
    reps: int
    options: dict
    _cache: dict = field(default_factory=dict)

    def factors(self, weights: Mapping[str, float], estimand: str = "mean") -> np.ndarray | None:
        key = (tuple(sorted((str(k), float(v)) for k, v in weights.items() if v != 0)),
               estimand)
        if key not in self._cache:
            mix = mixture(self.batch, dict(key[0]), bins=CAL_BINS, estimand=estimand,
                          **self.options)
            if mix is None:
                self._cache[key] = None
            else:
                zero = np.zeros(len(mix.est))
                self._cache[key] = factors_from_pvalues(
                    mix.p_greater(zero), mix.p_less(zero), len(self.design.grid.log_prior),
                    self.reps)
        return self._cache[key]


def layout_seed(design: Design) -> np.random.SeedSequence:
    text = ",".join(f"{int(L)}:{p}" for L, p in zip(design.layers, design.phases))
    text += "|" + ",".join(design.grid.families) + f"|{len(design.grid.log_prior)}"
    return np.random.SeedSequence([CAL_SEED, zlib.crc32(text.encode())])


_CALIBRATIONS: dict = {}


def calibration_for(design: Design, robust: bool = True, check: bool = True,
                    skew: bool = True, cross: bool = True,
                    reps: int = CAL_REPS, spikes_once: bool = False) -> Calibration:
    """The calibration of one design (built once per process and design)."""
    key = (id(design), robust, check, skew, cross, reps, spikes_once)
    cal = _CALIBRATIONS.get(key)
    if cal is not None and cal.design is design:
        return cal
    Y = null_sweeps(design, reps, np.random.default_rng(layout_seed(design)))
    batch = fit_batch(Y, design, None, robust=robust, check=check, spikes_once=spikes_once)
    cal = Calibration(design, batch, reps, dict(skew=skew, cross=cross))
    if len(_CALIBRATIONS) > 16:
        _CALIBRATIONS.clear()
    _CALIBRATIONS[key] = cal
    return cal


def calibration_factor(cal: Calibration, batch, weights: Mapping[str, float],
                       power: float = CAL_POWER, estimand: str = "mean") -> np.ndarray | None:
    """Per replicate of ``batch`` (fitted on ``cal.design``): the posterior power mean of the
    contrast's calibration factors, (sum_k w_k lambda_k^q)^(1/q)."""
    lam = cal.factors(weights, estimand)
    if lam is None:
        return None
    return power_mean(batch.w, batch.idx, lam, power)


@dataclass(frozen=True)
class CalibratedMixture:
    """A mixture's p-values mapped through 1 - Phi(Phi^-1(1 - p) / lambda), lambda per
    replicate: the same interface as :class:`Mixture` (p_greater, p_less, shifted)."""

    base: Mixture
    lam: np.ndarray           # (R,)

    @property
    def est(self) -> np.ndarray:
        return self.base.est

    def _map(self, p: np.ndarray) -> np.ndarray:
        from scipy.special import ndtr, ndtri
        with np.errstate(divide="ignore", invalid="ignore"):
            z = ndtri(np.clip(1 - p, 0.0, 1.0))
            return np.clip(1 - ndtr(z / self.lam), 0.0, 1.0)

    def p_greater(self, x) -> np.ndarray:
        return self._map(self.base.p_greater(x))

    def p_less(self, x) -> np.ndarray:
        return self._map(self.base.p_less(x))

    def shifted(self, value: float) -> "CalibratedMixture":
        return CalibratedMixture(self.base.shifted(value), self.lam)
