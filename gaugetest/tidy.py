"""Tidy tables (lists of flat rows) built from the results dictionary.

One source for the CSV export, ``AnalysisResult.to_frames()``, the Markdown and LaTeX exports
and the report: every number they show comes from ``to_dict()``, so it equals the JSON's. It
reads only the results dictionary, so the analysis (``to_frames``) and the renderers both use
it without the analysis importing a renderer.
"""
from __future__ import annotations

TABLES = ("pairs", "phase_summary", "permutation", "noninferiority", "equivalence",
          "robust_phase_summary", "robust_late_vs_early", "robust_noninferiority",
          "robust_equivalence", "diagnostics", "power_mdd", "power_tost", "warnings")


def tidy_tables(doc: dict, model: str | None = None) -> dict[str, list[dict]]:
    """{table name: rows} from a results dict; ``model`` adds a leading model column.

    Every row that carries a value of the analysed quantity also carries its name
    (``quantity``), so a CSV read on its own says what its ``mean`` is.
    """
    qty = doc["analysis"]["quantity"]["symbol"]

    def tag(rows, **extra):
        return [{**extra, **r, "quantity": qty} for r in rows]

    out: dict[str, list[dict]] = {
        "pairs": doc["pairs"],
        "phase_summary": tag(doc["phase_summary"], method="iid"),
        "permutation": tag(doc["permutation"], method="iid"),
        "noninferiority": tag(doc.get("noninferiority", []), method="iid"),
        "equivalence": tag(doc["equivalence"], method="iid"),
        "warnings": doc["warnings"],
    }
    rob = doc.get("robust")
    if rob:
        out["robust_phase_summary"] = tag(rob["phase_summary"], method=rob["method"])
        out["robust_late_vs_early"] = tag(rob["late_vs_early"], method=rob["method"])
        out["robust_noninferiority"] = tag(rob.get("noninferiority", []), method=rob["method"])
        rule = {"tost_rule": rob["tost_rule"]} if rob.get("tost_rule") else {}
        out["robust_equivalence"] = tag(rob["equivalence"], method=rob["method"], **rule)
    out["diagnostics"] = doc["diagnostics"]["rows"]
    pw = doc.get("power")
    if pw:
        out["power_mdd"] = [{"method": pw["method"], "late": pw["late"], "early": pw["early"],
                             "target_power": pw["target_power"], **r, "quantity": qty}
                            for r in pw["min_detectable_difference"]]
        out["power_tost"] = [{"method": pw["method"], "target_power": pw["target_power"], **r,
                              "quantity": qty} for r in pw["tost_power_at_zero"]]
    if model is not None:
        out = {k: [{"model": model, **r} for r in rows] for k, rows in out.items()}
    return out


def across_tables(across: dict) -> dict[str, list[dict]]:
    """The across-models tables of a family run (the JSON's ``across_models``): one row of the
    cross-model difference (with the analysis beside it), one row per model, one row per deciding
    phase's cross-model TOST; every row names the quantity and the method."""
    sym = across["quantity"].get("symbol")
    base = {"late": across["compare"]["late"], "early": across["compare"]["early"],
            "quantity": sym}
    d = across.get("difference")
    if d is None:
        return {"across_difference": [{**base, "refused": across.get("refused"),
                                       "models": ";".join(across["models"])}]}
    v = across.get("verdict") or {}
    chk = across.get("beside") or {}
    diff = {**base, **{k: val for k, val in d.items() if k != "weights"},
            "models": ";".join(across["models"]), "verdict": v.get("label"),
            "beside_method": chk.get("method"), "beside_estimate": chk.get("estimate"),
            "beside_ci_low": chk.get("ci_low"), "beside_ci_high": chk.get("ci_high"),
            "beside_p_value": chk.get("p_value")}
    per = [{**base, "method": d["method"], **r} for r in across["per_model"]]
    eq = [{**r, "quantity": sym} for r in across["equivalence"]]
    return {"across_difference": [diff], "across_per_model": per, "across_equivalence": eq}
