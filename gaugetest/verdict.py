"""The verdict rule: which hypothesis the evidence supports, with its reasons.

Rule (printed in docs/methodology.md):

================  ==========================================  ==========================
label             pooled LATE > EARLY test significant at α    delta ≈ 0 in every phase
================  ==========================================  ==========================
training-artifact yes                                          no
real-specialization no                                         yes
mixed             yes                                          yes
inconclusive      no                                           no
not-testable      neither test could run
================  ==========================================  ==========================

"delta ≈ 0 everywhere" is the intersection-union test over the pooled phase
rows: it holds when every testable phase's TOST rejects at α.  An IUT needs no
multiplicity correction (Berger 1982).  A test that could not run counts as
"not significant" / "not shown"; the reasons say so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LABELS = ("training-artifact", "real-specialization", "mixed", "inconclusive", "not-testable")

CAVEAT = ("Caveat: under orthogonal Procrustes alignment delta's null expectation is not 0 - "
          "aligned cosines of unrelated matrices are 0.37-0.95 at Qwen3 shapes - so a large delta "
          "alone does not show hidden shared structure (see docs/methodology.md, "
          "'What delta means against a null'; 'gaugetest measure' with --baseline null tests the "
          "excess over a spectrum-matched null instead).")


@dataclass(frozen=True)
class Verdict:
    label: str
    reasons: tuple[str, ...]
    caveat: str = CAVEAT
    dependence: str = "iid"
    disagreement: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"label": self.label, "reasons": list(self.reasons), "caveat": self.caveat,
             "dependence": self.dependence}
        if self.disagreement:
            d["disagreement"] = self.disagreement
        return d


def decide(significant: bool | None, equivalent_everywhere: bool | None) -> str:
    """Apply the rule; ``None`` means the test could not run.

    Examples
    --------
    >>> decide(True, False), decide(False, True), decide(True, True), decide(False, False)
    ('training-artifact', 'real-specialization', 'mixed', 'inconclusive')
    >>> decide(None, None)
    'not-testable'
    """
    if significant is None and equivalent_everywhere is None:
        return "not-testable"
    sig = bool(significant)
    eq = bool(equivalent_everywhere)
    if sig and not eq:
        return "training-artifact"
    if eq and not sig:
        return "real-specialization"
    if sig and eq:
        return "mixed"
    return "inconclusive"
