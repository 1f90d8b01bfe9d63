#!/usr/bin/env python3
"""Cut the GPU outputs saved by scripts/gpu_check.py into small test fixtures.

    python3 scripts/gpu_fixtures.py --from DIR [DIR...]   # gpu_check.py --out dirs (gemm_*.npz, gpu_check.json)

The session's runs: the full run, then `--gemm-only more` and `--gemm-only bias`.

Each output element depends only on its row of A and its row of B, so a case is
cropped to the first rows of A and B and the matching corner of the GPU's output.
Writes tests/fixtures/h100_cublas.{json,bin} and h100_triton.{json,bin}
(format anchors-golden-v1, see scripts/extract_fixtures.py); tests/gpu_golden.rs
reads them.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extract_fixtures import write  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--from", dest="src", nargs="+", required=True)
ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
args = ap.parse_args()

Z = {}
for d in args.src:
    for f in sorted(glob.glob(os.path.join(d, "gemm_*.npz"))):
        with np.load(f) as z:
            Z.update({k: z[k] for k in z.files})
envs = [json.load(open(os.path.join(d, "gpu_check.json")))["env"] for d in args.src]
assert all((e["device"], e["torch"]) == (envs[0]["device"], envs[0]["torch"]) for e in envs), "runs on different machines"
env = envs[0]
meta = {
    "producer": "scripts/gpu_check.py on " + env["device"] + f" (torch {env['torch']}, CUDA {env['cuda']}, triton {env['triton']})",
    "extracted_by": "scripts/gpu_fixtures.py: first rows of A and B, matching corner of the GPU output",
}


def crop(case, rows, gpu_keys, tag, arrays, cols=None):
    cols = cols or rows
    arrays[f"{tag}/a"] = (Z[f"{case}|A"][:rows], "A codes [M, K]")
    arrays[f"{tag}/b"] = (Z[f"{case}|B"][:cols], "B codes [N, K]")
    for k, name in gpu_keys:
        arrays[f"{tag}/{name}"] = (np.ascontiguousarray(Z[f"{case}|{k}"][:rows, :cols]), f"GPU output: {k}")


cublas = {}
for fmt_case, rows, tag in [
    ("e4m3fn normal 128x128x128", 64, "normal_128"),
    ("e4m3fn codes 128x128x128", 64, "codes_128"),
    ("e4m3fn normal 256x256x1024", 48, "normal_1024"),
    ("e4m3fn codes 256x256x1024", 48, "codes_1024"),
    ("e4m3fn normal 128x128x4096", 16, "normal_4096"),
]:
    crop(fmt_case, rows, [("_scaled_mm fast_accum=True", "fast"), ("_scaled_mm fast_accum=False", "nofast")], tag, cublas)
# scaled cases share A and B (256x256x1024)
cublas["scaled/a"] = (Z["scaled|A"][:48], "A codes [M, K]")
cublas["scaled/b"] = (Z["scaled|B"][:128], "B codes [N, K]")
for fast, name in [(True, "fast"), (False, "nofast")]:
    cublas[f"scaled/tensor_{name}"] = (Z[f"tensor-wise|_scaled_mm fast_accum={fast}"][:48, :128], "tensor-wise, scale_a = 0.3, scale_b = 1.7")
    for out in ["f32", "bf16"]:
        cublas[f"scaled/row_{out}_{name}"] = (Z[f"row-wise out={out}|_scaled_mm fast_accum={fast}"][:48, :128], f"row-wise scales, out {out}")
cublas["scaled/ra"] = (Z["row-wise|ra"][:48], "row scales of A [M, 1]")
cublas["scaled/rb"] = (Z["row-wise|rb"][:128], "row scales of B [N, 1]")
cublas["block/a"] = (Z["block|A"][:48], "A codes, 1x128 blocks")
cublas["block/sa"] = (Z["block|sA"][:48], "A scales [M, K/128]")
cublas["block/b"] = (Z["block|B"][:128], "B codes, 128x128 blocks")
cublas["block/sb"] = (Z["block|sB"][:1], "B scales [N/128, K/128]")
for out in ["f32", "bf16"]:
    cublas[f"block/{out}"] = (Z[f"block out={out}|_scaled_mm fast_accum=False"][:48, :128], f"block-wise scales, out {out}")
for fa, fb, tag in [("e4m3fn", "e5m2", "mixed_e4m3_e5m2"), ("e5m2", "e4m3fn", "mixed_e5m2_e4m3")]:
    crop(f"{fa} x {fb} normal 128x128x1024", 48, [("_scaled_mm fast_accum=True", "fast"), ("_scaled_mm fast_accum=False", "nofast")], tag, cublas)
case = "bias tensor-wise sa=0.3 sb=1.7 out=bf16 128x128x1024"
crop(case, 48, [("_scaled_mm fast_accum=True", "fast"), ("_scaled_mm fast_accum=False", "nofast")], "bias", cublas)
cublas["bias/bias"] = (Z[f"{case}|bias"][:48], "bias [N] (passed to the GPU as bf16), bf16 output")
write("h100_cublas", dict(meta, what="torch._scaled_mm (cuBLASLt) FP8 GEMMs, f32 output unless named"), cublas, args.out)

triton = {}
imps = [("default", "default"), ("32", "imp32"), ("64", "imp64"), ("128", "imp128")]
for case, rows, tag in [
    ("e4m3fn normal 256x256x1024", 48, "e4m3_normal"),
    ("e4m3fn codes 256x256x1024", 48, "e4m3_codes"),
    ("e5m2 normal 256x256x1024", 48, "e5m2_normal"),
    ("e5m2 codes 128x128x128", 64, "e5m2_codes"),
]:
    crop(case, rows, [(f"triton tl.dot BK=128 max_num_imprecise_acc={i}", n) for i, n in imps], tag, triton)
write("h100_triton", dict(meta, what="Triton tl.dot on FP8 (wgmma), BK = 128, per max_num_imprecise_acc"), triton, args.out)
