"""Size of the non-superiority test at its boundary, per noise process:
``gaugetest calibrate --boundary``.

For each scenario of the calibration bank (:mod:`gaugetest.studies.scenarios`: AR(1) 0-0.9,
AR(2), ARMA(1,1), long memory, the shared-layer MA(1), white measurement noise, drift, heavy
tails, outliers, heteroscedastic phases, right skew, residuals of a real sweep) and each layout,
pooled series are simulated with LATE − EARLY = m_diff exactly: the bank's noise, with the LATE
phase raised by m_diff = ``margin_se`` true standard errors of the arithmetic-mean difference.
The study counts how often H0: LATE − EARLY ≥ m_diff is rejected at alpha -- the test's size at
its boundary, which should be at most alpha -- by

* ``reml-bma``: the robust default (the depth model's one-sided p of the contrast on its
  mixture, ``Contrast.p_less(m_diff)``);
* ``reml-bma-idf``: the same with ``--tost-rule inflated-df`` (the distribution the
  difference's TOST and the non-superiority test then use);
* ``iid``: the iid analysis's test (the larger of the Welch t and the studentized-bootstrap p;
  ``gaugetest.inference.noninferiority.welch_bootstrap``).

Chunks have their own seeds (seed, the cell's key, chunk), so a cell's numbers do not depend on
``jobs`` or on the other cells.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from ..parallel import map_tasks

CHUNK = 250
METHODS = ("reml-bma", "reml-bma-idf", "iid")
IID_RESAMPLES = 999


def run_chunk(task) -> tuple[str, int, dict]:
    """One chunk of one cell: (cell key, reps, rejections by method)."""
    from ..inference.noninferiority import welch_bootstrap
    from .methods import METHODS as ADAPTERS, clear_fit_cache

    cell, chunk, reps, seed, alpha, margin_se = task
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(cell.key.encode()),
                                                        chunk]))
    lay = cell.layout
    draw = cell.scenario.draw(lay, reps, rng)
    ph = np.asarray(lay.phases)
    late, early = ph == lay.late, ph == lay.early
    w = late / late.sum() - early / early.sum()
    m = margin_se * math.sqrt(w @ cell.scenario.covariance(lay) @ w)
    y = draw.y + m * late
    at = np.full(reps, m)
    out = {}
    clear_fit_cache()
    res, _ = ADAPTERS["reml-bma"][0](y, lay, draw.known_var)
    out["reml-bma"] = int(np.sum(res.p_less("diff", at) < alpha))
    res, _ = ADAPTERS["reml-bma-tost-idf"][0](y, lay, draw.known_var)   # the same fit
    out["reml-bma-idf"] = int(np.sum(res.tost_p_less("diff", at) < alpha))
    clear_fit_cache()
    hits = 0
    for i in range(reps):
        r = welch_bootstrap(y[i, late][:, None], y[i, early][:, None], m, alpha,
                            IID_RESAMPLES, rng)[0]
        hits += r["p_value"] < alpha
    out["iid"] = int(hits)
    return cell.key, reps, out


def boundary_study(cells, *, reps: int = 2000, seed: int = 0, alpha: float = 0.05,
                   margin_se: float = 3.0, jobs: int = 1, progress=None) -> dict:
    """{cell key: {"reps": n, method: rejections}} for each cell."""
    tasks = [(cell, k, min(CHUNK, reps - k * CHUNK), seed, alpha, margin_se)
             for cell in cells for k in range(math.ceil(reps / CHUNK))]
    out = {c.key: {"reps": 0, **dict.fromkeys(METHODS, 0)} for c in cells}
    for key, n, counts in map_tasks(run_chunk, tasks, jobs):
        out[key]["reps"] += n
        for k, v in counts.items():
            out[key][k] += v
        if progress:
            progress(n)
    return out


def to_markdown(cells, results: dict, *, reps: int, alpha: float, margin_se: float,
                command: str) -> str:
    """The report: one row per scenario, the size of each method per layout."""
    layouts = list(dict.fromkeys(c.layout for c in cells))
    lines = ["# Size of the non-superiority test at its boundary", "",
             f"Reproduce: `{command}` (seeded; counts do not depend on `--jobs`).", "",
             "The test of H0: LATE − EARLY ≥ m_diff against H1: LATE − EARLY < m_diff (the "
             "`noninferiority` rows; [methodology](methodology.md#non-superiority-of-the-"
             "difference---difference-margin)) when the truth sits exactly on the boundary: "
             "the pooled series of every scenario of the calibration bank "
             "([calibration](calibration.md)), the LATE phase raised by m_diff = "
             f"{margin_se:g} true standard errors of the arithmetic-mean difference. Each cell "
             f"is the share of {reps} replicates in which the test rejected at alpha = "
             f"{alpha:g} (its size; at most {alpha:g} is the target), ± its Monte Carlo "
             "standard error. `reml-bma`: the robust default; `reml-bma-idf`: the same with "
             "`--tost-rule inflated-df`; `iid`: the iid analysis's test (larger of the Welch t "
             f"and the studentized-bootstrap p, {IID_RESAMPLES} resamples).", ""]
    head = ["scenario"] + [f"{lay.num_layers} layers {lay.late} vs {lay.early}: {m}"
                           for lay in layouts for m in METHODS]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    worst = {(lay, m): (0.0, "") for lay in layouts for m in METHODS}
    for name in dict.fromkeys(c.scenario.name for c in cells):
        row = [next(c.scenario.label for c in cells if c.scenario.name == name) or name]
        for lay in layouts:
            cell = next((c for c in cells if c.scenario.name == name and c.layout == lay), None)
            for m in METHODS:
                if cell is None:
                    row.append("")
                    continue
                r = results[cell.key]
                p = r[m] / r["reps"]
                se = math.sqrt(p * (1 - p) / r["reps"])
                flag = " **!**" if p - 2 * se > alpha else ""
                row.append(f"{p:.3f} ± {se:.3f}{flag}")
                if p > worst[(lay, m)][0]:
                    worst[(lay, m)] = (p, row[0])
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "**!**: the size exceeds alpha by more than two Monte Carlo standard errors.",
              "", "Worst cell per layout and method:", ""]
    for (lay, m), (p, name) in worst.items():
        lines.append(f"- {lay.num_layers} layers, {m}: {p:.3f} ({name})")
    return "\n".join(lines) + "\n"
