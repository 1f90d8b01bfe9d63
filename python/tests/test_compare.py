"""lowp.compare: the tensor's own columns, non-finite values, per-tensor scheme
failures, and a quantized checkpoint compared as stored against its master
(tests/fixtures/checkpoints, written by scripts/gen_checkpoint_fixtures.py)."""

import json
import math
import struct

import numpy as np

import lowp
from conftest import FIXTURES


def read_f32(path):
    """name -> float32 array of a safetensors file's F32 tensors (plain parsing)."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8 : 8 + n])
    out = {}
    for k, v in head.items():
        if k != "__metadata__" and v["dtype"] == "F32":
            s, e = v["data_offsets"]
            out[k] = np.frombuffer(b[8 + n + s : 8 + n + e], np.float32).reshape(v["shape"])
    return out


def test_tensor_columns_nonfinite_and_unsupported():
    x = np.where(np.arange(256) % 2 == 0, 1.0, -1.0).astype(np.float32).reshape(4, 64)
    y = np.sin(np.arange(66, dtype=np.float32)).reshape(2, 33)
    y[0, 3] = np.nan
    rows = lowp.compare({"pm1": x, "k33": y}, schemes="mxfp4,nvfp4@rht=on")
    r = {(r["tensor"], r["scheme"]): r for r in rows}
    a = r[("pm1", "mxfp4")]
    assert (a["amax"], a["rms"], a["kurtosis"], a["outliers"], a["shape"], a["dtype"]) == (1.0, 1.0, 1.0, 0, [4, 64], "f32")
    b = r[("k33", "mxfp4")]
    assert (b["nonfinite"], b["elements"]) == (1, 65)
    assert math.isfinite(b["sqnr_db"]) and b["unsupported"] is None
    assert "16" in r[("k33", "nvfp4@rht=on")]["unsupported"]
    assert r[("(all)", "nvfp4@rht=on")]["elements"] == 256


def test_stored_quantization_against_master():
    d = FIXTURES / "checkpoints"
    master = d / "modelopt_nvfp4.master.safetensors"
    rows = lowp.compare(d / "modelopt_nvfp4", schemes="mxfp4", master=master)
    m, e = read_f32(master), read_f32(d / "modelopt_nvfp4.expected.safetensors")
    for w in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"]:
        x, y = m[w].astype(np.float64), e[w + ".f32"].astype(np.float64)
        want = 10 * np.log10((x * x).sum() / ((y - x) ** 2).sum())
        got = [r for r in rows if r["tensor"] == w and r["scheme"] == "stored:modelopt-nvfp4"][0]
        assert abs(got["sqnr_db"] - want) < 1e-9 * abs(want)
        assert got["dtype"] == "modelopt-nvfp4"
