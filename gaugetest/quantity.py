"""The quantity an analysis tests: its name, definition, baseline, gauge and possible range.

Every renderer names the analysed quantity from the :class:`Quantity` made here, once per
analysis, so a table, a caption and a sentence cannot disagree about what was tested.

Two quantities exist:

``delta``
    aligned cosine − raw cosine (the original script's quantity). The gauge group contains the
    identity, so delta ≥ 0 by construction, and under full orthogonal alignment unrelated
    matrices already reach large aligned cosines: "delta ≈ 0" is then not a testable hypothesis.
``excess``
    aligned cosine − mean aligned cosine of the **matched null** (matrices with the same
    singular values but no shared structure; written by ``gaugetest measure``): what alignment
    finds beyond what the spectra alone give. Its value with no shared structure is 0.

The baseline is chosen with ``baseline``: ``raw`` (delta), ``matched`` (excess; ``null`` is
its old name) or ``auto`` (excess when the raw file carries the matched null for every analysed
value, delta otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BASELINES = ("auto", "raw", "matched")
#: Old spellings still accepted on input.
BASELINE_ALIASES = {"null": "matched"}

_GAUGE_TEXT = {
    "orthogonal": "full orthogonal Procrustes on one side of each weight matrix",
    "symmetry": "the transformer block's symmetry group (head/KV-group permutations, per-group "
                "rotations, RoPE-pair rotations, MLP neuron permutation)",
}


@dataclass(frozen=True)
class ReferenceLevel:
    """What unrelated matrices reach for one family: the aligned cosine and the quantity."""

    family: str
    aligned: float          # aligned cosine with no shared structure
    quantity: float         # the analysed quantity's value with no shared structure
    source: str             # "matched null" | "Gaussian reference"

    def to_dict(self) -> dict:
        return {"family": self.family, "aligned": self.aligned, "quantity": self.quantity,
                "source": self.source}


@dataclass(frozen=True)
class Quantity:
    """The analysed quantity, as every output names it.

    Examples
    --------
    >>> q = delta_quantity("orthogonal", "file metadata")
    >>> q.symbol, q.definition, q.low, q.equivalence_testable
    ('delta', 'aligned cosine − raw cosine', 0.0, False)
    """

    key: str                  # "delta" | "excess"
    symbol: str               # short name for table headings
    name: str                 # name in sentences
    definition: str
    baseline: str             # "raw" | "matched"
    baseline_requested: str   # "auto" | "raw" | "matched"
    baseline_reason: str
    gauge: str                # "orthogonal" | "symmetry" | another name from the file
    gauge_source: str         # "file metadata" | "assumed (FORMATS.md defines orthogonal)"
    null_name: str            # name of the matched null, from the file when it says
    null_draws: int | None
    low: float                # smallest possible value
    high: float               # largest possible value
    equivalence_testable: bool
    equivalence_note: str
    reference: tuple[ReferenceLevel, ...] = field(default=())
    null_definition: str = ""  # how the null is made, for Methods sentences; '' if unknown

    @property
    def gauge_description(self) -> str:
        return _GAUGE_TEXT.get(self.gauge, self.gauge)

    def mean_of(self, where: str = "") -> str:
        """'mean excess' / 'mean excess in E' for sentences and headings."""
        return f"mean {self.symbol}" + (f" in {where}" if where else "")

    def contrast(self, late: str, early: str) -> str:
        """'excess(E) − excess(C)' — the compared difference."""
        return f"{self.symbol}({late}) − {self.symbol}({early})"

    def outside(self, low, high) -> str:
        """A note when an interval leaves the quantity's possible range, else ''."""
        parts = []
        if low is not None and low < self.low - 1e-12:
            parts.append(f"below {self.low:g}")
        if high is not None and high > self.high + 1e-12:
            parts.append(f"above {self.high:g}")
        return ("interval extends " + " and ".join(parts) + f", outside the possible range of "
                f"{self.symbol}") if parts else ""

    def to_dict(self) -> dict:
        return {"key": self.key, "symbol": self.symbol, "name": self.name,
                "definition": self.definition, "baseline": self.baseline,
                "baseline_requested": self.baseline_requested,
                "baseline_reason": self.baseline_reason, "gauge": self.gauge,
                "gauge_description": self.gauge_description, "gauge_source": self.gauge_source,
                "null_name": self.null_name, "null_definition": self.null_definition,
                "null_draws": self.null_draws,
                "range": [self.low, self.high],
                "equivalence_testable": self.equivalence_testable,
                "equivalence_note": self.equivalence_note,
                "reference": [r.to_dict() for r in self.reference]}


#: How each null gaugetest measure writes is made, in words a Methods section can use.
_NULL_DEFINITIONS = {
    "spectrum-matched null": "the aligned cosine of matrices with the same singular values and "
                             "independent random singular vectors",
    "residual-rotation null": "the aligned cosine after layer L+1's residual-stream side (the "
                              "inputs of q, k, v, gate and up, the outputs of o and down) is "
                              "rotated by one random (Haar) rotation shared by all its families",
}


def null_of(meta: dict) -> tuple[str, str]:
    """(name, definition) of the null the raw file's metadata describes.

    The file's ``null_name`` when it has one (``gaugetest measure`` writes it), else
    "spectrum-matched null" for 0.1 files whose ``null`` text says so, else the generic
    "matched null".  The definition is gaugetest's wording for the nulls it writes, else the
    file's own ``null`` text, else ''.

    Examples
    --------
    >>> null_of({"null_name": "residual-rotation null"})[0]
    'residual-rotation null'
    >>> null_of({"null": "spectrum-matched (Haar singular vectors on the non-aligned side)"})[0]
    'spectrum-matched null'
    """
    text = meta.get("null")
    text = text if isinstance(text, str) else ""
    name = meta.get("null_name")
    if not (isinstance(name, str) and name):
        name = "spectrum-matched null" if "spectrum-matched" in text or not text \
            else "matched null"
    return name, _NULL_DEFINITIONS.get(name, text)


def normalise_baseline(value: str) -> str:
    """``null`` (the 0.1 spelling) -> ``matched``; other values unchanged."""
    return BASELINE_ALIASES.get(value, value)


def gauge_of(meta_null: dict, meta_aligned: dict) -> tuple[str, str]:
    """(gauge, where it came from): the files' ``gauge`` field, else orthogonal as FORMATS.md
    defines the aligned file."""
    for meta in (meta_aligned, meta_null):
        g = meta.get("gauge")
        if isinstance(g, str) and g:
            return g, "file metadata"
    return "orthogonal", "assumed: FORMATS.md defines aligned_cos as orthogonal Procrustes"


def delta_quantity(gauge: str, gauge_source: str, requested: str = "raw", reason: str = "",
                   reference=(), margin: tuple[float, float] = (-0.02, 0.02),
                   null_name: str = "matched null", null_draws: int | None = None,
                   null_definition: str = "") -> Quantity:
    """The quantity delta = aligned − raw, with whether its equivalence to 0 can be tested."""
    reference = tuple(reference)
    if gauge == "orthogonal":
        if reference:
            lo_ref = min(r.quantity for r in reference)
            note = (f"equivalence of delta to 0 is untestable under {_GAUGE_TEXT['orthogonal']}: "
                    f"delta ≥ 0 by construction, and matrices with no shared structure already "
                    f"give delta ≥ {lo_ref:.2f} here ({reference[0].source})")
        else:
            note = (f"equivalence of delta to 0 is untestable under {_GAUGE_TEXT['orthogonal']}: "
                    "delta ≥ 0 by construction, and matrices with no shared structure already "
                    "reach large aligned cosines")
        testable = False
    elif reference and min(r.quantity for r in reference) > margin[1]:
        testable = False
        note = (f"equivalence of delta to 0 is untestable: matrices with no shared structure "
                f"already give delta ≥ {min(r.quantity for r in reference):.3f} > the margin "
                f"{margin[1]:g} ({reference[0].source})")
    else:
        testable, note = True, ""
    return Quantity("delta", "delta", "delta", "aligned cosine − raw cosine", "raw", requested,
                    reason, gauge, gauge_source, null_name, null_draws, 0.0, 2.0, testable, note,
                    reference, null_definition)


def excess_quantity(gauge: str, gauge_source: str, requested: str, reason: str,
                    null_name: str, null_draws: int | None, reference=(),
                    null_definition: str = "") -> Quantity:
    """The quantity excess = aligned − matched-null mean; its value with no shared structure is
    0, so equivalence to 0 is the hypothesis 'alignment finds nothing beyond the spectra'."""
    low = -1.0 if gauge == "orthogonal" else -2.0
    return Quantity("excess", "excess", f"excess over the {null_name}",
                    f"aligned cosine − mean aligned cosine of the {null_name}", "matched",
                    requested, reason, gauge, gauge_source, null_name, null_draws, low, 1.0,
                    True, "", tuple(reference), null_definition)


def reference_levels(families, raw: np.ndarray, null_mean: np.ndarray | None, shapes: dict | None,
                     side: str, quantity: str) -> tuple[ReferenceLevel, ...]:
    """Per family, what unrelated matrices give: the measured matched null when the input has it
    (mean over pairs), else the Gaussian reference at the families' shapes when known."""
    out = []
    if null_mean is not None:
        for j, f in enumerate(families):
            ok = ~np.isnan(null_mean[:, j]) & ~np.isnan(raw[:, j])
            if ok.any():
                a = float(np.mean(null_mean[ok, j]))
                q = float(np.mean(null_mean[ok, j] - raw[ok, j])) if quantity == "delta" else 0.0
                out.append(ReferenceLevel(f, a, q, "matched null"))
        return tuple(out)
    if shapes:
        from .shapes import gaussian_null

        for j, f in enumerate(families):
            shp = shapes.get(f)
            if shp and len(shp) == 2:
                a = gaussian_null(int(shp[0]), int(shp[1]), side)
                ok = ~np.isnan(raw[:, j])
                q = a - float(np.mean(raw[ok, j])) if quantity == "delta" and ok.any() else 0.0
                out.append(ReferenceLevel(f, a, q, "Gaussian reference"))
    return tuple(out)
