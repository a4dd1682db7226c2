"""The terminal report: a headline first (verdict, the compared difference with its interval
and p, the equivalence result), then the reasons, then the detailed tables.

Every word that names the analysed quantity, a level or a test comes from the analysis
description (``res.description``) and the inference results; nothing here says "delta" or "95%"
by itself. Tables never truncate: they stack or wrap to the page width (80 columns by default
when piped); piped output is plain ASCII (see ``layout.Page``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..formatting import fmt_cos, fmt_interval, fmt_level, fmt_num, fmt_p, p_phrase
from .layout import Column, Page, TextTable

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis import AnalysisResult

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")

VERDICT_STYLE = {"training-artifact": "bold red", "real-specialization": "bold green",
                 "negligible-difference": "bold yellow", "no-late-excess": "bold cyan",
                 "inconclusive": "bold yellow",
                 "equivalence-untestable": "bold yellow", "difference-untestable": "bold magenta",
                 "not-testable": "bold magenta"}


def _short(f: str) -> str:
    return f.removesuffix("_proj")


def _who(result) -> str:
    """'iid analysis' / 'robust (neff) analysis' at the start of a title."""
    return f"{result.name} analysis"


def _yes(v) -> str:
    return "—" if v is None else ("yes" if v else "no")


# --------------------------------------------------------------------------- headline


def _inputs_line(res: "AnalysisResult") -> str:
    paths = [res.inputs[k]["path"] for k in ("null", "aligned")]
    if all(p.startswith("<") for p in paths):
        return "inputs: generated in memory"
    return f"inputs: raw file {paths[0]}; aligned file {paths[1]}"


def headline_lines(res: "AnalysisResult") -> list[tuple[str, str, str | None]]:
    """(label, text, style) rows of the headline block, shared by text and tests."""
    d, v, t = res.description, res.verdict, res.table
    q = d.quantity
    drv, oth = res.driving, (res.iid if res.driving is res.robust else res.robust)
    synthetic = any(x.get("meta", {}).get("synthetic") for x in res.inputs.values())
    counts = ", ".join(f"{p} {len(t.rows_of(p))}" for p in t.present_phases)
    rows = [("model", d.model + ("  [SYNTHETIC DATA: gaugetest demo generator]"
                                 if synthetic else ""), "bold"),
            ("data", f"{d.num_layers} layers, {d.n_pairs} pairs, {len(d.families)} families; "
                     f"pairs per phase ({d.phase_map} map): {counts}", None),
            ("quantity", f"{q.symbol} = {q.definition} (baseline {q.baseline_requested}"
                         + (f" → {q.baseline}: {q.baseline_reason}" if q.baseline_requested ==
                            "auto" else "") + f"; gauge {q.gauge})", None)]
    test = drv.difference
    row = test.pooled
    ni = drv.noninferiority_pooled
    if row is not None and row.statistic is not None:
        ci = (f", {fmt_level(row.level)} CI {fmt_interval(row.ci_low, row.ci_high)}"
              if row.ci_low is not None else "")
        below = ""
        if ni is not None and ni.p_value is not None:
            below = (f"; < {d.m_diff:g} {'shown' if ni.rejected else 'not shown'}: "
                     f"non-superiority {p_phrase(ni.p_value)}")
        rows.append((f"{d.late} − {d.early}",
                     f"{fmt_num(row.statistic)}{ci}, one-sided {p_phrase(row.p_value)}{below}  "
                     f"[{drv.name}]", None))
        orow = oth.difference.pooled
        if orow is not None and orow.statistic is not None:
            oci = (f"{fmt_level(orow.level)} CI {fmt_interval(orow.ci_low, orow.ci_high)}, "
                   if orow.ci_low is not None else "")
            rows.append(("", f"{oth.name}: {oci}{oth.difference.test.split(' on ')[0]} "
                             f"{p_phrase(orow.p_value)}", "dim"))
    else:
        rows.append((f"{d.late} − {d.early}", f"not testable: {test.reason}", None))
    eq = {r.phase: r for r in drv.equivalence if r.family == "pooled"}
    parts = ", ".join(f"{p} {_yes(eq[p].equivalent) if p in eq else '—'}"
                      for p in d.equivalence_phases)
    rows.append(("≈ 0", f"within {d.margin_text} ({fmt_level(d.tost_level)} CI inside the "
                        f"margin, {drv.tost_name}): {parts}"
                 + ("" if q.equivalence_testable else " — not deciding: untestable for "
                    f"{q.symbol} under this gauge"), None))
    # the other analysis's label, when different, on the label's row (the reasons say which
    # analysis the verdict follows and why)
    other = (f"  ({v.other['analysis']} analysis: {v.other['label']})"
             if v.other.get("label") and v.other["label"] != v.label else "")
    rows.append(("verdict", v.label.upper() + other, VERDICT_STYLE.get(v.label, "bold")))
    rows.append(("", v.headline, None))
    return rows


def _headline(res: "AnalysisResult", page: Page) -> None:
    from .._version import __version__

    page.line(f"gaugetest {__version__} — test of {res.description.contrast} > 0", "bold")
    for label, text, style in headline_lines(res):
        page.para(text, indent=f"  {label:<9} ", hang=" " * 12, style=style)


def _reasons(res: "AnalysisResult", page: Page) -> None:
    v = res.verdict
    page.line(f"Why '{v.label}' ({v.dependence} analysis, alpha = {res.settings.alpha:g}):",
              "bold")
    for r in v.reasons:
        page.para(r, indent="  - ", hang="    ")
    if v.disagreement:
        page.para(v.disagreement, indent="  ! ", hang="    ")
    page.para(v.caveat, indent="  ", hang="  ")
    page.para(_inputs_line(res), indent="  ", hang="    ", style="dim")
    page.line()


# --------------------------------------------------------------------------- tables


def _phase_means_table(res: "AnalysisResult") -> TextTable:
    t, q = res.table, res.description.quantity
    tab = TextTable(f"Per-phase {q.mean_of()} by family ({q.symbol} = {q.definition})",
                    [Column("phase", key=True)]
                    + [Column(_short(f)) for f in t.families] + [Column("pooled")])
    for ph in t.present_phases:
        cells = [ph]
        for f in list(t.families) + ["pooled"]:
            r = res.iid.estimate(ph, f)
            cells.append(fmt_cos(r.mean) if r and r.n else "—")
        tab.add_row(*cells)
    return tab


def _estimates_table(res: "AnalysisResult", result, pooled_only: bool) -> TextTable:
    q = res.description.quantity
    level = fmt_level(res.description.ci_level)
    title = (f"{_who(result)}: {q.mean_of()} with {level} "
             f"{result.interval_method} interval"
             + (", pooled over families" if pooled_only else ", by phase and family"))
    if result.summary:
        title += f" ({result.summary})"
    cols = [Column("phase", "left", key=True)] + ([] if pooled_only else
                                                  [Column("family", "left", key=True)])
    cols += [Column("n"), Column("mean"), Column(f"{level} CI\nlow"),
             Column(f"{level} CI\nhigh"), Column("note", "left", wrap=True, min_width=16)]
    tab = TextTable(title, cols)
    last = None
    for r in result.phase_summary:
        if pooled_only and r.family != "pooled":
            continue
        if not pooled_only and last is not None and r.phase != last:
            tab.add_section()
        last = r.phase
        note = r.note
        out = q.outside(r.ci_low, r.ci_high)
        note = "; ".join(x for x in (note, out) if x)
        tab.add_row(*([r.phase] + ([] if pooled_only else [_short(r.family)])
                      + [str(r.n), fmt_num(r.mean), fmt_num(r.ci_low), fmt_num(r.ci_high),
                         note]))
    return tab


def _pooled_estimates_table(res: "AnalysisResult") -> TextTable:
    """Pooled phase means with the iid and the robust interval side by side."""
    d = res.description
    q = d.quantity
    level = fmt_level(d.ci_level)
    iid, rob = res.iid, res.robust
    title = (f"Pooled {q.mean_of()} by phase with {level} intervals: {iid.name} "
             f"({iid.interval_method}) and {rob.name} ({rob.interval_method}"
             + (f"; {rob.summary}" if rob.summary else "") + ")")
    ri, rr = iid.name.split(" ")[0], rob.name.split(" ")[0]
    tab = TextTable(title, [Column("phase", "left", key=True), Column("n"), Column("mean"),
                            Column(f"{ri} CI\nlow"), Column(f"{ri} CI\nhigh"),
                            Column(f"{rr} CI\nlow"), Column(f"{rr} CI\nhigh"),
                            Column("note", "left", wrap=True, min_width=16)])
    for r in iid.phase_summary:
        if r.family != "pooled":
            continue
        o = rob.estimate(r.phase)
        notes = [r.note, o.note if o else "", q.outside(r.ci_low, r.ci_high),
                 q.outside(o.ci_low, o.ci_high) if o else ""]
        tab.add_row(r.phase, str(r.n), fmt_num(r.mean), fmt_num(r.ci_low), fmt_num(r.ci_high),
                    fmt_num(o.ci_low if o else None), fmt_num(o.ci_high if o else None),
                    "; ".join(dict.fromkeys(x for x in notes if x)))
    return tab


def _difference_table(res: "AnalysisResult", result) -> TextTable:
    d = res.description
    test = result.difference
    level = fmt_level(d.ci_level)
    kind = test.detail.get("kind")
    title = (f"{_who(result)}: one-sided {test.test} of {d.contrast} > 0 "
             f"({test.n_late} vs {test.n_early} pairs" + (f"; {kind}" if kind else "")
             + f"); {level} CI of the difference"
             + (f" ({test.detail['difference_ci']})" if "difference_ci" in test.detail else ""))
    cols = [Column("family", "left", key=True), Column("difference"),
            Column(f"{level} CI\nlow"), Column(f"{level} CI\nhigh")]
    robust = any("t" in r.detail for r in test.rows)
    if robust:
        cols += [Column("t"), Column("df")]
    cols += [Column("p"), Column("p (Holm)"), Column("note", "left", wrap=True, min_width=16)]
    tab = TextTable(title, cols)
    for r in test.rows:
        cells = [_short(r.family), fmt_num(r.statistic), fmt_num(r.ci_low), fmt_num(r.ci_high)]
        if robust:
            cells += [fmt_num(r.detail.get("t"), 2, False), fmt_num(r.detail.get("df"), 1, False)]
        cells += [fmt_p(r.p_value), "" if r.p_holm is None else fmt_p(r.p_holm), r.note]
        tab.add_row(*cells)
    return tab


def _noninferiority_table(res: "AnalysisResult", result) -> TextTable:
    """The non-superiority test H0: LATE − EARLY >= m_diff, per family and pooled."""
    d = res.description
    rows = result.noninferiority
    level = fmt_level(rows[0].level) if rows else fmt_level(d.tost_level)
    title = (f"{_who(result)}: non-superiority of {d.contrast}, H0: {d.contrast} ≥ "
             f"{d.m_diff:g} (m_diff) against < {d.m_diff:g} ({rows[0].test if rows else ''}); "
             f"rejected when the {level} interval's upper end lies below m_diff; per-family "
             "p-values Holm-adjusted")
    tab = TextTable(title, [Column("family", "left", key=True), Column("difference"),
                            Column(f"{level} CI\nlow"), Column(f"{level} CI\nhigh"),
                            Column("p"), Column("p (Holm)"), Column("rejected"),
                            Column("note", "left", wrap=True, min_width=16)])
    for r in rows:
        tab.add_row(_short(r.family), fmt_num(r.statistic), fmt_num(r.ci_low),
                    fmt_num(r.ci_high), fmt_p(r.p_value),
                    "" if r.p_holm is None else fmt_p(r.p_holm), _yes(r.rejected), r.note)
    return tab


def _equivalence_table(res: "AnalysisResult", result, pooled_only: bool) -> TextTable:
    d = res.description
    q = d.quantity
    tl = fmt_level(d.tost_level)
    rule = f" ({result.tost_rule} rule)" if result.tost_rule not in ("", "mixture") else ""
    title = (f"{_who(result)}: equivalence (TOST{rule}) of {q.mean_of()} to 0 within "
             f"{d.margin_text}: equivalent when the {tl} interval lies inside the margin; "
             f"'min margin' = max(|low|, |high|) of that interval"
             + (", pooled over families" if pooled_only else ""))
    if not q.equivalence_testable:
        title += f". Not deciding: {q.equivalence_note}"
    cols = [Column("phase", "left", key=True)] + ([] if pooled_only else
                                                  [Column("family", "left", key=True)])
    cols += [Column("n"), Column("mean"), Column(f"{tl} CI\nlow"), Column(f"{tl} CI\nhigh"),
             Column("TOST p"), Column("equiv."), Column("min\nmargin"),
             Column("note", "left", wrap=True, min_width=12)]
    tab = TextTable(title, cols)
    last = None
    for r in result.equivalence:
        if pooled_only and r.family != "pooled":
            continue
        if not pooled_only and last is not None and r.phase != last:
            tab.add_section()
        last = r.phase
        role = ("deciding" if r.phase in d.equivalence_phases else "reported") \
            if r.family == "pooled" else ""
        note = "; ".join(x for x in (role, r.note) if x)
        tab.add_row(*([r.phase] + ([] if pooled_only else [_short(r.family)])
                      + [str(r.n), fmt_num(r.mean), fmt_num(r.ci_low), fmt_num(r.ci_high),
                         fmt_p(r.p_value), _yes(r.equivalent),
                         fmt_num(r.min_margin, signed=False), note]))
    return tab


def _diagnostics_table(res: "AnalysisResult") -> TextTable:
    diag = res.diagnostics
    rho, pts = diag.depth_rho.get("pooled", (None, 0))
    depth = (f"one lag-1 correlation estimated along the whole depth: ρ = {rho:.2f} from "
             f"{pts} pairs (phase means removed, bias-corrected)" if rho is not None else
             f"too few pairs ({pts}) for a depth-wide ρ")
    clip = " — at its clip" if rho is not None and (rho <= 0.0 or rho >= 0.95) else ""
    tab = TextTable("Serial dependence along depth. 'lag-1 r' is each phase's own sample "
                    "autocorrelation (a diagnostic; noisy at these sizes) and 'LB p' its "
                    f"Ljung–Box test; the robust analysis instead uses {depth}{clip}. Pooled rows "
                    "and flagged family rows:",
                    [Column("phase", "left", key=True), Column("family", "left", key=True),
                     Column("n"), Column("lag-1 r"), Column("LB p"), Column("lags"),
                     Column("flag", "left")])
    for r in diag.rows:
        if r.family != "pooled" and not r.material:
            continue
        tab.add_row(r.phase, _short(r.family), str(r.n), fmt_num(r.lag1, 2), fmt_p(r.ljung_box_p),
                    "" if r.lags is None else str(r.lags),
                    "material" if r.material else ("n < 5" if r.lag1 is None else ""))
    return tab


def _pairs_table(res: "AnalysisResult") -> TextTable:
    t = res.table
    tab = TextTable("Per-pair raw / aligned cosine (the original script's table)",
                    [Column("L", key=True), Column("phase", key=True)]
                    + [Column(f"{_short(f)}\n{k}") for f in t.families for k in ("raw", "aligned")])
    for i, L in enumerate(t.layers):
        cells = [str(L), t.phases[i]]
        for j in range(len(t.families)):
            cells += [fmt_cos(float(t.raw[i, j])), fmt_cos(float(t.aligned[i, j]))]
        tab.add_row(*cells)
    return tab


def _gaussian_table(res: "AnalysisResult") -> TextTable:
    g = res.gaussian_null
    tab = TextTable(f"Gaussian reference: the aligned cosine that unrelated Gaussian matrices "
                    f"reach at {g['preset']} shapes (input side rotated), beside this input's "
                    "mean aligned cosine",
                    [Column("family", "left", key=True), Column("shape (out x in)"),
                     Column("Gaussian\nreference"), Column("observed mean\naligned")])
    for r in g["rows"]:
        tab.add_row(_short(r["family"]), f"{r['out']} x {r['in']}", f"{r['aligned_null']:.3f}",
                    fmt_num(r["observed_mean_aligned"], signed=False))
    return tab


def _power_lines(res: "AnalysisResult", page: Page) -> None:
    pw, d = res.power, res.description
    if pw is None:
        return
    page.line(f"Power and sensitivity ({res.driving.name} standard errors, alpha = {d.alpha:g})",
              "bold")
    pooled = pw.mdd.get("pooled")
    obs = res.driving.difference.pooled
    if pooled is not None:
        page.para(f"smallest pooled {d.contrast} detectable with {pw.power:.0%} power: "
                  f"{pooled:.4f}" + (f" (observed {obs.statistic:+.4f})"
                                     if obs is not None and obs.statistic is not None else ""),
                  indent="  ", hang="    ")
    else:
        page.para(f"{d.late} − {d.early} test not testable: no detectable-difference estimate",
                  indent="  ", hang="    ")
    tp = ", ".join(f"{ph} {v:.2f}" if v is not None else f"{ph} —" for ph, v in pw.tost.items())
    page.para(f"Power of the {res.driving.tost_name} within {d.margin_text} if the true "
              f"{d.quantity.mean_of()} were 0: "
              f"{tp}", indent="  ", hang="    ")
    page.line()


def render_text(res: "AnalysisResult", file: TextIO | None = None, *, brief: bool = False,
                full: bool = False, width: int | None = None) -> None:
    """Print the result: the headline block, the reasons, then the tables.

    ``brief``: the headline and the driving analysis's pooled phase table only. ``full``: also
    the per-family rows of every interval and equivalence table.
    """
    page = Page(file, width)
    _headline(res, page)
    page.line()
    drv = res.driving
    if brief:
        _estimates_table(res, drv, pooled_only=True).render(page)
        page.para(res.verdict.caveat, indent="  ", hang="  ")
        page.flush()
        return
    _reasons(res, page)
    for w in res.warnings:
        page.para(f"warning: {w.message}", style="yellow")
    if res.warnings:
        page.line()
    _phase_means_table(res).render(page)
    if res.gaussian_null:
        _gaussian_table(res).render(page)
    _pooled_estimates_table(res).render(page)
    for result in (drv, res.iid if drv is res.robust else res.robust):
        if result.difference.testable:
            _difference_table(res, result).render(page)
        else:
            page.para(f"{_who(result)}: one-sided {result.difference.test} of "
                      f"{res.description.contrast} > 0 not testable — "
                      f"{result.difference.reason}", style="bold")
            page.line()
    for result in (drv, res.iid if drv is res.robust else res.robust):
        if result.noninferiority:
            _noninferiority_table(res, result).render(page)
    for result in (drv, res.iid if drv is res.robust else res.robust):
        _equivalence_table(res, result, pooled_only=not full).render(page)
    if full:
        for result in (res.iid, res.robust):
            _estimates_table(res, result, pooled_only=False).render(page)
    _diagnostics_table(res).render(page)
    _power_lines(res, page)
    _pairs_table(res).render(page)
    page.flush()


def render_power(res: "AnalysisResult", file: TextIO | None = None,
                 width: int | None = None) -> None:
    """The `gaugetest power` report: detectable differences per family and TOST power."""
    page = Page(file, width)
    pw, d = res.power, res.description
    page.line(f"gaugetest power — {d.model}", "bold")
    page.para(f"{res.driving.name} standard errors; alpha = {d.alpha:g}; target power "
              f"{pw.power:.0%}; quantity {d.quantity.symbol} = {d.quantity.definition}",
              indent="  ", hang="  ")
    page.line()
    if pw.mdd:
        tab = TextTable(f"Smallest {d.contrast} detectable with {pw.power:.0%} power "
                        "(one-sided)",
                        [Column("family", "left", key=True), Column("detectable\ndifference"),
                         Column("observed\ndifference")])
        obs = {r.family: r.statistic for r in res.driving.difference.rows}
        for fam, v in pw.mdd.items():
            tab.add_row(_short(fam), fmt_num(v, signed=False), fmt_num(obs.get(fam)))
        tab.render(page)
    else:
        page.para(f"{d.late} − {d.early}: not testable — {res.driving.difference.reason}")
        page.line()
    tab = TextTable(f"Power of the {res.driving.tost_name} within {d.margin_text} if the "
                    f"true pooled {d.quantity.mean_of()} were 0",
                    [Column("phase", "left", key=True),
                                                       Column("power")])
    for ph, v in pw.tost.items():
        tab.add_row(ph, "—" if v is None else f"{v:.3f}")
    tab.render(page)
    page.flush()


def render_summary(rows: list[dict], file: TextIO | None = None,
                   width: int | None = None) -> None:
    """The combined table of a several-model run (``multi.summary_rows``)."""
    page = Page(file, width)
    first = rows[0] if rows else {"late": "LATE", "early": "EARLY", "level": 0.95}
    contrast = f"{first['late']} − {first['early']}"
    tab = TextTable(f"Summary: one verdict per model; the pooled difference {contrast} with "
                    f"its {fmt_level(first['level'])} interval and one-sided p, from the "
                    "analysis each verdict follows ("
                    + ", ".join(sorted({r['dependence'] for r in rows})) + ")",
                    [Column("model", "left", key=True, wrap=True, min_width=12),
                     Column("quantity", "left"), Column(contrast), Column("interval"),
                     Column("p"), Column("verdict", "left")])
    for r in rows:
        tab.add_row(r["model"], r["quantity"], fmt_num(r["difference"]),
                    fmt_interval(r["ci_low"], r["ci_high"]) if r["ci_low"] is not None else "—",
                    fmt_p(r["p_value"]), r["verdict"])
    tab.render(page)
    page.flush()


def rule_line(file: TextIO | None = None, width: int | None = None) -> None:
    """A full-width separator between models."""
    Page(file, width).rule()
