"""Number formats (re-exported from ``gaugetest.formatting``, shared with the verdict's
sentences so that every output prints a number the same way)."""
from ..formatting import fmt_cos, fmt_num, fmt_p, p_phrase  # noqa: F401
