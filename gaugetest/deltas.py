"""Join the two sweeps into one table of deltas: pairs x families.

``delta(L, family) = aligned_cos(L, family) - raw_cos(L, family)`` for every pair
present in both files (the original script's rule).  A family absent at some
pair is NaN there; the ``pooled`` column (the mean over families of one pair)
is defined only on pairs that carry every analysed family, so that all pooled
statistics agree with "mean over families of the per-family statistic".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .io import Sweep, order_families
from .phases import PhaseMap

#: Procrustes cannot lower a cosine; below this a delta is reported as negative.
NEGATIVE_TOLERANCE = -1e-9


@dataclass(frozen=True)
class Issue:
    """A legal-but-suspicious finding, shown once in the output and kept in the JSON."""

    code: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class DeltaTable:
    """Aligned-minus-raw cosines for the analysed pairs.

    Attributes
    ----------
    num_layers : int
    layers : ndarray of int, shape (n,)
        Pair index L of each row, increasing.
    phases : tuple of str
        Phase of each row.
    families : tuple of str
    raw, aligned : ndarray, shape (n, F)
        NaN where a family is missing at a pair.
    phase_order : tuple of str
        Phases of the map in depth order.
    """

    num_layers: int
    layers: np.ndarray
    phases: tuple[str, ...]
    families: tuple[str, ...]
    raw: np.ndarray
    aligned: np.ndarray
    phase_order: tuple[str, ...]
    #: "delta" (aligned - raw) or "excess" (aligned - spectrum-matched null mean)
    quantity: str = "delta"
    #: the raw cosines when ``raw`` holds another baseline (the null mean)
    raw_cos: np.ndarray | None = None

    @property
    def quantity_label(self) -> str:
        return ("excess (aligned_cos - null mean)" if self.quantity == "excess"
                else "delta (aligned_cos - raw_cos)")

    @property
    def delta(self) -> np.ndarray:
        return self.aligned - self.raw

    @property
    def pooled(self) -> np.ndarray:
        """Mean delta over families per pair; NaN where any family is missing."""
        return self.delta.mean(axis=1)

    def with_pooled(self) -> np.ndarray:
        """``delta`` with the pooled column appended: shape (n, F + 1)."""
        d = self.delta
        return np.column_stack([d, d.mean(axis=1)])

    def rows_of(self, phase: str) -> np.ndarray:
        """Row indices of the pairs in ``phase``."""
        return np.flatnonzero(np.asarray(self.phases, dtype=object) == phase)

    @property
    def present_phases(self) -> tuple[str, ...]:
        have = set(self.phases)
        return tuple(p for p in self.phase_order if p in have)


def _compact(Ls: list[int]) -> str:
    """'0-3, 7, 9-10' for a sorted list of ints."""
    out, i = [], 0
    while i < len(Ls):
        j = i
        while j + 1 < len(Ls) and Ls[j + 1] == Ls[j] + 1:
            j += 1
        out.append(str(Ls[i]) if i == j else f"{Ls[i]}-{Ls[j]}")
        i = j + 1
    return ", ".join(out)


def build_deltas(null: Sweep, aligned: Sweep, phase_map: PhaseMap,
                 baseline: str = "raw") -> tuple[DeltaTable, list[Issue]]:
    """Join the sweeps on (L, family); return the table and the warnings found.

    Raises
    ------
    InputError
        If the files disagree on ``num_layers`` or share no (pair, family).
    """
    issues: list[Issue] = []
    n_layers = aligned.num_layers
    assert n_layers is not None
    if null.num_layers is not None and null.num_layers != n_layers:
        raise InputError(null.source, "num_layers",
                         f"the aligned file's num_layers = {n_layers}", repr(null.num_layers))
    if null.num_layers is None:
        # the raw file may omit num_layers; its pairs must still fit the aligned file's
        bad = [L for L in null.layers if L > n_layers - 2]
        if bad:
            raise InputError(null.source, "pair_results[*].L",
                             f"L <= {n_layers - 2} (num_layers = {n_layers} in {aligned.source})",
                             f"L={bad[0]}")

    fam_null, fam_ali = set(null.cos), set(aligned.cos)
    families = order_families(fam_null & fam_ali)
    if not families:
        raise InputError(aligned.source, "aligned_cos",
                         f"a family also in {null.source} ({', '.join(order_families(fam_null))})",
                         ", ".join(order_families(fam_ali)))
    for only, here, there in ((fam_null - fam_ali, null.source, aligned.source),
                              (fam_ali - fam_null, aligned.source, null.source)):
        if only:
            issues.append(Issue("family-in-one-file",
                                f"families only in {here} (not in {there}), left out: "
                                + ", ".join(order_families(only))))

    L_null = {L for f in families for L in null.cos[f]}
    L_ali = {L for f in families for L in aligned.cos[f]}
    layers = sorted(L_null & L_ali)
    if not layers:
        raise InputError(aligned.source, "aligned_cos",
                         f"at least one pair L also in {null.source}",
                         f"pairs {_compact(sorted(L_ali))} vs {_compact(sorted(L_null))}")
    missing = sorted(L_null - L_ali)
    if missing:
        issues.append(Issue("pairs-missing-aligned",
                            f"{len(missing)} pair(s) in {null.source} have no aligned value and are "
                            f"left out: L = {_compact(missing)}"))
    extra = sorted(L_ali - L_null)
    if extra:
        issues.append(Issue("pairs-missing-raw",
                            f"{len(extra)} pair(s) in {aligned.source} have no raw value and are "
                            f"left out: L = {_compact(extra)}"))

    F, n = len(families), len(layers)
    raw = np.full((n, F), np.nan)
    ali = np.full((n, F), np.nan)
    for j, f in enumerate(families):
        rn, an = null.cos[f], aligned.cos[f]
        for i, L in enumerate(layers):
            r, a = rn.get(L), an.get(L)
            if r is not None and a is not None:
                raw[i, j], ali[i, j] = r, a
    base = raw
    if baseline == "null":
        base = np.full((n, F), np.nan)
        for j, f in enumerate(families):
            ex = null.extras.get(f, {})
            for i, L in enumerate(layers):
                if np.isnan(raw[i, j]):
                    continue
                v = ex.get(L, {}).get("aligned_null_mean")
                if v is None:
                    raise InputError(null.source, f"pair_results[L={L}].families.{f}.aligned_null_mean",
                                     "the spectrum-matched null mean of the aligned cosine "
                                     "(written by 'gaugetest measure'); --baseline null needs it",
                                     "missing")
                base[i, j] = v
    incomplete = [layers[i] for i in np.flatnonzero(np.isnan(raw).any(axis=1))]
    if incomplete:
        issues.append(Issue("incomplete-pairs",
                            f"{len(incomplete)} pair(s) lack some family; they count in the "
                            f"per-family rows but not in pooled rows: L = {_compact(incomplete)}"))
    delta = ali - raw
    neg = np.argwhere(delta < NEGATIVE_TOLERANCE)
    if len(neg):
        shown = ", ".join(f"L={layers[i]} {families[j]} ({delta[i, j]:+.2e})" for i, j in neg[:10])
        more = f" and {len(neg) - 10} more" if len(neg) > 10 else ""
        issues.append(Issue("negative-delta",
                            f"{len(neg)} negative delta(s): {shown}{more}. Procrustes alignment "
                            "cannot lower a cosine: do the two files describe the same matrices "
                            "and the same alignment?"))
    phases = tuple(phase_map.phase_of(L, n_layers) for L in layers)
    table = DeltaTable(n_layers, np.asarray(layers, dtype=np.int64), phases, tuple(families),
                       base, ali, phase_map.phases,
                       "excess" if baseline == "null" else "delta",
                       raw if baseline == "null" else None)
    return table, issues
