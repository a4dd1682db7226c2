"""Compute backends: numpy (float64, the reference) and torch (float32 products, float64 sums).

A backend turns a stored matrix into its working array (``matrix``) and offers the operations
the gauges need: ``layer_factor`` (once per layer), ``aligned_nuclear``, ``inner`` and
``null_draws``.  Every backend returns numpy float64 results; the null draws of every backend
use the same numpy random numbers (drawn from the pair's seed), so files agree across backends.

The torch backend computes the large cross products in float32 (bf16 and fp16 weights are exact
in float32; the rounding errors of a product enter a nuclear norm only to first order, where
they average out: 1e-10 measured) and everything a float32 computation would amplify in
float64:

* singular values and roots (once per layer): the numpy path's algorithm in float64 (a float32
  Gram matrix costs the singular values 1e-6);
* the aligned nuclear norm: the cross product ``A^T B`` (or ``R_A R_B^T``) in float32, then its
  Gram matrix and eigenvalues in float64 (a float32 Gram matrix put 1e-6 to 3e-6 relative
  errors into nuclear norms on SmolLM2);
* the null draw, from the same numpy random numbers as the numpy backend: tall draws (m >= 4 k)
  form their Gram matrix from float32 products (condition <= 9) and solve in float32; other
  draws follow the numpy algorithm in float64 (the float32 Gram matrix of a square draw has
  condition ~k^2 and cannot be factored);
* norms and inner products accumulated in float64.

On the CPU the float64 steps (layer factors, null draws) run through numpy's kernels: torch's
float64 BLAS (MKL) was 1.7x slower than numpy's OpenBLAS on the project's AMD EPYC machine,
and its float32 products saved nothing on the null.  On a GPU everything runs in torch.
Agreement with numpy: 1e-6 on every written number (tests/test_measure_backends.py, which also
runs the device code on the CPU); the numpy backend is the reference.

The symmetry gauge asks a backend for ``symmetry_ops()``: the object that runs its heavy
products (``symmetry.NumpyOps`` for numpy; :class:`TorchSymmetryOps` on a torch device, numpy
float32 products on the CPU), see :class:`TorchSymmetryOps`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from . import kernels

BACKENDS = ("numpy", "torch")
DEVICES = ("cpu", "cuda")


class NumpyBackend:
    """The reference: float64 LAPACK through numpy/scipy (``kernels``)."""

    name = "numpy"
    device = "cpu"

    @property
    def label(self) -> str:
        return "numpy"

    def matrix(self, x: np.ndarray) -> np.ndarray:
        return x

    def layer_factor(self, X, axis: int) -> kernels.LayerFactor:
        return kernels.layer_factor(X, axis)

    def aligned_nuclear(self, A, B, fa, fb, axis: int) -> float:
        return kernels.aligned_nuclear(A, B, fa, fb, axis)

    def inner(self, A, B) -> float:
        return kernels.inner(A, B)

    def null_draws(self, s_a, s_b, other_dim, draws, rng) -> np.ndarray:
        return kernels.null_draws(s_a, s_b, other_dim, draws, rng)

    def symmetry_ops(self):
        """The symmetry gauge's heavy steps: numpy float64 (``symmetry.NumpyOps``)."""
        from .symmetry.ops import NumpyOps
        return NumpyOps()


class TorchBackend:
    """float32 products on a torch device, float64 Gram eigenvalues and sums (module docstring)."""

    name = "torch"

    def __init__(self, device: str = "cpu", native: bool = False):
        import torch

        self.torch = torch
        self.device = device
        self._dev = torch.device(device)
        # float64 steps through numpy's kernels on the CPU (faster there); ``native=True`` runs
        # the device code on the CPU too (the tests use it: CI has no GPU)
        self._numpy_f64 = device == "cpu" and not native

    @property
    def label(self) -> str:
        return f"torch {self.torch.__version__.split('+')[0]} {self.device}"

    # -- conversion
    def matrix(self, x: np.ndarray):
        t = self.torch.from_numpy(np.ascontiguousarray(x))
        return t.to(device=self._dev, dtype=self.torch.float32)

    def _f64(self, t) -> np.ndarray:
        return t.to(dtype=self.torch.float64).cpu().numpy()

    # -- float64 pieces
    #: On the CPU, symmetric eigenvalue problems at least this large go to torch's LAPACK (MKL's
    #: syevd): 1.06x faster than scipy's at k = 2048, 1.15x at 2560, 1.7x at 5120 on the project
    #: machine (CPU time, single thread), 2x slower at 1024 (tests/benchmarks/measure_scale.py
    #: --eig).
    TORCH_EIG_MIN = 2048

    def _eig_cpu(self, G: np.ndarray) -> np.ndarray:
        """Eigenvalues (ascending) of a float64 numpy matrix on the CPU (see TORCH_EIG_MIN)."""
        if G.shape[0] >= self.TORCH_EIG_MIN:
            return self.torch.linalg.eigvalsh(self.torch.from_numpy(G)).numpy()
        return kernels.eigvalsh(G)

    def _eigvalsh64(self, G64):
        """Eigenvalues of a float64 symmetric tensor: on the CPU by size (``_eig_cpu``), on a
        GPU with torch."""
        if self.device == "cpu":
            return self._eig_cpu(G64.numpy())
        return self.torch.linalg.eigvalsh(G64).cpu().numpy()

    def _nuclear(self, M32) -> float:
        if self._numpy_f64:       # the float64 Gram through numpy's BLAS (faster on the CPU)
            return kernels.nuclear_norm(M32.numpy().astype(np.float64), eig=self._eig_cpu)
        M = M32.to(self.torch.float64)
        G = M.T @ M if M.shape[1] <= M.shape[0] else M @ M.T
        s, bound = kernels.sqrt_sum_bound(self._eigvalsh64(G), G.shape[0])
        total = float(s.sum())
        if bound > kernels.RTOL * total:
            kernels.STATS.svd_fallbacks += 1
            return float(self.torch.linalg.svdvals(M).sum().item())
        return total

    def _sq_norm(self, X) -> float:
        total = 0.0
        step = max(1, (64 << 20) // (8 * X.shape[1]))
        for i in range(0, X.shape[0], step):
            b = X[i:i + step].to(self.torch.float64)
            total += float((b * b).sum().item())
        return total

    def inner(self, A, B) -> float:
        total = 0.0
        step = max(1, (64 << 20) // (8 * A.shape[1]))
        for i in range(0, A.shape[0], step):
            total += float((A[i:i + step].to(self.torch.float64)
                            * B[i:i + step].to(self.torch.float64)).sum().item())
        return total

    # -- the orthogonal gauge
    def _gram64(self, X, over: int):
        """X^T X (``over=0``) or X X^T (``over=1``) in float64, from blocks upcast on the device."""
        torch = self.torch
        n, other = X.shape[over], X.shape[1 - over]
        step = max(1, kernels.BLOCK_BYTES // (8 * other))
        G = torch.zeros((other, other), dtype=torch.float64, device=self._dev)
        for i in range(0, n, step):
            b = (X[i:i + step] if over == 0 else X[:, i:i + step]).to(torch.float64)
            G += b.T @ b if over == 0 else b @ b.T
        return G

    def layer_factor(self, X, axis: int) -> kernels.LayerFactor:
        """The numpy path's algorithm in float64 (a float32 Gram matrix would cost the singular
        values 1e-6).  On the CPU it *is* the numpy kernel: torch's float64 BLAS (MKL) was 1.7x
        slower than numpy's OpenBLAS on this AMD EPYC machine."""
        torch = self.torch
        if self._numpy_f64:
            f = kernels.layer_factor(X.numpy(), axis, eig=self._eig_cpu)
            root = None if f.root is None else torch.from_numpy(f.root.astype(np.float32))
            return kernels.LayerFactor(f.spectrum, f.sq_norm, root)
        kernels.STATS.layer_factors += 1
        Xo = X if axis == 1 else X.T
        other, rot = Xo.shape
        G = self._gram64(Xo, 0 if rot < other else 1)           # the smaller Gram matrix
        lam = self._eigvalsh64(G.clone())
        s, bound = kernels.sqrt_sum_bound(lam, G.shape[0])
        if bound > kernels.RTOL * s.sum():
            kernels.STATS.svd_fallbacks += 1
            s = torch.linalg.svdvals(X.to(torch.float64)).cpu().numpy()
        root = None
        if rot >= other:
            if lam[0] > kernels.ROOT_MIN_RATIO * lam[-1]:
                L, info = torch.linalg.cholesky_ex(G)
                if int(info) == 0:
                    root = L.T
            if root is None:
                kernels.STATS.qr_roots += 1
                root = torch.linalg.qr(Xo.T.to(torch.float64), mode="r").R
            root = root.to(torch.float32)                         # for the pair's product
        return kernels.LayerFactor(s, self._sq_norm(X), root)

    def aligned_nuclear(self, A, B, fa, fb, axis: int) -> float:
        if self._numpy_f64:
            # the float32 cross product through numpy's OpenBLAS sgemm: 1.3x faster than
            # torch's on this machine (CPU tensors share their memory with numpy)
            if fa.root is not None and fb.root is not None:
                return self._nuclear_np(fa.root.numpy() @ fb.root.numpy().T)
            a, b = A.numpy(), B.numpy()
            return self._nuclear_np(a.T @ b if axis == 1 else a @ b.T)
        if fa.root is not None and fb.root is not None:
            return self._nuclear(fa.root @ fb.root.T)
        return self._nuclear(A.T @ B if axis == 1 else A @ B.T)

    def _nuclear_np(self, M32: np.ndarray) -> float:
        return kernels.nuclear_norm(M32.astype(np.float64), eig=self._eig_cpu)

    def _haar_block(self, m: int, ka: int, kb: int, rng):
        """``haar.haar_block`` on the device in float64, from the same numpy random numbers."""
        from .haar import HaarDraw, draw_haar, gaussian_blocks, householder_reflectors, \
            sampler_kind
        torch = self.torch
        kind = sampler_kind(m, ka, kb)
        W = None
        if kind == "gram":          # 0.1.0's draw, its Gram matrix accumulated on the device
            G1 = torch.empty((ka, kb), dtype=torch.float64, device=self._dev)
            W = torch.zeros((kb, kb), dtype=torch.float64, device=self._dev)
            for i, g in gaussian_blocks(m, kb, rng):
                g = torch.from_numpy(g).to(self._dev)
                if i < ka:
                    G1[i:min(ka, i + len(g))] = g[:ka - i]
                W += g.T @ g
        else:
            d = draw_haar(m, ka, kb, rng)
            if d.kind == "bartlett":
                U = torch.from_numpy(np.ascontiguousarray(d.root)).to(self._dev)
                G1 = torch.from_numpy(np.ascontiguousarray(d.head)).to(self._dev)
                W = U @ U.T + G1.T @ G1
        if W is not None:
            L, info = torch.linalg.cholesky_ex(W)                      # W = L L^T, R = L^T
            if int(info) == 0:
                return torch.linalg.solve_triangular(L.T, G1, upper=True, left=False)
            kernels.STATS.cholesky_fallbacks += 1    # as numpy: a Householder draw instead
            V, tau, signs = householder_reflectors(m, kb, rng)
            d = HaarDraw("householder", m, ka, kb, V, tau=tau, signs=signs)
        V = torch.from_numpy(np.ascontiguousarray(d.head)).to(self._dev)
        Q = torch.linalg.householder_product(V, torch.from_numpy(d.tau).to(self._dev))
        return Q[:ka] * torch.from_numpy(d.signs).to(self._dev)[None, :]

    def null_draws(self, s_a, s_b, other_dim, draws, rng) -> np.ndarray:
        if self._numpy_f64:
            # numpy's kernel with the Haar block in float32 through scipy's LAPACK (1.3-2x
            # faster than float64 here, and than torch's float32 on the CPU; ~3e-9 on a null
            # value), its nuclear norm in float64 with the eigenvalues of large Gram matrices
            # from torch (``_eig_cpu``)
            return kernels.null_draws(s_a, s_b, other_dim, draws, rng, eig=self._eig_cpu,
                                      haar_dtype=np.float32)
        torch = self.torch
        ka, kb = len(s_a), len(s_b)
        norm = np.linalg.norm(s_a) * np.linalg.norm(s_b)
        sa = torch.from_numpy(np.ascontiguousarray(s_a, np.float64)).to(self._dev)
        sb = torch.from_numpy(np.ascontiguousarray(s_b, np.float64)).to(self._dev)
        out = np.empty(draws)
        for d in range(draws):
            block = self._haar_block(other_dim, ka, kb, rng)
            out[d] = self._nuclear((sa[:, None] * block) * sb[None, :]) / norm
        return out

    def symmetry_ops(self):
        """The symmetry gauge's heavy steps on this backend: :class:`TorchSymmetryOps` on a
        device (and with ``native=True``); on the CPU, float32 products through numpy's
        OpenBLAS sgemm (``symmetry.NumpyOps(np.float32)``, with the same float64 refinement):
        whole alignments 1.03-1.12x faster than with torch's CPU sgemm at SmolLM2 and Qwen3-0.6B
        shapes on this machine, as the float64 steps go through numpy
        (tests/benchmarks/symmetry.py --backends)."""
        if self._numpy_f64:
            return torch_cpu_symmetry_ops()
        return TorchSymmetryOps(self)


def torch_cpu_symmetry_ops():
    """``--backend torch --device cpu``: numpy float32 products (``NumpyOps(np.float32)``)
    except the sparse MLP solver's similarity stream of bfloat16-stored features, which runs in
    torch with bfloat16 products where the CPU has native bfloat16 (2.3x numpy's sgemm on the
    project machine's AVX512-BF16 cores, tests/benchmarks/symmetry.py); other features stream
    in numpy float32 (bfloat16 products of non-bfloat16 inputs need bounds loose enough that
    the certificate must price most pairs)."""
    from .symmetry.ops import NumpyOps
    from .symmetry.stream_torch import bf16_supported, stream_product, torch_stream

    class TorchCpuOps(NumpyOps):
        def mlp_stream(self, xs, ys, weights, k):
            if bf16_supported("cpu") and stream_product(xs, ys, "bfloat16") == "bfloat16":
                return torch_stream(xs, ys, weights, k, device="cpu", product="bfloat16")
            return super().mlp_stream(xs, ys, weights, k)

    return TorchCpuOps(np.float32)


class TorchSymmetryOps:
    """The symmetry gauge's heavy steps with torch (``symmetry.NumpyOps``'s interface).

    * The two products that only *choose* the element -- the MLP similarity (n^2 x 3d) and
      the attention cross terms (head-by-head blocks) -- in float32 on the device. The MLP
      choice is a permutation, equal to the float64 one unless two assignments tie to within
      float32 rounding; M and the RoPE angles are recomputed in float64 from the matched
      blocks (``symmetry.refine_attention``: ``exact`` is False), and every cosine is computed
      in float64 from the element, as with numpy.
    * The null's float64 steps (the Haar rotation's QR, rotating layer L+1's residual side)
      and the sparse solver's float64 similarity stream, on the device in float64. The Haar
      draw uses numpy's random numbers, so both backends rotate by the same H (to rounding).

    On the CPU ``TorchBackend.symmetry_ops`` uses numpy's float32 products instead (faster
    there); this class is what ``--device cuda`` runs, tested on the CPU with ``native=True``.
    """

    exact = False

    def __init__(self, backend: TorchBackend, product: str | None = None):
        from .symmetry.stream_torch import bf16_supported
        self.b = backend
        self.torch = backend.torch
        self.dev = backend._dev
        # bfloat16 products for bfloat16-stored features where the device is fast at them
        self.product = product or ("bfloat16" if bf16_supported(backend.device) else "float32")

    def _t32(self, x):
        return self.torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.dev)

    def _t64(self, x):
        return self.torch.from_numpy(np.ascontiguousarray(x, np.float64)).to(self.dev)

    def mlp_similarity(self, A: dict, B: dict) -> np.ndarray:
        """The dense similarity as float64 on the host, filled block by block from float32
        device products (no float32 n x n matrix and float64 copy of it)."""
        from .symmetry.mlp import _mlp_features
        feats = [(a, self._t32(b).T, float(w)) for a, b, w in _mlp_features(A, B)]
        n = feats[0][0].shape[0]
        S = np.empty((n, n))
        step = max(1, (64 << 20) // (4 * n))
        for i0 in range(0, n, step):
            blk = None
            for a, bt, w in feats:
                part = (self._t32(a[i0:i0 + step]) * w) @ bt
                blk = part if blk is None else blk.add_(part)
            S[i0:i0 + step] = blk.cpu().numpy()
        return S

    def attention_cross_terms(self, A: dict, B: dict, arch, weights: dict | None = None):
        from .symmetry.attention import AttentionCross
        from .symmetry.numerics import _norm64
        torch = self.torch
        nh, nkv, hd, npairs = arch.n_heads, arch.n_kv_heads, arch.head_dim, arch.n_pairs
        pairs = torch.from_numpy(arch.rope_pairs()).to(self.dev)

        def w(f):
            return weights[f] if weights is not None else 1.0 / (_norm64(A[f]) * _norm64(B[f]))

        def pair_rows(W, n):     # (pairs, n*2, d), as symmetry._pair_rows
            d = W.shape[1]
            return W.reshape(n, hd, d)[:, pairs, :].transpose(0, 1).reshape(npairs, n * 2, d)

        def host(t):
            return t.cpu().numpy().astype(np.float64)

        has = {f: f in A and f in B for f in ("q_proj", "k_proj", "v_proj", "o_proj")}
        v = o = q = k = None
        if has["v_proj"]:
            full = (self._t32(B["v_proj"]) * w("v_proj")) @ self._t32(A["v_proj"]).T
            v = host(full).reshape(nkv, hd, nkv, hd).transpose(2, 0, 1, 3)
        if has["o_proj"]:
            full = (self._t32(A["o_proj"]).T * w("o_proj")) @ self._t32(B["o_proj"])
            o = host(full).reshape(nh, hd, nh, hd)
        if has["q_proj"]:
            qa, qb = pair_rows(self._t32(A["q_proj"]), nh), pair_rows(self._t32(B["q_proj"]), nh)
            q = host(torch.matmul(qb * w("q_proj"), qa.transpose(1, 2))).reshape(
                npairs, nh, 2, nh, 2)
        if has["k_proj"]:
            ka, kb = pair_rows(self._t32(A["k_proj"]), nkv), pair_rows(self._t32(B["k_proj"]), nkv)
            k = host(torch.matmul(kb * w("k_proj"), ka.transpose(1, 2))).reshape(
                npairs, nkv, 2, nkv, 2)
        return AttentionCross(v, o, q, k)

    def mlp_stream(self, xs: list, ys: list, weights: list, k: int):
        """The sparse MLP solver's similarity stream on the device (``stream_torch``): bfloat16
        products where they are fast (CUDA, CPUs with native bfloat16), float32 otherwise."""
        from .symmetry.stream_torch import stream_product, torch_stream
        return torch_stream(xs, ys, weights, k, device=str(self.dev),
                            product=stream_product(xs, ys, self.product))

    def rotate_rows(self, x: np.ndarray, H, out=None) -> np.ndarray:
        """``x @ H^T`` (the null's rotation of neuron features) in float64 on the device, stored
        in float32 (``mlpblock.rotate_rows``, ``mlpblock.rotated_dtype``; ``out`` may be ``x``)."""
        from .symmetry.mlpblock import rotated_dtype
        from .symmetry.stream_torch import to_device
        torch = self.torch
        Ht = (H if isinstance(H, torch.Tensor) else self._t64(H)).to(torch.float64).T
        out = np.empty(x.shape, rotated_dtype(x)) if out is None else out
        step = max(1, (64 << 20) // (8 * x.shape[1]))
        for i in range(0, x.shape[0], step):
            r = to_device(x[i:i + step], torch.float64, self.dev) @ Ht
            out[i:i + step] = r.cpu().numpy()
        return out

    def haar(self, n: int, rng: np.random.Generator):
        q, r = self.torch.linalg.qr(self._t64(rng.standard_normal((n, n))))
        return q * self.torch.sign(self.torch.diagonal(r))   # Haar (Mezzadri 2007), on device

    def rotate_residual(self, layer: dict, H) -> dict:
        from .symmetry.group import RESIDUAL_INPUT, RESIDUAL_OUTPUT
        out = dict(layer)
        for f in RESIDUAL_INPUT:
            if f in layer:
                out[f] = (self._t64(layer[f]) @ H).cpu().numpy()
        for f in RESIDUAL_OUTPUT:
            if f in layer:
                out[f] = (H.T @ self._t64(layer[f])).cpu().numpy()
        return out


@dataclass(frozen=True)
class BackendSpec:
    """A backend by name (picklable: workers build their own)."""

    name: str = "numpy"
    device: str = "cpu"

    @property
    def label(self) -> str:
        """How the output files name the backend (``numpy``, ``torch 2.13.0 cpu``)."""
        if self.name == "numpy":
            return "numpy"
        import torch
        return f"torch {torch.__version__.split('+')[0]} {self.device}"

    def create(self):
        if self.name == "numpy":
            return NumpyBackend()
        return TorchBackend(self.device)


def check_backend(name: str, device: str) -> BackendSpec:
    """Validate ``--backend`` / ``--device`` before any work: a clear exit-2 error when torch or
    CUDA is missing."""
    if name not in BACKENDS:
        raise UsageError("--backend", " or ".join(BACKENDS), name)
    if device not in DEVICES:
        raise UsageError("--device", " or ".join(DEVICES), device)
    if name == "numpy":
        if device != "cpu":
            raise UsageError("--device", "cpu with --backend numpy (use --backend torch for "
                             "cuda)", device)
        return BackendSpec("numpy", "cpu")
    try:
        import torch
    except ModuleNotFoundError:
        raise UsageError("--backend", "torch installed for --backend torch (pip install "
                         "'gaugetest[torch]'; docs/measure.md shows how to get a CPU-only "
                         "build)", name) from None
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device", "a CUDA device visible to torch (torch.cuda.is_available() "
                         "is False here; use --device cpu)", device)
    return BackendSpec("torch", device)
