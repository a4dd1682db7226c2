"""Writing an analysis's outputs (JSON, CSV, Markdown, LaTeX, report, figures) and printing it,
for one model or several: shared by ``test`` and ``demo``.

Every requested document is rendered in memory first and written only when all of them exist,
so an export that fails leaves no other file half-done behind (the run is then exit 1 with
nothing written); each file itself is written atomically (``render.files``).
"""
from __future__ import annotations

import os

from .common import make_dirs


def _write_all(args, files: list[tuple[str, str | bytes, str]]) -> None:
    """Create the output folders, then write every (path, content, option)."""
    from ..render.files import make_dir, write_bytes, write_text

    make_dirs(args)
    for path, content, option in files:
        if isinstance(content, bytes):
            make_dir(os.path.dirname(path), option)
            write_bytes(path, content, option)
        else:
            write_text(path, content, option)


def _csv(args, tables) -> list[tuple[str, str, str]]:
    from ..render.tables import csv_files

    return [(os.path.join(args.csv, name), text, "--csv")
            for name, text in csv_files(tables).items()]


def _figures(res, doc, directory: str) -> list[tuple[str, bytes, str]]:
    from ..render.plots import render_plots

    return [(os.path.join(directory, name), data, "--plot")
            for name, data in render_plots(res, doc).items()]


def emit(res, args) -> None:
    """Render every requested file, write them all, then print the tables."""
    from ..render.documents import latex_document, markdown_document, report_markdown
    from ..render.json_out import to_json
    from ..render.text import render_text
    from ..tidy import tidy_tables

    doc = res.to_dict()
    files: list = []
    if args.json:
        files.append((args.json, to_json(doc), "--json"))
    if args.csv:
        files += _csv(args, tidy_tables(doc))
    if args.markdown:
        files.append((args.markdown, markdown_document(doc), "--markdown"))
    if args.latex:
        files.append((args.latex, latex_document(doc), "--latex"))
    if args.report:
        files.append((args.report, report_markdown(doc), "--report"))
    if args.plot:
        files += _figures(res, doc, args.plot)
    _write_all(args, files)
    if args.json != "-":
        render_text(res, brief=args.brief, full=args.full)


def emit_many(multi, args) -> None:
    """Write and print a several-model run: the family's outputs first when the run analysed
    the family (``analyze_models``), then every model's; every file is rendered first."""
    from ..multi import combined_document, combined_tables, summary_rows
    from ..render.documents import latex_document, markdown_document, report_markdown
    from ..render.files import model_folders
    from ..render.json_out import to_json
    from ..render.text import render_summary, render_text, rule_line

    docs = multi.documents()
    fam = multi.across.to_dict() if multi.across is not None else None
    if fam is not None:
        from ..render.across import family_latex, family_markdown, family_report
    files: list = []
    if args.json:
        files.append((args.json, to_json(combined_document(docs, multi.across)), "--json"))
    if args.csv:
        files += _csv(args, combined_tables(docs, multi.across))
    if args.markdown:
        first = [family_markdown(fam)] if fam is not None else []
        files.append((args.markdown, "\n".join(first + [markdown_document(d, model=n)
                                                         for n, d in docs]), "--markdown"))
    if args.latex:
        first = [family_latex(fam)] if fam is not None else []
        files.append((args.latex, "\n".join(first + [latex_document(d, model=n)
                                                      for n, d in docs]), "--latex"))
    if args.report:
        first = [family_report(fam)] if fam is not None else []
        files.append((args.report, "\n".join(first + [report_markdown(d, model=n)
                                                       for n, d in docs]), "--report"))
    if args.plot:
        if fam is not None:
            from ..render.across import family_forest
            figures: dict[str, bytes] = {}
            family_forest(fam, figures)
            files += [(os.path.join(args.plot, name), data, "--plot")
                      for name, data in figures.items()]
        # a model's name becomes a folder name: made safe, so no name leaves --plot
        folders = model_folders([name for name, _ in multi.models])
        for (name, res), (_, doc) in zip(multi.models, docs):
            files += _figures(res, doc, os.path.join(args.plot, folders[name]))
    _write_all(args, files)
    if args.json != "-":
        if fam is not None:
            from ..render.across import render_family, render_family_reasons
            render_family(fam)
            print()
        render_summary(summary_rows(docs))
        if fam is not None and not args.brief:
            print()
            render_family_reasons(fam)
        for name, res in multi.models:
            print()
            rule_line()
            print(f"model: {name}")
            print()
            render_text(res, brief=args.brief, full=args.full)
