"""Weight shapes of the Qwen3 family (from each model's config.json) and the Gaussian-null
expectation of the aligned cosine at any shape (the Gaussian reference).

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


# Aligned cosine of independent Gaussian matrices in the large-size limit when the
# *smaller* side is rotated, by aspect ratio c = smaller/larger (SCIENCE.md numerics).
_SMALL_SIDE_C = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.625, 0.8, 1.0)
_SMALL_SIDE_V = (0.0, 0.19, 0.27, 0.37, 0.45, 0.51, 0.57, 0.63, 0.69, 0.75)


def gaussian_null(out: int, inn: int, side: str = "cols") -> float:
    """Large-size-limit aligned cosine of independent Gaussian (out x in) matrices.

    Rotating the larger side: ~ 1 - c/4; rotating the smaller side: interpolated from
    the tabulated values (-> (8 / 3 pi) sqrt(c) as c -> 0); square: 3/4.

    Examples
    --------
    >>> round(gaussian_null(1024, 5120), 2), round(gaussian_null(25600, 5120), 2)
    (0.95, 0.37)
    """
    import numpy as np

    rotated, other = (inn, out) if side == "cols" else (out, inn)
    c = min(out, inn) / max(out, inn)
    if rotated >= other:
        return 1 - c / 4
    if c < 0.05:
        return float(8 / (3 * np.pi) * np.sqrt(c))
    return float(np.interp(c, _SMALL_SIDE_C, _SMALL_SIDE_V))


def gaussian_null_table(name: str, side: str = "cols") -> list[dict]:
    return [{"family": f, "out": o, "in": n, "aligned_null": gaussian_null(o, n, side)}
            for f, (o, n) in preset_shapes(name).items()]
