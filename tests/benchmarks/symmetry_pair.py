"""Symmetry gauge, one adjacent pair with its null draws: this version against 0.2.0, one run.

    OPENBLAS_NUM_THREADS=1 nice -n 10 python tests/benchmarks/symmetry_pair.py \
        --shapes 1.7b,4b --null-draws 2                    # CPU: both backends, with 0.2.0
    python tests/benchmarks/symmetry_pair.py --shapes 4b,32b --device cuda --no-020

Per shape, two *unrelated* synthetic layers of the model's shapes (Gaussian weights rounded to
bfloat16, as a bf16 checkpoint stores them: the assignment's hard case) go through what
``gaugetest measure --gauge symmetry`` runs per pair -- the attention task and the MLP task,
each an alignment plus ``--null-draws`` residual-rotation draws seeded as the gauge seeds them --
with

* 0.2.0's code (``symmetry_020.py``, a frozen copy): ``--backend numpy`` = float64 products,
  ``--backend torch`` on the CPU = float32 products; MLP solver as 0.2.0's ``auto`` (dense
  scipy assignment up to n = 16,384);
* this version's code through the same backend (``auto`` MLP solver: certified sparse above
  n = 4,096, features stored in bfloat16, float32/bfloat16 stream).

It prints each task's seconds, the ratio 0.2.0 / now (interleaved: 0.2.0 then now, per
backend), the largest difference of an aligned cosine (the same optimum: ~1e-15) and of a null
mean (the same rotations; the rotated layer is stored in bfloat16 now), next to the null's sd;
and the whole-model estimate: per-pair seconds x (layers - 1) / 2 workers (``--jobs 2``).
``--device cuda`` runs this version on the GPU (0.2.0 is not run there: ``--no-020``).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from gaugetest.measure.architecture import Architecture  # noqa: E402
from gaugetest.measure.gauges import SYMMETRY_NULL_STREAM, resolve_mlp_solver  # noqa: E402

SHAPES = {  # Qwen3 config.json: hidden, q heads, KV heads, head_dim, intermediate, layers
    "0.6b": (1024, 16, 8, 128, 3072, 28),
    "1.7b": (2048, 16, 8, 128, 6144, 28),
    "4b": (2560, 32, 8, 128, 9728, 36),
    "8b": (4096, 32, 8, 128, 12288, 36),
    "32b": (5120, 64, 8, 128, 25600, 64),
}
ATT = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 values exactly representable in bfloat16 (round to nearest even)."""
    import ml_dtypes
    return x.astype(ml_dtypes.bfloat16).astype(np.float32)


def synthetic_layer(name: str, rng) -> dict:
    hidden, nh, nkv, hd, ff, _ = SHAPES[name]
    shapes = {"q_proj": (nh * hd, hidden), "k_proj": (nkv * hd, hidden),
              "v_proj": (nkv * hd, hidden), "o_proj": (hidden, nh * hd),
              "gate_proj": (ff, hidden), "up_proj": (ff, hidden), "down_proj": (hidden, ff)}
    return {f: bf16_round(rng.standard_normal(s, dtype=np.float32) * 0.02)
            for f, s in shapes.items()}


def synthetic_lean(name: str, rng):
    """The same layer with its MLP built directly as bfloat16 neuron features (no float32 MLP
    matrices: 32B shapes without 0.2.0 fit in a few GiB)."""
    import ml_dtypes
    from gaugetest.measure.symmetry.mlpblock import MlpFeatures
    hidden, nh, nkv, hd, ff, _ = SHAPES[name]
    att = {f: bf16_round(rng.standard_normal(s, dtype=np.float32) * 0.02) for f, s in (
        ("q_proj", (nh * hd, hidden)), ("k_proj", (nkv * hd, hidden)),
        ("v_proj", (nkv * hd, hidden)), ("o_proj", (hidden, nh * hd)))}
    xs, norms = [], []
    for _ in MLP:                     # gate rows, up rows, down columns: (ff, hidden) each
        x = np.empty((ff, hidden), ml_dtypes.bfloat16)
        sq = 0.0
        for i in range(0, ff, 2048):
            blk = (rng.standard_normal((min(2048, ff - i), hidden), dtype=np.float32) * 0.02)
            x[i:i + 2048] = blk.astype(ml_dtypes.bfloat16)
            sq += float(np.square(x[i:i + 2048].astype(np.float64)).sum())
        xs.append(x)
        norms.append(np.sqrt(sq))
    return att, MlpFeatures(MLP, tuple(xs), tuple(norms))


def null_rng(draw: int):
    return np.random.default_rng(np.random.SeedSequence([0, SYMMETRY_NULL_STREAM, 0, draw]))


def run_020(A, B, arch, draws, backend):
    """0.2.0's two tasks of a pair (frozen code), as its gauge ran them."""
    import symmetry_020 as old
    ops = old.NumpyOps() if backend == "numpy" else old.NumpyOps(np.float32)
    n = A["gate_proj"].shape[0]
    solver = "sparse" if 8 * n * n > (2 << 30) else "dense"      # 0.2.0's auto rule
    out = {"t": {}, "aligned": {}, "null": {}}
    for block, fams in (("attention", ATT), ("mlp", MLP)):
        a, b = {f: A[f] for f in fams}, {f: B[f] for f in fams}
        t = time.perf_counter()
        res = old.align_pair(a, b, arch, mlp_solver=solver, ops=ops)
        nulls = [old.null_draw(a, b, arch, null_rng(d), mlp_solver=solver, ops=ops)
                 for d in range(draws)]
        out["t"][block] = time.perf_counter() - t
        out["aligned"].update(res.cosines)
        out["null"].update({f: np.array([c[f] for c in nulls]) for f in fams})
    return out


def new_ops(backend: str, device: str):
    from gaugetest.measure.backends import NumpyBackend, TorchBackend
    return NumpyBackend().symmetry_ops() if backend == "numpy" else \
        TorchBackend(device).symmetry_ops()


def run_now(A, B, arch, draws, backend, device="cpu", mlp_a=None, mlp_b=None):
    """This version's two tasks of a pair, as ``SymmetryGauge`` runs them (``mlp_a``/``mlp_b``:
    MLP features already built, for 32B shapes without float32 copies)."""
    from gaugetest.measure.symmetry import align_pair, null_draw
    from gaugetest.measure.symmetry.mlpblock import align_mlp_with_null, mlp_features
    ops = new_ops(backend, device)
    out = {"t": {}, "aligned": {}, "null": {}, "certificate": None}
    a, b = {f: A[f] for f in ATT}, {f: B[f] for f in ATT}
    t = time.perf_counter()
    res = align_pair(a, b, arch, ops=ops)
    nulls = [null_draw(a, b, arch, null_rng(d), ops=ops) for d in range(draws)]
    out["t"]["attention"] = time.perf_counter() - t
    out["aligned"].update(res.cosines)
    out["null"].update({f: np.array([c[f] for c in nulls]) for f in ATT})
    n = (mlp_a.n if mlp_a is not None else A["gate_proj"].shape[0])
    solver = resolve_mlp_solver("auto", n)
    t = time.perf_counter()
    if solver == "sparse":
        fa = mlp_a if mlp_a is not None else mlp_features({f: A[f] for f in MLP},
                                                          compact_storage=True)
        fb = mlp_b if mlp_b is not None else mlp_features({f: B[f] for f in MLP},
                                                          compact_storage=True)
        res, null, cert = align_mlp_with_null(fa, fb, draws, null_rng, ops=ops)
        out["aligned"].update(res.cosines)
        out["null"].update(null)
        out["certificate"] = (res.certificate, cert)
    else:
        a, b = {f: A[f] for f in MLP}, {f: B[f] for f in MLP}
        res = align_pair(a, b, arch, ops=ops)
        nulls = [null_draw(a, b, arch, null_rng(d), ops=ops) for d in range(draws)]
        out["aligned"].update(res.cosines)
        out["null"].update({f: np.array([c[f] for c in nulls]) for f in MLP})
    out["t"]["mlp"] = time.perf_counter() - t
    return out


def estimate_hours(seconds_per_pair: float, name: str, jobs: int = 2) -> float:
    return seconds_per_pair * (SHAPES[name][5] - 1) / jobs / 3600


def _line(label, r, name):
    t = sum(r["t"].values())
    return (f"  {label:14s} attention {r['t']['attention']:6.1f} s + MLP {r['t']['mlp']:6.1f} s "
            f"= {t:6.1f} s per pair -> whole model {estimate_hours(t, name):5.2f} h (--jobs 2)")


def bench_pair(name: str, draws: int, backends: list, device: str, with_020: bool,
               report=None) -> dict:
    """Every variant once, interleaved (0.2.0 numpy, now torch, 0.2.0 torch, now numpy), so that
    the machine's drifting load hits all alike; ratios of each 0.2.0 backend to each new one."""
    hidden, nh, nkv, hd, ff, layers = SHAPES[name]
    arch = Architecture(nh, nkv, hd, "half")
    rng = np.random.default_rng(7)
    print(f"\n== Qwen3-{name.upper()} pair: hidden {hidden}, {nh}/{nkv} heads of {hd}, {ff} "
          f"neurons, {draws} null draws, weights bfloat16-exact ({device})", flush=True)
    if with_020:
        A, B = synthetic_layer(name, rng), synthetic_layer(name, rng)
        fa = fb = None
    else:
        (A, fa), (B, fb) = synthetic_lean(name, rng), synthetic_lean(name, rng)
    old, now = {}, {}
    order = []
    for backend in backends:
        if with_020:
            order.append(("0.2.0", backend))
        order.append(("now", backend))
    if len(backends) == 2 and with_020:        # 0.2.0 numpy, now torch, 0.2.0 torch, now numpy
        order = [("0.2.0", "numpy"), ("now", "torch"), ("0.2.0", "torch"), ("now", "numpy")]
    for version, backend in order:
        if version == "0.2.0":
            old[backend] = run_020(A, B, arch, draws, backend)
            print(_line(f"0.2.0 {backend}", old[backend], name), flush=True)
        else:
            now[backend] = run_now(A, B, arch, draws, backend, device, fa, fb)
            print(_line(f"now {backend}", now[backend], name)
                  + f"; peak RSS so far {peak_gib():.1f} GiB", flush=True)
            if now[backend]["certificate"] is not None:
                c, nc = now[backend]["certificate"]
                print(f"      MLP certificate: certified {c['certified']} (gap bound "
                      f"{c['gap_bound']:.1e}), {c['product']} stream {c['t_stream']:.1f} s + "
                      f"certify {c['t_total']:.1f} s (match {c['t_match']:.1f}, price "
                      f"{c['t_price']:.1f}, duals {c['t_duals']:.1f}); candidates "
                      f"{c['candidate_edges']}, exact {c['exact_edges']}, priced {c['priced']}, "
                      f"rounds {c['rounds']}; null draws certified {nc['certified']}", flush=True)
    rows = {}
    for b_now, r_now in now.items():
        t_now = sum(r_now["t"].values())
        rows[b_now] = {"now_s": t_now, "now_h": estimate_hours(t_now, name)}
        for b_old, r_old in old.items():
            t_old = sum(r_old["t"].values())
            d_al = max(abs(r_now["aligned"][f] - r_old["aligned"][f]) for f in r_old["aligned"])
            d_null = max(abs(r_now["null"][f].mean() - r_old["null"][f].mean())
                         for f in r_old["null"])
            sd = min(r_old["null"][f].std(ddof=1) for f in r_old["null"]) if draws > 1 \
                else float("nan")
            print(f"  0.2.0 {b_old} / now {b_now} = {t_old / t_now:.2f}x; max |aligned diff| "
                  f"{d_al:.1e}, max |null mean diff| {d_null:.1e} (smallest null sd {sd:.1e})",
                  flush=True)
            rows[b_now][f"ratio_vs_020_{b_old}"] = t_old / t_now
            if report is not None:
                report(f"symmetry {name} pair + {draws} draws: 0.2.0 {b_old} / now {b_now}",
                       f"{t_old / t_now:.2f}x", ">= 3x", t_old / t_now >= 3,
                       f" ({t_old:.0f} s vs {t_now:.0f} s; aligned diff {d_al:.0e})")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="1.7b,4b", help="comma list of " + ", ".join(SHAPES))
    ap.add_argument("--null-draws", type=int, default=2)
    ap.add_argument("--backends", default="numpy,torch")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--no-020", action="store_true", help="skip 0.2.0 (32B: hours)")
    a = ap.parse_args(argv)
    backends = ["torch"] if a.device == "cuda" else a.backends.split(",")
    for name in a.shapes.split(","):
        bench_pair(name, a.null_draws, backends, a.device, not a.no_020 and a.device == "cpu")


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits
    import scipy.linalg  # noqa: F401,E402  (load its BLAS before limiting it)
    try:
        import torch
        torch.set_num_threads(1)
    except ModuleNotFoundError:
        pass
    with threadpool_limits(limits=1):
        main()
