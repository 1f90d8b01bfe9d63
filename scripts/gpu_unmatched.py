#!/usr/bin/env python3
"""The GPU outputs lowp does not reproduce, and the hypotheses tried on them.

    python3 scripts/gpu_unmatched.py --from DIR [--lowp target/release/lowp]

DIR is a `scripts/gpu_check.py --out` directory of a full run (its gemm_*.npz).
Runs on any machine (no GPU): it recomputes lowp's models with `lowp matmul` and
prints, for each hypothesis, how many GPU outputs it misses. docs/gpu/README.md
quotes these figures.

1. cuBLASLt with fast accumulation at 128x128x8192: the GPU's error against
   `exact` relative to one full sm90 chain's, and K split into parts (uniform
   splits summed in order, reversed, as a tree; tile-interleaved splits).
2. The same shape without fast accumulation: `sm90` and K split into thirds.
3. Triton with max_num_imprecise_acc=0 against fused-block models with
   fp16-style parameters.
"""
import argparse
import glob
import os
import subprocess
import tempfile

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--from", dest="src", required=True)
ap.add_argument("--lowp", default="target/release/lowp")
args = ap.parse_args()
Z = {}
for f in sorted(glob.glob(os.path.join(args.src, "gemm_*.npz"))):
    with np.load(f) as z:
        Z.update({k: z[k] for k in z.files})
TMP = tempfile.mkdtemp()


def mm(fmt, a, b, accum):
    for name, codes in [("A", a), ("B", b)]:
        os.makedirs(os.path.join(TMP, name), exist_ok=True)
        np.save(os.path.join(TMP, name, "codes.npy"), np.ascontiguousarray(codes))
    out = os.path.join(TMP, "o.npy")
    subprocess.run([args.lowp, "matmul", "--scheme", fmt, "--a", os.path.join(TMP, "A"), "--b", os.path.join(TMP, "B"),
                    "--accum", accum, "-o", out], check=True)
    return np.load(out).astype(np.float32)


def miss(g, m):
    return int((np.ascontiguousarray(g, np.float32).view(np.uint32) != m.view(np.uint32)).sum())


def f32_sum(parts, order):
    if order == "tree":
        while len(parts) > 1:
            parts = [(parts[i] + parts[i + 1]).astype(np.float32) if i + 1 < len(parts) else parts[i]
                     for i in range(0, len(parts), 2)]
        return parts[0]
    seq = parts if order == "in order" else parts[::-1]
    acc = seq[0].copy()
    for p in seq[1:]:
        acc = (acc + p).astype(np.float32)
    return acc


def split(a, b, k, parts, accum):
    """Each part's chain from zero over its K columns (index arrays), as lowp computes it."""
    return [mm("e4m3fn", a[:, idx], b[:, idx], accum) for idx in parts]


def uniform(k, s):
    tiles = k // 128
    bounds = [round(i * tiles / s) * 128 for i in range(s + 1)]
    return [np.arange(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


def interleaved(k, s, t):
    return [np.concatenate([np.arange(i * t, (i + 1) * t) for i in range(r, k // t, s)]) for r in range(s)]


case = "e4m3fn normal 128x128x8192"
a, b = Z[case + "|A"], Z[case + "|B"]
k = a.shape[1]
g = Z[case + "|_scaled_mm fast_accum=True"]
chain, exact = mm("e4m3fn", a, b, "sm90@promote-every=none"), mm("e4m3fn", a, b, "exact")
print(f"{case}, fast accumulation: sm90@promote-every=none misses {miss(g, chain)} of {g.size}")
ratio = np.abs(g - exact) / np.maximum(np.abs(chain - exact), 1e-30)
print(f"  median |gpu - exact| / |chain - exact| = {np.median(ratio):.2f}")
for s in [2, 3, 4, 5, 6, 8, 16, 32, 64]:
    parts = split(a, b, k, uniform(k, s), "sm90@promote-every=none")
    print(f"  uniform split into {s}: " + ", ".join(f"{o} {miss(g, f32_sum(parts, o))}" for o in ["in order", "reversed", "tree"]))
for t in [64, 128, 256]:
    for s in [2, 4]:
        parts = split(a, b, k, interleaved(k, s, t), "sm90@promote-every=none")
        print(f"  {t}-wide tiles interleaved into {s}: {miss(g, f32_sum(parts, 'in order'))}")

for case in ["e4m3fn normal 128x128x8192", "e4m3fn codes 128x128x8192"]:
    a, b = Z[case + "|A"], Z[case + "|B"]
    g = Z[case + "|_scaled_mm fast_accum=False"]
    thirds = f32_sum(split(a, b, k, uniform(k, 3), "sm90"), "in order")
    print(f"{case}, no fast accumulation: sm90 misses {miss(g, mm('e4m3fn', a, b, 'sm90'))}, K in thirds {miss(g, thirds)}")

for case in ["e4m3fn normal 128x128x128", "e4m3fn codes 128x128x128", "e5m2 normal 128x128x128", "e5m2 codes 128x128x128"]:
    fmt = case.split()[0]
    a, b = Z[case + "|A"], Z[case + "|B"]
    g = Z[case + "|triton tl.dot BK=128 max_num_imprecise_acc=0"]
    res = []
    for accum in ["sm90@k-inst=16@n=16@frac-bits=25@out-frac-bits=23@promote-every=none",
                  "sm90@k-inst=32@n=32@frac-bits=25@out-frac-bits=23@promote-every=none",
                  "sm90@k-inst=16@n=8@frac-bits=25@out-frac-bits=23@promote-every=none",
                  "sm90@k-inst=8@n=8@frac-bits=24@out-frac-bits=23@promote-every=none", "exact", "f32-fma"]:
        res.append(f"{accum.split('@promote')[0]} {miss(g, mm(fmt, a, b, accum))}")
    print(f"{case}, Triton max_num_imprecise_acc=0: " + ", ".join(res))
