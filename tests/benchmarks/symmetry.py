"""Symmetry gauge benchmarks: per-pair cost at Qwen3 shapes, and the full SmolLM2-135M run.

Run (one heavy process at a time on a shared machine; BLAS single-threaded):

    OPENBLAS_NUM_THREADS=1 nice -n 10 python tests/benchmarks/symmetry.py --shapes 4b
    OPENBLAS_NUM_THREADS=1 nice -n 10 python tests/benchmarks/symmetry.py --shapes 32b
    OPENBLAS_NUM_THREADS=1 nice -n 10 python tests/benchmarks/symmetry.py \
        --smollm2 $GAUGETEST_SMOLLM2 --null-draws 8 --json smollm2-gauges.json

``--shapes`` times every step of one adjacent pair on synthetic unrelated layers of the
model's shapes (unrelated layers are the hard case for the assignment), next to the
orthogonal gauge's aligned cosines of the same matrices, measured in the same run
(ratio = symmetry / orthogonal); then one planted pair checks the result (cosine >= 0.999).
The MLP assignment is solved densely (scipy) and, when ``--sparse`` is given, with the exact
sparse solver (top-k candidates + optimality certificate), reporting both times and whether
the two assignments' objectives agree.

``--smollm2`` measures all 29 pairs with both gauges (aligned cosine, null mean, excess) and
prints the per-phase table of docs/gauges.md (phases: the fractional map for 30 layers).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from gaugetest.measure import symmetry as sy  # noqa: E402
from gaugetest.measure.architecture import Architecture  # noqa: E402
from gaugetest.measure.procrustes import aligned_cosine  # noqa: E402

SHAPES = {  # Qwen3 config.json: hidden, heads, KV heads, head_dim, intermediate
    "smollm2": (576, 9, 3, 64, 1536),       # SmolLM2-135M (llama), for quick checks
    "0.6b": (1024, 16, 8, 128, 3072),
    "4b": (2560, 32, 8, 128, 9728),
    "8b": (4096, 32, 8, 128, 12288),
    "32b": (5120, 64, 8, 128, 25600),
}


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def synthetic(arch, hidden, ff, rng, dtype):
    """Unrelated-layer stand-in: Gaussian matrices (the assignment's hard case)."""
    nh, nkv, hd = arch.n_heads, arch.n_kv_heads, arch.head_dim
    shapes = {"q_proj": (nh * hd, hidden), "k_proj": (nkv * hd, hidden),
              "v_proj": (nkv * hd, hidden), "o_proj": (hidden, nh * hd),
              "gate_proj": (ff, hidden), "up_proj": (ff, hidden), "down_proj": (hidden, ff)}
    return {f: rng.standard_normal(s, dtype=np.float32).astype(dtype, copy=False)
            for f, s in shapes.items()}


def bench_shapes(name, sparse, store_dtype, mlp_dtype="f64", compare_f32=False):
    hidden, nh, nkv, hd, ff = SHAPES[name]
    arch = Architecture(nh, nkv, hd, "half")
    rng = np.random.default_rng(0)
    print(f"\n== Qwen3-{name.upper()} shapes: hidden {hidden}, {nh} q / {nkv} KV heads of {hd}, "
          f"{ff} neurons; weights stored {np.dtype(store_dtype).name}", flush=True)
    A = synthetic(arch, hidden, ff, rng, store_dtype)
    B = synthetic(arch, hidden, ff, rng, store_dtype)
    att = {f: A[f] for f in sy.ATTENTION_FAMILIES}, {f: B[f] for f in sy.ATTENTION_FAMILIES}
    rows = []

    # attention block
    X, t_cross = timed(sy.attention_cross_terms, att[0], att[1], arch)
    (el, rounds), t_solve = timed(sy.solve_attention, X, arch, np.ones(arch.n_pairs, bool))
    del X
    moved, t_apply = timed(sy.apply_group_element, att[0], el, arch)
    t_orth_att = 0.0
    for f in sy.ATTENTION_FAMILIES:
        _, t = timed(aligned_cosine, np.asarray(A[f], np.float64), np.asarray(B[f], np.float64))
        t_orth_att += t
    rows += [("attention cross products (f64)", t_cross), ("attention alternation + group "
             f"assignment ({rounds} rounds max)", t_solve), ("apply element + cosines", t_apply)]
    print(f"  attention: cross {t_cross:.1f} s, solve {t_solve:.1f} s, apply {t_apply:.2f} s; "
          f"orthogonal gauge (4 families) {t_orth_att:.1f} s -> ratio "
          f"{(t_cross + t_solve + t_apply) / t_orth_att:.2f}", flush=True)

    # MLP block
    mlp = {f: A[f] for f in sy.MLP_FAMILIES}, {f: B[f] for f in sy.MLP_FAMILIES}
    del A, B
    sim_dt = np.float64 if mlp_dtype == "f64" else np.float32
    S, t_sim = timed(sy.mlp_similarity, mlp[0], mlp[1], sim_dt)
    print(f"  MLP similarity {mlp_dtype}: {t_sim:.1f} s ({2 * ff * ff * 3 * hidden / t_sim / 1e9:.1f} "
          f"GFLOP/s), matrix {S.nbytes / 2**30:.2f} GiB", flush=True)
    S = S.astype(np.float64, copy=False)
    perm, t_lsa = timed(sy._lsa_max, S)  # S is consumed (negated) here
    del S
    print(f"  dense linear_sum_assignment {ff}^2: {t_lsa:.1f} s; peak RSS so far "
          f"{peak_gib():.1f} GiB", flush=True)
    ref_obj = sy.mlp_objective(mlp[0], mlp[1], perm)
    t_sim32 = None
    if compare_f32 and mlp_dtype == "f64":
        S32, t_sim32 = timed(sy.mlp_similarity, mlp[0], mlp[1], np.float32)
        perm32 = sy._lsa_max(S32.astype(np.float64))
        del S32
        gap32 = ref_obj - sy.mlp_objective(mlp[0], mlp[1], perm32)
        print(f"  MLP similarity f32: {t_sim32:.1f} s (f64/f32 {t_sim / t_sim32:.2f}x); "
              f"objective gap of the f32 choice {gap32:.2e} (sum of 3 cosines)", flush=True)
    t_sparse = None
    if sparse:
        (perm_s, info), t_sparse = timed(sy.solve_mlp_sparse, mlp[0], mlp[1], dtype=sim_dt)
        gap = ref_obj - sy.mlp_objective(mlp[0], mlp[1], perm_s)
        print(f"  sparse exact assignment (similarity streamed in {mlp_dtype}, k={info['k']}): "
              f"{t_sparse:.1f} s total; certified={info['certified']}, rounds {info['rounds']}, "
              f"candidate edges {info['edges']}, priced {info['priced']}, objective gap vs dense "
              f"{gap:.2e}; matching + duals {info['t_match']:.1f} s vs dense LSA {t_lsa:.1f} s; "
              f"peak RSS so far {peak_gib():.1f} GiB", flush=True)
    t_orth_mlp = 0.0
    for f in sy.MLP_FAMILIES:
        _, t = timed(aligned_cosine, np.asarray(mlp[0][f], np.float64),
                     np.asarray(mlp[1][f], np.float64))
        t_orth_mlp += t
    t_mlp = t_sim + t_lsa
    print(f"  MLP block ({mlp_dtype} similarity, dense LSA): {t_mlp:.1f} s; orthogonal gauge "
          f"(3 families) {t_orth_mlp:.1f} s -> ratio {t_mlp / t_orth_mlp:.2f}", flush=True)

    # null: one Haar rotation of the residual side, then the same alignment
    H, t_haar = timed(sy._haar_orthogonal, hidden, rng)
    _, t_rot = timed(sy.rotate_residual, {**att[1], **mlp[1]}, H)
    print(f"  null draw overhead: Haar {hidden}^2 {t_haar:.1f} s + residual rotation {t_rot:.1f} s "
          f"(then one alignment)", flush=True)
    total = t_cross + t_solve + t_apply + t_mlp
    print(f"  per pair ({mlp_dtype} MLP similarity, dense LSA): {total:.0f} s alignment; null per draw ~ "
          f"{total + t_haar + t_rot:.0f} s; orthogonal gauge {t_orth_att + t_orth_mlp:.0f} s; "
          f"peak RSS {peak_gib():.1f} GiB", flush=True)
    return {"shape": name, "attention_s": t_cross + t_solve + t_apply, "mlp_similarity_s":
            t_sim, "mlp_similarity_f32_s": t_sim32, "mlp_dense_lsa_s": t_lsa,
            "mlp_sparse_total_s": t_sparse, "null_overhead_s": t_haar + t_rot,
            "orthogonal_s": t_orth_att + t_orth_mlp, "peak_rss_gib": peak_gib()}


def bench_sparse_only(name, store_dtype, mlp_dtype):
    """The MLP block with the sparse exact solver alone, in a fresh process: its peak memory."""
    hidden, nh, nkv, hd, ff = SHAPES[name]
    rng = np.random.default_rng(0)
    arch = Architecture(nh, nkv, hd, "half")
    A = synthetic(arch, hidden, ff, rng, store_dtype)
    B = synthetic(arch, hidden, ff, rng, store_dtype)
    mlp = {f: A[f] for f in sy.MLP_FAMILIES}, {f: B[f] for f in sy.MLP_FAMILIES}
    del A, B
    base = peak_gib()
    sim_dt = np.float64 if mlp_dtype == "f64" else np.float32
    (perm, info), t = timed(sy.solve_mlp_sparse, mlp[0], mlp[1], dtype=sim_dt)
    print(f"\n== Qwen3-{name.upper()} MLP, sparse exact solver only ({mlp_dtype} stream): {t:.0f} s, "
          f"certified={info['certified']} (gap bound {info['gap_bound']:.1e}), priced "
          f"{info['priced']}; peak RSS {peak_gib():.1f} GiB (weights of both layers alone "
          f"{base:.1f} GiB)", flush=True)


def bench_planted(name):
    hidden, nh, nkv, hd, ff = SHAPES[name]
    arch = Architecture(nh, nkv, hd, "half")
    rng = np.random.default_rng(1)
    A = synthetic(arch, hidden, ff, rng, np.float64)
    g = sy.random_group_element(arch, rng, n_neurons=ff)
    B = sy.apply_group_element(A, g, arch)
    B = {f: v + 0.5 * rng.standard_normal(v.shape) for f, v in B.items()}
    res, t = timed(sy.align_pair, A, B, arch)
    ok = np.array_equal(res.element.neuron_perm, g.neuron_perm) and \
        np.array_equal(res.element.kv_perm, g.kv_perm)
    print(f"  planted pair + noise: aligned in {t:.0f} s, element recovered: {ok}, cosines "
          + ", ".join(f"{f} {c:.3f}" for f, c in res.cosines.items()), flush=True)


def _interleaved(fns, reps):
    """Median seconds of each function, run A B C A B C ... (drifting load hits all alike)."""
    times = [[] for _ in fns]
    out = [None] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            out[i] = fn()
            times[i].append(time.perf_counter() - t)
    return [float(np.median(t)) for t in times], out


def bench_backends(name, reps=2, report=None):
    """Where the symmetry gauge's products should run on this machine: one unrelated pair of the
    model's shapes (weights stored float32, as the readers return them), aligned with

    * numpy float64 products (``NumpyOps()``: the ``--backend numpy`` reference),
    * numpy float32 products (``NumpyOps(np.float32)``, with the float64 refinement),
    * torch float32 products on the CPU (``--backend torch``: ``TorchSymmetryOps``),

    interleaved, plus the two product steps alone; ratios to numpy float64 and the largest
    cosine difference from it."""
    from gaugetest.measure.backends import TorchBackend

    hidden, nh, nkv, hd, ff = SHAPES[name]
    arch = Architecture(nh, nkv, hd, "half")
    rng = np.random.default_rng(2)
    A = synthetic(arch, hidden, ff, rng, np.float32)
    B = synthetic(arch, hidden, ff, rng, np.float32)
    variants = {"numpy f64": sy.NumpyOps(), "numpy f32": sy.NumpyOps(np.float32),
                "torch f32": TorchBackend("cpu").symmetry_ops()}
    print(f"\n== backends at {name} shapes (hidden {hidden}, {nh}/{nkv} heads of {hd}, {ff} "
          f"neurons), {reps} interleaved repetitions, single-threaded", flush=True)
    att = {f: A[f] for f in sy.ATTENTION_FAMILIES}, {f: B[f] for f in sy.ATTENTION_FAMILIES}
    mlp = {f: A[f] for f in sy.MLP_FAMILIES}, {f: B[f] for f in sy.MLP_FAMILIES}
    rows = {}
    for step, fn in (("MLP similarity", lambda o: o.mlp_similarity(*mlp)),
                     ("attention cross terms", lambda o: o.attention_cross_terms(*att, arch)),
                     ("whole alignment", lambda o: sy.align_pair(A, B, arch, ops=o))):
        times, outs = _interleaved([lambda o=o: fn(o) for o in variants.values()], reps)
        rows[step] = times
        line = ", ".join(f"{k} {t:.2f} s" for k, t in zip(variants, times))
        ratios = ", ".join(f"{k} {times[0] / t:.2f}x" for k, t in list(zip(variants, times))[1:])
        extra = ""
        if step == "whole alignment":
            ref = outs[0].cosines
            extra = "; max |cosine - numpy f64|: " + ", ".join(
                f"{k} {max(abs(o.cosines[f] - ref[f]) for f in ref):.1e}"
                for k, o in list(zip(variants, outs))[1:])
        print(f"  {step}: {line} (speed-up over numpy f64: {ratios}){extra}", flush=True)
        if report is not None:
            report(f"symmetry {name} {step}: numpy f64 / torch f32", f"{times[0] / times[2]:.2f}x",
                   "report (> 1: torch pays on this CPU)", True)
    return rows


def bench_smollm2(path, draws, out_json):
    from gaugetest.measure.architecture import load_layer, read_architecture
    from gaugetest.measure.procrustes import singular_values, spectrum_null
    from gaugetest.measure.readers import detect_layout, open_checkpoint
    from gaugetest.phases import resolve_phase_map

    r = open_checkpoint(path)
    lay = detect_layout(r)
    arch = read_architecture(r, lay)
    n = lay.num_layers
    print(f"\n== SmolLM2: {n} layers, {arch}", flush=True)
    t0 = time.perf_counter()
    rows = []
    prev = load_layer(r, lay, arch, 0)
    sv_prev = {f: singular_values(prev[f]) for f in sy.FAMILIES}
    t_sym = t_orth = 0.0
    for L in range(n - 1):
        cur = load_layer(r, lay, arch, L + 1)
        sv_cur = {f: singular_values(cur[f]) for f in sy.FAMILIES}
        t = time.perf_counter()
        res = sy.align_pair(prev, cur, arch)
        null = sy.symmetry_null(prev, cur, arch, draws, np.random.default_rng([0, L]))
        t_sym += time.perf_counter() - t
        t = time.perf_counter()
        rng = np.random.default_rng([1, L])
        for f in sy.FAMILIES:
            orth = aligned_cosine(prev[f], cur[f])
            onull = spectrum_null(sv_prev[f], sv_cur[f], prev[f].shape[0], draws, rng)
            rows.append({"L": L, "family": f, "raw": res.raw[f],
                         "symmetry": res.cosines[f], "symmetry_null": float(null[f].mean()),
                         "symmetry_null_sd": float(null[f].std(ddof=1)) if draws > 1 else None,
                         "orthogonal": orth, "orthogonal_null": float(onull.mean())})
        t_orth += time.perf_counter() - t
        prev, sv_prev = cur, sv_cur
        print(f"  pair {L}: " + " ".join(f"{row['family'][:4]} {row['symmetry']:.3f}/"
                                         f"{row['symmetry_null']:.3f}" for row in rows[-7:]),
              flush=True)
    print(f"  total {time.perf_counter() - t0:.0f} s; symmetry gauge (align + {draws} null draws) "
          f"{t_sym:.0f} s, orthogonal gauge (align + {draws} spectrum-null draws) {t_orth:.0f} s",
          flush=True)
    pm = resolve_phase_map("auto", n)
    phases = [p for p in ("A", "B", "C", "D", "E", "tail")
              if any(pm.phase_of(L, n) == p for L in range(n - 1))]
    print("\n| phase | pairs | orthogonal aligned | orthogonal null | orthogonal excess | "
          "symmetry aligned | symmetry null | symmetry excess |")
    print("|---|---|---|---|---|---|---|---|")
    for p in phases + ["all"]:
        sel = [row for row in rows if p == "all" or pm.phase_of(row["L"], n) == p]
        m = {k: np.mean([row[k] for row in sel]) for k in
             ("orthogonal", "orthogonal_null", "symmetry", "symmetry_null")}
        print(f"| {p} | {len(sel) // 7} | {m['orthogonal']:.3f} | {m['orthogonal_null']:.3f} | "
              f"{m['orthogonal'] - m['orthogonal_null']:+.3f} | {m['symmetry']:.3f} | "
              f"{m['symmetry_null']:.3f} | {m['symmetry'] - m['symmetry_null']:+.3f} |")
    print("\n| family | raw | orthogonal aligned | orthogonal excess | symmetry aligned | "
          "symmetry null | symmetry excess |")
    print("|---|---|---|---|---|---|---|")
    for f in sy.FAMILIES:
        sel = [row for row in rows if row["family"] == f]
        m = {k: np.mean([row[k] for row in sel]) for k in
             ("raw", "orthogonal", "orthogonal_null", "symmetry", "symmetry_null")}
        print(f"| {f} | {m['raw']:.3f} | {m['orthogonal']:.3f} | "
              f"{m['orthogonal'] - m['orthogonal_null']:+.3f} | {m['symmetry']:.3f} | "
              f"{m['symmetry_null']:.3f} | {m['symmetry'] - m['symmetry_null']:+.3f} |")
    if out_json:
        head = json.dumps({"model": os.path.basename(path), "null_draws": draws,
                           "architecture": str(arch).replace(os.path.dirname(path) + "/", "")})
        with open(out_json, "w") as fh:  # one row per line
            fh.write(head[:-1] + ', "rows": [\n' + ",\n".join(json.dumps(r) for r in rows)
                     + "\n]}\n")


def phase_table(orth_prefix, sym_prefix):
    """The per-phase and per-family tables of docs/measure.md from two ``gaugetest measure`` runs
    (PREFIX-null.json of each gauge): means over the pairs of a phase (fractional map of
    FORMATS.md for the model's layer count) and the families, of the aligned cosine, the null
    mean and the excess (aligned - null mean)."""
    from gaugetest.phases import resolve_phase_map

    docs = {}
    for gauge, prefix in (("orthogonal", orth_prefix), ("symmetry", sym_prefix)):
        with open(f"{prefix}-null.json") as fh:
            docs[gauge] = json.load(fh)
        assert docs[gauge].get("gauge", "orthogonal") == gauge, (prefix, gauge)
    n = docs["symmetry"]["num_layers"]
    pm = resolve_phase_map("fractional", n)

    def values(gauge, key, sel):
        return [e[key] for p in docs[gauge]["pair_results"] if sel(p["L"])
                for f, e in p["families"].items()]

    phases = [ph for ph in ("A", "B", "C", "D", "E", "tail")
              if any(pm.phase_of(p["L"], n) == ph for p in docs["symmetry"]["pair_results"])]
    print("| phase | pairs | orthogonal aligned | orthogonal null | orthogonal excess | "
          "symmetry aligned | symmetry null | symmetry excess |")
    print("|---|---|---|---|---|---|---|---|")
    for ph in phases + ["all"]:
        def sel(L, ph=ph):
            return ph == "all" or pm.phase_of(L, n) == ph
        cells = []
        for g in ("orthogonal", "symmetry"):
            a = np.mean(values(g, "aligned_cos", sel))
            m = np.mean(values(g, "aligned_null_mean", sel))
            cells += [f"{a:.3f}", f"{m:.3f}", f"{a - m:+.3f}"]
        pairs = sum(sel(p["L"]) for p in docs["symmetry"]["pair_results"])
        print(f"| {ph} | {pairs} | " + " | ".join(cells) + " |")
    print("\n| family | raw | orthogonal aligned | orthogonal excess | symmetry aligned | "
          "symmetry null (mean sd of a draw) | symmetry excess | pairs with symmetry excess "
          "> 2 null sd |")
    print("|---|---|---|---|---|---|---|---|")
    for f in docs["symmetry"]["pair_results"][0]["families"]:
        es = {g: [p["families"][f] for p in docs[g]["pair_results"]] for g in docs}
        raw = np.mean([e["cos"] for e in es["symmetry"]])
        oa = np.mean([e["aligned_cos"] for e in es["orthogonal"]])
        oe = np.mean([e["aligned_cos"] - e["aligned_null_mean"] for e in es["orthogonal"]])
        sa = np.mean([e["aligned_cos"] for e in es["symmetry"]])
        sm = np.mean([e["aligned_null_mean"] for e in es["symmetry"]])
        ssd = np.mean([e["aligned_null_sd"] for e in es["symmetry"]])
        big = sum(e["aligned_cos"] - e["aligned_null_mean"] > 2 * e["aligned_null_sd"]
                  for e in es["symmetry"])
        print(f"| {f} | {raw:+.3f} | {oa:.3f} | {oe:+.3f} | {sa:.3f} | {sm:.3f} ({ssd:.3f}) | "
              f"{sa - sm:+.3f} | {big} / {len(es['symmetry'])} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="", help="comma list of " + ", ".join(SHAPES))
    ap.add_argument("--sparse", action="store_true", help="also time the sparse exact solver")
    ap.add_argument("--store", choices=["f64", "f32"], default="f64",
                    help="dtype of the synthetic weights (f32 halves memory at 32B)")
    ap.add_argument("--mlp-dtype", choices=["f64", "f32"], default="f64",
                    help="precision of the MLP similarity product (the cosines stay f64)")
    ap.add_argument("--compare-f32", action="store_true",
                    help="with --mlp-dtype f64: also time the f32 similarity and its objective gap")
    ap.add_argument("--sparse-only", action="store_true",
                    help="only the MLP block with the sparse solver (its peak memory)")
    ap.add_argument("--planted", action="store_true", help="also align a planted pair")
    ap.add_argument("--smollm2", default=None, help="path of the SmolLM2-135M GGUF")
    ap.add_argument("--null-draws", type=int, default=8)
    ap.add_argument("--json", default=None)
    ap.add_argument("--backends", action="store_true",
                    help="for each --shapes: numpy f64 vs numpy f32 vs torch f32 products, "
                         "interleaved (where --backend torch pays)")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of --backends")
    ap.add_argument("--table", nargs=2, metavar=("ORTHOGONAL_PREFIX", "SYMMETRY_PREFIX"),
                    help="print docs/measure.md's per-phase table from two gaugetest measure "
                         "runs (the orthogonal and the symmetry gauge)")
    a = ap.parse_args(argv)
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("note: set OPENBLAS_NUM_THREADS=1 (shared machine; per-core numbers)")
    for s in filter(None, a.shapes.split(",")):
        if a.backends:
            bench_backends(s, a.reps)
            continue
        if a.sparse_only:
            bench_sparse_only(s, np.float64 if a.store == "f64" else np.float32, a.mlp_dtype)
            continue
        bench_shapes(s, a.sparse, np.float64 if a.store == "f64" else np.float32, a.mlp_dtype,
                     a.compare_f32)
        if a.planted:
            bench_planted(s)
    if a.smollm2:
        bench_smollm2(a.smollm2, a.null_draws, a.json)
    if a.table:
        phase_table(*a.table)


if __name__ == "__main__":
    main()
