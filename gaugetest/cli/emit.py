"""Writing an analysis's outputs (JSON, CSV, Markdown, LaTeX, report, figures) and printing it,
for one model or several: shared by ``test`` and ``demo``."""
from __future__ import annotations

from .common import make_dirs


def emit(res, args) -> None:
    """Write every requested file, then print the tables."""
    from ..render.documents import latex_document, markdown_document, report_markdown
    from ..render.files import write_text
    from ..render.json_out import to_json
    from ..render.tables import write_csv_dir
    from ..tidy import tidy_tables
    from ..render.text import render_text

    doc = res.to_dict()
    make_dirs(args)
    if args.json:
        write_text(args.json, to_json(doc), "--json")
    if args.csv:
        write_csv_dir(args.csv, tidy_tables(doc))
    if args.markdown:
        write_text(args.markdown, markdown_document(doc), "--markdown")
    if args.latex:
        write_text(args.latex, latex_document(doc), "--latex")
    if args.report:
        write_text(args.report, report_markdown(doc), "--report")
    if args.plot:
        from ..render.plots import write_plots
        write_plots(res, args.plot, doc)
    if args.json != "-":
        render_text(res, brief=args.brief, full=args.full)


def emit_many(multi, args) -> None:
    """Write and print a several-model run: the family's outputs first when the run analysed
    the family (``analyze_models``), then every model's."""
    import os

    from ..multi import combined_document, combined_tables, summary_rows
    from ..render.documents import latex_document, markdown_document, report_markdown
    from ..render.files import write_text
    from ..render.json_out import to_json
    from ..render.tables import write_csv_dir
    from ..render.text import render_summary, render_text, rule_line

    docs = multi.documents()
    fam = multi.across.to_dict() if multi.across is not None else None
    make_dirs(args)
    if args.json:
        write_text(args.json, to_json(combined_document(docs, multi.across)), "--json")
    if args.csv:
        write_csv_dir(args.csv, combined_tables(docs, multi.across))
    if fam is not None:
        from ..render.across import family_latex, family_markdown, family_report
    if args.markdown:
        first = [family_markdown(fam)] if fam is not None else []
        write_text(args.markdown, "\n".join(first + [markdown_document(d, model=n)
                                                     for n, d in docs]), "--markdown")
    if args.latex:
        first = [family_latex(fam)] if fam is not None else []
        write_text(args.latex, "\n".join(first + [latex_document(d, model=n) for n, d in docs]),
                   "--latex")
    if args.report:
        first = [family_report(fam)] if fam is not None else []
        write_text(args.report, "\n".join(first + [report_markdown(d, model=n)
                                                   for n, d in docs]), "--report")
    if args.plot:
        from ..render.plots import write_plots
        if fam is not None:
            from ..render.across import family_forest
            family_forest(fam, args.plot)
        for (name, res), (_, doc) in zip(multi.models, docs):
            write_plots(res, os.path.join(args.plot, name), doc)
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
