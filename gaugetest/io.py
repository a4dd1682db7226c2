"""Load and validate the two sweep files (formats in FORMATS.md).

Every problem with an input raises :class:`gaugetest.errors.InputError` naming
the file, the JSON path of the field and what was expected; the CLI turns it
into one line and exit code 2.  Checks live here, apart from the statistics.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InputError, describe

#: The seven standard projection families, in the original script's order.
STANDARD_FAMILIES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: Cosines may exceed [-1, 1] by float rounding only.
COS_TOLERANCE = 1e-6

#: The name of the mean over families in every output: no family may have it.
RESERVED_FAMILY = "pooled"


def _family_name(fam: str, src: str, path: str) -> None:
    if fam == RESERVED_FAMILY:
        raise InputError(src, path, f"a family name other than {RESERVED_FAMILY!r} (reserved: "
                         "every output names the mean over families so)",
                         f"a family named {fam!r}")


@dataclass(frozen=True)
class Sweep:
    """One validated sweep file.

    Attributes
    ----------
    source : str
        Path (or ``"<null dict>"`` / ``"<aligned dict>"`` for in-memory input).
    kind : str
        ``"null"`` (raw cosines, ``pair_results``) or ``"aligned"`` (``aligned_cos``).
    num_layers : int or None
        Declared layer count (required in the aligned file, optional in the null file).
    cos : dict
        ``family -> {L: cosine}``.
    sha256 : str or None
        Hash of the file's bytes (None for in-memory input).
    extras : dict
        ``family -> {L: {key: value}}`` numeric side fields (e.g. a measured null).
    meta : dict
        Top-level scalar fields (``model`` ...), kept for the results file.
    """

    source: str
    kind: str
    num_layers: int | None
    cos: dict[str, dict[int, float]]
    sha256: str | None = None
    extras: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        """Sorted pair indices L that carry at least one family."""
        return sorted({L for fam in self.cos.values() for L in fam})


def order_families(names) -> list[str]:
    """Standard families first in the original order, then the others sorted."""
    names = set(names)
    return [f for f in STANDARD_FAMILIES if f in names] + sorted(names - set(STANDARD_FAMILIES))


# --------------------------------------------------------------------------- reading


def read_json(path: str | os.PathLike) -> tuple[Any, str]:
    """Read a JSON file; return ``(document, sha256 of its bytes)``.

    Raises
    ------
    InputError
        If the path does not exist, is not a regular readable file, is empty, or is not JSON.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError(p, "$", "an existing file", "no such file")
    if os.path.isdir(p):
        raise InputError(p, "$", "a JSON file", "a directory")
    try:
        with open(p, "rb") as fh:
            data = fh.read()
    except PermissionError:
        raise InputError(p, "$", "a readable file", "permission denied") from None
    except OSError as exc:
        raise InputError(p, "$", "a readable file", exc.strerror or str(exc)) from None
    if not data.strip():
        raise InputError(p, "$", "a JSON document", "an empty file")
    try:
        text = data.decode("utf-8-sig")  # strict UTF-8 (json.loads(bytes) would guess UTF-16/32)
    except UnicodeDecodeError as exc:
        raise InputError(p, "$", "UTF-8 encoded JSON", f"an undecodable byte at offset {exc.start}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(p, "$", "valid JSON",
                         f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError(p, "$", "valid JSON", "nesting too deep") from None
    return doc, hashlib.sha256(data).hexdigest()


def read_toml(path: str | os.PathLike) -> dict:
    """Read a TOML settings file (phase map, manifest, family map).

    Raises
    ------
    InputError
        If the path is missing, a directory, unreadable, not UTF-8 or not TOML.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(p, "$", "an existing TOML file",
                         "a directory" if os.path.isdir(p) else "no such file")
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(p, "$", "valid TOML", str(exc).splitlines()[0]) from None
    except UnicodeDecodeError:
        raise InputError(p, "$", "UTF-8 TOML", "undecodable bytes") from None
    except OSError as exc:
        raise InputError(p, "$", "a readable file", exc.strerror or str(exc)) from None


# --------------------------------------------------------------------------- field checks


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _cosine(v: Any, src: str, path: str) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise InputError(src, path, "a number in [-1, 1]", describe(v))
    x = float(v)
    if not math.isfinite(x):
        raise InputError(src, path, "a finite number in [-1, 1]", describe(v))
    if abs(x) > 1.0 + COS_TOLERANCE:
        raise InputError(src, path, "a number in [-1, 1]", describe(v))
    return x


def _num_layers(doc: Mapping, src: str, required: bool) -> int | None:
    if "num_layers" not in doc:
        if required:
            raise InputError(src, "num_layers", "a positive integer (it selects the phase map)",
                             "missing")
        return None
    n = doc["num_layers"]
    if not _is_int(n) or n < 2:
        raise InputError(src, "num_layers", "an integer >= 2", describe(n))
    return n


def _check_range(L: int, n: int | None, src: str, path: str) -> None:
    if L < 0:
        raise InputError(src, path, "a layer index >= 0", describe(L))
    if n is not None and L > n - 2:
        raise InputError(src, path, f"a pair index L <= num_layers - 2 = {n - 2} "
                         f"(pair (L, L+1) of a {n}-layer model)", describe(L))


def _scalar_meta(doc: Mapping) -> dict[str, Any]:
    """Top-level scalar fields (model, gauge, null_draws, ...) and, when well formed, the
    ``shapes`` table {family: [out, in]} that ``gaugetest measure`` writes."""
    meta = {k: v for k, v in doc.items()
            if isinstance(v, (str, int, float, bool)) and k != "num_layers"}
    shapes = doc.get("shapes")
    if isinstance(shapes, dict) and shapes and all(
            isinstance(v, list) and len(v) == 2 and all(_is_int(d) and d > 0 for d in v)
            for v in shapes.values()):
        meta["shapes"] = {str(k): list(v) for k, v in shapes.items()}
    return meta


# --------------------------------------------------------------------------- the two formats


def parse_null(doc: Any, source: str = "<null dict>", sha256: str | None = None) -> Sweep:
    """Validate a raw-cosine sweep (``pair_results`` format).

    Examples
    --------
    >>> s = parse_null({"pair_results": [{"L": 0, "L_next": 1,
    ...                 "families": {"q_proj": {"cos": 0.03}}}]})
    >>> s.cos
    {'q_proj': {0: 0.03}}
    """
    if not isinstance(doc, dict):
        raise InputError(source, "$", "a JSON object with 'pair_results'", describe(doc))
    n = _num_layers(doc, source, required=False)
    if "pair_results" not in doc:
        raise InputError(source, "pair_results", "a list of layer pairs", "missing")
    prs = doc["pair_results"]
    if not isinstance(prs, list):
        raise InputError(source, "pair_results", "a list of layer pairs", describe(prs))
    if not prs:
        raise InputError(source, "pair_results", "at least one layer pair", "an empty list")
    cos: dict[str, dict[int, float]] = {}
    extras: dict[str, dict[int, dict[str, float]]] = {}
    seen: dict[int, int] = {}
    for i, pr in enumerate(prs):
        at = f"pair_results[{i}]"
        if not isinstance(pr, dict):
            raise InputError(source, at, "an object with L, families", describe(pr))
        if "L" not in pr:
            raise InputError(source, f"{at}.L", "an integer layer index", "missing")
        L = pr["L"]
        if not _is_int(L):
            raise InputError(source, f"{at}.L", "an integer layer index", describe(L))
        _check_range(L, n, source, f"{at}.L")
        if L in seen:
            raise InputError(source, f"{at}.L", "each pair once",
                             f"L={L} again (first at pair_results[{seen[L]}])")
        seen[L] = i
        if "L_next" in pr and pr["L_next"] != L + 1:
            raise InputError(source, f"{at}.L_next", f"L + 1 = {L + 1} (adjacent pairs)",
                             describe(pr["L_next"]))
        fams = pr.get("families")
        if not isinstance(fams, dict):
            raise InputError(source, f"{at}.families", "an object family -> {cos: ...}",
                             "missing" if fams is None and "families" not in pr else describe(fams))
        for fam, entry in fams.items():
            fat = f"{at}.families.{fam}"
            _family_name(fam, source, fat)
            if not isinstance(entry, dict):
                raise InputError(source, fat, "an object with 'cos'", describe(entry))
            if "cos" not in entry:
                raise InputError(source, f"{fat}.cos", "a number in [-1, 1]", "missing")
            cos.setdefault(fam, {})[L] = _cosine(entry["cos"], source, f"{fat}.cos")
            side = {k: float(v) for k, v in entry.items()
                    if k != "cos" and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v)}
            if side:
                extras.setdefault(fam, {})[L] = side
    if not cos:
        raise InputError(source, "pair_results[*].families", "at least one family with 'cos'",
                         "no families")
    return Sweep(source, "null", n, cos, sha256, extras, _scalar_meta(doc))


def parse_aligned(doc: Any, source: str = "<aligned dict>", sha256: str | None = None) -> Sweep:
    """Validate an aligned-cosine sweep (``aligned_cos`` format, string L keys).

    Examples
    --------
    >>> s = parse_aligned({"num_layers": 8, "aligned_cos": {"q_proj": {"0": 0.04}}})
    >>> s.cos
    {'q_proj': {0: 0.04}}
    """
    if not isinstance(doc, dict):
        raise InputError(source, "$", "a JSON object with 'num_layers' and 'aligned_cos'",
                         describe(doc))
    n = _num_layers(doc, source, required=True)
    if "aligned_cos" not in doc:
        raise InputError(source, "aligned_cos", "an object family -> {L: cos}", "missing")
    ac = doc["aligned_cos"]
    if not isinstance(ac, dict):
        raise InputError(source, "aligned_cos", "an object family -> {L: cos}", describe(ac))
    if not ac:
        raise InputError(source, "aligned_cos", "at least one family", "an empty object")
    cos: dict[str, dict[int, float]] = {}
    for fam, per_L in ac.items():
        at = f"aligned_cos.{fam}"
        _family_name(fam, source, at)
        if not isinstance(per_L, dict):
            raise InputError(source, at, "an object {\"L\": cos}", describe(per_L))
        out: dict[int, float] = {}
        for key, v in per_L.items():
            kat = f"{at}[{key!r}]"
            if not (key.isascii() and key.isdigit()):
                raise InputError(source, kat, "a non-negative integer key like \"12\"",
                                 f"key {key!r}")
            L = int(key)
            _check_range(L, n, source, kat)
            if L in out:
                raise InputError(source, kat, "each pair once", f"L={L} again")
            out[L] = _cosine(v, source, kat)
        if out:
            cos[fam] = out
    if not cos:
        raise InputError(source, "aligned_cos", "at least one family with values",
                         "only empty families")
    return Sweep(source, "aligned", n, cos, sha256, {}, _scalar_meta(doc))


def load_sweep(src: Any, kind: str) -> Sweep:
    """Load a sweep from a path or an already-loaded dict (``kind`` is ``null``/``aligned``).

    An in-memory dict is named after its ``model`` field, e.g. ``<aligned sweep of
    synthetic-64>``, so messages and headers say which input they mean.
    """
    parse = parse_null if kind == "null" else parse_aligned
    if isinstance(src, Sweep):
        return src
    if isinstance(src, (str, os.PathLike)):
        doc, digest = read_json(src)
        return parse(doc, os.fspath(src), digest)
    label = kind if kind == "aligned" else "raw"
    model = src.get("model") if isinstance(src, dict) else None
    name = f"<{label} sweep of {model}>" if isinstance(model, str) and model else \
        f"<{label} sweep (in memory)>"
    return parse(src, name, None)
