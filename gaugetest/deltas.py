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
    """The analysed values (aligned cosine minus a baseline) for the analysed pairs.

    Attributes
    ----------
    num_layers : int
    layers : ndarray of int, shape (n,)
        Pair index L of each row, increasing.
    phases : tuple of str
        Phase of each row.
    families : tuple of str
    raw, aligned : ndarray, shape (n, F)
        Raw and aligned cosines; NaN where a family is missing at a pair.
    phase_order : tuple of str
        Phases of the map in depth order.
    quantity : str
        ``"delta"`` (baseline = raw cosine) or ``"excess"`` (baseline = matched-null mean).
    baseline : ndarray, shape (n, F)
        What is subtracted from ``aligned``: ``raw`` for delta, the matched-null mean for excess.
    null_mean, null_var : ndarray or None
        The matched null's mean aligned cosine per value, and the variance of that mean
        (sd^2 / draws) when the raw file carries them; None otherwise.
    """

    num_layers: int
    layers: np.ndarray
    phases: tuple[str, ...]
    families: tuple[str, ...]
    raw: np.ndarray
    aligned: np.ndarray
    phase_order: tuple[str, ...]
    quantity: str = "delta"
    baseline: np.ndarray | None = None
    null_mean: np.ndarray | None = None
    null_var: np.ndarray | None = None

    @property
    def values(self) -> np.ndarray:
        """The analysed quantity per pair and family: aligned − baseline."""
        base = self.raw if self.baseline is None else self.baseline
        return self.aligned - base

    @property
    def delta(self) -> np.ndarray:
        """aligned − raw (whatever the analysed quantity)."""
        return self.aligned - self.raw

    @property
    def pooled(self) -> np.ndarray:
        """Mean of the analysed values over families per pair; NaN where any family is missing."""
        return self.values.mean(axis=1)

    def with_pooled(self) -> np.ndarray:
        """``values`` with the pooled column appended: shape (n, F + 1)."""
        d = self.values
        return np.column_stack([d, d.mean(axis=1)])

    def known_var_with_pooled(self) -> np.ndarray | None:
        """Variance of each analysed value that comes from estimating its baseline (the matched
        null's mean from a few draws), with the pooled column's (sum / F^2: the draws of
        different families are independent); None when the baseline is exact."""
        if self.quantity != "excess" or self.null_var is None:
            return None
        v = self.null_var
        # a value without a known variance adds none to its pair's pooled variance (a floor
        # that stays a lower bound); the warnings name those values
        return np.column_stack([v, np.nansum(v, axis=1) / v.shape[1] ** 2])

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

    ``baseline`` is ``"raw"`` (analyse delta), ``"matched"`` (analyse the excess over the
    matched null, which the raw file must then carry for every analysed value) or ``"auto"``
    (matched when the raw file carries the matched null for every analysed value, else raw).

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
    null_mean, null_var = _matched_null(null, families, layers, raw)
    if baseline == "auto":
        baseline = "matched" if _first_missing(null_mean, raw, layers, families) is None else "raw"
    if baseline == "matched":
        missing_at = _first_missing(null_mean, raw, layers, families)
        if missing_at is not None:
            L, f = missing_at
            raise InputError(null.source, f"pair_results[L={L}].families.{f}.aligned_null_mean",
                             "the matched null's mean aligned cosine (written by 'gaugetest "
                             "measure'); the matched baseline needs it", "missing")
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
    matched = baseline == "matched"
    if matched:
        issues += _null_variance_issues(null, null_mean, null_var, raw, layers, families)
    table = DeltaTable(n_layers, np.asarray(layers, dtype=np.int64), phases, tuple(families),
                       raw, ali, phase_map.phases, "excess" if matched else "delta",
                       null_mean if matched else raw, null_mean, null_var)
    return table, issues


def null_draws_of(meta: dict) -> int | None:
    """The raw file's ``null_draws`` as a count: a positive integer (8, or 8.0), else None."""
    d = meta.get("null_draws")
    if isinstance(d, bool) or not isinstance(d, (int, float)):
        return None
    return int(d) if float(d).is_integer() and d >= 1 else None


def _matched_null(null: Sweep, families, layers, raw: np.ndarray):
    """(mean, variance of the mean) of the matched null per value, from the raw file's
    ``aligned_null_mean`` / ``aligned_null_sd`` and the ``null_draws`` it records; (None, None)
    when it carries no mean at all. The variance sd^2 / draws is given value by value: NaN
    where the sd is missing (or the draws unusable), and None only when it is nowhere given
    (a missing sd elsewhere does not drop the others' variance)."""
    n, F = raw.shape
    mean = np.full((n, F), np.nan)
    sd = np.full((n, F), np.nan)
    for j, f in enumerate(families):
        ex = null.extras.get(f, {})
        for i, L in enumerate(layers):
            e = ex.get(L, {})
            mean[i, j] = e.get("aligned_null_mean", np.nan)
            sd[i, j] = e.get("aligned_null_sd", np.nan)
    if np.isnan(mean).all():
        return None, None
    draws = null_draws_of(null.meta)
    if draws is None:
        return mean, None
    var = np.where(np.isnan(mean), np.nan, sd ** 2 / draws)
    return mean, (None if np.isnan(var).all() else var)


def _null_variance_issues(null: Sweep, mean, var, raw, layers, families) -> list[Issue]:
    """A warning for the analysed values whose matched-null mean comes without the variance
    the robust analysis counts (``aligned_null_sd`` and a usable ``null_draws``)."""
    has = ~np.isnan(mean) & ~np.isnan(raw)
    if null_draws_of(null.meta) is None:
        got = null.meta.get("null_draws", "missing")
        return [Issue("null-variance-missing",
                      f"{null.source}: null_draws is {got!r}, not a positive integer, so the "
                      "variance of the matched null's mean (aligned_null_sd^2 / null_draws) is "
                      "unknown and the robust analysis cannot count it: its intervals for the "
                      "excess may be too narrow")]
    lack = np.argwhere(has & (np.isnan(var) if var is not None else True))
    if not len(lack):
        return []
    shown = ", ".join(f"L={layers[i]} {families[j]}" for i, j in lack[:10])
    more = f" and {len(lack) - 10} more" if len(lack) > 10 else ""
    return [Issue("null-variance-missing",
                  f"{null.source}: {len(lack)} value(s) carry aligned_null_mean without "
                  f"aligned_null_sd ({shown}{more}): the variance of those null means is not "
                  "counted in the robust analysis (the others' is)")]


def _first_missing(null_mean, raw, layers, families):
    """(L, family) of the first analysed value without a matched-null mean, or None."""
    if null_mean is None:
        return layers[0], families[0]
    bad = np.argwhere(np.isnan(null_mean) & ~np.isnan(raw))
    if len(bad):
        i, j = bad[0]
        return layers[i], families[j]
    return None


def matched_null_available(table: DeltaTable) -> bool:
    """True when every analysed value has a matched-null mean (``baseline='auto'`` then
    analyses the excess)."""
    return table.null_mean is not None and not np.any(np.isnan(table.null_mean)
                                                      & ~np.isnan(table.raw))
