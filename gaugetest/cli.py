"""Command line: a thin layer over :func:`gaugetest.analyze`.

Exit codes: 0 ok; 1 internal error; 2 bad input or usage; 130 interrupted.
Heavy modules (numpy, scipy, rich) are imported only when a command runs, so
``gaugetest --help`` stays fast.
"""
from __future__ import annotations

import argparse
import os
import sys

from ._version import __version__
from .errors import InputError, UsageError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_analysis_options(p: argparse.ArgumentParser, outputs: str = "all") -> None:
    """The inference options, and the output options (``outputs``: "all" or "power")."""
    g = p.add_argument_group("inference")
    g.add_argument("--alpha", type=float, default=0.05, metavar="A",
                   help="significance level, in (0, 0.5); intervals are 1-A, TOST intervals "
                        "1-2A (default 0.05)")
    g.add_argument("--margin", default="0.02", metavar="M|LOW,HIGH",
                   help="equivalence margin for TOST: M means (-M, M); LOW,HIGH gives uneven "
                        "bounds (default 0.02)")
    g.add_argument("--n-boot", type=int, default=10_000, metavar="B",
                   help="bootstrap resamples, >= 100 (default 10000)")
    g.add_argument("--n-perm", type=int, default=100_000, metavar="M",
                   help="permutation splits: exact enumeration when the number of distinct splits "
                        "is <= M, else M random splits (default 100000)")
    g.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of every random step; same seed, same results (default 0)")
    g.add_argument("--ci", choices=("t-union", "bca", "percentile", "basic", "bootstrap-t"),
                   default="t-union",
                   help="iid interval method: t-union (default: the union of the t and the "
                        "studentized-bootstrap interval, which keeps its coverage at 12-22 pairs "
                        "and under skew), bca, percentile, basic, bootstrap-t")
    g.add_argument("--phases", default="auto", metavar="PRESET|FILE.toml",
                   help="phase map: auto (the original script's rule), qwen3-32b, qwen3-4b, "
                        "fractional, or a TOML file with a [phases] table name = last L "
                        "(default auto)")
    g.add_argument("--compare", nargs=2, default=["E", "C"], metavar=("LATE", "EARLY"),
                   help="phases of the one-sided test that the analysed quantity is larger in "
                        "LATE than in EARLY (default E C)")
    g.add_argument("--equivalence-phases", default="compared", metavar="compared|all|P,Q,...",
                   help="phases whose equivalence to 0 decides the verdict: the two compared "
                        "phases (default), all phases, or a list; the others are reported")
    g.add_argument("--dependence", default="robust",
                   choices=("robust", "iid", "reml-bma", "neff", "hac", "glsar", "block",
                            "sieve"),
                   help="which analysis drives the verdict: robust (default; the method the "
                        "calibration study supports), iid (bootstrap/permutation/t), or an "
                        "expert choice of robust method. Both iid and robust are always shown")
    g.add_argument("--tost-rule", choices=("mixture", "inflated-df"), default="mixture",
                   help="the distribution the robust (reml-bma) equivalence test uses: mixture "
                        "(default: the one every other robust number uses; its TOST size "
                        "reached 0.16 under strong dependence at 28-36 layers) or inflated-df "
                        "(conservative: TOST size <= 0.06 in every scenario of the bank, at "
                        "about a fifth of the power; docs/tost-study.md)")
    g.add_argument("--baseline", choices=("auto", "raw", "matched", "null"), default="auto",
                   help="the analysed quantity: raw = delta (aligned - raw cosine); matched = "
                        "the excess over the matched null (aligned - mean aligned cosine of "
                        "matrices with the same spectra, written by 'gaugetest measure'; 'null' "
                        "is its old name); auto (default) = matched when the raw file carries "
                        "the matched null, else raw")
    g.add_argument("--shapes", metavar="PRESET",
                   choices=("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b",
                            "qwen3-32b"),
                   help="add the Gaussian reference: the aligned cosine that unrelated Gaussian "
                        "matrices reach at a Qwen3 model's shapes (qwen3-0.6b, -1.7b, -4b, -8b, "
                        "-14b, -32b), as a caveat table")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH",
                   help="write the full result as JSON ('-' = standard output, tables suppressed)")
    if outputs == "power":
        return
    o.add_argument("--csv", metavar="DIR",
                   help="write tidy CSV tables (pairs, phase_summary, permutation, equivalence, "
                        "robust and diagnostic tables, power) into DIR")
    o.add_argument("--markdown", metavar="PATH", help="write the main tables as Markdown")
    o.add_argument("--latex", metavar="PATH", help="write the main tables as LaTeX (booktabs)")
    o.add_argument("--report", metavar="PATH",
                   help="write a methods-and-results text (Markdown) to paste into a paper, "
                        "with references")
    o.add_argument("--plot", metavar="DIR",
                   help="write figures (PNG and PDF): the analysed quantity by layer, a forest "
                        "plot of phase means and of the compared difference, the permutation "
                        "distribution (needs the 'plot' extra: matplotlib)")
    o.add_argument("--brief", action="store_true",
                   help="print only the headline and one phase table")
    o.add_argument("--full", action="store_true",
                   help="also print the per-family rows of every interval and equivalence table")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gaugetest",
                description="Hypothesis tests for Procrustes-aligned layer-weight sweeps: bootstrap "
                            "CIs, a one-sided permutation test of delta(LATE) > delta(EARLY), "
                            "equivalence (TOST) and a verdict with its reasons.",
                epilog="Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 130 interrupted. "
                       "Docs: docs/index.md")
    p.add_argument("--version", action="version", version=f"gaugetest {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("test", help="analyse a raw (null) sweep and an aligned sweep",
                       description="Analyse RAW_JSON (pair_results: raw cosines) against "
                                   "ALIGNED_JSON (aligned_cos) and print a headline, the verdict "
                                   "with its reasons, and the tables.")
    t.add_argument("null_json", nargs="?", metavar="RAW_JSON",
                   help="the raw file (*-null.json: raw cosines, and the matched null when "
                        "'gaugetest measure' wrote it)")
    t.add_argument("aligned_json", nargs="?", metavar="ALIGNED_JSON",
                   help="the aligned file (*-aligned.json: aligned cosines)")
    m = t.add_argument_group("several models")
    m.add_argument("--model", action="append", metavar="NAME=NULL.json,ALIGNED.json",
                   help="analyse a named model; repeat for several models (one combined table, "
                        "a verdict per model, a model column in JSON/CSV)")
    m.add_argument("--manifest", metavar="FILE.toml",
                   help="models from a TOML file: [models.NAME] null = ..., aligned = ...")
    _add_analysis_options(t)

    d = sub.add_parser("demo", help="run the full test on bundled synthetic sweeps (64 and 36 layers)",
                       description="Run 'gaugetest test' on synthetic sweeps made by a documented, "
                                   "seeded generator (gaugetest.studies.synthetic): a 64-layer model with a "
                                   "planted E > C effect and a 36-layer model (no phase E).")
    d.add_argument("--layers", choices=("64", "36", "all"), default="all",
                   help="which demo model to run (default all: both, as a two-model run)")
    d.add_argument("--write-inputs", metavar="DIR",
                   help="also write the demo input files (synthetic-N-null.json, "
                        "synthetic-N-aligned.json) to DIR")
    _add_analysis_options(d)

    pw = sub.add_parser("power", help="smallest detectable LATE-EARLY difference and TOST power "
                                      "for a sweep's layout and dependence",
                        description="Power and sensitivity for the observed layout and "
                                    "dependence: the smallest LATE-EARLY difference detectable "
                                    "with 80 percent power at alpha (per family and pooled), and "
                                    "the TOST power at the margin if the true mean of the "
                                    "analysed quantity were 0.")
    pw.add_argument("null_json", metavar="RAW_JSON", help="the raw file (*-null.json)")
    pw.add_argument("aligned_json", metavar="ALIGNED_JSON", help="the aligned file")
    _add_analysis_options(pw, outputs="power")

    ms = sub.add_parser("measure", help="produce the two sweep files from a checkpoint, with a "
                                        "matched null",
                        description="Measure raw and aligned cosines of every adjacent layer "
                                    "pair and family of a checkpoint (safetensors file, "
                                    "directory or shards; GGUF), with a null of the aligned "
                                    "cosine, and write PREFIX-null.json and PREFIX-aligned.json. "
                                    "--gauge orthogonal (default): Procrustes on one side, "
                                    "spectrum-matched null; --gauge symmetry: the transformer "
                                    "block's symmetry group, residual-rotation null. Needs the "
                                    "'measure' extra.")
    ms.add_argument("model", metavar="MODEL",
                    help="a .safetensors file, a directory of safetensors (with or without "
                         "model.safetensors.index.json), or a .gguf file")
    ms.add_argument("-o", "--output", required=True, metavar="PREFIX",
                    help="output prefix: writes PREFIX-null.json and PREFIX-aligned.json")
    ms.add_argument("--side", choices=("cols", "rows"), default=None,
                    help="orthogonal gauge: rotated side: cols = input side, R = "
                         "scipy.linalg.orthogonal_procrustes(W_L, W_{L+1})[0] (default); rows = "
                         "output side")
    ms.add_argument("--null-draws", type=int, default=8, metavar="K",
                    help="null draws per pair and family (default 8; 0 = none)")
    ms.add_argument("--seed", type=int, default=0, help="seed of the null draws (default 0)")
    ms.add_argument("--jobs", type=int, default=1, help="worker processes over pairs (default 1)")
    ms.add_argument("--family-map", metavar="FILE.toml",
                    help="tensor names for other layouts: [families] q_proj = "
                         "\"encoder.layer.{i}.attention.self.query.weight\" ...")
    ms.add_argument("--max-layers", type=int, metavar="N",
                    help="measure only the pairs among the first N layers (quick checks)")
    ms.add_argument("--gauge", choices=("orthogonal", "symmetry"), default="orthogonal",
                    help="what is aligned: orthogonal = full orthogonal Procrustes on --side, "
                         "spectrum-matched null (default); symmetry = the block's symmetry group "
                         "(head/KV-group and neuron permutations, v/o and RoPE-pair rotations), "
                         "residual-rotation null")
    ms.add_argument("--heads", metavar="Q,KV",
                    help="symmetry gauge: query and key/value head counts, overriding "
                         "config.json or the GGUF metadata")
    ms.add_argument("--rope-layout", choices=("half", "interleaved"),
                    help="symmetry gauge: rows RoPE rotates together, (i, i+head_dim/2) or "
                         "(2i, 2i+1); only needed when the file cannot tell (default: from the "
                         "file)")
    ms.add_argument("--mlp-solver", choices=("auto", "dense", "sparse"),
                    help="symmetry gauge: the MLP neuron assignment on the dense n x n "
                         "similarity (scipy) or the exact sparse solver; auto (default) = sparse "
                         "when the dense float64 matrix would exceed 2 GiB")
    ms.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                    help="numpy = float64 reference (default); torch = float32 products with "
                         "float64 sums, equal to numpy to 1e-6 (needs the 'torch' extra)")
    ms.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="device of --backend torch (default cpu)")
    ms.add_argument("--scheduler", metavar="ADDRESS",
                    help="run the tasks on a Dask distributed cluster, e.g. tcp://host:8786 "
                         "(needs the 'dask' extra; --jobs is then not used)")
    ms.add_argument("--fresh", action="store_true",
                    help="discard results saved in PREFIX.partial/ by an interrupted run "
                         "(by default the same command continues it)")

    c = sub.add_parser("calibrate", help="size, coverage, TOST size and power of every "
                                         "robust method on the scenario bank",
                       description="Calibration study: simulate pooled delta series from the "
                                   "scenario bank (AR, MA, long memory, drift, heavy tails, "
                                   "outliers, heteroscedastic phases, skew, residuals of a real "
                                   "sweep) for real layouts, and report for every method its "
                                   "size, interval coverage, TOST size and power against the "
                                   "GLS oracle, each with its Monte Carlo standard error.")
    c.add_argument("--scenarios", nargs="+", metavar="NAME",
                   help="scenarios of the bank to run (default: all; see --list)")
    c.add_argument("--verdict", action="store_true",
                   help="instead of the bank, simulate whole analyses with a known truth (excess "
                        "0 everywhere, a difference inside the margin, a training artifact) and "
                        "count how often each verdict label comes out (uses --reps, --seed, "
                        "--jobs, --output)")
    c.add_argument("--list", action="store_true",
                   help="print the scenario bank and the methods, then exit")
    c.add_argument("--layers", type=int, nargs="+", metavar="N",
                   help="layer counts to simulate with --phases and --compare (default: 64 "
                        "layers E vs C, 36 layers D vs C, 28 layers E vs C)")
    c.add_argument("--phases", default="auto", metavar="PRESET|FILE.toml",
                   help="phase map for --layers (default auto)")
    c.add_argument("--compare", nargs=2, default=["E", "C"], metavar=("LATE", "EARLY"),
                   help="phases compared with --layers (default E C)")
    c.add_argument("--methods", nargs="+", metavar="M",
                   help="methods to compare, the first one reported in full (default: "
                        "reml-bma reml-bma-short reml-ar1 reml-bma-noskew reml-bma-nocheck "
                        "neff hac iid; also glsar block sieve, and the TOST rules "
                        "reml-bma-tost-level reml-bma-tost-q90 reml-bma-tost-region "
                        "reml-bma-tost-idf of docs/tost-study.md)")
    c.add_argument("--reps", type=int, default=2000,
                   help="replicates per scenario and layout (default 2000)")
    c.add_argument("--power", type=float, default=0.8,
                   help="the effect for the power column is the one the GLS oracle detects "
                        "with this power (default 0.8)")
    c.add_argument("--margin-se", type=float, default=3.0,
                   help="TOST margin, in true standard errors of the estimate, at which the "
                        "TOST size is measured (default 3)")
    c.add_argument("--alpha", type=float, default=0.05, help="level (default 0.05)")
    c.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    c.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    c.add_argument("--checkpoint", metavar="PATH",
                   help="record finished chunks in PATH (JSON lines) and skip the ones already "
                        "there: an interrupted run resumes where it stopped")
    c.add_argument("--output", metavar="PATH",
                   help="write the Markdown report to PATH (e.g. docs/calibration.md)")
    c.add_argument("--json", metavar="PATH", help="write the counts of every cell as JSON")
    return p


def _settings(args: argparse.Namespace) -> dict:
    return dict(alpha=args.alpha, margin=args.margin, n_boot=args.n_boot, n_perm=args.n_perm,
                seed=args.seed, ci=args.ci, phases=args.phases, compare=tuple(args.compare),
                dependence=args.dependence, baseline=args.baseline, shapes=args.shapes,
                equivalence_phases=args.equivalence_phases, tost_rule=args.tost_rule)


def _check_outputs(args) -> None:
    """Fail before computing or writing anything when an output cannot be produced."""
    from .render.files import check_dir_target, check_file_target

    if getattr(args, "plot", None):
        try:
            import matplotlib  # noqa: F401
        except ModuleNotFoundError:
            raise UsageError("--plot", "matplotlib installed (pip install 'gaugetest[plot]')",
                             args.plot) from None
    for opt in ("json", "markdown", "latex", "report"):
        path = getattr(args, opt, None)
        if path and path != "-":
            check_file_target(path, f"--{opt}")
    for opt in ("csv", "plot", "write_inputs"):
        path = getattr(args, opt, None)
        if path:
            check_dir_target(path, "--" + opt.replace("_", "-"))


def _make_dirs(args) -> None:
    """Create the output directories before any file is written (a failure is exit 2 with
    nothing written)."""
    from .render.files import make_dir

    for opt in ("csv", "plot"):
        if getattr(args, opt, None):
            make_dir(getattr(args, opt), f"--{opt}")


def _emit(res, args) -> None:
    """Write every requested file, then print the tables."""
    from .render.documents import latex_document, markdown_document, report_markdown
    from .render.files import write_text
    from .render.json_out import to_json
    from .render.tables import tidy_tables, write_csv_dir
    from .render.text import render_text

    doc = res.to_dict()
    _make_dirs(args)
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
        from .render.plots import write_plots
        write_plots(res, args.plot, doc)
    if args.json != "-":
        render_text(res, brief=args.brief, full=args.full)


def _emit_many(multi, args) -> None:
    import os

    from .multi import combined_document, combined_tables, summary_rows
    from .render.documents import latex_document, markdown_document, report_markdown
    from .render.files import write_text
    from .render.json_out import to_json
    from .render.tables import write_csv_dir
    from .render.text import render_summary, render_text, rule_line

    docs = multi.documents()
    _make_dirs(args)
    if args.json:
        write_text(args.json, to_json(combined_document(docs)), "--json")
    if args.csv:
        write_csv_dir(args.csv, combined_tables(docs))
    if args.markdown:
        write_text(args.markdown, "\n".join(markdown_document(d, model=n) for n, d in docs),
                   "--markdown")
    if args.latex:
        write_text(args.latex, "\n".join(latex_document(d, model=n) for n, d in docs),
                   "--latex")
    if args.report:
        write_text(args.report, "\n".join(report_markdown(d, model=n) for n, d in docs),
                   "--report")
    if args.plot:
        from .render.plots import write_plots
        for (name, res), (_, doc) in zip(multi.models, docs):
            write_plots(res, os.path.join(args.plot, name), doc)
    if args.json != "-":
        render_summary(summary_rows(docs))
        for name, res in multi.models:
            print()
            rule_line()
            print(f"model: {name}")
            print()
            render_text(res, brief=args.brief, full=args.full)


def cmd_test(args: argparse.Namespace) -> int:
    from .analysis import analyze

    _check_outputs(args)
    models = []
    if args.model or args.manifest:
        from .multi import load_manifest, parse_model_option
        if args.null_json or args.aligned_json:
            raise UsageError("NULL_JSON ALIGNED_JSON", "no positional files together with "
                             "--model/--manifest (name that pair with --model too)")
        models = [parse_model_option(v) for v in args.model or []]
        if args.manifest:
            models += load_manifest(args.manifest)
    elif not (args.null_json and args.aligned_json):
        raise UsageError("NULL_JSON ALIGNED_JSON", "two input files (or --model / --manifest)")
    if models:
        from .multi import analyze_many
        _emit_many(analyze_many(models, **_settings(args)), args)
        return EXIT_OK
    res = analyze(args.null_json, args.aligned_json, **_settings(args))
    _emit(res, args)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from .analysis import analyze
    from .render.files import write_text
    from .studies.synthetic import demo_sweeps

    _check_outputs(args)
    layers = (64, 36) if args.layers == "all" else (int(args.layers),)
    if args.write_inputs:
        from .render.files import make_dir
        make_dir(args.write_inputs, "--write-inputs")
    models = []
    for n in layers:
        null, aligned = demo_sweeps(n)
        if args.write_inputs:
            base = os.path.join(args.write_inputs, f"synthetic-{n}")
            write_text(base + "-null.json", json.dumps(null, indent=1) + "\n", "--write-inputs")
            write_text(base + "-aligned.json", json.dumps(aligned, indent=1) + "\n",
                       "--write-inputs")
        models.append((f"synthetic-{n}", null, aligned))
    if len(models) == 1:
        _emit(analyze(models[0][1], models[0][2], **_settings(args)), args)
    else:
        from .multi import analyze_many
        _emit_many(analyze_many(models, **_settings(args)), args)
    return EXIT_OK


def cmd_power(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .render.files import write_text
    from .render.text import render_power

    _check_outputs(args)
    res = analyze(args.null_json, args.aligned_json, **_settings(args))
    if args.json:
        import json
        doc = {"version": __version__, "inputs": res.inputs,
               "settings": res.settings.to_dict(), "analysis": res.description.to_dict(),
               "power": res.power.to_dict()}
        write_text(args.json, json.dumps(doc, indent=2, allow_nan=False) + "\n", "--json")
    if args.json != "-":
        render_power(res)
    return EXIT_OK


def _at_least(option: str, value, low) -> None:
    if value is not None and value < low:
        raise UsageError(option, f"an integer >= {low}", value)


def _progress(label: str, total: int):
    """A transient progress bar on standard error; returns (context manager, advance)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn(), transient=True, console=Console(stderr=True))
    task = bar.add_task(label, total=total)
    return bar, (lambda k: bar.advance(task, k))


def cmd_measure(args: argparse.Namespace) -> int:
    import json

    from .measure.backends import check_backend
    from .measure.journal import Journal
    from .measure.progress import TaskProgress
    from .measure.sweep import measure_checkpoint
    from .render.files import write_text

    _at_least("--null-draws", args.null_draws, 0)
    _at_least("--jobs", args.jobs, 1)
    _at_least("--seed", args.seed, 0)
    _at_least("--max-layers", args.max_layers, 2)
    if args.scheduler and args.jobs != 1:
        raise UsageError("--jobs", "no --jobs with --scheduler (the cluster's workers run the "
                         "tasks)", args.jobs)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise UsageError("--output", "a prefix in an existing directory", args.output)
    check_backend(args.backend, args.device)
    partial = args.output + ".partial"
    progress = TaskProgress("gaugetest measure")
    try:
        null_doc, aligned_doc = measure_checkpoint(
            args.model, side=args.side, null_draws=args.null_draws, seed=args.seed,
            jobs=args.jobs, family_map=args.family_map, max_layers=args.max_layers,
            gauge=args.gauge, backend=args.backend, device=args.device,
            scheduler=args.scheduler, partial=partial, fresh=args.fresh, progress=progress,
            heads=args.heads, rope_layout=args.rope_layout, mlp_solver=args.mlp_solver)
    except KeyboardInterrupt:
        saved = os.path.isdir(partial) and sum(n.startswith("task-") for n in os.listdir(partial))
        print(f"gaugetest measure: interrupted; {saved or 0} finished tasks are saved in "
              f"{partial}/ -- rerun the same command to continue (--fresh starts over); "
              "no output file was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    write_text(args.output + "-null.json", json.dumps(null_doc, indent=1) + "\n", "--output")
    write_text(args.output + "-aligned.json", json.dumps(aligned_doc, indent=1) + "\n",
               "--output")
    Journal(partial, {}).remove()
    if args.gauge == "symmetry":
        a = null_doc.get("architecture")
        how = "gauge symmetry" + (f" ({a['n_heads']} q / {a['n_kv_heads']} KV heads of "
                                  f"{a['head_dim']}, {a['rope_layout']} RoPE pairs)" if a else "")
    else:
        how = f"gauge {args.gauge}, side {null_doc['alignment_side']}"
    print(f"wrote {args.output}-null.json and {args.output}-aligned.json "
          f"({null_doc['model']}, {null_doc['num_layers']} layers, "
          f"{len(null_doc['pair_results'])} pairs, {len(aligned_doc['aligned_cos'])} families, "
          f"{how}, {args.null_draws} null draws, backend {null_doc['backend']})")
    return EXIT_OK


_CALIBRATE_DEFAULTS = {"scenarios": None, "phases": "auto", "compare": ["E", "C"],
                       "methods": None, "reps": 2000, "power": 0.8, "margin_se": 3.0,
                       "alpha": 0.05, "seed": 0}


def _calibrate_options(args: argparse.Namespace) -> list[str]:
    """The options that reproduce this study (non-default ones; --jobs and --checkpoint do
    not change the numbers)."""
    out: list[str] = []
    if args.layers:
        out += ["--layers", *map(str, args.layers)]
    for key, default in _CALIBRATE_DEFAULTS.items():
        value = getattr(args, key)
        if key in ("phases", "compare") and not args.layers:
            continue
        if value != default:
            flag = "--" + key.replace("_", "-")
            out += [flag, *map(lambda v: f"{v:g}" if isinstance(v, float) else str(v),
                               value if isinstance(value, list) else [value])]
    for key in ("output", "json"):
        if getattr(args, key):
            out += ["--" + key, getattr(args, key)]
    return out


def _verdict_study(args: argparse.Namespace) -> int:
    import shlex

    from .render.files import write_text
    from .studies.verdict_study import SCENARIOS, to_markdown, verdict_study

    _at_least("--reps", args.reps, 10)
    _at_least("--jobs", args.jobs, 1)
    if args.output:
        from .render.files import check_file_target
        check_file_target(args.output, "--output")
    bar, advance = _progress("simulating analyses", args.reps * len(SCENARIOS))
    with bar:
        results = verdict_study(args.reps, args.seed, args.jobs, advance)
    argv = ["gaugetest", "calibrate", "--verdict", "--reps", str(args.reps), "--seed",
            str(args.seed)] + (["--output", args.output] if args.output else [])
    md = to_markdown(results, reps=args.reps, seed=args.seed, command=shlex.join(argv))
    if args.output:
        write_text(args.output, md, "--output")
    print(md)
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    import shlex

    from .studies.calibration import (DEFAULT_METHODS, METHODS, Cell, bank_cells, calibrate, to_json,
                              to_markdown)
    from .phases import resolve_phase_map
    from .render.files import write_text
    from .studies.scenarios import BANK, DEFAULT_LAYOUTS, Layout, scenario

    if args.verdict:
        return _verdict_study(args)
    if args.list:
        print("Scenarios (--scenarios):")
        for sc in BANK:
            print(f"  {sc.name:16s} {sc.label}: {sc.description}")
        print("Methods (--methods):")
        for name, (_, desc) in METHODS.items():
            print(f"  {name:18s} {desc}")
        return EXIT_OK
    _at_least("--reps", args.reps, 10)
    _at_least("--jobs", args.jobs, 1)
    if not 0 < args.alpha < 0.5:
        raise UsageError("--alpha", "a number in (0, 0.5)", args.alpha)
    if not 0 < args.power < 1:
        raise UsageError("--power", "a number in (0, 1)", args.power)
    if not args.margin_se > 0:
        raise UsageError("--margin-se", "a positive number", args.margin_se)
    known = {s.name for s in BANK}
    for name in args.scenarios or []:
        if name not in known:
            raise UsageError("--scenarios", f"names from the bank ({', '.join(sorted(known))})",
                             name)
    methods = tuple(args.methods or DEFAULT_METHODS)
    for name in methods:
        if name not in METHODS:
            raise UsageError("--methods", f"one of {', '.join(METHODS)}", name)
    if args.layers:
        layouts = []
        for n in args.layers:
            if n < 4:
                raise UsageError("--layers", "layer counts >= 4", n)
            pmap = resolve_phase_map(args.phases, n)
            counts = {p: sum(pmap.phase_of(L, n) == p for L in range(n - 1)) for p in pmap.phases}
            for ph in args.compare:
                if counts.get(ph, 0) < 3:
                    raise UsageError("--compare", f"phases with >= 3 pairs in a {n}-layer model "
                                     f"({', '.join(f'{k}={v}' for k, v in counts.items())})", ph)
            layouts.append((n, args.compare[0], args.compare[1]))
        cells = [Cell(scenario(s), Layout.from_map(n, late, early, args.phases))
                 for s in (args.scenarios or [b.name for b in BANK])
                 for n, late, early in layouts]
    else:
        cells = bank_cells(args.scenarios, DEFAULT_LAYOUTS)
    for path, opt in ((args.output, "--output"), (args.json, "--json")):
        if path and os.path.isdir(path):
            raise UsageError(opt, "a file path", path)
    bar, advance = _progress("calibrating replicates", args.reps * len(cells))
    with bar:
        totals = calibrate(cells, methods, reps=args.reps, seed=args.seed, alpha=args.alpha,
                           power=args.power, margin_se=args.margin_se, jobs=args.jobs,
                           progress=advance, checkpoint=args.checkpoint)
    argv = ["gaugetest", "calibrate"] + _calibrate_options(args)
    md = to_markdown(cells, totals, methods, reps=args.reps, seed=args.seed, alpha=args.alpha,
                     power=args.power, margin_se=args.margin_se, command=shlex.join(argv))
    if args.json:
        import json
        settings = {"methods": list(methods), "reps": args.reps, "seed": args.seed,
                    "alpha": args.alpha, "power": args.power, "margin_se": args.margin_se,
                    "command": shlex.join(argv)}
        write_text(args.json, json.dumps(to_json(cells, totals, settings), indent=1,
                                         sort_keys=True) + "\n", "--json")
    if args.output:
        write_text(args.output, md, "--output")
    print(md)
    return EXIT_OK


COMMANDS = {"test": cmd_test, "demo": cmd_demo, "power": cmd_power, "measure": cmd_measure,
            "calibrate": cmd_calibrate}


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--margin -0.01,0.03`` -> ``--margin=-0.01,0.03``: argparse would take a value that
    starts with '-' and is not a plain number for an option."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--margin" and i + 1 < len(argv) and argv[i + 1][:1] == "-" and \
                argv[i + 1][1:2] in "0123456789.":
            out.append(f"--margin={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gaugetest`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except (InputError, UsageError) as exc:
        print(f"gaugetest {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"gaugetest {args.command}: interrupted; no output file was written "
              "or left partial", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("GAUGETEST_DEBUG"):
            raise
        print(f"gaugetest {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with GAUGETEST_DEBUG=1 for a traceback, and please report it)",
              file=sys.stderr)
        return EXIT_INTERNAL
