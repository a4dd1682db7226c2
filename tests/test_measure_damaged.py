"""Damaged checkpoints are refused (issue 19): exit 2, one line naming the tensor or file, no
traceback, and nothing written -- no PREFIX-null.json / PREFIX-aligned.json and no resume
journal PREFIX.partial/ -- under both gauges, for a safetensors file with config.json, a sharded
checkpoint with its index, and a GGUF written with the gguf package.

Each damage is planted in a checkpoint that measures cleanly without it (the first test), so
every refusal is caused by the damage named in its case."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaugetest.cli import main

safetensors_numpy = pytest.importorskip("safetensors.numpy")
gguf = pytest.importorskip("gguf")

# 4 query / 2 key-value heads of 4, residual width 12, 24 MLP neurons
SHAPES = {"q_proj": (16, 12), "k_proj": (8, 12), "v_proj": (8, 12), "o_proj": (12, 16),
          "gate_proj": (24, 12), "up_proj": (24, 12), "down_proj": (12, 24)}
HF = {"q_proj": "model.layers.{i}.self_attn.q_proj.weight",
      "k_proj": "model.layers.{i}.self_attn.k_proj.weight",
      "v_proj": "model.layers.{i}.self_attn.v_proj.weight",
      "o_proj": "model.layers.{i}.self_attn.o_proj.weight",
      "gate_proj": "model.layers.{i}.mlp.gate_proj.weight",
      "up_proj": "model.layers.{i}.mlp.up_proj.weight",
      "down_proj": "model.layers.{i}.mlp.down_proj.weight"}
GG = {"q_proj": "blk.{i}.attn_q.weight", "k_proj": "blk.{i}.attn_k.weight",
      "v_proj": "blk.{i}.attn_v.weight", "o_proj": "blk.{i}.attn_output.weight",
      "gate_proj": "blk.{i}.ffn_gate.weight", "up_proj": "blk.{i}.ffn_up.weight",
      "down_proj": "blk.{i}.ffn_down.weight"}
LAYERS = 6
CONFIG = {"num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 2,
          "head_dim": 4, "hidden_size": 12}
FORMATS = ("safetensors", "sharded", "gguf")


def weights(n_layers=LAYERS, seed=0):
    """{(family, layer): C-contiguous float32 matrix} (safetensors.numpy writes an F-ordered
    array's raw buffer, so planted tensors are made C-contiguous)."""
    rng = np.random.default_rng(seed)
    return {(f, i): np.ascontiguousarray(rng.standard_normal(s), dtype=np.float32)
            for i in range(n_layers) for f, s in SHAPES.items()}


def write(fmt, directory: Path, tensors, declared=LAYERS) -> Path:
    """The checkpoint in one format; ``declared`` layers in config.json / GGUF metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "gguf":
        path = directory / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_block_count(declared)
        w.add_embedding_length(12)
        w.add_feed_forward_length(24)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_key_length(4)
        for (f, i), x in sorted(tensors.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            w.add_tensor(GG[f].format(i=i), x)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path
    named = {HF[f].format(i=i): x for (f, i), x in tensors.items()}
    (directory / "config.json").write_text(json.dumps({**CONFIG, "num_hidden_layers": declared}))
    if fmt == "safetensors":
        safetensors_numpy.save_file(named, str(directory / "model.safetensors"))
        return directory
    names, weight_map = sorted(named), {}
    for s in range(2):
        shard = f"model-{s + 1:05d}-of-00002.safetensors"
        safetensors_numpy.save_file({k: named[k] for k in names[s::2]}, str(directory / shard))
        weight_map.update({k: shard for k in names[s::2]})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return directory


def name(fmt, family, layer):
    return (GG if fmt == "gguf" else HF)[family].format(i=layer)


def data_file(fmt, ckpt: Path) -> Path:
    """The file to damage: the GGUF, the single safetensors file, or the last shard."""
    if fmt == "gguf":
        return ckpt
    return sorted(ckpt.glob("*.safetensors"))[-1]


def run(capsys, ckpt, prefix, gauge, *extra):
    code = main(["measure", str(ckpt), "-o", str(prefix), "--gauge", gauge,
                 "--null-draws", "1", *extra])
    return code, capsys.readouterr().err


def assert_refused(code, err, prefix: Path, *expect, progress_allowed=False):
    """Exit 2; the error is one line (the last; only progress lines may precede it when the
    damage is found while reading weights) holding every ``expect``; nothing written."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    if progress_allowed:
        assert all(" tasks " in ln and ln.startswith("gaugetest measure: ")
                   for ln in lines[:-1]), err
    else:
        assert len(lines) == 1, err
    for e in expect:
        assert e in lines[-1], (e, err)
    left = [p.name for p in prefix.parent.iterdir() if p.name.startswith(prefix.name)]
    assert left == [], left


@pytest.mark.parametrize("fmt", FORMATS)
def test_undamaged_checkpoints_measure_cleanly(tmp_path, capsys, fmt):
    """The baseline of every case below: the same builders give a clean run of 5 pairs."""
    ckpt = write(fmt, tmp_path / "c", weights())
    for gauge in ("orthogonal", "symmetry"):
        prefix = tmp_path / f"ok-{gauge}"
        code, err = run(capsys, ckpt, prefix, gauge)
        assert code == 0, err
        doc = json.loads(Path(f"{prefix}-null.json").read_text())
        assert doc["pairs_measured"] == LAYERS - 1 and len(doc["shapes"]) == 7
        assert not Path(f"{prefix}.partial").exists()


@pytest.mark.parametrize("gauge", ["orthogonal", "symmetry"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_tensor_in_one_layer_is_named(tmp_path, capsys, fmt, gauge):
    """0.2.0 measured this as a 3-layer model (layers counted up to the first gap)."""
    w = weights()
    del w[("k_proj", 3)]
    ckpt = write(fmt, tmp_path / "c", w)
    code, err = run(capsys, ckpt, tmp_path / "x", gauge)
    assert_refused(code, err, tmp_path / "x", name(fmt, "k_proj", 3), "missing")


@pytest.mark.parametrize("gauge", ["orthogonal", "symmetry"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_fewer_layers_than_declared(tmp_path, capsys, fmt, gauge):
    """config.json / block_count say 6 layers, the file holds 4 (0.2.0 truncated silently)."""
    ckpt = write(fmt, tmp_path / "c", weights(4), declared=LAYERS)
    code, err = run(capsys, ckpt, tmp_path / "x", gauge)
    where = "llama.block_count = 6" if fmt == "gguf" else "num_hidden_layers = 6"
    assert_refused(code, err, tmp_path / "x", name(fmt, "q_proj", 4), "missing", where)


@pytest.mark.parametrize("fmt", FORMATS)
def test_more_layers_than_declared(tmp_path, capsys, fmt):
    ckpt = write(fmt, tmp_path / "c", weights(LAYERS + 1), declared=LAYERS)
    code, err = run(capsys, ckpt, tmp_path / "x", "orthogonal")
    assert_refused(code, err, tmp_path / "x", name(fmt, "q_proj", LAYERS), "layers 0-5 only")


@pytest.mark.parametrize("gauge", ["orthogonal", "symmetry"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_late_nan_removes_the_partial_results(tmp_path, capsys, monkeypatch, fmt, gauge):
    """A NaN in layer 4 is found when that layer is read, after earlier pairs were saved to
    PREFIX.partial/ (counted here): the run is refused and the journal removed with it."""
    from gaugetest.measure.journal import Journal
    saved = []
    real_save = Journal.save
    monkeypatch.setattr(Journal, "save", lambda self, k, r: saved.append(k) or
                        real_save(self, k, r))
    w = weights()
    w[("down_proj", 4)][2, 5] = np.nan
    ckpt = write(fmt, tmp_path / "c", w)
    code, err = run(capsys, ckpt, tmp_path / "x", gauge)
    assert_refused(code, err, tmp_path / "x", name(fmt, "down_proj", 4), "finite weights",
                   "1 NaN (first at [2, 5])", progress_allowed=True)
    assert saved, "the damage was found after some pairs were journaled"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_infinite_weight_is_named(tmp_path, capsys, fmt):
    w = weights()
    w[("q_proj", 0)][0, 0] = -np.inf
    ckpt = write(fmt, tmp_path / "c", w)
    for gauge in ("orthogonal", "symmetry"):
        code, err = run(capsys, ckpt, tmp_path / "x", gauge, "--jobs", "2")
        assert_refused(code, err, tmp_path / "x", name(fmt, "q_proj", 0), "1 infinite",
                       progress_allowed=True)


@pytest.mark.parametrize("gauge", ["orthogonal", "symmetry"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_file(tmp_path, capsys, fmt, gauge):
    """The last 40 bytes cut off (an interrupted download): the tensor whose data is missing,
    and 'truncated'."""
    ckpt = write(fmt, tmp_path / "c", weights())
    f = data_file(fmt, ckpt)
    data = f.read_bytes()
    f.write_bytes(data[:-40])
    code, err = run(capsys, ckpt, tmp_path / "x", gauge)
    assert_refused(code, err, tmp_path / "x", f.name, "truncated")


@pytest.mark.parametrize("fmt", ["safetensors", "sharded"])
def test_a_mis_sized_safetensors_file(tmp_path, capsys, fmt):
    """Bytes after the data the header indexes (the safetensors format forbids them)."""
    ckpt = write(fmt, tmp_path / "c", weights())
    f = data_file(fmt, ckpt)
    f.write_bytes(f.read_bytes() + b"\0" * 16)
    for gauge in ("orthogonal", "symmetry"):
        code, err = run(capsys, ckpt, tmp_path / "x", gauge)
        assert_refused(code, err, tmp_path / "x", f.name, "mis-sized")


def test_a_header_whose_offsets_do_not_match_the_shape(tmp_path, capsys):
    """A tensor's data_offsets span fewer bytes than shape x dtype needs."""
    ckpt = write("safetensors", tmp_path / "c", weights())
    f = ckpt / "model.safetensors"
    raw = f.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    victim = HF["up_proj"].format(i=2)
    header[victim]["shape"] = [23, 12]                # 24 x 12 floats stored
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= n
    text += b" " * (n - len(text))                    # same header length
    f.write_bytes(raw[:8] + text + raw[8 + n:])
    code, err = run(capsys, ckpt, tmp_path / "x", "orthogonal")
    assert_refused(code, err, tmp_path / "x", f"{victim}.data_offsets", "1104 bytes",
                   "1152 bytes")


def test_an_index_that_names_the_wrong_shard(tmp_path, capsys):
    ckpt = write("sharded", tmp_path / "c", weights())
    idx = ckpt / "model.safetensors.index.json"
    wm = json.loads(idx.read_text())["weight_map"]
    victim = HF["v_proj"].format(i=1)
    wm[victim] = next(s for s in set(wm.values()) if s != wm[victim])
    idx.write_text(json.dumps({"weight_map": wm}))
    code, err = run(capsys, ckpt, tmp_path / "x", "orthogonal")
    assert_refused(code, err, tmp_path / "x", f"weight_map.{victim}", "not there")


def test_a_family_map_family_without_tensors(tmp_path, capsys):
    """Families a --family-map names must be there; families it leaves out are not measured."""
    w = {k: v for k, v in weights().items() if k[0] != "gate_proj"}
    ckpt = write("safetensors", tmp_path / "c", w)
    fm = tmp_path / "map.toml"
    fm.write_text("[families]\n" + "".join(f'{f} = "{HF[f]}"\n' for f in SHAPES))
    code, err = run(capsys, ckpt, tmp_path / "x", "orthogonal", "--family-map", str(fm))
    assert_refused(code, err, tmp_path / "x", "families.gate_proj", "none in the checkpoint")
    fm.write_text("[families]\n" + "".join(f'{f} = "{HF[f]}"\n' for f in SHAPES
                                           if f != "gate_proj"))
    code, err = run(capsys, ckpt, tmp_path / "y", "orthogonal", "--family-map", str(fm))
    assert code == 0, err
    assert "gate_proj" not in json.loads((tmp_path / "y-null.json").read_text())["shapes"]


def test_a_missing_q_norm_in_one_layer(tmp_path, capsys):
    """Qwen3's q/k norm vectors are read in every layer by the symmetry gauge."""
    w = weights()
    named = {HF[f].format(i=i): x for (f, i), x in w.items()}
    for i in range(LAYERS):
        if i != 2:
            named[f"model.layers.{i}.self_attn.q_norm.weight"] = np.ones(4, np.float32)
    d = tmp_path / "c"
    d.mkdir()
    safetensors_numpy.save_file(named, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(CONFIG))
    code, err = run(capsys, d, tmp_path / "x", "symmetry")
    assert_refused(code, err, tmp_path / "x", "model.layers.2.self_attn.q_norm.weight",
                   "missing")


def test_bf16_is_widened_block_by_block_exactly(tmp_path):
    """The block-wise bf16 reader against the whole-array widening (bf16 is the high half of
    float32: exact), across block boundaries, and a file that ends early is an InputError."""
    from gaugetest.errors import InputError
    from gaugetest.measure.readers import _read_bf16_widened, bf16_to_float32

    bits = np.random.default_rng(3).integers(0, 2 ** 16, 1001, dtype=np.uint16)
    path = tmp_path / "x.bin"
    path.write_bytes(b"HEADER" + bits.tobytes())
    got = _read_bf16_widened(str(path), 6, bits.size, "w", block=7).view(np.float32)
    want = bf16_to_float32(bits)
    assert got.tobytes() == want.tobytes()
    with pytest.raises(InputError, match="ends 4 bytes early"):
        _read_bf16_widened(str(path), 10, bits.size, "w", block=7)
