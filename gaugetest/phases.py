"""Phase maps: which depth phase (A, B, C, D, E, tail) a layer pair belongs to.

``auto`` reproduces the original script's ``phase_of`` exactly: the Qwen3-32B
map for 64 layers, the Qwen3-4B map for 36 (which has no phase E), the
fractional rule otherwise.  Custom maps come from a TOML file::

    [phases]
    A = 6      # inclusive last pair index L of each phase, increasing
    C = 31
    E = 58     # pairs past the last bound are "tail"
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InputError, UsageError

TAIL = "tail"
STANDARD_PHASES = ("A", "B", "C", "D", "E", TAIL)

_QWEN3_32B = (("A", 6), ("B", 9), ("C", 31), ("D", 46), ("E", 58))
_QWEN3_4B = (("A", 6), ("B", 9), ("C", 23), ("D", 33))
_FRACTIONAL = (("A", 0.11), ("B", 0.15), ("C", 0.5), ("D", 0.75), ("E", 0.92))

PRESETS = ("auto", "qwen3-32b", "qwen3-4b", "fractional")


@dataclass(frozen=True)
class PhaseMap:
    """A rule assigning a pair index L to a phase.

    Attributes
    ----------
    name : str
        Preset name, or the TOML path for a custom map.
    bounds : tuple of (phase, bound)
        For ``kind="inclusive"``: inclusive last L of each phase.  For
        ``kind="fractional"``: L / num_layers must be below the bound.
    kind : str
        ``"inclusive"`` or ``"fractional"``.
    """

    name: str
    bounds: tuple[tuple[str, float], ...]
    kind: str = "inclusive"
    preset: bool = True

    @property
    def phases(self) -> tuple[str, ...]:
        """Phase names in depth order, ``tail`` last."""
        return tuple(p for p, _ in self.bounds) + (TAIL,)

    def phase_of(self, L: int, num_layers: int) -> str:
        """The phase of pair (L, L+1)."""
        if self.kind == "fractional":
            frac = L / num_layers
            for phase, b in self.bounds:
                if frac < b:
                    return phase
            return TAIL
        for phase, b in self.bounds:
            if L <= b:
                return phase
        return TAIL

    def describe(self) -> str:
        if self.kind == "fractional":
            return "fractional: " + ", ".join(f"{p}: L/n<{b:g}" for p, b in self.bounds) + ", rest tail"
        return ", ".join(f"{p}: L<={int(b)}" for p, b in self.bounds) + ", rest tail"

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind,
                "bounds": [[p, b] for p, b in self.bounds]}


def resolve_phase_map(spec: str | os.PathLike | PhaseMap | dict, num_layers: int) -> PhaseMap:
    """Turn a preset name, a TOML path or a ``{phase: last_L}`` dict into a :class:`PhaseMap`.

    ``auto`` picks the map the original script would use for ``num_layers``.

    Examples
    --------
    >>> resolve_phase_map("auto", 36).phases
    ('A', 'B', 'C', 'D', 'tail')
    >>> resolve_phase_map("auto", 64).phase_of(58, 64)
    'E'
    """
    if isinstance(spec, PhaseMap):
        return spec
    if isinstance(spec, dict):
        return PhaseMap("custom", _validate_bounds(spec, "<phases dict>"), preset=False)
    s = os.fspath(spec)
    if s == "auto":
        if num_layers == 64:
            return PhaseMap("auto (qwen3-32b)", _QWEN3_32B)
        if num_layers == 36:
            return PhaseMap("auto (qwen3-4b)", _QWEN3_4B)
        return PhaseMap("auto (fractional)", _FRACTIONAL, "fractional")
    if s == "qwen3-32b":
        return PhaseMap(s, _QWEN3_32B)
    if s == "qwen3-4b":
        return PhaseMap(s, _QWEN3_4B)
    if s == "fractional":
        return PhaseMap(s, _FRACTIONAL, "fractional")
    if s.endswith(".toml") or os.path.exists(s):
        return load_phase_toml(s)
    raise UsageError("--phases", f"one of {', '.join(PRESETS)} or a .toml file", s)


def load_phase_toml(path: str) -> PhaseMap:
    """Read a ``[phases]`` table mapping phase name -> inclusive last L."""
    from .io import read_toml

    doc = read_toml(path)
    if "phases" not in doc or not isinstance(doc["phases"], dict):
        raise InputError(path, "phases", "a [phases] table mapping name = last L",
                         "missing" if "phases" not in doc else type(doc["phases"]).__name__)
    return PhaseMap(path, _validate_bounds(doc["phases"], path), preset=False)


def _validate_bounds(table: dict, source: str) -> tuple[tuple[str, float], ...]:
    # TOML tables cannot repeat a key (the parser refuses it), but a phase may
    # still be named twice by case ("c" and "C") or use the reserved "tail".
    if not table:
        raise InputError(source, "phases", "at least one phase", "an empty table")
    bounds: list[tuple[str, int]] = []
    seen: set[str] = set()
    prev = -1
    for name, b in table.items():
        at = f"phases.{name}"
        if name == TAIL:
            raise InputError(source, at, "no explicit 'tail' (pairs past the last bound are tail)")
        if name.lower() in seen:
            raise InputError(source, at, "each phase named once", f"{name!r} again")
        seen.add(name.lower())
        if not isinstance(b, int) or isinstance(b, bool):
            raise InputError(source, at, "an integer (inclusive last L)", repr(b))
        if b < 0:
            raise InputError(source, at, "a bound >= 0", repr(b))
        if b <= prev:
            raise InputError(source, at, f"bounds increasing in file order (> {prev})", repr(b))
        prev = b
        bounds.append((name, b))
    return tuple(bounds)
