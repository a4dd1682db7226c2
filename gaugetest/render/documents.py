"""Markdown and LaTeX exports and the methods-and-results report.

Every word that names the analysed quantity, a level or a test comes from the results
dictionary's ``analysis`` description and its inference blocks; every number is formatted from
the same dictionary, so it equals the JSON's. p-values print as journals print them
(``formatting.fmt_p``). The report contains no command-line option and no file path: it is
text to paste into a paper.
"""
from __future__ import annotations

import re

from ..formatting import fmt_interval, fmt_level, fmt_num, fmt_p, p_phrase

REFERENCES = {
    "efron": "Efron, B. (1987). Better bootstrap confidence intervals. *JASA* 82(397), 171–185.",
    "phipson": "Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero. "
               "*Stat. Appl. Genet. Mol. Biol.* 9(1), Article 39.",
    "schuirmann": "Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure "
                  "and the power approach for assessing the equivalence of average "
                  "bioavailability. *J. Pharmacokinet. Biopharm.* 15(6), 657–680.",
    "holm": "Holm, S. (1979). A simple sequentially rejective multiple test procedure. "
            "*Scand. J. Statist.* 6(2), 65–70.",
    "berger": "Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling. "
              "*Technometrics* 24, 295–300.",
    "marriott": "Marriott, F. H. C. & Pope, J. A. (1954). Bias in the estimation of "
                "autocorrelations. *Biometrika* 41, 390–402.",
    "newey": "Newey, W. K. & West, K. D. (1987). A simple, positive semi-definite, "
             "heteroskedasticity and autocorrelation consistent covariance matrix. "
             "*Econometrica* 55, 703–708.",
    "ljung": "Ljung, G. M. & Box, G. E. P. (1978). On a measure of lack of fit in time series "
             "models. *Biometrika* 65, 297–303.",
    "politis": "Politis, D. N. & White, H. (2004). Automatic block-length selection for the "
               "dependent bootstrap. *Econometric Reviews* 23, 53–70.",
    "buhlmann": "Bühlmann, P. (1997). Sieve bootstrap for time series. *Bernoulli* 3, 123–148.",
    "schonemann": "Schönemann, P. H. (1966). A generalized solution of the orthogonal Procrustes "
                  "problem. *Psychometrika* 31, 1–10.",
    "patterson": "Patterson, H. D. & Thompson, R. (1971). Recovery of inter-block information "
                 "when block sizes are unequal. *Biometrika* 58, 545–554.",
    "hoeting": "Hoeting, J. A., Madigan, D., Raftery, A. E. & Volinsky, C. T. (1999). Bayesian "
               "model averaging: a tutorial. *Statistical Science* 14, 382–417.",
    "hampel": "Hampel, F. R. (1974). The influence curve and its role in robust estimation. "
              "*JASA* 69, 383–393.",
    "hall": "Hall, P. (1992). On the removal of skewness by transformation. *J. R. Statist. "
            "Soc. B* 54, 221–228.",
    "hall88": "Hall, P. (1988). Theoretical comparison of bootstrap confidence intervals. "
              "*Ann. Statist.* 16, 927–953.",
}


def _driving(doc: dict) -> dict:
    """The inference block the verdict follows, in the shape of ``doc['robust']``."""
    a = doc["analysis"]
    if a["driving"]["method"] == "iid":
        return _iid_block(doc)
    return doc["robust"]


def _other(doc: dict) -> dict:
    return doc["robust"] if doc["analysis"]["driving"]["method"] == "iid" else _iid_block(doc)


def _iid_block(doc: dict) -> dict:
    return {**doc["iid"], "phase_summary": doc["phase_summary"],
            "difference_test": doc["permutation_test"], "late_vs_early": doc["permutation"],
            "noninferiority": doc.get("noninferiority", []), "equivalence": doc["equivalence"]}


def _pooled(rows, phase=None):
    return [r for r in rows if r["family"] == "pooled" and (phase is None or r["phase"] == phase)]


def _yes(v) -> str:
    return "—" if v is None else ("yes" if v else "no")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _tables(doc: dict) -> list[dict]:
    """The main tables, described once for Markdown and LaTeX: {key, caption, header, rows,
    align}. Captions name the model, the quantity, the levels and the tests."""
    a = doc["analysis"]
    q = a["quantity"]
    sym = q["symbol"]
    late, early = a["compare"]["late"], a["compare"]["early"]
    ci, tl = fmt_level(a["ci_level"]), fmt_level(a["tost_level"])
    model = a["model"]
    drv, oth = _driving(doc), _other(doc)
    out = []
    # 1. pooled phase means with both intervals
    orows = {r["phase"]: r for r in _pooled(oth["phase_summary"])}
    rows = []
    for r in _pooled(drv["phase_summary"]):
        o = orows.get(r["phase"], {})
        rows.append([r["phase"], str(r["n"]), fmt_num(r["mean"]),
                     fmt_interval(r["ci_low"], r["ci_high"]),
                     fmt_interval(o.get("ci_low"), o.get("ci_high"))])
    out.append({"key": "phase-means",
                "caption": f"{model}: pooled mean {sym} ({q['definition']}) by phase, with "
                           f"{ci} intervals from the {drv['name']} analysis "
                           f"({drv['interval_method']}) and the {oth['name']} analysis "
                           f"({oth['interval_method']}).",
                "header": ["Phase", "n", f"Mean {sym}", f"{ci} CI ({drv['name']})",
                           f"{ci} CI ({oth['name']})"],
                "rows": rows, "align": "lrrrr"})
    # 2. the compared difference, per family, for both analyses
    for block, role in ((drv, "which drives the verdict"), (oth, "shown beside it")):
        t = block["difference_test"]
        if not t["testable"]:
            continue
        kind = t.get("kind")
        out.append({"key": f"difference-{_slug(block['name'])}",
                    "caption": f"{model}: {a['compare']['contrast']}, one-sided "
                               f"{t['test']} ({block['name']} analysis, {role}; "
                               f"{t['n_late']} vs {t['n_early']} pairs"
                               + (f"; {kind}" if kind else "") + f"), with {ci} intervals; "
                               "per-family p-values Holm-adjusted across families.",
                    "header": ["Family", "Difference", f"{ci} CI", "p", "p (Holm)"],
                    "rows": [[r["family"], fmt_num(r["statistic"]),
                              fmt_interval(r["ci_low"], r["ci_high"]), fmt_p(r["p_value"]),
                              "" if r["p_holm"] is None else fmt_p(r["p_holm"])]
                             for r in block["late_vs_early"]],
                    "align": "lrrrr"})
    # 3. non-superiority of the difference, driving analysis
    ni = drv.get("noninferiority") or []
    if ni:
        m, nl = a["difference_margin"], fmt_level(ni[0]["level"])
        out.append({"key": "noninferiority",
                    "caption": f"{model}: non-superiority of {a['compare']['contrast']}: H0: "
                               f"{late} − {early} ≥ {m:g} (m_diff) against H1: {late} − "
                               f"{early} < {m:g}, {ni[0]['test']} ({drv['name']} analysis), "
                               f"rejected when the upper end of the {nl} interval lies below "
                               f"m_diff; per-family p-values Holm-adjusted across families.",
                    "header": ["Family", "Difference", f"{nl} CI", "p", "p (Holm)", "Rejected"],
                    "rows": [[r["family"], fmt_num(r["statistic"]),
                              fmt_interval(r["ci_low"], r["ci_high"]), fmt_p(r["p_value"]),
                              "" if r["p_holm"] is None else fmt_p(r["p_holm"]),
                              _yes(r["rejected"])] for r in ni],
                    "align": "lrrrrl"})
    # 4. equivalence, pooled, driving analysis
    lo, hi = a["margin"]
    margin = f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"
    note = "" if q["equivalence_testable"] else f" Not part of the verdict: {q['equivalence_note']}."
    out.append({"key": "equivalence",
                "caption": f"{model}: equivalence (TOST) of the pooled mean {sym} to 0 within "
                           f"{margin} ({drv['tost_name']}): equivalent when the {tl} "
                           f"interval lies inside the margin; min margin = max(|low|, |high|) "
                           f"of that interval. Deciding phases: "
                           f"{', '.join(a['equivalence_phases'])}.{note}",
                "header": ["Phase", "n", f"Mean {sym}", f"{tl} CI", "TOST p", "Equivalent",
                           "Min margin"],
                "rows": [[r["phase"], str(r["n"]), fmt_num(r["mean"]),
                          fmt_interval(r["ci_low"], r["ci_high"]), fmt_p(r["p_value"]),
                          _yes(r["equivalent"]), fmt_num(r["min_margin"], signed=False)]
                         for r in _pooled(drv["equivalence"])],
                "align": "lrrrrlr"})
    # 5. per family (iid bootstrap)
    iid = _iid_block(doc)
    out.append({"key": "per-family",
                "caption": f"{model}: mean {sym} by phase and family with {ci} "
                           f"{iid['interval_method']} intervals ({doc['settings']['n_boot']} "
                           "resamples of layer pairs).",
                "header": ["Phase", "Family", "n", f"Mean {sym}", f"{ci} CI"],
                "rows": [[r["phase"], r["family"], str(r["n"]), fmt_num(r["mean"]),
                          fmt_interval(r["ci_low"], r["ci_high"])]
                         for r in doc["phase_summary"]],
                "align": "llrrr"})
    return out


# --------------------------------------------------------------------------- Markdown


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_document(doc: dict, model: str | None = None) -> str:
    """The main tables as GitHub-flavoured Markdown, verdict first."""
    a, s, v = doc["analysis"], doc["settings"], doc["verdict"]
    q = a["quantity"]
    name = model or a["model"]
    out = [f"# gaugetest results: {name}", "",
           f"**Verdict: {v['label']}** ({v['dependence']} analysis) — {v['headline']}", "",
           f"Quantity: **{q['symbol']}** = {q['definition']} (gauge: {q['gauge']}). "
           f"gaugetest {doc['version']}; seed {s['seed']}; alpha {a['alpha']:g}; phase map "
           f"{a['phase_map']['name']}; {a['n_pairs']} pairs of a {a['num_layers']}-layer "
           "model.", ""]
    for t in _tables(doc):
        out += [f"**{t['caption']}**", "", _md_table(t["header"], t["rows"]), ""]
    out += [f"## Why '{v['label']}'", ""]
    out += [f"- {r}" for r in v["reasons"]]
    if v.get("disagreement"):
        out.append(f"- {v['disagreement']}")
    out += ["", f"> {v['caveat']}", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- LaTeX

_NUM = re.compile(r"(?<![\w.])([+\-−]?\d+\.\d+)")


def _tex(s: str) -> str:
    """Escape text for LaTeX; signed numbers go into math mode so minus signs are minus
    signs ($-0.0123$), not hyphens."""
    s = s.replace("−", "-")
    parts = []
    last = 0
    for m in _NUM.finditer(s):
        parts.append(_tex_text(s[last:m.start()]))
        parts.append(f"${m.group(1)}$")
        last = m.end()
    parts.append(_tex_text(s[last:]))
    return "".join(parts)


def _tex_text(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("<", r"$<$"), (">", r"$>$"), ("±", r"$\pm$"), ("—", "--"),
                 ("≥", r"$\geq$"), ("≤", r"$\leq$"), ("|", r"$|$"), ("≈", r"$\approx$")):
        s = s.replace(a, b)
    return s


def latex_document(doc: dict, model: str | None = None) -> str:
    """booktabs tables (``\\usepackage{booktabs}``) with distinct captions and ``\\label``s."""
    a, s = doc["analysis"], doc["settings"]
    name = model or a["model"]
    slug = _slug(name)
    out = [f"% gaugetest {doc['version']}, seed {s['seed']}; model {name}; tables need "
           "\\usepackage{booktabs}", ""]
    for t in _tables(doc):
        lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(t['caption'])}}}",
                 rf"\label{{tab:gaugetest-{slug}-{t['key']}}}",
                 rf"\begin{{tabular}}{{{t['align']}}}", r"\toprule",
                 " & ".join(_tex(h) for h in t["header"]) + r" \\", r"\midrule"]
        lines += [" & ".join(_tex(c) for c in r) + r" \\" for r in t["rows"]]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        out.append("\n".join(lines))
    return "\n".join(out)


# --------------------------------------------------------------------------- report


def _method_sentence(block: dict, doc: dict) -> str:
    a = doc["analysis"]
    d = block.get("detail") or {}
    # the description may be whole sentences; what follows continues the last one
    text = block["description"].rstrip(". ")
    if block["method"] == "neff" and d.get("rho") is not None:
        n_eff = d.get("n_eff", {})
        effs = ", ".join(f"{p} {n_eff[p]:.1f}" for p in (a["compare"]["late"],
                                                          a["compare"]["early"]) if p in n_eff)
        text += (f"; the lag-1 autocorrelation estimated along the whole depth was "
                 f"ρ = {d['rho']:.2f}" + (" (at the bound of its range)" if d.get("rho_clipped")
                                          else "")
                 + (f", giving effective sample sizes {effs}" if effs else ""))
    elif d.get("n_eff") and d.get("lag1") is not None:
        n_eff = d["n_eff"]
        effs = ", ".join(f"{p} {n_eff[p]:.1f}" for p in (a["compare"]["late"],
                                                          a["compare"]["early"]) if p in n_eff)
        fams = sorted((d.get("families") or {}).items(), key=lambda kv: -kv[1])[:3]
        text += (f"; on the pooled series the fitted dependence had lag-1 correlation "
                 f"ρ = {d['lag1']:.2f}" + (f" (posterior weight {', '.join(f'{k} {v:.2f}' for k, v in fams)})"
                                           if fams else "")
                 + (f", giving effective sample sizes {effs}" if effs else ""))
        chk = block.get("check") or {}
        if chk.get("message"):
            text += f"; model check: {chk['message']}"
    elif block.get("summary"):
        text += f" ({block['summary']})"
    return text


def report_markdown(doc: dict, model: str | None = None) -> str:
    """Methods and results, ready to paste into a paper, with references."""
    a, s, v = doc["analysis"], doc["settings"], doc["verdict"]
    q = a["quantity"]
    sym = q["symbol"]
    late, early = a["compare"]["late"], a["compare"]["early"]
    ci, tl = fmt_level(a["ci_level"]), fmt_level(a["tost_level"])
    lo, hi = a["margin"]
    margin = f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"
    drv, oth = _driving(doc), _other(doc)
    name = model or a["model"]
    fams = ", ".join(a["families"])
    refs = ["schonemann", "holm", "schuirmann", "berger"]
    for block in (drv, oth):
        for k in block.get("references", []) or []:
            if k not in refs:
                refs.append(k)
    if "efron" not in refs:
        refs.append("efron")
    if "phipson" not in refs:
        refs.append("phipson")

    null_text = ""
    if q["key"] == "excess":
        draws = (f"averaged over {q['null_draws']} draws per pair" if q["null_draws"]
                 else "")
        if q.get("null_definition"):
            null_text = (f", where the {q['null_name']} is {q['null_definition']}"
                         + (f" ({draws})" if draws else ""))
        else:
            null_text = f" ({draws})" if draws else ""
    methods = [
        f"We compared the weight matrices of adjacent layers of {name} ({a['num_layers']} "
        f"layers, {a['n_pairs']} adjacent pairs, {len(a['families'])} weight families: {fams}) "
        f"by their cosine similarity before (raw) and after alignment under "
        f"{q['gauge_description']}. The analysed quantity is the {q['name']}, "
        f"{sym} = {q['definition']}{null_text}. Pairs were assigned to depth phases "
        f"({a['phase_map']['description']}).",
        f"We tested the one-sided hypothesis that the pooled {sym} (the mean over families of "
        f"each pair) is larger in phase {late} than in phase {early}, and report the difference "
        f"with a two-sided {ci} confidence interval. Because adjacent pairs share a layer, "
        f"{sym} is serially correlated along depth, so the verdict follows the {drv['name']} "
        f"analysis: {_method_sentence(drv, doc)}. Per-family tests were Holm-adjusted "
        "(Holm 1979).",
    ]
    ni_rows = drv.get("noninferiority") or []
    if ni_rows:
        m = a["difference_margin"]
        methods.append(
            f"Because a non-significant difference does not by itself show that there is no "
            f"relevant late excess, we also tested non-superiority of the same difference, H0: "
            f"{late} − {early} ≥ {m:g} against H1: {late} − {early} < {m:g}, with a "
            f"{ni_rows[0]['test']} at level {a['alpha']:g} from the same analysis "
            f"({fmt_level(ni_rows[0]['level'])} intervals: rejected exactly when the interval's "
            f"upper end lies below {m:g}).")
    if q["equivalence_testable"]:
        methods.append(
            f"Equivalence of the pooled mean {sym} to zero within {margin} was tested in the "
            f"deciding phases ({', '.join(a['equivalence_phases'])}) with two one-sided tests at "
            f"level {a['alpha']:g} ({tl} intervals; Schuirmann 1987) on the same standard errors; "
            "equivalence in all deciding phases is an intersection–union test, which needs no "
            "multiplicity correction (Berger 1982).")
    else:
        methods.append(f"Equivalence of {sym} to zero was not tested for the verdict: "
                       f"{q['equivalence_note']}.")
    methods.append(
        f"As a sensitivity analysis, the {oth['name']} analysis ({_method_sentence(oth, doc)}) "
        "is reported beside it. All random steps used seed "
        f"{s['seed']} (gaugetest {doc['version']}); the inputs are identified by their SHA-256 "
        "hashes in the results file.")

    results = []
    t = drv["difference_test"]
    row = drv["late_vs_early"][-1] if drv["late_vs_early"] else None
    if t["testable"] and row and row["statistic"] is not None:
        sentence = (f"The pooled {sym} in phase {late} ({t['n_late']} pairs) minus that in "
                    f"phase {early} ({t['n_early']} pairs) was {fmt_num(row['statistic'])} "
                    f"({ci} CI {fmt_interval(row['ci_low'], row['ci_high'])}; one-sided "
                    f"{p_phrase(row['p_value'])}, {drv['name']} analysis")
        orow = oth["late_vs_early"][-1] if oth["late_vs_early"] else None
        if orow and orow["statistic"] is not None:
            sentence += (f"; {oth['name']} analysis: {ci} CI "
                         f"{fmt_interval(orow['ci_low'], orow['ci_high'])}, "
                         f"{oth['difference_test']['test']} {p_phrase(orow['p_value'])}")
        results.append(sentence + ").")
    else:
        results.append(f"The test of a larger {sym} in phase {late} than in phase {early} could "
                       f"not be run: {t['reason']}.")
    ni = [r for r in drv.get("noninferiority") or [] if r["family"] == "pooled"]
    if ni and ni[0]["p_value"] is not None:
        r = ni[0]
        results.append(
            f"The {fmt_level(r['level'])} upper bound of that difference was "
            f"{fmt_num(r['ci_high'])}, {'below' if r['rejected'] else 'not below'} "
            f"{r['margin']:g} (non-superiority, {r['test']}: {p_phrase(r['p_value'])}), so a "
            f"late excess of {r['margin']:g} or more was "
            + ("ruled out." if r["rejected"] else "not ruled out."))
    est = {r["phase"]: r for r in _pooled(drv["phase_summary"])}
    parts = [f"{fmt_num(est[p]['mean'])} in {p} ({ci} CI "
             f"{fmt_interval(est[p]['ci_low'], est[p]['ci_high'])})"
             for p in (late, early) if p in est and est[p]["ci_low"] is not None]
    if parts:
        results.append(f"The pooled mean {sym} was " + " and ".join(parts) + ".")
    if q["equivalence_testable"]:
        eq = {r["phase"]: r for r in _pooled(drv["equivalence"])}
        ph = [p for p in a["equivalence_phases"] if p in eq and eq[p]["equivalent"] is not None]
        if ph:
            results.append(
                f"Within {margin}, the pooled mean {sym} was "
                + "; ".join(f"{'equivalent' if eq[p]['equivalent'] else 'not shown equivalent'} "
                            f"to zero in {p} ({tl} CI "
                            f"{fmt_interval(eq[p]['ci_low'], eq[p]['ci_high'])}, TOST "
                            f"{p_phrase(eq[p]['p_value'])})" for p in ph) + ".")
    results.append(f"Verdict: **{v['label']}**. " + " ".join(v["reasons"]))
    if v.get("disagreement"):
        results.append(v["disagreement"])
    results.append(v["caveat"])
    lines = [f"## Methods ({name})", "", " ".join(methods), "", f"## Results ({name})", "",
             " ".join(results), "", "## References", ""]
    lines += [f"- {REFERENCES[k]}" for k in refs if k in REFERENCES]
    return "\n".join(lines) + "\n"
