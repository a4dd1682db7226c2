"""Exact-design size of the calibrated depth model at every grid point (issue 17, round 2).

The calibrated method (``reml-cal``) rejects H0: contrast <= 0 when the mixture's normal score
exceeds ``lambda(data) * z_alpha``, with ``lambda(data)`` the posterior power mean of the grid
points' factors.  Whether that controls the size *at every correlation function inside the
persistence bound* -- Poetscher & Preinerstorfer's size control for the exact design -- is a
question about each grid point's rejection rate, which this module estimates with little Monte
Carlo error:

* **Rao-Blackwellisation.**  Under a Gaussian null with correlation theta, the GLS estimate of
  the phase levels (true theta) is independent of every location-invariant statistic (Basu's
  theorem): the posterior, the phase scales, the skewness, the Hampel filter and the model
  check all depend on the data only through within-phase deviations.  The arithmetic-mean
  contrast is ``c'beta_GLS + m(e)`` with ``m(e) = c'(ybar - beta_GLS)`` a function of those
  deviations, so given them the estimate is N(m(e), s_theta^2), ``s_theta^2 = c'(X'S^-1 X)^-1 c``.
  Every test of the mixture rejects when the estimate exceeds a critical distance D(e) (the
  mixture is a location family), so the rejection probability given the deviations is
  ``1 - Phi((D(e) - m(e)) / s_theta)``: averaging that instead of 0/1 rejections removes most
  of the Monte Carlo error.  The power at the GLS oracle's 80% effect follows the same way.
* **Critical distances.**  For every simulated sweep the mixture's upper and lower critical
  distances are tabulated over a grid of normal scores (bisection), so the size of any rule
  ``lambda(data)`` is an interpolation.

``frontier`` compares, per layout and contrast, the default rule (posterior power mean of the
rms factors) with rules whose per-grid-point factors are fitted so that the size is at most
alpha at every grid point of a null set (all grid points: the whole persistence bound; or a
smaller bound), and reports the median power over the grid.  docs/depth-model.md shows the
result; ``python -m gaugetest.studies.exact_size`` reproduces it.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

#: Normal scores at which the critical distances are tabulated (lambda * z for lambda in
#: [0.35, 3] at the levels 0.05 and 0.025, one-sided).
U_GRID = np.linspace(0.5, 6.0, 23)


@dataclass
class GridSims:
    """Simulated null sweeps of one design and contrast, ``reps`` per grid point."""

    G: int
    reps: int
    m: np.ndarray          # (G * reps,) c'(ybar - beta_GLS)
    s: np.ndarray          # (G * reps,) sd of c'beta_GLS at the sweep's grid point
    d_up: np.ndarray       # (G * reps, len(U_GRID)) upper critical distances
    d_lo: np.ndarray       # (G * reps, len(U_GRID)) lower critical distances
    w: np.ndarray          # (G * reps, K) posterior weights
    idx: np.ndarray        # (G * reps, K) grid indices
    lam: np.ndarray        # (G,) reml-cal's factors of the contrast (rms of z)


def gls_parts(design, g: int, weights: dict, Y: np.ndarray) -> tuple[np.ndarray, float]:
    """m = c'(ybar - beta_GLS) per sweep and s = sd(c'beta_GLS) under grid point g (true
    covariance of the whole depth, phase levels)."""
    L = design.layers
    S = design.grid.acf[g][np.abs(L[:, None] - L[None, :])] + 1e-10 * np.eye(len(L))
    ph = np.asarray(design.phases, dtype=object)
    order = [b.phase for b in design.blocks]
    X = np.stack([ph == p for p in order], axis=1).astype(float)
    Si = np.linalg.inv(S)
    A = np.linalg.inv(X.T @ Si @ X)
    B = A @ X.T @ Si
    c = np.array([weights.get(p, 0.0) for p in order])
    ybar = (Y @ X) / X.sum(axis=0)
    return (ybar - Y @ B.T) @ c, math.sqrt(float(c @ A @ c))


def critical_distances(mix, side: str, u: np.ndarray = U_GRID, iters: int = 40) -> np.ndarray:
    """Per replicate of ``mix`` and normal score u: the distance D between estimate and tested
    value at which the one-sided p-value is 1 - Phi(u) (upper: p_greater; lower: p_less)."""
    from scipy.special import ndtr

    from ..inference.depth_model.distributions import Mixture
    R = len(mix.est)
    zero = Mixture(np.zeros(R), mix.w, mix.se, mix.df, mix.a0, mix.a2, mix.skew, mix.off)
    rms = np.sqrt(np.sum(mix.w * mix.se ** 2, axis=1))
    out = np.empty((R, len(u)))
    for j, uj in enumerate(u):
        target = ndtr(-uj)
        lo, hi = np.full(R, -30.0), np.full(R, 30.0)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            p = zero.p_greater(-mid * rms) if side == "up" else zero.p_less(mid * rms)
            big = p < target
            hi = np.where(big, mid, hi)
            lo = np.where(big, lo, mid)
        out[:, j] = 0.5 * (lo + hi) * rms
    return out


def simulate(design, weights: dict, reps: int, seed: int, spikes_once: bool = True,
             bins: int = 16) -> GridSims:
    """``reps`` null sweeps from every grid point of ``design`` (compact grid), fitted as
    ``reml-cal`` fits them; seeded by ``seed`` (independent of the calibration's own sweeps,
    which are seeded from the layout)."""
    from ..inference.depth_model import fit_batch, mixture
    from ..inference.depth_model.calibrate import calibration_for, null_sweeps
    cal = calibration_for(design, spikes_once=spikes_once)
    lam = cal.factors(weights)
    G = len(design.grid.log_prior)
    Y = null_sweeps(design, reps, np.random.default_rng(seed))
    b = fit_batch(Y, design, spikes_once=spikes_once)
    mix = mixture(b, weights, bins=bins)
    m, s = np.empty(len(Y)), np.empty(len(Y))
    for g in range(G):
        sl = slice(g * reps, (g + 1) * reps)
        m[sl], s[sl] = gls_parts(design, g, weights, Y[sl])
    return GridSims(G, reps, m, s, critical_distances(mix, "up"),
                    critical_distances(mix, "lo"), b.w, b.idx, lam)


def _interp(D: np.ndarray, u: np.ndarray) -> np.ndarray:
    j = np.clip(np.searchsorted(U_GRID, u) - 1, 0, len(U_GRID) - 2)
    t = (u - U_GRID[j]) / (U_GRID[j + 1] - U_GRID[j])
    r = np.arange(len(u))
    return D[r, j] * (1 - t) + D[r, j + 1] * t


def rates(sims: GridSims, lam_data: np.ndarray, alpha: float = 0.05, power: float = 0.8):
    """Per grid point: the largest ratio size / level over both tails at alpha and alpha / 2,
    the upper-tail size at alpha, and the power at the GLS oracle's ``power`` effect divided
    by ``power`` (the ratio to the oracle)."""
    from scipy.special import ndtr, ndtri
    G, reps = sims.G, sims.reps
    ratios = []
    for a in (alpha, alpha / 2):
        u = lam_data * ndtri(1 - a)
        up = 1 - ndtr((_interp(sims.d_up, u) - sims.m) / sims.s)
        lo = ndtr((-_interp(sims.d_lo, u) - sims.m) / sims.s)
        ratios += [up.reshape(G, reps).mean(1) / a, lo.reshape(G, reps).mean(1) / a]
    u = lam_data * ndtri(1 - alpha)
    eff = ndtri(1 - alpha) + ndtri(power)
    pw = 1 - ndtr((_interp(sims.d_up, u) - sims.m) / sims.s - eff)
    return np.max(ratios, axis=0), ratios[0] * alpha, pw.reshape(G, reps).mean(1) / power


def fit_exact(sims: GridSims, q: float, null: np.ndarray, iters: int = 40):
    """Per-grid-point factors fitted so that the rule lambda(data) = kappa * PM_q(lambda*)
    has size <= the level at every grid point of ``null`` (both tails, alpha and alpha / 2):
    a damped fixed-point iteration on log lambda*, then the global kappa that brings the
    largest ratio in ``null`` to 1.  Returns (lambda*, kappa)."""
    from ..inference.depth_model.calibrate import power_mean
    ls = sims.lam.copy()
    for _ in range(iters):
        worst = rates(sims, power_mean(sims.w, sims.idx, ls, q))[0]
        r = np.where(null, worst, 1.0)
        step = np.where(r > 1, 0.25, 0.125) * np.log(np.maximum(r, 1e-3))
        ls = np.clip(ls * np.exp(step), 0.3, 20.0)
    lam_d = power_mean(sims.w, sims.idx, ls, q)
    # the kappa at which the largest ratio in the null set is 1 (bisection on log kappa; the
    # ratio falls as kappa grows), so the rule spends alpha where it is tightest
    lo, hi = 0.25, 4.0
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if rates(sims, mid * lam_d)[0][null].max() > 1.0:
            lo = mid
        else:
            hi = mid
    return ls, hi


def null_sets(grid) -> dict:
    """Null sets (persistence bounds) over which the exact size is asked: the whole compact
    grid (lag-1 <= 0.95), and smaller bounds."""
    fam = np.array(grid.families)[grid.family_of]
    lag1 = grid.acf[:, 1]
    decay = np.zeros(len(fam))
    for i, name in enumerate(grid.families):
        sel = np.flatnonzero(grid.family_of == i)
        P = grid.params[i]
        if name in ("ar1", "arma11"):
            decay[sel] = np.abs(P[:, 0])
        elif name == "ar2":
            decay[sel] = [max(abs(np.roots([1.0, -a, -b]))) for a, b in P]
        elif name == "fd":
            decay[sel] = 1.0
    return {"lag-1 <= 0.95 (the grid)": np.ones(len(fam), bool),
            "lag-1 <= 0.85": lag1 <= 0.85 + 1e-9,
            "AR roots <= 0.9, d <= 0.36": (decay <= 0.9 + 1e-9) | ((fam == "fd") & (lag1 < 0.6)),
            "AR roots <= 0.9, d <= 0.36, lag-1 <= 0.85": ((decay <= 0.9 + 1e-9)
                                                           | ((fam == "fd") & (lag1 < 0.6)))
                                                          & (lag1 <= 0.85 + 1e-9)}


def frontier(layers=(64, 36, 28), reps: int = 48, seed: int = 2, out=sys.stdout) -> list:
    """The table of docs/depth-model.md: per layout (LATE - EARLY of the bank's layouts),
    reml-cal's rule (q = 8) and the exact-size rules over every null set, q in (2, 8, inf)."""
    from ..inference.depth_model import FAMILIES, design_for
    from ..inference.depth_model.calibrate import power_mean
    from .scenarios import DEFAULT_LAYOUTS, Layout
    rows = []
    print("| layers | rule | null set (size <= alpha at every grid point of it) | kappa | "
          "largest size / level in the set | grid points over the level | median power / "
          "GLS oracle (set) | AR(1) 0.01 / 0.53 / 0.85 |", file=out)
    print("|---|---|---|---|---|---|---|---|", file=out)
    for n, late, early in DEFAULT_LAYOUTS:
        if n not in layers:
            continue
        lay = Layout.from_map(n, late, early)
        d = design_for(tuple(int(v) for v in lay.layers), lay.phases, FAMILIES, True)
        sims = simulate(d, {late: 1.0, early: -1.0}, reps, seed)
        sets = null_sets(d.grid)
        ar1 = [3, 8, 11]
        worst, _, pw = rates(sims, power_mean(sims.w, sims.idx, sims.lam, 8.0))
        for name, null in sets.items():
            row = (n, "reml-cal (q = 8)", name, 1.0, float(worst[null].max()),
                   int(np.sum(worst[null] > 1)), float(np.median(pw[null])),
                   [float(pw[i]) for i in ar1])
            rows.append(row)
            _print_row(row, out)
        for name, null in sets.items():
            for q in (2.0, 8.0, math.inf):
                ls, k = fit_exact(sims, q, null)
                wq, _, pq = rates(sims, k * power_mean(sims.w, sims.idx, ls, q))
                row = (n, f"exact, q = {q:g}", name, k, float(wq[null].max()),
                       int(np.sum(wq[null] > 1)), float(np.median(pq[null])),
                       [float(pq[i]) for i in ar1])
                rows.append(row)
                _print_row(row, out)
    return rows


def _print_row(row, out) -> None:
    n, rule, name, k, mx, over, med, ar1 = row
    print(f"| {n} | {rule} | {name} | {k:.2f} | {mx:.2f} | {over} | {med:.2f} | "
          + " / ".join(f"{v:.2f}" for v in ar1) + " |", file=out, flush=True)


if __name__ == "__main__":
    frontier(reps=int(sys.argv[1]) if len(sys.argv) > 1 else 48)
