"""gaugetest benchmarks: ratios against the scipy way of doing the same work.

Run:  python tests/benchmarks/run.py            (about 2-3 minutes on 2 cores)
      python tests/benchmarks/run.py --quick    (fewer repetitions)
      python tests/benchmarks/run.py --measure-only   (gaugetest measure at Qwen3 0.6B-32B
          shapes against 0.1.0's kernels, extrapolated full runs, 32B memory, GPU if present;
          about 1.5 h on 2 shared cores: --models qwen3-0.6b,qwen3-4b for a shorter run)
      python tests/benchmarks/run.py --symmetry  (the symmetry gauge: per-pair steps at Qwen3
          4B and 32B shapes next to the orthogonal gauge, the exact sparse MLP solver, numpy
          vs torch products, and the full SmolLM2 run of both gauges when --smollm2 is given;
          about 2 h on 2 shared cores: --symmetry-shapes 4b for about 15 min)

Every comparison runs both sides in the same process or session, interleaved
(A B A B ...), and reports medians, because absolute times on shared machines
drift.  Targets are those of issue 7 (docs/performance.md).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from gaugetest.analysis import analyze  # noqa: E402
from gaugetest.inference.bootstrap import mean_ci  # noqa: E402
from gaugetest.inference.permutation import permutation_pvalue  # noqa: E402
from gaugetest.studies.synthetic import synthetic_sweeps  # noqa: E402

ROWS = []


def report(name, value, target, ok, unit=""):
    ROWS.append((name, value, target, ok))
    flag = "ok " if ok else "MISS"
    print(f"[{flag}] {name:<58} {value:>10}{unit}   target {target}", flush=True)


def interleaved(fa, fb, reps):
    ta, tb = [], []
    for _ in range(reps):
        t = time.perf_counter(); fa(); ta.append(time.perf_counter() - t)
        t = time.perf_counter(); fb(); tb.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def sweep_matrix(num_layers=64, seed=1):
    null, aligned = synthetic_sweeps(num_layers, seed=seed)
    res = analyze(null, aligned, n_boot=100, n_perm=100)
    return res.table


def bench_permutation(reps):
    from scipy import stats
    t = sweep_matrix()
    x = t.with_pooled()
    late, early = x[t.rows_of("E")], x[t.rows_of("C")]

    def ours():
        permutation_pvalue(late, early, n_perm=100_000, rng=1)

    def scipy_way():
        stats.permutation_test((late, early),
                               lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
                               permutation_type="independent", alternative="greater",
                               vectorized=True, axis=0, n_resamples=100_000, rng=1)

    a, b = interleaved(ours, scipy_way, reps)
    report("permutation, 7 families + pooled, 1e5 splits: scipy/ours", f"{b / a:.1f}x",
           ">= 5x", b / a >= 5)
    print(f"       ours {a * 1e3:.0f} ms, scipy.stats.permutation_test {b * 1e3:.0f} ms")


def bench_bootstrap(reps):
    from scipy import stats
    t = sweep_matrix()
    x = t.with_pooled()
    phases = [x[t.rows_of(p)] for p in t.present_phases]

    def ours():
        for xp in phases:
            mean_ci(xp, n_resamples=10_000, method="bca", rng=1)

    def scipy_way():
        for xp in phases:
            stats.bootstrap((xp,), np.mean, n_resamples=10_000, method="BCa", axis=0,
                            rng=np.random.default_rng(1))

    a, b = interleaved(ours, scipy_way, reps)
    report("bootstrap BCa, 6 phases x 8 columns, 1e4 resamples: scipy/ours", f"{b / a:.1f}x",
           "> 1x (report)", b / a > 1)
    print(f"       ours {a * 1e3:.0f} ms, scipy.stats.bootstrap {b * 1e3:.0f} ms")


def _wall(cmd, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _peak_rss_mib(cmd):
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True,
                         text=True).stdout
    return int(out.strip()) / 1024


def write_inputs(d, num_layers, seed=1):
    null, aligned = synthetic_sweeps(num_layers, seed=seed)
    n, a = os.path.join(d, f"s{num_layers}-null.json"), os.path.join(d, f"s{num_layers}-aligned.json")
    json.dump(null, open(n, "w"))
    json.dump(aligned, open(a, "w"))
    return n, a


def bench_cli(d, reps):
    exe = [sys.executable, "-m", "gaugetest"]
    n, a = write_inputs(d, 64)
    floor_cmd = [sys.executable, "-c", "import numpy, scipy.stats, rich"]
    test_cmd = exe + ["test", n, a]
    tf, tt = [], []
    for _ in range(reps):
        tf.append(_wall(floor_cmd, 1))
        tt.append(_wall(test_cmd, 1))
    f, t = statistics.median(tf), statistics.median(tt)
    report("gaugetest test (defaults, 64 layers) / import floor", f"{t / f:.2f}x", "<= 1.6x",
           t / f <= 1.6)
    print(f"       test {t:.2f} s, floor (import numpy, scipy.stats, rich) {f:.2f} s")
    h = _wall(exe + ["--help"], reps)
    report("gaugetest --help wall time", f"{h:.2f}", "<= 0.3 s", h <= 0.3, " s")
    rss = _peak_rss_mib(test_cmd + ["--n-perm", "1000000"])
    report("peak RSS, gaugetest test --n-perm 1000000", f"{rss:.0f}", "<= 150 MiB", rss <= 150,
           " MiB")


def bench_scaling(d):
    exe = [sys.executable, "-m", "gaugetest"]
    times = {}
    for L in (64, 1000, 10_000):
        n, a = write_inputs(d, L)
        times[L] = _wall(exe + ["test", n, a, "--brief"], 1)
        print(f"       {L:>6} layers: {times[L]:.2f} s")
    # log-log slope of the layer-dependent part (fixed start-up cost removed)
    slope = np.log((times[10_000] - times[64]) / max(times[1000] - times[64], 1e-9)) / np.log(
        (10_000 - 64) / (1000 - 64))
    report("log-log slope of time vs layers (1k -> 10k)", f"{slope:.2f}",
           "<= 1.2 (linear: 1)", slope <= 1.2)
    x = sweep_matrix().with_pooled()
    t = sweep_matrix()
    late, early = x[t.rows_of("E")], x[t.rows_of("C")]
    ts = {}
    for m in (10_000, 100_000, 1_000_000):
        t0 = time.perf_counter()
        permutation_pvalue(late, early, n_perm=m, rng=0)
        ts[m] = time.perf_counter() - t0
        print(f"       permutation n_perm={m:>8}: {ts[m] * 1e3:.0f} ms")
    r = ts[1_000_000] / ts[100_000]
    report("permutation time(1e6) / time(1e5)", f"{r:.1f}", "~10 (linear in resamples)",
           6 <= r <= 14)


def bench_big_json(d):
    # ~200 MB input: 10,000 layers, 7 families, padded with side fields (peak RSS of the
    # load is reported by the process-level numbers above; here only time)
    null, aligned = synthetic_sweeps(10_000, seed=2)
    for pr in null["pair_results"]:
        for f in pr["families"].values():
            f.update({f"side_{k}": 0.123456789 for k in range(125)})
    n, a = os.path.join(d, "big-null.json"), os.path.join(d, "big-aligned.json")
    json.dump(null, open(n, "w"))
    json.dump(aligned, open(a, "w"))
    size = os.path.getsize(n) / 2**20
    from gaugetest.io import load_sweep
    t0 = time.perf_counter()
    load_sweep(n, "null")
    t = time.perf_counter() - t0
    report(f"load a {size:.0f} MB null file", f"{t:.1f}", "linear (report)", True, " s")


def bench_measure(gguf_path, reps):
    """SmolLM2-135M sweep: wall time and peak memory of `gaugetest measure`, and the aligned
    cosines alone against a plain scipy.linalg.orthogonal_procrustes loop over the same pairs."""
    import scipy.linalg as sl

    from gaugetest.measure.procrustes import aligned_cosine
    from gaugetest.measure.readers import detect_layout, open_checkpoint

    reader = open_checkpoint(gguf_path)
    layout = detect_layout(reader)
    mats = {(f, L): reader.tensor(layout.name(f, L)) for f in layout.patterns
            for L in range(layout.num_layers)}

    def ours():
        for (f, L), A in mats.items():
            if L + 1 < layout.num_layers:
                aligned_cosine(A, mats[(f, L + 1)])

    def scipy_way():
        for (f, L), A in mats.items():
            if L + 1 < layout.num_layers:
                B = mats[(f, L + 1)]
                R = sl.orthogonal_procrustes(A, B)[0]
                np.vdot(A @ R, B) / (np.linalg.norm(A) * np.linalg.norm(B))

    a, b = interleaved(ours, scipy_way, max(3, reps // 2))
    report("aligned cosines, SmolLM2 29 pairs x 7 families: scipy loop/ours", f"{b / a:.1f}x",
           "> 1x (report)", b / a > 1)
    print(f"       ours {a:.2f} s, scipy.linalg.orthogonal_procrustes loop {b:.2f} s")
    with tempfile.TemporaryDirectory() as d:
        for draws, jobs in ((0, 1), (8, 1), (8, 2)):
            cmd = [sys.executable, "-m", "gaugetest", "measure", gguf_path, "-o",
                   os.path.join(d, "s"), "--null-draws", str(draws), "--jobs", str(jobs)]
            t0 = time.perf_counter()
            rss = _peak_rss_mib(cmd)
            t = time.perf_counter() - t0
            report(f"gaugetest measure SmolLM2, {draws} null draws, --jobs {jobs}", f"{t:.1f}",
                   "report", True, f" s, peak RSS {rss:.0f} MiB")


def bench_symmetry(shapes, smollm2, quick=False):
    """The symmetry gauge (tests/benchmarks/symmetry.py), single-threaded BLAS: per adjacent
    pair at each shape, every step next to the orthogonal gauge's aligned cosines of the same
    matrices (ratios from the same run); at 32B the weights are stored in float32 and the MLP
    similarity product is float32 (as docs/gauges.md's table), and the exact sparse solver runs
    alone in a fresh process for its peak memory; numpy vs torch products; and, with a SmolLM2
    GGUF, both gauges through `gaugetest measure` (all 29 pairs, 8 null draws, --jobs 2)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits
    import scipy.linalg  # noqa: F401  (load its BLAS before limiting it)
    sys.path.insert(0, HERE)
    import symmetry as bench_sym   # tests/benchmarks/symmetry.py
    big = {"32b"}
    with threadpool_limits(limits=1):
        for name in shapes:
            f32 = name in big
            r = bench_sym.bench_shapes(name, sparse=not f32,
                                       store_dtype=np.float32 if f32 else np.float64,
                                       mlp_dtype="f32" if f32 else "f64", compare_f32=not f32)
            align = r["attention_s"] + r["mlp_similarity_s"] + r["mlp_dense_lsa_s"]
            report(f"symmetry {name}: alignment per pair / orthogonal gauge",
                   f"{align / r['orthogonal_s']:.2f}x", "report (<= ~1: same order)", True,
                   f" ({align:.0f} s vs {r['orthogonal_s']:.0f} s; null draw +"
                   f"{r['null_overhead_s']:.0f} s + one alignment)")
            if not quick:
                bench_sym.bench_planted(name)
            bench_sym.bench_backends(name, reps=1 if quick or f32 else 2, report=report)
    for name in shapes:
        if name in big:   # the sparse solver's peak memory, alone in a fresh process
            subprocess.run([sys.executable, os.path.join(HERE, "symmetry.py"), "--shapes", name,
                            "--sparse-only", "--store", "f32", "--mlp-dtype", "f64"], check=True)
    if smollm2:
        with tempfile.TemporaryDirectory() as d:
            for gauge in ("orthogonal", "symmetry"):
                cmd = [sys.executable, "-m", "gaugetest", "measure", smollm2, "-o",
                       os.path.join(d, gauge), "--gauge", gauge, "--null-draws", "8",
                       "--jobs", "2"]
                t0 = time.perf_counter()
                rss = _peak_rss_mib(cmd)
                report(f"gaugetest measure SmolLM2 --gauge {gauge}, 8 null draws, --jobs 2",
                       f"{time.perf_counter() - t0:.0f}", "report", True,
                       f" s, peak RSS {rss:.0f} MiB")


def bench_symmetry_pair(shapes, device="cpu", with_020=True, memory=True):
    """Issue 19's symmetry-gauge targets: per pair with 2 null draws against 0.2.0 (frozen copy,
    tests/benchmarks/symmetry_020.py) in the same run, whole-model estimates with --jobs 2
    (tests/benchmarks/symmetry_pair.py), and the peak memory of a 32B MLP task through the
    command (tests/benchmarks/symmetry_memory.py). On a GPU (--device cuda) this version only,
    torch backend."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits
    import scipy.linalg  # noqa: F401  (load its BLAS before limiting it)
    sys.path.insert(0, HERE)
    import symmetry_pair
    try:
        import torch
        torch.set_num_threads(1)
    except ModuleNotFoundError:
        pass
    with threadpool_limits(limits=1):
        for name in shapes:
            rows = symmetry_pair.bench_pair(
                name, 2, ["torch"] if device == "cuda" else ["numpy", "torch"], device,
                with_020 and device == "cpu", report=report if device == "cpu" else None)
            for backend, row in rows.items():
                target = "<= 8 h" if name == "32b" and device == "cpu" else \
                    "<= 0.5 h" if name == "32b" else "report"
                ok = row["now_h"] <= (8 if device == "cpu" else 0.5) if name == "32b" else True
                report(f"symmetry {name} whole model, 2 draws, --jobs 2, {backend} {device}",
                       f"{row['now_h']:.2f}", target, ok, " h")
    if memory and device == "cpu":
        import symmetry_memory
        symmetry_memory.bench_memory("32b", ["torch", "numpy"], 1, report=report)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--smollm2", metavar="GGUF", default=os.environ.get("GAUGETEST_SMOLLM2"),
                    help="SmolLM2-135M .gguf for the measure benchmark (default: "
                         "$GAUGETEST_SMOLLM2; .ci/run shows how to fetch it)")
    ap.add_argument("--measure-only", action="store_true",
                    help="only the measure-at-scale benchmark (measure_scale.py)")
    ap.add_argument("--measure-scale", action="store_true",
                    help="add the measure-at-scale benchmark to the others")
    ap.add_argument("--models", default="qwen3-0.6b,qwen3-4b,qwen3-8b,qwen3-32b",
                    help="Qwen3 presets for the measure-at-scale benchmark")
    ap.add_argument("--families", default=None,
                    help="measure only the shapes of these families (comma list), e.g. gate_proj")
    ap.add_argument("--skip-memory", action="store_true",
                    help="leave out the 32B peak-memory runs (one pair each of gate, down, q "
                         "and o_proj; they write up to ~500 MB to /tmp)")
    ap.add_argument("--symmetry", action="store_true",
                    help="only the symmetry gauge's benchmarks (tests/benchmarks/symmetry.py)")
    ap.add_argument("--symmetry-shapes", default="4b,32b",
                    help="Qwen3 shapes of the symmetry benchmark (smollm2, 0.6b, 4b, 8b, 32b)")
    ap.add_argument("--symmetry-pair", action="store_true",
                    help="only issue 19's symmetry-gauge targets: one pair with 2 null draws at "
                         "Qwen3-1.7B and 4B shapes against 0.2.0 in the same run, whole-model "
                         "estimates, the peak memory of a 32B MLP task (hours on 2 shared cores)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="cuda: the symmetry gauge per pair and whole-model estimates at Qwen3-4B "
                         "and 32B shapes on the GPU (--backend torch --device cuda)")
    args = ap.parse_args()
    reps = 3 if args.quick else 7
    print(f"gaugetest benchmarks on {os.cpu_count()} cores, python {sys.version.split()[0]}")
    if args.device == "cuda" or args.symmetry_pair:
        if args.device == "cuda":
            bench_symmetry_pair(["4b", "32b"], device="cuda")
        else:
            bench_symmetry_pair(["1.7b", "4b"], device="cpu")
        missed = [r[0] for r in ROWS if not r[3]]
        print(f"\n{len(ROWS) - len(missed)} of {len(ROWS)} targets met" +
              (f"; missed: {', '.join(missed)}" if missed else ""))
        return
    if args.symmetry:
        bench_symmetry(args.symmetry_shapes.split(","), args.smollm2, quick=args.quick)
        missed = [r[0] for r in ROWS if not r[3]]
        print(f"\n{len(ROWS) - len(missed)} of {len(ROWS)} targets met" +
              (f"; missed: {', '.join(missed)}" if missed else ""))
        return
    if args.measure_only or args.measure_scale:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        from threadpoolctl import threadpool_limits
        import scipy.linalg  # noqa: F401  (load its BLAS before limiting it)
        sys.path.insert(0, HERE)
        from measure_scale import bench_measure_scale, bench_memory_32b
        with threadpool_limits(limits=1):
            bench_measure_scale([m for m in args.models.split(",") if m],   # "" = memory only
                                reps=2 if args.quick else 3,
                                report=report,
                                families=args.families.split(",") if args.families else None)
        if not args.skip_memory:   # issue 19: every large 32B family, both backends
            bench_memory_32b(report=report)
        if args.measure_only:
            missed = [r[0] for r in ROWS if not r[3]]
            print(f"\n{len(ROWS) - len(missed)} of {len(ROWS)} targets met" +
                  (f"; missed: {', '.join(missed)}" if missed else ""))
            return
    bench_permutation(reps)
    bench_bootstrap(max(3, reps // 2))
    import depth_model as bench_depth  # tests/benchmarks/depth_model.py (issue 13)
    bench_depth.run(max(3, reps // 2), report)
    with tempfile.TemporaryDirectory() as d:
        bench_cli(d, reps)
        if not args.skip_scaling:
            bench_scaling(d)
            bench_big_json(d)
    if args.smollm2:
        bench_measure(args.smollm2, reps)
    missed = [r[0] for r in ROWS if not r[3]]
    print(f"\n{len(ROWS) - len(missed)} of {len(ROWS)} targets met" +
          (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
