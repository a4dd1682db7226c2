"""Number formats shared by every renderer, so text, JSON-derived tables and reports agree."""
from __future__ import annotations

import math


def fmt_cos(x) -> str:
    """The original script's cosine format: signed, 4 decimals (``+0.0310``)."""
    return "N/A" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.4f}"


def fmt_p(p, exact: bool = True, n_resamples: int | None = None) -> str:
    """p-value to 3 significant digits; a Monte Carlo p at its floor 1/(m+1) prints as ``<1e-5``.

    Examples
    --------
    >>> fmt_p(0.012345), fmt_p(1 / 100001, exact=False, n_resamples=100000)
    ('0.0123', '<1e-5')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    if not exact and n_resamples:
        floor = 1.0 / (n_resamples + 1)
        if p <= floor * (1 + 1e-9):
            return f"<{floor:.0e}".replace("e-0", "e-")
    return f"{p:.3g}"


def fmt_num(x, digits: int = 4, signed: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def p_phrase(p, exact: bool = True, n_resamples: int | None = None) -> str:
    """``p = 0.0123`` or, at the Monte Carlo floor, ``p < 1e-5``."""
    s = fmt_p(p, exact, n_resamples)
    return f"p {s[0]} {s[1:]}" if s.startswith("<") else f"p = {s}"
