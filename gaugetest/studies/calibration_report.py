"""Reporting of the calibration study: the worst case of every criterion per method, the
ranking (worst case first, then median power), the cells where a target is missed, and the
Markdown report and JSON counts ``gaugetest calibrate`` writes."""
from __future__ import annotations

import math

import numpy as np

from .calibration import Cell
from .methods import METHODS


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def summarize(cells, totals: dict, methods) -> dict:
    """Per method: the worst value of each criterion across cells, with where it happens."""
    out = {}
    for m in methods:
        worst = {"size": (-1, None), "coverage": (2, None), "tost": (-1, None),
                 "tost_power": (2, None), "ratio": (9, None), "ratio_mean": (9, None)}
        for cell in cells:
            c = totals[cell.key]
            if m not in c.by_method:
                continue
            size, tost = c.rate(m, "size"), c.rate(m, "tost")
            cov = min(c.rate(m, k) for k in ("cover_early", "cover_late", "cover_diff"))
            op, mp = c.rate(m, "oracle_power"), c.rate(m, "mean_oracle_power")
            pw = c.rate(m, "power")
            ratio = pw / op if op > 0 else float("nan")
            rmean = pw / mp if mp > 0 else float("nan")
            if size > worst["size"][0]:
                worst["size"] = (size, cell.key)
            if cov < worst["coverage"][0]:
                worst["coverage"] = (cov, cell.key)
            if tost > worst["tost"][0]:
                worst["tost"] = (tost, cell.key)
            tpow = c.rate(m, "tost_power")
            if tpow < worst["tost_power"][0]:
                worst["tost_power"] = (tpow, cell.key)
            if ratio < worst["ratio"][0]:
                worst["ratio"] = (ratio, cell.key)
            if rmean < worst["ratio_mean"][0]:
                worst["ratio_mean"] = (rmean, cell.key)
        out[m] = worst
    return out


def to_json(cells, totals: dict, settings: dict) -> dict:
    from .._version import __version__
    import platform

    import scipy
    return {"generator": f"gaugetest calibrate {__version__}", "settings": settings,
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__},
            "cells": [{"scenario": c.scenario.name, "num_layers": c.layout.num_layers,
                       "late": c.layout.late, "early": c.layout.early,
                       "phase_map": c.layout.phase_map, **totals[c.key].to_dict()}
                      for c in cells]}


def _layouts_text(cells) -> str:
    seen = {}
    for c in cells:
        lay = c.layout
        seen.setdefault((lay.num_layers, lay.late, lay.early),
                        f"{lay.num_layers} layers, {lay.late} ({len(lay.rows(lay.late))} pairs) "
                        f"vs {lay.early} ({len(lay.rows(lay.early))} pairs)")
    return "; ".join(seen.values())


def shortfall(totals: dict, cells, method: str, alpha: float) -> dict:
    """How far a method misses the validity targets, worst cell: size - (alpha + 0.01),
    0.93 - coverage, TOST size - (alpha + 0.01); each floored at 0."""
    out = {"size": 0.0, "coverage": 0.0, "tost": 0.0}
    for cell in cells:
        c = totals[cell.key]
        cov = min(c.rate(method, k) for k in ("cover_early", "cover_late", "cover_diff"))
        out["size"] = max(out["size"], c.rate(method, "size") - (alpha + 0.01))
        out["coverage"] = max(out["coverage"], 0.93 - cov)
        out["tost"] = max(out["tost"], c.rate(method, "tost") - (alpha + 0.01))
    return out


def _ranking(cells, totals, methods, alpha) -> list[str]:
    rows = []
    for m in methods:
        sf = shortfall(totals, cells, m, alpha)
        ratios = [totals[c.key].rate(m, "power") / max(totals[c.key].rate(m, "oracle_power"),
                                                         1e-12) for c in cells]
        tpow = float(np.median([totals[c.key].rate(m, "tost_power") for c in cells]))
        rows.append((max(sf["size"], sf["coverage"]), sf["tost"], -float(np.median(ratios)), m,
                     sf, float(np.median(ratios)), float(min(ratios)), tpow))
    # ties (methods that differ only in their TOST) are broken by the TOST's power
    rows.sort(key=lambda r: (round(r[0], 3), round(r[1], 3), r[2], -r[7]))
    lines = ["| rank | method | worst size excess | worst coverage shortfall | worst TOST size "
             "excess | median power ratio | min power ratio | median TOST power |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        sf = r[4]
        lines.append(f"| {i} | `{r[3]}` | {sf['size']:.3f} | {sf['coverage']:.3f} | "
                     f"{sf['tost']:.3f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.3f} |")
    return lines


def _misses(cells, totals, methods, alpha) -> list[str]:
    """Every cell where the first method misses a validity target, with the best any method
    reached there."""
    main = methods[0]
    lines = ["| scenario | layers | criterion | target | `" + main + "` | best of all methods |",
             "|---|---|---|---|---|---|"]
    crit = (("size", lambda c, m: c.rate(m, "size"), alpha + 0.01, max),
            ("coverage", lambda c, m: min(c.rate(m, k) for k in ("cover_early", "cover_late",
                                                                  "cover_diff")), 0.93, min),
            ("TOST size", lambda c, m: c.rate(m, "tost"), alpha + 0.01, max))
    n = 0
    for cell in cells:
        c = totals[cell.key]
        for name, fn, target, worse in crit:
            v = fn(c, main)
            miss = v > target if worse is max else v < target
            if not miss:
                continue
            vals = {m: fn(c, m) for m in methods}
            best = (min if worse is max else max)(vals, key=vals.get)
            op = "<=" if worse is max else ">="
            lines.append(f"| {cell.scenario.label} | {cell.layout.num_layers} | {name} | "
                         f"{op} {target:.2f} | {v:.3f} ± {_se(v, c.reps):.3f} | "
                         f"{vals[best]:.3f} (`{best}`) |")
            n += 1
    if n == 0:
        lines.append("| (none) | | | | | |")
    return lines


def _cell_name(cell: Cell) -> str:
    lay = cell.layout
    return (f"{cell.scenario.label} | {lay.num_layers}: {lay.late} {len(lay.rows(lay.late))} vs "
            f"{lay.early} {len(lay.rows(lay.early))}")


def _short_key(key: str, cells) -> str:
    for c in cells:
        if c.key == key:
            return f"{c.scenario.label}, {c.layout.num_layers} layers"
    return key


def to_markdown(cells, totals: dict, methods, *, reps: int, seed: int, alpha: float,
                power: float, margin_se: float, command: str) -> str:
    lvl = f"{100 * (1 - alpha):g}%"
    lines = [
        "# Calibration: size, coverage, TOST size and power on the scenario bank",
        "",
        f"Reproduce: `{command}` (seeded; the numbers of a cell do not depend on `--jobs` or on "
        "which other cells run).",
        "",
        f"Every cell simulates {reps} sweeps of the pooled delta series with no effect anywhere "
        f"(scenario bank: `gaugetest.studies.scenarios`; layouts: {_layouts_text(cells)}) and applies "
        "every method to the same data. Rates are shown ± their Monte Carlo standard error "
        f"(about {_se(alpha, reps):.3f} for a size of {alpha:g}).",
        "",
        f"- **size**: rejection rate of the one-sided LATE > EARLY test at alpha = {alpha:g} "
        f"(target <= {alpha + 0.01:g});",
        f"- **coverage**: of the {lvl} interval for the EARLY mean, the LATE mean and LATE - "
        "EARLY (target >= 0.93); *min cov* is the smallest of the three;",
        f"- **TOST size**: rate of declaring equivalence when the truth sits on a margin of "
        f"{margin_se:g} true standard errors (worst of both margins and the three targets; "
        f"target <= {alpha + 0.01:g}); **TOST power**: rate of declaring equivalence when the "
        "truth is 0, with the same margins (lowest of the three targets); the depth model's "
        "TOST rules (`--tost-rule`) are compared in [tost-study](tost-study.md);",
        f"- **power**: rejection rate when LATE is higher by the effect that gives the GLS "
        f"oracle (phase levels, true covariance, z test) power {power:g}; **ratio** = power / "
        "the GLS oracle's power on the same data (aim >= 0.85); **ratio (mean)** = power / the "
        "power of the arithmetic-mean contrast with its true variance (the best any method for "
        "this estimand can do);",
        "- **check** (depth-model methods): how often the model check failed and the fallback "
        "was used.",
        "",
        "The ± of a power ratio treats the method's and the oracle's rejections as independent; "
        "they are positively correlated (same data), so it overstates the Monte Carlo error.",
        "",
        "Methods:",
        "",
    ]
    for m in methods:
        lines.append(f"- `{m}`: {METHODS[m][1]}")
    summ = summarize(cells, totals, methods)
    lines += ["", "## Ranking by worst case", "",
              "Validity first -- the larger of the worst size excess over "
              f"{alpha + 0.01:g} and the worst coverage shortfall below 0.93, then the worst TOST "
              "size excess -- and power second (median ratio to the GLS oracle, then median TOST "
              "power). The first "
              "method of `--methods` is the one reported cell by cell below.", ""]
    lines += _ranking(cells, totals, methods, alpha)
    lines += ["", f"## Where `{methods[0]}` misses a target", "",
              "Each miss with the best value any compared method reached in that cell (a method "
              "that reaches it may fail elsewhere; see the ranking).", ""]
    lines += _misses(cells, totals, methods, alpha)
    lines += ["", "## Worst case across the bank", "",
              "| method | max size | min coverage | max TOST size | min TOST power | "
              "median TOST power | min power ratio | min ratio (mean) |",
              "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        w = summ[m]
        lines.append(f"| `{m}` | {w['size'][0]:.3f} ({_short_key(w['size'][1], cells)}) | "
                     f"{w['coverage'][0]:.3f} ({_short_key(w['coverage'][1], cells)}) | "
                     f"{w['tost'][0]:.3f} ({_short_key(w['tost'][1], cells)}) | "
                     f"{w['tost_power'][0]:.3f} ({_short_key(w['tost_power'][1], cells)}) | "
                     f"{np.median([totals[c.key].rate(m, 'tost_power') for c in cells]):.3f} | "
                     f"{w['ratio'][0]:.2f} ({_short_key(w['ratio'][1], cells)}) | "
                     f"{w['ratio_mean'][0]:.2f} ({_short_key(w['ratio_mean'][1], cells)}) |")
    lines.append("")
    # the default in full
    main = methods[0]
    lines += [f"## `{main}` in every cell", "",
              "| scenario | layers | size | cover EARLY | cover LATE | cover diff | TOST size | "
              "TOST power | power | ratio | ratio (mean) | check |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        c = totals[cell.key]
        n = c.reps

        def r(k):
            p = c.rate(main, k)
            return f"{p:.3f} ± {_se(p, n):.3f}"
        op, mp, pw = (c.rate(main, "oracle_power"), c.rate(main, "mean_oracle_power"),
                      c.rate(main, "power"))
        # delta-method SE of power / oracle power, counting the two as independent (they are
        # positively correlated on the same data, so this overstates the error)
        r_se = math.sqrt(_se(pw, n) ** 2 / op ** 2 + pw ** 2 * _se(op, n) ** 2 / op ** 4) \
            if op > 0 else float("nan")
        lay = cell.layout
        tp = c.rate(main, "tost_power")
        lines.append(f"| {cell.scenario.label} | {lay.num_layers} ({lay.late} "
                     f"{len(lay.rows(lay.late))} vs {lay.early} {len(lay.rows(lay.early))}) | "
                     f"{r('size')} | {r('cover_early')} | {r('cover_late')} | {r('cover_diff')} | "
                     f"{r('tost')} | {tp:.3f} ± {_se(tp, n):.3f} | {r('power')} | "
                     f"{pw / op:.2f} ± {r_se:.2f} | {pw / mp:.2f} | "
                     f"{c.rate(main, 'check_failed'):.3f} |")
    lines.append("")
    # comparison tables
    for title, fn, fmt in (
            ("Size of LATE > EARLY", lambda c, m: c.rate(m, "size"), "{:.3f}"),
            ("Smallest coverage (EARLY, LATE, difference)",
             lambda c, m: min(c.rate(m, k) for k in ("cover_early", "cover_late", "cover_diff")),
             "{:.3f}"),
            ("TOST size", lambda c, m: c.rate(m, "tost"), "{:.3f}"),
            ("TOST power (lowest of EARLY, LATE, difference)",
             lambda c, m: c.rate(m, "tost_power"), "{:.3f}"),
            ("Power ratio to the GLS oracle",
             lambda c, m: c.rate(m, "power") / max(c.rate(m, "oracle_power"), 1e-12), "{:.2f}")):
        lines += [f"## {title}, every method", "",
                  "| scenario | layers | " + " | ".join(f"`{m}`" for m in methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for cell in cells:
            c = totals[cell.key]
            lines.append(f"| {cell.scenario.label} | {cell.layout.num_layers} | "
                         + " | ".join(fmt.format(fn(c, m)) for m in methods) + " |")
        lines.append("")
    lines += ["## Scenarios", ""]
    seen = set()
    for cell in cells:
        s = cell.scenario
        if s.name not in seen:
            seen.add(s.name)
            lines.append(f"- **{s.label}** (`{s.name}`): {s.description}")
    return "\n".join(lines) + "\n"
