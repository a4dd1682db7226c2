"""Number formats shared by the verdict's sentences and every renderer.

p-values print as journals print them: ``<0.001``, ``>0.999`` or three decimals; the JSON
keeps the exact values.
"""
from __future__ import annotations

import math


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_cos(x) -> str:
    """The original script's cosine format: signed, 4 decimals (``+0.0310``)."""
    return "N/A" if _missing(x) else f"{x:+.4f}"


def fmt_p(p, exact: bool = True, n_resamples: int | None = None) -> str:
    """A p-value as journals print it: ``<0.001``, ``>0.999`` or three decimals.

    A Monte Carlo p-value is never below 1/(m + 1) (Phipson & Smyth 2010); at that floor it
    prints as ``<0.001`` too when the floor is below 0.001. ``exact`` and ``n_resamples`` are
    accepted for the callers' convenience and only matter at the floor.

    Examples
    --------
    >>> fmt_p(0.012345), fmt_p(1 / 100001, exact=False, n_resamples=100000), fmt_p(1.0)
    ('0.012', '<0.001', '>0.999')
    """
    if _missing(p):
        return "—"
    if p < 0.001:
        return "<0.001"
    if p > 0.999:
        return ">0.999"
    return f"{p:.3f}"


def fmt_num(x, digits: int = 4, signed: bool = True) -> str:
    if _missing(x):
        return "—"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def p_phrase(p, exact: bool = True, n_resamples: int | None = None) -> str:
    """``p = 0.012``, ``p < 0.001`` or ``p > 0.999``.

    Examples
    --------
    >>> p_phrase(0.5), p_phrase(1e-7), p_phrase(1.0)
    ('p = 0.500', 'p < 0.001', 'p > 0.999')
    """
    s = fmt_p(p, exact, n_resamples)
    if s[0] in "<>":
        return f"p {s[0]} {s[1:]}"
    return f"p = {s}"


def fmt_interval(low, high, digits: int = 4) -> str:
    """``[+0.0120, +0.0310]``."""
    return f"[{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def fmt_level(level: float) -> str:
    """``95%`` from 0.95 (``99.5%`` from 0.995)."""
    return f"{100 * level:.10g}%"
