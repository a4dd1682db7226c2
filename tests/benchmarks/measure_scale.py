"""gaugetest measure at Qwen3 scale: per-pair times at 0.6B/4B/8B/32B family shapes (full
size, 32B gate_proj 25600 x 5120 included), against 0.1.0's and 0.2.0's kernels on the same
matrices, extrapolated to a full run; peak memory of one 32B pair of each large family through
the real reader; GPU times when CUDA is present.

Run through ``python tests/benchmarks/run.py --measure-only`` (or ``--measure-scale`` to add
it to the other benchmarks).  A pair's time is the sum of its measured parts (they are
independent): one layer factor (spectrum; the other layer's is shared with the previous pair),
the raw and aligned cosines, and ``--null-draws`` null draws of which one is timed.  0.1.0's
pair, as its ``--jobs`` workers ran it: two SVDs (both layers), the QR-based aligned cosine and
the same number of draws of its null.  0.2.0's pair (``kernels_0_2_0.py``, a frozen copy, and
its torch backend's CPU path, :class:`Torch020`): as the new one, with 0.2.0's null sampler (a
full m x k Gaussian draw per null draw) and syevd for every eigenvalue problem.  All run
interleaved on the same matrices.

``python tests/benchmarks/measure_scale.py --eig`` times the symmetric eigenvalue routines by
size (scipy's syevd, LAPACK's two-stage syevd, torch's) -- the measurements behind
``eigen.TWO_STAGE_MIN`` and ``TorchBackend.TORCH_EIG_MIN``.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

LAYERS = {"qwen3-0.6b": 28, "qwen3-4b": 36, "qwen3-8b": 36, "qwen3-32b": 64}


# ----------------------------------------------------------------------------- 0.1.0's kernels
# A verbatim copy of gaugetest 0.1.0's measure/procrustes.py functions (the reference).

def old_singular_values(A):
    return np.linalg.svd(A, compute_uv=False)


def old_aligned_cosine(A, B, side="cols"):
    if side == "rows":
        A, B = A.T, B.T
    out, inn = A.shape
    if inn > out:
        ra = np.linalg.qr(A.T, mode="r")
        rb = np.linalg.qr(B.T, mode="r")
        M = ra @ rb.T
    else:
        M = A.T @ B
    return float(np.linalg.svd(M, compute_uv=False).sum()) / (np.linalg.norm(A) * np.linalg.norm(B))


def old_haar_block(m, ka, kb, rng):
    from scipy.linalg import solve_triangular
    G = rng.standard_normal((m, kb))
    L = np.linalg.cholesky(G.T @ G)
    return solve_triangular(L, G[:ka].T, lower=True).T


def old_nuclear_fast(M):
    g = M.T @ M if M.shape[1] <= M.shape[0] else M @ M.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(g), 0.0, None)).sum())


def old_spectrum_null(s_a, s_b, other_dim, draws, rng):
    ka, kb = len(s_a), len(s_b)
    norm = np.linalg.norm(s_a) * np.linalg.norm(s_b)
    out = np.empty(draws)
    for d in range(draws):
        block = old_haar_block(other_dim, ka, kb, rng)
        out[d] = old_nuclear_fast((s_a[:, None] * block) * s_b[None, :]) / norm
    return out


# ----------------------------------------------------------------------------- 0.2.0's backends
# The orthogonal gauge as 0.2.0 ran it on the CPU: kernels_0_2_0 (verbatim), and its torch
# backend's CPU path (float32 cross products; factor, null and eigenvalues through 0.2.0's
# numpy kernels).

class Numpy020:
    def __init__(self):
        import kernels_0_2_0 as k
        self.k = k

    def matrix(self, x):
        return x

    def layer_factor(self, X, axis):
        return self.k.layer_factor(X, axis)

    def aligned_nuclear(self, A, B, fa, fb, axis):
        return self.k.aligned_nuclear(A, B, fa, fb, axis)

    def inner(self, A, B):
        return self.k.inner(A, B)

    def null_draws(self, s_a, s_b, other_dim, draws, rng):
        return self.k.null_draws(s_a, s_b, other_dim, draws, rng)


class Torch020(Numpy020):
    def __init__(self):
        import torch
        super().__init__()
        self.torch = torch

    def matrix(self, x):
        return self.torch.from_numpy(np.ascontiguousarray(x)).to(dtype=self.torch.float32)

    def layer_factor(self, X, axis):
        f = self.k.layer_factor(X.numpy(), axis)
        root = None if f.root is None else self.torch.from_numpy(f.root.astype(np.float32))
        return self.k.LayerFactor(f.spectrum, f.sq_norm, root)

    def _nuclear(self, M32):
        M = M32.to(self.torch.float64)
        G = M.T @ M if M.shape[1] <= M.shape[0] else M @ M.T
        s, bound = self.k.sqrt_sum_bound(self.k.eigvalsh(G.numpy()), G.shape[0])
        total = float(s.sum())
        if bound > self.k.RTOL * total:
            return float(self.torch.linalg.svdvals(M).sum().item())
        return total

    def aligned_nuclear(self, A, B, fa, fb, axis):
        if fa.root is not None and fb.root is not None:
            return self._nuclear(fa.root @ fb.root.T)
        return self._nuclear(A.T @ B if axis == 1 else A @ B.T)

    def inner(self, A, B):
        total, step = 0.0, max(1, (64 << 20) // (8 * A.shape[1]))
        for i in range(0, A.shape[0], step):
            total += float((A[i:i + step].to(self.torch.float64)
                            * B[i:i + step].to(self.torch.float64)).sum().item())
        return total


# ----------------------------------------------------------------------------- helpers

def synthetic_layer(shape, rng):
    """A weight-like matrix (decaying column scales, cond ~30), rounded to bf16 like a real
    checkpoint, stored as float32 (what the readers hand out)."""
    W = rng.standard_normal(shape, dtype=np.float32)
    W *= np.linspace(1.0, 0.03, shape[1], dtype=np.float32)[None, :]
    bits = W.view(np.uint32) & np.uint32(0xFFFF0000)
    return bits.view(np.float32)


#: The clock of the per-pair times: this process's CPU time (every computation here runs on
#: one thread).  On the shared 2-core project machine, with load averages of 15-20 from other
#: jobs, wall times of the same step varied 3x between interleaved repetitions; CPU time
#: counts only the time the step ran (cache and memory contention still show).
#: ``MEASURE_CLOCK=wall`` uses wall time instead.
CLOCK = time.perf_counter if os.environ.get("MEASURE_CLOCK") == "wall" else time.process_time


def _t(f):
    t0 = CLOCK()
    out = f()
    return CLOCK() - t0, out


def distinct_shapes(model):
    from gaugetest.shapes import preset_shapes
    shapes = preset_shapes(model)
    groups: dict = {}
    for fam, s in shapes.items():
        groups.setdefault(s, []).append(fam)
    return groups


def time_shape(shape, draws, reps, backends, rng):
    """Median seconds of each part, for 0.1.0 and each new backend, interleaved."""
    from gaugetest.measure import kernels

    A, B = synthetic_layer(shape, rng), synthetic_layer(shape, rng)
    other = shape[0]
    parts = {"0.1.0": {"svd": [], "aligned": [], "null": [], "read": []}}
    for name in backends:
        parts[name] = {"factor": [], "pair": [], "null": []}
    for _ in range(reps):
        # 0.1.0: the reader gave float64 copies; one SVD per layer, two per task
        t_read, A64 = _t(lambda: A.astype(np.float64))
        B64 = B.astype(np.float64)
        t_svd, sa = _t(lambda: old_singular_values(A64))
        sb = old_singular_values(B64)
        t_al, _ = _t(lambda: old_aligned_cosine(A64, B64))
        t_null, _ = _t(lambda: old_spectrum_null(sa, sb, other, 1, np.random.default_rng(0)))
        for k, v in (("svd", t_svd), ("aligned", t_al), ("null", t_null), ("read", t_read)):
            parts["0.1.0"][k].append(v)
        del A64, B64
        for name, be in backends.items():
            X, Y = be.matrix(A), be.matrix(B)
            fb = be.layer_factor(Y, 1)
            t_f, fa = _t(lambda: be.layer_factor(X, 1))
            t_p, _ = _t(lambda: (be.inner(X, Y), be.aligned_nuclear(X, Y, fa, fb, 1)))
            t_n, _ = _t(lambda: be.null_draws(fa.spectrum, fb.spectrum, other, 1,
                                              np.random.default_rng(0)))
            parts[name]["factor"].append(t_f)
            parts[name]["pair"].append(t_p)
            parts[name]["null"].append(t_n)
            del X, Y
    med = {n: {k: statistics.median(v) for k, v in p.items()} for n, p in parts.items()}
    old = med["0.1.0"]
    per_pair = {"0.1.0": 2 * old["svd"] + old["aligned"] + draws * old["null"] + 2 * old["read"]}
    for name in backends:
        m = med[name]
        per_pair[name] = m["factor"] + m["pair"] + draws * m["null"]
    return med, per_pair, kernels.STATS.svd_fallbacks


#: issue 19's targets: per pair and over a whole model, against 0.1.0
TARGETS = {"numpy": 2.0, "torch": 2.5}


def bench_measure_scale(models, reps, draws=8, jobs=2, report=print, with_gpu=True,
                        families=None):
    """Per-pair table, ratios against 0.1.0 and 0.2.0, extrapolated full runs.  Returns the
    rows."""
    from gaugetest.measure.backends import NumpyBackend, TorchBackend

    backends = {"0.2.0 numpy": Numpy020(), "numpy": NumpyBackend()}
    try:
        import torch
        torch.set_num_threads(1)
        backends = {"0.2.0 numpy": Numpy020(), "0.2.0 torch": Torch020(),
                    "numpy": NumpyBackend(), "torch": TorchBackend("cpu")}
        if with_gpu and torch.cuda.is_available():
            backends["cuda"] = TorchBackend("cuda")
            global CLOCK
            CLOCK = time.perf_counter      # a GPU's work is not this process's CPU time
        gpu_note = ("CUDA: " + torch.cuda.get_device_name(0)) if "cuda" in backends else \
            "no CUDA device: skipped"
    except ModuleNotFoundError:
        gpu_note = "torch not installed: torch and GPU skipped"
    new = [n for n in backends if not n.startswith("0.")]
    rng = np.random.default_rng(0)
    rows = []
    clock = "wall" if CLOCK is time.perf_counter else "CPU"
    print(f"       per-pair {clock} seconds, single-threaded, {draws} null draws; {gpu_note}")
    for model in models:
        totals = {n: 0.0 for n in ["0.1.0", *backends]}
        worst = {n: np.inf for n in new}
        for shape, fams in distinct_shapes(model).items():
            if families and not set(fams) & set(families):
                continue
            r = 1 if model in ("qwen3-8b", "qwen3-32b") else reps
            med, per_pair, _ = time_shape(shape, draws, r, backends, rng)
            n_pairs = LAYERS[model] - 1
            for n in totals:
                totals[n] += per_pair[n] * n_pairs * len(fams)
            ratio = {n: per_pair["0.1.0"] / per_pair[n] for n in backends}
            for n in new:
                worst[n] = min(worst[n], ratio[n])
            line = (f"       {model:<10} {'/'.join(f.replace('_proj', '') for f in fams):<8} "
                    f"{shape[0]:>5}x{shape[1]:<5} 0.1.0 {per_pair['0.1.0']:8.2f} s | " +
                    " | ".join(f"{n} {per_pair[n]:8.2f} s ({ratio[n]:.2f}x)" for n in backends))
            print(line, flush=True)
            print("            parts: " + "; ".join(
                f"{n}: " + ", ".join(f"{k} {v:.2f}" for k, v in med[n].items()) for n in med),
                flush=True)
            rows.append((model, fams, shape, per_pair, med))
        partial = " (measured families only)" if families else ""
        for n in new:
            ratio = totals["0.1.0"] / totals[n]
            ref = f"0.2.0 {n}"
            vs_020 = (f" ({totals[ref] / totals[n]:.2f}x vs 0.2.0 {n})" if ref in totals else "")
            report(f"{model}{partial} whole model: 0.1.0/{n}", f"{ratio:.2f}x",
                   f">= {TARGETS.get(n, 0)}x", ratio >= TARGETS.get(n, 0), vs_020)
            report(f"{model}{partial} slowest family per pair: 0.1.0/{n}", f"{worst[n]:.2f}x",
                   f">= {TARGETS.get(n, 0)}x", worst[n] >= TARGETS.get(n, 0))
        hours = {n: totals[n] / 3600 for n in totals}
        if families:
            print(f"       {model}: families {','.join(families)} only -- no full-run total")
            continue
        print(f"       {model}: extrapolated full run ({LAYERS[model] - 1} pairs x 7 families) "
              f"with --jobs {jobs} on this machine: " + ", ".join(
                  f"{n} {hours[n] / jobs:.2f} h ({hours[n]:.1f} CPU-h)" for n in hours),
              flush=True)
        if model == "qwen3-32b" and "torch" in hours:
            report("Qwen3-32B full run, torch CPU, --jobs 2, extrapolated", f"{hours['torch'] / jobs:.1f}",
                   "<= 8 h", hours["torch"] / jobs <= 8, " h")
        if model == "qwen3-32b" and "cuda" in hours:
            report("Qwen3-32B full run, one GPU, extrapolated", f"{hours['cuda']:.2f}", "<= 1 h",
                   hours["cuda"] <= 1, " h")
    return rows


# ----------------------------------------------------------------------------- memory

OLD_TASK = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from measure_scale import old_singular_values, old_aligned_cosine, old_spectrum_null
from gaugetest.measure.readers import open_checkpoint
r = open_checkpoint(sys.argv[1])
A = r.tensor("model.layers.0.mlp.gate_proj.weight")      # 0.1.0's reader: float64 copies
B = r.tensor("model.layers.1.mlp.gate_proj.weight")
sa, sb = old_singular_values(A), old_singular_values(B)
old_aligned_cosine(A, B); old_spectrum_null(sa, sb, A.shape[0], 1, np.random.default_rng(0))
"""


def _peak_rss_gib(cmd, env=None):
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True,
                         text=True, env=env).stdout
    return int(out.strip()) / 2**20, time.perf_counter() - t0


#: Qwen3-32B's large family shapes (out x in) and their tensor names in a synthetic checkpoint
MEMORY_SHAPES = {"gate_proj": ((25600, 5120), "model.layers.{i}.mlp.gate_proj.weight"),
                 "down_proj": ((5120, 25600), "model.layers.{i}.mlp.down_proj.weight"),
                 "q_proj": ((8192, 5120), "model.layers.{i}.self_attn.q_proj.weight"),
                 "o_proj": ((5120, 8192), "model.layers.{i}.self_attn.o_proj.weight")}


def bench_memory_32b(report=print, families=("gate_proj", "down_proj", "q_proj", "o_proj")):
    """Peak RSS of one 32B-shaped pair of each large family (two bf16 layers written to a
    temporary safetensors file and deleted afterwards) through ``gaugetest measure`` and the
    real reader, numpy and torch backends, 1 null draw (memory does not grow with draws); and
    0.1.0's task on the gate pair."""
    from safetensors.numpy import save_file
    import ml_dtypes

    rng = np.random.default_rng(1)
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    for fam in families:
        shape, pattern = MEMORY_SHAPES[fam]
        with tempfile.TemporaryDirectory(dir="/tmp") as d:
            path = os.path.join(d, f"{fam}32b.safetensors")
            save_file({pattern.format(i=L): synthetic_layer(shape, rng).astype(ml_dtypes.bfloat16)
                       for L in (0, 1)}, path)
            print(f"       synthetic 32B {fam} pair: {os.path.getsize(path) / 2**20:.0f} MiB bf16",
                  flush=True)
            if fam == "gate_proj":
                old, t_old = _peak_rss_gib([sys.executable, "-c", OLD_TASK, path, here], env)
                report("peak RSS, one 32B gate pair, 0.1.0 kernels (1 null draw)", f"{old:.2f}",
                       "report (issue: 4.1 GiB)", True, f" GiB, {t_old:.0f} s")
            for backend in ("numpy", "torch"):
                cmd = [sys.executable, "-m", "gaugetest", "measure", path, "-o",
                       os.path.join(d, "out"), "--null-draws", "1", "--backend", backend,
                       "--fresh"]
                try:
                    rss, t = _peak_rss_gib(cmd, env)
                except subprocess.CalledProcessError:
                    print(f"       {backend}: not available, skipped")
                    continue
                report(f"peak RSS, one 32B {fam} pair, --backend {backend}", f"{rss:.2f}",
                       "<= 3 GiB", rss <= 3, f" GiB, {t:.0f} s with 1 null draw")


# ----------------------------------------------------------------------------- eigenvalues

def bench_eig(sizes=(1024, 2048, 2560, 3072, 4096, 5120), reps=3):
    """Median seconds of the symmetric eigenvalue routines on a Gram matrix of each size,
    single-threaded and interleaved: scipy's syevd (0.2.0), LAPACK's two-stage syevd
    (``eigen.eigvalsh_two_stage``) and torch's (MKL on the CPU)."""
    import scipy.linalg as sl
    from gaugetest.measure import eigen

    routines = {"scipy syevd": lambda G: sl.eigh(G, eigvals_only=True, driver="evd",
                                                  check_finite=False)}
    if eigen.two_stage_routine() is not None:
        routines["two-stage"] = eigen.eigvalsh_two_stage
    try:
        import torch
        torch.set_num_threads(1)
        routines["torch"] = lambda G: torch.linalg.eigvalsh(torch.from_numpy(G)).numpy()
    except ModuleNotFoundError:
        pass
    rng = np.random.default_rng(0)
    for k in sizes:
        X = rng.standard_normal((k, k)) * np.linspace(1, 0.01, k)
        G = X.T @ X
        times = {n: [] for n in routines}
        for _ in range(reps):
            for n, f in routines.items():
                t, w = _t(lambda: f(G.copy()))
                times[n].append(t)
        med = {n: statistics.median(v) for n, v in times.items()}
        print(f"       k = {k:>5}: " + ", ".join(
            f"{n} {t:.2f} s ({med['scipy syevd'] / t:.2f}x)" for n, t in med.items()), flush=True)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="eigenvalue routines by size (--eig)")
    ap.add_argument("--eig", action="store_true", help="time the eigenvalue routines")
    ap.add_argument("--sizes", default="1024,2048,2560,3072,4096,5120")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from threadpoolctl import threadpool_limits
    import scipy.linalg  # noqa: F401  (load its BLAS before limiting it)
    with threadpool_limits(limits=1):
        bench_eig(tuple(int(k) for k in a.sizes.split(",")), a.reps)
