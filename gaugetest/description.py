"""One description of an analysis, made once and read by every renderer.

It says what was analysed (the :class:`~gaugetest.quantity.Quantity`: name, definition,
baseline, gauge, possible range), which phases are compared and which decide equivalence, the
level of every interval, and which inference method drives the verdict. Text, JSON, CSV,
Markdown, LaTeX, the report and the figures all take their words and levels from it
(``AnalysisResult.description`` / the JSON's ``analysis`` object), never from literals.
"""
from __future__ import annotations

from dataclasses import dataclass

from .formatting import fmt_level
from .quantity import Quantity


@dataclass(frozen=True)
class AnalysisDescription:
    model: str
    quantity: Quantity
    late: str
    early: str
    alpha: float
    margin: tuple[float, float]
    equivalence_phases: tuple[str, ...]    # the phases that decide equivalence
    equivalence_rule: str                  # "compared" | "all" | "custom"
    driving: str                           # method key that drives the verdict
    driving_name: str                      # e.g. "robust (neff)"
    other_name: str                        # the analysis shown beside it
    phase_map: str
    phase_map_description: str
    n_pairs: int
    num_layers: int
    families: tuple[str, ...]
    difference_margin: float | None = None  # m_diff of H0: LATE − EARLY >= m_diff

    @property
    def m_diff(self) -> float:
        """The non-superiority margin of the difference (default: the margin's upper bound)."""
        return self.margin[1] if self.difference_margin is None else self.difference_margin

    @property
    def noninferiority_hypothesis(self) -> str:
        """H0 of the non-superiority test, e.g. 'E − C ≥ 0.02'."""
        return f"{self.late} − {self.early} ≥ {self.m_diff:g}"

    @property
    def ci_level(self) -> float:
        """Level of every two-sided interval (phase means, the LATE − EARLY difference)."""
        return 1 - self.alpha

    @property
    def tost_level(self) -> float:
        """Level of the TOST intervals (inside the margin ⇔ equivalent at alpha)."""
        return 1 - 2 * self.alpha

    @property
    def ci_text(self) -> str:
        return fmt_level(self.ci_level)

    @property
    def tost_text(self) -> str:
        return fmt_level(self.tost_level)

    @property
    def margin_text(self) -> str:
        lo, hi = self.margin
        return f"±{hi:g}" if lo == -hi else f"({lo:g}, {hi:g})"

    @property
    def contrast(self) -> str:
        return self.quantity.contrast(self.late, self.early)

    def to_dict(self) -> dict:
        return {"model": self.model, "quantity": self.quantity.to_dict(),
                "compare": {"late": self.late, "early": self.early,
                            "contrast": self.contrast},
                "alpha": self.alpha, "ci_level": self.ci_level, "tost_level": self.tost_level,
                "margin": list(self.margin),
                "difference_margin": self.m_diff,
                "noninferiority": {"null": f"{self.contrast} ≥ {self.m_diff:g}",
                                   "alternative": f"{self.contrast} < {self.m_diff:g}",
                                   "level": self.tost_level},
                "equivalence_phases": list(self.equivalence_phases),
                "equivalence_rule": self.equivalence_rule,
                "driving": {"method": self.driving, "name": self.driving_name},
                "other": self.other_name,
                "phase_map": {"name": self.phase_map, "description": self.phase_map_description},
                "n_pairs": self.n_pairs, "num_layers": self.num_layers,
                "families": list(self.families)}


def caveat(q: Quantity, null_sd_mean: float | None = None) -> str:
    """What the analysed quantity can and cannot show, computed from this input."""
    ref = q.reference
    if q.key == "delta":
        if ref:
            lo = min(r.aligned for r in ref)
            hi = max(r.aligned for r in ref)
            src = ref[0].source
            what = (f"matrices with these spectra and no shared structure reach aligned cosines "
                    f"of {lo:.2f}–{hi:.2f} here ({src} of this input)" if src == "matched null"
                    else f"unrelated Gaussian matrices of these families' shapes reach aligned "
                         f"cosines of {lo:.2f}–{hi:.2f} ({src})")
        else:
            what = ("this input records neither the families' shapes nor a matched null, so "
                    "how large delta is with no shared structure is unknown here")
        if q.gauge == "orthogonal":
            return (f"Caveat: under {q.gauge_description}, delta ≥ 0 by construction and {what}; "
                    "a large delta, or a larger one in late layers, does not by itself show "
                    "hidden shared structure. The excess over the matched null separates the "
                    "two (measure the checkpoint with gaugetest to get it).")
        return (f"Caveat: delta ≥ 0 by construction under {q.gauge_description}; {what}.")
    text = (f"The excess is measured against the {q.null_name}"
            + (f" ({q.null_draws} draws per pair" if q.null_draws else "")
            + (f"; the standard error of that mean, about {null_sd_mean:.1e} per value, is a "
               "known variance in the robust analysis)"
               if null_sd_mean is not None and q.null_draws else ")" if q.null_draws else "")
            + ".")
    if q.gauge == "orthogonal":
        text += (f" Under {q.gauge_description} the aligned cosine maximises over a group far "
                 "larger than the real symmetries of a transformer block, so even the excess is an "
                 "upper bound on what a real gauge could hide.")
    return text
