"""Attention geometry of a checkpoint: head counts, head size, RoPE pair layout, q/k norms.

The symmetry gauge (the ``symmetry`` package) needs to know how the rows of q_proj/k_proj/v_proj
split into heads and how RoPE pairs the rows of a head. This module reads that from the
checkpoint itself:

* Hugging Face directories: ``config.json`` beside the safetensors (``num_attention_heads``,
  ``num_key_value_heads``, ``head_dim`` or ``hidden_size / num_attention_heads``).
  RoPE pairs rows ``(i, i + head_dim/2)`` of every head ("half", the ``rotate_half`` layout).
* GGUF files: ``{arch}.attention.head_count``, ``.head_count_kv``, ``.key_length``. The
  pair layout follows llama.cpp's rope type of the architecture (``llama_model_rope_type``
  in llama.cpp): "normal" RoPE archs such as ``llama`` rotate consecutive rows ``(2i, 2i+1)``
  ("interleaved": llama.cpp's converter permutes their q/k rows into that order), "neox" archs
  such as ``qwen2``/``qwen3`` keep the Hugging Face order ("half").

``--heads Q,KV`` overrides the counts; anything that cannot be determined is an
:class:`~gaugetest.errors.InputError` naming the file and the field (exit 2, one line).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, UsageError

ROPE_LAYOUTS = ("half", "interleaved")

# llama.cpp's llama_model_rope_type(): LLAMA_ROPE_TYPE_NORM -> consecutive pairs,
# LLAMA_ROPE_TYPE_NEOX -> pairs offset by n_rot/2. Only dense archs whose attention is
# q/k/v/o projections with standard RoPE are listed; others need an explicit layout.
GGUF_ROPE_LAYOUT = {
    **{a: "interleaved" for a in ("llama", "baichuan", "granite", "internlm2", "minicpm",
                                  "olmo", "xverse", "command-r")},
    **{a: "half" for a in ("qwen", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "olmo2", "gemma",
                           "gemma2", "gemma3", "stablelm", "starcoder2", "nemotron", "exaone",
                           "smollm3")},
}

HF_NORM_PATTERNS = {"q_norm": "model.layers.{i}.self_attn.q_norm.weight",
                    "k_norm": "model.layers.{i}.self_attn.k_norm.weight"}
GGUF_NORM_PATTERNS = {"q_norm": "blk.{i}.attn_q_norm.weight",
                      "k_norm": "blk.{i}.attn_k_norm.weight"}


@dataclass(frozen=True)
class Architecture:
    """How the attention rows of one layer split into heads and RoPE pairs.

    Parameters
    ----------
    n_heads, n_kv_heads : int
        Query heads and key/value heads (GQA: ``n_heads`` is a multiple of ``n_kv_heads``).
    head_dim : int
        Rows per head (even: RoPE rotates pairs of rows).
    rope_layout : {"half", "interleaved"}
        Which rows of a head RoPE rotates together: ``(i, i + head_dim/2)`` ("half", Hugging
        Face and qwen2/qwen3 GGUF) or ``(2i, 2i + 1)`` ("interleaved", llama GGUF).
    norm_patterns : mapping, optional
        Tensor-name patterns (with ``{i}``) of the per-head ``q_norm``/``k_norm`` weight
        vectors, for models that have them (Qwen3). Empty: no q/k norms.
    source : str
        Where the numbers came from (for messages and metadata).

    Examples
    --------
    >>> arch = Architecture(n_heads=4, n_kv_heads=2, head_dim=8)
    >>> arch.group_size, arch.rope_pairs().tolist()
    (2, [[0, 4], [1, 5], [2, 6], [3, 7]])
    >>> Architecture(4, 2, 8, "interleaved").rope_pairs()[:2].tolist()
    [[0, 1], [2, 3]]
    """

    n_heads: int
    n_kv_heads: int
    head_dim: int
    rope_layout: str = "half"
    norm_patterns: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        for name in ("n_heads", "n_kv_heads", "head_dim"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                             f"({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {self.head_dim}")
        if self.rope_layout not in ROPE_LAYOUTS:
            raise ValueError(f"rope_layout must be one of {ROPE_LAYOUTS}, got {self.rope_layout!r}")

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.n_heads // self.n_kv_heads

    @property
    def n_pairs(self) -> int:
        return self.head_dim // 2

    def rope_pairs(self) -> np.ndarray:
        """(head_dim/2, 2) row indices, within one head, that RoPE rotates together."""
        i = np.arange(self.head_dim // 2)
        if self.rope_layout == "half":
            return np.stack([i, i + self.head_dim // 2], axis=1)
        return np.stack([2 * i, 2 * i + 1], axis=1)


def parse_heads(text: str) -> tuple[int, int]:
    """``"Q,KV"`` -> (Q, KV), both positive, Q a multiple of KV (the ``--heads`` option).

    Examples
    --------
    >>> parse_heads("32,8")
    (32, 8)
    """
    parts = str(text).split(",")
    try:
        q, kv = (int(p) for p in parts)
    except ValueError:
        raise UsageError("--heads", "Q,KV: two positive integers (query heads, key/value heads)",
                         text) from None
    if q < 1 or kv < 1 or q % kv:
        raise UsageError("--heads", "Q,KV with Q and KV positive and Q a multiple of KV", text)
    return q, kv


def _is_gguf(reader) -> bool:
    return hasattr(reader, "metadata")


def _config_path(path: str) -> str:
    d = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return os.path.join(d, "config.json")


def _hf_counts(path: str):
    """(n_heads, n_kv, head_dim or None, hidden or None, source) from config.json, or None."""
    cfg_path = _config_path(path)
    if not os.path.isfile(cfg_path):
        return None
    try:
        with open(cfg_path) as fh:
            cfg = json.load(fh)
    except ValueError:
        raise InputError(cfg_path, "$", "a JSON object", "invalid JSON") from None
    if not isinstance(cfg, dict):
        raise InputError(cfg_path, "$", "a JSON object")
    cfg = cfg.get("text_config", cfg) if "num_attention_heads" not in cfg else cfg

    def pos_int(key, required=True):
        v = cfg.get(key)
        if v is None and not required:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(cfg_path, key, "a positive integer (or give --heads Q,KV)",
                             "missing" if v is None else repr(v))
        return v

    prf = cfg.get("partial_rotary_factor", 1.0)
    if prf not in (None, 1, 1.0):
        raise InputError(cfg_path, "partial_rotary_factor", "1 (RoPE on every head dimension; "
                         "partial rotary is not supported by the symmetry gauge)", repr(prf))
    nh = pos_int("num_attention_heads")
    nkv = pos_int("num_key_value_heads", required=False) or nh
    return nh, nkv, pos_int("head_dim", required=False), pos_int("hidden_size", False), cfg_path


def _gguf_counts(reader):
    arch = reader.metadata("general.architecture")
    if not isinstance(arch, str):
        raise InputError(reader.path, "general.architecture", "a string", repr(arch))

    def val(key):
        v = reader.metadata(f"{arch}.{key}")
        if isinstance(v, list):  # per-layer lists: the symmetry gauge needs one value
            if v and all(x == v[0] for x in v):
                return v[0]
            raise InputError(reader.path, f"{arch}.{key}", "one value for every layer",
                             f"a list {v[:4]}")
        return v

    nh, nkv = val("attention.head_count"), val("attention.head_count_kv")
    return arch, nh, (nkv or nh) if nh else None, val("attention.key_length"), \
        val("embedding_length"), val("rope.dimension_count")


def read_architecture(reader, layout, *, heads: tuple[int, int] | None = None,
                      rope_layout: str | None = None) -> Architecture:
    """The attention geometry of a checkpoint opened with ``open_checkpoint``.

    Parameters
    ----------
    reader : SafetensorsReader or GGUFReader
    layout : readers.Layout
        The family -> tensor-name patterns (``detect_layout``); q_proj is used to check
        (and, with ``heads``, to infer) the head size.
    heads : (int, int), optional
        ``--heads Q,KV``: overrides the counts from the file.
    rope_layout : {"half", "interleaved"}, optional
        Overrides the pair layout decided from the file.

    Returns
    -------
    Architecture

    Raises
    ------
    InputError
        Counts missing or inconsistent with the tensor shapes; unknown GGUF architecture
        without ``rope_layout``.

    Notes
    -----
    On SmolLM2-135M's GGUF (llama architecture)::

        r = open_checkpoint("SmolLM2-135M-Instruct.Q4_1.gguf")
        read_architecture(r, detect_layout(r))
        # Architecture(n_heads=9, n_kv_heads=3, head_dim=64, rope_layout='interleaved', ...)
    """
    path = reader.path
    names = set(reader.names())
    head_dim = hidden = None
    if _is_gguf(reader):
        arch_name, nh, nkv, head_dim, hidden, rot = _gguf_counts(reader)
        src = f"{path}: {arch_name}.attention.head_count/head_count_kv"
        norm_patterns = GGUF_NORM_PATTERNS
        decided = GGUF_ROPE_LAYOUT.get(arch_name)
        if rope_layout is None and decided is None:
            raise InputError(path, "general.architecture", "an architecture with a known RoPE "
                             f"pair layout ({', '.join(sorted(GGUF_ROPE_LAYOUT))})",
                             repr(arch_name))
        if nh is None and heads is None:
            raise InputError(path, f"{arch_name}.attention.head_count",
                             "the number of attention heads (or give --heads Q,KV)", "missing")
    else:
        counts = _hf_counts(path)
        if counts is None and heads is None:
            raise InputError(_config_path(path), "$", "a config.json with num_attention_heads "
                             "beside the weights (or give --heads Q,KV)", "no such file")
        nh = nkv = rot = None
        src = ""
        if counts is not None:
            nh, nkv, head_dim, hidden, src = counts
        norm_patterns = HF_NORM_PATTERNS
        decided = "half"
    if heads is not None:
        nh, nkv = heads
        src = "--heads"
    layout_ = rope_layout or decided
    if layout_ not in ROPE_LAYOUTS:
        raise UsageError("--rope-layout", " or ".join(ROPE_LAYOUTS), layout_)

    q_name = layout.name("q_proj", 0) if "q_proj" in layout.patterns else None
    q_rows = reader.shape(q_name)[0] if q_name else None
    if head_dim is None or heads is not None and q_rows and q_rows != nh * head_dim:
        if q_rows:
            head_dim = q_rows // nh if q_rows % nh == 0 else None
        elif hidden:
            head_dim = hidden // nh if hidden % nh == 0 else None
    if not head_dim:
        raise InputError(q_name and path or path, q_name or "head_dim",
                         f"q_proj rows divisible by {nh} heads", f"{q_rows} rows")
    if rot not in (None, head_dim):
        raise InputError(path, "rope.dimension_count", f"{head_dim} (RoPE on every head "
                         "dimension; partial rotary is not supported by the symmetry gauge)",
                         repr(rot))
    checks = {"q_proj": (0, nh * head_dim), "k_proj": (0, nkv * head_dim),
              "v_proj": (0, nkv * head_dim), "o_proj": (1, nh * head_dim)}
    for fam, (axis, want) in checks.items():
        if fam in layout.patterns:
            got = reader.shape(layout.name(fam, 0))
            if len(got) != 2 or got[axis] != want:
                side = "rows" if axis == 0 else "columns"
                raise InputError(path, layout.name(fam, 0),
                                 f"{want} {side} for {nh} query / {nkv} key-value heads of size "
                                 f"{head_dim} ({src or 'heads'})", f"shape {list(got)}")
    present = {k: p for k, p in norm_patterns.items() if p.format(i=0) in names}
    for k, p in present.items():
        if reader.shape(p.format(i=0)) != (head_dim,):
            raise InputError(path, p.format(i=0), f"a vector of length {head_dim}",
                             f"shape {list(reader.shape(p.format(i=0)))}")
        for i in range(1, layout.num_layers):       # the gauge reads it in every layer
            if p.format(i=i) not in names:
                raise InputError(path, p.format(i=i), f"a {k} vector in every layer like "
                                 "layer 0", "missing")
    try:
        return Architecture(int(nh), int(nkv), int(head_dim), layout_, present, src)
    except ValueError as exc:
        raise InputError(path, "attention heads", "a consistent head geometry", str(exc)) from None


def load_layer(reader, layout, arch: Architecture, i: int) -> dict[str, np.ndarray]:
    """Layer ``i``'s matrices (every family of ``layout``) and its q/k norm vectors.

    This is everything the symmetry gauge reads from a checkpoint per layer: the seven
    (out, in) float64 matrices and, when the model has them, ``q_norm``/``k_norm``.
    """
    out = {f: reader.tensor(layout.name(f, i)) for f in layout.patterns}
    for k, p in arch.norm_patterns.items():
        name = p.format(i=i)
        out[k] = np.asarray(reader.tensor(name), dtype=np.float64).reshape(-1)
    return out
