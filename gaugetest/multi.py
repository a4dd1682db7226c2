"""Several models in one run: one analysis per model, a combined summary table, and tables
with a model column.

Models come from repeated ``--model NAME=NULL.json,ALIGNED.json`` options or a TOML
manifest::

    [models.qwen3-32b]
    null = "qwen3-32b-null.json"        # paths relative to the manifest
    aligned = "qwen3-32b-aligned.json"
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ._version import __version__
from .errors import InputError, UsageError


def parse_model_option(value: str) -> tuple[str, str, str]:
    """``NAME=NULL.json,ALIGNED.json`` -> (name, null, aligned)."""
    name, sep, rest = value.partition("=")
    paths = rest.split(",")
    if not sep or not name or len(paths) != 2 or not all(paths):
        raise UsageError("--model", "NAME=NULL.json,ALIGNED.json", value)
    return name, paths[0], paths[1]


def load_manifest(path: str) -> list[tuple[str, str, str]]:
    from .io import read_toml

    doc = read_toml(path)
    models = doc.get("models")
    if not isinstance(models, dict) or not models:
        raise InputError(path, "models", "a [models.NAME] table with null and aligned paths")
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise InputError(path, f"models.{name}", "a table with null and aligned")
        for key in ("null", "aligned"):
            if not isinstance(entry.get(key), str):
                raise InputError(path, f"models.{name}.{key}", "a file path (string)",
                                 "missing" if key not in entry else repr(entry[key]))
        out.append((name, os.path.join(base, entry["null"]), os.path.join(base, entry["aligned"])))
    return out


@dataclass(frozen=True)
class MultiResult:
    """Results of several models analysed with the same settings."""

    models: tuple[tuple[str, Any], ...]   # (name, AnalysisResult)

    def documents(self) -> list[tuple[str, dict]]:
        """(name, results dict) per model; each model's ``to_dict()`` computed once."""
        return [(name, res.to_dict()) for name, res in self.models]

    def summary_rows(self) -> list[dict]:
        return summary_rows(self.documents())

    def to_dict(self) -> dict:
        return combined_document(self.documents())

    def tidy_tables(self) -> dict[str, list[dict]]:
        return combined_tables(self.documents())

    def to_frames(self) -> dict:
        import pandas as pd

        return {k: pd.DataFrame(v) for k, v in self.tidy_tables().items()}


def summary_rows(docs: list[tuple[str, dict]]) -> list[dict]:
    """One row per model: layout, quantity, verdict and the numbers of the analysis that the
    verdict follows (with the iid permutation p beside it)."""
    rows = []
    for name, d in docs:
        a = d["analysis"]
        drv = d["robust"] if a["driving"]["method"] != "iid" else {
            "late_vs_early": d["permutation"], "equivalence": d["equivalence"]}
        r = drv["late_vs_early"][-1] if drv["late_vs_early"] else {}
        perm = d["permutation"][-1] if d["permutation"] else {}
        rob = d["robust"]["late_vs_early"][-1] if d["robust"]["late_vs_early"] else {}
        rows.append({
            "model": name, "num_layers": a["num_layers"], "n_pairs": a["n_pairs"],
            "quantity": a["quantity"]["symbol"], "gauge": a["quantity"]["gauge"],
            "verdict": d["verdict"]["label"], "dependence": d["verdict"]["dependence"],
            "late": a["compare"]["late"], "early": a["compare"]["early"],
            "difference": r.get("statistic"), "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"), "level": a["ci_level"], "p_value": r.get("p_value"),
            "p_permutation": perm.get("p_value"), "p_robust": rob.get("p_value"),
            "evidence_difference": d["verdict"]["evidence"]["difference"],
            "evidence_equivalence": d["verdict"]["evidence"]["equivalence"],
        })
    return rows


def combined_document(docs: list[tuple[str, dict]]) -> dict:
    """The several-model results JSON: {version, tool, summary, models}."""
    return {"version": __version__, "tool": "gaugetest", "summary": summary_rows(docs),
            "models": [{"model": name, **d} for name, d in docs]}


def combined_tables(docs: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    """Tidy tables of all models with a leading model column, plus the summary table."""
    from .tidy import tidy_tables

    out: dict[str, list[dict]] = {"summary": summary_rows(docs)}
    for name, d in docs:
        for k, rows in tidy_tables(d, model=name).items():
            out.setdefault(k, []).extend(rows)
    return out


def analyze_many(models: list[tuple[str, Any, Any]], **settings) -> MultiResult:
    """Analyse each (name, null, aligned) with the same settings.

    Examples
    --------
    >>> from gaugetest.studies.synthetic import demo_sweeps
    >>> m = analyze_many([("a", *demo_sweeps(64)), ("b", *demo_sweeps(36))],
    ...                  n_boot=200, n_perm=500)
    >>> [r["model"] for r in m.summary_rows()]
    ['a', 'b']
    """
    from .analysis import analyze

    names = [m[0] for m in models]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise UsageError("--model", "distinct model names", ", ".join(sorted(dup)))
    # the name given for a model is its name in every output (captions, headline, labels)
    return MultiResult(tuple((name, analyze(null, aligned, model=name, **settings))
                             for name, null, aligned in models))
