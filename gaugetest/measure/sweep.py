"""The layer-pair loop of ``gaugetest measure`` and the two output documents.

Family-major, layer-minor: for each family only layers L and L+1 are in memory,
and each layer's singular values are computed once and reused by its two pairs.
With ``jobs > 1`` pairs are computed in worker processes that open the
(memory-mapped) checkpoint themselves; every pair's null draws use their own
seed, so results do not depend on ``jobs``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from .procrustes import aligned_cosine, raw_cosine, singular_values, spectrum_null, von_neumann_bound
from .readers import Layout, detect_layout, load_family_map, open_checkpoint


@dataclass(frozen=True)
class PairMeasure:
    family: str
    L: int
    raw: float
    aligned: float
    null_mean: float | None
    null_sd: float | None
    bound: float


def _pair_seed(seed: int, fam_index: int, L: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, fam_index, L])


def _measure_pair(A, B, sa, sb, side, draws, rng, family, L) -> PairMeasure:
    other = A.shape[0] if side == "cols" else A.shape[1]
    nulls = spectrum_null(sa, sb, other, draws, rng) if draws else None
    return PairMeasure(family, L, raw_cosine(A, B), aligned_cosine(A, B, side),
                       float(nulls.mean()) if draws else None,
                       float(nulls.std(ddof=1)) if draws and draws > 1 else None,
                       von_neumann_bound(sa, sb))


_WORKER: dict = {}


def _worker_init(path, patterns, num_layers):
    _WORKER["reader"] = open_checkpoint(path)
    _WORKER["layout"] = Layout(patterns, num_layers)


def _worker_task(args):
    family, fam_index, L, side, draws, seed = args
    r, lay = _WORKER["reader"], _WORKER["layout"]
    A = r.tensor(lay.name(family, L))
    B = r.tensor(lay.name(family, L + 1))
    rng = np.random.default_rng(_pair_seed(seed, fam_index, L))
    return _measure_pair(A, B, singular_values(A), singular_values(B), side, draws, rng, family, L)


def measure_checkpoint(path: str, *, side: str = "cols", null_draws: int = 8, seed: int = 0,
                       jobs: int = 1, family_map: str | None = None, progress=None,
                       max_layers: int | None = None):
    """Measure every adjacent pair and family; returns (null_doc, aligned_doc).

    ``max_layers`` limits the sweep to the first layers (for quick checks)."""
    reader = open_checkpoint(path)
    fmap = load_family_map(family_map) if family_map else None
    layout = detect_layout(reader, fmap)
    n = layout.num_layers if max_layers is None else min(layout.num_layers, max_layers)
    fams = list(layout.patterns)
    shapes = {f: list(reader.shape(layout.name(f, 0))) for f in fams}
    for f in fams:
        if len(shapes[f]) != 2:
            from ..errors import InputError
            raise InputError(path, layout.name(f, 0), "a 2-D weight matrix", f"shape {shapes[f]}")
    results: list[PairMeasure] = []
    if jobs > 1:
        from ..parallel import process_pool, single_threaded_workers
        tasks = [(f, k, L, side, null_draws, seed) for k, f in enumerate(fams) for L in range(n - 1)]
        with single_threaded_workers(), process_pool(
                jobs, initializer=_worker_init,
                initargs=(path, layout.patterns, layout.num_layers)) as ex:
            for pm in ex.map(_worker_task, tasks, chunksize=2):
                results.append(pm)
                if progress:
                    progress(1)
    else:
        for k, f in enumerate(fams):
            A = reader.tensor(layout.name(f, 0))
            sa = singular_values(A)
            for L in range(n - 1):
                B = reader.tensor(layout.name(f, L + 1))
                if B.shape != A.shape:
                    from ..errors import InputError
                    raise InputError(path, layout.name(f, L + 1), f"shape {list(A.shape)} like "
                                     f"layer {L}", f"{list(B.shape)}")
                sb = singular_values(B)
                rng = np.random.default_rng(_pair_seed(seed, k, L))
                results.append(_measure_pair(A, B, sa, sb, side, null_draws, rng, f, L))
                A, sa = B, sb  # keep only the two layers of this family
                if progress:
                    progress(1)
    return _documents(reader, layout, n, fams, shapes, results, side, null_draws, seed, path)


def count_pairs(path: str, family_map: str | None = None, max_layers: int | None = None) -> int:
    """Number of (family, pair) tasks a measure run will do (for the progress bar)."""
    reader = open_checkpoint(path)
    layout = detect_layout(reader, load_family_map(family_map) if family_map else None)
    n = layout.num_layers if max_layers is None else min(layout.num_layers, max_layers)
    return len(layout.patterns) * (n - 1)


def _documents(reader, layout, n, fams, shapes, results, side, draws, seed, path):
    model = reader.model_name
    convention = ("R = scipy.linalg.orthogonal_procrustes(W_L, W_{L+1})[0]; aligned = "
                  "cos(W_L @ R, W_{L+1}) (input/column side rotated)" if side == "cols" else
                  "R = scipy.linalg.orthogonal_procrustes(W_L.T, W_{L+1}.T)[0]; aligned = "
                  "cos(R.T @ W_L, W_{L+1}) (output/row side rotated)")
    meta = {"model": model, "num_layers": layout.num_layers, "source": os.path.basename(os.path.normpath(path)),
            "generator": f"gaugetest measure {__version__}", "alignment_side": side,
            "alignment": convention, "null": "spectrum-matched (Haar singular vectors on the "
            "non-aligned side)", "null_draws": draws, "seed": seed,
            "shapes": shapes, "pairs_measured": n - 1}
    by = {(r.family, r.L): r for r in results}
    pairs = []
    for L in range(n - 1):
        fam_entries = {}
        for f in fams:
            r = by[(f, L)]
            e = {"cos": r.raw, "aligned_cos": r.aligned, "von_neumann_bound": r.bound}
            if r.null_mean is not None:
                e["aligned_null_mean"] = r.null_mean
            if r.null_sd is not None:
                e["aligned_null_sd"] = r.null_sd
            fam_entries[f] = e
        pairs.append({"L": L, "L_next": L + 1, "families": fam_entries})
    null_doc = {**meta, "pair_results": pairs}
    aligned_doc = {**meta, "aligned_cos": {f: {str(L): by[(f, L)].aligned for L in range(n - 1)}
                                           for f in fams}}
    if draws:
        aligned_doc["aligned_null"] = {
            f: {str(L): {"mean": by[(f, L)].null_mean, "sd": by[(f, L)].null_sd}
                for L in range(n - 1)} for f in fams}
    return null_doc, aligned_doc
