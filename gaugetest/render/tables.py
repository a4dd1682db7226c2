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


def csv_files(tables: dict[str, list[dict]]) -> dict[str, str]:
    """{file name: CSV text}, one per table (an empty warnings table keeps its header)."""
    return {f"{name}.csv": csv_text(rows, columns(rows) or ["code", "message"])
            for name, rows in tables.items()}


def write_csv_dir(directory: str, tables: dict[str, list[dict]]) -> list[str]:
    """Write one CSV per table into ``directory`` (created if missing)."""
    import os

    from .files import make_dir, write_text

    files = csv_files(tables)
    make_dir(directory, "--csv")
    written = []
    for name, text in files.items():
        written.append(os.path.join(directory, name))
        write_text(written[-1], text, "--csv")
    return written
