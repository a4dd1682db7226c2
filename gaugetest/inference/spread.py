"""When values have no spread: the one rule every inference method uses for "constant".

The analysed values are differences of cosines, each rounded to about 1e-16; a phase whose
values agree to within ``ZERO_SPREAD`` x max(1, their magnitude) is constant -- what is left is
rounding, not data. Its mean is then known exactly (a zero-width interval; a one-sided test is
certain either way), which is how the depth model, the bootstrap intervals and the TOSTs treat
it (docs/methodology.md, "Constant values").
"""
from __future__ import annotations

import numpy as np

#: Largest spread, relative to max(1, magnitude), that counts as none.
ZERO_SPREAD = 1e-12


def zero_spread(x, axis: int = -1) -> np.ndarray:
    """True where the values along ``axis`` (no NaN) have no spread; no values: True.

    Examples
    --------
    >>> bool(zero_spread([0.01, 0.01 + 1e-17])), bool(zero_spread([0.01, 0.0101]))
    (True, False)
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return np.ones(np.delete(x.shape, axis % x.ndim), dtype=bool) if x.ndim > 1 else \
            np.bool_(True)
    span = np.ptp(x, axis=axis)
    return ~(span > ZERO_SPREAD * np.maximum(1.0, np.abs(x).max(axis=axis)))
