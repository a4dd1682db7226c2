"""Terminal output with rich: the original script's two tables, the inference tables and the
verdict.  Tables fit in 100 columns; colour and box drawing only on a terminal (plain ASCII when
piped or when ``NO_COLOR`` is set)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

from .formatting import fmt_cos, fmt_num, fmt_p

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis import AnalysisResult

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")

VERDICT_STYLE = {"training-artifact": "bold red", "real-specialization": "bold green",
                 "mixed": "bold yellow", "inconclusive": "bold yellow",
                 "not-testable": "bold magenta"}


def make_console(file: TextIO | None = None, width: int | None = None):
    """A rich Console: colour on a terminal; plain text when piped or NO_COLOR is set."""
    from rich.console import Console

    file = file or sys.stdout
    is_tty = hasattr(file, "isatty") and file.isatty()
    plain = not is_tty or "NO_COLOR" in os.environ
    if width is None:
        width = None if is_tty else 100
    return Console(file=file, width=width, no_color=plain, force_terminal=is_tty and not plain,
                   color_system=None if plain else "auto", highlight=False, soft_wrap=False,
                   emoji=False, legacy_windows=False), plain


def _table(title: str, plain: bool, **kw):
    from rich import box
    from rich.table import Table

    # no vertical rules: the per-pair table then fits 100 columns; ASCII only when plain
    style = box.Box("    \n    \n -- \n    \n -- \n -- \n    \n    \n", ascii=True) \
        if plain else box.SIMPLE_HEAD
    tab = Table(box=style, pad_edge=False, **kw)
    tab.caption_text = title  # printed above the table by _show, unwrapped at full width
    return tab


def _show(console, tab) -> None:
    console.print(f"[bold]{tab.caption_text}[/]")
    console.print(tab)
    console.print()


def _pairs_tables(res: "AnalysisResult", plain: bool):
    t = res.table
    blocks = [[f for f in t.families if f in ATTENTION], [f for f in t.families if f not in ATTENTION]]
    out = []
    for fams in blocks:
        if not fams:
            continue
        tab = _table(f"Per-pair raw / aligned cosine ({', '.join(f.removesuffix('_proj') for f in fams)})",
                     plain)
        tab.add_column("L", justify="right")
        tab.add_column("phase", justify="right")
        for f in fams:
            tab.add_column(f"{f}\nraw", justify="right", no_wrap=True)
            tab.add_column(f"{f}\naligned", justify="right", no_wrap=True)
        idx = [t.families.index(f) for f in fams]
        raw = t.raw if t.raw_cos is None else t.raw_cos
        for i, L in enumerate(t.layers):
            cells = [str(L), t.phases[i]]
            for j in idx:
                cells += [fmt_cos(float(raw[i, j])), fmt_cos(float(t.aligned[i, j]))]
            tab.add_row(*cells)
        out.append(tab)
    return out


def _phase_means_table(res: "AnalysisResult", plain: bool):
    t = res.table
    tab = _table(f"Per-phase mean {res.table.quantity_label} by family", plain)
    tab.add_column("phase", justify="right")
    for f in t.families:
        tab.add_column(f, justify="right")
    tab.add_column("pooled", justify="right")
    for ph in t.present_phases:
        cells = [ph]
        for f in list(t.families) + ["pooled"]:
            r = res.summary(ph, f)
            cells.append(fmt_cos(r.mean_delta) if r.n else "—")
        tab.add_row(*cells)
    return tab


def _gaussian_null_table(res: "AnalysisResult", plain: bool):
    g = res.gaussian_null
    tab = _table(f"Caveat: aligned cosine that unrelated Gaussian matrices reach at {g['preset']} "
                 "shapes (input side rotated); see docs/measure.md", plain)
    for c in ("family", "shape (out x in)", "Gaussian null", "observed mean aligned"):
        tab.add_column(c, justify="left" if c == "family" else "right")
    for r in g["rows"]:
        tab.add_row(r["family"], f"{r['out']} x {r['in']}", f"{r['aligned_null']:.3f}",
                    fmt_num(r["observed_mean_aligned"], signed=False))
    return tab


def _ci_table(res: "AnalysisResult", plain: bool):
    s = res.settings
    level = f"{100 * (1 - s.alpha):g}%"
    tab = _table(f"Mean {res.table.quantity} with {level} bootstrap CI ({s.ci}, {s.n_boot} resamples of pairs)",
                 plain)
    for c, j in (("phase", "left"), ("family", "left"), ("n", "right"), ("mean", "right"),
                 ("CI low", "right"), ("CI high", "right"), ("note", "left")):
        tab.add_column(c, justify=j, overflow="fold")
    last = None
    for r in res.phase_summary:
        if last is not None and r.phase != last:
            tab.add_section()
        last = r.phase
        note = r.note if r.note else ("" if r.ci_method == s.ci else r.ci_method)
        tab.add_row(r.phase, r.family, str(r.n), fmt_num(r.mean_delta), fmt_num(r.ci_low),
                    fmt_num(r.ci_high), note)
    return tab


def _perm_table(res: "AnalysisResult", plain: bool):
    p = res.permutation
    kind = (f"exact, all {p.n_splits} splits" if p.rows and p.rows[0].exact
            else f"Monte Carlo, {p.rows[0].n_resamples if p.rows else 0} random splits")
    q = res.table.quantity
    tab = _table(f"Permutation test H1: mean {q}({p.late}) > mean {q}({p.early}), one-sided "
                 f"({p.n_late} vs {p.n_early} pairs; {kind})", plain)
    for c in ("family", "difference", "p", "p (Holm)"):
        tab.add_column(c, justify="left" if c == "family" else "right")
    for r in p.rows:
        tab.add_row(r.family, fmt_num(r.statistic), fmt_p(r.p_value, r.exact, r.n_resamples),
                    fmt_p(r.p_holm, r.exact, r.n_resamples) if r.p_holm is not None else "")
    return tab


def _equiv_table(res: "AnalysisResult", plain: bool, brief: bool):
    s = res.settings
    lo, hi = s.margin
    level = f"{100 * (1 - 2 * s.alpha):g}%"
    tab = _table(f"Equivalence (TOST) of mean {res.table.quantity} within ({lo:g}, {hi:g}); {level} t interval",
                 plain)
    for c in ("phase", "family", "n", "mean", "CI low", "CI high", "p", "equiv.", "min margin"):
        tab.add_column(c, justify="left" if c in ("phase", "family") else "right")
    last = None
    for r in res.equivalence:
        if brief and r.family != "pooled":
            continue
        if not brief and last is not None and r.phase != last:
            tab.add_section()
        last = r.phase
        eq = "—" if r.equivalent is None else ("yes" if r.equivalent else "no")
        tab.add_row(r.phase, r.family, str(r.n), fmt_num(r.mean_delta), fmt_num(r.ci_low),
                    fmt_num(r.ci_high), fmt_p(r.p_value), eq,
                    fmt_num(r.min_margin, signed=False))
    return tab


def _diagnostics_table(res: "AnalysisResult", plain: bool):
    rob = res.robust
    tab = _table("Serial dependence along depth (lag-1 autocorrelation, Ljung–Box); "
                 "pooled rows and flagged family rows", plain)
    for c in ("phase", "family", "n", "lag-1 r", "LB p", "lags", "flag"):
        tab.add_column(c, justify="left" if c in ("phase", "family", "flag") else "right")
    for d in rob.diagnostics:
        if d.family != "pooled" and not d.material:
            continue
        tab.add_row(d.phase, d.family, str(d.n), fmt_num(d.lag1, 2),
                    fmt_p(d.ljung_box_p), "" if d.lags is None else str(d.lags),
                    "material" if d.material else ("n < 5" if d.lag1 is None else ""))
    return tab


def _robust_tables(res: "AnalysisResult", plain: bool, brief: bool):
    rob, s = res.robust, res.settings
    out = []
    lo, hi = s.margin
    tab = _table(f"Robust ({rob.method}) mean {res.table.quantity} with {100 * (1 - s.alpha):g}% t interval "
                 "and TOST, pooled over families", plain)
    for c in ("phase", "n", "mean", "CI low", "CI high", "TOST p", "equiv.", "min margin", "detail"):
        tab.add_column(c, justify="left" if c in ("phase", "detail") else "right")
    eq = {(r.phase, r.family): r for r in rob.equivalence}
    for r in rob.phase_summary:
        if r.family != "pooled":
            continue
        e = eq[(r.phase, r.family)]
        flag = "—" if e.equivalent is None else ("yes" if e.equivalent else "no")
        tab.add_row(r.phase, str(r.n), fmt_num(r.mean_delta), fmt_num(r.ci_low),
                    fmt_num(r.ci_high), fmt_p(e.p_value), flag,
                    fmt_num(e.min_margin, signed=False), r.note)
    out.append(tab)
    if rob.late_vs_early:
        p = res.permutation
        q = res.table.quantity
        t2 = _table(f"Robust ({rob.method}) one-sided test {q}({p.late}) > {q}({p.early}) "
                    "(Welch t on dependence-adjusted standard errors)", plain)
        for c in ("family", "difference", "t", "df", "p", "p (Holm)"):
            t2.add_column(c, justify="left" if c == "family" else "right")
        for r in rob.late_vs_early:
            t2.add_row(r.family, fmt_num(r.statistic), fmt_num(r.t, 2, signed=False),
                       fmt_num(r.df, 1, signed=False), fmt_p(r.p_value),
                       fmt_p(r.p_holm) if r.p_holm is not None else "")
        out.append(t2)
    return out


def _power_lines(res: "AnalysisResult") -> list[str]:
    pw, s = res.power, res.settings
    if pw is None:
        return []
    lines = [f"[bold]Power and sensitivity[/] ({pw.method} standard errors, alpha = {s.alpha:g})"]
    pooled = pw.mdd.get("pooled")
    if pooled is not None:
        lines.append(f"  smallest pooled {pw.late}-{pw.early} difference detectable with 80% "
                     f"power: {pooled:.4f} (observed "
                     f"{res.permutation.pooled.statistic:+.4f})" if res.permutation.pooled else
                     f"  smallest pooled {pw.late}-{pw.early} difference detectable with 80% "
                     f"power: {pooled:.4f}")
    else:
        lines.append(f"  {pw.late}-{pw.early} test not testable: no detectable-difference estimate")
    lo, hi = s.margin
    tp = ", ".join(f"{ph} {v:.2f}" if v is not None else f"{ph} —" for ph, v in pw.tost.items())
    lines.append(f"  TOST power at margin ({lo:g}, {hi:g}) if the true mean delta were 0: {tp}")
    return lines


def render_text(res: "AnalysisResult", file: TextIO | None = None, *, brief: bool = False,
                width: int | None = None) -> None:
    """Print the whole result as tables (see module docstring)."""
    console, plain = make_console(file, width)
    t = res.table
    synthetic = any(v.get("meta", {}).get("synthetic") for v in res.inputs.values())
    console.print(f"gaugetest — aligned vs raw cosine: {res.inputs['aligned']['path']}")
    if synthetic:
        console.print("[bold]SYNTHETIC DATA[/] (gaugetest demo generator; not a real model)")
    console.print(f"  {t.num_layers} layers; {len(t.layers)} pairs analysed (present in both files); "
                  f"{len(t.families)} families")
    console.print(f"  phase map: {res.phase_map.name} — {res.phase_map.describe()}")
    console.print(f"  quantity analysed: {t.quantity_label}")
    if t.quantity == "excess":
        console.print("  [bold]--baseline null:[/] every table below is about the excess of the "
                      "aligned cosine over its spectrum-matched null, not delta")
    counts = ", ".join(f"{p}={len(t.rows_of(p))}" for p in t.present_phases)
    console.print(f"  pairs per phase: {counts}\n")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w.message}", markup=True)
    if res.warnings:
        console.print()
    if not brief:
        for tab in _pairs_tables(res, plain):
            _show(console, tab)
    _show(console, _phase_means_table(res, plain))
    if res.gaussian_null:
        _show(console, _gaussian_null_table(res, plain))
    _show(console, _ci_table(res, plain))
    if res.permutation.testable:
        _show(console, _perm_table(res, plain))
    else:
        console.print(f"[bold]Permutation test {res.permutation.late} > {res.permutation.early}:[/] "
                      f"not testable — {res.permutation.reason}\n")
    _show(console, _equiv_table(res, plain, brief))
    if res.robust is not None:
        _show(console, _diagnostics_table(res, plain))
        for tab in _robust_tables(res, plain, brief):
            _show(console, tab)
    for line in _power_lines(res):
        console.print(line)
    console.print()
    v = res.verdict
    style = VERDICT_STYLE.get(v.label, "bold")
    console.print(f"Verdict: [{style}]{v.label}[/]  (alpha = {res.settings.alpha:g}, "
                  f"dependence = {v.dependence})")
    for r in v.reasons:
        console.print(f"  - {r}")
    if v.disagreement:
        console.print(f"  ! {v.disagreement}")
    console.print(f"  {v.caveat}")


def render_power(res: "AnalysisResult", file: TextIO | None = None) -> None:
    """The `gaugetest power` report: detectable differences per family and TOST power."""
    console, plain = make_console(file)
    pw, s = res.power, res.settings
    console.print(f"gaugetest power — {res.inputs['aligned']['path']}")
    console.print(f"  {pw.method} standard errors; alpha = {s.alpha:g}; target power 80%\n")
    if pw.mdd:
        tab = _table(f"Smallest {pw.late}-{pw.early} difference in mean delta detectable with 80% "
                     "power (one-sided)", plain)
        for c in ("family", "detectable difference", "observed difference"):
            tab.add_column(c, justify="left" if c == "family" else "right")
        obs = {r.family: r.statistic for r in res.permutation.rows}
        for fam, v in pw.mdd.items():
            tab.add_row(fam, fmt_num(v, signed=False), fmt_num(obs.get(fam)))
        _show(console, tab)
    else:
        console.print(f"{pw.late}-{pw.early}: not testable — {res.permutation.reason}\n")
    lo, hi = s.margin
    tab = _table(f"TOST power at margin ({lo:g}, {hi:g}) if the true pooled mean delta were 0",
                 plain)
    tab.add_column("phase")
    tab.add_column("power", justify="right")
    for ph, v in pw.tost.items():
        tab.add_row(ph, "—" if v is None else f"{v:.3f}")
    _show(console, tab)


def render_summary(rows: list[dict], file: TextIO | None = None) -> None:
    """The combined table of a several-model run (``multi.summary_rows``): one verdict per
    model."""
    console, plain = make_console(file)
    tab = _table("Summary: one verdict per model", plain)
    for c in ("model", "layers", "pairs", "test", "difference", "p (perm.)", "p (robust)",
              "verdict"):
        tab.add_column(c, justify="left" if c in ("model", "test", "verdict") else "right")
    for r in rows:
        tab.add_row(r["model"], str(r["num_layers"]), str(r["n_pairs"]),
                    f"{r['late']}>{r['early']}", fmt_num(r["difference"]),
                    fmt_p(r["p_permutation"], bool(r["permutation_exact"]),
                          r["permutation_resamples"]), fmt_p(r["p_robust"]), r["verdict"])
    _show(console, tab)
