"""A small GGUF file with MXFP4, F32, F16 and BF16 tensors, written by llama.cpp's
own Python package (gguf 0.19.0: GGUFWriter and gguf.quants.quantize), and the
values llama.cpp's reference dequantizer gives for each (gguf.quants.dequantize,
the numpy port of ggml's dequantize_row_mxfp4), and the F32 arrays the MXFP4
tensors were quantized from (model.master.safetensors), for tests/gguf.rs.

One MXFP4 block of the first tensor has its E8M0 byte set to 255 and another to
0 after quantizing, so the file also pins how ggml reads those codes (its
ggml_e8m0_to_fp32_half has no NaN case: 255 is 2^127 of the doubled E2M1
values, i.e. 2^128 of the true ones).

    pip install gguf==0.19.0 ml_dtypes numpy
    python scripts/gen_gguf_fixture.py [--out tests/fixtures/gguf]

Deterministic: a fixed seed; a rerun writes the same bytes.
"""

import argparse
import os
import sys

import ml_dtypes
import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, quants

sys.path.insert(0, os.path.dirname(__file__))
from gen_checkpoint_fixtures import write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/gguf")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(23)
    w = GGUFWriter(os.path.join(a.out, "model.gguf"), arch="gpt-oss")
    expected, master = {}, {}
    for name, shape in [("blk.0.ffn_gate_exps.weight", (2, 8, 64)), ("blk.0.ffn_down_exps.weight", (2, 64, 32))]:
        x = (rng.standard_normal(shape) * np.exp(rng.uniform(-2, 2, shape))).astype(np.float32)
        x.reshape(-1)[:32] = 0.0  # an all-zero block
        master[name] = ("F32", x.shape, x.tobytes())
        q = quants.quantize(x, GGMLQuantizationType.MXFP4)  # [..., K/32 * 17] bytes
        if name.startswith("blk.0.ffn_gate"):
            q.reshape(-1, 17)[1, 0] = 255  # E8M0 NaN code: ggml reads 2^127 (doubled values)
            q.reshape(-1, 17)[2, 0] = 0  # the smallest scale, 2^-128 (doubled values)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=GGMLQuantizationType.MXFP4)
        with np.errstate(over="ignore"):
            expected[name] = quants.dequantize(q, GGMLQuantizationType.MXFP4)
    for name, dtype, gtype in [("output_norm.weight", np.float32, GGMLQuantizationType.F32),
                               ("token_embd.weight", np.float16, GGMLQuantizationType.F16),
                               ("output.weight", ml_dtypes.bfloat16, GGMLQuantizationType.BF16)]:
        x = rng.standard_normal((4, 32)).astype(np.float32).astype(dtype)
        raw = x.view(np.uint16) if dtype == ml_dtypes.bfloat16 else x
        w.add_tensor(name, raw, raw_shape=x.shape, raw_dtype=gtype)
        expected[name] = x.astype(np.float32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(a.out, "model.expected.safetensors"),
                      {n: ("F32", v.shape, np.ascontiguousarray(v, np.float32).tobytes()) for n, v in expected.items()})
    # the F32 arrays the MXFP4 tensors were quantized from, for `lowp verify`
    write_safetensors(os.path.join(a.out, "model.master.safetensors"), master)
    print({n: v.shape for n, v in expected.items()})


if __name__ == "__main__":
    main()
