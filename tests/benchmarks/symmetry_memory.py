"""Peak memory of one Qwen3-32B-shaped MLP task under the symmetry gauge, through the command.

    OPENBLAS_NUM_THREADS=1 nice -n 10 python tests/benchmarks/symmetry_memory.py \
        [--backends torch,numpy] [--null-draws 1] [--shape 32b]

Writes two layers' gate/up/down (25600 x 5120 and 5120 x 25600 at 32B, Gaussian weights in
bfloat16, as Qwen3-32B's checkpoint stores them; 1.6 GB) to a temporary safetensors file with a
family map naming only the MLP families, runs

    gaugetest measure DIR -o out --gauge symmetry --family-map fam.toml --null-draws K --backend B

in a child process (``--mlp-solver auto``: the certified sparse solver), and reports its peak
RSS (``getrusage`` of the child) and wall time. Issue 19's target: <= 3 GiB per worker; 0.2.0
measured 7.9 GiB with one null draw (docs/gauges.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHAPES = {"4b": (2560, 9728), "8b": (4096, 12288), "32b": (5120, 25600)}
MLP = ("gate_proj", "up_proj", "down_proj")


def write_checkpoint(d: str, shape: str, seed: int = 1) -> tuple[str, str]:
    import ml_dtypes
    from safetensors.numpy import save_file
    hidden, ff = SHAPES[shape]
    rng = np.random.default_rng(seed)
    tensors = {}
    for L in (0, 1):
        for f, s in (("gate_proj", (ff, hidden)), ("up_proj", (ff, hidden)),
                     ("down_proj", (hidden, ff))):
            x = np.empty(s, ml_dtypes.bfloat16)
            for i in range(0, s[0], 1024):        # in blocks: no float32 copy of a matrix
                blk = rng.standard_normal((min(1024, s[0] - i), s[1]), dtype=np.float32)
                x[i:i + 1024] = (blk * 0.02).astype(ml_dtypes.bfloat16)
            tensors[f"model.layers.{L}.mlp.{f}.weight"] = x
    ckpt = os.path.join(d, "mlp")
    os.makedirs(ckpt)
    save_file(tensors, os.path.join(ckpt, "model.safetensors"))
    fam = os.path.join(d, "fam.toml")
    with open(fam, "w") as fh:
        fh.write("[families]\n" + "".join(f'{f} = "model.layers.{{i}}.mlp.{f}.weight"\n'
                                          for f in MLP))
    return ckpt, fam


def peak_rss_gib(cmd: list, env: dict) -> tuple[float, float]:
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True,
                         text=True, env=env).stdout
    return int(out.strip()) / 2**20, time.perf_counter() - t


def bench_memory(shape: str, backends: list, draws: int, report=None) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        ckpt, fam = write_checkpoint(d, shape)
        size = os.path.getsize(os.path.join(ckpt, "model.safetensors")) / 2**30
        print(f"\n== one {shape.upper()} MLP task, symmetry gauge, {draws} null draw(s): two "
              f"bf16 layers, {size:.2f} GiB on disk", flush=True)
        for backend in backends:
            out = os.path.join(d, f"out-{backend}")
            cmd = [sys.executable, "-m", "gaugetest", "measure", ckpt, "-o", out, "--gauge",
                   "symmetry", "--family-map", fam, "--null-draws", str(draws), "--backend",
                   backend, "--fresh"]
            rss, t = peak_rss_gib(cmd, env)
            with open(out + "-null.json") as fh:
                e = json.load(fh)["pair_results"][0]["families"]
            cert = e["gate_proj"].get("mlp_assignment", {})
            print(f"  --backend {backend}: peak RSS {rss:.2f} GiB, {t:.0f} s wall; aligned "
                  + ", ".join(f"{f} {e[f]['aligned_cos']:.4f}" for f in MLP) + "; null "
                  + ", ".join(f"{e[f].get('aligned_null_mean', float('nan')):.4f}" for f in MLP)
                  + f"; certified {cert.get('certified')} (null {cert.get('null_certified')}), "
                  f"{cert.get('product')} stream", flush=True)
            rows[backend] = {"peak_gib": rss, "seconds": t}
            if report is not None:
                report(f"peak RSS, one {shape} MLP task, symmetry gauge, --backend {backend}",
                       f"{rss:.2f}", "<= 3 GiB", rss <= 3, f" GiB, {t:.0f} s with {draws} draw(s)")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="32b", choices=sorted(SHAPES))
    ap.add_argument("--backends", default="torch,numpy")
    ap.add_argument("--null-draws", type=int, default=1)
    a = ap.parse_args(argv)
    bench_memory(a.shape, a.backends.split(","), a.null_draws)


if __name__ == "__main__":
    main()
