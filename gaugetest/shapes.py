"""Weight shapes of the Qwen3 family (from each model's config.json) and the Gaussian-null
expectation of the aligned cosine at those shapes.

Shapes are (out, in) in the Hugging Face layout: q_proj (heads x head_dim, hidden),
k/v_proj (kv_heads x head_dim, hidden), o_proj (hidden, heads x head_dim),
gate/up_proj (intermediate, hidden), down_proj (hidden, intermediate).
"""
from __future__ import annotations

# hidden, intermediate, attention heads, kv heads, head_dim  (config.json of each model).
# Checked against published config.json copies: 0.6B (1024/3072/16/8), 4B (2560/9728/32/8),
# 8B (4096/12288/32/8), 32B (5120/25600/64/8; also SCIENCE.md's shapes). 1.7B and 14B are
# not checked against a file here (the values are Qwen3's published sizes as we know them).
_CONFIGS = {
    "qwen3-0.6b": (1024, 3072, 16, 8, 128),
    "qwen3-1.7b": (2048, 6144, 16, 8, 128),
    "qwen3-4b": (2560, 9728, 32, 8, 128),
    "qwen3-8b": (4096, 12288, 32, 8, 128),
    "qwen3-14b": (5120, 17408, 40, 8, 128),
    "qwen3-32b": (5120, 25600, 64, 8, 128),
}
SHAPE_PRESETS = tuple(_CONFIGS)


def preset_shapes(name: str) -> dict[str, tuple[int, int]]:
    """(out, in) per family for a Qwen3 preset.

    Examples
    --------
    >>> preset_shapes("qwen3-32b")["down_proj"]
    (5120, 25600)
    """
    h, i, nh, nkv, hd = _CONFIGS[name]
    return {"q_proj": (nh * hd, h), "k_proj": (nkv * hd, h), "v_proj": (nkv * hd, h),
            "o_proj": (h, nh * hd), "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}


def gaussian_null_table(name: str, side: str = "cols") -> list[dict]:
    from .measure.procrustes import gaussian_null

    return [{"family": f, "out": o, "in": n, "aligned_null": gaussian_null(o, n, side)}
            for f, (o, n) in preset_shapes(name).items()]
