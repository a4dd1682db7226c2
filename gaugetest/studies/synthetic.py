"""Seeded generator of synthetic sweeps, for ``gaugetest demo``, tests and calibration.

The model (all numbers illustrative, chosen inside the ranges SCIENCE.md reports):

* raw cosine of pair L, family f: ``raw_f + 0.02 * L / n + e_raw`` (small, as in
  real sweeps), ``e_raw ~ N(0, 0.005^2)``;
* aligned cosine: ``raw + null_f + effect(phase) + e``, where ``null_f`` is the
  aligned cosine unrelated matrices would already reach (0.38-0.80, below the
  Gaussian values because real spectra are not flat), ``effect`` is added in the
  late phase only, and ``e`` is AR(1) along depth with lag-1 correlation ``rho``
  and correlation ``family_corr`` between families of one pair.

The output is in the exact FORMATS.md shapes and marked ``"synthetic": true``.
"""
from __future__ import annotations

import numpy as np

from ..io import STANDARD_FAMILIES
from ..phases import resolve_phase_map

#: Illustrative aligned-cosine baseline of unrelated matrices per family.
NULL_LEVEL = {"q_proj": 0.55, "k_proj": 0.80, "v_proj": 0.78, "o_proj": 0.70,
              "gate_proj": 0.40, "up_proj": 0.38, "down_proj": 0.72}
RAW_LEVEL = {"q_proj": 0.030, "k_proj": 0.050, "v_proj": 0.020, "o_proj": 0.020,
             "gate_proj": 0.040, "up_proj": 0.030, "down_proj": 0.030}

DEMO_SEED = 20261127


def ar1_noise(n: int, k: int, rho: float, family_corr: float, rng: np.random.Generator,
              sd: float = 1.0) -> np.ndarray:
    """Stationary AR(1) series along axis 0 (lag-1 correlation ``rho``), k columns with
    equicorrelation ``family_corr`` between columns; marginal sd ``sd``."""
    c = np.full((k, k), family_corr)
    np.fill_diagonal(c, 1.0)
    chol = np.linalg.cholesky(c)
    eps = rng.standard_normal((n, k)) @ chol.T
    out = np.empty((n, k))
    out[0] = eps[0]
    s = np.sqrt(1 - rho ** 2)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + s * eps[t]
    return sd * out


def synthetic_sweeps(num_layers: int = 64, *, effect: float = 0.03, late_phase: str = "E",
                     rho: float = 0.5, family_corr: float = 0.5, noise_sd: float = 0.01,
                     families=STANDARD_FAMILIES, seed: int = DEMO_SEED,
                     model: str | None = None, matched_null: bool = False,
                     null_draws: int = 8, null_sd: float = 0.004) -> tuple[dict, dict]:
    """Make a (null, aligned) pair of sweep dicts.

    Parameters
    ----------
    num_layers : int
    effect : float
        Added to every aligned cosine in ``late_phase`` (auto phase map).
    rho, family_corr, noise_sd : float
        AR(1) lag-1 correlation along depth, between-family correlation, noise sd.
    seed : int
    matched_null : bool
        Also write a matched null as ``gaugetest measure`` does: per pair and family an
        ``aligned_null_mean`` = raw + the family's null level + the error of averaging
        ``null_draws`` draws of sd ``null_sd``, and that ``aligned_null_sd``. The excess is then
        ``effect`` in the late phase plus noise.

    Examples
    --------
    >>> null, aligned = synthetic_sweeps(8, seed=1)
    >>> len(null["pair_results"]), sorted(aligned["aligned_cos"]["q_proj"])[:3]
    (7, ['0', '1', '2'])
    """
    rng = np.random.default_rng(seed)
    n_pairs = num_layers - 1
    fams = list(families)
    pmap = resolve_phase_map("auto", num_layers)
    phases = [pmap.phase_of(L, num_layers) for L in range(n_pairs)]
    e = ar1_noise(n_pairs, len(fams), rho, family_corr, rng, noise_sd)
    e_raw = rng.normal(0, 0.005, (n_pairs, len(fams)))
    e_null = rng.normal(0, null_sd / np.sqrt(null_draws), (n_pairs, len(fams)))
    name = model or f"synthetic-{num_layers}"
    null = {"model": name, "synthetic": True, "num_layers": num_layers, "pair_results": []}
    if matched_null:
        null.update({"gauge": "orthogonal", "null_draws": null_draws,
                     "null": "spectrum-matched (synthetic: gaugetest demo generator)"})
    aligned = {"model": name, "synthetic": True, "num_layers": num_layers,
               "aligned_cos": {f: {} for f in fams}}
    for L in range(n_pairs):
        entry = {}
        for j, f in enumerate(fams):
            raw = RAW_LEVEL.get(f, 0.03) + 0.02 * L / num_layers + e_raw[L, j]
            ali = raw + NULL_LEVEL.get(f, 0.6) + (effect if phases[L] == late_phase else 0.0) + e[L, j]
            entry[f] = {"cos": round(float(raw), 6)}
            if matched_null:
                entry[f]["aligned_null_mean"] = round(
                    float(raw + NULL_LEVEL.get(f, 0.6) + e_null[L, j]), 6)
                entry[f]["aligned_null_sd"] = null_sd
            aligned["aligned_cos"][f][str(L)] = round(float(min(ali, 0.999)), 6)
        null["pair_results"].append({"L": L, "L_next": L + 1, "families": entry})
    return null, aligned


def demo_sweeps(num_layers: int) -> tuple[dict, dict]:
    """The bundled demo inputs: 64 layers with a planted E > C effect and a matched null (so
    the excess is analysed), 36 layers (no phase E) without one (so delta is)."""
    return synthetic_sweeps(num_layers, effect=0.03, seed=DEMO_SEED + num_layers,
                            model=f"synthetic-{num_layers} (gaugetest demo, seed "
                                  f"{DEMO_SEED + num_layers})", matched_null=num_layers == 64)


#: Depths of the demo family (``gaugetest demo``): every one has phases E and C under the auto
#: map (28 and 40 layers by the fractional rule, 64 by Qwen3-32B's boundaries).
FAMILY_DEPTHS = (28, 40, 64)


def family_sweeps(num_layers: int) -> tuple[dict, dict]:
    """A model of the demo family: the same generator and planted E > C effect (0.03) as the
    64-layer demo model, with a matched null; 64 layers is exactly :func:`demo_sweeps` (64)."""
    if num_layers == 64:
        return demo_sweeps(64)
    return synthetic_sweeps(num_layers, effect=0.03, seed=DEMO_SEED + num_layers,
                            model=f"synthetic-{num_layers} (gaugetest demo, seed "
                                  f"{DEMO_SEED + num_layers})", matched_null=True)
