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
    across: Any = None                    # FamilyResult of analyze_models (None: analyze_many)

    def documents(self) -> list[tuple[str, dict]]:
        """(name, results dict) per model; each model's ``to_dict()`` computed once."""
        return [(name, res.to_dict()) for name, res in self.models]

    def summary_rows(self) -> list[dict]:
        return summary_rows(self.documents())

    def to_dict(self) -> dict:
        return combined_document(self.documents(), self.across)

    def tidy_tables(self) -> dict[str, list[dict]]:
        return combined_tables(self.documents(), self.across)

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
            "late_vs_early": d["permutation"], "equivalence": d["equivalence"],
            "noninferiority": d.get("noninferiority", [])}
        r = drv["late_vs_early"][-1] if drv["late_vs_early"] else {}
        ni = next((x for x in drv.get("noninferiority") or [] if x["family"] == "pooled"), {})
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
            "difference_margin": a.get("difference_margin"),
            "p_noninferiority": ni.get("p_value"),
            "evidence_noninferiority": d["verdict"]["evidence"].get("noninferiority"),
        })
    return rows


def combined_document(docs: list[tuple[str, dict]], across=None) -> dict:
    """The several-model results JSON: {version, tool, summary, models}, and
    ``across_models`` (after ``tool``) when the run analysed the family
    (:func:`analyze_models`)."""
    out = {"version": __version__, "tool": "gaugetest"}
    if across is not None:
        out["across_models"] = across.to_dict()
    out.update({"summary": summary_rows(docs),
                "models": [{"model": name, **d} for name, d in docs]})
    return out


def combined_tables(docs: list[tuple[str, dict]], across=None) -> dict[str, list[dict]]:
    """Tidy tables of all models with a leading model column, plus the summary table, and
    the across-models tables when the run analysed the family."""
    from .tidy import across_tables, tidy_tables

    out: dict[str, list[dict]] = {"summary": summary_rows(docs)}
    for name, d in docs:
        for k, rows in tidy_tables(d, model=name).items():
            out.setdefault(k, []).extend(rows)
    if across is not None:
        out.update(across_tables(across.to_dict()))
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


def analyze_models(models, **settings) -> MultiResult:
    """Analyse a family of models: every model, and one cross-model test.

    Parameters
    ----------
    models : mapping or sequence
        ``{name: (null, aligned)}`` (or ``[(name, null, aligned), ...]``), each pair taken as
        :func:`gaugetest.analyze` takes it (paths, dicts or sweeps).
    **settings
        The settings of :func:`gaugetest.analyze` (one value for every model), and
        ``across_method`` (the rule combining the models, default
        ``gaugetest.across.ACROSS_METHOD``; the candidates are
        ``gaugetest.inference.family.METHODS``, compared in docs/across-models.md) and
        ``share_dependence`` (True: one dependence model along depth for all models, as the
        command line does; False: every model alone).

    Returns
    -------
    MultiResult
        ``to_dict()`` is exactly the ``--json`` document of ``gaugetest test --model ...``:
        ``{version, tool, across_models, summary, models}``. ``across`` is the
        :class:`gaugetest.across.FamilyResult`. Models that cannot be pooled (different
        quantity, gauge or null, or lacking the compared phases) are analysed alone and
        ``across_models.refused`` says why.

    Examples
    --------
    >>> from gaugetest.studies.synthetic import synthetic_sweeps
    >>> fam = {f"m{n}": synthetic_sweeps(n, seed=n, matched_null=True) for n in (28, 40)}
    >>> m = analyze_models(fam, phases="fractional", n_boot=200, n_perm=500)
    >>> m.across.models, m.across.refused is None, m.across.difference.k
    (('m28', 'm40'), True, 2)
    """
    from collections.abc import Mapping

    from .across import ACROSS_METHOD, analyze_family
    from .analysis import prepare

    method = settings.pop("across_method", ACROSS_METHOD)
    share = bool(settings.pop("share_dependence", True))
    items = ([(n, *pair) for n, pair in models.items()] if isinstance(models, Mapping)
             else [tuple(m) for m in models])
    for it in items:
        if len(it) != 3:
            raise UsageError("models", "NAME: (null, aligned) pairs", repr(it)[:60])
    names = [str(m[0]) for m in items]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise UsageError("--model", "distinct model names", ", ".join(sorted(dup)))
    preps = [(name, prepare(null, aligned, model=name, **settings))
             for name, (_, null, aligned) in zip(names, items)]
    results, family = analyze_family(preps, method, share)
    return MultiResult(tuple(results), family)
