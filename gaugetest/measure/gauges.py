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

``SymmetryGauge`` (``--gauge symmetry``) aligns under the transformer block's own symmetry group
(the ``symmetry`` package): two tasks per pair, the attention block (q, k, v, o) and the MLP block
(gate, up, down), with the residual-rotation null; a chain is a run of consecutive pairs of one
block, so each layer is read once per chain.

Adding a gauge is one more class and one line in ``GAUGES``; see ``docs/measure.md``
("Adding a gauge").

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

from ..errors import InputError, UsageError
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
    # symmetry gauge only (None otherwise): --heads "Q,KV", --rope-layout, --mlp-solver
    heads: str | None = None
    rope_layout: str | None = None
    mlp_solver: str | None = None


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


def nonzero_matrix(reader, ckpt: Checkpoint, f: str, layer: int) -> np.ndarray:
    """Family f of a layer as the reader returns it; an all-zero matrix is exit 2 (a cosine
    needs a nonzero matrix), whichever gauge reads it."""
    W = reader.matrix(ckpt.name(f, layer))
    if not np.any(W):
        raise InputError(ckpt.path, ckpt.name(f, layer), "a nonzero matrix (a cosine "
                         "needs one)", "all zeros")
    return W


def _entry(raw: float, aligned: float, nulls: np.ndarray | None, bound: float | None) -> dict:
    e = {"cos": raw, "aligned_cos": aligned}
    if bound is not None:
        e["von_neumann_bound"] = bound
    if nulls is not None and len(nulls):
        e["aligned_null_mean"] = float(nulls.mean())
        if len(nulls) > 1:
            e["aligned_null_sd"] = float(nulls.std(ddof=1))
    return e


#: The orthogonal gauge's null, as the files describe it (its sampler since gaugetest 0.3.0:
#: haar.py).  It also keys resumed runs, so partial results of the old sampler are not mixed in.
ORTHOGONAL_NULL = (
    "spectrum-matched (Haar singular vectors on the non-aligned side): per draw, the k x k block "
    "of a Haar frame that the nuclear norm needs, sampled exactly -- in O(k^3) with the "
    "complement's Gram matrix as a Bartlett-Wishart draw when the non-aligned side m is at least "
    "2k, from Householder reflectors when m = k, else from a full m x k Gaussian draw as in "
    "gaugetest 0.1-0.2 (0.3.0's samplers: the same distribution, other random numbers for m = k "
    "and m >= 2k); numpy random numbers from SeedSequence([seed, family index, L])")


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
        return {"alignment_side": settings.side, "alignment": convention, "null": ORTHOGONAL_NULL}


ATTENTION_BLOCK = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_BLOCK = ("gate_proj", "up_proj", "down_proj")
RESIDUAL_INPUT = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")   # (out, d)
MLP_SOLVER_CHOICES = ("auto", "dense", "sparse")
#: ``--mlp-solver auto`` solves the MLP assignment on the dense n x n float64 similarity up to
#: this size (n <= 4,096 neurons: SmolLM2, Qwen3-0.6B) and with the certified sparse solver
#: above it (Qwen3-1.7B's 6,144 and up), which streams the similarity in float32/bfloat16 and
#: finds the same optimum faster from there on (docs/gauges.md, "What it costs").
DENSE_MLP_MAX_BYTES = 128 << 20
#: Entropy word of the symmetry null's streams: SeedSequence([seed, SYMMETRY_NULL_STREAM, L,
#: draw]); differs in length and content from the orthogonal gauge's [seed, family, L].
SYMMETRY_NULL_STREAM = 0x5117


def resolve_mlp_solver(requested: str | None, n_neurons: int) -> str:
    """``auto`` -> ``dense`` or ``sparse`` by the size of the dense similarity (float64 n^2).

    Examples
    --------
    >>> resolve_mlp_solver("auto", 1536), resolve_mlp_solver("auto", 9728)
    ('dense', 'sparse')
    """
    requested = requested or "auto"
    if requested != "auto":
        return requested
    return "sparse" if 8 * n_neurons ** 2 > DENSE_MLP_MAX_BYTES else "dense"


def null_rng(settings: Settings, pair: int, draw: int) -> np.random.Generator:
    """The generator of draw ``draw`` of pair ``pair``'s residual rotation: the same for the
    attention and the MLP task of the pair, so both blocks see one rotation of layer L+1."""
    return np.random.default_rng(np.random.SeedSequence(
        [settings.seed, SYMMETRY_NULL_STREAM, pair, draw]))


@dataclass(frozen=True)
class SymmetryGauge(Gauge):
    """Alignment under the block's symmetry group (the ``symmetry`` package,
    ``docs/gauges.md``), with the residual-rotation null: layer L+1's residual side rotated by
    one Haar rotation per draw, shared by all its families, then the same alignment.

    ``prepare`` reads the head geometry (``architecture.read_architecture``: config.json or
    GGUF metadata, ``--heads``, ``--rope-layout``) and checks the families; the gauge object
    then carries it to every worker.
    """

    name = "symmetry"
    arch: object = None                 # architecture.Architecture, or None without attention
    mlp_solver: str | None = None       # resolved: "dense" | "sparse" | None without an MLP
    heads_from: str = ""                # where the head counts came from (for the metadata)
    chains_per_worker: int = 3

    # -- planning
    def prepare(self, reader, ckpt: Checkpoint, settings: Settings) -> "SymmetryGauge":
        from dataclasses import replace

        from .architecture import ROPE_LAYOUTS, parse_heads, read_architecture
        from .readers import Layout

        unknown = [f for f in ckpt.patterns if f not in ATTENTION_BLOCK + MLP_BLOCK]
        if unknown:
            raise InputError(ckpt.path, "families", "the standard families the symmetry gauge "
                             "knows (" + ", ".join(ATTENTION_BLOCK + MLP_BLOCK) + "; name "
                             "them so in --family-map)", ", ".join(unknown))
        if settings.rope_layout is not None and settings.rope_layout not in ROPE_LAYOUTS:
            raise UsageError("--rope-layout", " or ".join(ROPE_LAYOUTS), settings.rope_layout)
        if settings.mlp_solver is not None and settings.mlp_solver not in MLP_SOLVER_CHOICES:
            raise UsageError("--mlp-solver", " or ".join(MLP_SOLVER_CHOICES), settings.mlp_solver)
        heads = parse_heads(settings.heads) if settings.heads is not None else None
        shapes = ckpt.shapes
        width = {f: shapes[f][1] if f in RESIDUAL_INPUT else shapes[f][0] for f in shapes}
        first = next(iter(width))
        for f, w in width.items():
            if w != width[first]:
                raise InputError(ckpt.path, ckpt.name(f, 0), f"residual width {width[first]} "
                                 f"like {ckpt.name(first, 0)} (one residual stream per layer)",
                                 f"shape {list(shapes[f])}")
        mlp = [f for f in MLP_BLOCK if f in shapes]
        n = {f: shapes[f][1] if f == "down_proj" else shapes[f][0] for f in mlp}
        for f in mlp:
            if n[f] != n[mlp[0]]:
                raise InputError(ckpt.path, ckpt.name(f, 0), f"{n[mlp[0]]} MLP neurons like "
                                 f"{ckpt.name(mlp[0], 0)}", f"shape {list(shapes[f])}")
        arch = None
        if any(f in shapes for f in ATTENTION_BLOCK):
            arch = read_architecture(reader, Layout(dict(ckpt.patterns), ckpt.num_layers),
                                     heads=heads, rope_layout=settings.rope_layout)
        return replace(self, arch=arch,
                       mlp_solver=resolve_mlp_solver(settings.mlp_solver, n[mlp[0]]) if mlp
                       else None,
                       heads_from=self._heads_from(reader, arch, heads))

    @staticmethod
    def _heads_from(reader, arch, heads) -> str:
        if arch is None:
            return ""
        if heads is not None:
            return "--heads"
        return "GGUF metadata" if hasattr(reader, "metadata") else "config.json"

    def blocks(self, ckpt: Checkpoint) -> list[tuple]:
        """The families of each block present in the checkpoint (attention, then MLP)."""
        out = []
        for block in (ATTENTION_BLOCK, MLP_BLOCK):
            fams = tuple(f for f in block if f in ckpt.patterns)
            if fams:
                out.append(fams)
        return out

    def tasks(self, ckpt: Checkpoint, settings: Settings) -> list[Task]:
        # relative multiply-adds of one alignment (the cross products and the assignment) and
        # of a null draw's extra work (the Haar QR of the residual width d and rotating the
        # block's residual side); a measured 4B pair: attention 13 s, MLP 89 s, per draw + 37 s
        d = next(iter(ckpt.shapes.values()))
        d = d[1] if next(iter(ckpt.shapes)) in RESIDUAL_INPUT else d[0]
        out = []
        for fams in self.blocks(ckpt):
            if fams[0] in ATTENTION_BLOCK:
                rows = sum(ckpt.shapes[f][0 if f != "o_proj" else 1] for f in fams)
                align = d * sum(ckpt.shapes[f][0 if f != "o_proj" else 1] ** 2 for f in fams)
            else:
                f = fams[0]
                n = ckpt.shapes[f][1] if f == "down_proj" else ckpt.shapes[f][0]
                rows = n * len(fams)
                align = len(fams) * n * n * d + (n ** 3 / 50 if self.mlp_solver != "sparse"
                                                 else 0)
            # a sparse MLP draw streams its float32 rotated layer as two bfloat16 terms
            twice = 2 if fams[0] in MLP_BLOCK and self.mlp_solver == "sparse" else 1
            draw = twice * align + rows * d * d + 2 * d ** 3
            cost = align + settings.null_draws * draw
            out += [Task(L, fams, float(cost)) for L in range(ckpt.pairs)]
        return out

    # runs of consecutive pairs of one block: each layer read once per chain
    chains = OrthogonalGauge.chains

    # -- running
    def _load(self, reader, ckpt: Checkpoint, fams: tuple, layer: int):
        """A layer's matrices of one block as the reader stores them (float32 when exact:
        every reduction of the alignment accumulates in float64), and the q/k norm vectors
        of the attention block. With the sparse MLP solver the MLP block becomes neuron-major
        features in the checkpoint's precision (``symmetry.mlpblock``: bfloat16 for a bf16
        checkpoint), one matrix at a time, so a layer never exists twice in float32."""
        if fams[0] in MLP_BLOCK and self.mlp_solver == "sparse":
            from .symmetry.mlpblock import mlp_features
            feats = None
            for f in fams:
                W = nonzero_matrix(reader, ckpt, f, layer)
                one = mlp_features({f: W}, compact_storage=True)
                del W
                feats = one if feats is None else type(one)(
                    feats.families + one.families, feats.x + one.x, feats.norms + one.norms)
            return feats
        out = {f: nonzero_matrix(reader, ckpt, f, layer) for f in fams}
        if self.arch is not None and fams[0] in ATTENTION_BLOCK:
            for key, pattern in self.arch.norm_patterns.items():
                out[key] = np.asarray(reader.tensor(pattern.format(i=layer)),
                                      np.float64).reshape(-1)
        return out

    def run(self, chain, reader, backend, ckpt, settings):
        ops = backend.symmetry_ops()
        prev = None                                   # (layer, matrices)
        for task in chain:
            L, fams = task.pair, task.families
            A = prev[1] if prev is not None and prev[0] == L else \
                self._load(reader, ckpt, fams, L)
            prev = None
            B = self._load(reader, ckpt, fams, L + 1)
            if isinstance(A, dict):
                result = self._pair(task, A, B, ops, settings)
                del A
            else:          # MLP features (sparse solver): layer L is read afresh per null draw
                holder = [A]
                del A
                result = self._mlp_pair(task, holder, B, ops, settings,
                                        lambda f: nonzero_matrix(reader, ckpt, f, L))
            yield task, result
            prev = (L + 1, B)

    def _pair(self, task: Task, A, B, ops, settings: Settings) -> dict:
        from .symmetry import align_pair, null_draw

        kw = {"mlp_solver": self.mlp_solver or "dense", "ops": ops}
        res = align_pair(A, B, self.arch, **kw)
        nulls = {f: np.empty(settings.null_draws) for f in task.families}
        for d in range(settings.null_draws):
            cos = null_draw(A, B, self.arch, null_rng(settings, task.pair, d), **kw)
            for f in task.families:
                nulls[f][d] = cos[f]
        return {f: _entry(res.raw[f], res.cosines[f],
                          nulls[f] if settings.null_draws else None, None)
                for f in task.families}

    @staticmethod
    def _mlp_pair(task: Task, holder: list, B, ops, settings: Settings, reload) -> dict:
        """The MLP block with the certified sparse solver; each family entry records the
        assignment's certificate (``mlp_assignment``) and its null draws' (``null_...``).
        ``holder`` holds layer L's features and is emptied so that they are freed after the
        alignment: the null draws rotate layer L read afresh (``reload``), one matrix at a
        time (``mlpblock.rotated_features_from``), which keeps a 32B MLP task within 3 GiB."""
        from .symmetry.mlpblock import align_mlp_with_null, certificate_summary

        res, nulls, null_cert = align_mlp_with_null(
            holder.pop(), B, settings.null_draws, lambda d: null_rng(settings, task.pair, d),
            ops=ops, reload=reload)
        cert = certificate_summary(res.certificate)
        if settings.null_draws:
            cert.update(null_certified=null_cert["certified"],
                        null_gap_bound=null_cert["gap_bound"], null_priced=null_cert["priced"])
        out = {}
        for f in task.families:
            e = _entry(res.raw[f], res.cosines[f], nulls[f] if settings.null_draws else None,
                       None)
            e["mlp_assignment"] = cert
            out[f] = e
        return out

    def metadata(self, settings: Settings) -> dict:
        a = self.arch
        arch = None if a is None else {
            "n_heads": a.n_heads, "n_kv_heads": a.n_kv_heads, "head_dim": a.head_dim,
            "heads_from": self.heads_from, "rope_layout": a.rope_layout,
            "rope_layout_from": "--rope-layout" if settings.rope_layout else "the file",
            "qk_norms": sorted(a.norm_patterns)}
        return {
            "alignment_side": None,
            "alignment": (
                "symmetry group of the transformer block, one element per pair and block "
                "maximising the block's summed family cosine: attention (q, k, v, o) = KV-group "
                "permutation, query-head permutations within groups, per KV group an orthogonal "
                "M on the v rows and o columns and a 2x2 rotation of every free RoPE pair of the "
                "q and k rows; MLP (gate, up, down) = one neuron permutation of gate/up rows and "
                "down columns; aligned = cos(g(W_L), W_{L+1}) (docs/gauges.md)"),
            "null": (
                "residual-rotation null: layer L+1's residual side rotated by one Haar rotation "
                "H per draw shared by all its families (W H on the inputs of q/k/v/gate/up, "
                "H^T W on the outputs of o/down; H from SeedSequence([seed, "
                f"{SYMMETRY_NULL_STREAM}, L, draw])), then the same alignment"
                + ("; the sparse MLP solver rotates layer L by H^T instead (the same cosines: "
                   "cos(g(W_L), W_{L+1} H) = cos(g(W_L) H^T, W_{L+1})), stored in the "
                   "checkpoint's precision (bfloat16 for a bf16 checkpoint)"
                   if self.mlp_solver == "sparse" else "")),
            "null_name": "residual-rotation null",
            "architecture": arch,
            "mlp_solver": None if self.mlp_solver is None else {
                "requested": settings.mlp_solver or "auto", "used": self.mlp_solver,
                "auto_rule": f"sparse when the dense n x n float64 similarity exceeds "
                             f"{DENSE_MLP_MAX_BYTES >> 20} MiB (n > 4096)",
                "sparse": "exact optimum certified by LP duality: candidates from a float32 or "
                          "bfloat16 stream with rigorous rounding bounds, exact values where "
                          "used, each family entry's mlp_assignment records the certificate"
                          if self.mlp_solver == "sparse" else None},
        }


GAUGES = {"orthogonal": OrthogonalGauge, "symmetry": SymmetryGauge}
