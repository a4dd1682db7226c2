"""Validation of analysis settings (kept apart from the algorithms, like scipy's ``_iv``).

Each check raises :class:`gaugetest.errors.UsageError` naming the option as the
CLI spells it, so that the API and the command line report the same message.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

from .inference.bootstrap import CI_METHODS
from .errors import UsageError

from .inference import ROBUST_METHODS
from .quantity import BASELINES, normalise_baseline

DEPENDENCE_MODES = ("robust", "iid") + ROBUST_METHODS
#: TOST rules of the depth model a user may choose (gaugetest.inference.depth_model.TOST_RULES has the
#: others docs/tost-study.md compares): the mixture every other number uses (default), and the
#: inflated-df rule, the one that kept TOST size <= 0.06 in all 63 bank cells.
TOST_RULE_CHOICES = ("mixture", "inflated-df")


@dataclass(frozen=True)
class Settings:
    """Validated settings of one analysis (recorded verbatim in the results file)."""

    alpha: float = 0.05
    margin: tuple[float, float] = (-0.02, 0.02)
    n_boot: int = 10_000
    n_perm: int = 100_000
    seed: int = 0
    ci: str = "t-union"
    phases: str = "auto"
    compare: tuple[str, str] = ("E", "C")
    dependence: str = "robust"
    baseline: str = "auto"
    shapes: str | None = None
    equivalence_phases: str = "compared"
    tost_rule: str = "mixture"
    #: m_diff of the non-superiority test H0: LATE − EARLY >= m_diff (resolved: the margin's
    #: upper bound unless set)
    difference_margin: float = 0.02

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "margin": list(self.margin), "n_boot": self.n_boot,
                "n_perm": self.n_perm, "seed": self.seed, "ci_method": self.ci,
                "phases": self.phases, "compare": list(self.compare),
                "equivalence_phases": self.equivalence_phases,
                "dependence": self.dependence, "baseline": self.baseline,
                "shapes": self.shapes, "tost_rule": self.tost_rule,
                "difference_margin": self.difference_margin}


def parse_margin(value) -> tuple[float, float]:
    """``0.02`` -> (-0.02, 0.02); ``"-0.01,0.03"`` or ``(-0.01, 0.03)`` -> uneven bounds.

    Examples
    --------
    >>> parse_margin("0.05"), parse_margin("-0.01,0.03")
    ((-0.05, 0.05), (-0.01, 0.03))
    """
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise UsageError("--margin", "a number M > 0 or LOW,HIGH", value) from None
        value = nums[0] if len(nums) == 1 else tuple(nums)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        m = float(value)
        if not math.isfinite(m) or m <= 0:
            raise UsageError("--margin", "a number M > 0 (the margin is -M..M)", value)
        return (-m, m)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = (float(v) for v in value)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise UsageError("--margin", "finite bounds LOW,HIGH", value)
        if lo >= hi:
            raise UsageError("--margin", "LOW < HIGH", f"{lo:g},{hi:g}")
        return (lo, hi)
    raise UsageError("--margin", "a number M > 0 or LOW,HIGH", value)


def parse_difference_margin(value, margin: tuple[float, float]) -> float:
    """m_diff of the non-superiority test: a number > 0; None means the margin's upper bound.

    Examples
    --------
    >>> parse_difference_margin(None, (-0.02, 0.02)), parse_difference_margin("0.05", (-0.02, 0.02))
    (0.02, 0.05)
    """
    if value is None:
        if not margin[1] > 0:
            raise UsageError("--difference-margin", "a number > 0: its default, the upper bound "
                             f"of --margin, is {margin[1]:g} here; give it")
        return float(margin[1])
    given = value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise UsageError("--difference-margin", "a number > 0", given) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(float(value)) or not float(value) > 0:
        raise UsageError("--difference-margin", "a number > 0", given)
    return float(value)


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise UsageError(name, f"an integer >= {low}", value)
    if value < low:
        raise UsageError(name, f"an integer >= {low}", value)
    return int(value)


def validate_settings(*, alpha=0.05, margin=0.02, n_boot=10_000, n_perm=100_000, seed=0,
                      ci="t-union", phases="auto", compare=("E", "C"), dependence="robust",
                      baseline="auto", shapes=None, equivalence_phases="compared",
                      tost_rule="mixture", difference_margin=None) -> Settings:
    """Check every setting; return a frozen :class:`Settings`."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (0 < alpha < 0.5):
        raise UsageError("--alpha", "a number in (0, 0.5)", alpha)
    lo, hi = parse_margin(margin)
    m_diff = parse_difference_margin(difference_margin, (lo, hi))
    n_boot = _int_at_least("--n-boot", n_boot, 100)
    n_perm = _int_at_least("--n-perm", n_perm, 100)
    seed = _int_at_least("--seed", seed, 0)
    if ci not in CI_METHODS:
        raise UsageError("--ci", " | ".join(CI_METHODS), ci)
    if isinstance(compare, str):
        compare = tuple(compare.split())
    if not isinstance(compare, (tuple, list)) or len(compare) != 2 or \
            not all(isinstance(c, str) and c for c in compare):
        raise UsageError("--compare", "two phase names LATE EARLY", compare)
    if compare[0] == compare[1]:
        raise UsageError("--compare", "two different phases", " ".join(compare))
    if dependence not in DEPENDENCE_MODES:
        raise UsageError("--dependence", " | ".join(DEPENDENCE_MODES), dependence)
    baseline = normalise_baseline(baseline) if isinstance(baseline, str) else baseline
    if baseline not in BASELINES:
        raise UsageError("--baseline", " | ".join(BASELINES), baseline)
    if isinstance(equivalence_phases, (list, tuple)):
        equivalence_phases = ",".join(map(str, equivalence_phases))
    if not isinstance(equivalence_phases, str) or not equivalence_phases.strip(" ,"):
        raise UsageError("--equivalence-phases", "compared, all or a comma-separated list of "
                         "phases", equivalence_phases)
    if tost_rule not in TOST_RULE_CHOICES:
        raise UsageError("--tost-rule", " | ".join(TOST_RULE_CHOICES), tost_rule)
    if tost_rule != "mixture" and dependence not in ("robust", "iid", "reml-bma"):
        raise UsageError("--tost-rule", "the default mixture with --dependence "
                         f"{dependence} (the rule belongs to the reml-bma depth model)",
                         tost_rule)
    if shapes is not None:
        from .shapes import SHAPE_PRESETS
        if shapes not in SHAPE_PRESETS:
            raise UsageError("--shapes", " | ".join(SHAPE_PRESETS), shapes)
    phases_s = phases if isinstance(phases, str) else (
        os.fspath(phases) if isinstance(phases, os.PathLike) else "custom")
    return Settings(float(alpha), (lo, hi), n_boot, n_perm, seed, ci, phases_s,
                    (compare[0], compare[1]), dependence, baseline, shapes,
                    equivalence_phases.strip(), tost_rule, m_diff)
