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

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .calibrate import (CAL_POWER, CAL_REPS, CalibratedMixture, calibration_factor,
                        calibration_for)
from .contrast import Contrast
from .correlation import FAMILIES, FAMILY_LABELS, PERSISTENCE_BOUND, family_params
from .distributions import ESTIMANDS, REGION_DROP, mixture
from .fit import CHECK_LEVEL, Batch, Design, check_inputs, design_for, fit_batch, profile_reml
from .tost import TOST_RULE, TOST_RULE_TEXT, TOST_RULES, TostOutcome, tost_mixture

# the package's parts, in the order a fit uses them: correlation (the families and their grid)
# -> fit (REML on one layout) -> distributions (a contrast's t mixture) -> tost (the TOST rules)
# -> contrast (p-values, intervals, TOST, power) -> here (fit_depth, DepthFit)
__all__ = ["fit_depth", "DepthFit", "ModelCheck", "Contrast", "TostOutcome", "profile_reml",
           "family_params", "design_for", "fit_batch", "mixture", "tost_mixture", "Batch",
           "Design", "FAMILIES", "FAMILY_LABELS", "TOST_RULES", "TOST_RULE", "TOST_RULE_TEXT",
           "CHECK_LEVEL", "REGION_DROP", "METHOD", "DESCRIPTION", "REFERENCES", "METHOD_CAL",
           "DESCRIPTION_CAL", "PERSISTENCE_BOUND", "calibration_for", "calibration_factor",
           "CalibratedMixture", "CAL_POWER", "CAL_REPS", "persistence_text"]

METHOD = "reml-bma"
#: The calibrated method (issue 17): the model on a compact grid within the persistence bound,
#: its p-values calibrated by simulation on the exact design (``calibrate``).
METHOD_CAL = "reml-cal"


def persistence_text(bound: float = PERSISTENCE_BOUND) -> str:
    """The persistence bound the calibrated method's size rests on, in words (one source for
    every output)."""
    return (f"Gaussian stationary dependence along depth of the AR(1), MA(1), AR(2), "
            f"ARMA(1,1) or fractional (ARFIMA) families with lag-1 correlation at most "
            f"{bound:g}")

#: The first words of both descriptions, and what replaces them for the GLS estimand.
DESCRIPTION_START = "Phase means are arithmetic means; their uncertainty"
DESCRIPTION_START_GLS = ("Phase levels are GLS estimates (generalised least squares within "
                         "each phase at every correlation function of the model, mixed over "
                         "its posterior; --estimand gls); their uncertainty")

DESCRIPTION = (
    "Phase means are arithmetic means; their uncertainty comes from a model of the serial "
    "dependence along depth with a noise scale per phase and one correlation function for the "
    "whole depth, averaged over AR(1), MA(1), AR(2), ARMA(1,1) and fractional-noise families by "
    "restricted likelihood (REML, Patterson & Thompson 1971; Bayesian model averaging, Hoeting "
    "et al. 1999), with isolated outlying pairs replaced by a Hampel filter (Hampel 1974) when "
    "the dependence is estimated. Tests and "
    "intervals use Welch-Satterthwaite t distributions mixed over the model grid and corrected "
    "for skewness (Hall 1992); ")

DESCRIPTION_CAL = (
    "Phase means are arithmetic means; their uncertainty comes from a model of the serial "
    "dependence along depth with a noise scale per phase and one correlation function for the "
    "whole depth, averaged over AR(1), MA(1), AR(2), ARMA(1,1) and fractional-noise families by "
    "restricted likelihood (REML, Patterson & Thompson 1971; Bayesian model averaging, Hoeting "
    "et al. 1999), with isolated outlying pairs replaced by a Hampel filter (Hampel 1974) when "
    "the dependence is estimated; the Welch-Satterthwaite t mixture over the model, corrected "
    "for skewness (Hall 1992), has its p-values calibrated for the exact layout by simulating "
    "null sweeps from every correlation function of the model (prepivoting, Beran 1988; "
    "critical values that depend on the estimated dependence, McCloskey 2017; size control "
    "for the exact design, Poetscher & Preinerstorfer 2016), for {bound}; ")


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


REFERENCES_CAL = (
    "Beran, R. (1988). Prepivoting test statistics: a bootstrap view of asymptotic "
    "refinements. Journal of the American Statistical Association 83, 687-697.",
    "McCloskey, A. (2017). Bonferroni-based size-correction for nonstandard testing problems. "
    "Journal of Econometrics 200, 17-35.",
    "Poetscher, B. M. & Preinerstorfer, D. (2016). Controlling the size of autocorrelation "
    "robust tests. Journal of Econometrics 207, 406-431 (2018; arXiv 1612.06127).",
)


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
    _batch: Batch = field(repr=False, compare=False)
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
        estimand = self._options.get("estimand", "mean")
        opts = dict(skew=self._options.get("skew", True), cross=self._options.get("cross", True),
                    estimand=estimand)
        mix = mixture(self._batch, w, **opts)
        if mix is None:
            return None
        rule = self._options.get("tost_rule", "mixture")
        tost = None if rule == "mixture" else tost_mixture(self._batch, w, rule, **opts)
        spread = mix.se[0] ** 2 + (0.0 if mix.off is None else mix.off[0] ** 2)
        rms = float(np.sqrt(np.sum(mix.w[0] * spread)))
        order = np.argsort(mix.se[0])
        cw = np.cumsum(mix.w[0][order])
        med = order[min(int(np.searchsorted(cw, 0.5)), len(order) - 1)]
        df = float(mix.df[0, med])
        cal = self._options.get("calibration")
        if cal is None:
            return Contrast(tuple(w.items()), float(mix.est[0]), rms, df, mix, tost)
        lam = calibration_factor(cal, self._batch, w, self._options.get("cal_power", CAL_POWER),
                                 estimand)
        known = self._batch.known_floor
        if known:
            # the matched null's known variance is a floor on the estimate's true variance,
            # which the simulated calibration (sweeps without it) must not shrink below: every
            # component keeps a scale of at least that sd (issue 22, defect 7's class)
            fv = sum(v ** 2 * float(known[p][0]) for p, v in w.items() if p in known)
            pos = mix.se[0][mix.w[0] > 0]
            if fv > 0 and len(pos) and pos.min() > 0:
                lam = np.maximum(lam, np.sqrt(fv) / pos.min())
        cmix = CalibratedMixture(mix, lam)
        if tost is not None:
            tost = (CalibratedMixture(tost[0], lam), tost[1])
        # se: the posterior root-mean-square standard error times the calibration factor
        return Contrast(tuple(w.items()), float(mix.est[0]), rms * float(lam[0]), df, cmix,
                        tost)


def fit_depth(y, phases: Sequence[str], layers, *, known_var=None, rng=None,
              families: Sequence[str] = FAMILIES, robust: bool = True, skew: bool = True,
              cross: bool = True, check: bool = True, tost_rule: str | None = None,
              method: str = METHOD, estimand: str = "mean", shared=None) -> DepthFit:
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
    method : str
        ``"reml-bma"`` (the 0.2.0 default: the mixture on the full 986-point grid) or
        ``"reml-cal"`` (the compact grid within ``PERSISTENCE_BOUND``, p-values calibrated by
        simulation on this layout: :mod:`.calibrate`; the default of ``--dependence robust``;
        a spike the Hampel filter replaces adds its own square once to its phase mean's
        variance instead of entering the phase's scale).
    estimand : str
        ``"mean"`` (default): contrasts of arithmetic phase means; ``"gls"``: contrasts of the
        GLS phase levels (each grid point's own, with its variance, mixed over the posterior;
        the estimand of the GLS oracle of docs/calibration.md), calibrated separately.
    shared : SharedDependence, optional
        A dependence model shared with other series (the models of one family,
        :func:`gaugetest.inference.depth_model.shared.shared_dependence`): its posterior over
        the correlation grid replaces this column's own; levels, scales, skewness and the model
        check stay this column's. The fit's ``detail``, ``summary`` and ``description`` say so.
        The shared model lives on the full grid and is not calibrated (issue 18 as it landed):
        with ``shared`` the fit is ``reml-bma``'s whatever ``method`` says, and its
        ``DepthFit.method`` says so.

    Returns
    -------
    DepthFit
    """
    y, phases, layers, known_var = check_inputs(y, phases, layers, known_var)
    rule = TOST_RULE if tost_rule is None else tost_rule
    if rule not in TOST_RULES:
        raise ValueError(f"unknown TOST rule {rule!r}; one of {', '.join(TOST_RULES)}")
    if method not in (METHOD, METHOD_CAL):
        raise ValueError(f"unknown depth-model method {method!r}; {METHOD} or {METHOD_CAL}")
    if estimand not in ESTIMANDS:
        raise ValueError(f"unknown estimand {estimand!r}; one of {', '.join(ESTIMANDS)}")
    ok = np.isfinite(y)
    cal = method == METHOD_CAL
    design = design_for(tuple(int(v) for v in layers[ok]),
                        tuple(p for p, k in zip(phases, ok) if k), tuple(families), cal)
    kv = known_var[ok][None, :] if known_var is not None else None
    if shared is not None:
        if tuple(shared.families) != tuple(families):
            raise ValueError("the shared dependence model was fitted over other families")
        # the shared posterior is over the full grid, uncalibrated (issue 18): reml-bma's fit
        design = design_for(tuple(int(v) for v in layers[ok]),
                            tuple(p for p, k in zip(phases, ok) if k), tuple(families))
        lik = None if not robust else shared.likelihood_of(y[ok], design)
        batch = fit_batch(y[ok][None, :], design, kv, robust=robust, check=check,
                          log_post=shared.log_post, lik=lik)
        fit = wrap_fit(batch, design, dict(skew=skew, cross=cross, tost_rule=rule,
                                           method=METHOD, estimand=estimand))
        return with_shared(fit, shared)
    batch = fit_batch(y[ok][None, :], design, kv, robust=robust, check=check, spikes_once=cal)
    opts = dict(skew=skew, cross=cross, tost_rule=rule, method=method, estimand=estimand)
    if cal:
        opts["calibration"] = calibration_for(design, robust, check, skew, cross,
                                              spikes_once=True)
    return wrap_fit(batch, design, opts)


#: The Methods sentence on a dependence model shared by several models (completes DESCRIPTION).
SHARED_TEXT = ("The correlation function along depth is shared by the {k} models of this run "
               "({names}): its posterior over the grid sums their restricted "
               "log-likelihoods, each model keeping its own phase levels and noise scales; the "
               "dependence estimate is {correction}. ")


def with_shared(fit: DepthFit, shared) -> DepthFit:
    """The fit's detail, summary and description naming the shared dependence model."""
    import dataclasses

    from .shared import CORRECTIONS

    info = shared.summary()
    text = SHARED_TEXT.format(k=len(shared.names), names=", ".join(shared.names),
                              correction=CORRECTIONS[shared.correction][1])
    return dataclasses.replace(
        fit, detail={**fit.detail, "shared": info},
        summary=f"shared by {len(shared.names)} models; " + fit.summary,
        description=fit.description.replace(
            "restricted likelihood (REML", "restricted likelihood summed over the models of "
            "the run (REML", 1) + " " + text.strip())


def wrap_fit(batch: Batch, design: Design, options: dict) -> DepthFit:
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
    elif not np.isfinite(batch.check_stat[0]):
        msg = "no spread within any phase (a constant column): the model check does not apply"
        chk = ModelCheck(True, None, None, batch.check_lags, msg, None)
    else:
        msg = (f"Ljung-Box on whitened residuals, {batch.check_lags} lags: "
               f"Q = {float(batch.check_stat[0]):.2f}, p = {p:.3g}")
        fb = None if passed else ("largest variance inside the 95% likelihood region of the "
                                  "dependence model")
        if not passed:
            msg += f" < {CHECK_LEVEL:g}: the dependence model does not fit; using the {fb}"
        chk = ModelCheck(passed, float(batch.check_stat[0]), p, batch.check_lags, msg, fb)
    method = options.get("method", METHOD)
    tost_text = TOST_RULE_TEXT[options.get("tost_rule", TOST_RULE)]
    refs = REFERENCES
    if method == METHOD_CAL:
        description = DESCRIPTION_CAL.format(bound=persistence_text()) + tost_text
        detail["spikes"] = ("a pair the Hampel filter replaces adds its own square once to "
                            "the variance of its phase's mean; the phase's scale is estimated "
                            "without it")
        detail["persistence_bound"] = {"lag1_max": PERSISTENCE_BOUND,
                                       "text": persistence_text()}
        detail["calibration"] = {"reps_per_grid_point": options["calibration"].reps,
                                 "power_mean": options.get("cal_power", CAL_POWER),
                                 "seed": "from the layout (pairs, phases, grid)"}
        refs = REFERENCES + REFERENCES_CAL
    else:
        description = DESCRIPTION + tost_text
    if options.get("estimand", "mean") == "gls":
        description = description.replace(DESCRIPTION_START, DESCRIPTION_START_GLS, 1)
    return DepthFit(method, description, refs, tuple(b.phase for b in design.blocks), n,
                    mean, detail, summary, chk, batch, options)
