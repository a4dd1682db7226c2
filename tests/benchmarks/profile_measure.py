"""Profile ``gaugetest measure`` with py-spy on a synthetic Qwen3-4B-shaped checkpoint.

    pip install py-spy
    python tests/benchmarks/profile_measure.py [--layers 3] [--backend numpy]

Writes a bf16 safetensors checkpoint of LAYERS layers x 7 families at Qwen3-4B shapes to a
temporary directory (about 190 MB a layer; deleted afterwards), records a single-process run
(8 null draws) with ``py-spy record --format raw`` and prints the share of samples by the
innermost gaugetest/numpy/scipy/torch function and by kernel step.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

STEPS = [  # (label, substring of a frame) checked innermost-first: the first match names a sample
    ("null: random numbers (numpy RNG)", "standard_normal"),
    ("null: random numbers (numpy RNG)", "chisquare"),
    ("null: Householder reflectors", "householder_reflectors"),
    ("null: Bartlett root", "bartlett_root"),
    ("null: Haar block (lauum/syrk/potrf/trsm or orgqr)", "haar_block_from"),
    ("eigenvalues (LAPACK syevd / two-stage)", "eigvalsh"),
    ("Gram / cross products", "contract"),
    ("Cholesky root / QR", "layer_factor"),
    ("nuclear norm (Gram of M)", "nuclear"),
    ("null draws (other)", "null_draws"),
    ("reading + bf16 conversion", "matrix"),
    ("norms, inner products", "inner"),
    ("norms, inner products", "sq_norm"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--model", default="qwen3-4b")
    args = ap.parse_args()
    from safetensors.numpy import save_file
    import ml_dtypes
    from gaugetest.measure.readers import HF_PATTERNS
    from gaugetest.shapes import preset_shapes
    from measure_scale import synthetic_layer

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        ck = os.path.join(d, "ckpt")
        os.makedirs(ck)
        for L in range(args.layers):   # one shard per layer keeps memory low while writing
            save_file({HF_PATTERNS[f].format(i=L): synthetic_layer(s, rng).astype(ml_dtypes.bfloat16)
                       for f, s in preset_shapes(args.model).items()},
                      os.path.join(ck, f"model-{L:05d}.safetensors"))
        raw = os.path.join(d, "profile.txt")
        env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run(["py-spy", "record", "--format", "raw", "--rate", "20", "-o", raw, "--",
                        sys.executable, "-m", "gaugetest", "measure", ck, "-o",
                        os.path.join(d, "out"), "--null-draws", "8", "--backend", args.backend],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        by_fn, by_step, total = collections.Counter(), collections.Counter(), 0
        for line in open(raw):
            stack, _, n = line.rstrip().rpartition(" ")
            n = int(n)
            total += n
            frames = stack.split(";")
            inner = next((f for f in reversed(frames) if "gaugetest" in f or "numpy" in f
                          or "scipy" in f or "torch" in f), frames[-1])
            by_fn[inner.split(" (")[0]] += n
            step = next((label for f in reversed(frames) for label, key in STEPS
                         if key in f.split(" (")[0]), "other (imports, start-up, writing)")
            by_step[step] += n
    print(f"py-spy, {args.model} shapes, {args.layers} layers ({args.layers - 1} pairs x 7 "
          f"families), 8 null draws, --backend {args.backend}, one process: {total} samples")
    print("by step:")
    for k, v in by_step.most_common():
        print(f"  {100 * v / total:5.1f}%  {k}")
    print("by innermost function:")
    for k, v in by_fn.most_common(12):
        print(f"  {100 * v / total:5.1f}%  {k}")


if __name__ == "__main__":
    main()
