"""A float64 numpy forward pass of one Qwen3-style decoder block, written from the model
definition (Hugging Face ``Qwen3DecoderLayer``/``LlamaDecoderLayer``), independent of
gaugetest's alignment code: it is the referee of "the group is a real symmetry".

RMSNorm -> q/k/v projections -> per-head q/k RMSNorm (optional) -> RoPE -> GQA attention
with a causal mask -> o projection -> residual; RMSNorm -> SwiGLU MLP -> residual.

RoPE on one head of size hd, position t, frequency ``base^(-2i/hd)`` for pair i:

* "half" (HF ``rotate_half``): rows (i, i + hd/2) rotate together;
* "interleaved" (llama.cpp ``rope_norm``, original Meta layout): rows (2i, 2i + 1).
"""
from __future__ import annotations

import numpy as np


def rms_norm(x: np.ndarray, w: np.ndarray | None, eps: float = 1e-6) -> np.ndarray:
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y if w is None else y * w


def rope(x: np.ndarray, layout: str, base: float = 10000.0) -> np.ndarray:
    """x: (T, heads, hd) -> rotated by position t = 0..T-1."""
    T, _, hd = x.shape
    inv = base ** (-np.arange(0, hd, 2) / hd)                 # (hd/2,)
    ang = np.arange(T)[:, None] * inv[None, :]                 # (T, hd/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if layout == "half":
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x2 * c + x1 * s
    return out


def silu(x):
    return x / (1.0 + np.exp(-x))


def block_forward(x: np.ndarray, layer: dict, n_heads: int, n_kv: int, head_dim: int,
                  layout: str, norms: dict | None = None) -> np.ndarray:
    """One decoder block on hidden states x (T, d); returns (T, d).

    ``norms`` holds the residual-side RMSNorm weights ``input`` and ``post`` (vectors of
    length d); ``layer`` the seven (out, in) matrices and optional ``q_norm``/``k_norm``.
    """
    norms = norms or {}
    T = x.shape[0]
    h = rms_norm(x, norms.get("input"))
    q = (h @ layer["q_proj"].T).reshape(T, n_heads, head_dim)
    k = (h @ layer["k_proj"].T).reshape(T, n_kv, head_dim)
    v = (h @ layer["v_proj"].T).reshape(T, n_kv, head_dim)
    if layer.get("q_norm") is not None:
        q = rms_norm(q, layer["q_norm"])
    if layer.get("k_norm") is not None:
        k = rms_norm(k, layer["k_norm"])
    q, k = rope(q, layout), rope(k, layout)
    G = n_heads // n_kv
    mask = np.triu(np.full((T, T), -np.inf), 1)
    heads = []
    for hh in range(n_heads):
        g = hh // G
        s = q[:, hh] @ k[:, g].T / np.sqrt(head_dim) + mask
        s = np.exp(s - s.max(axis=1, keepdims=True))
        heads.append((s / s.sum(axis=1, keepdims=True)) @ v[:, g])
    x1 = x + np.concatenate(heads, axis=1) @ layer["o_proj"].T
    h2 = rms_norm(x1, norms.get("post"))
    mlp = (silu(h2 @ layer["gate_proj"].T) * (h2 @ layer["up_proj"].T)) @ layer["down_proj"].T
    return x1 + mlp


def llama_cpp_permute(W: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's ``convert_hf_to_gguf.py`` ``LlamaModel.permute`` of q/k rows (n_head =
    query heads for q, key/value heads for k): HF's half layout -> interleaved pairs."""
    return (W.reshape(n_head, 2, W.shape[0] // n_head // 2, *W.shape[1:])
            .swapaxes(1, 2).reshape(W.shape))


def random_block(n_heads, n_kv, head_dim, hidden, n_neurons, rng, *, q_norm=False,
                 equal_pairs=None, layout="half", scale=0.3):
    """Random block weights (scaled so activations stay O(1)) and norms.

    With ``q_norm``, q/k norm vectors are drawn so that RoPE pairs listed in ``equal_pairs``
    (indices of pairs) have equal weights on both rows and the others differ.
    """
    def mat(o, i):
        return rng.standard_normal((o, i)) * scale / np.sqrt(i)

    layer = {"q_proj": mat(n_heads * head_dim, hidden), "k_proj": mat(n_kv * head_dim, hidden),
             "v_proj": mat(n_kv * head_dim, hidden), "o_proj": mat(hidden, n_heads * head_dim),
             "gate_proj": mat(n_neurons, hidden), "up_proj": mat(n_neurons, hidden),
             "down_proj": mat(hidden, n_neurons)}
    if q_norm:
        i = np.arange(head_dim // 2)
        pairs = (np.stack([i, i + head_dim // 2], 1) if layout == "half"
                 else np.stack([2 * i, 2 * i + 1], 1))
        for key in ("q_norm", "k_norm"):
            w = rng.uniform(0.5, 1.5, head_dim)
            for p in (equal_pairs if equal_pairs is not None else []):
                w[pairs[p, 1]] = w[pairs[p, 0]]
            layer[key] = w
    norms = {"input": rng.uniform(0.5, 1.5, hidden), "post": rng.uniform(0.5, 1.5, hidden)}
    return layer, norms
