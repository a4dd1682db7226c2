"""Small helpers shared by result objects."""
from __future__ import annotations

import math


def json_number(x):
    """JSON-safe float: None, NaN and infinities become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
