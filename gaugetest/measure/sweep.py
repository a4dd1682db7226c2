"""A ``gaugetest measure`` run: plan the tasks of a gauge, run them, write the two documents.

1. open the checkpoint, match tensor names to families, check every measured layer's shape
   (all input errors happen here, before any work or file);
2. the gauge lists its tasks (``gauges``); tasks already saved in ``PREFIX.partial/`` by an
   interrupted run with the same settings and checkpoint are taken from there (``journal``);
3. the rest run in this process, in ``--jobs`` worker processes or on a Dask cluster
   (``runners``), each result journaled as it arrives;
4. the documents are assembled from the per-task results in a fixed order, so they are
   byte-identical whatever ran them and in whatever order.

Examples
--------
>>> import numpy as np, os, tempfile
>>> from safetensors.numpy import save_file
>>> d = tempfile.mkdtemp(); rng = np.random.default_rng(0)
>>> save_file({f"model.layers.{i}.mlp.up_proj.weight": rng.standard_normal((6, 4)).astype(np.float32)
...            for i in range(3)}, os.path.join(d, "m.safetensors"))
>>> null_doc, aligned_doc = measure_checkpoint(os.path.join(d, "m.safetensors"), null_draws=2)
>>> null_doc["gauge"], null_doc["pairs_measured"], sorted(aligned_doc["aligned_cos"]["up_proj"])
('orthogonal', 2, ['0', '1'])
"""
from __future__ import annotations

import os

from .._version import __version__
from ..errors import InputError, UsageError
from .backends import check_backend
from .gauges import GAUGES, Checkpoint, Settings
from .journal import Journal, checkpoint_identity, file_sha256
from .readers import detect_layout, load_family_map, open_checkpoint
from .runners import Job, connect, dask_workers, run_dask, run_processes, run_serial


def inspect_checkpoint(path: str, family_map: str | None = None,
                       max_layers: int | None = None):
    """(reader, Checkpoint) with every measured layer's shape checked."""
    reader = open_checkpoint(path)
    layout = detect_layout(reader, load_family_map(family_map) if family_map else None)
    n = layout.num_layers if max_layers is None else min(layout.num_layers, max_layers)
    shapes = {}
    for fam in layout.patterns:
        first = tuple(reader.shape(layout.name(fam, 0)))
        if len(first) != 2:
            raise InputError(path, layout.name(fam, 0), "a 2-D weight matrix", f"shape {list(first)}")
        for L in range(1, n):
            s = tuple(reader.shape(layout.name(fam, L)))
            if s != first:
                raise InputError(path, layout.name(fam, L), f"shape {list(first)} like layer 0",
                                 f"{list(s)}")
        shapes[fam] = first
    ckpt = Checkpoint(path, reader.model_name, dict(layout.patterns), layout.num_layers, n,
                      shapes)
    return reader, ckpt


def count_pairs(path: str, family_map: str | None = None, max_layers: int | None = None) -> int:
    """Number of (family, pair) tasks of an orthogonal-gauge run."""
    _, ckpt = inspect_checkpoint(path, family_map, max_layers)
    return len(ckpt.patterns) * ckpt.pairs


def measure_checkpoint(path: str, *, side: str | None = None, null_draws: int = 8,
                       seed: int = 0, jobs: int = 1, family_map: str | None = None,
                       progress=None, max_layers: int | None = None, gauge: str = "orthogonal",
                       backend: str = "numpy", device: str = "cpu",
                       scheduler: str | None = None, partial: str | None = None,
                       fresh: bool = False, heads: str | None = None,
                       rope_layout: str | None = None, mlp_solver: str | None = None):
    """Measure every adjacent pair and family; returns (null_doc, aligned_doc).

    Parameters
    ----------
    path : str
        Checkpoint: a .safetensors file, a directory of them, or a .gguf file.
    side, null_draws, seed, family_map, max_layers
        As the CLI options of ``gaugetest measure`` (``side``: orthogonal gauge only; default
        ``"cols"``).
    jobs : int
        Local worker processes (ignored with ``scheduler``).
    progress : TaskProgress, optional
        Receives ``start``, ``advance(cost)`` and ``close``.
    gauge : str
        A key of ``gauges.GAUGES``.
    backend, device : str
        ``numpy`` (reference) or ``torch`` with ``cpu`` or ``cuda``.
    scheduler : str, optional
        Address of a Dask scheduler to run the tasks on.
    partial : str, optional
        Directory where each finished task is saved (resume); ``None`` keeps results in memory.
    fresh : bool
        Discard the results saved in ``partial`` first.
    heads, rope_layout, mlp_solver : str, optional
        Symmetry gauge only: ``"Q,KV"`` head counts overriding the file's, the RoPE pair
        layout (``"half"``/``"interleaved"``) when the file cannot tell, and the MLP
        assignment (``"auto"``, ``"dense"``, ``"sparse"``; default auto).
    """
    if gauge not in GAUGES:
        raise UsageError("--gauge", " or ".join(GAUGES), gauge)
    if gauge == "symmetry":
        if side is not None:
            raise UsageError("--side", "no --side with --gauge symmetry (its group acts on "
                             "heads and neurons, on both sides of the matrices)", side)
    else:
        side = "cols" if side is None else side
        if side not in ("cols", "rows"):
            raise UsageError("--side", "cols or rows", side)
        for option, value in (("--heads", heads), ("--rope-layout", rope_layout),
                              ("--mlp-solver", mlp_solver)):
            if value is not None:
                raise UsageError(option, f"no {option} with --gauge {gauge} (an option of "
                                 "--gauge symmetry)", value)
    if heads is not None:
        from .architecture import parse_heads
        heads = "%d,%d" % parse_heads(heads)
    spec = check_backend(backend, device)
    reader, ckpt = inspect_checkpoint(path, family_map, max_layers)
    settings = Settings(gauge=gauge, side=side, null_draws=null_draws, seed=seed,
                        backend=spec.name, device=spec.device, max_layers=max_layers,
                        family_map=file_sha256(family_map) if family_map else None,
                        heads=heads, rope_layout=rope_layout, mlp_solver=mlp_solver)
    g = GAUGES[gauge]().prepare(reader, ckpt, settings)
    tasks = g.tasks(ckpt, settings)
    identity = checkpoint_identity(getattr(reader, "files", [path]))
    journal = None
    results: dict[str, dict] = {}
    if partial:
        # the null's description keys the run too: a new sampler must not be mixed with
        # results saved by an older one
        journal = Journal(partial, {**settings.__dict__, "checkpoint": identity,
                                    "null": g.metadata(settings)["null"]})
        saved = journal.open(fresh)
        results = {t.key: saved[t.key] for t in tasks if t.key in saved}
    remaining = [t for t in tasks if t.key not in results]
    client = connect(scheduler) if scheduler and remaining else None
    workers = dask_workers(client) if client else jobs
    chains = g.chains(remaining, workers)
    job = Job(ckpt, g, settings, spec)

    def on_result(task, result):
        if journal is not None:
            journal.save(task.key, result)
        results[task.key] = result
        if progress is not None:
            progress.advance(task.cost)

    if progress is not None:
        progress.start(total=len(tasks), done=len(tasks) - len(remaining),
                       total_cost=sum(t.cost for t in tasks),
                       done_cost=sum(t.cost for t in tasks if t.key in results))
    finished = False
    try:
        if client is not None:
            run_dask(job, chains, client, on_result)
        elif jobs > 1 and len(chains) > 1:
            run_processes(job, chains, jobs, on_result)
        else:
            run_serial(job, chains, on_result)
        finished = True
    except InputError:
        # a damaged checkpoint found while reading it (a non-finite weight, a zero matrix):
        # refused, so nothing of the run stays behind, not even its partial results
        if journal is not None:
            journal.remove()
        raise
    finally:
        if progress is not None:
            progress.close(finished)
        if client is not None:
            client.close()
    return documents(ckpt, g, settings, spec, tasks, results, identity)


def _versions(spec) -> dict:
    import numpy
    import scipy

    v = {"numpy": numpy.__version__, "scipy": scipy.__version__}
    if spec.name == "torch":
        import torch
        v["torch"] = torch.__version__
    return v


def documents(ckpt: Checkpoint, gauge, settings: Settings, spec, tasks, results, identity):
    """The two sweep documents, assembled in a fixed order from the per-task results."""
    desc = gauge.metadata(settings)
    meta = {"model": ckpt.model_name, "num_layers": ckpt.num_layers,
            "source": os.path.basename(os.path.normpath(ckpt.path)),
            "generator": f"gaugetest measure {__version__}",
            "alignment_side": desc.pop("alignment_side", settings.side),
            "alignment": desc.pop("alignment"), "null": desc.pop("null"),
            "null_draws": settings.null_draws, "seed": settings.seed,
            "shapes": {f: list(s) for f, s in ckpt.shapes.items()},
            "pairs_measured": ckpt.pairs, "gauge": gauge.name, **desc,
            "backend": spec.label,
            "versions": _versions(spec),
            "checkpoint_files": [{k: v for k, v in f.items() if k != "mtime_ns"}
                                 for f in identity]}
    by: dict[tuple[str, int], dict] = {}
    for t in tasks:
        for fam, entry in results[t.key].items():
            by[(fam, t.pair)] = entry
    fams = [f for f in ckpt.patterns if any((f, L) in by for L in range(ckpt.pairs))]
    pairs = [{"L": L, "L_next": L + 1, "families": {f: by[(f, L)] for f in fams}}
             for L in range(ckpt.pairs)]
    null_doc = {**meta, "pair_results": pairs}
    aligned_doc = {**meta, "aligned_cos": {f: {str(L): by[(f, L)]["aligned_cos"]
                                               for L in range(ckpt.pairs)} for f in fams}}
    if settings.null_draws:
        aligned_doc["aligned_null"] = {
            f: {str(L): {"mean": by[(f, L)].get("aligned_null_mean"),
                         "sd": by[(f, L)].get("aligned_null_sd")} for L in range(ckpt.pairs)}
            for f in fams}
    return null_doc, aligned_doc
