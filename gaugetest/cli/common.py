"""What the commands share: exit codes, the analysis options of test/demo/power, the settings
they become, and the checks made before anything is computed or written."""
from __future__ import annotations

import argparse

from ..errors import UsageError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_analysis_options(p: argparse.ArgumentParser, outputs: str = "all") -> None:
    """The inference options, and the output options (``outputs``: "all" or "power")."""
    g = p.add_argument_group("inference")
    g.add_argument("--alpha", type=float, default=0.05, metavar="A",
                   help="significance level, in (0, 0.5); intervals are 1-A, TOST intervals "
                        "1-2A (default 0.05)")
    g.add_argument("--margin", default="0.02", metavar="M|LOW,HIGH",
                   help="equivalence margin for TOST: M means (-M, M); LOW,HIGH gives uneven "
                        "bounds (default 0.02)")
    g.add_argument("--difference-margin", default=None, metavar="M",
                   help="m_diff of the non-superiority test of the compared difference, H0: "
                        "LATE - EARLY >= M against LATE - EARLY < M (the smallest late excess "
                        "called relevant), a number > 0 (default: the margin's upper bound)")
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


def analysis_settings(args: argparse.Namespace) -> dict:
    return dict(alpha=args.alpha, margin=args.margin, n_boot=args.n_boot, n_perm=args.n_perm,
                seed=args.seed, ci=args.ci, phases=args.phases, compare=tuple(args.compare),
                dependence=args.dependence, baseline=args.baseline, shapes=args.shapes,
                equivalence_phases=args.equivalence_phases, tost_rule=args.tost_rule,
                difference_margin=args.difference_margin)


def check_outputs(args) -> None:
    """Fail before computing or writing anything when an output cannot be produced."""
    from ..render.files import check_dir_target, check_file_target

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


def make_dirs(args) -> None:
    """Create the output directories before any file is written (a failure is exit 2 with
    nothing written)."""
    from ..render.files import make_dir

    for opt in ("csv", "plot"):
        if getattr(args, opt, None):
            make_dir(getattr(args, opt), f"--{opt}")


def at_least(option: str, value, low) -> None:
    if value is not None and value < low:
        raise UsageError(option, f"an integer >= {low}", value)


def progress_bar(label: str, total: int):
    """A transient progress bar on standard error; returns (context manager, advance)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn(), transient=True, console=Console(stderr=True))
    task = bar.add_task(label, total=total)
    return bar, (lambda k: bar.advance(task, k))
