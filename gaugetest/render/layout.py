"""Plain-text layout that never truncates: tables that stack, paragraphs that wrap.

A :class:`TextTable` measures its cells and, when it is wider than the page, splits its value
columns into several stacked blocks that each repeat the key columns (phase, family, L ...);
a column marked ``wrap`` (notes) is wrapped inside its cell instead. Nothing is ever cut with
"…". Output goes through a :class:`Page`, which knows the width, whether to use colour and box
characters (a terminal) or plain ASCII (a pipe, or ``NO_COLOR``/``GAUGETEST_ASCII``).
"""
from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TextIO

#: What ASCII output writes for the few non-ASCII characters gaugetest prints.
ASCII = {"—": "-", "–": "-", "−": "-", "±": "+/-", "≥": ">=", "≤": "<=", "≈": "~", "ρ": "rho",
         "α": "alpha", "×": "x", "√": "sqrt", "…": "...", "·": "-", "→": "->", "⇔": "<=>",
         "δ": "delta", "Σ": "sum", "’": "'", "‘": "'", "“": '"', "”": '"', "²": "^2",
         "ü": "ue", "ö": "oe", "τ": "tau", "é": "e", "─": "-", "│": "|", "∪": "U", "∞": "inf"}
_ASCII_TABLE = str.maketrans(ASCII)


def to_ascii(text: str) -> str:
    """Replace gaugetest's non-ASCII characters; anything else left becomes '?'."""
    return text.translate(_ASCII_TABLE).encode("ascii", "replace").decode("ascii")


class Page:
    """Where text goes: a file (stdout by default), a width, colour/ASCII decisions.

    On a terminal: colour and Unicode, width of the terminal. Piped, or with ``NO_COLOR`` set:
    plain ASCII without colour, so that a line of 80 characters is also 80 bytes for tools that
    count bytes (``GAUGETEST_ASCII=0`` keeps Unicode, ``=1`` forces ASCII). Width: the ``width``
    argument, else ``COLUMNS``, else the terminal's, else 80.
    """

    def __init__(self, file: TextIO | None = None, width: int | None = None):
        self.file = file or sys.stdout
        tty = hasattr(self.file, "isatty") and self.file.isatty()
        self.colour = tty and "NO_COLOR" not in os.environ
        forced = os.environ.get("GAUGETEST_ASCII")
        self.ascii = (forced == "1") if forced in ("0", "1") else not self.colour
        if width is None:
            env = os.environ.get("COLUMNS", "")
            if env.isdigit() and int(env) >= 40:
                width = int(env)
            elif tty:
                import shutil
                width = shutil.get_terminal_size((80, 24)).columns
            else:
                width = 80
        self.width = max(40, int(width))

    def _style(self, text: str, style: str | None) -> str:
        if not self.colour or not style:
            return text
        codes = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "magenta": "35",
                 "dim": "2", "cyan": "36"}
        seq = ";".join(codes[s] for s in style.split() if s in codes)
        return f"\x1b[{seq}m{text}\x1b[0m" if seq else text

    def prep(self, text: str) -> str:
        """The text as it will be written (ASCII when the page is ASCII), for measuring."""
        return to_ascii(text) if self.ascii else text

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line, written as is (the caller keeps it within the width)."""
        self.file.write(self._style(self.prep(text), style) + "\n")

    def para(self, text: str, indent: str = "", hang: str | None = None,
             style: str | None = None) -> None:
        """A paragraph wrapped at the page width (first line ``indent``, then ``hang``)."""
        for ln in wrap(self.prep(text), self.width, self.prep(indent),
                       self.prep(indent if hang is None else hang)):
            self.line(ln, style)

    def rule(self) -> None:
        self.line(("-" if self.ascii else "─") * self.width)

    def flush(self) -> None:
        try:
            self.file.flush()
        except (AttributeError, ValueError):
            pass


def wrap(text: str, width: int, indent: str = "", hang: str = "") -> list[str]:
    """Word-wrap without cutting: a word longer than the line is broken, never dropped."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=hang,
                         break_long_words=True, break_on_hyphens=False) or [indent.rstrip()]


@dataclass
class Column:
    header: str
    align: str = "right"        # "left" | "right"
    key: bool = False           # repeated in every stacked block
    wrap: bool = False          # wrapped inside its cell when space is short
    min_width: int = 8


@dataclass
class TextTable:
    """A table of strings. ``add_section()`` puts a thin gap between groups of rows."""

    title: str
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    sections: set = field(default_factory=set)
    gap: int = 2

    def add_row(self, *cells: str) -> None:
        self.rows.append([str(c) for c in cells])

    def add_section(self) -> None:
        self.sections.add(len(self.rows))

    def _widths(self, idx: list[int]) -> list[int]:
        out = []
        for j in idx:
            c = self.columns[j]
            cells = [r[j] for r in self.rows] + c.header.split("\n")
            out.append(max((len(s) for s in cells), default=0))
        return out

    def blocks(self, width: int) -> list[tuple[list[int], list[int]]]:
        """Column index groups (with their widths) so that each block fits ``width``."""
        keys = [j for j, c in enumerate(self.columns) if c.key]
        vals = [j for j, c in enumerate(self.columns) if not c.key]
        kw = [min(w, max(self.columns[j].min_width, width // 3)) if self.columns[j].wrap else w
              for j, w in zip(keys, self._widths(keys))]
        base = sum(kw) + self.gap * len(keys)
        groups, cur, used = [], [], base
        for j in vals:
            w = self._widths([j])[0]
            c = self.columns[j]
            if c.wrap:
                w = min(w, max(c.min_width, width - used))
            if cur and used + w > width:
                groups.append(cur)
                cur, used = [], base
                if c.wrap:
                    w = min(self._widths([j])[0], max(c.min_width, width - used))
            cur.append((j, w))
            used += w + self.gap
        if cur or not groups:
            groups.append(cur)
        out = []
        for g in groups:
            idx = keys + [j for j, _ in g]
            out.append((idx, kw + [w for _, w in g]))
        return out

    def render(self, page: Page) -> None:
        if page.ascii:  # measure what will be written
            self.title = page.prep(self.title)
            self.rows = [[page.prep(c) for c in r] for r in self.rows]
            for c in self.columns:
                c.header = page.prep(c.header)
        page.para(self.title, style="bold")
        for b, (idx, widths) in enumerate(self.blocks(page.width)):
            if b:
                page.line()
            self._render_block(page, idx, widths)
        page.line()

    def _render_block(self, page: Page, idx: list[int], widths: list[int]) -> None:
        sep = " " * self.gap
        heads = [self.columns[j].header.split("\n") for j in idx]
        depth = max(len(h) for h in heads)
        for k in range(depth):
            cells = []
            for h, j, w in zip(heads, idx, widths):
                txt = h[k - (depth - len(h))] if k >= depth - len(h) else ""
                cells.append(self._align(txt, w, self.columns[j].align))
            page.line(sep.join(cells).rstrip(), "bold")
        page.line(sep.join(("-" if page.ascii else "─") * w for w in widths))
        for r, row in enumerate(self.rows):
            if r in self.sections and r:
                page.line()
            parts = []
            for j, w in zip(idx, widths):
                c = self.columns[j]
                parts.append(wrap(row[j], w) if c.wrap and len(row[j]) > w else [row[j]])
            height = max(len(p) for p in parts)
            for k in range(height):
                cells = [self._align(p[k] if k < len(p) else "", w, self.columns[j].align)
                         for p, j, w in zip(parts, idx, widths)]
                page.line(sep.join(cells).rstrip())

    @staticmethod
    def _align(text: str, width: int, align: str) -> str:
        return text.rjust(width) if align == "right" else text.ljust(width)
