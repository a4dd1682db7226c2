"""Checkpoint readers: safetensors and GGUF, memory-mapped, never pickle.

Both return float64 matrices in the Hugging Face layout (out x in).  bf16 is
converted exactly (its 16 bits are the high half of a float32).  Tensor names
map to the seven families through patterns with ``{i}`` for the layer index.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .checks import check_finite, check_index, check_safetensors_header, layer_count

HF_PATTERNS = {
    "q_proj": "model.layers.{i}.self_attn.q_proj.weight",
    "k_proj": "model.layers.{i}.self_attn.k_proj.weight",
    "v_proj": "model.layers.{i}.self_attn.v_proj.weight",
    "o_proj": "model.layers.{i}.self_attn.o_proj.weight",
    "gate_proj": "model.layers.{i}.mlp.gate_proj.weight",
    "up_proj": "model.layers.{i}.mlp.up_proj.weight",
    "down_proj": "model.layers.{i}.mlp.down_proj.weight",
}
GGUF_PATTERNS = {
    "q_proj": "blk.{i}.attn_q.weight",
    "k_proj": "blk.{i}.attn_k.weight",
    "v_proj": "blk.{i}.attn_v.weight",
    "o_proj": "blk.{i}.attn_output.weight",
    "gate_proj": "blk.{i}.ffn_gate.weight",
    "up_proj": "blk.{i}.ffn_up.weight",
    "down_proj": "blk.{i}.ffn_down.weight",
}

_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """Exact bf16 -> float32: the 16 stored bits are the high half of the float32."""
    wide = bits.astype(np.uint32)
    wide <<= 16                       # in place: one 4-byte copy, no second temporary
    return wide.view(np.float32)


def _read_bf16_widened(path: str, offset: int, count: int, name: str,
                       block: int = 8 << 20) -> np.ndarray:
    """``count`` bf16 values at byte ``offset`` of ``path`` as the bits of float32 (uint32),
    read ``block`` values at a time with ``pread`` (exact: bf16 is the high half of float32)."""
    out = np.empty(count, np.uint32)
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(0, count, block):
            n = min(block, count - i)
            buf = os.pread(fd, 2 * n, offset + 2 * i)
            if len(buf) != 2 * n:
                raise InputError(path, name, f"{2 * count} bytes of data",
                                 f"the file ends {2 * (count - i) - len(buf)} bytes early")
            seg = out[i:i + n]
            seg[...] = np.frombuffer(buf, np.uint16)
            seg <<= 16
    finally:
        os.close(fd)
    return out


class SafetensorsReader:
    """Reads one or several ``.safetensors`` files by parsing their JSON headers and
    memory-mapping the data (no pickle, no full load)."""

    def __init__(self, path: str):
        self.path = path
        files, weight_map = self._files(path)
        self.files = list(files)
        self._index: dict[str, tuple[np.memmap, dict, int]] = {}
        names_by_file = {}
        for f in files:
            mm, header, start = self._open(f)
            names_by_file[os.path.basename(f)] = set(header) - {"__metadata__"}
            for name, info in header.items():
                if name != "__metadata__":
                    self._index[name] = (mm, info, start, f)
        if weight_map is not None:
            check_index(os.path.join(path, "model.safetensors.index.json"), weight_map,
                        names_by_file)
        if not self._index:
            raise InputError(path, "$", "safetensors files with tensors", "no tensors")

    @staticmethod
    def _files(path: str) -> tuple[list[str], dict | None]:
        """The files to read, and the index's weight map when there is one."""
        if os.path.isfile(path):
            return [path], None
        idx = os.path.join(path, "model.safetensors.index.json")
        if os.path.isfile(idx):
            try:
                with open(idx) as fh:
                    wm = json.load(fh)["weight_map"]
            except (ValueError, KeyError, TypeError):
                raise InputError(idx, "weight_map", "a safetensors index with a weight_map") from None
            if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
                raise InputError(idx, "weight_map", "an object tensor name -> shard file name")
            files = sorted(set(wm.values()))
            missing = [f for f in files if not os.path.isfile(os.path.join(path, f))]
            if missing:
                raise InputError(idx, "weight_map", "shard files that exist", f"missing {missing[0]}")
            return [os.path.join(path, f) for f in files], wm
        files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
        if not files:
            raise InputError(path, "$", "a .safetensors file or a directory with one", "none found")
        return [os.path.join(path, f) for f in files], None

    @staticmethod
    def _open(f: str):
        size = os.path.getsize(f)
        with open(f, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise InputError(f, "$", "a safetensors file", "too short")
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                raise InputError(f, "$", "a safetensors header", "a bad header length")
            if n > size - 8:
                raise InputError(f, "$", f"a safetensors header of {n} bytes after the first 8",
                                 f"a file of {size} bytes: truncated")
            try:
                header = json.loads(fh.read(n))
            except ValueError:
                raise InputError(f, "$", "a safetensors JSON header", "invalid JSON") from None
        check_safetensors_header(f, header, size, 8 + n)
        mm = np.memmap(f, dtype=np.uint8, mode="r")
        return mm, header, 8 + n

    def names(self) -> list[str]:
        return list(self._index)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._index[name][1]["shape"])

    def tensor(self, name: str) -> np.ndarray:
        mm, info, start, f = self._index[name]
        dt = info.get("dtype")
        if dt not in _ST_DTYPES:
            raise InputError(f, f"{name}.dtype", "F64, F32, F16 or BF16", repr(dt))
        b, e = info["data_offsets"]
        raw = np.asarray(mm[start + b:start + e]).view(_ST_DTYPES[dt]).reshape(info["shape"])
        if dt == "BF16":
            raw = bf16_to_float32(raw)
        return check_finite(raw.astype(np.float64), f, name)

    def matrix(self, name: str) -> np.ndarray:
        """The tensor in the narrowest float type that holds it exactly (float32 for BF16, F16
        and F32; float64 for F64), read with ``pread`` rather than the memory map so that no
        file pages stay resident in the process."""
        mm, info, start, f = self._index[name]
        dt = info.get("dtype")
        if dt not in _ST_DTYPES:
            raise InputError(f, f"{name}.dtype", "F64, F32, F16 or BF16", repr(dt))
        b, e = info["data_offsets"]
        dtype = np.dtype(_ST_DTYPES[dt])
        if dt == "BF16":
            # widened block by block into the float32 result: no whole-tensor bf16 copy beside
            # it (0.24 GiB for a Qwen3-32B MLP matrix, the margin of a 32B MLP task's 3 GiB)
            wide = _read_bf16_widened(f, start + b, (e - b) // 2, name)
            return check_finite(wide.view(np.float32).reshape(info["shape"]), f, name)
        raw = np.fromfile(f, dtype=dtype, count=(e - b) // dtype.itemsize, offset=start + b)
        raw = raw.reshape(info["shape"])
        return check_finite(raw if dt in ("F32", "F64") else raw.astype(np.float32), f, name)

    @property
    def model_name(self) -> str:
        return os.path.basename(os.path.normpath(self.path))


class GGUFReader:
    """Reads a GGUF file with the ``gguf`` package and dequantises tensors."""

    def __init__(self, path: str):
        try:
            import gguf
        except ModuleNotFoundError:
            from ..errors import UsageError
            raise UsageError("MODEL", "the gguf package for .gguf files "
                             "(pip install 'gaugetest[measure]')", path) from None
        self.path = path
        self._gguf = gguf
        try:
            self._r = _bounded_gguf_reader(gguf)(path)
        except _TensorOutsideFile as exc:
            raise InputError(path, exc.name, f"its data (bytes {exc.begin}-{exc.end}) inside "
                             f"the file", f"a file of {exc.size} bytes: truncated") from None
        except Exception as exc:  # the package raises plain ValueError/struct errors
            raise InputError(path, "$", "a GGUF file", str(exc).splitlines()[0][:80]) from None
        self._t = {t.name: t for t in self._r.tensors}
        self.files = [path]

    def names(self) -> list[str]:
        return list(self._t)

    def shape(self, name: str) -> tuple[int, ...]:
        # GGUF lists dimensions fastest-first; numpy (and Hugging Face) order is reversed
        return tuple(int(d) for d in reversed(self._t[name].shape.tolist()))

    def tensor(self, name: str) -> np.ndarray:
        t = self._t[name]
        return check_finite(np.asarray(self._gguf.quants.dequantize(t.data, t.tensor_type),
                                       dtype=np.float64), self.path, name)

    def matrix(self, name: str) -> np.ndarray:
        """The dequantised tensor as float32 (exact: GGUF dequantises to float32; F64 kept)."""
        t = self._t[name]
        x = np.asarray(self._gguf.quants.dequantize(t.data, t.tensor_type))
        return check_finite(x if x.dtype == np.float64 else np.asarray(x, dtype=np.float32),
                            self.path, name)

    def _field(self, key: str):
        f = self._r.fields.get(key)
        if f is None or not f.data:
            return None
        return f.parts[f.data[0]]

    def metadata(self, key: str):
        """One metadata field: a str, int, float or list, or None when absent."""
        f = self._r.fields.get(key)
        if f is None or not f.data:
            return None
        v = f.contents()
        return v.item() if hasattr(v, "item") else v

    @property
    def model_name(self) -> str:
        v = self._field("general.name")
        return bytes(v).decode("utf-8", "replace") if v is not None else os.path.basename(self.path)



class _TensorOutsideFile(Exception):
    def __init__(self, name, begin, end, size):
        super().__init__(name)
        self.name, self.begin, self.end, self.size = name, begin, end, size


def _bounded_gguf_reader(gguf):
    """``gguf.GGUFReader`` that first checks every tensor's data lies inside the file (the
    package itself fails on a truncated file with a reshape error naming no tensor)."""

    class Bounded(gguf.GGUFReader):
        def _build_tensors(self, start_offs, fields):
            size = len(self.data)
            for field in fields:
                try:                     # the layout of gguf's tensor-info fields (>= 0.10)
                    _, name_data, _, dims, raw_dtype, offset = field.parts
                    block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(
                        raw_dtype[0])]
                    begin = int(start_offs + offset[0])
                    end = begin + int(np.prod(dims)) * type_size // block
                    name = str(bytes(name_data), encoding="utf-8")
                except Exception:        # another layout: leave the checks to the package
                    break
                if end > size:
                    raise _TensorOutsideFile(name, begin, end, size)
            return super()._build_tensors(start_offs, fields)

    return Bounded


def open_checkpoint(path: str):
    """A reader for a .gguf file, a .safetensors file, or a directory of safetensors."""
    if not os.path.exists(path):
        raise InputError(path, "$", "an existing checkpoint file or directory", "no such path")
    if os.path.isfile(path) and path.endswith(".gguf"):
        return GGUFReader(path)
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            if fh.read(4) == b"GGUF":
                return GGUFReader(path)
        if path.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")):
            raise InputError(path, "$", "safetensors or GGUF (pickle checkpoints are never loaded)")
    return SafetensorsReader(path)


@dataclass(frozen=True)
class Layout:
    """Which tensor holds family f of layer i, and how many layers there are."""

    patterns: dict[str, str]
    num_layers: int

    def name(self, family: str, layer: int) -> str:
        return self.patterns[family].format(i=layer)


def load_family_map(path: str) -> dict[str, str]:
    """``[families]`` name = "pattern with {i}" from a TOML file (or the same object in JSON)."""
    from ..io import read_json, read_toml

    doc = read_json(path)[0] if path.endswith(".json") else read_toml(path)
    if not isinstance(doc, dict):
        raise InputError(path, "$", "a table of families")
    fams = doc.get("families", doc)
    if not isinstance(fams, dict) or not fams:
        raise InputError(path, "families", "a table family = \"pattern with {i}\"")
    for k, v in fams.items():
        if not isinstance(v, str) or "{i}" not in v:
            raise InputError(path, f"families.{k}", "a tensor-name pattern containing {i}", repr(v))
    return dict(fams)


def _summarise_names(names: list[str], k: int = 12) -> str:
    generic = sorted({re.sub(r"\.(\d+)\.", ".{i}.", n) for n in names})
    more = f" (+{len(generic) - k} more)" if len(generic) > k else ""
    return ", ".join(generic[:k]) + more


def detect_layout(reader, family_map: dict[str, str] | None = None) -> Layout:
    """Match tensor names to families and count layers (``checks.layer_count``: every layer
    must hold every measured family, as many layers as config.json or the GGUF metadata
    says); a clear error when nothing matches."""
    names = set(reader.names())
    candidates = [family_map] if family_map else [HF_PATTERNS, GGUF_PATTERNS]
    for pats in candidates:
        present, n = layer_count(reader, pats, family_map=bool(family_map))
        if present:
            if n < 2:
                raise InputError(reader.path, "tensors", "at least two layers of each family",
                                 f"{n} layer(s)")
            return Layout(present, n)
    raise InputError(reader.path, "tensors",
                     "Llama/Qwen-style names (model.layers.{i}.self_attn.q_proj.weight or "
                     "blk.{i}.attn_q.weight) or a --family-map",
                     f"found: {_summarise_names(sorted(names))}")
