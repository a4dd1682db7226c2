"""Checks that refuse a damaged checkpoint: one clear error naming the file and tensor, before
anything is written.

``gaugetest measure`` must never measure a model other than the one the checkpoint describes,
and never fail with an internal error on bad weights.  What is checked, and when:

* **File sizes** (when a file is opened; headers only): every safetensors tensor's
  ``data_offsets`` lie inside the file and span exactly ``prod(shape) * itemsize`` bytes, and
  the data section is exactly as long as the tensors it indexes -- a truncated download or a
  file with trailing bytes is refused (:func:`check_safetensors_header`).  A sharded
  checkpoint's index must name shards that hold the tensors it maps (:func:`check_index`).
  GGUF tensors must lie inside the file (``readers.GGUFReader``).
* **Layers and tensors** (before any task; names only): the layers of every measured family
  are counted, compared with ``config.json``'s ``num_hidden_layers`` (or the GGUF
  ``{arch}.block_count``), and every layer must hold every measured family
  (:func:`layer_count`).  A missing tensor is an error naming it, never a shorter model.
* **Finite weights** (as each tensor is read; :func:`check_finite`): one min/max pass (0.16 s
  for a 25600 x 5120 float32 matrix here, against minutes of linear algebra per pair).  Reading
  is part of the run, so a non-finite weight in a late layer is found after earlier pairs ran;
  the run then removes its partial results (``sweep.measure_checkpoint``) so that a refused
  checkpoint leaves nothing behind.

Examples
--------
>>> import numpy as np
>>> check_finite(np.ones((2, 2), np.float32), "m.safetensors", "w").shape
(2, 2)
>>> check_finite(np.array([[1.0, np.nan]]), "m.safetensors", "w")
Traceback (most recent call last):
...
gaugetest.errors.InputError: m.safetensors: w: expected finite weights, got 1 NaN (first at [0, 1])
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np

from ..errors import InputError, describe

#: Bytes per element of the safetensors dtypes (sub-byte types are not size-checked).
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


def check_safetensors_header(path: str, header: dict, file_size: int, data_start: int) -> None:
    """Every tensor entry well formed and inside the file; no bytes after the last tensor.

    Parameters
    ----------
    path : str
        The file (for messages).
    header : dict
        The parsed JSON header.
    file_size : int
        Bytes of the file.
    data_start : int
        Offset of the data section (8 + header length).

    Raises
    ------
    InputError
        Naming the file and the first offending tensor (or ``$`` for the file as a whole).
    """
    if not isinstance(header, dict):
        raise InputError(path, "$", "a safetensors JSON header (an object)", describe(header))
    data_len = file_size - data_start
    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise InputError(path, name, "a tensor entry with dtype, shape and data_offsets",
                             describe(info))
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool)
                                                and d >= 0 for d in shape)):
            raise InputError(path, f"{name}.shape", "a list of non-negative integers",
                             describe(shape))
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise InputError(path, f"{name}.data_offsets", "[begin, end] with 0 <= begin <= end",
                             describe(offsets))
        begin, end = offsets
        if end > data_len:
            raise InputError(path, name, f"its data (bytes {begin}-{end} of the data section) "
                             f"inside the file's {max(data_len, 0)} data bytes",
                             f"a file of {file_size} bytes: truncated")
        itemsize = SAFETENSORS_ITEMSIZE.get(info.get("dtype"))
        if itemsize is not None and end - begin != math.prod(shape) * itemsize:
            raise InputError(path, f"{name}.data_offsets", f"{math.prod(shape) * itemsize} "
                             f"bytes for shape {shape} of {info.get('dtype')}",
                             f"{end - begin} bytes")
        end_max = max(end_max, end)
    if data_len != end_max:
        raise InputError(path, "$", f"{data_start + end_max} bytes (8 + header + the data its "
                         "tensors index)", f"{file_size} bytes: mis-sized or damaged file")


def check_index(index_path: str, weight_map: dict, names_by_file: dict) -> None:
    """Each tensor the index maps must be in the shard it names."""
    for name, fname in weight_map.items():
        names = names_by_file.get(fname)
        if names is not None and name not in names:
            raise InputError(index_path, f"weight_map.{name}", f"the tensor in {fname}",
                             "not there (a damaged or mismatched shard)")


def check_finite(x: np.ndarray, source: str, name: str) -> np.ndarray:
    """``x`` unchanged when every entry is finite; else an InputError naming the tensor.

    One pass of ``min`` and ``max`` (NaN propagates through both, and any infinity is an
    extreme), no temporary the size of ``x``; float64 arrays whose min/max are finite cannot
    hide a non-finite entry either.
    """
    if x.dtype.kind != "f" or x.size == 0:
        return x
    if np.isfinite(x.min()) and np.isfinite(x.max()):
        return x
    bad = ~np.isfinite(x)
    n_nan = int(np.isnan(x).sum())
    n_inf = int(bad.sum()) - n_nan
    first = [int(i) for i in np.unravel_index(int(np.argmax(bad)), x.shape)]
    what = ", ".join(p for p in (f"{n_nan} NaN" if n_nan else "",
                                 f"{n_inf} infinite" if n_inf else "") if p)
    raise InputError(source, name, "finite weights", f"{what} (first at {first})")


def _config_path(path: str) -> str:
    d = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return os.path.join(d, "config.json")


def expected_layers(reader, family_map: bool = False) -> tuple[int, str] | None:
    """(layers, where it is written) from the checkpoint's own description, or None.

    Safetensors: ``num_hidden_layers`` of ``config.json`` beside the weights (of its
    ``text_config`` for multimodal configs, unless a family map chooses the tensors).  GGUF:
    ``{general.architecture}.block_count``.
    """
    if hasattr(reader, "metadata"):                         # GGUF
        arch = reader.metadata("general.architecture")
        if not isinstance(arch, str):
            return None
        count = reader.metadata(f"{arch}.block_count")
        where = f"{arch}.block_count"
        source = reader.path
    else:
        source = _config_path(reader.path)
        if not os.path.isfile(source):
            return None
        try:
            with open(source) as fh:
                cfg = json.load(fh)
        except ValueError:
            raise InputError(source, "$", "a JSON object", "invalid JSON") from None
        if not isinstance(cfg, dict):
            raise InputError(source, "$", "a JSON object", describe(cfg))
        where = "num_hidden_layers"
        if "num_hidden_layers" not in cfg and not family_map and \
                isinstance(cfg.get("text_config"), dict):
            cfg, where = cfg["text_config"], "text_config.num_hidden_layers"
        count = cfg.get("num_hidden_layers")
        if count is None:
            return None
        where = f"config.json {where}"
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InputError(source, where.split(" ")[-1], "a positive number of layers",
                         describe(count))
    return count, where


def _layer_regex(pattern: str) -> re.Pattern:
    return re.compile(re.escape(pattern).replace(re.escape("{i}"), r"(\d+)") + r"\Z")


def layer_count(reader, patterns: dict[str, str], family_map: bool = False) -> tuple[dict, int]:
    """(the families present, number of layers), with every layer holding every family.

    A family is present when any layer has it (with a family map, every family it lists must
    be).  The layer count is the config's or GGUF metadata's when the checkpoint has one (more
    layers in the file than that is an error too), else one past the highest layer found.

    Raises
    ------
    InputError
        Naming the first missing tensor (layer by layer, family by family), a tensor beyond
        the declared layers, or a family-map family with no tensor at all.
    """
    names = reader.names()
    found: dict[str, list[int]] = {f: [] for f in patterns}
    regexes = {f: _layer_regex(p) for f, p in patterns.items()}
    for name in names:
        for f, rx in regexes.items():
            m = rx.match(name)
            if m:
                found[f].append(int(m.group(1)))
    present = {f: p for f, p in patterns.items() if found[f]}
    if family_map:
        for f, p in patterns.items():
            if not found[f]:
                raise InputError(reader.path, f"families.{f}", f"tensors named {p} (the family "
                                 "map's pattern)", "none in the checkpoint")
    if not present:
        return {}, 0
    top = max(max(v) for v in found.values() if v)
    declared = expected_layers(reader, family_map)
    n, note = top + 1, ""
    if declared is not None:
        n, where = declared
        note = f" ({where} = {n})"
        if top >= n:
            f = next(f for f in present if max(found[f]) == top)
            raise InputError(reader.path, present[f].format(i=top), f"layers 0-{n - 1} only"
                             f"{note}", f"a tensor of layer {top}")
    names = set(names)
    for layer in range(n):
        for f, p in present.items():
            if p.format(i=layer) not in names:
                raise InputError(reader.path, p.format(i=layer), "a tensor of every measured "
                                 f"family ({', '.join(present)}) in each of the {n} layers"
                                 f"{note}", "missing" if layer <= top else
                                 f"missing (the checkpoint's layers stop at {top})")
    return present, n
