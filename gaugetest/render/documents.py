"""Markdown and LaTeX exports and the methods-and-results report.

p-values print with 3 significant digits, and a Monte Carlo p-value at its floor
1/(m+1) prints as ``<1e-5``-style (see ``formatting.fmt_p``).  Every number is
formatted from the results dictionary, so it equals the JSON's.
"""
from __future__ import annotations

from .formatting import fmt_num, fmt_p, p_phrase

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
}


def _p(row: dict) -> str:
    return fmt_p(row.get("p_value"), row.get("exact", True), row.get("n_resamples"))


def _perm_kind(doc: dict) -> str:
    rows = doc["permutation"]
    if not rows:
        return ""
    r = rows[-1]
    if r["exact"]:
        return f"exact, all {doc['permutation_test']['n_distinct_splits']} splits"
    return f"Monte Carlo, {r['n_resamples']} random splits"


# --------------------------------------------------------------------------- Markdown


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_document(doc: dict, title: str | None = None) -> str:
    """The main tables as GitHub-flavoured Markdown."""
    s = doc["settings"]
    late, early = s["compare"]
    level = f"{100 * (1 - s['alpha']):g}%"
    out = [f"# {title or 'gaugetest results'}", "",
           f"gaugetest {doc['version']}; seed {s['seed']}; alpha {s['alpha']:g}; "
           f"phase map {doc['phase_map']['name']}; {doc['data']['n_pairs']} pairs of a "
           f"{doc['data']['num_layers']}-layer model.", ""]
    out += [f"## Mean delta by phase ({level} {s['ci_method']} bootstrap CI, "
            f"{s['n_boot']} resamples)", "",
            _md_table(["phase", "family", "n", "mean delta", "CI low", "CI high"],
                      [[r["phase"], r["family"], str(r["n"]), fmt_num(r["mean_delta"]),
                        fmt_num(r["ci_low"]), fmt_num(r["ci_high"])]
                       for r in doc["phase_summary"]]), ""]
    if doc["permutation"]:
        out += [f"## Permutation test: delta({late}) > delta({early}), one-sided "
                f"({_perm_kind(doc)})", "",
                _md_table(["family", "difference", "p", "p (Holm)"],
                          [[r["family"], fmt_num(r["statistic"]), _p(r),
                            "" if r["p_holm"] is None else
                            fmt_p(r["p_holm"], r["exact"], r["n_resamples"])]
                           for r in doc["permutation"]]), ""]
    else:
        out += [f"## Permutation test: not testable — {doc['permutation_test']['reason']}", ""]
    lo, hi = s["margin"]
    out += [f"## Equivalence (TOST) within ({lo:g}, {hi:g}), pooled over families", "",
            _md_table(["phase", "n", "mean delta", f"{100 * (1 - 2 * s['alpha']):g}% CI",
                       "p", "equivalent", "min margin"],
                      [[r["phase"], str(r["n"]), fmt_num(r["mean_delta"]),
                        f"[{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}]",
                        fmt_p(r["p_value"]), _yes(r["equivalent"]),
                        fmt_num(r["min_margin"], signed=False)]
                       for r in doc["equivalence"] if r["family"] == "pooled"]), ""]
    rob = doc.get("robust")
    if rob:
        out += [f"## Dependence-robust results ({rob['method']}), pooled over families", "",
                _md_table(["phase", "n", "mean delta", f"{level} CI", "TOST p", "equivalent"],
                          [[r["phase"], str(r["n"]), fmt_num(r["mean_delta"]),
                            f"[{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}]",
                            fmt_p(e["p_value"]), _yes(e["equivalent"])]
                           for r, e in zip(rob["phase_summary"], rob["equivalence"])
                           if r["family"] == "pooled"]), ""]
        if rob["late_vs_early"]:
            out += [_md_table(["family", "difference", "t", "df", "p", "p (Holm)"],
                              [[r["family"], fmt_num(r["statistic"]),
                                fmt_num(r["t"], 2, False), fmt_num(r["df"], 1, False),
                                fmt_p(r["p_value"]),
                                "" if r["p_holm"] is None else fmt_p(r["p_holm"])]
                               for r in rob["late_vs_early"]]), ""]
    v = doc["verdict"]
    out += [f"## Verdict: **{v['label']}** (dependence: {v['dependence']})", ""]
    out += [f"- {r}" for r in v["reasons"]]
    if v.get("disagreement"):
        out.append(f"- {v['disagreement']}")
    out += ["", f"> {v['caveat']}", ""]
    return "\n".join(out)


def _yes(v) -> str:
    return "—" if v is None else ("yes" if v else "no")


# --------------------------------------------------------------------------- LaTeX


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("<", r"$<$"), (">", r"$>$"), ("±", r"$\pm$"), ("—", "--")):
        s = s.replace(a, b)
    return s


def _tex_table(caption: str, header: list[str], rows: list[list[str]], align: str) -> str:
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(caption)}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_tex(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def latex_document(doc: dict) -> str:
    """booktabs tables (needs ``\\usepackage{booktabs}``) for the main results."""
    s = doc["settings"]
    late, early = s["compare"]
    level = f"{100 * (1 - s['alpha']):g}\\%"
    out = [f"% gaugetest {doc['version']}, seed {s['seed']}; tables need \\usepackage{{booktabs}}", ""]
    out.append(_tex_table(
        f"Mean delta (aligned - raw cosine) by phase with {level.replace(chr(92), '')} "
        f"{s['ci_method']} bootstrap CIs ({s['n_boot']} resamples).",
        ["Phase", "Family", "n", "Mean", "CI low", "CI high"],
        [[r["phase"], r["family"], str(r["n"]), fmt_num(r["mean_delta"]), fmt_num(r["ci_low"]),
          fmt_num(r["ci_high"])] for r in doc["phase_summary"]], "llrrrr"))
    if doc["permutation"]:
        out.append(_tex_table(
            f"One-sided permutation test of delta({late}) > delta({early}) ({_perm_kind(doc)}); "
            "Holm-adjusted across families.",
            ["Family", "Difference", "p", "p (Holm)"],
            [[r["family"], fmt_num(r["statistic"]), _p(r),
              "" if r["p_holm"] is None else fmt_p(r["p_holm"], r["exact"], r["n_resamples"])]
             for r in doc["permutation"]], "lrrr"))
    lo, hi = s["margin"]
    out.append(_tex_table(
        f"Equivalence (TOST) of the pooled mean delta to 0 within ({lo:g}, {hi:g}).",
        ["Phase", "n", "Mean", "CI low", "CI high", "p", "Equivalent"],
        [[r["phase"], str(r["n"]), fmt_num(r["mean_delta"]), fmt_num(r["ci_low"]),
          fmt_num(r["ci_high"]), fmt_p(r["p_value"]), _yes(r["equivalent"])]
         for r in doc["equivalence"] if r["family"] == "pooled"], "lrrrrrl"))
    rob = doc.get("robust")
    if rob and rob["late_vs_early"]:
        out.append(_tex_table(
            f"Dependence-robust ({rob['method']}) one-sided test of delta({late}) > "
            f"delta({early}).",
            ["Family", "Difference", "t", "df", "p"],
            [[r["family"], fmt_num(r["statistic"]), fmt_num(r["t"], 2, False),
              fmt_num(r["df"], 1, False), fmt_p(r["p_value"])] for r in rob["late_vs_early"]],
            "lrrrr"))
    return "\n".join(out)


# --------------------------------------------------------------------------- report


def report_markdown(doc: dict) -> str:
    """A methods-and-results paragraph, ready to paste, with references."""
    s, d, v = doc["settings"], doc["data"], doc["verdict"]
    late, early = s["compare"]
    lo, hi = s["margin"]
    margin = f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"
    level = f"{100 * (1 - s['alpha']):g}%"
    ci_name = {"bca": "bias-corrected and accelerated (BCa)", "percentile": "percentile",
               "basic": "basic"}[s["ci_method"]]
    refs = ["efron", "phipson", "holm", "schuirmann", "berger"]
    fams = ", ".join(f"`{f}`" for f in d["families"])
    methods = [
        f"We compared the cosine similarity of adjacent layers' weight matrices before (raw) and "
        f"after orthogonal Procrustes alignment for {d['n_pairs']} layer pairs of a "
        f"{d['num_layers']}-layer model ({len(d['families'])} families: {fams}), analysing "
        f"delta = aligned − raw. Pairs were assigned to phases with the "
        f"{doc['phase_map']['name']} map ({doc['phase_map']['description']}). For every phase and "
        f"family we report the mean delta with a {level} {ci_name} bootstrap confidence interval "
        f"({s['n_boot']} resamples of layer pairs, families resampled together; Efron 1987)."]
    pt = doc["permutation_test"]
    if pt["testable"]:
        r = doc["permutation"][-1]
        how = (f"enumerating all {pt['n_distinct_splits']} splits (exact p-value)" if r["exact"]
               else f"with {r['n_resamples']} random splits and p = (b + 1)/(m + 1) "
                    "(Phipson & Smyth 2010)")
        methods.append(
            f"We tested the one-sided hypothesis that mean delta is larger in phase {late} "
            f"({pt['n_late']} pairs) than in phase {early} ({pt['n_early']} pairs) with a "
            f"permutation test of the difference in means, permuting whole pairs, {how}; "
            "per-family p-values were Holm-adjusted (Holm 1979), and the test on the "
            "family-pooled delta decides.")
    else:
        methods.append(f"The one-sided test of delta({late}) > delta({early}) could not be run: "
                       f"{pt['reason']}.")
    methods.append(
        f"Equivalence of the pooled mean delta to zero within {margin} was tested in every phase "
        "with two one-sided t tests (TOST; Schuirmann 1987) at level "
        f"{s['alpha']:g}; 'equivalent everywhere' is their intersection–union test, which needs "
        "no multiplicity correction (Berger 1982).")
    rob = doc.get("robust")
    if rob:
        refs += ["marriott", "ljung"]
        if rob["method"] == "hac":
            refs.append("newey")
        if rob["method"] == "block":
            refs.append("politis")
        methods.append(
            "Because adjacent pairs share a layer, deltas are serially correlated along depth; "
            "we report the lag-1 autocorrelation and Ljung–Box tests (Ljung & Box 1978) and "
            f"dependence-robust results ({rob['method']}: "
            + ("effective-sample-size t intervals and Welch t tests with the lag-1 "
               "autocorrelation estimated along the whole depth and bias-corrected, "
               "Marriott & Pope 1954" if rob["method"] == "neff" else
               "Newey–West standard errors, Newey & West 1987" if rob["method"] == "hac" else
               f"{rob['method']} standard errors")
            + f"). The verdict follows the {v['dependence']} analysis.")
    methods.append(f"All random steps used seed {s['seed']} (gaugetest {doc['version']}; "
                   f"inputs identified by SHA-256 in the results file).")

    results = []
    summ = {(r["phase"], r["family"]): r for r in doc["phase_summary"]}
    rsumm = {(r["phase"], r["family"]): r for r in (rob or {}).get("phase_summary", [])}
    for ph in (late, early):
        r = summ.get((ph, "pooled"))
        if r and r["ci_low"] is not None:
            text = (f"Pooled mean delta was {fmt_num(r['mean_delta'])} in phase {ph} "
                    f"(n = {r['n']}; {level} {s['ci_method']} bootstrap CI "
                    f"[{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}]")
            q = rsumm.get((ph, "pooled"))
            if q and q["ci_low"] is not None:
                text += (f"; robust {rob['method']} CI [{fmt_num(q['ci_low'])}, "
                         f"{fmt_num(q['ci_high'])}]")
            results.append(text + ").")
    if pt["testable"]:
        r = doc["permutation"][-1]
        text = (f"The pooled difference delta({late}) − delta({early}) was "
                f"{fmt_num(r['statistic'])} (permutation "
                f"{p_phrase(r['p_value'], r['exact'], r['n_resamples'])}")
        if rob and rob["late_vs_early"] and rob["late_vs_early"][-1]["p_value"] is not None:
            rr = rob["late_vs_early"][-1]
            text += f"; robust {rob['method']} {p_phrase(rr['p_value'])}"
        results.append(text + ").")
    eq_rows = [r for r in doc["equivalence"] if r["family"] == "pooled" and r["equivalent"] is not None]
    if eq_rows:
        n_eq = sum(r["equivalent"] for r in eq_rows)
        worst = max(eq_rows, key=lambda r: r["min_margin"])
        results.append(f"The pooled mean delta was equivalent to zero within {margin} in {n_eq} "
                       f"of {len(eq_rows)} testable phases (iid TOST); the largest margin needed "
                       f"was {fmt_num(worst['min_margin'], signed=False)} (phase {worst['phase']}).")
    results.append(f"Verdict: **{v['label']}**. " + " ".join(v["reasons"]))
    if v.get("disagreement"):
        results.append(v["disagreement"])
    results.append(v["caveat"])

    lines = ["## Methods", "", " ".join(methods), "", "## Results", "", " ".join(results), "",
             "## References", ""]
    lines += [f"- {REFERENCES[k]}" for k in refs]
    return "\n".join(lines) + "\n"
