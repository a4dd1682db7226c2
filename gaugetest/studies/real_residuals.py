"""Residuals of real sweeps for the scenario bank: SmolLM2-135M measured by ``gaugetest
measure`` under both gauges (``orthogonal``: full O(d) Procrustes on the input side;
``symmetry``: the transformer block's symmetry group, issue 11), delta and excess over the
matched null, phase means removed, block-resampled along depth.

The sweeps ship with the package (gaugetest/data/README.md says how they were made).  The
scenarios ``real-delta`` / ``real-excess`` (orthogonal gauge) are bank cells; ``real-sym-*``
(symmetry gauge) and the ``real-depth-*`` variants are the held-out cells of issue 17.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..phases import resolve_phase_map

#: Block length of the moving-block bootstrap of real residuals.
REAL_BLOCK = 3
#: The bundled sweeps of each gauge: (raw/null file, aligned file) in gaugetest/data.
REAL_RUNS = {"orthogonal": ("smollm2-135m-cols-null.json", "smollm2-135m-cols-aligned.json"),
             "symmetry": ("smollm2-135m-symmetry-null.json",
                          "smollm2-135m-symmetry-aligned.json")}
REAL_FILES = REAL_RUNS["orthogonal"]


@lru_cache(maxsize=None)
def real_series(quantity: str, run: str = "orthogonal") -> tuple[np.ndarray, tuple[str, ...]]:
    """The pooled series of a bundled sweep along depth and the phase of each pair.

    ``quantity`` is "delta" (aligned - raw) or "excess" (aligned - null mean)."""
    from ..io import parse_aligned, parse_null

    files = REAL_RUNS[run]
    docs = [json.loads(resources.files("gaugetest").joinpath("data", name).read_text())
            for name in files]
    null, aligned = parse_null(docs[0], files[0]), parse_aligned(docs[1], files[1])
    fams = sorted(aligned.cos)
    n_layers = aligned.num_layers
    Ls = sorted(set.intersection(*(set(aligned.cos[f]) for f in fams)))
    if quantity == "delta":
        base = {f: null.cos[f] for f in fams}
    else:
        base = {f: {L: null.extras[f][L]["aligned_null_mean"] for L in Ls} for f in fams}
    y = np.array([np.mean([aligned.cos[f][L] - base[f][L] for f in fams]) for L in Ls])
    pm = resolve_phase_map("auto", n_layers)
    return y, tuple(pm.phase_of(L, n_layers) for L in Ls)


@lru_cache(maxsize=None)
def real_residuals(quantity: str, run: str = "orthogonal") -> dict:
    """Pooled residual series of a bundled SmolLM2-135M sweep, by phase.

    Each phase's mean is removed and the residuals are scaled by sqrt(n / (n - 1)) so their
    mean square estimates the phase variance; phases of one pair carry no residual and are left
    out.
    """
    y, phases = real_series(quantity, run)
    ph = np.asarray(phases)
    out = {}
    for p in dict.fromkeys(phases):
        v = y[ph == p]
        if len(v) >= 2:
            out[str(p)] = (v - v.mean()) * math.sqrt(len(v) / (len(v) - 1))
    return out


@dataclass(frozen=True)
class _RealSource:
    segments: tuple[np.ndarray, ...]     # standardized residual series, one per real phase
    phase_sd: dict                       # real phase -> sd relative to the overall rms

    @property
    def total(self) -> int:
        return sum(len(s) for s in self.segments)


@lru_cache(maxsize=None)
def _real_source(quantity: str, run: str = "orthogonal") -> _RealSource:
    res = real_residuals(quantity, run)
    rms = float(np.sqrt(np.mean(np.concatenate(list(res.values())) ** 2)))
    segs, sd = [], {}
    for p, r in res.items():
        s = float(np.sqrt(np.mean(r ** 2)))
        segs.append(r / s)
        sd[p] = s / rms
    return _RealSource(tuple(segs), sd)


def _real_source_phase(phase: str, have) -> str:
    """Which real phase's noise level a target phase takes: the same name, else the nearest
    in depth."""
    if phase in have:
        return phase
    order = ("A", "B", "C", "D", "E", "tail")
    i = order.index(phase) if phase in order else len(order)
    return sorted(have, key=lambda q: (abs(order.index(q) - i) if q in order else 99, q))[0]


@lru_cache(maxsize=None)
def _real_blocks(quantity: str, block: int, run: str = "orthogonal",
                 mode: str = "phase") -> tuple[np.ndarray, float]:
    """Every block of ``block`` consecutive residuals: (n_blocks, block), and the mean of all
    their entries (subtracted, so the generated series has mean exactly 0).

    ``mode`` "phase": standardized residuals, blocks inside one real phase; "depth": the raw
    residuals (each phase's mean removed, real noise level kept) along the whole depth, blocks
    free to cross a real phase boundary."""
    if mode == "phase":
        src = _real_source(quantity, run)
        blocks = np.array([seg[i:i + block] for seg in src.segments
                           for i in range(len(seg) - block + 1)])
    else:
        r = _depth_residuals(quantity, run)
        blocks = np.array([r[i:i + block] for i in range(len(r) - block + 1)])
    return blocks, float(blocks.mean())


@lru_cache(maxsize=None)
def _depth_residuals(quantity: str, run: str) -> np.ndarray:
    """Residuals along the whole depth (pairs of one-pair phases left out), scaled to unit
    mean square: the real noise level of each depth kept relative to the others."""
    _, phases = real_series(quantity, run)
    res = real_residuals(quantity, run)
    seq = []
    seen = {p: 0 for p in res}
    for p in phases:
        if p in res:
            seq.append(res[p][seen[p]])
            seen[p] += 1
    out = np.array(seq)
    return out / float(np.sqrt(np.mean(out ** 2)))


def real_draw(layout, quantity: str, block: int, reps: int, rng: np.random.Generator,
              run: str = "orthogonal", mode: str = "phase") -> np.ndarray:
    """Moving-block bootstrap of real residuals.

    ``mode`` "phase" (the bank's ``real-*`` cells): each target phase is a run of blocks of
    ``block`` consecutive standardized residuals, each block drawn uniformly from the blocks
    that lie inside one real phase (never across a phase boundary, never wrapped), the block
    grid shifted by a random offset so the series is stationary; then centred and given the
    noise sd of the real phase of the same name.  The real dependence up to lag block - 1, the
    real marginal shape and the real heteroscedasticity, on any layout.

    ``mode`` "depth" (held-out ``real-depth-*`` cells): the same along the whole target depth,
    from blocks of the raw residual series along the whole real depth: a target pair gets the
    noise level of wherever its block came from, so a quiet phase can receive a burst from a
    noisy one (real within-phase heteroscedasticity and heavy tails)."""
    blocks, centre = _real_blocks(quantity, block, run, mode)
    y = np.empty((reps, layout.n))
    groups = _scaled_groups(layout, quantity, run, mode)
    for rows, scale in groups:
        m = len(rows)
        n_blk = -(-(m + block - 1) // block)
        pick = rng.integers(0, len(blocks), (reps, n_blk))
        run_ = blocks[pick].reshape(reps, n_blk * block)
        off = rng.integers(0, block, reps)
        take = off[:, None] + np.arange(m)[None, :]
        y[:, rows] = scale * (np.take_along_axis(run_, take, axis=1) - centre)
    return y


def _scaled_groups(layout, quantity: str, run: str, mode: str) -> list:
    """(rows, noise scale) of each group resampled on its own: every phase with its real
    phase's sd ("phase" mode), or the whole depth at scale 1 ("depth" mode)."""
    if mode != "phase":
        return [(np.arange(layout.n), 1.0)]
    src = _real_source(quantity, run)
    return [(layout.rows(ph), src.phase_sd[_real_source_phase(ph, src.phase_sd)])
            for ph in layout.phase_order]


def real_covariance(layout, quantity: str, block: int, run: str = "orthogonal",
                    mode: str = "phase") -> np.ndarray:
    """Exact covariance of that bootstrap: pairs k < block apart fall in the same block with
    probability (block - k) / block (random offset); within a block the covariance is the
    average over blocks and positions of the centred products; pairs in different blocks (or,
    in "phase" mode, different phases) are independent."""
    blocks, centre = _real_blocks(quantity, block, run, mode)
    b = blocks - centre
    acv = np.zeros(layout.n + 1)
    for k in range(min(block, layout.n + 1)):
        # P(same block) * E[product | same block] = (1/block) sum_j E_s[b_j b_{j+k}]
        acv[k] = np.sum(np.mean(b[:, :block - k] * b[:, k:], axis=0)) / block
    cov = np.zeros((layout.n, layout.n))
    groups = _scaled_groups(layout, quantity, run, mode)
    for rows, scale in groups:
        lag = np.abs(rows[:, None] - rows[None, :])
        cov[np.ix_(rows, rows)] = scale ** 2 * acv[lag]
    return cov
