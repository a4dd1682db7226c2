"""Gauges: what is aligned, as tasks the runners can schedule, journal and ship to workers.

A gauge turns a checkpoint into **tasks** (the unit of results, resume and progress), groups them
into **chains** (the unit of work a worker runs in order, so per-layer work is shared between
the consecutive pairs of a chain), runs a chain, and says how to describe itself in the output
files.  Every task covers one adjacent pair (L, L+1) and one or more families, and returns, per
family, the entry written to ``PREFIX-null.json``: ``cos``, ``aligned_cos`` and, with a null,
``aligned_null_mean`` / ``aligned_null_sd`` (plus any gauge-specific numbers).

``OrthogonalGauge`` (``--gauge orthogonal``) is full orthogonal Procrustes on one side: one task
per (family, pair); a chain is a run of consecutive pairs of one family, and each layer's
spectrum (and triangular root) is computed once per chain.

Adding a gauge (e.g. the symmetry gauge of issue 11) is one more class and one line in
``GAUGES``; see ``docs/measure.md`` ("Adding a gauge").

Examples
--------
>>> g = OrthogonalGauge()
>>> ck = Checkpoint("m.safetensors", "m", {"q_proj": "l.{i}.q", "up_proj": "l.{i}.up"}, 4, 4,
...                 {"q_proj": (8, 4), "up_proj": (16, 4)})
>>> [t.key for t in g.tasks(ck, Settings())][:4]
['q_proj@0', 'q_proj@1', 'q_proj@2', 'up_proj@0']
>>> [[t.key for t in c] for c in g.chains(g.tasks(ck, Settings()), workers=1)]
[['up_proj@0', 'up_proj@1', 'up_proj@2'], ['q_proj@0', 'q_proj@1', 'q_proj@2']]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from .procrustes import von_neumann_bound


@dataclass(frozen=True)
class Settings:
    """Everything that determines the numbers of a run (the resume key, with the checkpoint).

    ``--jobs`` and ``--scheduler`` are not here: they never change a number.
    """

    gauge: str = "orthogonal"
    side: str = "cols"
    null_draws: int = 8
    seed: int = 0
    backend: str = "numpy"
    device: str = "cpu"
    max_layers: int | None = None
    family_map: str | None = None   # sha256 of the family-map file's bytes


@dataclass(frozen=True)
class Checkpoint:
    """What a gauge knows about the model: picklable, sent to every worker."""

    path: str
    model_name: str
    patterns: dict
    num_layers: int          # layers in the checkpoint
    layers: int              # layers measured (pairs = layers - 1)
    shapes: dict             # family -> (out, in), checked equal for every measured layer
    extra: dict = field(default_factory=dict)   # gauge-specific metadata (e.g. head counts)

    def name(self, family: str, layer: int) -> str:
        return self.patterns[family].format(i=layer)

    @property
    def pairs(self) -> int:
        return self.layers - 1


@dataclass(frozen=True)
class Task:
    """One adjacent pair (L, L+1) and the families measured together on it."""

    pair: int
    families: tuple
    cost: float = 1.0        # relative work (for scheduling and the time estimate)

    @property
    def key(self) -> str:
        return f"{'+'.join(self.families)}@{self.pair}"


class Gauge:
    """Base class: one task per pair and family group, each run on its own.

    Subclasses set ``name`` and implement ``tasks``, ``run_task`` and ``metadata``; override
    ``chains`` and ``run`` to share work between consecutive tasks (as the orthogonal gauge
    does).  Gauge objects are pickled to worker processes and Dask workers: keep them small
    frozen dataclasses (``prepare`` may return a copy that carries what it read, e.g. head counts).
    """

    name = "?"

    def prepare(self, reader, ckpt: Checkpoint, settings: Settings) -> "Gauge":
        """Read what the gauge needs beyond the layout (in the parent, before any task)."""
        return self

    def tasks(self, ckpt: Checkpoint, settings: Settings) -> list[Task]:
        raise NotImplementedError

    def chains(self, tasks: Sequence[Task], workers: int) -> list[tuple[Task, ...]]:
        """Work units: by default every task alone, most expensive first."""
        return [(t,) for t in sorted(tasks, key=lambda t: -t.cost)]

    def seed_sequence(self, task: Task, ckpt: Checkpoint, settings: Settings):
        fam_index = list(ckpt.patterns).index(task.families[0])
        return np.random.SeedSequence([settings.seed, fam_index, task.pair])

    def run_task(self, task: Task, reader, backend, ckpt: Checkpoint, settings: Settings,
                 rng: np.random.Generator) -> dict:
        """{family: entry} for one task."""
        raise NotImplementedError

    def run(self, chain: Sequence[Task], reader, backend, ckpt: Checkpoint,
            settings: Settings) -> Iterator[tuple[Task, dict]]:
        for task in chain:
            rng = np.random.default_rng(self.seed_sequence(task, ckpt, settings))
            yield task, self.run_task(task, reader, backend, ckpt, settings, rng)

    def metadata(self, settings: Settings) -> dict:
        """Top-level keys describing the alignment and the null in both output files."""
        raise NotImplementedError


def _entry(raw: float, aligned: float, nulls: np.ndarray | None, bound: float | None) -> dict:
    e = {"cos": raw, "aligned_cos": aligned}
    if bound is not None:
        e["von_neumann_bound"] = bound
    if nulls is not None and len(nulls):
        e["aligned_null_mean"] = float(nulls.mean())
        if len(nulls) > 1:
            e["aligned_null_sd"] = float(nulls.std(ddof=1))
    return e


@dataclass(frozen=True)
class OrthogonalGauge(Gauge):
    """Full orthogonal Procrustes on the input (``side="cols"``) or output side, with the
    spectrum-matched null (``docs/measure.md``)."""

    name = "orthogonal"
    chains_per_worker: int = 3   # chains per worker: load balance vs. layers computed twice

    def tasks(self, ckpt: Checkpoint, settings: Settings) -> list[Task]:
        out = []
        for fam in ckpt.patterns:
            o, i = ckpt.shapes[fam]
            k = min(o, i)
            # flops of a pair, relative: the cross product (o i k) and, per null draw, the
            # draw's Gram (other k^2) plus the eigenvalue problems (k^3)
            other = o if settings.side == "cols" else i
            cost = o * i * k + settings.null_draws * (other * k * k + 3 * k ** 3)
            out += [Task(L, (fam,), float(cost)) for L in range(ckpt.pairs)]
        return out

    def chains(self, tasks: Sequence[Task], workers: int) -> list[tuple[Task, ...]]:
        """Runs of consecutive pairs of one family.  With one worker a family is one chain
        (each layer factored once); with several, runs are cut so that there are about
        ``chains_per_worker`` chains per worker of similar cost (a cut recomputes one layer)."""
        runs: list[list[Task]] = []
        for t in sorted(tasks, key=lambda t: (t.families, t.pair)):
            if runs and runs[-1][-1].families == t.families and runs[-1][-1].pair + 1 == t.pair:
                runs[-1].append(t)
            else:
                runs.append([t])
        if workers > 1:
            target = sum(t.cost for t in tasks) / (self.chains_per_worker * workers)
            cut = []
            for run in runs:
                cost = sum(t.cost for t in run)
                pieces = max(1, min(len(run), int(round(cost / target)) if target else 1))
                bounds = np.linspace(0, len(run), pieces + 1).round().astype(int)
                cut += [run[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            runs = cut
        runs.sort(key=lambda r: -sum(t.cost for t in r))
        return [tuple(r) for r in runs]

    def run(self, chain, reader, backend, ckpt, settings):
        axis = 1 if settings.side == "cols" else 0
        fam = chain[0].families[0]
        prev = None                                   # (layer, matrix, factor)
        for task in chain:
            L = task.pair
            if prev is not None and prev[0] == L:
                _, A, fa = prev
            else:
                A = backend.matrix(reader.matrix(ckpt.name(fam, L)))
                fa = backend.layer_factor(A, axis)
            B = backend.matrix(reader.matrix(ckpt.name(fam, L + 1)))
            fb = backend.layer_factor(B, axis)
            rng = np.random.default_rng(self.seed_sequence(task, ckpt, settings))
            yield task, {fam: self._pair(A, B, fa, fb, axis, backend, settings, rng)}
            prev = (L + 1, B, fb)
            del A

    @staticmethod
    def _pair(A, B, fa, fb, axis, backend, settings, rng) -> dict:
        norm = np.sqrt(fa.sq_norm) * np.sqrt(fb.sq_norm)
        raw = backend.inner(A, B) / norm
        aligned = backend.aligned_nuclear(A, B, fa, fb, axis) / norm
        other = A.shape[1 - axis]
        nulls = (backend.null_draws(fa.spectrum, fb.spectrum, other, settings.null_draws, rng)
                 if settings.null_draws else None)
        return _entry(raw, aligned, nulls, von_neumann_bound(fa.spectrum, fb.spectrum))

    def metadata(self, settings: Settings) -> dict:
        if settings.side == "cols":
            convention = ("R = scipy.linalg.orthogonal_procrustes(W_L, W_{L+1})[0]; aligned = "
                          "cos(W_L @ R, W_{L+1}) (input/column side rotated)")
        else:
            convention = ("R = scipy.linalg.orthogonal_procrustes(W_L.T, W_{L+1}.T)[0]; aligned "
                          "= cos(R.T @ W_L, W_{L+1}) (output/row side rotated)")
        return {"alignment_side": settings.side, "alignment": convention,
                "null": "spectrum-matched (Haar singular vectors on the non-aligned side)"}


GAUGES = {"orthogonal": OrthogonalGauge}
