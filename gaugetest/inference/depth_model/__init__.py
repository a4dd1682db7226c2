"""The robust default: one model of the serial dependence along depth for every robust number.

A delta series along depth (one family, or the family-mean "pooled" column) is modelled as

    y_L = mu_P + sigma_P * z_L,        P = phase of pair L,

with a level ``mu_P`` and a noise scale ``sigma_P`` of its own in every phase (real sweeps have
phases whose noise differs 2-3 fold), and one stationary correlation function
``corr(z_L, z_L') = rho_theta(|L - L'|)`` shared by the whole depth.  The correlation is not
assumed to be AR(1): it is averaged over five families -- AR(1), MA(1) (what a layer shared by two
adjacent pairs gives), AR(2), ARMA(1,1) and fractional noise ARFIMA(0,d,0) (long memory) -- each
a grid of parameter values, weighted by the restricted likelihood (REML; Patterson & Thompson
1971) of the phase-demeaned data (Bayesian model averaging with a flat prior over the grid,
equal mass per family; Hoeting et al. 1999).  Phases are treated as independent blocks in that
likelihood, with their scales profiled out; an isolated outlying pair is replaced by the median
of its neighbours (a Hampel filter: more than 3 robust sd from the median of the 2 + 2 pairs
around it) before the likelihood is computed, so one wild pair cannot decide the dependence.

Estimand: the arithmetic mean of E[y_L] over the pairs of a phase (and linear contrasts of
those, e.g. E - C).  The estimate is the arithmetic mean; its standard error at a grid point
theta is ``s_P(theta) sqrt(1' R_P 1) / n_P`` with ``s_P(theta)^2`` the GLS-whitened residual
variance (exactly n_P - 1 degrees of freedom when theta is right).  A contrast has a
Welch-Satterthwaite df; correlation between phases enters its variance only where it widens
the interval.  Its confidence distribution is the mixture over the grid of those t
distributions, each corrected for skewness by Hall's (1992) monotone transformation with the
skewness the whitened residuals show; p-values and intervals take the more conservative of
the corrected and uncorrected mixture (a right-skewed delta would otherwise make the TOST too
liberal, a heavy symmetric tail would make the correction too liberal).

No resampling is involved: the same data give the same numbers, with or without a seed.

A model check runs every time: a Ljung-Box test of the whitened residuals at the most likely
grid point (after the Huber clipping).  If it rejects at ``CHECK_LEVEL``, every number falls
back to the largest variance over the grid points inside the 95% likelihood region (the most
conservative answer the data allow) and the check says so.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> phases = ["C"] * 22 + ["D"] * 15 + ["E"] * 12
>>> y = rng.standard_normal(49) * 0.01 + np.repeat([0.0, 0.0, 0.02], [22, 15, 12])
>>> fit = fit_depth(y, phases, np.arange(49))
>>> c = fit.contrast({"E": 1, "C": -1})
>>> lo, hi = c.interval(0.95)
>>> bool(lo < 0.02 < hi), c.p_greater(0.0) < 0.05
(True, True)

References
----------
Patterson, H. D. & Thompson, R. (1971). Recovery of inter-block information when block sizes
are unequal. Biometrika 58, 545-554.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

METHOD = "reml-bma"

DESCRIPTION = (
    "Phase means are arithmetic means; their uncertainty comes from a model of the serial "
    "dependence along depth with a noise scale per phase and one correlation function for the "
    "whole depth, averaged over AR(1), MA(1), AR(2), ARMA(1,1) and fractional-noise families by "
    "restricted likelihood (REML, Patterson & Thompson 1971; Bayesian model averaging, Hoeting "
    "et al. 1999), with isolated outlying pairs replaced by a Hampel filter (Hampel 1974) when "
    "the dependence is estimated. Tests and "
    "intervals use Welch-Satterthwaite t distributions mixed over the model grid and corrected "
    "for skewness (Hall 1992); ")

#: How the Methods sentence states each TOST rule (completes ``DESCRIPTION``).
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

REFERENCES = (
    "Patterson, H. D. & Thompson, R. (1971). Recovery of inter-block information when block "
    "sizes are unequal. Biometrika 58, 545-554.",
    "Hoeting, J. A., Madigan, D., Raftery, A. E. & Volinsky, C. T. (1999). Bayesian model "
    "averaging: a tutorial. Statistical Science 14, 382-417.",
    "Hosking, J. R. M. (1981). Fractional differencing. Biometrika 68, 165-176.",
    "Barndorff-Nielsen, O. & Schou, G. (1973). On the parametrization of autoregressive models "
    "by partial autocorrelations. Journal of Multivariate Analysis 3, 408-419.",
    "Hampel, F. R. (1974). The influence curve and its role in robust estimation. Journal of "
    "the American Statistical Association 69, 383-393.",
    "Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance "
    "components. Biometrics Bulletin 2, 110-114.",
    "Hall, P. (1992). On the removal of skewness by transformation. Journal of the Royal "
    "Statistical Society B 54, 221-228.",
    "Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and the power "
    "approach for assessing the equivalence of average bioavailability. Journal of "
    "Pharmacokinetics and Biopharmaceutics 15, 657-680.",
    "Ljung, G. M. & Box, G. E. P. (1978). On a measure of lack of fit in time series models. "
    "Biometrika 65, 297-303.",
)

#: The families averaged over, with their labels.
FAMILIES = ("ar1", "ma1", "ar2", "arma11", "fd")
FAMILY_LABELS = {"wn": "white noise", "ar1": "AR(1)", "ma1": "MA(1)", "ar2": "AR(2)", "arma11": "ARMA(1,1)",
                 "fd": "ARFIMA(0,d,0)"}
#: Spikes beyond this many robust sd from their running median are clipped before the
#: likelihood (Hampel filter).
HUBER_C = 4.0
#: Level of the Ljung-Box model check; below it the conservative fallback is used.
CHECK_LEVEL = 0.01
#: Grid points are dropped once the kept ones carry this much posterior mass.
KEEP_MASS = 1 - 1e-6
#: Half the chi-square(2) 95% quantile: the likelihood region of the fallback.
REGION_DROP = 2.995732273553991


# --------------------------------------------------------------------------- correlation grids


def _acf_wn(params: np.ndarray, maxlag: int) -> np.ndarray:
    out = np.zeros((len(params), maxlag + 1))
    out[:, 0] = 1.0
    return out


def _acf_ar1(params: np.ndarray, maxlag: int) -> np.ndarray:
    return params[:, :1] ** np.arange(maxlag + 1)[None, :]


def _acf_ma1(params: np.ndarray, maxlag: int) -> np.ndarray:
    out = np.zeros((len(params), maxlag + 1))
    out[:, 0] = 1.0
    if maxlag >= 1:
        out[:, 1] = params[:, 0]
    return out


def _acf_ar2(params: np.ndarray, maxlag: int) -> np.ndarray:
    """params: (phi1, phi2); rho_1 = phi1 / (1 - phi2), then the Yule-Walker recursion."""
    phi1, phi2 = params[:, 0], params[:, 1]
    out = np.empty((len(params), maxlag + 1))
    out[:, 0] = 1.0
    if maxlag >= 1:
        out[:, 1] = phi1 / (1 - phi2)
    for k in range(2, maxlag + 1):
        out[:, k] = phi1 * out[:, k - 1] + phi2 * out[:, k - 2]
    return out


def _acf_arma11(params: np.ndarray, maxlag: int) -> np.ndarray:
    """params: (phi, rho_1): rho_k = rho_1 phi^(k-1) for k >= 1."""
    phi, r1 = params[:, :1], params[:, 1:2]
    k = np.arange(maxlag + 1)[None, :]
    return np.where(k == 0, 1.0, r1 * phi ** np.maximum(k - 1, 0))


def _acf_fd(params: np.ndarray, maxlag: int) -> np.ndarray:
    """ARFIMA(0,d,0): rho_k = prod_{j<=k} (j - 1 + d) / (j - d)  (Hosking 1981)."""
    d = params[:, :1]
    j = np.arange(1, maxlag + 1)[None, :]
    return np.concatenate([np.ones((len(params), 1)), np.cumprod((j - 1 + d) / (j - d), axis=1)],
                          axis=1)


@lru_cache(maxsize=None)
def family_params(name: str) -> np.ndarray:
    """The grid of one family (rows of parameters), uniform in its natural parametrisation:
    the lag-1 correlation for AR(1) and MA(1), d for ARFIMA(0,d,0), the partial
    autocorrelations for AR(2), (phi, rho_1) over the valid region for ARMA(1,1)."""
    if name == "wn":
        return np.zeros((1, 0))
    if name == "ar1":
        return np.linspace(-0.5, 0.98, 60)[:, None]
    if name == "ma1":
        return np.linspace(-0.49, 0.49, 40)[:, None]
    if name == "ar2":
        # uniform in the partial autocorrelations (Barndorff-Nielsen & Schou 1973)
        p1, p2 = np.meshgrid(np.linspace(-0.6, 0.95, 16), np.linspace(-0.6, 0.9, 16),
                             indexing="ij")
        p1, p2 = p1.ravel(), p2.ravel()
        return np.column_stack([p1 * (1 - p2), p2])
    if name == "arma11":
        # rho_1 ranges over [-(1 - phi)/2, (1 + phi)/2], where the spectrum stays >= 0
        phi = np.linspace(-0.5, 0.98, 30)
        t = (np.arange(20) + 0.5) / 20
        f, tt = np.meshgrid(phi, t, indexing="ij")
        return np.column_stack([f.ravel(), (-(1 - f) / 2 + tt).ravel()])
    if name == "fd":
        return np.linspace(0.0, 0.49, 30)[:, None]
    raise ValueError(f"unknown dependence family {name!r}")


_ACF = {"wn": _acf_wn, "ar1": _acf_ar1, "ma1": _acf_ma1, "ar2": _acf_ar2, "arma11": _acf_arma11, "fd": _acf_fd}
_N_PARAMS = {"wn": 0, "ar1": 1, "ma1": 1, "ar2": 2, "arma11": 2, "fd": 1}


@dataclass(frozen=True)
class _Grid:
    families: tuple[str, ...]
    family_of: np.ndarray      # (G,) index into families
    params: tuple[np.ndarray, ...]
    log_prior: np.ndarray      # (G,)
    acf: np.ndarray            # (G, maxlag + 1)


@lru_cache(maxsize=16)
def _grid(families: tuple[str, ...], maxlag: int) -> _Grid:
    acfs, fam, params, prior = [], [], [], []
    for i, name in enumerate(families):
        p = family_params(name)
        acfs.append(_ACF[name](p, maxlag))
        fam.append(np.full(len(p), i))
        params.append(p)
        prior.append(np.full(len(p), -math.log(len(families) * len(p))))
    return _Grid(families, np.concatenate(fam), tuple(params), np.concatenate(prior),
                 np.concatenate(acfs))


# --------------------------------------------------------------------------- per-layout design


@dataclass(frozen=True)
class _Block:
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
class _Design:
    layers: np.ndarray
    phases: tuple[str, ...]           # phase of each position
    blocks: tuple[_Block, ...]        # phases in depth order (first appearance)
    grid: _Grid
    cross_cache: dict = field(default_factory=dict, compare=False, repr=False)

    def block(self, phase: str) -> _Block | None:
        return next((b for b in self.blocks if b.phase == phase), None)

    def cross(self, p: str, q: str) -> np.ndarray:
        """(G,) 1_P' R_PQ 1_Q / (m_P m_Q): the correlation part of Cov(mean_P, mean_Q)."""
        return _cross(self, p, q)


def _build_block(phase: str, rows: np.ndarray, layers: np.ndarray, grid: _Grid) -> _Block:
    m = len(rows)
    if m < 2:
        return _Block(phase, rows, layers, None, None, None, None, None, None)
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
    return _Block(phase, rows, layers, W, u, logdet + np.log(a), v, s3, sb)


@lru_cache(maxsize=64)
def _design_cached(layers: tuple[int, ...], phases: tuple[str, ...],
                   families: tuple[str, ...]) -> _Design:
    L = np.asarray(layers, dtype=int)
    maxlag = int(L.max() - L.min()) if len(L) else 0
    grid = _grid(families, max(maxlag, 1))
    ph = np.asarray(phases, dtype=object)
    blocks = []
    for p in dict.fromkeys(phases):
        rows = np.flatnonzero(ph == p)
        blocks.append(_build_block(p, rows, L[rows], grid))
    return _Design(L, tuple(phases), tuple(blocks), grid)


def _cross(design: _Design, p: str, q: str) -> np.ndarray:
    if (p, q) not in design.cross_cache:
        bp, bq = design.block(p), design.block(q)
        lag = np.abs(bp.layers[:, None] - bq.layers[None, :])
        design.cross_cache[(p, q)] = design.grid.acf[:, lag].sum(axis=(1, 2)) / (bp.m * bq.m)
    return design.cross_cache[(p, q)]


# --------------------------------------------------------------------------- batch fit


def _huberize(Y: np.ndarray, design: _Design) -> np.ndarray:
    """Replace isolated spikes within each phase of >= 5 pairs by their neighbours' median
    (Hampel filter, HUBER_C robust sd; gaugetest.inference.dependence.hampel_clip)."""
    from ..dependence import hampel_clip
    return hampel_clip(Y, design.phases, c=HUBER_C)


def _whiten(Y: np.ndarray, b: _Block):
    """GLS whitening at every grid point: W y (R, G, m), the GLS level mu = u'W y / u'u (R, G)
    and the residual sum of squares |W y - mu u|^2 = y' P y (R, G)."""
    wy = np.tensordot(Y, b.W, axes=([1], [2]))                  # (R, G, m)
    uu = np.einsum("gi,gi->g", b.u, b.u)
    uwy = np.einsum("rgi,gi->rg", wy, b.u)
    q = np.einsum("rgi,rgi->rg", wy, wy) - uwy ** 2 / uu
    return wy, uwy / uu, np.maximum(q, 0.0)


def _residuals_at(white, b: _Block, g: np.ndarray) -> np.ndarray:
    """Whitened residuals at one grid point per replicate: (R, m)."""
    wy, mu, _ = white
    r = np.arange(len(g))
    return wy[r, g] - mu[r, g][:, None] * b.u[g]


@dataclass
class _Batch:
    """A fit of R replicate columns on one design, restricted to the K grid points that carry
    the posterior mass (K chosen for the whole batch)."""

    design: _Design
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


def _fit_batch(Y: np.ndarray, design: _Design, known_var: np.ndarray | None = None,
               robust: bool = True, check: bool = True) -> _Batch:
    R = Y.shape[0]
    G = len(design.grid.log_prior)
    Yh = _huberize(Y, design) if robust else Y
    ll = np.broadcast_to(design.grid.log_prior, (R, G)).copy()
    white = {}
    for b in design.blocks:
        if b.W is None:
            continue
        wh = _whiten(Yh[:, b.rows], b)
        ll -= 0.5 * ((b.m - 1) * np.log(np.maximum(wh[2], 1e-300)) + b.const[None, :])
        raw = wh
        if robust:
            changed = np.flatnonzero(np.any(Yh[:, b.rows] != Y[:, b.rows], axis=1))
            if len(changed):
                part = _whiten(Y[changed][:, b.rows], b)
                raw = tuple(a.copy() for a in wh)
                for a, pa in zip(raw, part):
                    a[changed] = pa
        white[b.phase] = (raw, wh)      # raw data for the scale, clipped for the check
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
        e = _residuals_at(raw, b, g_map)
        sd = np.sqrt(np.maximum(np.sum(e ** 2, axis=1) / (b.m - 1), 1e-300))
        num3 += np.sum((e / sd[:, None]) ** 3, axis=1)
        dof += b.m - 1
    gamma = np.broadcast_to((num3 / max(dof, 1))[:, None], idx.shape)
    floor = {}
    if known_var is not None:
        for b in design.blocks:
            floor[b.phase] = np.nansum(known_var[:, b.rows], axis=1) / b.m ** 2
    if check:
        stat, pval, h = _ljung_box_check(design, white, g_map)
    else:
        stat, pval, h = np.full(R, np.nan), np.ones(R), 0
    fallback = pval < CHECK_LEVEL
    return _Batch(design, idx, w, ll_k, means, s2, v, gamma, pval, stat, h, floor, fallback)


def _ljung_box_check(design: _Design, white: dict, g_map: np.ndarray):
    """Ljung-Box Q of the whitened, standardized residuals (of the Huber-clipped data) at each
    replicate's most likely grid point; autocorrelations pooled over phases (lagged products
    within phases only)."""
    from scipy.special import chdtrc

    R = len(g_map)
    es = []
    r = np.arange(R)
    for b in design.blocks:
        if b.W is None or b.m < 3:
            continue
        e = _residuals_at(white[b.phase][1], b, g_map)          # (R, m), clipped data
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
    k_par = np.array([_N_PARAMS[design.grid.families[f]] for f in fam])
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
    y, phases, layers, _ = _check_inputs(y, phases, layers, None)
    acf = np.asarray(acf, dtype=float)[None, :]
    grid = _Grid(("custom",), np.zeros(1, dtype=int), (np.zeros((1, 0)),), np.zeros(1), acf)
    ph = np.asarray(phases, dtype=object)
    loglik, sd, level = 0.0, {}, {}
    for p in dict.fromkeys(phases):
        rows = np.flatnonzero(ph == p)
        b = _build_block(p, rows, layers[rows], grid)
        if b.W is None:
            level[p] = float(y[rows].mean())
            continue
        wy, mu, q = _whiten(y[None, rows], b)
        m = b.m
        s2 = float(q[0, 0]) / (m - 1)
        sd[p], level[p] = math.sqrt(s2), float(mu[0, 0])
        loglik += -0.5 * ((m - 1) * (math.log(2 * math.pi) + 1 + math.log(s2))
                          + float(b.const[0]))
    return {"loglik": loglik, "sd": sd, "level": level}


# --------------------------------------------------------------------------- contrasts


def _t_cdf(df, x):
    from scipy.special import stdtr
    return stdtr(df, x)


def _hall(t, a0, a2):
    """Hall's (1992) monotone transformation t + a0 + a2 t^2 + a2^2 t^3 / 3."""
    return t + a0 + a2 * t * t + a2 * a2 * t ** 3 / 3


@dataclass(frozen=True)
class _Mixture:
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
                t = _hall(t, self.a0, self.a2)
        return np.sum(self.w * (1 - _t_cdf(self.df, t)), axis=1)

    def p_greater(self, x) -> np.ndarray:
        """P-value of H1: contrast > x (the larger of the corrected/uncorrected ones)."""
        p = self._h(x, False)
        return np.maximum(p, self._h(x, True)) if self.skew else p

    def p_less(self, x) -> np.ndarray:
        p = 1 - self._h(x, False)
        return np.maximum(p, 1 - self._h(x, True)) if self.skew else p


def _mixture(batch: _Batch, weights: Mapping[str, float], skew: bool = True,
             cross: bool = True, raw: bool = False) -> _Mixture | None:
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
        a, b = _skew_terms(weights, phases, batch, d, comp, var, nu, sdv)
    # a phase without spread (constant data) has no skewness to correct: 0/0 there is 0
    a0, a2 = np.nan_to_num(a / 6), np.nan_to_num(b / 2 - a / 6)
    w = batch.w
    if raw:
        return _Mixture(est, w, se, df, a0, a2, skew)
    if batch.fallback.any():
        # most conservative answer inside the 95% likelihood region
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        pick = np.where(inside, se, -np.inf).argmax(axis=1)
        alt = np.zeros_like(w)
        alt[np.arange(R), pick] = 1.0
        w = np.where(batch.fallback[:, None], alt, w)
    return _compress(_Mixture(est, w, se, df, a0, a2, skew))


#: TOST rules compared in docs/tost-study.md; ``TOST_RULE`` is the one ``fit_depth`` uses
#: unless told otherwise (the mixture: every conservative rule that reaches the TOST-size
#: target costs most of the TOST's power, see docs/tost-study.md).
TOST_RULES = ("mixture", "level", "quantile", "region", "inflated-df")
TOST_RULE = "mixture"


def _point(mix: _Mixture, pick: np.ndarray) -> _Mixture:
    """The single component ``pick`` (one per replicate) of a mixture, weight 1."""
    r = np.arange(len(mix.est))

    def f(a):
        return a[r, pick][:, None]

    return _Mixture(mix.est, np.ones((len(pick), 1)), f(mix.se), f(mix.df), f(mix.a0),
                    f(mix.a2), mix.skew)


def _tost_mixture(batch: _Batch, weights: Mapping[str, float], rule: str, skew: bool = True,
                  cross: bool = True) -> tuple[_Mixture, float] | None:
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
    base = _mixture(batch, weights, skew, cross)
    if base is None or rule == "mixture":
        return None if base is None else (base, 1.0)
    if rule == "level":
        return base, 0.5
    full = _mixture(batch, weights, skew, cross, raw=True)
    if rule == "quantile":
        order = np.argsort(full.se, axis=1, kind="stable")
        cw = np.cumsum(np.take_along_axis(full.w, order, axis=1), axis=1)
        j = np.minimum((cw < 0.9).sum(axis=1), full.w.shape[1] - 1)
        alt = _point(full, order[np.arange(len(j)), j])
    elif rule == "region":
        inside = batch.ll >= batch.ll.max(axis=1, keepdims=True) - REGION_DROP
        alt = _point(full, np.where(inside, full.se, -np.inf).argmax(axis=1))
    else:
        lv = 2 * np.log(full.se)
        mean = np.sum(full.w * lv, axis=1, keepdims=True)
        spread = np.sum(full.w * (lv - mean) ** 2, axis=1, keepdims=True)
        alt = _compress(_Mixture(full.est, full.w, full.se, 2 / (2 / full.df + spread),
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

    return _Mixture(base.est, pad(alt.w, base.w, 0.0), pad(alt.se, base.se, 1.0),
                    pad(alt.df, base.df, 1.0), pad(alt.a0, base.a0, 0.0),
                    pad(alt.a2, base.a2, 0.0), skew), 1.0


def _skew_terms(weights, phases, batch, d, comp, var, nu, sdv):
    """Hall's a and b coefficients of a contrast's skewness."""
    a = sum(weights[p] ** 3 * batch.s2[p] ** 1.5 * batch.take(d.block(p).s3)
            for p in phases) * batch.gamma / sdv ** 3
    b = sum(comp[p] / var * weights[p] * np.sqrt(batch.s2[p]) * batch.take(d.block(p).sb)
            / nu[p] for p in phases) * batch.gamma / sdv
    return a, b


#: Components whose standard errors agree within this factor are merged.
MERGE_BINS = 64


def _compress(mix: _Mixture) -> _Mixture:
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
    return _Mixture(mix.est, W, se, df, a0, a2, mix.skew)


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class ModelCheck:
    """The model check of one fit: Ljung-Box test of the whitened residuals."""

    passed: bool
    statistic: float | None
    pvalue: float | None
    lags: int
    message: str
    fallback: str | None = None

    def to_dict(self) -> dict:
        from ..._util import json_number as num
        return {"passed": self.passed, "statistic": num(self.statistic),
                "pvalue": num(self.pvalue), "lags": self.lags, "message": self.message,
                "fallback": self.fallback}


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


def _root_in_bracket(g, a: float, b: float, ga: float, gb: float, xtol: float,
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
    _mix: _Mixture = field(repr=False, compare=False)
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
        t approximation, then the Illinois method (:func:`_root_in_bracket`; scipy.optimize's
        brentq gives the same roots but its import costs half a second per run)."""
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
        return _root_in_bracket(g, a, b, ga, gb, xtol=1e-11 * self.se)

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
        m = self._mix
        mix = _Mixture(np.array([value]), m.w, m.se, m.df, m.a0, m.a2, m.skew)
        return Contrast(self.weights, value, self.se, self.df, mix)


@dataclass(frozen=True)
class DepthFit:
    method: str
    description: str
    references: tuple[str, ...]
    phases: tuple[str, ...]
    n: dict
    mean: dict
    detail: dict
    summary: str
    check: ModelCheck
    _batch: _Batch = field(repr=False, compare=False)
    _options: dict = field(repr=False, compare=False, default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able summary (no contrasts: ask for those with :meth:`contrast`)."""
        from ..._util import json_number as num
        return {"method": self.method, "description": self.description,
                "references": list(self.references), "phases": list(self.phases),
                "n": dict(self.n), "mean": {k: num(v) for k, v in self.mean.items()},
                "detail": self.detail, "summary": self.summary, "check": self.check.to_dict()}

    def contrast(self, weights: Mapping[str, float]) -> Contrast | None:
        """The contrast sum_P weights[P] * mean_P, or None when a phase has < 2 pairs."""
        w = {str(k): float(v) for k, v in weights.items()}
        opts = dict(skew=self._options.get("skew", True), cross=self._options.get("cross", True))
        mix = _mixture(self._batch, w, **opts)
        if mix is None:
            return None
        rule = self._options.get("tost_rule", "mixture")
        tost = None if rule == "mixture" else _tost_mixture(self._batch, w, rule, **opts)
        rms = float(np.sqrt(np.sum(mix.w[0] * mix.se[0] ** 2)))
        order = np.argsort(mix.se[0])
        cw = np.cumsum(mix.w[0][order])
        med = order[min(int(np.searchsorted(cw, 0.5)), len(order) - 1)]
        return Contrast(tuple(w.items()), float(mix.est[0]), rms, float(mix.df[0, med]), mix,
                        tost)


def _check_inputs(y, phases, layers, known_var):
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


def fit_depth(y, phases: Sequence[str], layers, *, known_var=None, rng=None,
              families: Sequence[str] = FAMILIES, robust: bool = True, skew: bool = True,
              cross: bool = True, check: bool = True, tost_rule: str | None = None) -> DepthFit:
    """Fit the depth model to one column.

    Parameters
    ----------
    y : array_like
        One column along depth; NaN for missing pairs (left out; a gap in ``layers`` breaks
        adjacency and the correlation uses the true distance in L).
    phases : sequence of str
        Phase label of each pair.
    layers : array_like of int
        Pair index L of each pair, strictly increasing.
    known_var : array_like, optional
        Known measurement variance of each pair (``aligned_null_sd**2 / null_draws`` under
        ``--baseline matched``): each phase mean's variance is at least the mean of these over
        the phase divided by its size.
    rng : ignored
        The method has no random step; accepted so every method has the same signature.
    families, robust, skew, cross, check
        Expert options (the defaults are what docs/calibration.md validates): the correlation
        families averaged over, Huber clipping before the likelihood, Hall's skewness
        correction, counting between-phase correlation where it widens an interval, the model
        check with its fallback.
    tost_rule : str, optional
        The distribution the TOST (and its power) uses, one of ``TOST_RULES`` (default
        ``TOST_RULE``, the mixture of every other number); docs/tost-study.md compares them.

    Returns
    -------
    DepthFit
    """
    y, phases, layers, known_var = _check_inputs(y, phases, layers, known_var)
    rule = TOST_RULE if tost_rule is None else tost_rule
    if rule not in TOST_RULES:
        raise ValueError(f"unknown TOST rule {rule!r}; one of {', '.join(TOST_RULES)}")
    ok = np.isfinite(y)
    design = _design_cached(tuple(int(v) for v in layers[ok]),
                            tuple(p for p, k in zip(phases, ok) if k), tuple(families))
    kv = known_var[ok][None, :] if known_var is not None else None
    batch = _fit_batch(y[ok][None, :], design, kv, robust=robust, check=check)
    return _wrap(batch, design, dict(skew=skew, cross=cross, tost_rule=rule))


def _wrap(batch: _Batch, design: _Design, options: dict) -> DepthFit:
    grid = design.grid
    w, idx = batch.w[0], batch.idx[0]
    fam_post = {FAMILY_LABELS[f]: float(w[grid.family_of[idx] == i].sum())
                for i, f in enumerate(grid.families)}
    lag1 = float(np.sum(w * grid.acf[idx, 1])) if grid.acf.shape[1] > 1 else 0.0
    n = {b.phase: b.m for b in design.blocks}
    mean = {b.phase: float(batch.means[b.phase][0]) for b in design.blocks}
    n_eff = {p: float(1 / np.sum(w * batch.v[p][0])) for p in batch.v}
    scale = {p: float(np.sqrt(np.sum(w * batch.s2[p][0]))) for p in batch.s2}
    g_map = int(idx[0])
    f_map = grid.families[grid.family_of[g_map]]
    start = int(np.flatnonzero(grid.family_of == grid.family_of[g_map])[0])
    p_map = [float(v) for v in grid.params[grid.family_of[g_map]][g_map - start]]
    detail = {"families": fam_post, "most_likely": {"family": FAMILY_LABELS[f_map],
                                                    "params": p_map},
              "lag1": lag1, "n_eff": n_eff, "scale": scale,
              "skewness": float(np.sum(w * batch.gamma[0])),
              "grid_points": int(len(grid.log_prior)), "grid_points_used": int(len(w))}
    top = sorted(fam_post.items(), key=lambda kv: -kv[1])[:3]
    summary = ("dependence " + ", ".join(f"{k} {v:.2f}" for k, v in top)
               + f"; lag-1 corr {lag1:.2f}; n_eff "
               + ", ".join(f"{p} {v:.1f}" for p, v in n_eff.items() if n[p] >= 5))
    p = float(batch.check_p[0])
    passed = not bool(batch.fallback[0])
    if batch.check_lags == 0:
        msg = "too few pairs for the Ljung-Box model check"
        chk = ModelCheck(True, None, None, 0, msg, None)
    else:
        msg = (f"Ljung-Box on whitened residuals, {batch.check_lags} lags: "
               f"Q = {float(batch.check_stat[0]):.2f}, p = {p:.3g}")
        fb = None if passed else ("largest variance inside the 95% likelihood region of the "
                                  "dependence model")
        if not passed:
            msg += f" < {CHECK_LEVEL:g}: the dependence model does not fit; using the {fb}"
        chk = ModelCheck(passed, float(batch.check_stat[0]), p, batch.check_lags, msg, fb)
    description = DESCRIPTION + TOST_RULE_TEXT[options.get("tost_rule", TOST_RULE)]
    return DepthFit(METHOD, description, REFERENCES, tuple(b.phase for b in design.blocks), n,
                    mean, detail, summary, chk, batch, options)
