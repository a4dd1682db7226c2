"""Reporting of the across-models bank (``gaugetest calibrate --across``): per rule the worst
size and coverage over the cells, with common and with heterogeneous effects, the power
against the oracle by family size, the ranking (validity first, then power), and every cell of
the first rule."""
from __future__ import annotations

import math

import numpy as np

from .across import HETERO, KS

ACROSS_DESCRIPTIONS = {
    "fe": "common effect on the shared depth model: inverse-variance weights, the models' t "
          "mixtures combined on the shared grid, Satterthwaite df",
    "re-dl": "random effects (DerSimonian-Laird tau^2) on the shared depth model, within-model "
             "Satterthwaite df",
    "re-hm": "random effects (Hartung-Makambi tau^2, always > 0) on the shared depth model",
    "re-hm-sw": "as re-hm, the df also counting the uncertainty of tau^2 (K - 1 df)",
    "hksj": "random effects (Paule-Mandel tau^2) with the Hartung-Knapp-Sidik-Jonkman variance, "
            "t with K - 1 df (weights from the shared depth model)",
    "mhksj": "as hksj with the modified variance (never below the random-effects one; Roever "
             "et al. 2015)",
    "im": "Ibragimov-Mueller: t test of the K per-model estimates, equal weights, K - 1 df (no "
          "per-model standard error)",
    "fe-own": "as fe, every model's dependence fitted alone (no sharing), each model summarised "
              "by its posterior mean variance",
    "re-hm-sw-own": "as re-hm-sw, every model's dependence fitted alone",
}


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def _ratio(c, m) -> float:
    op = c.rate(m, "oracle_power")
    return c.rate(m, "power") / op if op > 0 else float("nan")


def _cov(c, m) -> float:
    return min(c.rate(m, k) for k in ("cover_early", "cover_late", "cover_diff"))


def worst(cells, totals, m) -> dict:
    """The worst value of every criterion over the cells, and power by family size."""
    out = {"size": max(totals[c.key].rate(m, "size") for c in cells),
           "coverage": min(_cov(totals[c.key], m) for c in cells),
           "tost": max(totals[c.key].rate(m, "tost") for c in cells)}
    for h in HETERO:
        out[f"size_h{h:g}"] = max(totals[c.key].rate(m, f"size_h{h:g}") for c in cells)
        out[f"cover_h{h:g}"] = min(totals[c.key].rate(m, f"cover_h{h:g}") for c in cells)
        out[f"size_cond_h{h:g}"] = max(totals[c.key].rate(m, f"size_cond_h{h:g}")
                                       for c in cells)
    for k in KS:
        r = [_ratio(totals[c.key], m) for c in cells if c.k == k]
        out[f"ratio_K{k}"] = float(np.median(r)) if r else float("nan")
        out[f"min_ratio_K{k}"] = float(min(r)) if r else float("nan")
    return out


def _ranking(cells, totals, methods, alpha) -> list[str]:
    rows = []
    for m in methods:
        w = worst(cells, totals, m)
        excess = max(w["size"] - (alpha + 0.01), 0.93 - w["coverage"],
                     *(w[f"size_h{h:g}"] - (alpha + 0.01) for h in HETERO),
                     *(0.93 - w[f"cover_h{h:g}"] for h in HETERO), 0.0)
        med = float(np.median([_ratio(totals[c.key], m) for c in cells]))
        rows.append((round(excess, 3), -med, m, w, med))
    rows.sort(key=lambda r: (r[0], r[1]))
    hs = " | ".join(f"max size h={h:g} | min cov h={h:g}" for h in HETERO)
    lines = [f"| rank | method | worst validity shortfall | max size | min coverage | {hs} | "
             "max TOST size | " + " | ".join(f"median ratio K={k}" for k in KS) + " |",
             "|---|---|---|---|---|" + "---|---|" * len(HETERO) + "---|" + "---|" * len(KS)]
    for i, (exc, _, m, w, _) in enumerate(rows, 1):
        hv = " | ".join(f"{w[f'size_h{h:g}']:.3f} | {w[f'cover_h{h:g}']:.3f}" for h in HETERO)
        lines.append(f"| {i} | `{m}` | {exc:.3f} | {w['size']:.3f} | {w['coverage']:.3f} | {hv} "
                     f"| {w['tost']:.3f} | "
                     + " | ".join(f"{w[f'ratio_K{k}']:.2f}" for k in KS) + " |")
    return lines


def to_markdown(cells, totals, methods, *, reps, seed, alpha, power, margin_se,
                command) -> str:
    from .across import DEPTHS, MIXED, PHASES, SCALES

    main = methods[0]
    lvl = f"{100 * (1 - alpha):g}%"
    lines = [
        "# Across models: size, coverage and power of the family test",
        "",
        f"Reproduce: `{command}` (seeded; a cell's numbers do not depend on `--jobs` or on the "
        "other cells).",
        "",
        f"Every cell simulates {reps} families of K models (K = {', '.join(map(str, KS))}) per "
        f"dependence process. Each chunk of 100 families draws every model's depth from "
        f"{{{', '.join(map(str, DEPTHS))}}} layers ({PHASES} phase map, E vs C) and its noise "
        f"scale log-uniformly in [{SCALES[0]:g}, {SCALES[1]:g}]; `mixed` gives the models "
        f"different processes ({', '.join(MIXED)}). Rates ± their Monte Carlo standard error "
        f"(about {_se(alpha, reps):.3f} at {alpha:g}).",
        "",
        f"- **size**: rejection rate of the one-sided family test of E − C > 0 at alpha = "
        f"{alpha:g} with no effect in any model (target <= {alpha + 0.01:g});",
        f"- **coverage**: of the {lvl} interval of the family's E − C, C level and E level "
        "(target >= 0.93; the smallest of the three);",
        f"- **heterogeneous effects** (h = {', '.join(f'{h:g}' for h in HETERO)}): every "
        "model's E − C is u_k ~ N(0, tau^2), tau = h x the median of the models' true standard "
        "errors of their E − C mean contrast (I^2 about 20% and 50%), family mean 0: size and "
        f"coverage **for the family mean** (targets as above); *cond* is the size for the "
        "inverse-variance mean of these models' own effects;",
        f"- **power**: with a common effect that gives the **oracle** (every model's true "
        f"covariance: GLS phase levels per model, combined by inverse variance, z test) power "
        f"{power:g}; **ratio** = power / the oracle's on the same data (targets: >= 0.85 at "
        "K >= 4, >= 0.75 at K = 2); **ratio (mean)** against the mean oracle (the same with the "
        "arithmetic-mean contrast, the depth model's estimand);",
        f"- **TOST size**: equivalence declared when the truth sits on a margin of {margin_se:g} "
        "true standard errors (worst of margins and of C, E, E − C).",
        "",
        "Rules:",
        "",
    ]
    for m in methods:
        lines.append(f"- `{m}`: {ACROSS_DESCRIPTIONS.get(m, m)}")
    lines += ["", "## Ranking", "",
              f"Validity first -- the worst shortfall over size (<= {alpha + 0.01:g}) and "
              "coverage (>= 0.93), with common and with heterogeneous effects -- then the median "
              "power ratio to the oracle.", ""]
    lines += _ranking(cells, totals, methods, alpha)
    lines += ["", "## Power ratio to the oracle by family size (median, min)", "",
              "| method | " + " | ".join(f"K = {k}" for k in KS) + " |",
              "|---|" + "---|" * len(KS)]
    for m in methods:
        w = worst(cells, totals, m)
        lines.append(f"| `{m}` | " + " | ".join(
            f"{w[f'ratio_K{k}']:.2f} ({w[f'min_ratio_K{k}']:.2f})" for k in KS) + " |")
    lines += ["", f"## `{main}` in every cell", "",
              "| process | K | size | cover | power | ratio | ratio (mean) | TOST size | "
              + " | ".join(f"size h={h:g} | cover h={h:g} | cond h={h:g}" for h in HETERO)
              + " |", "|---|---|---|---|---|---|---|---|" + "---|---|---|" * len(HETERO)]
    for cell in cells:
        c = totals[cell.key]
        n = c.reps

        def r(k):
            p = c.rate(main, k)
            return f"{p:.3f} ± {_se(p, n):.3f}"
        mp = c.rate(main, "mean_oracle_power")
        lines.append(f"| {cell.label} | {cell.k} | {r('size')} | {_cov(c, main):.3f} | "
                     f"{r('power')} | {_ratio(c, main):.2f} | "
                     f"{c.rate(main, 'power') / mp if mp else float('nan'):.2f} | "
                     f"{c.rate(main, 'tost'):.3f} | "
                     + " | ".join(f"{r(f'size_h{h:g}')} | {c.rate(main, f'cover_h{h:g}'):.3f} | "
                                  f"{c.rate(main, f'size_cond_h{h:g}'):.3f}" for h in HETERO)
                     + " |")
    for title, key in (("Size (common effect 0)", "size"),
                       *((f"Size for the family mean, h = {h:g}", f"size_h{h:g}")
                         for h in HETERO)):
        lines += ["", f"## {title}, every rule", "",
                  "| process | K | " + " | ".join(f"`{m}`" for m in methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for cell in cells:
            c = totals[cell.key]
            lines.append(f"| {cell.label} | {cell.k} | "
                         + " | ".join(f"{c.rate(m, key):.3f}" for m in methods) + " |")
    lines += ["", "## Power ratio to the oracle, every rule", "",
              "| process | K | " + " | ".join(f"`{m}`" for m in methods) + " |",
              "|---|---|" + "---|" * len(methods)]
    for cell in cells:
        c = totals[cell.key]
        lines.append(f"| {cell.label} | {cell.k} | "
                     + " | ".join(f"{_ratio(c, m):.2f}" for m in methods) + " |")
    lines += ["", "## Processes", ""]
    seen = set()
    for cell in cells:
        if cell.name not in seen:
            seen.add(cell.name)
            lines.append(f"- **{cell.label}** (`{cell.name}`): {cell.description}")
    return "\n".join(lines) + "\n"


def to_json(cells, totals, settings) -> dict:
    import platform

    import scipy

    from .._version import __version__
    return {"generator": f"gaugetest calibrate --across {__version__}", "settings": settings,
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__},
            "cells": [{"process": c.name, "k": c.k, **totals[c.key].to_dict()} for c in cells]}
