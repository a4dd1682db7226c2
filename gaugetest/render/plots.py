"""Figures (matplotlib, the ``plot`` extra), rendered headless, following the analysis.

* ``<quantity>_by_layer`` (``excess_by_layer`` or ``delta_by_layer``): the analysed quantity
  along depth for every family, the pooled line on top, phases as bands; with a matched null in
  the input, the value the quantity takes with no shared structure is drawn as a line;
* ``forest``: pooled phase means with the interval of the analysis that drives the verdict,
  and the TOST's (1 − 2 alpha) interval against the equivalence margin;
* ``difference``: the compared difference per family and pooled, with both analyses' intervals
  and the deciding p-value;
* ``permutation_null``: the iid permutation distribution with the observed difference; its
  title says when the verdict follows another test.

Each figure carries a caption line naming the quantity, the levels, the method, and the phases
left out. PNG (300 dpi) and PDF at single-column width (3.5 in), grayscale-safe.
"""
from __future__ import annotations

import os

import numpy as np

from ..formatting import fmt_level, p_phrase

WIDTH = 3.5  # inches: one column of a two-column paper

MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*", "P")
STYLES = ("-", "--", "-.", ":")


def _mpl():
    try:
        import matplotlib
    except ModuleNotFoundError:
        from ..errors import UsageError
        raise UsageError("--plot", "matplotlib installed (pip install 'gaugetest[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7,
                         "legend.fontsize": 5.5, "xtick.labelsize": 6, "ytick.labelsize": 6,
                         "lines.linewidth": 0.8, "pdf.fonttype": 42, "svg.hashsalt": "gaugetest",
                         "path.simplify": False})
    return plt


def _save(fig, out: dict, name: str) -> list[str]:
    """Render ``fig`` as PNG and PDF into ``out`` (file name -> bytes); nothing is written here,
    so a figure that fails leaves no file behind (``write_plots`` writes them all at the end)."""
    import io

    names = []
    for ext, kw in (("png", {"dpi": 300}), ("pdf", {"metadata": {"CreationDate": None,
                                                                 "Creator": "gaugetest"}})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, bbox_inches="tight", **kw)
        out[f"{name}.{ext}"] = buf.getvalue()
        names.append(f"{name}.{ext}")
    return names


def _caption(fig, text: str) -> None:
    import textwrap

    fig.text(0.0, -0.02, "\n".join(textwrap.wrap(text, 78)), ha="left", va="top", fontsize=5)


def _drv(doc):
    from .documents import _driving, _other
    return _driving(doc), _other(doc)


def _phase_bands(ax, doc):
    pairs = doc["pairs"]
    Ls = sorted({r["L"] for r in pairs})
    phase_of = {r["L"]: r["phase"] for r in pairs}
    start = Ls[0]
    shade = False
    for i, L in enumerate(Ls + [None]):
        if L is None or (i and phase_of[L] != phase_of[Ls[i - 1]]):
            end = Ls[i - 1]
            if shade:
                ax.axvspan(start - 0.5, end + 0.5, color="0.9", lw=0, zorder=0)
            ax.text((start + end) / 2, 1.0, phase_of[Ls[i - 1]], transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=6)
            shade = not shade
            start = L


def by_layer(doc: dict, out: dict) -> list[str]:
    """The analysed quantity along depth (file ``<symbol>_by_layer``)."""
    plt = _mpl()
    a = doc["analysis"]
    q = a["quantity"]
    key = q["key"]
    fams = a["families"]
    fig, ax = plt.subplots(figsize=(WIDTH, 2.4))
    _phase_bands(ax, doc)
    by_fam: dict[str, dict[int, float]] = {}
    null_ref: dict[int, list[float]] = {}
    null_var: dict[int, list[float]] = {}
    for r in doc["pairs"]:
        if "null_mean_se" in r:
            null_var.setdefault(r["L"], []).append(r["null_mean_se"] ** 2)
        by_fam.setdefault(r["family"], {})[r["L"]] = r[key]
        if "null_mean" in r:
            # the quantity's value with no shared structure: 0 for the excess, null − raw for delta
            null_ref.setdefault(r["L"], []).append(0.0 if key == "excess"
                                                   else r["null_mean"] - r["raw"])
    for k, f in enumerate(fams):
        pts = sorted(by_fam.get(f, {}).items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts],
                color=str(0.25 + 0.45 * k / max(len(fams) - 1, 1)), ls=STYLES[k % len(STYLES)],
                marker=MARKERS[k % len(MARKERS)], ms=1.8, label=f.removesuffix("_proj"))
    Ls = sorted({r["L"] for r in doc["pairs"]})
    pooled = [np.mean([by_fam[f][L] for f in fams]) if all(L in by_fam[f] for f in fams)
              else np.nan for L in Ls]
    ax.plot(Ls, pooled, color="black", lw=1.8, label="pooled")
    if null_ref:
        xs = sorted(null_ref)
        ref = np.array([np.mean(null_ref[L]) for L in xs])
        ax.plot(xs, ref, color="black", lw=0.8, ls=(0, (1, 1)),
                label=f"{q['null_name']} (pooled)")
        if len(null_var) == len(xs):
            # +-2 standard errors of the pooled null mean (its draws are independent)
            se = np.array([np.sqrt(np.sum(null_var[L])) / len(null_var[L]) for L in xs])
            ax.fill_between(xs, ref - 2 * se, ref + 2 * se, color="0.75", lw=0, zorder=1,
                            label="±2 se of that mean")
    ax.set_xlabel("layer pair L (L, L+1)")
    ax.set_ylabel(f"{q['symbol']} = {q['definition']}" if len(q["definition"]) < 32
                  else q["symbol"])
    ax.legend(ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    _caption(fig, f"{a['model']}: {q['symbol']} = {q['definition']} per adjacent pair"
                  + (f"; the dotted line is its value with no shared structure ({q['null_name']})"
                     + ("; the band is ±2 standard errors of the null mean" if null_var else "")
                     if null_ref else "") + f". Gauge: {q['gauge']}.")
    fig.tight_layout()
    paths = _save(fig, out, f"{q['symbol']}_by_layer")
    plt.close(fig)
    return paths


def forest(doc: dict, out: dict) -> list[str]:
    """Pooled phase means: the driving analysis's (1 − alpha) interval and its TOST's
    (1 − 2 alpha) interval against the margin."""
    plt = _mpl()
    a = doc["analysis"]
    q = a["quantity"]
    drv, _ = _drv(doc)
    ci, tl = fmt_level(a["ci_level"]), fmt_level(a["tost_level"])
    est = [r for r in drv["phase_summary"] if r["family"] == "pooled"]
    shown = [r for r in est if r["ci_low"] is not None]
    left_out = [r["phase"] for r in est if r["ci_low"] is None]
    eq = {r["phase"]: r for r in drv["equivalence"] if r["family"] == "pooled"}
    fig, ax = plt.subplots(figsize=(WIDTH, 0.6 + 0.3 * max(len(shown), 1)))
    lo, hi = a["margin"]
    ax.axvspan(lo, hi, color="0.85", lw=0, label=f"equivalence margin ({lo:g}, {hi:g})")
    ax.axvline(0, color="0.5", lw=0.6)
    tost_labelled = False
    for k, r in enumerate(shown):
        y = len(shown) - k
        # max(0, .): a zero-width interval may sit an ulp off its estimate
        ax.errorbar(r["mean"], y + 0.12, xerr=[[max(0.0, r["mean"] - r["ci_low"])],
                                               [max(0.0, r["ci_high"] - r["mean"])]],
                    fmt="o", color="black", ms=3, capsize=2,
                    label=f"{ci} CI ({drv['name']})" if k == 0 else None)
        e = eq.get(r["phase"])
        if e and e["ci_low"] is not None:
            ax.plot([e["ci_low"], e["ci_high"]], [y - 0.12, y - 0.12], color="0.35", lw=2.2,
                    solid_capstyle="butt",
                    label=None if tost_labelled else f"{tl} TOST interval")
            tost_labelled = True
    ax.set_yticks([len(shown) - k for k in range(len(shown))], [r["phase"] for r in shown])
    ax.set_xlabel(f"pooled mean {q['symbol']}")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2)
    cap = (f"{a['model']}: pooled mean {q['symbol']} per phase, {ci} interval of the "
           f"{drv['name']} analysis and the {tl} interval its TOST ({drv['tost_name']}) "
           f"compares with the margin (equivalent when inside).")
    if not q["equivalence_testable"]:
        cap += f" Equivalence is not part of the verdict: {q['equivalence_note']}."
    if left_out:
        cap += f" Left out (too few pairs for an interval): {', '.join(left_out)}."
    _caption(fig, cap)
    fig.tight_layout()
    paths = _save(fig, out, "forest")
    plt.close(fig)
    return paths


def difference(doc: dict, out: dict) -> list[str]:
    """The compared difference per family and pooled, with both analyses' (1 − alpha)
    intervals; the title gives the deciding test's p."""
    drv, oth = _drv(doc)
    if not drv["late_vs_early"]:
        return []
    plt = _mpl()
    a = doc["analysis"]
    ci = fmt_level(a["ci_level"])
    rows = drv["late_vs_early"]
    orows = {r["family"]: r for r in oth["late_vs_early"]}
    fig, ax = plt.subplots(figsize=(WIDTH, 0.6 + 0.28 * len(rows)))
    ax.axvline(0, color="0.5", lw=0.6)
    labelled = set()          # each analysis named once, at its first row with an interval
    for k, r in enumerate(rows):
        y = len(rows) - k
        for off, row, style, lab in ((0.12, r, dict(fmt="o", color="black"), drv["name"]),
                                     (-0.12, orows.get(r["family"]),
                                      dict(fmt="s", color="0.45", mfc="white"), oth["name"])):
            if row and row["ci_low"] is not None and row["statistic"] is not None:
                ax.errorbar(row["statistic"], y + off,
                            xerr=[[max(0.0, row["statistic"] - row["ci_low"])],
                                  [max(0.0, row["ci_high"] - row["statistic"])]], ms=3, capsize=2,
                            label=None if lab in labelled else f"{ci} CI ({lab})", **style)
                labelled.add(lab)
    ax.set_yticks([len(rows) - k for k in range(len(rows))],
                  [r["family"].removesuffix("_proj") for r in rows])
    pooled = rows[-1]
    import textwrap
    ax.set_title("\n".join(textwrap.wrap(
        f"{a['compare']['contrast']}: one-sided {p_phrase(pooled['p_value'])} "
        f"({drv['name']} analysis, which decides the verdict)", 70)), fontsize=6)
    ax.set_xlabel(a["compare"]["contrast"])
    if labelled:
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    _caption(fig, f"{a['model']}: difference of the mean {a['quantity']['symbol']} between "
                  f"phases {a['compare']['late']} and {a['compare']['early']} per family and "
                  f"pooled, with {ci} intervals of the {drv['name']} analysis (filled) and the "
                  f"{oth['name']} analysis (open).")
    fig.tight_layout()
    paths = _save(fig, out, "difference")
    plt.close(fig)
    return paths


def permutation_null(doc: dict, null: np.ndarray | None, out: dict) -> list[str]:
    if null is None or not doc["permutation"]:
        return []
    plt = _mpl()
    a = doc["analysis"]
    q = a["quantity"]
    late, early = a["compare"]["late"], a["compare"]["early"]
    r = doc["permutation"][-1]
    obs = r["statistic"]
    fig, ax = plt.subplots(figsize=(WIDTH, 2.0))
    ax.hist(null, bins=60, color="0.7", edgecolor="0.45", linewidth=0.3)
    ax.axvline(obs, color="black", lw=1.4, ls="--", label=f"observed {obs:+.4f}")
    deciding = a["driving"]["method"] == "iid"
    title = f"iid permutation test, {p_phrase(r['p_value'])}"
    if not deciding:
        rp = doc["robust"]["late_vs_early"][-1]["p_value"] if doc["robust"]["late_vs_early"] \
            else None
        title += (f" (not the deciding test: the verdict follows {a['driving']['name']}, "
                  f"{p_phrase(rp)})" if rp is not None else " (not the deciding test)")
    import textwrap
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=6)
    ax.set_xlabel(f"mean {q['symbol']}({late}) − mean {q['symbol']}({early}) under relabelling")
    ax.set_ylabel("splits")
    ax.legend(frameon=False)
    _caption(fig, f"{a['model']}: permutation distribution of {a['compare']['contrast']} "
                  f"(pooled over families), relabelling whole pairs between {late} and {early} "
                  "as if they were independent.")
    fig.tight_layout()
    paths = _save(fig, out, "permutation_null")
    plt.close(fig)
    return paths


def render_plots(res, doc: dict | None = None) -> dict[str, bytes]:
    """Every figure of one result as {file name: bytes}, rendered in memory; ``doc`` is
    ``res.to_dict()`` when the caller has it already."""
    doc = doc if doc is not None else res.to_dict()
    out: dict[str, bytes] = {}
    by_layer(doc, out)
    forest(doc, out)
    difference(doc, out)
    permutation_null(doc, res.iid.null_distribution, out)
    return out


def write_plots(res, directory: str, doc: dict | None = None) -> list[str]:
    """All figures for one result into ``directory`` (created if missing)."""
    from .files import make_dir, write_bytes

    figures = render_plots(res, doc)
    make_dir(directory, "--plot")
    paths = []
    for name, data in figures.items():
        paths.append(os.path.join(directory, name))
        write_bytes(paths[-1], data, "--plot")
    return paths
