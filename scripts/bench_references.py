#!/usr/bin/env python3
"""Times the Python references lowp is compared with, single-threaded, on the same
input as `lowp bench` and ../shared/anchors/bench_anchors.py: 16 Mi f32 drawn from
N(0, 10^2). Prints one JSON object per line like `lowp bench --json`.

Needs numpy and ml_dtypes (pip install numpy ml_dtypes==0.6.0); torch/torchao
figures come from ../shared/anchors/bench_results.md (same machine type).
Usage: OMP_NUM_THREADS=1 python3 scripts/bench_references.py
"""
import json
import time

import ml_dtypes
import numpy as np


def median_time(f, reps=7):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    n = 16 * 1024 * 1024
    x = (np.random.default_rng(0).standard_normal(n) * 10.0).astype(np.float32)
    dst = np.empty_like(x)
    t = median_time(lambda: np.copyto(dst, x))
    print(json.dumps({"op": "copy", "target": "f32", "ref": "numpy", "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"}))
    for name in ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"]:
        dt = getattr(ml_dtypes, name)
        y = x.astype(dt)
        t = median_time(lambda: x.astype(dt))
        print(json.dumps({"op": "cast", "target": name, "ref": "ml_dtypes " + ml_dtypes.__version__, "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"}))
        t = median_time(lambda: y.astype(np.float32))
        print(json.dumps({"op": "decode", "target": name, "ref": "ml_dtypes " + ml_dtypes.__version__, "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"}))


if __name__ == "__main__":
    main()
