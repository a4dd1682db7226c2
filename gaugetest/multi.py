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
    """One row per model: layout, verdict and the key test numbers."""
    rows = []
    for name, d in docs:
        perm = d["permutation"][-1] if d["permutation"] else None
        rob = (d["robust"] or {}).get("late_vs_early") or []
        rows.append({
            "model": name, "num_layers": d["data"]["num_layers"],
            "n_pairs": d["data"]["n_pairs"], "verdict": d["verdict"]["label"],
            "dependence": d["verdict"]["dependence"],
            "late": d["settings"]["compare"][0], "early": d["settings"]["compare"][1],
            "difference": perm["statistic"] if perm else None,
            "p_permutation": perm["p_value"] if perm else None,
            "permutation_exact": perm["exact"] if perm else None,
            "permutation_resamples": perm["n_resamples"] if perm else None,
            "p_robust": rob[-1]["p_value"] if rob else None,
            "equivalent_everywhere_iid": d["equivalence_everywhere"]["holds"],
            "equivalent_everywhere_robust": (d["robust"] or {}).get("equivalence_everywhere"),
        })
    return rows


def combined_document(docs: list[tuple[str, dict]]) -> dict:
    """The several-model results JSON: {version, tool, summary, models}."""
    return {"version": __version__, "tool": "gaugetest", "summary": summary_rows(docs),
            "models": [{"model": name, **d} for name, d in docs]}


def combined_tables(docs: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    """Tidy tables of all models with a leading model column, plus the summary table."""
    from .render.tables import tidy_tables

    out: dict[str, list[dict]] = {"summary": summary_rows(docs)}
    for name, d in docs:
        for k, rows in tidy_tables(d, model=name).items():
            out.setdefault(k, []).extend(rows)
    return out


def analyze_many(models: list[tuple[str, Any, Any]], **settings) -> MultiResult:
    """Analyse each (name, null, aligned) with the same settings.

    Examples
    --------
    >>> from gaugetest.synthetic import demo_sweeps
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
    return MultiResult(tuple((name, analyze(null, aligned, **settings))
                             for name, null, aligned in models))
