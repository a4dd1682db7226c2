"""One dependence model along depth shared by several series: the models of one family.

Each series (one model's column: a family, or the pooled family mean) keeps its own phase
levels and noise scales; the correlation function along depth is common to all of them. At
every grid point the restricted log-likelihood of the shared model is the **sum** of the
series' own REML log-likelihoods (the series are independent and every series' levels and
scales are profiled out on its own), so the posterior over the grid is

    log p(theta | all series) = log prior(theta) + sum_k loglik_k(theta) + const,

and every series is then fitted with that posterior (``fit_batch(..., log_post=...)``): its
levels, scales, skewness and model check still come from its own data.

A **correction** step may adjust the shared log posterior before it is used (``correction``:
a name in :data:`CORRECTIONS`). It is where a bias correction of the dependence estimate plugs
in (removing phase levels biases the estimated persistence downwards; issue 17 of the project
builds that correction for one model); ``"none"`` leaves the posterior as the likelihood gives
it. Every output names the correction used.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ph = ["C"] * 20 + ["E"] * 10
>>> series = [(f"m{k}", rng.standard_normal(30), ph, np.arange(30)) for k in range(3)]
>>> shared = shared_dependence(series)
>>> shared.names, round(float(shared.weights().sum()), 6)
(('m0', 'm1', 'm2'), 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .correlation import FAMILIES, FAMILY_LABELS
from .fit import Design, check_inputs, design_for, grid_loglik, likelihood


def _no_correction(log_post: np.ndarray, designs, columns) -> np.ndarray:
    return log_post


#: Corrections of the shared log posterior: name -> (function, one-line description). A
#: function takes the (R, G) log posterior, the series' designs and their (R, n_k) columns,
#: and returns the corrected (R, G) log posterior.
CORRECTIONS: dict[str, tuple[Callable, str]] = {
    "none": (_no_correction, "the summed restricted likelihood, uncorrected"),
}
#: The correction a multi-model run uses.
DEFAULT_CORRECTION = "none"


@dataclass(frozen=True)
class SharedDependence:
    """The shared dependence model of one column: the series it was fitted to and the log
    posterior over the correlation grid (unnormalised, full grid, grid order of
    ``correlation_grid(families, ...)``)."""

    names: tuple[str, ...]
    log_post: np.ndarray = field(repr=False)
    families: tuple[str, ...] = FAMILIES
    correction: str = DEFAULT_CORRECTION
    n_pairs: tuple[int, ...] = ()
    _design: Design | None = field(default=None, repr=False, compare=False)
    _liks: dict = field(default_factory=dict, repr=False, compare=False)

    def likelihood_of(self, y: np.ndarray, design: Design):
        """The likelihood computed for a series when the model was fitted (None if this
        series was not one of them): a fit on the shared model need not compute it again."""
        return self._liks.get((y.tobytes(), id(design)))

    def weights(self) -> np.ndarray:
        """Normalised posterior weights over the grid."""
        lp = self.log_post - np.max(self.log_post)
        w = np.exp(lp)
        return w / w.sum()

    def summary(self) -> dict:
        """Posterior mass per correlation family, the posterior mean lag-1 correlation and
        the most likely grid point (JSON-able)."""
        grid = self._design.grid
        w = self.weights()
        fam = {FAMILY_LABELS[f]: float(w[grid.family_of == i].sum())
               for i, f in enumerate(grid.families)}
        lag1 = float(np.sum(w * grid.acf[:, 1])) if grid.acf.shape[1] > 1 else 0.0
        g = int(np.argmax(self.log_post))
        fi = int(grid.family_of[g])
        start = int(np.flatnonzero(grid.family_of == fi)[0])
        params = [float(v) for v in grid.params[fi][g - start]]
        return {"models": list(self.names), "n_pairs": list(self.n_pairs),
                "families": fam, "lag1": lag1,
                "most_likely": {"family": FAMILY_LABELS[grid.families[fi]], "params": params},
                "correction": self.correction,
                "correction_description": CORRECTIONS[self.correction][1]}

    def text(self) -> str:
        """One line: 'shared by 3 models: AR(1) 0.61, ARMA(1,1) 0.22, ...; lag-1 corr 0.55'."""
        s = self.summary()
        top = sorted(s["families"].items(), key=lambda kv: -kv[1])[:3]
        return (f"dependence shared by {len(self.names)} models: "
                + ", ".join(f"{k} {v:.2f}" for k, v in top) + f"; lag-1 corr {s['lag1']:.2f}")


def shared_dependence(series: Sequence, families: Sequence[str] = FAMILIES,
                      robust: bool = True, correction: str = DEFAULT_CORRECTION
                      ) -> SharedDependence:
    """Fit one correlation function to several series.

    Parameters
    ----------
    series : sequence of (name, y, phases, layers)
        One column per model (NaN for missing pairs, left out as in ``fit_depth``).
    families : the correlation families of the grid (default: those of ``fit_depth``).
    robust : Hampel-filter isolated spikes before the likelihood (as ``fit_depth``).
    correction : a name in :data:`CORRECTIONS`.

    Returns
    -------
    SharedDependence
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; one of {', '.join(CORRECTIONS)}")
    names, designs, cols, total, liks = [], [], [], None, {}
    for name, y, phases, layers in series:
        y, phases, layers, _ = check_inputs(y, phases, layers, None)
        ok = np.isfinite(y)
        design = design_for(tuple(int(v) for v in layers[ok]),
                            tuple(p for p, k in zip(phases, ok) if k), tuple(families))
        lik = likelihood(y[ok][None, :], design, robust)
        ll = lik[0] - design.grid.log_prior[None, :]
        liks[(y[ok].tobytes(), id(design))] = lik
        total = ll if total is None else total + ll
        names.append(str(name))
        designs.append(design)
        cols.append(y[ok][None, :])
    if total is None:
        raise ValueError("a shared dependence model needs at least one series")
    lp = CORRECTIONS[correction][0](designs[0].grid.log_prior[None, :] + total, designs, cols)
    widest = max(designs, key=lambda d: d.grid.acf.shape[1])
    return SharedDependence(tuple(names), lp[0], tuple(families), correction,
                            tuple(int(c.shape[1]) for c in cols), widest, liks if robust else {})


def shared_log_posterior(columns: Sequence[np.ndarray], designs: Sequence[Design],
                         robust: bool = True, correction: str = DEFAULT_CORRECTION,
                         liks=None) -> np.ndarray:
    """Batched: the shared log posterior (R, G) of R replicate families, series k given as
    (R, n_k) on ``designs[k]`` (NaN-free). What the across-models calibration uses; ``liks``:
    each series' :func:`~gaugetest.inference.depth_model.fit.likelihood`, when computed
    already."""
    if liks is None:
        total = sum(grid_loglik(Y, d, robust) for Y, d in zip(columns, designs))
    else:
        total = sum(lk[0] - d.grid.log_prior[None, :] for lk, d in zip(liks, designs))
    return CORRECTIONS[correction][0](designs[0].grid.log_prior[None, :] + total, designs,
                                      columns)
