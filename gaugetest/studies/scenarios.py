"""The scenario bank of ``gaugetest calibrate``: noise along depth, on and off any one model.

Each :class:`Scenario` generates the pooled (family-mean) delta series of a sweep with no
effect anywhere (every phase's mean is 0), for a :class:`Layout` (layer count, phase map,
the LATE and EARLY phases compared).  It also gives the true covariance of what it
generates, which the oracle test (GLS with phase levels that knows that covariance) uses,
and, for ``--baseline null``-like scenarios, the per-pair known measurement variance that
``gaugetest measure`` would report.

The bank (``BANK``) spans what a depth series of deltas can look like:

* AR(1) with lag-1 correlation 0 to 0.9 (the model the old default assumed);
* AR(2) (0.2, 0.5) and (0.5, 0.3): lag-2 correlation above lag-1, long-run variance far
  above any AR(1) with the same lag-1 correlation;
* ARMA(1, 1) (0.8, -0.3) and ARFIMA(0, 0.3, 0) (long memory);
* the shared-layer MA(1) ``delta_L = u_L + u_{L+1}`` (per-layer effects);
* AR(1) 0.7 plus white measurement noise of varying, estimated variance (what
  ``--baseline null`` adds: the null mean of each pair is itself a mean of 8 draws);
* smooth drift: a random smooth function of depth (squared-exponential kernel) on top of
  AR(1) 0.3, and a fixed linear trend inside each phase (zero mean within the phase);
* heavy tails (AR(1) with t3 innovations), one 10-sd outlier pair outside the compared
  phases and one anywhere, phases with 2.5x the noise sd of the others (LATE or EARLY),
  right-skewed deltas (a lognormal transform of AR(1) noise, skewness 2.3);
* residuals of a real sweep (SmolLM2-135M measured by ``gaugetest measure``, delta and
  excess over the null): phase means removed, standardized, block-resampled (moving
  blocks of 3 inside real phases) and given the real phases' noise levels.

Everything is seeded by the caller's generator; every draw is vectorised over replicates.

Examples
--------
>>> import numpy as np
>>> lay = Layout.from_map(36, "D", "C")
>>> sc = scenario("ar1-0.5")
>>> d = sc.draw(lay, 4, np.random.default_rng(0))
>>> d.y.shape, sc.covariance(lay).shape
((4, 35), (35, 35))
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..phases import resolve_phase_map

OUTLIER_SD = 10.0
HETERO_SD = 2.5


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Layout:
    """Pairs of a sweep: their phase and depth, and the two phases compared."""

    num_layers: int
    late: str
    early: str
    phases: tuple[str, ...]
    phase_map: str = "auto"

    @classmethod
    def from_map(cls, num_layers: int, late: str, early: str, phase_map: str = "auto") -> "Layout":
        pm = resolve_phase_map(phase_map, num_layers)
        phases = tuple(pm.phase_of(L, num_layers) for L in range(num_layers - 1))
        return cls(num_layers, late, early, phases, phase_map)

    @property
    def n(self) -> int:
        return len(self.phases)

    @property
    def layers(self) -> np.ndarray:
        return np.arange(self.n)

    def rows(self, phase: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.phases) == phase)

    @property
    def phase_order(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.phases))

    def label(self) -> str:
        return (f"{self.num_layers} layers, {self.late} ({len(self.rows(self.late))} pairs) vs "
                f"{self.early} ({len(self.rows(self.early))} pairs)")


#: The layouts of the bank: Qwen3-32B-like (64 layers, E vs C), Qwen3-4B-like (36 layers, no
#: phase E: D vs C) and Qwen3-0.6B/1.7B-like (28 layers, fractional map, E vs C).
DEFAULT_LAYOUTS = ((64, "E", "C"), (36, "D", "C"), (28, "E", "C"))


# --------------------------------------------------------------------------- autocorrelations


def acf_ar(phi, nlags: int) -> np.ndarray:
    """Autocorrelations rho_0..rho_nlags of a stationary AR(p) (Yule-Walker recursion)."""
    phi = np.asarray(phi, dtype=float)
    p = len(phi)
    if p == 1:
        return phi[0] ** np.arange(nlags + 1)
    # solve the first p Yule-Walker equations for rho_1..rho_p, then recurse
    A = np.eye(p)
    b = np.zeros(p)
    for k in range(1, p + 1):
        for j in range(1, p + 1):
            lag = abs(k - j)
            if lag == 0:
                b[k - 1] += phi[j - 1]
            else:
                A[k - 1, lag - 1] -= phi[j - 1]
    rho = np.ones(max(nlags, p) + 1)
    rho[1:p + 1] = np.linalg.solve(A, b)
    for k in range(p + 1, nlags + 1):
        rho[k] = phi @ rho[k - p:k][::-1]
    return rho[:nlags + 1]


def acf_arma11(phi: float, theta: float, nlags: int) -> np.ndarray:
    """Autocorrelations of the ARMA(1,1) x_t = phi x_{t-1} + e_t + theta e_{t-1}."""
    r1 = (1 + phi * theta) * (phi + theta) / (1 + 2 * phi * theta + theta ** 2)
    out = np.empty(nlags + 1)
    out[0] = 1.0
    out[1:] = r1 * phi ** np.arange(nlags)
    return out


def acf_arfima(d: float, nlags: int) -> np.ndarray:
    """Autocorrelations of ARFIMA(0, d, 0): rho_k = prod_{j<=k} (j - 1 + d) / (j - d)."""
    j = np.arange(1, nlags + 1)
    return np.concatenate([[1.0], np.cumprod((j - 1 + d) / (j - d))])


def toeplitz_from_acf(acf: np.ndarray, layers: np.ndarray) -> np.ndarray:
    lag = np.abs(layers[:, None] - layers[None, :])
    return acf[lag]


# --------------------------------------------------------------------------- draws


@dataclass(frozen=True)
class Draw:
    """Simulated pooled series: ``y`` (reps, n); ``known_var`` (reps, n) or None."""

    y: np.ndarray
    known_var: np.ndarray | None = None


def _gaussian(cov: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(cov)))
    return rng.standard_normal((reps, len(cov))) @ chol.T


def _ar1_recursion(innov: np.ndarray, rho: float, burn: int) -> np.ndarray:
    """Stationary-ish AR(1) with unit variance from unit-variance innovations (reps, burn+n)."""
    out = np.empty_like(innov)
    s = math.sqrt(1 - rho ** 2)
    out[:, 0] = innov[:, 0]
    for t in range(1, innov.shape[1]):
        out[:, t] = rho * out[:, t - 1] + s * innov[:, t]
    return out[:, burn:]


@dataclass(frozen=True)
class Scenario:
    """One kind of noise along depth; see the module docstring for the bank.

    ``kind`` selects the generator, ``params`` its parameters; ``label`` is the row name in
    docs/calibration.md and ``description`` says what it stands for.
    """

    name: str
    kind: str
    params: tuple = ()
    label: str = ""
    description: str = ""
    model_family: bool = field(default=False, compare=False)

    # ---- the stationary Gaussian ones are defined by their autocorrelation
    def acf(self, nlags: int) -> np.ndarray | None:
        k, p = self.kind, self.params
        if k == "ar":
            return acf_ar(p, nlags)
        if k == "arma11":
            return acf_arma11(p[0], p[1], nlags)
        if k == "arfima":
            return acf_arfima(p[0], nlags)
        if k == "ma1-shared":
            out = np.zeros(nlags + 1)
            out[0], out[1:2] = 1.0, 0.5
            return out
        return None

    def covariance(self, layout: Layout) -> np.ndarray:
        """True covariance of the generated series (what the oracle knows)."""
        n, L = layout.n, layout.layers
        k, p = self.kind, self.params
        acf = self.acf(n)
        if acf is not None:
            return toeplitz_from_acf(acf, L)
        if k in ("ar1+wn",):
            rho, wn = p
            return toeplitz_from_acf(rho ** np.arange(n + 1), L) + np.diag(_wn_var(layout, wn))
        if k == "drift-gp":
            rho, var, scale = p
            lag = np.abs(L[:, None] - L[None, :])
            return rho ** lag + var * np.exp(-0.5 * (lag / scale) ** 2)
        if k in ("drift-trend", "t3"):
            return toeplitz_from_acf(p[0] ** np.arange(n + 1), L)
        if k in ("outlier-other", "outlier-any"):
            cov = toeplitz_from_acf(p[0] ** np.arange(n + 1), L)
            where = _outlier_rows(layout, k)
            cov[where, where] += OUTLIER_SD ** 2 / len(where)
            return cov
        if k == "hetero":
            rho, which = p
            s = _hetero_sd(layout, which)
            return toeplitz_from_acf(rho ** np.arange(n + 1), L) * np.outer(s, s)
        if k == "lognormal":
            rho, s = p
            r = toeplitz_from_acf(rho ** np.arange(n + 1), L)
            return (np.exp(s ** 2 * r) - 1) / (np.exp(s ** 2) - 1)
        if k == "real":
            return _real_covariance(layout, p[0], p[1])
        raise ValueError(f"unknown scenario kind {k!r}")

    def draw(self, layout: Layout, reps: int, rng: np.random.Generator) -> Draw:
        n, k, p = layout.n, self.kind, self.params
        if self.acf(n) is not None:
            return Draw(_gaussian(self.covariance(layout), reps, rng))
        if k == "ar1+wn":
            rho, wn = p
            y = _gaussian(toeplitz_from_acf(rho ** np.arange(n + 1), layout.layers), reps, rng)
            v = _wn_var(layout, wn)
            y = y + rng.standard_normal((reps, n)) * np.sqrt(v)
            # the variance is itself estimated from NULL_DRAWS draws: v * chi2_{k-1} / (k-1)
            est = v * rng.chisquare(NULL_DRAWS - 1, (reps, n)) / (NULL_DRAWS - 1)
            return Draw(y, est)
        if k == "drift-gp":
            return Draw(_gaussian(self.covariance(layout), reps, rng))
        if k == "drift-trend":
            rho, amp = p
            y = _gaussian(toeplitz_from_acf(rho ** np.arange(n + 1), layout.layers), reps, rng)
            return Draw(y + _phase_trend(layout, amp))
        if k == "t3":
            burn = 100
            e = rng.standard_t(3, (reps, n + burn)) / math.sqrt(3.0)
            return Draw(_ar1_recursion(e, p[0], burn))
        if k in ("outlier-other", "outlier-any"):
            y = _gaussian(toeplitz_from_acf(p[0] ** np.arange(n + 1), layout.layers), reps, rng)
            where = _outlier_rows(layout, k)
            at = where[rng.integers(0, len(where), reps)]
            y[np.arange(reps), at] += OUTLIER_SD * rng.choice([-1.0, 1.0], reps)
            return Draw(y)
        if k == "hetero":
            return Draw(_gaussian(self.covariance(layout), reps, rng))
        if k == "lognormal":
            rho, s = p
            z = _gaussian(toeplitz_from_acf(rho ** np.arange(n + 1), layout.layers), reps, rng)
            m, v = math.exp(s ** 2 / 2), (math.exp(s ** 2) - 1) * math.exp(s ** 2)
            return Draw((np.exp(s * z) - m) / math.sqrt(v))
        if k == "real":
            return Draw(_real_draw(layout, p[0], p[1], reps, rng))
        raise ValueError(f"unknown scenario kind {k!r}")


#: Null draws per pair that ``gaugetest measure`` makes by default.
NULL_DRAWS = 8


def _wn_var(layout: Layout, mean_var: float) -> np.ndarray:
    """Per-pair measurement variance: varies along depth (a fixed smooth pattern), mean
    ``mean_var``."""
    L = layout.layers
    g = np.exp(0.5 * np.sin(2 * np.pi * L / max(layout.n, 2) * 1.5))
    return mean_var * g / g.mean()


def _outlier_rows(layout: Layout, kind: str) -> np.ndarray:
    if kind == "outlier-any":
        return layout.layers
    ph = np.asarray(layout.phases)
    rows = np.flatnonzero((ph != layout.late) & (ph != layout.early))
    return rows if len(rows) else layout.layers


def _hetero_sd(layout: Layout, which: str) -> np.ndarray:
    s = np.ones(layout.n)
    s[layout.rows(layout.late if which == "late" else layout.early)] = HETERO_SD
    return s


def _phase_trend(layout: Layout, amp: float) -> np.ndarray:
    """A linear trend inside each phase from -amp to +amp (zero mean within the phase)."""
    out = np.zeros(layout.n)
    for ph in layout.phase_order:
        r = layout.rows(ph)
        if len(r) >= 2:
            out[r] = amp * np.linspace(-1, 1, len(r))
    return out


# --------------------------------------------------------------------------- real residuals

#: Block length of the moving-block bootstrap of real residuals (within real phases).
REAL_BLOCK = 3
REAL_FILES = ("smollm2-135m-cols-null.json", "smollm2-135m-cols-aligned.json")


@lru_cache(maxsize=None)
def real_residuals(quantity: str) -> dict:
    """Pooled residual series of the bundled SmolLM2-135M sweep, by phase.

    ``quantity`` is "delta" (aligned - raw) or "excess" (aligned - null mean).  Each phase's
    mean is removed and the residuals are scaled by sqrt(n / (n - 1)) so their mean square
    estimates the phase variance; phases of one pair carry no residual and are left out.
    """
    from ..io import parse_aligned, parse_null

    docs = []
    for name in REAL_FILES:
        text = resources.files("gaugetest").joinpath("data", name).read_text()
        docs.append(json.loads(text))
    null, aligned = parse_null(docs[0], REAL_FILES[0]), parse_aligned(docs[1], REAL_FILES[1])
    fams = sorted(aligned.cos)
    n_layers = aligned.num_layers
    Ls = sorted(set.intersection(*(set(aligned.cos[f]) for f in fams)))
    if quantity == "delta":
        base = {f: null.cos[f] for f in fams}
    else:
        base = {f: {L: null.extras[f][L]["aligned_null_mean"] for L in Ls} for f in fams}
    y = np.array([np.mean([aligned.cos[f][L] - base[f][L] for f in fams]) for L in Ls])
    pm = resolve_phase_map("auto", n_layers)
    ph = np.array([pm.phase_of(L, n_layers) for L in Ls])
    out = {}
    for p in dict.fromkeys(ph):
        v = y[ph == p]
        if len(v) >= 2:
            out[str(p)] = (v - v.mean()) * math.sqrt(len(v) / (len(v) - 1))
    return out


@dataclass(frozen=True)
class _RealSource:
    segments: tuple[np.ndarray, ...]     # standardized residual series, one per real phase
    phase_sd: dict                       # real phase -> sd relative to the overall rms

    @property
    def total(self) -> int:
        return sum(len(s) for s in self.segments)


@lru_cache(maxsize=None)
def _real_source(quantity: str) -> _RealSource:
    res = real_residuals(quantity)
    rms = float(np.sqrt(np.mean(np.concatenate(list(res.values())) ** 2)))
    segs, sd = [], {}
    for p, r in res.items():
        s = float(np.sqrt(np.mean(r ** 2)))
        segs.append(r / s)
        sd[p] = s / rms
    return _RealSource(tuple(segs), sd)


def _real_source_phase(phase: str, have) -> str:
    """Which real phase's noise level a target phase takes: the same name, else the nearest
    in depth."""
    if phase in have:
        return phase
    order = ("A", "B", "C", "D", "E", "tail")
    i = order.index(phase) if phase in order else len(order)
    return sorted(have, key=lambda q: (abs(order.index(q) - i) if q in order else 99, q))[0]


def _real_blocks(quantity: str, block: int) -> tuple[np.ndarray, float]:
    """Every block of ``block`` consecutive standardized residuals inside one real phase:
    (n_blocks, block), and the mean of all their entries (subtracted, so the generated series
    has mean exactly 0)."""
    src = _real_source(quantity)
    blocks = np.array([seg[i:i + block] for seg in src.segments
                       for i in range(len(seg) - block + 1)])
    return blocks, float(blocks.mean())


def _real_draw(layout: Layout, quantity: str, block: int, reps: int,
               rng: np.random.Generator) -> np.ndarray:
    """Moving-block bootstrap of the real standardized residuals: each target phase is a run of
    blocks of ``block`` consecutive residuals, each block drawn uniformly from the blocks that
    lie inside one real phase (never across a phase boundary, never wrapped), the block grid
    shifted by a random offset so the series is stationary; then centred and given the noise
    sd of the real phase of the same name.  The real dependence up to lag block - 1, the real
    marginal shape and the real heteroscedasticity, on any layout."""
    src = _real_source(quantity)
    blocks, centre = _real_blocks(quantity, block)
    y = np.empty((reps, layout.n))
    for ph in layout.phase_order:
        rows = layout.rows(ph)
        scale = src.phase_sd[_real_source_phase(ph, src.phase_sd)]
        m = len(rows)
        n_blk = -(-(m + block - 1) // block)
        pick = rng.integers(0, len(blocks), (reps, n_blk))
        run = blocks[pick].reshape(reps, n_blk * block)
        off = rng.integers(0, block, reps)
        take = off[:, None] + np.arange(m)[None, :]
        y[:, rows] = scale * (np.take_along_axis(run, take, axis=1) - centre)
    return y


def _real_covariance(layout: Layout, quantity: str, block: int) -> np.ndarray:
    """Exact covariance of that bootstrap: pairs k < block apart fall in the same block with
    probability (block - k) / block (random offset); within a block the covariance is the
    average over blocks and positions of the centred products; pairs in different blocks or
    phases are independent."""
    src = _real_source(quantity)
    blocks, centre = _real_blocks(quantity, block)
    b = blocks - centre
    acv = np.zeros(layout.n + 1)
    for k in range(min(block, layout.n + 1)):
        # P(same block) * E[product | same block] = (1/block) sum_j E_s[b_j b_{j+k}]
        acv[k] = np.sum(np.mean(b[:, :block - k] * b[:, k:], axis=0)) / block
    cov = np.zeros((layout.n, layout.n))
    for ph in layout.phase_order:
        rows = layout.rows(ph)
        scale = src.phase_sd[_real_source_phase(ph, src.phase_sd)]
        lag = np.abs(rows[:, None] - rows[None, :])
        cov[np.ix_(rows, rows)] = scale ** 2 * acv[lag]
    return cov


# --------------------------------------------------------------------------- the bank


def _bank() -> tuple[Scenario, ...]:
    s = []
    for r in (0.0, 0.3, 0.5, 0.7, 0.9):
        s.append(Scenario(f"ar1-{r:g}", "ar", (r,), f"AR(1) {r:g}",
                          "AR(1) noise along depth (the model the old default assumed)", True))
    s += [
        Scenario("ar2-0.2-0.5", "ar", (0.2, 0.5), "AR(2) (0.2, 0.5)",
                 "lag-2 correlation (0.58) above lag-1 (0.40)", True),
        Scenario("ar2-0.5-0.3", "ar", (0.5, 0.3), "AR(2) (0.5, 0.3)",
                 "persistent AR(2), lag-1 correlation 0.71", True),
        Scenario("arma11", "arma11", (0.8, -0.3), "ARMA(1,1) (0.8, -0.3)",
                 "lag-1 correlation 0.62 decaying by 0.8 per lag", True),
        Scenario("arfima-0.3", "arfima", (0.3,), "ARFIMA d 0.3",
                 "long memory: correlations decay like k^-0.4"),
        Scenario("ma1-shared", "ma1-shared", (), "MA(1) shared layer",
                 "delta_L = u_L + u_{L+1}: per-layer effects shared by adjacent pairs", True),
        Scenario("ar1+wn", "ar1+wn", (0.7, 0.5), "AR(1) 0.7 + white noise",
                 "measurement noise of variance 0.5 (varying along depth, estimated from 8 "
                 "draws: what the matched-null baseline adds)"),
        Scenario("drift-gp", "drift-gp", (0.3, 0.5, 6.0), "smooth random drift",
                 "AR(1) 0.3 plus a random smooth function of depth (squared-exponential "
                 "kernel, variance 0.5, length 6 pairs)"),
        Scenario("drift-trend", "drift-trend", (0.3, 1.0), "trend within phases",
                 "AR(1) 0.3 plus a fixed linear trend from -1 to +1 sd inside every phase"),
        Scenario("t3", "t3", (0.5,), "heavy tails (t3)", "AR(1) 0.5 with t3 innovations"),
        Scenario("outlier-other", "outlier-other", (0.5,), "outlier outside the compared phases",
                 "AR(1) 0.5 plus one 10-sd pair (random sign) in a phase not compared"),
        Scenario("outlier-any", "outlier-any", (0.5,), "outlier anywhere",
                 "AR(1) 0.5 plus one 10-sd pair (random sign) at a random pair"),
        Scenario("hetero-late", "hetero", (0.5, "late"), "LATE noisier (2.5x)",
                 "AR(1) 0.5, the LATE phase's noise sd 2.5 times the others'"),
        Scenario("hetero-early", "hetero", (0.5, "early"), "EARLY noisier (2.5x)",
                 "AR(1) 0.5, the EARLY phase's noise sd 2.5 times the others'"),
        Scenario("skewed", "lognormal", (0.5, 0.6), "right-skewed (lognormal)",
                 "exp(0.6 z) of AR(1) 0.5 noise z, centred: skewness 2.3"),
        Scenario("real-delta", "real", ("delta", REAL_BLOCK), "SmolLM2 delta residuals",
                 "pooled delta of SmolLM2-135M minus phase means, block-resampled, real phase noise levels"),
        Scenario("real-excess", "real", ("excess", REAL_BLOCK), "SmolLM2 excess residuals",
                 "pooled excess over the null of SmolLM2-135M minus phase means, "
                 "block-resampled, real phase noise levels"),
    ]
    return tuple(s)


BANK = _bank()


def scenario(name: str) -> Scenario:
    """The bank's scenario called ``name``."""
    for s in BANK:
        if s.name == name:
            return s
    raise KeyError(f"unknown scenario {name!r}; known: {', '.join(s.name for s in BANK)}")
