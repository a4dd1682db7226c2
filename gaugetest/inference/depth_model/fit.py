"""The REML fit of the depth model on one layout: per-phase whitening at every grid point,
the posterior over the grid, per-phase scales, the skewness of the whitened residuals and the
Ljung-Box model check; batched over replicate columns (the calibration study fits thousands at
once)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from .correlation import N_PARAMS, Grid, correlation_grid

#: Spikes beyond this many robust sd from their running median are clipped before the
#: likelihood (Hampel filter).
HUBER_C = 4.0
#: Level of the Ljung-Box model check; below it the conservative fallback is used.
CHECK_LEVEL = 0.01
#: Grid points are dropped once the kept ones carry this much posterior mass.
KEEP_MASS = 1 - 1e-6


# --------------------------------------------------------------------------- per-layout design


@dataclass(frozen=True)
class Block:
    """Everything about one phase that does not depend on the data, for every grid point."""

    phase: str
    rows: np.ndarray          # positions in the (NaN-free) column
    layers: np.ndarray
    W: np.ndarray | None      # (G, m, m) inverse Cholesky factor (whitening)
    u: np.ndarray | None      # (G, m) W 1
    const: np.ndarray | None  # (G,) log|R| + log 1'R^-1 1
    v: np.ndarray | None      # (G,) 1'R 1 / m^2 : Var(mean) / sigma^2
    s3: np.ndarray | None     # (G,) sum_j c_j^3, c = C' 1 / m
    sb: np.ndarray | None     # (G,) sum_j c_j (1 - u_j^2 / u'u)

    @property
    def m(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Design:
    layers: np.ndarray
    phases: tuple[str, ...]           # phase of each position
    blocks: tuple[Block, ...]        # phases in depth order (first appearance)
    grid: Grid
    cross_cache: dict = field(default_factory=dict, compare=False, repr=False)

    def block(self, phase: str) -> Block | None:
        return next((b for b in self.blocks if b.phase == phase), None)

    def cross(self, p: str, q: str) -> np.ndarray:
        """(G,) 1_P' R_PQ 1_Q / (m_P m_Q): the correlation part of Cov(mean_P, mean_Q)."""
        return cross_correlation(self, p, q)


def build_block(phase: str, rows: np.ndarray, layers: np.ndarray, grid: Grid) -> Block:
    m = len(rows)
    if m < 2:
        return Block(phase, rows, layers, None, None, None, None, None, None)
    lag = np.abs(layers[:, None] - layers[None, :])
    R = grid.acf[:, lag] + 1e-10 * np.eye(m)
    C = np.linalg.cholesky(R)
    W = np.linalg.inv(C)
    u = W.sum(axis=2)                       # C^-1 1
    a = np.einsum("gi,gi->g", u, u)         # 1' R^-1 1
    logdet = 2 * np.log(np.diagonal(C, axis1=1, axis2=2)).sum(axis=1)
    c = C.sum(axis=1) / m                   # C' 1 / m
    v = np.einsum("gi,gi->g", c, c)         # = 1'R1 / m^2
    s3 = np.sum(c ** 3, axis=1)
    sb = np.sum(c * (1 - u ** 2 / a[:, None]), axis=1)
    return Block(phase, rows, layers, W, u, logdet + np.log(a), v, s3, sb)


@lru_cache(maxsize=64)
def design_for(layers: tuple[int, ...], phases: tuple[str, ...],
               families: tuple[str, ...]) -> Design:
    L = np.asarray(layers, dtype=int)
    maxlag = int(L.max() - L.min()) if len(L) else 0
    grid = correlation_grid(families, max(maxlag, 1))
    ph = np.asarray(phases, dtype=object)
    blocks = []
    for p in dict.fromkeys(phases):
        rows = np.flatnonzero(ph == p)
        blocks.append(build_block(p, rows, L[rows], grid))
    return Design(L, tuple(phases), tuple(blocks), grid)


def cross_correlation(design: Design, p: str, q: str) -> np.ndarray:
    if (p, q) not in design.cross_cache:
        bp, bq = design.block(p), design.block(q)
        lag = np.abs(bp.layers[:, None] - bq.layers[None, :])
        design.cross_cache[(p, q)] = design.grid.acf[:, lag].sum(axis=(1, 2)) / (bp.m * bq.m)
    return design.cross_cache[(p, q)]


# --------------------------------------------------------------------------- batch fit


def huberize(Y: np.ndarray, design: Design) -> np.ndarray:
    """Replace isolated spikes within each phase of >= 5 pairs by their neighbours' median
    (Hampel filter, HUBER_C robust sd; gaugetest.inference.dependence.hampel_clip)."""
    from ..dependence import hampel_clip
    return hampel_clip(Y, design.phases, c=HUBER_C)


def whiten(Y: np.ndarray, b: Block):
    """GLS whitening at every grid point: W y (R, G, m), the GLS level mu = u'W y / u'u (R, G)
    and the residual sum of squares |W y - mu u|^2 = y' P y (R, G)."""
    wy = np.tensordot(Y, b.W, axes=([1], [2]))                  # (R, G, m)
    uu = np.einsum("gi,gi->g", b.u, b.u)
    uwy = np.einsum("rgi,gi->rg", wy, b.u)
    q = np.einsum("rgi,rgi->rg", wy, wy) - uwy ** 2 / uu
    return wy, uwy / uu, np.maximum(q, 0.0)


def residuals_at(white, b: Block, g: np.ndarray) -> np.ndarray:
    """Whitened residuals at one grid point per replicate: (R, m)."""
    wy, mu, _ = white
    r = np.arange(len(g))
    return wy[r, g] - mu[r, g][:, None] * b.u[g]


@dataclass
class Batch:
    """A fit of R replicate columns on one design, restricted to the K grid points that carry
    the posterior mass (K chosen for the whole batch)."""

    design: Design
    idx: np.ndarray            # (R, K) grid indices, heaviest first
    w: np.ndarray              # (R, K) posterior weights
    ll: np.ndarray             # (R, K) log posterior (up to a constant) of the kept points
    means: dict                # phase -> (R,)
    s2: dict                   # phase -> (R, K)
    v: dict                    # phase -> (R, K)
    gamma: np.ndarray          # (R, K) skewness of the whitened residuals (at the mode)
    check_p: np.ndarray        # (R,) Ljung-Box p-value of the model check
    check_stat: np.ndarray     # (R,)
    check_lags: int
    known_floor: dict          # phase -> (R,) or empty
    fallback: np.ndarray       # (R,) bool: check failed

    def take(self, arr: np.ndarray) -> np.ndarray:
        """Gather a (G,) per-grid quantity at the kept points: (R, K)."""
        return arr[self.idx]


def likelihood(Y: np.ndarray, design: Design, robust: bool = True):
    """The log posterior over the grid (log prior + REML log-likelihood of every phase block,
    up to a constant), and each block's whitening (raw data for the scale, Hampel-clipped data
    for the check)."""
    R = Y.shape[0]
    G = len(design.grid.log_prior)
    Yh = huberize(Y, design) if robust else Y
    ll = np.broadcast_to(design.grid.log_prior, (R, G)).copy()
    white = {}
    for b in design.blocks:
        if b.W is None:
            continue
        wh = whiten(Yh[:, b.rows], b)
        ll -= 0.5 * ((b.m - 1) * np.log(np.maximum(wh[2], 1e-300)) + b.const[None, :])
        raw = wh
        if robust:
            changed = np.flatnonzero(np.any(Yh[:, b.rows] != Y[:, b.rows], axis=1))
            if len(changed):
                part = whiten(Y[changed][:, b.rows], b)
                raw = tuple(a.copy() for a in wh)
                for a, pa in zip(raw, part):
                    a[changed] = pa
        white[b.phase] = (raw, wh)      # raw data for the scale, clipped for the check
    return ll, white


def grid_loglik(Y: np.ndarray, design: Design, robust: bool = True) -> np.ndarray:
    """The restricted log-likelihood of every grid point, (R, G), up to a constant per
    replicate: what one series contributes to a dependence model shared with others
    (:mod:`gaugetest.inference.depth_model.shared`). Same Hampel filter as :func:`fit_batch`."""
    ll, _ = likelihood(Y, design, robust)
    return ll - design.grid.log_prior[None, :]


def fit_batch(Y: np.ndarray, design: Design, known_var: np.ndarray | None = None,
               robust: bool = True, check: bool = True,
               log_post: np.ndarray | None = None, lik=None) -> Batch:
    """Fit R replicate columns on one design.

    ``log_post`` ((G,) or (R, G)): a log posterior over the grid to use instead of this
    column's own (prior + its REML log-likelihood) -- the shared dependence model of several
    series (:mod:`gaugetest.inference.depth_model.shared`). Levels, scales, skewness and the
    model check still come from this column's data. ``lik``: what :func:`likelihood` returned
    for these data (saves computing it twice).
    """
    R = Y.shape[0]
    G = len(design.grid.log_prior)
    ll, white = lik if lik is not None else likelihood(Y, design, robust)
    if log_post is not None:
        ll = np.array(np.broadcast_to(np.asarray(log_post, dtype=float), (R, G)))
    elif lik is not None:
        ll = ll.copy()
    ll -= ll.max(axis=1, keepdims=True)
    w_all = np.exp(ll)
    w_all /= w_all.sum(axis=1, keepdims=True)
    order = np.argsort(-w_all, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(w_all, order, axis=1), axis=1)
    K = int(min(G, (cum < KEEP_MASS).sum(axis=1).max() + 1))
    idx = order[:, :K]
    w = np.take_along_axis(w_all, idx, axis=1)
    w /= w.sum(axis=1, keepdims=True)
    ll_k = np.take_along_axis(ll, idx, axis=1)
    means = {b.phase: Y[:, b.rows].mean(axis=1) for b in design.blocks}
    s2, v = {}, {}
    num3 = np.zeros(R)
    dof = 0
    g_map = idx[:, 0]
    for b in design.blocks:
        if b.W is None:
            continue
        raw = white[b.phase][0]
        s2[b.phase] = np.take_along_axis(raw[2], idx, axis=1) / (b.m - 1)
        v[b.phase] = b.v[idx]
        # skewness of the standardized whitened residuals at the most likely grid point
        e = residuals_at(raw, b, g_map)
        sd = np.sqrt(np.maximum(np.sum(e ** 2, axis=1) / (b.m - 1), 1e-300))
        num3 += np.sum((e / sd[:, None]) ** 3, axis=1)
        dof += b.m - 1
    gamma = np.broadcast_to((num3 / max(dof, 1))[:, None], idx.shape)
    floor = {}
    if known_var is not None:
        for b in design.blocks:
            floor[b.phase] = np.nansum(known_var[:, b.rows], axis=1) / b.m ** 2
    if check:
        stat, pval, h = ljung_box_check(design, white, g_map)
    else:
        stat, pval, h = np.full(R, np.nan), np.ones(R), 0
    fallback = pval < CHECK_LEVEL
    return Batch(design, idx, w, ll_k, means, s2, v, gamma, pval, stat, h, floor, fallback)


def ljung_box_check(design: Design, white: dict, g_map: np.ndarray):
    """Ljung-Box Q of the whitened, standardized residuals (of the Huber-clipped data) at each
    replicate's most likely grid point; autocorrelations pooled over phases (lagged products
    within phases only)."""
    from scipy.special import chdtrc

    R = len(g_map)
    es = []
    for b in design.blocks:
        if b.W is None or b.m < 3:
            continue
        e = residuals_at(white[b.phase][1], b, g_map)          # (R, m), clipped data
        sd = np.sqrt(np.sum(e ** 2, axis=1) / (b.m - 1))
        es.append(e / np.where(sd > 0, sd, 1.0)[:, None])
    N = sum(e.shape[1] for e in es)
    if N < 8:
        return np.full(R, np.nan), np.ones(R), 0
    h = max(1, min(10, N // 5))
    den = sum(np.sum(e ** 2, axis=1) for e in es)
    Q = np.zeros(R)
    for k in range(1, h + 1):
        num = sum(np.sum(e[:, k:] * e[:, :-k], axis=1) for e in es if e.shape[1] > k)
        rk = num / np.where(den > 0, den, 1.0)
        Q += rk ** 2 / (N - k)
    Q *= N * (N + 2)
    fam = design.grid.family_of[g_map]
    k_par = np.array([N_PARAMS[design.grid.families[f]] for f in fam])
    df = np.maximum(1, h - k_par)
    return Q, chdtrc(df, Q), h


def profile_reml(y, phases: Sequence[str], layers, acf: np.ndarray) -> dict:
    """The restricted log-likelihood of the depth model at one correlation function, with
    every phase's level and scale estimated: what each grid point contributes.

    ``acf`` holds rho_0 = 1, rho_1, ... up to the largest distance in ``layers``.  Returns
    ``{"loglik": REML log-likelihood (with all constants, as R's nlme::gls reports it),
    "sd": {phase: sqrt(y'P y / (n - 1))}, "level": {phase: GLS level}}``; phases of one pair
    have no sd.  Used by the tests against nlme::gls with corARMA and varIdent.
    """
    y, phases, layers, _ = check_inputs(y, phases, layers, None)
    acf = np.asarray(acf, dtype=float)[None, :]
    grid = Grid(("custom",), np.zeros(1, dtype=int), (np.zeros((1, 0)),), np.zeros(1), acf)
    ph = np.asarray(phases, dtype=object)
    loglik, sd, level = 0.0, {}, {}
    for p in dict.fromkeys(phases):
        rows = np.flatnonzero(ph == p)
        b = build_block(p, rows, layers[rows], grid)
        if b.W is None:
            level[p] = float(y[rows].mean())
            continue
        wy, mu, q = whiten(y[None, rows], b)
        m = b.m
        s2 = float(q[0, 0]) / (m - 1)
        sd[p], level[p] = math.sqrt(s2), float(mu[0, 0])
        loglik += -0.5 * ((m - 1) * (math.log(2 * math.pi) + 1 + math.log(s2))
                          + float(b.const[0]))
    return {"loglik": loglik, "sd": sd, "level": level}


def check_inputs(y, phases, layers, known_var):
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError("y must be one column (1-d)")
    phases = tuple(str(p) for p in phases)
    layers = np.asarray(layers)
    if len(phases) != len(y) or len(layers) != len(y):
        raise ValueError("y, phases and layers must have the same length")
    if not np.all(np.diff(layers) > 0):
        raise ValueError("layers must be strictly increasing")
    if known_var is not None:
        known_var = np.asarray(known_var, dtype=float)
        if known_var.shape != y.shape:
            raise ValueError("known_var must have the shape of y")
        if np.any(known_var[np.isfinite(known_var)] < 0):
            raise ValueError("known_var must be >= 0")
    return y, phases, layers.astype(int), known_var
