#!/usr/bin/env python3
"""Copy the golden vectors the tests need from ../shared/golden into tests/fixtures.

The output keeps the golden bundle format (NAME.json index + NAME.bin arrays, see
../shared/golden/README.md) byte for byte per array; large arrays are subsampled
deterministically (every STRIDE-th element, recorded in the json's meta) so the
repository stays small. Nothing is recomputed: every value is the reference's own.

Usage: python3 scripts/extract_fixtures.py [GOLDEN_DIR] [OUT_DIR]
"""
import json
import os
import sys

import numpy as np

GOLDEN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/golden")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../tests/fixtures")
DT = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "i32": np.int32, "f32": np.float32, "f64": np.float64}
ELEM_STRIDE = 16


def read(name):
    idx = json.load(open(os.path.join(GOLDEN, name + ".json")))
    raw = open(os.path.join(GOLDEN, name + ".bin"), "rb").read()
    arrs = {}
    for k, a in idx["arrays"].items():
        dt = np.dtype(DT[a["dtype"]]).newbyteorder("<")
        arrs[k] = np.frombuffer(raw, dtype=dt, count=a["nbytes"] // dt.itemsize, offset=a["offset"]).reshape(a["shape"])
    return idx, arrs


def write(name, meta, arrays, out=None):
    """Writes bundle NAME (arrays: {key: (array, doc)}) into `out` (default OUT)."""
    out = out or OUT
    os.makedirs(out, exist_ok=True)
    index, blob = {}, bytearray()
    for k, (a, doc) in arrays.items():
        while len(blob) % 16:
            blob.append(0)
        dtn = [n for n, t in DT.items() if np.dtype(t) == a.dtype.newbyteorder("=")][0]
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        index[k] = {"dtype": dtn, "shape": list(a.shape), "offset": len(blob), "nbytes": len(b), "doc": doc}
        blob += b
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"format": "anchors-golden-v1", "meta": meta, "arrays": index}, f, indent=1)


def elem():
    for t in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float6_e2m3fn",
              "float6_e3m2fn", "float4_e2m1fn", "float8_e8m0fnu"]:
        name = "elem_" + t
        idx, a = read(name)
        meta = dict(idx["meta"])
        meta["extracted_by"] = "scripts/extract_fixtures.py: special_* whole; random_* = golden random_*[::%d]" % ELEM_STRIDE
        out = {}
        for k, v in a.items():
            doc = idx["arrays"][k].get("doc", "")
            if k.startswith("random_"):
                v = v[::ELEM_STRIDE]
            out[k] = (v, doc)
        write(name, meta, out)


def mx_scales():
    """torchao MX: inputs, E8M0 scales and element codes (dequantized values, which the
    generator checked equal decode(code)·2^(scale-127), stay in the shared golden set)."""
    for st in ["normal", "heavy", "zeros", "extremes", "nonfinite", "ties_e4m3", "ties_e5m2", "ties_e2m3",
               "ties_e3m2", "ties_e2m1"]:
        name = "mx_torchao_" + st
        idx, a = read(name)
        meta = dict(idx["meta"])
        meta["extracted_by"] = "scripts/extract_fixtures.py: input, *_scale and *_code arrays"
        keep = lambda k: k == "input" or k.endswith("_scale") or k.endswith("_code")
        out = {k: (v, idx["arrays"][k].get("doc", "")) for k, v in a.items() if keep(k)}
        write(name, meta, out)


def nvfp4():
    """torchao NVFP4: inputs, per-tensor scales, block scales and packed codes."""
    for st in ["normal", "heavy", "zeros", "extremes", "nonfinite", "ties_e2m1"]:
        name = "nvfp4_torchao_" + st
        idx, a = read(name)
        meta = dict(idx["meta"])
        meta["extracted_by"] = "scripts/extract_fixtures.py: all arrays but *_deq"
        out = {k: (v, idx["arrays"][k].get("doc", "")) for k, v in a.items() if not k.endswith("_deq")}
        write(name, meta, out)


def deepseek():
    """DeepSeek/DeepGEMM FP8 tiles: `ragged` whole; `extreme` rows 0..128 (one
    128-row band of weight tiles, so every kept scale is complete). `randn` stays in
    the shared golden set (LOWP_GOLDEN_DIR test)."""
    for st, rows in [("ragged", None), ("extreme", 128)]:
        name = "deepseek_fp8_" + st
        idx, a = read(name)
        meta = dict(idx["meta"])
        out = {}
        for k, v in a.items():
            doc = idx["arrays"][k].get("doc", "")
            if rows is not None:
                if k.startswith("block_") and k.endswith("_scale"):
                    v = v[: rows // 128]
                else:
                    v = v[:rows]
            out[k] = (v, doc)
        meta["extracted_by"] = "scripts/extract_fixtures.py: " + ("whole" if rows is None else "first %d rows (block scales: first row of tiles)" % rows)
        write(name, meta, out)


def microxcaling():
    """microxcaling MX: E8M0 scales and element codes (the input is the torchao set's,
    asserted equal here); `normal` and `heavy` keep their first 16 rows. The
    dequantized values stay in the shared golden set (LOWP_GOLDEN_DIR test)."""
    for st in ["normal", "heavy", "zeros", "extremes", "nonfinite", "ties_e4m3", "ties_e5m2", "ties_e2m3",
               "ties_e3m2", "ties_e2m1"]:
        name = "mx_microxcaling_" + st
        idx, a = read(name)
        _, t = read("mx_torchao_" + st)
        assert np.array_equal(a["input"].view(np.uint32), t["input"].view(np.uint32)), st
        rows = 16 if st in ("normal", "heavy") else None
        meta = dict(idx["meta"])
        meta["extracted_by"] = "scripts/extract_fixtures.py: *_scale and *_code arrays" + (
            "" if rows is None else ", first %d rows" % rows) + "; input = mx_torchao_%s input" % st
        keep = lambda k: k.endswith("_scale") or k.endswith("_code")
        out = {k: (v[:rows] if rows else v, idx["arrays"][k].get("doc", "")) for k, v in a.items() if keep(k)}
        write(name, meta, out)


def matmul():
    """The reference GEMMs matmul_*: copied whole (about 330 KB each)."""
    import shutil
    for v in ["mxfp8_floor", "mxfp8_rceil", "nvfp4_pts", "nvfp4_nopts"]:
        for ext in (".json", ".bin"):
            shutil.copyfile(os.path.join(GOLDEN, "matmul_" + v + ext), os.path.join(OUT, "matmul_" + v + ext))


def tensor_core_vectors():
    """../shared/tensor-core-vectors (hardware MMA outputs, BSD-2, with README and
    licence), the files unchanged inside one deflated zip (1.4 MB instead of 3 MB)."""
    import glob
    import zipfile
    src = os.path.join(GOLDEN, "../tensor-core-vectors")
    with zipfile.ZipFile(os.path.join(OUT, "tensor-core-vectors.zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for f in sorted(glob.glob(os.path.join(src, "*"))):
            z.write(f, os.path.basename(f))


if __name__ == "__main__":
    matmul()
    tensor_core_vectors()
    microxcaling()
    elem()
    mx_scales()
    nvfp4()
    deepseek()
