"""Tidy tables (lists of flat rows) built from the results dictionary.

One source for the CSV export, ``AnalysisResult.to_frames()``, the Markdown and
LaTeX exports and the report: every number they show comes from ``to_dict()``,
so it equals the JSON's.
"""
from __future__ import annotations

TABLES = ("pairs", "phase_summary", "permutation", "equivalence", "robust_phase_summary",
          "robust_late_vs_early", "robust_equivalence", "diagnostics", "power_mdd",
          "power_tost", "warnings")


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
        "equivalence": tag(doc["equivalence"], method="iid"),
        "warnings": doc["warnings"],
    }
    rob = doc.get("robust")
    if rob:
        out["robust_phase_summary"] = tag(rob["phase_summary"], method=rob["method"])
        out["robust_late_vs_early"] = tag(rob["late_vs_early"], method=rob["method"])
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


def columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def csv_text(rows: list[dict], cols: list[str] | None = None) -> str:
    """CSV with full-precision numbers (Python's shortest round-trip repr, as in the JSON)."""
    import csv
    import io

    cols = cols or columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else
                    ("true" if r[c] is True else "false" if r[c] is False else r[c])
                    for c in cols])
    return buf.getvalue()


def write_csv_dir(directory: str, tables: dict[str, list[dict]]) -> list[str]:
    """Write one CSV per non-empty table into ``directory`` (created if missing)."""
    import os

    from .files import make_dir, write_text

    make_dir(directory, "--csv")
    written = []
    for name, rows in tables.items():
        if not rows and name == "warnings":
            rows = []
        path = os.path.join(directory, f"{name}.csv")
        write_text(path, csv_text(rows, columns(rows) or ["code", "message"]), "--csv")
        written.append(path)
    return written
