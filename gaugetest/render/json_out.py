"""The results JSON: deterministic text (same inputs, settings and seed give the same bytes)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis import AnalysisResult


def to_json(res: "AnalysisResult | dict") -> str:
    """Serialise a result (or its already computed ``to_dict()``); NaN never appears (it is
    null), keys keep their order."""
    doc = res if isinstance(res, dict) else res.to_dict()
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
