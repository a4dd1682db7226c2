"""CSV text and files of the tidy tables (:mod:`gaugetest.tidy`): one file per table, full
precision, so every number equals the JSON's."""
from __future__ import annotations


def columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def csv_text(rows: list[dict], cols: list[str] | None = None) -> str:
    """CSV with full-precision numbers (Python's shortest round-trip repr, as in the JSON)."""
    import csv
    import io

    cols = cols or columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else
                    ("true" if r[c] is True else "false" if r[c] is False else r[c])
                    for c in cols])
    return buf.getvalue()


def write_csv_dir(directory: str, tables: dict[str, list[dict]]) -> list[str]:
    """Write one CSV per non-empty table into ``directory`` (created if missing)."""
    import os

    from .files import make_dir, write_text

    make_dir(directory, "--csv")
    written = []
    for name, rows in tables.items():
        if not rows and name == "warnings":
            rows = []
        path = os.path.join(directory, f"{name}.csv")
        write_text(path, csv_text(rows, columns(rows) or ["code", "message"]), "--csv")
        written.append(path)
    return written
