"""``gaugetest measure``: the two sweep files from a checkpoint, with a null."""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import UsageError
from .common import EXIT_INTERRUPTED, EXIT_OK, at_least


def add_parser(sub) -> None:
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
                         "similarity (scipy) or the certified sparse solver (the same optimum, "
                         "streamed in float32/bfloat16 with an LP-duality certificate in the "
                         "files); auto (default) = sparse above 4096 neurons")
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


def run(args: argparse.Namespace) -> int:
    import json

    from ..measure.backends import check_backend
    from ..measure.journal import Journal
    from ..measure.progress import TaskProgress
    from ..measure.sweep import measure_checkpoint
    from ..render.files import write_text

    at_least("--null-draws", args.null_draws, 0)
    at_least("--jobs", args.jobs, 1)
    at_least("--seed", args.seed, 0)
    at_least("--max-layers", args.max_layers, 2)
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
