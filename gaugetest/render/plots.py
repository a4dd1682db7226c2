"""Figures (matplotlib, the ``plot`` extra), rendered headless.

* ``delta_by_layer``: delta along depth for every family, the pooled line on top,
  phases as alternating bands;
* ``forest``: pooled mean delta per phase with the iid bootstrap and the robust
  interval, and the equivalence margin around 0;
* ``permutation_null``: the pooled permutation null distribution with the
  observed difference.

Each is written as PNG (300 dpi) and PDF at single-column width (3.5 in), in
grayscale-safe styles (markers and line styles, not colour alone).
"""
from __future__ import annotations

import os

import numpy as np

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


def _save(fig, directory: str, name: str) -> list[str]:
    from .files import write_bytes

    out = []
    for ext, kw in (("png", {"dpi": 300}), ("pdf", {"metadata": {"CreationDate": None,
                                                                 "Creator": "gaugetest"}})):
        import io
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, bbox_inches="tight", **kw)
        path = os.path.join(directory, f"{name}.{ext}")
        write_bytes(path, buf.getvalue(), "--plot")
        out.append(path)
    return out


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


def delta_by_layer(doc: dict, directory: str, quantity: str = "delta") -> list[str]:
    plt = _mpl()
    fams = doc["data"]["families"]
    fig, ax = plt.subplots(figsize=(WIDTH, 2.4))
    _phase_bands(ax, doc)
    by_fam: dict[str, dict[int, float]] = {}
    for r in doc["pairs"]:
        by_fam.setdefault(r["family"], {})[r["L"]] = r["delta"]
    for k, f in enumerate(fams):
        pts = sorted(by_fam.get(f, {}).items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=str(0.25 + 0.45 * k / max(len(fams) - 1, 1)),
                ls=STYLES[k % len(STYLES)], marker=MARKERS[k % len(MARKERS)], ms=1.8,
                label=f.removesuffix("_proj"))
    Ls = sorted({r["L"] for r in doc["pairs"]})
    pooled = [np.mean([by_fam[f][L] for f in fams]) if all(L in by_fam[f] for f in fams) else np.nan
              for L in Ls]
    ax.plot(Ls, pooled, color="black", lw=1.8, label="pooled")
    ax.set_xlabel("layer pair L (L, L+1)")
    ax.set_ylabel(f"{quantity} (aligned − raw cosine)")
    ax.legend(ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    paths = _save(fig, directory, "delta_by_layer")
    plt.close(fig)
    return paths


def forest(doc: dict, directory: str) -> list[str]:
    plt = _mpl()
    s = doc["settings"]
    iid = [r for r in doc["phase_summary"] if r["family"] == "pooled" and r["ci_low"] is not None]
    rob = {r["phase"]: r for r in (doc.get("robust") or {}).get("phase_summary", [])
           if r["family"] == "pooled" and r["ci_low"] is not None}
    fig, ax = plt.subplots(figsize=(WIDTH, 0.5 + 0.3 * max(len(iid), 1)))
    lo, hi = s["margin"]
    ax.axvspan(lo, hi, color="0.85", lw=0, label=f"equivalence margin ({lo:g}, {hi:g})")
    ax.axvline(0, color="0.5", lw=0.6)
    for k, r in enumerate(iid):
        y = len(iid) - k
        ax.errorbar(r["mean_delta"], y + 0.12, xerr=[[r["mean_delta"] - r["ci_low"]],
                                                     [r["ci_high"] - r["mean_delta"]]],
                    fmt="o", color="black", ms=3, capsize=2,
                    label=f"iid {s['ci_method']} bootstrap" if k == 0 else None)
        q = rob.get(r["phase"])
        if q:
            ax.errorbar(q["mean_delta"], y - 0.12, xerr=[[q["mean_delta"] - q["ci_low"]],
                                                         [q["ci_high"] - q["mean_delta"]]],
                        fmt="s", color="0.45", mfc="white", ms=3, capsize=2,
                        label=f"robust ({doc['robust']['method']})" if k == 0 else None)
    ax.set_yticks([len(iid) - k for k in range(len(iid))], [r["phase"] for r in iid])
    ax.set_xlabel(f"pooled mean delta, {100 * (1 - s['alpha']):g}% CI")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2)
    fig.tight_layout()
    paths = _save(fig, directory, "forest")
    plt.close(fig)
    return paths


def permutation_null(doc: dict, null: np.ndarray | None, directory: str) -> list[str]:
    if null is None or not doc["permutation"]:
        return []
    plt = _mpl()
    late, early = doc["settings"]["compare"]
    obs = doc["permutation"][-1]["statistic"]
    fig, ax = plt.subplots(figsize=(WIDTH, 2.0))
    ax.hist(null, bins=60, color="0.7", edgecolor="0.45", linewidth=0.3)
    ax.axvline(obs, color="black", lw=1.4, ls="--", label=f"observed {obs:+.4f}")
    r = doc["permutation"][-1]
    from .formatting import p_phrase
    ax.set_title(f"pooled permutation null, {p_phrase(r['p_value'], r['exact'], r['n_resamples'])}")
    ax.set_xlabel(f"mean delta({late}) − mean delta({early}) under relabelling")
    ax.set_ylabel("splits")
    ax.legend(frameon=False)
    fig.tight_layout()
    paths = _save(fig, directory, "permutation_null")
    plt.close(fig)
    return paths


def write_plots(res, directory: str, doc: dict | None = None) -> list[str]:
    """All figures for one result into ``directory`` (created if missing); ``doc`` is
    ``res.to_dict()`` when the caller has it already."""
    from ..errors import UsageError

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError("--plot", "a directory", directory)
    os.makedirs(directory, exist_ok=True)
    doc = doc if doc is not None else res.to_dict()
    return (delta_by_layer(doc, directory) + forest(doc, directory)
            + permutation_null(doc, res.permutation.null_distribution, directory))
