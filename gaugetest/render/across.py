"""Outputs of the across-models analysis of a family run: the terminal headline (first, at most
15 lines), the family's reasons, Markdown/LaTeX tables, the report's sentences and the forest
plot. Everything reads the JSON's ``across_models`` object (``FamilyResult.to_dict()``), so
every number equals the JSON's and every label (quantity, level, method) comes from it.
"""
from __future__ import annotations

from typing import TextIO

from ..formatting import fmt_interval, fmt_level, fmt_num, fmt_p, p_phrase
from .layout import Column, Page, TextTable

STYLE = {"training-artifact": "bold red", "real-specialization": "bold green"}


def _margin(a: dict) -> str:
    lo, hi = a["margin"]
    return f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"


def _models_text(a: dict, short: bool = False) -> str:
    """The pooled models with their depths (``short``: names only beyond 3 models, so the
    headline stays within 15 lines)."""
    layers = {r["model"]: r["num_layers"] for r in a.get("per_model", [])}
    if short and len(a["models"]) > 3:
        return ", ".join(a["models"])
    return ", ".join(f"{m} ({layers[m]} layers)" if m in layers else m for m in a["models"])


def headline_lines(a: dict) -> list[tuple[str, str, str | None]]:
    """(label, text, style) rows of the family headline."""
    q = a["quantity"]
    late, early = a["compare"]["late"], a["compare"]["early"]
    if a["refused"]:
        return [("models", ", ".join(a["models"]), None),
                ("refused", a["refused"], "bold"),
                ("", "each model is analysed alone below; the run succeeded", "dim")]
    d, v, chk = a["difference"], a["verdict"], a["beside"] or {}
    rows = [("models", f"{_models_text(a, short=True)}; {q['symbol']}, {q['gauge']} gauge",
             None),
            (f"{late} − {early}", f"{fmt_num(d['estimate'])}, {fmt_level(d['level'])} CI "
                                  f"{fmt_interval(d['ci_low'], d['ci_high'])}, one-sided "
                                  f"{p_phrase(d['p_value'])}  [{d['method_short']}, "
                                  f"{d['k']} models]", None)]
    pi = (f"{fmt_level(d['level'])} prediction interval for a new model "
          f"{fmt_interval(d['prediction_low'], d['prediction_high'])}"
          if d["prediction_low"] is not None else "no prediction interval (needs 3 models)")
    rows.append(("hetero", f"τ² = {d['tau2']:.2g}, I² = "
                           f"{100 * d['i2']:.0f}%, Q = {d['q']:.2f} on {d['q_df']} df "
                           f"({p_phrase(d['q_p_value'])}); {pi}", None))
    if chk:
        rows.append(("beside", f"{chk['method_short']}: {fmt_level(chk['level'])} CI "
                              f"{fmt_interval(chk['ci_low'], chk['ci_high'])}, "
                              f"{p_phrase(chk['p_value'])}", "dim"))
    eq = {r["phase"]: r for r in a["equivalence"]}
    parts = ", ".join(f"{p} " + ("—" if eq.get(p, {}).get("equivalent") is None else
                                 "yes" if eq[p]["equivalent"] else "no")
                      for p in a["equivalence_phases"])
    rows.append(("≈ 0", f"within {_margin(a)} ({fmt_level(a['tost_level'])} CI inside the "
                        f"margin, cross-model TOST): {parts}", None))
    rows.append(("verdict", v["label"].upper(), STYLE.get(v["label"], "bold yellow")))
    rows.append(("", v["headline"], None))
    if a.get("dependence"):
        rows.append(("depth", a["dependence"]["text"], "dim"))
    return rows


#: The headline's height: at most this many lines, title included.
MAX_LINES = 15


def render_family(a: dict, file: TextIO | None = None, width: int | None = None) -> None:
    """The family headline (printed first in a multi-model run), at most ``MAX_LINES`` lines:
    where the page is too narrow, the lines of the analysis beside it and of the dependence
    model give way (both are in the reasons)."""
    from .._version import __version__
    from .layout import wrap

    page = Page(file, width)
    k = len(a["models"])
    what = ("not pooled" if a["refused"] else
            f"{a['compare']['late']} − {a['compare']['early']} > 0 across models")
    title = f"gaugetest {__version__} — family of {k} models: {what}"
    rows = headline_lines(a)

    def height(rs):
        return len(wrap(page.prep(title), page.width)) + sum(
            len(wrap(page.prep(t), page.width, " " * 12, " " * 12)) for _, t, _ in rs)

    for optional in ("depth", "beside"):
        if height(rows) > MAX_LINES:
            rows = [r for r in rows if r[0] != optional]
    page.para(title, style="bold")
    for label, text, style in rows:
        page.para(text, indent=f"  {label:<9} ", hang=" " * 12, style=style)
    page.flush()


def render_family_reasons(a: dict, file: TextIO | None = None,
                          width: int | None = None) -> None:
    """The family's reasons, its per-model table and notes (after the summary table)."""
    if a["refused"]:
        return
    page = Page(file, width)
    v, d = a["verdict"], a["difference"]
    page.line(f"Why '{v['label']}' for the family (alpha = {a['alpha']:g}):", "bold")
    for r in v["reasons"]:
        page.para(r, indent="  - ", hang="    ")
    if a.get("dependence"):
        page.para(f"Dependence along depth: {a['dependence']['text']} (every model's analysis "
                  "below uses it).", indent="  - ", hang="    ")
    for n in a.get("notes", []):
        page.para(f"note: {n}", indent="  ", hang="    ", style="yellow")
    page.line()
    lvl = fmt_level(d["level"])
    tab = TextTable(f"Per-model {a['compare']['contrast']} on the shared dependence model "
                    f"with {lvl} intervals, and each model's weight in the family estimate "
                    f"({d['method_name']})",
                    [Column("model", "left", key=True, wrap=True, min_width=12),
                     Column("layers"),
                     Column(f"pairs\n{a['compare']['late']}/{a['compare']['early']}"),
                     Column("estimate"), Column(f"{lvl} CI"), Column("p"), Column("weight")])
    for r in a["per_model"]:
        tab.add_row(r["model"], str(r["num_layers"]), f"{r['n_late']}/{r['n_early']}",
                    fmt_num(r["estimate"]), fmt_interval(r["ci_low"], r["ci_high"]),
                    fmt_p(r["p_value"]), f"{r['weight']:.2f}")
    tab.add_row("family", "", "", fmt_num(d["estimate"]), fmt_interval(d["ci_low"], d["ci_high"]),
                fmt_p(d["p_value"]), "")
    tab.render(page)
    page.flush()


# --------------------------------------------------------------------------- documents


def _rows(a: dict) -> list[list[str]]:
    d = a["difference"]
    rows = [[r["model"], str(r["num_layers"]), fmt_num(r["estimate"]),
             fmt_interval(r["ci_low"], r["ci_high"]), fmt_p(r["p_value"]),
             f"{r['weight']:.2f}"] for r in a["per_model"]]
    rows.append(["Family", "", fmt_num(d["estimate"]), fmt_interval(d["ci_low"], d["ci_high"]),
                 fmt_p(d["p_value"]), ""])
    if d["prediction_low"] is not None:
        rows.append(["New model (prediction)", "", "",
                     fmt_interval(d["prediction_low"], d["prediction_high"]), "", ""])
    return rows


def family_caption(a: dict) -> str:
    d = a["difference"]
    return (f"Family of {d['k']} models: {a['compare']['contrast']} per model (shared depth "
            f"model) and across models ({d['method_name']}), with {fmt_level(d['level'])} "
            f"intervals; one-sided p of a larger {a['quantity']['symbol']} in "
            f"{a['compare']['late']}. Heterogeneity: tau^2 = {d['tau2']:.3g} "
            f"({d['tau2_method']}), I^2 = {100 * d['i2']:.0f}%, Q = {d['q']:.2f} on {d['q_df']} "
            f"df. Verdict for the family: {a['verdict']['label']}.")


HEADER = ["Model", "Layers", "Difference", "CI", "p", "Weight"]


def family_markdown(a: dict) -> str:
    """The family section of the Markdown export (first)."""
    if a["refused"]:
        return (f"# gaugetest results: family of {len(a['models'])} models\n\n"
                f"**Not pooled**: {a['refused']}.\n")
    from .documents import _md_table

    v = a["verdict"]
    out = [f"# gaugetest results: family of {len(a['models'])} models", "",
           f"**Verdict for the family: {v['label']}** — {v['headline']}", "",
           f"**{family_caption(a)}**", "",
           _md_table([h if h != "CI" else f"{fmt_level(a['ci_level'])} CI" for h in HEADER],
                     _rows(a)), "", f"## Why '{v['label']}' for the family", ""]
    out += [f"- {r}" for r in v["reasons"]]
    return "\n".join(out) + "\n"


def family_latex(a: dict) -> str:
    """The family table as a booktabs LaTeX table (first in the LaTeX export)."""
    if a["refused"]:
        return f"% gaugetest: the models were not pooled: {a['refused']}\n"
    from .documents import _tex

    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(family_caption(a))}}}",
             r"\label{tab:gaugetest-family}", r"\begin{tabular}{lrrrrr}", r"\toprule",
             " & ".join(_tex(h if h != "CI" else f"{fmt_level(a['ci_level'])} CI")
                        for h in HEADER) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in r) + r" \\" for r in _rows(a)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


#: How the report states each rule of combination, and the references it cites.
METHOD_TEXT = {
    "im": ("the Ibragimov–Müller t test across models: the equal-weight mean of the per-model "
           "estimates, with the t distribution on K − 1 degrees of freedom of their spread "
           "(Ibragimov & Müller 2010), which stays valid whatever the heterogeneity between "
           "models and whatever each model's dependence along depth", ("im",)),
    "re-hm-sw": ("random effects on the per-model standard errors of the shared depth model, "
                 "with the Hartung–Makambi between-model variance and Satterthwaite degrees of "
                 "freedom (Hartung & Makambi 2003)", ("hm",)),
    "re-hm": ("random effects on the per-model standard errors of the shared depth model, with "
              "the Hartung–Makambi between-model variance (Hartung & Makambi 2003)", ("hm",)),
    "re-dl": ("random effects on the per-model standard errors of the shared depth model, with "
              "the DerSimonian–Laird between-model variance (DerSimonian & Laird 1986)", ("dl",)),
    "fe": ("a common-effect (inverse-variance) combination of the per-model standard errors of "
           "the shared depth model", ()),
    "hksj": ("random effects with the Hartung–Knapp–Sidik–Jonkman variance (Hartung & Knapp "
             "2001; Sidik & Jonkman 2002)", ("hk", "sj")),
    "mhksj": ("random effects with the modified Hartung–Knapp–Sidik–Jonkman variance (Röver, "
              "Knapp & Friede 2015)", ("hk", "sj", "rover")),
}

FAMILY_REFERENCES = {
    "im": "Ibragimov, R. & Müller, U. K. (2010). t-statistic based correlation and heterogeneity "
          "robust inference. *J. Business & Economic Statistics* 28, 453–468.",
    "hm": "Hartung, J. & Makambi, K. H. (2003). Reducing the number of unjustified significant "
          "results in meta-analysis. *Communications in Statistics – Simulation and "
          "Computation* 32, 1179–1190.",
    "dl": "DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical trials. *Controlled "
          "Clinical Trials* 7, 177–188.",
    "hk": "Hartung, J. & Knapp, G. (2001). On tests of the overall treatment effect in "
          "meta-analysis with normally distributed responses. *Statistics in Medicine* 20, "
          "1771–1782.",
    "sj": "Sidik, K. & Jonkman, J. N. (2002). A simple confidence interval for meta-analysis. "
          "*Statistics in Medicine* 21, 3153–3159.",
    "rover": "Röver, C., Knapp, G. & Friede, T. (2015). Hartung-Knapp-Sidik-Jonkman approach "
             "and its modification for random-effects meta-analysis with few studies. *BMC "
             "Medical Research Methodology* 15, 99.",
    "pm": "Paule, R. C. & Mandel, J. (1982). Consensus values and weighting factors. *J. Res. "
          "Natl. Bur. Stand.* 87, 377–385.",
    "higgins02": "Higgins, J. P. T. & Thompson, S. G. (2002). Quantifying heterogeneity in a "
                 "meta-analysis. *Statistics in Medicine* 21, 1539–1558.",
    "higgins09": "Higgins, J. P. T., Thompson, S. G. & Spiegelhalter, D. J. (2009). A "
                 "re-evaluation of random-effects meta-analysis. *JRSS A* 172, 137–159.",
}


def family_references(a: dict) -> list[str]:
    """The references of the family's Methods text, in order of appearance."""
    if a["refused"]:
        return []
    keys = list(METHOD_TEXT[a["difference"]["method"]][1])
    if a.get("beside"):
        keys += [k for k in METHOD_TEXT[a["beside"]["method"]][1] if k not in keys]
    keys += ["pm", "higgins02", "higgins09"]
    return [FAMILY_REFERENCES[k] for k in dict.fromkeys(keys)]


def family_report(a: dict) -> str:
    """Methods and results sentences for the family (first in the report); the method, its
    level and the quantity come from ``across_models``."""
    if a["refused"]:
        return (f"## Family of {len(a['models'])} models\n\nThe models were not pooled: "
                f"{a['refused']}.\n")
    d, v, q = a["difference"], a["verdict"], a["quantity"]
    dep = a.get("dependence") or {}
    late, early = a["compare"]["late"], a["compare"]["early"]
    sym = q["symbol"]
    ci, tl = fmt_level(d["level"]), fmt_level(d["tost_level"])
    chk = a.get("beside") or {}
    methods = (
        f"We analysed {d['k']} models of one family ({_models_text(a)}) with the same settings. "
        f"One model of the serial dependence along depth was fitted to all of them: its "
        f"correlation function is shared, its posterior over the grid summing the models' "
        f"restricted log-likelihoods, and each model keeps its own phase levels and noise "
        f"scales (the dependence estimate: {dep.get('correction_description', '')}). Each "
        f"model's pooled {sym} "
        f"difference between phases {late} and {early} (arithmetic phase means) was combined "
        f"across models by {METHOD_TEXT[d['method']][0]}. Heterogeneity between models is "
        f"reported as the between-model variance tau^2 ({d['tau2_method']}; Paule & Mandel "
        f"1982), I^2 (Higgins & Thompson 2002) and Cochran's Q on the per-model standard "
        f"errors, with a prediction interval for a new model of the family (Higgins, Thompson "
        f"& Spiegelhalter 2009)"
        + (f"; beside it, {METHOD_TEXT[chk['method']][0]}" if chk else "")
        + f". Equivalence of each deciding phase's level to zero within {_margin(a)} was "
        f"tested across models by two one-sided tests on the same combination ({tl} "
        "intervals).")
    results = (
        f"Across the {d['k']} models, the pooled {sym} in phase {late} minus that in phase "
        f"{early} was {fmt_num(d['estimate'])} ({ci} CI "
        f"{fmt_interval(d['ci_low'], d['ci_high'])}; one-sided {p_phrase(d['p_value'])}; "
        f"tau^2 = {d['tau2']:.3g}, I^2 = {100 * d['i2']:.0f}%, Q = {d['q']:.2f} on {d['q_df']} df"
        + (f"; {ci} prediction interval for a new model "
           f"{fmt_interval(d['prediction_low'], d['prediction_high'])}"
           if d["prediction_low"] is not None else "")
        + (f"; {chk['method_short']}: {ci} CI {fmt_interval(chk['ci_low'], chk['ci_high'])}, "
           f"{p_phrase(chk['p_value'])}" if chk else "")
        + f"). Verdict for the family: **{v['label']}**. " + " ".join(v["reasons"]))
    refs = "\n".join(f"- {r}" for r in family_references(a))
    return (f"## Methods (family of {d['k']} models)\n\n{methods}\n\n"
            f"## Results (family of {d['k']} models)\n\n{results}\n\n"
            f"## References (family)\n\n{refs}\n")


# --------------------------------------------------------------------------- forest plot


def family_forest(a: dict, directory: str) -> list[str]:
    """Per-model E − C with intervals, the family diamond and the prediction interval (file
    ``family_forest``)."""
    if a["refused"]:
        return []
    from .files import make_dir
    from .plots import WIDTH, _caption, _mpl, _save

    make_dir(directory, "--plot")
    plt = _mpl()
    d = a["difference"]
    rows = a["per_model"]
    n = len(rows)
    fig, ax = plt.subplots(figsize=(WIDTH, 0.9 + 0.28 * (n + 2)))
    ax.axvline(0, color="0.5", lw=0.6)
    lo, hi = a["margin"]
    ax.axvspan(lo, hi, color="0.9", lw=0, label=f"equivalence margin ({lo:g}, {hi:g})")
    wmax = max(r["weight"] for r in rows) or 1.0
    for i, r in enumerate(rows):
        y = n + 1 - i
        ax.errorbar(r["estimate"], y, xerr=[[r["estimate"] - r["ci_low"]],
                                            [r["ci_high"] - r["estimate"]]],
                    fmt="s", color="black", ms=2 + 4 * r["weight"] / wmax, capsize=2)
    mu, cl, ch = d["estimate"], d["ci_low"], d["ci_high"]
    ax.fill([cl, mu, ch, mu], [1, 1.25, 1, 0.75], color="black",
            label=f"family ({fmt_level(d['level'])} CI)")
    if d["prediction_low"] is not None:
        ax.plot([d["prediction_low"], d["prediction_high"]], [0.45, 0.45], color="0.4", lw=2.2,
                solid_capstyle="butt", label="prediction interval (new model)")
    ax.set_yticks([n + 1 - i for i in range(n)] + [1], [r["model"] for r in rows] + ["family"])
    ax.set_xlabel(a["compare"]["contrast"])
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    _caption(fig, f"{a['compare']['contrast']} per model with {fmt_level(d['level'])} intervals "
                  f"from the shared depth model (marker size: weight), the family estimate "
                  f"({d['method_name']}) as a diamond"
                  + (" and the prediction interval for a new model of the family"
                     if d["prediction_low"] is not None else "")
                  + f". tau^2 = {d['tau2']:.2g}, I^2 = {100 * d['i2']:.0f}%. Verdict for the "
                  f"family: {a['verdict']['label']}.")
    fig.tight_layout()
    paths = _save(fig, directory, "family_forest")
    plt.close(fig)
    return paths

